// Package labtest holds test helpers for the packages that run real QEMU
// migrations (lab, validate): what a run left behind, and a run started
// in the background up to its migration, then cancelled. It imports
// neither, so that both packages' own tests can use it.
package labtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Processes returns the command lines of running processes that mention
// dir ("PID: command line"): what a run left behind, or is running.
func Processes(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, dir) {
			out = append(out, e.Name()+": "+cl)
		}
	}
	return out
}

// CheckNothingLeft fails the test for every process that mentions dir
// and every file left in it.
func CheckNothingLeft(t testing.TB, dir string) {
	t.Helper()
	if ps := Processes(t, dir); len(ps) > 0 {
		t.Errorf("processes left running:\n%s", strings.Join(ps, "\n"))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind in the work dir: %s", e.Name())
	}
}

// StartUntilMigrating runs a lab run in the background, its progress log
// going to the writer it is given, and returns once the log says the
// migration is under way ("lab: migrating"); the log is drained from then
// on. The channel delivers the run's error.
func StartUntilMigrating(t testing.TB, run func(log io.Writer) error) <-chan error {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := run(pw)
		pw.Close()
		done <- err
	}()
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "lab: migrating") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("run ended before migrating: %v\n%s", <-done, seen.String())
		}
		seen.Write(buf[:n])
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return done
}

// CancelAndWait cancels a run started by StartUntilMigrating and waits up
// to limit for it to return context.Canceled.
func CancelAndWait(t testing.TB, cancel context.CancelFunc, done <-chan error, limit time.Duration) {
	t.Helper()
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled run: error %v, want context.Canceled", err)
		}
		t.Logf("returned %.1fs after the cancellation", time.Since(cancelled).Seconds())
	case <-time.After(limit):
		t.Fatalf("run did not return within %v of cancellation", limit)
	}
}

// Attempt is one try of a timing measurement under [Measure]: the
// failures it found, kept until the attempts are done.
type Attempt struct {
	t    testing.TB
	errs []string
}

// Errorf records a failure of this attempt.
func (a *Attempt) Errorf(format string, args ...any) {
	a.errs = append(a.errs, fmt.Sprintf(format, args...))
}

// Logf logs as the test does.
func (a *Attempt) Logf(format string, args ...any) {
	a.t.Helper()
	a.t.Logf(format, args...)
}

// Measure runs a timing measurement up to attempts times, until one
// attempt records no failure: a rate or a delay measured on a shared
// machine is disturbed by a burst of others' work (a CPU-starved relay
// or vCPU runs late, never early), and the lab's gate re-runs a case
// that crosses a threshold once for the same reason. The test fails with
// the last attempt's failures only when every attempt failed; the
// failures of an attempt that is retried are logged. A check that no
// burst explains (a leak, a wrong setting) belongs outside fn, checked
// once.
func Measure(t testing.TB, attempts int, fn func(a *Attempt)) {
	t.Helper()
	for i := 1; i <= attempts; i++ {
		a := &Attempt{t: t}
		fn(a)
		if len(a.errs) == 0 {
			return
		}
		for _, e := range a.errs {
			if i < attempts {
				t.Logf("attempt %d of %d (measuring again): %s", i, attempts, e)
			} else {
				t.Errorf("attempt %d of %d: %s", i, attempts, e)
			}
		}
	}
}
