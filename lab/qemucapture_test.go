package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/traces/capture"
	"github.com/migsim/migsim/units"
	"gonum.org/v1/gonum/stat"
)

func TestGuestRAMFind(t *testing.T) {
	maps := `55d1870c6000-55d1874cd000 r--p 00000000 fe:00 10166328 /usr/bin/qemu-system-x86_64
7fbf17a00000-7fbf17c00000 rw-p 00000000 00:00 0
7fbf17e00000-7fbf27e00000 rw-p 00000000 00:00 0
7fbf27e00000-7fbf27e01000 ---p 00000000 00:00 0
7fbf30000000-7fbf6ffff000 rwxp 00000000 00:00 0
`
	g := &GuestRAM{Size: 256 * units.MiB}
	if err := g.find(strings.NewReader(maps)); err != nil {
		t.Fatal(err)
	}
	if g.Start != 0x7fbf17e00000 || g.End != 0x7fbf27e00000 {
		t.Errorf("found [%#x,%#x), want the 256 MiB anonymous mapping", g.Start, g.End)
	}
	shared := "7f0000000000-7f0010000000 rw-s 00000000 00:1a 42 /dev/shm/ram (deleted)\n"
	g = &GuestRAM{Size: 256 * units.MiB}
	if err := g.find(strings.NewReader(shared)); !errors.Is(err, ErrRAMNotFound) || !strings.Contains(err.Error(), "share=on") {
		t.Errorf("shared RAM gave %v, want ErrRAMNotFound explaining share=on", err)
	}
	two := "7f0000000000-7f0010000000 rw-p 00000000 00:00 0\n7f1000000000-7f1010000000 rw-p 00000000 00:00 0\n"
	if err := g.find(strings.NewReader(two)); !errors.Is(err, ErrRAMNotFound) || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("two candidates gave %v, want an ambiguity error", err)
	}
}

