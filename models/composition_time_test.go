package models

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// churnSpec is a light workload (200 pages/s over 1024 pages) on a guest
// half free, in phases: each phase {duration, alloc_rate, free_rate}.
func churnSpec(phases ...[3]float64) traces.GeneratorSpec {
	s := traces.GeneratorSpec{Kind: traces.GenPhases, Epoch: 10 * time.Millisecond, FreeFraction: 0.5}
	for _, p := range phases {
		s.Phases = append(s.Phases, traces.GeneratorSpec{
			Kind: traces.GenUniform, DirtyRate: 200, ReadRate: 200, WorkingSet: 1024 * 4096,
			Duration: time.Duration(p[0] * float64(time.Second)), AllocRate: p[1], FreeRate: p[2]})
	}
	return s
}

// anonUntil returns the anon pages of the trace after the composition
// changes of the epochs that start before guest time t: the pages that
// hold data then.
func anonUntil(t *testing.T, open traces.Opener, until time.Duration) *roaring.Bitmap {
	t.Helper()
	src, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = traces.Close(src) }()
	h := src.Header()
	zero, free, pc := roaring.New(), roaring.New(), roaring.New()
	for _, p := range [...]struct{ dst, src *roaring.Bitmap }{{zero, h.Zero}, {free, h.Free}, {pc, h.PageCache}} {
		if p.src != nil {
			p.dst.Or(p.src)
		}
	}
	var e traces.Epoch
	for i := 0; time.Duration(i)*h.Epoch < until; i++ {
		if err := src.Next(&e); err != nil {
			break
		}
		e.Change.Apply(zero, free, pc)
	}
	anon := allPages(h.PageCount)
	for _, b := range []*roaring.Bitmap{zero, free, pc} {
		anon.AndNot(b)
	}
	return anon
}

// checkNothingLost fails t unless every page holding data (anon) when the
// guest last ran on the source is on the destination: sent, or a zero page.
func checkNothingLost(t *testing.T, name string, anon, sent *roaring.Bitmap, h *traces.Header) {
	t.Helper()
	on := sent.Clone()
	if h.Zero != nil {
		on.Or(h.Zero)
	}
	if lost := roaring.AndNot(anon, on); !lost.IsEmpty() {
		t.Errorf("%s: %d anon pages never reached the destination (first %d)", name, lost.GetCardinality(), lost.Minimum())
	}
}

// A workload that allocates during the migration deflates the balloon:
// the allocated pages leave it and, written, are sent, so the transferred
// bytes rise by their size; nothing is lost. Pre-copy allocates during
// round 1; post-copy during a 0.5 s setup, before the stop.
func TestAllocationDeflatesBalloon(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	quiet := genTrace(churnSpec([3]float64{60, 0, 0}), mem, 1)
	alloc := genTrace(churnSpec([3]float64{0.4, 8000, 0}, [3]float64{60, 0, 0}), mem, 1) // 3200 pages
	h := header(t, alloc)

	pre := passPrecopyParams()
	pre.Balloon.Enabled = true
	base, _, _, _ := runPrecopySets(t, pre, compInput(quiet, units.Gbit))
	res, sent, _, _ := runPrecopySets(t, pre, compInput(alloc, units.Gbit))
	deflated := float64(base.BalloonReclaimedPages) - float64(res.BalloonReclaimedPages)
	if deflated < 3000 {
		t.Fatalf("pre-copy: allocating 3200 pages took only %v out of the balloon (%d → %d)", deflated, base.BalloonReclaimedPages, res.BalloonReclaimedPages)
	}
	rise := float64(res.TransferredBytes) - float64(base.TransferredBytes)
	if want := deflated * 4104; rel(rise, want) > 0.03 {
		t.Errorf("pre-copy: bytes rose by %v, want about %v for %v deflated pages", rise, want, deflated)
	}
	t.Logf("pre-copy: balloon %d → %d pages, bytes %d → %d (+%.0f pages × 4104)", base.BalloonReclaimedPages, res.BalloonReclaimedPages, base.TransferredBytes, res.TransferredBytes, rise/4104)
	checkNothingLost(t, "pre-copy", anonUntil(t, alloc, time.Duration(res.GuestTimeS*1e9)), sent, h)

	post := DefaultPostcopyParams()
	post.Balloon.Enabled = true
	post.SetupTime = 505 * time.Millisecond
	runPost := func(trace traces.Opener) (*Result, *composition) {
		res, comp, err := runPostcopyComposition(context.Background(), compInput(trace, units.Gbit), "postcopy", post.config(), post.memory(), wholeMemoryPlan)
		if err != nil {
			t.Fatal(err)
		}
		return res, comp
	}
	pbase, _ := runPost(quiet)
	pres, comp := runPost(alloc)
	deflated = float64(pbase.BalloonReclaimedPages) - float64(pres.BalloonReclaimedPages)
	if deflated < 3000 {
		t.Fatalf("post-copy: allocating 3200 pages took only %v out of the balloon", deflated)
	}
	// Post-copy sends every page it does not skip exactly once.
	rise = float64(pres.TransferredBytes) - float64(pbase.TransferredBytes)
	if math.Abs(rise-deflated*4104) > 1 {
		t.Errorf("post-copy: bytes rose by %v, want %v for %v deflated pages", rise, deflated*4104, deflated)
	}
	t.Logf("post-copy: balloon %d → %d pages, bytes %d → %d", pbase.BalloonReclaimedPages, pres.BalloonReclaimedPages, pbase.TransferredBytes, pres.TransferredBytes)
	checkNothingLost(t, "post-copy", anonUntil(t, alloc, post.SetupTime), comp.sent, h)
	for _, r := range []*Result{res, pres} {
		if r.TransferredBytes < (r.Pages.Normal)*4096 {
			t.Errorf("%s: %d bytes for %d pages sent", r.Model, r.TransferredBytes, r.Pages.Normal)
		}
	}
}

