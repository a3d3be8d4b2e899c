package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// QEMUBinary is the QEMU system emulator the lab runs.
const QEMUBinary = "qemu-system-x86_64"

// ErrNoQEMU reports that QEMU is not installed.
var ErrNoQEMU = errors.New(QEMUBinary + " not found in PATH: install Debian's qemu-system-x86 package " +
	"(apt-get install -y --no-install-recommends qemu-system-x86), or run validate/ci-install.sh")

// FindQEMU returns the path of [QEMUBinary], or an error wrapping
// [ErrNoQEMU] that says what to install.
func FindQEMU() (string, error) {
	p, err := exec.LookPath(QEMUBinary)
	if err != nil {
		return "", ErrNoQEMU
	}
	return p, nil
}

// KVMUsable reports whether /dev/kvm exists and can be opened for reading
// and writing, so that QEMU can run with -accel kvm.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// qemuProc is a QEMU process the lab started, in its own process group,
// with its QMP socket in dir.
type qemuProc struct {
	name   string // "source" or "destination", for messages
	dir    string
	cmd    *exec.Cmd
	qmp    *QMP
	stderr string // file holding QEMU's stderr
	exited chan struct{}
	err    error // Wait's result, valid once exited is closed

	// Remote QEMUs (see remote.go) have no local process: hardKill ends
	// the process where it runs and readStderr reads its stderr there.
	// Both are nil for a local QEMU.
	hardKill   func()
	readStderr func() ([]byte, error)
}

// startQEMU starts QEMU with args plus a QMP socket in dir and connects to
// it. QEMU runs in a new process group, killed with the lab if the lab dies
// (Pdeathsig), and is stopped by [qemuProc.kill]. On error nothing is left
// running.
func startQEMU(ctx context.Context, name, dir string, args []string) (*qemuProc, error) {
	return startQEMUIn(ctx, name, dir, "", args)
}

// startQEMUIn is [startQEMU] inside the named network namespace ("" for
// the lab's own), entered with ip netns exec.
func startQEMUIn(ctx context.Context, name, dir, netns string, args []string) (*qemuProc, error) {
	bin, err := FindQEMU()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, name+".qmp")
	errPath := filepath.Join(dir, name+".stderr")
	errFile, err := os.Create(errPath)
	if err != nil {
		return nil, err
	}
	defer errFile.Close()
	full := append([]string{"-name", "migsim-" + name, "-qmp", "unix:" + sock + ",server=on,wait=off"}, args...)
	bin, full = netnsCommand(netns, bin, full)
	cmd := exec.Command(bin, full...)
	cmd.Dir = dir
	cmd.Stdout = errFile
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s QEMU: %w", name, err)
	}
	p := &qemuProc{name: name, dir: dir, cmd: cmd, stderr: errPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	var d net.Dialer
	if err := p.connectQMP(ctx, sock, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) }); err != nil {
		return nil, err
	}
	return p, nil
}

// connectQMP connects p to its QMP socket sock through dial, giving up
// after 30s or as soon as the process exits; on error p is killed.
func (p *qemuProc) connectQMP(ctx context.Context, sock string, dial func(context.Context) (net.Conn, error)) error {
	name := p.name
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	qctx, qcancel := context.WithCancel(dctx)
	go func() {
		select {
		case <-p.exited:
			qcancel() // QEMU died before its QMP socket answered
		case <-qctx.Done():
		}
	}()
	q, err := dialQMP(qctx, sock, dial)
	qcancel()
	if err != nil {
		p.kill()
		if msg := p.stderrTail(); msg != "" {
			return fmt.Errorf("%s QEMU exited or did not answer on QMP (%v); its stderr:\n%s", name, err, msg)
		}
		return fmt.Errorf("%s QEMU: %w", name, err)
	}
	p.qmp = q
	return nil
}

// stderrBytes returns what QEMU wrote to stderr, wherever it runs.
func (p *qemuProc) stderrBytes() ([]byte, error) {
	if p.readStderr != nil {
		return p.readStderr()
	}
	return os.ReadFile(p.stderr)
}

