package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestBootKitBalloonDriver boots a lab guest with a virtio balloon and
// checks that the replayer loaded the kit's modules and that the guest's
// driver answers: a QMP balloon target is reached.
func TestBootKitBalloonDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	img := labImage(t, smallWorkload, smallMemory)
	if !strings.Contains(strings.Join(img.Modules, " "), "virtio_balloon") {
		t.Skipf("skipping: the kernel has no virtio_balloon module (kit modules %v)", img.Modules)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const mem = 256 * units.MiB
	accel := "tcg"
	if KVMUsable() {
		accel = "kvm"
	}
	p, err := startQEMU(ctx, "guest", dir, []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc", "-accel", accel, "-smp", "1", "-m", "256M",
		"-device", "virtio-balloon-pci,id=balloon0",
		"-kernel", img.Kernel, "-initrd", img.Initramfs,
		"-append", KernelCmdline + " migsim.at_end=idle", "-no-reboot",
		"-serial", "file:" + filepath.Join(dir, "guest.console"),
		"-chardev", "socket,id=ctl,path=" + filepath.Join(dir, "guest.ctl") + ",server=on,wait=off",
		"-serial", "chardev:ctl",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	g, err := dialGuest(ctx, "guest", filepath.Join(dir, "guest.ctl"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if _, err := g.wait(ctx, "MIGSIM ready"); err != nil {
		t.Fatalf("guest not ready: %v%s", err, consoleTail(dir, "guest"))
	}
	console, _ := os.ReadFile(filepath.Join(dir, "guest.console"))
	for _, m := range img.Modules {
		if !strings.Contains(string(console), "MIGSIM module ") || !strings.Contains(string(console), m+" loaded") {
			t.Errorf("console does not say %s loaded:\n%s", m, console)
		}
	}
	// 64 MiB: what the guest can give beside its kernel, the initramfs
	// and the replayer's region.
	target := int64(mem - 64*units.MiB)
	if err := p.qmp.Execute(ctx, "balloon", map[string]any{"value": target}, nil); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Actual int64 `json:"actual"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := p.qmp.Execute(ctx, "query-balloon", nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.Actual <= target+int64(4*units.MiB) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("balloon at %v after 60 s, want the target %v: the guest's driver did not inflate it", units.Bytes(got.Actual), units.Bytes(target))
}