// Freeing during the migration lets the balloon reclaim more at its next
// inflation: pages allocated and written in round 1, then freed, are not
// sent again in round 2, and the bytes fall by their size. Free-page
// hinting skips them the same way.
func TestFreeingLetsBalloonReclaim(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	// Allocate 2000 pages in 0.25 s, then free them (or not) in the next
	// 0.25 s, all well inside round 1 (about 2.8 s at 200 Mbit/s).
	keep := genTrace(churnSpec([3]float64{0.25, 8000, 0}, [3]float64{0.25, 0, 0}, [3]float64{60, 0, 0}), mem, 1)
	free := genTrace(churnSpec([3]float64{0.25, 8000, 0}, [3]float64{0.25, 0, 8000}, [3]float64{60, 0, 0}), mem, 1)
	for _, mode := range []string{"balloon", "hint"} {
		t.Run(mode, func(t *testing.T) {
			p := passPrecopyParams()
			if mode == "balloon" {
				p.Balloon.Enabled = true
				p.Balloon.Interval = 200 * time.Millisecond
			} else {
				p.FreePageHint = true
			}
			kept, _, _, _ := runPrecopySets(t, p, compInput(keep, 200*units.Mbit))
			freed, sent, _, _ := runPrecopySets(t, p, compInput(free, 200*units.Mbit))
			// Of the 2000 freed pages, the 1920 allocated after the setup
			// sync were dirty in round 1 (written when allocated): round 2
			// no longer resends them. The hint skips all of them; the
			// balloon reclaims its efficiency's share of free memory, so
			// it may leave a few of them to the guest.
			const dirtyFreed = 1920
			removed := float64(kept.RoundsDetail[1].Pages) - float64(freed.RoundsDetail[1].Pages)
			lo := float64(dirtyFreed)
			if mode == "balloon" {
				lo = 0.9 * dirtyFreed
			}
			if removed < lo || removed > dirtyFreed {
				t.Errorf("round 2 sent %v fewer pages with freeing (%d → %d), want %v to %v",
					removed, kept.RoundsDetail[1].Pages, freed.RoundsDetail[1].Pages, lo, dirtyFreed)
			}
			// The bytes fall by those pages, and a little more as the
			// shorter round 2 leaves fewer pages for round 3.
			fell := float64(kept.TransferredBytes) - float64(freed.TransferredBytes)
			if want := removed * 4104; fell < want || fell > 1.06*want {
				t.Errorf("bytes fell by %v, want %v to 6 %% more for %v pages", fell, want, removed)
			}
			// Those allocated after the skip point were never sent at all
			// (the others went in round 1): the counts rise by them.
			more := float64(freed.BalloonReclaimedPages+freed.SkippedFreePages) - float64(kept.BalloonReclaimedPages+kept.SkippedFreePages)
			if more < removed-200 || more > removed {
				t.Errorf("freeing left %v more pages never sent, want between %v and %v", more, removed-200, removed)
			}
			t.Logf("%s: round 2 %d → %d pages, bytes %d → %d", mode, kept.RoundsDetail[1].Pages, freed.RoundsDetail[1].Pages, kept.TransferredBytes, freed.TransferredBytes)
			checkNothingLost(t, mode, anonUntil(t, free, time.Duration(freed.GuestTimeS*1e9)), sent, header(t, free))
		})
	}
}

