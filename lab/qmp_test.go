package lab

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// needQEMU skips the test when QEMU is not installed, saying what to
// install; CI installs it (validate/ci-install.sh), so there it never skips.
func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := FindQEMU(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// startBareQEMU starts a QEMU with no machine: enough to talk QMP.
func startBareQEMU(t *testing.T) *qemuProc {
	t.Helper()
	needQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := startQEMU(ctx, "bare", t.TempDir(), []string{"-machine", "none", "-nodefaults", "-display", "none", "-S"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	return p
}

func TestQMPGreetingAndCommands(t *testing.T) {
	p := startBareQEMU(t)
	q := p.qmp
	if q.Version.Major < 4 {
		t.Errorf("QEMU version from greeting = %v, want at least 4.x", q.Version)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var st struct {
		Running bool   `json:"running"`
		Status  string `json:"status"`
	}
	if err := q.Execute(ctx, "query-status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Running || st.Status != "prelaunch" {
		t.Errorf("query-status = %+v, want prelaunch and not running (-S)", st)
	}

	// Commands in flight at once are matched to their replies by id.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v struct {
				QEMU struct{ Major int } `json:"qemu"`
			}
			if err := q.Execute(ctx, "query-version", nil, &v); err != nil {
				errs <- err
				return
			}
			if v.QEMU.Major != q.Version.Major {
				errs <- errors.New("query-version disagrees with the greeting")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestQMPErrorReply(t *testing.T) {
	p := startBareQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.qmp.Execute(ctx, "no-such-command", nil, nil)
	var qe *QMPError
	if !errors.As(err, &qe) {
		t.Fatalf("unknown command: error %v (%T), want *QMPError", err, err)
	}
	if qe.Class != "CommandNotFound" || qe.Command != "no-such-command" || qe.Desc == "" {
		t.Errorf("QMPError = %+v, want class CommandNotFound naming the command", qe)
	}
	// A bad argument is a GenericError naming the parameter.
	err = p.qmp.Execute(ctx, "migrate-set-parameters", map[string]any{"downtime-limit": "x"}, nil)
	if !errors.As(err, &qe) || qe.Class != "GenericError" {
		t.Errorf("bad argument: error %v, want a GenericError", err)
	}
}

func TestQMPEvents(t *testing.T) {
	p := startBareQEMU(t)
	q := p.qmp
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Execute(ctx, "cont", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Execute(ctx, "stop", nil, nil); err != nil {
		t.Fatal(err)
	}
	// WaitEvent skips other events and leaves them queued.
	ev, err := q.WaitEvent(ctx, "STOP")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Time.IsZero() {
		t.Error("STOP event has no timestamp")
	}
	ev, err = q.NextEvent(ctx)
	if err != nil || ev.Name != "RESUME" {
		t.Errorf("next event = %q, %v; want the RESUME left in the queue", ev.Name, err)
	}

	// A wait bounded by a context ends with the context's error.
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := q.WaitEvent(short, "SHUTDOWN"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitEvent past its deadline: %v, want context.DeadlineExceeded", err)
	}
}

func TestQMPClosedWhenQEMUExits(t *testing.T) {
	p := startBareQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.qmp.Execute(ctx, "quit", nil, nil)
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatal("QEMU did not exit after quit")
	}
	err := p.qmp.Execute(ctx, "query-status", nil, nil)
	if !errors.Is(err, ErrQMPClosed) {
		t.Errorf("command after QEMU exited: %v, want ErrQMPClosed", err)
	}
	if _, err := p.qmp.WaitEvent(ctx, "STOP"); !errors.Is(err, ErrQMPClosed) {
		t.Errorf("event wait after QEMU exited: %v, want ErrQMPClosed", err)
	}
}