// stderrTail returns the last lines QEMU wrote to stderr.
func (p *qemuProc) stderrTail() string {
	b, err := p.stderrBytes()
	if err != nil {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// kill asks QEMU to quit over QMP, waits briefly, then kills its process
// group and waits for it. It is safe to call more than once.
func (p *qemuProc) kill() {
	select {
	case <-p.exited:
	default:
		if p.qmp != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = p.qmp.Execute(ctx, "quit", nil, nil)
			cancel()
			select {
			case <-p.exited:
			case <-time.After(2 * time.Second):
			}
		}
		if p.hardKill != nil {
			p.hardKill() // returns once the remote process is gone or unreachable
		} else {
			// The group, so that anything QEMU forked goes too.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	if p.qmp != nil {
		p.qmp.Close()
	}
}

// KernelCmdline is the guest kernel's command line before the replayer's
// own parameters. no_timer_check skips the boot check that the timer
// ticks through the IO-APIC: under TCG on a busy host the vCPU can be
// descheduled through the check's whole window, and the kernel then
// panics ("IO-APIC + timer doesn't work!"), as a remote lab test's guest
// did at load 9 (cloud images boot with it for the same reason).
const KernelCmdline = "console=ttyS0 panic=-1 quiet no_timer_check"

// qemuArgs returns the command line of one side.
func qemuArgs(img *Image, dir, side string, mem units.Bytes, accel string, atEnd models.TraceEnd, incoming bool) []string {
	size := strconv.FormatInt(int64(mem), 10)
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc,memory-backend=ram0", "-accel", accel, "-smp", "1",
		"-m", size + "b",
		"-object", "memory-backend-file,id=ram0,size=" + size + ",mem-path=" + filepath.Join(dir, side+".ram") + ",share=on",
		"-kernel", img.Kernel, "-initrd", img.Initramfs,
		"-append", KernelCmdline + " migsim.at_end=" + string(atEnd),
		"-no-reboot",
		"-serial", "file:" + filepath.Join(dir, side+".console"),
		"-chardev", "socket,id=ctl,path=" + filepath.Join(dir, side+".ctl") + ",server=on,wait=off",
		"-serial", "chardev:ctl",
	}
	if incoming {
		args = append(args, "-incoming", "defer", "-S")
	}
	return args
}

// pollMigration polls query-migrate every 100 ms, appending to series,
// until the migration ends, then re-queries until total-time and downtime
// are filled in (QEMU can say completed before it has them).
// onSample, when not nil, sees each sample's dirty-sync-count while the
// migration runs.
func pollMigration(ctx context.Context, src *qemuProc, t0 time.Time, series *[]MigrateSample, onSample func(syncs int) error) (*QueryMigrate, json.RawMessage, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	query := func() (*QueryMigrate, json.RawMessage, error) {
		var raw json.RawMessage
		if err := src.qmp.Execute(ctx, "query-migrate", nil, &raw); err != nil {
			return nil, nil, err
		}
		var m QueryMigrate
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("query-migrate reply %s: %w", truncate(raw, 200), err)
		}
		*series = append(*series, m.Sample(time.Since(t0).Seconds()))
		return &m, raw, nil
	}
	for {
		m, raw, err := query()
		if err != nil {
			return nil, nil, err
		}
		switch m.Status {
		case "completed":
			// The first completed replies can still carry zero times and
			// counters that lag: take two equal replies in a row with
			// total-time and downtime filled in.
			prev := raw
			for tries := 0; ; tries++ {
				if tries == 50 {
					return nil, nil, errors.New("query-migrate says completed but its total-time and downtime did not settle within 5s")
				}
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-tick.C:
				}
				if m, raw, err = query(); err != nil {
					return nil, nil, err
				}
				if m.filled() && bytes.Equal(raw, prev) {
					return m, raw, nil
				}
				prev = raw
			}
		case "failed", "cancelled", "postcopy-paused":
			// postcopy-paused: the post-copy stream broke; QEMU waits for
			// a recovery the lab does not attempt.
			return nil, nil, fmt.Errorf("migration %s: %s", m.Status, m.ErrorDesc)
		}
		if onSample != nil && m.RAM != nil {
			if err := onSample(m.RAM.DirtySyncCount); err != nil {
				return nil, nil, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func lastStatus(s []MigrateSample) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1].Status
}

// waitDestination waits until the destination has loaded the migration and
// is paused.
func waitDestination(ctx context.Context, dst *qemuProc) error {
	for {
		var m QueryMigrate
		if err := dst.qmp.Execute(ctx, "query-migrate", nil, &m); err != nil {
			return err
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := dst.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
			return err
		}
		if m.Status == "completed" && st.Status == "paused" {
			return nil
		}
		if m.Status == "failed" {
			return fmt.Errorf("destination: incoming migration failed: %s", m.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the destination to finish loading (status %q, run state %q): %w", m.Status, st.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
