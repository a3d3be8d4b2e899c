package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/traces/capture"
)

// runCaptureCmd runs "trace capture" built by newCaptureCmd alone, until
// the lead registers it under "trace".
func runCaptureCmd(t *testing.T, args ...string) (exitCode, string) {
	t.Helper()
	var out bytes.Buffer
	// The started command's output is copied into errb by another
	// goroutine while the capture writes its own lines there.
	errb := &lockedBuffer{}
	cmd := newCaptureCmd(streams{in: strings.NewReader(""), out: &out, err: errb})
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString(err.Error())
	}
	return exitCodeOf(err), errb.String()
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers. It has no
// ReadFrom, so io.Copy into it goes through Write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) WriteString(s string) (int, error) { return l.Write([]byte(s)) }

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCaptureCmdUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-o", "x.mgt"}, // neither --pid nor a command
		{"--pid", "1", "-o", "x.mgt", "--", "true"}, // both
		{"--pid", "1"}, // no -o
		{"--pid", "1", "-o", "x.mgt", "extra"},
		{"--pid", "1", "-o", "x.mgt", "--mechanism", "magic"},
	} {
		if code, msg := runCaptureCmd(t, args...); code != exitUsage {
			t.Errorf("trace capture %q: exit %d (%s), want %d", args, code, msg, exitUsage)
		}
	}
}

// TestCaptureCmdCommand captures "sleep 1" from its start to its exit.
func TestCaptureCmdCommand(t *testing.T) {
	if _, err := capture.Detect(); err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "sleep.mgt")
	code, msg := runCaptureCmd(t, "-q", "--epoch", "50ms", "-o", out, "--", "sleep", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if !strings.Contains(msg, "target exited") {
		t.Errorf("stderr %q does not say the target exited", msg)
	}
	r, err := traces.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Header()
	if h.Epoch.Milliseconds() != 50 || !strings.Contains(h.Provenance, `command="sleep 1"`) {
		t.Errorf("header epoch %v provenance %q", h.Epoch, h.Provenance)
	}
}
