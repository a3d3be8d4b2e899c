package models

import (
	"math"
	"time"

	"github.com/migsim/migsim/sim"
)

// The DSB balloon (model.balloon; composition.go and composition_time.go
// for the semantics) on the fluid engine.
//
// # Closed form
//
// A generator whose classes do not change (no alloc_rate or free_rate:
// the fluid engine refuses the balloon with them) never writes a free
// page, so nothing deflates the balloon and its inflations depend on
// time alone. It inflates when the migration is requested and every
// interval after, while the guest runs on the source, each time by at
// most floor(reclaim_rate × interval) pages up to floor(efficiency ×
// max(0, free − min_free/page size)), the lowest free pages first. After
// k inflations it holds min(k × step, target) pages, [FreeLo, FreeLo +
// that). The inflation at time 0 comes before a setup sync at 0; a later
// one at the very time of the setup sync or the stop comes after it, as
// the page engine orders the events.
//
// At the setup sync (the skip point) the balloon's pages leave round 1.
// Its later inflations take pages round 1 has sent, unless the hint left
// them out: then they count as the balloon's, never sent. So
// balloon_reclaimed_pages is the balloon at the skip point, or, with
// free_page_hint, at the stop; skipped_free_pages, with the hint, is the
// rest of the free class.

// fluidBalloon is the balloon of a fluid run; nil when off.
type fluidBalloon struct {
	interval     time.Duration
	step, target float64 // pages per inflation, pages in all
}

// newFluidBalloon returns the balloon of b over free free pages of
// pageSize bytes, nil when b is off.
func newFluidBalloon(b BalloonParams, free, pageSize float64) *fluidBalloon {
	if !b.Enabled {
		return nil
	}
	return &fluidBalloon{
		interval: b.Interval,
		step:     math.Floor(b.ReclaimRate * b.Interval.Seconds()),
		target:   math.Floor(b.Efficiency * math.Max(0, free-float64(b.MinFree)/pageSize)),
	}
}

// size returns the pages the balloon holds after its inflations before
// time t (the one at time 0 included).
func (f *fluidBalloon) size(t sim.Time) float64 {
	if f == nil || f.step < 1 {
		return 0
	}
	k := max(1, math.Ceil(float64(t)/float64(f.interval)))
	return math.Min(k*f.step, f.target)
}
