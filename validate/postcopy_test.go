package validate

import (
	"math"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
)

// TestSummariseMixedModels checks that a suite mixing pre-copy and
// post-copy cases summarises each metric over the cases that have it.
func TestSummariseMixedModels(t *testing.T) {
	pre := &Comparison{Scenario: "pre", Model: "precopy", Metrics: compareMetrics(lab.RealMetrics{TotalTimeS: 10}, &models.Result{TotalTimeS: 11})}
	post := &Comparison{Scenario: "post", Model: "postcopy", Metrics: append(
		compareMetrics(lab.RealMetrics{TotalTimeS: 10}, &models.Result{TotalTimeS: 13}),
		comparePostcopy(lab.RealMetrics{PostcopyRequests: 100}, &models.Result{PostcopyRequests: 150})...)}
	sum := summarise([]*Comparison{pre, post})
	if len(sum) != len(post.Metrics) {
		t.Fatalf("%d summary rows, want %d", len(sum), len(post.Metrics))
	}
	for _, s := range sum {
		switch s.Name {
		case "total_time_s":
			if math.Abs(s.MedianAbsErr-0.2) > 1e-12 || math.Abs(s.WorstAbsErr-0.3) > 1e-12 || s.Worst != "post" {
				t.Errorf("total_time_s summary %+v, want median 0.2, worst 0.3 in post", s)
			}
		case "postcopy_requests":
			if math.Abs(s.MedianAbsErr-0.5) > 1e-12 || s.Worst != "post" {
				t.Errorf("postcopy_requests summary %+v, want median 0.5 over the post-copy case only", s)
			}
		}
	}
}

// TestBuildAchievedPostcopyAtOnce checks the achieved trace of a post-copy
// run that switched before the source reported any epoch: the pace comes
// from the warm-up, nothing lands before the migrate command, and the
// destination's writes count in the achieved rate.
func TestBuildAchievedPostcopyAtOnce(t *testing.T) {
	const pages = 256
	orig := &memTrace{hdr: traces.Header{PageSize: 4096, PageCount: pages, Epoch: 10 * time.Millisecond}}
	for i := range 10 {
		w := roaring.New()
		w.AddRange(uint64(i*10), uint64(i*10+5))
		orig.epochs = append(orig.epochs, memEpoch{written: w, read: roaring.New()})
	}
	run := &lab.RealRun{GuestMemoryBytes: 2 * pages * 4096, Metrics: lab.RealMetrics{TotalTimeS: 2, PostcopyBytes: 1 << 20}}
	// Warm-up: 50 epochs over the second before the migrate command, one
	// every 20 ms (half the trace's pace); then the destination's.
	for i := range 50 {
		run.Epochs = append(run.Epochs, lab.EpochReport{Index: uint64(i), Wrote: 5, At: -1 + float64(i)*0.02, Side: "source"})
	}
	for i := range 10 {
		run.Epochs = append(run.Epochs, lab.EpochReport{Index: uint64(50 + i), Wrote: 5, At: 1 + float64(i)*0.1, Side: "destination"})
	}
	a, err := buildAchieved(orig, run, models.AtEndLoop, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Epochs != 0 {
		t.Errorf("%d source epochs during the migration, want 0", a.Epochs)
	}
	if want := 50.0 / 2; math.Abs(a.DirtyRate-want) > 1e-9 {
		t.Errorf("achieved rate %v pages/s, want %v (the destination's writes over 2 s)", a.DirtyRate, want)
	}
	// 4 s at one epoch per 20 ms from t=-0.02: about 200 trace epochs,
	// each in its own 10 ms slot, none before t=0.
	var filled int
	for _, e := range a.trace.epochs {
		if e.written.GetCardinality() > 0 {
			filled++
		}
	}
	if filled < 195 || filled > 201 {
		t.Errorf("%d epochs with writes in 4 s, want about 200 at the warm-up's pace", filled)
	}
}
