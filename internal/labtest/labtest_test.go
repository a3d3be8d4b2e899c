package labtest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what a test would report.
type recorder struct {
	testing.TB
	logs, errs []string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Logf(f string, args ...any)   { r.logs = append(r.logs, fmt.Sprintf(f, args...)) }
func (r *recorder) Errorf(f string, args ...any) { r.errs = append(r.errs, fmt.Sprintf(f, args...)) }

// TestMeasure: a measurement that passes on a later attempt passes, with
// the earlier failure logged; one that fails every attempt fails with the
// last attempt's failures; a passing first attempt runs once.
func TestMeasure(t *testing.T) {
	for _, c := range []struct {
		name           string
		failUntil      int // attempts that fail
		wantRuns       int
		wantLog, wantE int
	}{
		{"first passes", 0, 1, 0, 0},
		{"second passes", 1, 2, 1, 0},
		{"all fail", 5, 3, 2, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			runs := 0
			Measure(r, 3, func(a *Attempt) {
				runs++
				if runs <= c.failUntil {
					a.Errorf("rate %d low", runs)
				}
			})
			if runs != c.wantRuns || len(r.logs) != c.wantLog || len(r.errs) != c.wantE {
				t.Errorf("%d runs, %d logged, %d errors; want %d, %d, %d", runs, len(r.logs), len(r.errs), c.wantRuns, c.wantLog, c.wantE)
			}
			for _, e := range r.errs {
				if !strings.HasPrefix(e, "attempt 3 of 3") {
					t.Errorf("error %q, want the last attempt's", e)
				}
			}
		})
	}
}