// The composition options work on hybrid and parallel too: with half of
// memory free and hinting on, each sends about half the bytes, and the
// free pages are reported skipped. Hybrid is checked with one pre-copy
// round and with none (pure post-copy).
func TestFreePageHintHalvesHybridParallel(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	trace := genTrace(compSpec(0.5, 0), mem, 1)
	in := compInput(trace, units.Gbit)
	free := uint64(compPages / 2)
	hyb0 := passHybridParams()
	hyb0.PrecopyRounds = 0
	runs := []struct {
		name string
		run  func(hint bool) *Result
	}{
		{"hybrid", func(hint bool) *Result {
			p := passHybridParams()
			p.FreePageHint = hint
			return runHybrid(t, p, in)
		}},
		{"hybrid/precopy_rounds=0", func(hint bool) *Result {
			p := hyb0
			p.FreePageHint = hint
			return runHybrid(t, p, in)
		}},
		{"parallel", func(hint bool) *Result {
			p := DefaultParallelParams()
			p.FreePageHint = hint
			return runParallel(t, p, in)
		}},
	}
	for _, r := range runs {
		base, hint := r.run(false), r.run(true)
		ratio := float64(hint.TransferredBytes) / float64(base.TransferredBytes)
		t.Logf("%s: %d → %d bytes (%.4f)", r.name, base.TransferredBytes, hint.TransferredBytes, ratio)
		if math.Abs(ratio-0.5) > 0.02 {
			t.Errorf("%s: hinting sent %.4f of the bytes, want 0.5 ± 0.02", r.name, ratio)
		}
		if hint.SkippedFreePages != free || base.SkippedFreePages != 0 {
			t.Errorf("%s: skipped_free_pages %d (hint) %d (off), want %d and 0", r.name, hint.SkippedFreePages, base.SkippedFreePages, free)
		}
		if hint.TransferredBytes < hint.Pages.Normal*4096 {
			t.Errorf("%s: %d bytes for %d pages sent", r.name, hint.TransferredBytes, hint.Pages.Normal)
		}
	}
}

// Every inflation counts, each limited to reclaim_rate × interval pages:
// a post-copy guest whose setup spans inflations at 0, 1, 2 and 3 s
// leaves 4 × 1000 free pages in the balloon, and the push sends exactly
// the rest.
func TestBalloonInflatesEveryInterval(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	in := compInput(genTrace(compSpec(0.5, 0), mem, 1), units.Gbit)
	for _, setup := range []time.Duration{500 * time.Millisecond, 3500 * time.Millisecond} {
		p := DefaultPostcopyParams()
		p.SetupTime = setup
		p.Balloon = BalloonParams{Enabled: true, Interval: time.Second, ReclaimRate: 1000, Efficiency: 0.95}
		res := runPostcopyModel(t, p, in)
		inflations := uint64(setup/time.Second) + 1
		if want := inflations * 1000; res.BalloonReclaimedPages != want {
			t.Errorf("setup %v: balloon_reclaimed_pages %d, want %d inflations × 1000", setup, res.BalloonReclaimedPages, want)
		}
		want := float64(compPages-inflations*1000)*4104 + float64(in.VM.DeviceState)
		if math.Abs(float64(res.TransferredBytes)-want) > 1 {
			t.Errorf("setup %v: sent %d bytes, want %v", setup, res.TransferredBytes, want)
		}
	}
}

// Hybrid and parallel check the composition options by key, as pre-copy
// and post-copy do.
func TestCompositionParamsValidateHybridParallel(t *testing.T) {
	h := passHybridParams()
	h.Balloon.Enabled, h.Balloon.Efficiency = true, 1.5
	h.Pagecache.Mode = "keep"
	p := DefaultParallelParams()
	p.Balloon.Enabled, p.Balloon.Efficiency = true, 1.5
	p.Pagecache.Mode = "keep"
	for name, err := range map[string]error{"hybrid": h.Validate(), "parallel": p.Validate()} {
		for _, want := range []string{"model.balloon.efficiency", `model.pagecache.mode: "keep"`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v does not name %s", name, err, want)
			}
		}
	}
	h, p = passHybridParams(), DefaultParallelParams()
	if err := h.Validate(); err != nil {
		t.Errorf("default hybrid parameters: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("default parallel parameters: %v", err)
	}
}
