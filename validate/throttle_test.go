package validate

import (
	"slices"
	"testing"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
)

// TestCompareThrottle: the real steps are the first polls of each new
// cpu-throttle-percentage while active, the simulator's the syncs that
// decided them; step k of each is compared with step k of the other.
func TestCompareThrottle(t *testing.T) {
	series := []lab.MigrateSample{
		{T: 0.1, Status: "setup"},
		{T: 0.2, Status: "active"},
		{T: 4.1, Status: "active", ThrottlePct: 20},
		{T: 4.2, Status: "active", ThrottlePct: 20},
		{T: 8.3, Status: "active", ThrottlePct: 30},
		{T: 12.0, Status: "active", ThrottlePct: 40},
		{T: 12.5, Status: "completed", ThrottlePct: 40},
	}
	real := &lab.RealRun{Series: series}
	real.ThrottleTimeline = lab.ThrottleTimelineOf(series)
	if len(real.ThrottleTimeline) != 5 {
		t.Fatalf("timeline %v: want the 5 active polls", real.ThrottleTimeline)
	}
	sim := &models.Result{RoundsDetail: []models.Round{
		{StartS: 0.1, DurationS: 2},
		{StartS: 2.1, DurationS: 2.4},                  // step to 20 at 4.5
		{StartS: 4.5, DurationS: 3, ThrottlePct: 20},   // to 30 at 7.5
		{StartS: 7.5, DurationS: 1, ThrottlePct: 30},   // no step
		{StartS: 8.5, DurationS: 0.1, ThrottlePct: 30}, // to 40 at 8.6, stop-and-copy
		{StartS: 8.6, DurationS: 0.1, ThrottlePct: 40, StopAndCopy: true},
	}}
	if c := compareThrottle(real, sim, lab.MigrationParams{}); c != nil {
		t.Fatalf("auto-converge off: %+v, want nil", c)
	}
	c := compareThrottle(real, sim, lab.MigrationParams{AutoConverge: true})
	wantReal := []lab.ThrottlePoint{{T: 4.1, Pct: 20}, {T: 8.3, Pct: 30}, {T: 12.0, Pct: 40}}
	wantSim := []lab.ThrottlePoint{{T: 4.5, Pct: 20}, {T: 7.5, Pct: 30}, {T: 8.6, Pct: 40}}
	if !slices.Equal(c.RealSteps, wantReal) || !slices.Equal(c.SimSteps, wantSim) {
		t.Fatalf("steps real %v sim %v, want %v and %v", c.RealSteps, c.SimSteps, wantReal, wantSim)
	}
	if c.RealMaxPct != 40 || c.SimMaxPct != 40 || c.RealStepCount != 3 || c.SimStepCount != 3 {
		t.Fatalf("max/count: %+v", c)
	}
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	want := []float64{0.4, -0.8, -3.4}
	for i, d := range c.StepTimeErrS {
		if !near(d, want[i]) {
			t.Fatalf("step errors %v, want %v", c.StepTimeErrS, want)
		}
	}
	if !near(c.MedianAbsStepErrS, 0.8) {
		t.Fatalf("median |error| %v, want 0.8", c.MedianAbsStepErrS)
	}
	// A run recorded before the timeline field: taken from its series.
	real.ThrottleTimeline = nil
	if c2 := compareThrottle(real, sim, lab.MigrationParams{AutoConverge: true}); !slices.Equal(c2.RealSteps, wantReal) {
		t.Fatalf("from the series: %v", c2.RealSteps)
	}
}