// TestCaptureQEMUGuest boots a guest whose replayer writes a known number
// of distinct pages per epoch (a sequential scan) and captures the QEMU
// process's guest RAM: the captured epochs must hold about what the
// replayer reports it wrote, and the guest must keep running afterwards.
func TestCaptureQEMUGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	if _, err := capture.Detect(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	// 2,000 pages per 100 ms epoch: enough that the guest's own writes (its
	// kernel and the replayer's Go runtime, about 80 pages an epoch under
	// TCG) stay a few percent.
	const rate = 20000
	spec := traces.GeneratorSpec{Kind: traces.GenSequential, DirtyRate: rate, WorkingSet: 16 * units.MiB,
		Duration: 60 * time.Second, Epoch: 100 * time.Millisecond}
	img := labImage(t, spec, 64*units.MiB)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc", "-accel", "tcg", "-smp", "1", "-m", "200M",
		"-kernel", img.Kernel, "-initrd", img.Initramfs,
		"-append", KernelCmdline + " migsim.at_end=loop", "-no-reboot",
		"-serial", "file:" + filepath.Join(dir, "guest.console"),
		"-chardev", "socket,id=ctl,path=" + filepath.Join(dir, "guest.ctl") + ",server=on,wait=off",
		"-serial", "chardev:ctl",
		"-qmp", "unix:" + filepath.Join(dir, "capture.qmp") + ",server=on,wait=off",
	}
	if KVMUsable() {
		args[8] = "kvm"
	}
	pid := startDetachedQEMU(t, args)
	g, err := dialGuest(ctx, "guest", filepath.Join(dir, "guest.ctl"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if _, err := g.wait(ctx, "MIGSIM ready"); err != nil {
		t.Fatalf("guest not ready: %v%s", err, consoleTail(dir, "guest"))
	}
	qmp := filepath.Join(dir, "capture.qmp")
	opts := capture.Options{Epoch: 100 * time.Millisecond, Epochs: 30}
	// First the idle guest: its kernel and the replayer's runtime write a
	// few pages of their own every epoch.
	var idle bytes.Buffer
	if _, _, err := CaptureQEMU(ctx, qmp, &idle, opts); err != nil {
		t.Fatal(err)
	}
	base := median(epochCounts(t, idle.Bytes()))
	if err := g.send("start"); err != nil {
		t.Fatal(err)
	}
	// Let the replay settle and finish its first pass over the 16 MiB
	// working set: first touches fault pages in, and the guest kernel's
	// zeroing and page tables would be captured too.
	time.Sleep(4 * time.Second)

	// The capture and its check are measured again, up to three times,
	// when a burst of the host's other work starves the guest or the
	// capture (its rate on our clock then comes from fewer, bunched
	// reports).
	labtest.Measure(t, 3, func(a *labtest.Attempt) {
		var buf bytes.Buffer
		var ends []time.Time // each epoch's end, on our clock
		opts.OnEpochEnd = func(_ uint64, at time.Time) { ends = append(ends, at) }
		t0 := time.Now()
		res, ram, err := CaptureQEMU(ctx, qmp, &buf, opts)
		if err != nil {
			t.Fatal(err)
		}
		if ram.PID != pid || ram.Size != 200*units.MiB {
			t.Errorf("found pid %d with %v of RAM, want pid %d with 200 MiB", ram.PID, ram.Size, pid)
		}
		if res.Epochs != 30 {
			t.Fatalf("captured %d epochs, want 30", res.Epochs)
		}

		counts := epochCounts(t, buf.Bytes())
		if len(ends) != len(counts) {
			t.Fatalf("%d epoch ends for %d epochs", len(ends), len(counts))
		}
		// Each epoch's length on our clock: the capture's ticker's 100 ms, or
		// more when a busy host delays a sample. Epoch 1 has no known start.
		durs := make([]float64, len(counts))
		for i := 1; i < len(counts); i++ {
			durs[i] = ends[i].Sub(ends[i-1]).Seconds()
		}
		// What the replayer wrote per second of our clock over the same span:
		// its own epochs are 100 ms of guest time, which under TCG on a busy
		// host take longer than 100 ms of ours, so its writes per epoch (2,000
		// here) are not the capture's; the reports' arrival times give its
		// rate on our clock.
		from, to := ends[0].Sub(t0).Seconds(), ends[len(ends)-1].Sub(t0).Seconds()
		var first, last float64
		var pages float64
		n := 0
		for _, e := range g.reports(t0) {
			if e.At < from || e.At > to {
				continue
			}
			if n == 0 {
				first = e.At
			} else {
				pages += float64(e.Wrote)
			}
			last = e.At
			n++
		}
		if n < 8 || last <= first {
			a.Errorf("replayer reported %d epochs during the %.1f s capture, want at least 8", n, to-from)
			return
		}
		want := pages / (last - first)
		// The epochs against what the writer can have dirtied in them: its
		// rate times each epoch's length, but never more than the working
		// set's pages (a long epoch sees the sequential writer wrap around,
		// each page dirty once); summed over epochs 2-30, since a starved
		// vCPU writes in bursts that leave single epochs uneven.
		wsPages := float64(spec.WorkingSet / (4 * units.KiB))
		var captured, expected float64
		var ratios []float64
		for i := 1; i < len(counts); i++ {
			if durs[i] > 0 {
				captured += counts[i] - base
				expected += math.Min(want*durs[i], wsPages)
				ratios = append(ratios, (counts[i]-base)/math.Min(want*durs[i], wsPages))
			}
		}
		got := captured / expected
		a.Logf("captured %.3f of what the replayer wrote (median epoch %.3f; %.0f pages/s of our clock over %d reports, at most the working set's %.0f pages an epoch; the idle guest's %.0f pages per epoch taken off; trace %d pages/s of guest time)", got, median(ratios), want, n, wsPages, base, rate)
		if got < 0.90 || got > 1.12 {
			a.Errorf("captured %.3f of the pages the replayer wrote: want 0.90 to 1.12 (its own runtime's writes; report arrival jitter)", got)
		}
	})
	// The guest runs on after the capture: its replayer keeps reporting.
	n := len(g.reports(time.Now()))
	time.Sleep(time.Second)
	if m := len(g.reports(time.Now())); m <= n {
		t.Errorf("guest reported no epochs after the capture ended (%d then %d)", n, m)
	}
}

// startDetachedQEMU starts QEMU through a shell that exits at once, so that
// QEMU is not our child: a capture's ptrace stops would otherwise be
// reported to the wait of exec.Cmd, as they are to any parent that waits.
// QEMU is killed when the test ends.
func startDetachedQEMU(t *testing.T, args []string) int {
	t.Helper()
	bin, err := FindQEMU()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	cmd := exec.Command("sh", append([]string{"-c", `"$@" </dev/null >/dev/null 2>&1 & echo $!`, "sh", bin}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("starting QEMU: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("starting QEMU: shell printed %q", out)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// epochCounts reads a captured trace and returns its epochs' written-page
// counts, checking its header.
func epochCounts(t *testing.T, b []byte) []float64 {
	t.Helper()
	r, err := traces.NewReader(bytes.NewReader(b), "captured")
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.PageCount != uint64(200*units.MiB/(4*units.KiB)) || !strings.Contains(h.Provenance, "guest RAM") {
		t.Errorf("header pages %d provenance %q: want the guest's RAM pages and a QEMU note", h.PageCount, h.Provenance)
	}
	var counts []float64
	for {
		var e traces.Epoch
		err := r.Next(&e)
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, float64(e.Written.GetCardinality()))
	}
}

// median is the middle of x (the lower of the middle two for an even
// count).
func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	return stat.Quantile(0.5, stat.Empirical, s, nil)
}
