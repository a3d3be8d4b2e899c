package validate

import (
	"testing"
	"time"
)

// TestDeriveThresholds: a threshold is set from the largest errors of the
// suite's runs since the date that measured it; other suites, older runs
// and missing checks do not count; a bound of 0 stays unset.
func TestDeriveThresholds(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	th := Threshold{Metric: "downtime_s", Model: "precopy", Median: 0.6, Worst: 2}
	medOnly := Threshold{Metric: "rounds", Median: 0.5}
	day := func(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, time.UTC) }
	check := func(t Threshold, med, worst float64) ThresholdCheck {
		return ThresholdCheck{Threshold: t, Status: CheckPass, MedianAbsErr: f(med), WorstAbsErr: f(worst)}
	}
	hist := []HistoryEntry{
		{Suite: "ci", Date: day(1), Checks: []ThresholdCheck{check(th, 0.9, 5)}}, // before since
		{Suite: "ci", Date: day(2), Checks: []ThresholdCheck{check(th, 0.20, 0.5), check(medOnly, 0.1, 0.9)}},
		{Suite: "ci", Date: day(3), Checks: []ThresholdCheck{check(th, 0.266, 0.71)}},
		{Suite: "other", Date: day(3), Checks: []ThresholdCheck{check(th, 0.9, 5)}},
		{Suite: "ci", Date: day(4), Checks: []ThresholdCheck{{Threshold: th, Status: CheckMissing}}},
		{Suite: "ci", Date: day(4)}, // recorded before checks were kept
	}
	ds := DeriveThresholds(hist, "ci", day(2), []Threshold{th, medOnly, {Metric: "bandwidth_bps", Worst: 0.3}}, 1.5)
	if len(ds) != 3 {
		t.Fatalf("%d derived, want 3", len(ds))
	}
	d := ds[0]
	if d.Runs != 2 || *d.SeenMedian != 0.266 || *d.SeenWorst != 0.71 || !d.From.Equal(day(2)) || !d.To.Equal(day(3)) {
		t.Errorf("downtime: %d runs, seen %v / %v, %v to %v", d.Runs, *d.SeenMedian, *d.SeenWorst, d.From, d.To)
	}
	if d.Suggested.Median != 0.4 || d.Suggested.Worst != 1.1 || !d.Tighter || d.Looser || d.Crossed {
		t.Errorf("downtime: suggested %+v (tighter %v looser %v crossed %v), want median 0.40 and worst 1.10 (1.5 x 0.266 and 0.71, rounded up), tighter only", d.Suggested, d.Tighter, d.Looser, d.Crossed)
	}
	if m := ds[1]; m.Runs != 1 || m.Suggested.Median != 0.15 || m.Suggested.Worst != 0 || !m.Tighter {
		t.Errorf("median only: %+v, want 1 run, median 0.15, worst still unset", m)
	}
	if n := ds[2]; n.Runs != 0 || n.SeenMedian != nil || n.Suggested != n.Current {
		t.Errorf("never measured: %+v, want no runs and the threshold unchanged", n)
	}
	// A run crossed the threshold: the suggestion is looser.
	tight := Threshold{Metric: "downtime_s", Model: "precopy", Median: 0.1, Worst: 2}
	if c := DeriveThresholds(hist, "ci", day(2), []Threshold{tight}, 1.5)[0]; !c.Crossed || !c.Looser {
		t.Errorf("crossed: %+v, want crossed and looser", c)
	}
}

func TestNiceBound(t *testing.T) {
	if got := NiceBound(1.5 * 0.231); got != 0.35 {
		t.Errorf("NiceBound(0.3465) = %v, want 0.35 exactly", got)
	}
	for _, c := range []struct{ x, want float64 }{
		{0, 0.01}, {0.001, 0.01}, {0.1, 0.1}, {0.101, 0.11}, {0.399, 0.4}, {1.065, 1.1}, {4.9, 4.9}, {5.01, 5.1},
	} {
		// Exactly the literal: a bound that reads 0.35 must not compare
		// above a threshold written 0.35 (it was 0.35000000000000003,
		// which validate thresholds called looser).
		if got := NiceBound(c.x); got != c.want {
			t.Errorf("NiceBound(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}
