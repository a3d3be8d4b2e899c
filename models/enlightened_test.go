package models

import (
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

func runEnlightened(t *testing.T, p EnlightenedParams, in Input) *Result {
	t.Helper()
	m, err := NewEnlightened(p)
	return runModel(t, m, err, in)
}

// Free pages are never sent, and an access to one never faults (the
// destination backs it with a fresh page).
func TestEnlightenedSkipsFreePages(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	t.Run("untouched", func(t *testing.T) {
		// The working set is the bottom half; [1/2, 3/4) is free.
		trace := withFree(genTrace(genSpec("uniform", 5000, 5000, mem/2, 0.1), mem, 1), pages/2, pages*3/4)
		in := pcInput(trace, pages, units.Gbit, 200*time.Microsecond)
		res := runEnlightened(t, DefaultEnlightenedParams(), in)
		src, _ := trace()
		zero := src.Header().ClassPages(traces.ClassZero)
		free := uint64(pages / 4)
		normal := pages - zero - free
		want := float64(normal)*4104 + float64(zero)*9 + float64(in.VM.DeviceState)
		if res.Pages.Normal != normal || res.Pages.Zero != zero || math.Abs(float64(res.TransferredBytes)-want) > 1 {
			t.Errorf("pages %+v, %d bytes; want %d normal, %d zero, %v bytes", res.Pages, res.TransferredBytes, normal, zero, want)
		}
	})
	t.Run("allocated", func(t *testing.T) {
		// The guest scans (writes) through free memory: no request.
		trace := withFree(newScanTrace(pages, false, scanRegion{pages / 2, pages * 3 / 4, 5000}), pages/2, pages*3/4)
		in := pcInput(trace, pages, units.Gbit, time.Millisecond) // done before the scan wraps
		res := runEnlightened(t, DefaultEnlightenedParams(), in)
		post := runPostcopyModel(t, postcopyWith(PrepagingNone), in)
		if res.PostcopyRequests != 0 || res.MinorFaults != 0 || post.PostcopyRequests == 0 {
			t.Errorf("enlightened %d requests %d minor; post-copy %d requests: want none for enlightened only",
				res.PostcopyRequests, res.MinorFaults, post.PostcopyRequests)
		}
		if res.TotalTimeS >= post.TotalTimeS {
			t.Errorf("enlightened took %v s, post-copy %v s: skipping a quarter of memory should be faster", res.TotalTimeS, post.TotalTimeS)
		}
	})
}

// Abe et al.'s figure of merit: pushing the guest's working set first gets
// it back to full speed sooner than post-copy's own push orders do, on a
// workload whose hot pages are scattered over memory (Zipf, s = 2). When
// the guest's marking covers the post-copy phase (10 s here), it runs at
// full speed almost as soon as it resumes; with the default 2 s horizon
// it still stalls less than any post-copy push order.
func TestEnlightenedRegainsFullSpeedSooner(t *testing.T) {
	const pages = 1 << 18
	mem := units.Bytes(pages * 4096)
	spec := genSpec("zipf", 2000, 5000, mem*3/4, 0)
	spec.ZipfS = 2
	in := pcInput(genTrace(spec, mem, 1), pages, units.Gbit, 200*time.Microsecond)
	long := DefaultEnlightenedParams()
	long.WSHorizon = 10 * time.Second
	enl := runEnlightened(t, long, in)
	short := runEnlightened(t, DefaultEnlightenedParams(), in)
	for _, r := range []*Result{enl, short} {
		t.Logf("enlightened: full speed at %.2f s, %d requests, %.3f s stalled, total %.2f s",
			r.TimeToFullSpeedS, r.PostcopyRequests, r.StallTimeS, r.TotalTimeS)
	}
	for _, pp := range prepagings {
		post := runPostcopyModel(t, postcopyWith(pp), in)
		t.Logf("%-11s: full speed at %.2f s, %d requests, %.3f s stalled, total %.2f s",
			pp, post.TimeToFullSpeedS, post.PostcopyRequests, post.StallTimeS, post.TotalTimeS)
		if enl.TimeToFullSpeedS*4 >= post.TimeToFullSpeedS || enl.StallTimeS >= post.StallTimeS {
			t.Errorf("enlightened full speed at %v s (%v s stalled), %s post-copy at %v s (%v s): want a quarter of the time",
				enl.TimeToFullSpeedS, enl.StallTimeS, pp, post.TimeToFullSpeedS, post.StallTimeS)
		}
		if short.StallTimeS*2 >= post.StallTimeS {
			t.Errorf("enlightened with a %v horizon stalled %v s, %s post-copy %v s: want half", DefaultEnlightenedParams().WSHorizon, short.StallTimeS, pp, post.StallTimeS)
		}
	}
}
