package models

import (
	"math"
	"slices"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// The memory options that follow the free class (free-page hinting and
// the DSB balloon; composition.go and composition_time.go for the
// semantics) on the fluid engine.
//
// # Exact sets
//
// A generator writes free pages only by allocating them (alloc_rate),
// and its allocation and freeing are deterministic (traces.Expect's
// FreeAt, ChurnWritten, ChurnAlloc): the free class at any guest time,
// the pages allocated at each epoch's start, and the pages the churn
// writes between two syncs are exact sets of pages, kept as ranges. The
// workload's random writes stay in the working set, which holds no free
// page. So the balloon and the hint act on exact sets, as the page
// engine's composition does:
//
//   - The balloon inflates at wall times 0, interval, 2·interval, ...
//     while the guest runs on the source: each time by at most
//     floor(reclaim_rate × interval) pages, up to floor(efficiency ×
//     max(0, free − min_free/page size)) in all, taking the lowest free
//     pages it does not hold, the free class being the one at the guest
//     time then. A page the guest allocates (as an epoch starts) leaves
//     it. The inflation at time 0 comes before a setup sync at 0; a later
//     one at the very time of a sync comes after it, as the page engine
//     orders the events.
//   - At the setup sync (the skip point) round 1 leaves out the
//     balloon's pages and, with the hint, the rest of the free class.
//   - At each later sync j, the pages the churn wrote since the sync
//     before that the balloon holds, or with the hint that are free, are
//     taken out of the dirty set; the others, D_j, are sent. A window of
//     guest time between two syncs (a pass, or a segment of the
//     migration bitmap under sync_policy qemu) holds, besides the random
//     writes, the union of D_j over its syncs.
//   - balloon_reclaimed_pages counts the pages the balloon held at some
//     time from the skip point on that were never sent: left out at the
//     skip point and in no D_j. skipped_free_pages counts the same for
//     the hinted pages the balloon never held.
//
// Without churn the free class never changes, no free page is written
// and only the balloon's timing matters.

// fluidComp is a fluid run's hint and balloon, nil when both are off.
type fluidComp struct {
	x    *traces.Expect
	hint bool
	bal  *fluidBalloon // nil when off

	past   bool               // the skip point is past
	skip0  []traces.PageRange // the pages left out there
	hinted []traces.PageRange // every page the hint left out (hint only)
	syncs  []float64          // guest seconds of each sync from the skip point on
	sent   [][]traces.PageRange
}

// newFluidComp returns the run's hint and balloon over x's workload,
// pages of pageSize bytes; nil when both are off.
func newFluidComp(hint bool, b BalloonParams, x *traces.Expect, pageSize float64) *fluidComp {
	if !hint && !b.Enabled {
		return nil
	}
	c := &fluidComp{x: x, hint: hint}
	if b.Enabled {
		c.bal = &fluidBalloon{
			x:        x,
			interval: b.Interval,
			step:     math.Floor(b.ReclaimRate * b.Interval.Seconds()),
			eff:      b.Efficiency,
			minFree:  float64(b.MinFree) / pageSize,
		}
	}
	return c
}

// start schedules the balloon's inflations on eng, for a guest g; call it
// before the setup sync is scheduled.
func (c *fluidComp) start(eng *sim.Engine, g *fluidGuest) {
	if c == nil || c.bal == nil {
		return
	}
	var inflate func()
	inflate = func() {
		if g.paused {
			return
		}
		c.bal.inflate(g.progress(), c.past)
		eng.After(c.bal.interval, sim.PhaseDecide, inflate)
	}
	eng.After(0, sim.PhaseDecide, inflate)
}

// skip fixes the skip sets at the setup sync, guest time at: it returns
// the balloon's pages and the other hinted ones.
func (c *fluidComp) skip(at float64) (ballooned, hinted []traces.PageRange) {
	c.past = true
	free := c.x.FreeAt(at)
	if c.bal != nil {
		c.bal.advance(at)
		ballooned = traces.IntersectRanges(c.bal.held, free)
		c.bal.ever = ballooned
	}
	if c.hint {
		hinted = traces.SubtractRanges(free, ballooned)
		c.hinted = hinted
	}
	c.skip0 = joinRanges(ballooned, hinted)
	c.syncs, c.sent = []float64{at}, [][]traces.PageRange{nil}
	return ballooned, hinted
}

// observe follows a sync past the skip point at guest time at: of the
// churn's pages written since the sync before, those the balloon holds
// (or, with the hint, that are free) leave the dirty set, the others are
// sent.
func (c *fluidComp) observe(at float64) {
	last := c.syncs[len(c.syncs)-1]
	var d []traces.PageRange
	if at > last && c.x.Churn() {
		w := c.x.ChurnWritten(last, at)
		var held []traces.PageRange
		if c.bal != nil {
			c.bal.advance(at)
			held = traces.IntersectRanges(w, c.bal.held)
		}
		out := held
		if c.hint {
			h := traces.SubtractRanges(traces.IntersectRanges(w, c.x.FreeAt(at)), held)
			c.hinted = joinRanges(c.hinted, h)
			out = joinRanges(held, h)
		}
		d = traces.SubtractRanges(w, out)
	}
	c.syncs = append(c.syncs, at)
	c.sent = append(c.sent, d)
}

// churn returns the churn's pages a window [a, c) between syncs holds:
// the union of D_j over its syncs a < t_j ≤ c.
func (c *fluidComp) churn(a, b float64) []traces.PageRange {
	var all []traces.PageRange
	j, _ := slices.BinarySearch(c.syncs, a) // syncs ascend
	for ; j < len(c.syncs) && c.syncs[j] <= b; j++ {
		if c.syncs[j] > a {
			all = append(all, c.sent[j]...)
		}
	}
	return traces.UnionRanges(all)
}

// fill sets the result's counts of pages left out and never sent.
func (c *fluidComp) fill(res *Result) {
	if c == nil || !c.past {
		return
	}
	var sent []traces.PageRange
	for _, d := range c.sent {
		sent = append(sent, d...)
	}
	unsent := traces.SubtractRanges(c.skip0, traces.UnionRanges(sent))
	var ever []traces.PageRange
	if c.bal != nil {
		ever = c.bal.ever
		res.BalloonReclaimedPages = traces.CountRanges(traces.IntersectRanges(unsent, ever))
	}
	if c.hint {
		res.SkippedFreePages = traces.CountRanges(traces.IntersectRanges(unsent, traces.SubtractRanges(c.hinted, ever)))
	}
}

// fluidBalloon is the balloon's exact set of pages.
type fluidBalloon struct {
	x             *traces.Expect
	interval      time.Duration
	step          float64 // pages an inflation takes at most
	eff, minFree  float64 // efficiency; min_free in pages
	held          []traces.PageRange
	ever          []traces.PageRange // held at some time from the skip point on
	epochsApplied uint64             // epochs whose allocations it has given back
}

// advance gives back the pages the epochs started by guest time g
// allocate (they leave the free class).
func (b *fluidBalloon) advance(g float64) {
	if !b.x.Churn() {
		return
	}
	for m := b.x.EpochsStarted(g); b.epochsApplied < m; b.epochsApplied++ {
		if a := b.x.ChurnAlloc(b.epochsApplied); len(a) > 0 && len(b.held) > 0 {
			b.held = traces.SubtractRanges(b.held, a)
		}
	}
}

// inflate is one inflation at guest time g; past says that the skip point
// is past, from when the pages taken count in ever.
func (b *fluidBalloon) inflate(g float64, past bool) {
	b.advance(g)
	free := b.x.FreeAt(g)
	target := math.Floor(b.eff * math.Max(0, float64(traces.CountRanges(free))-b.minFree))
	grow := math.Min(b.step, target-float64(traces.CountRanges(b.held)))
	if grow < 1 {
		return
	}
	take := traces.LowestRanges(traces.SubtractRanges(free, b.held), uint64(grow))
	b.held = joinRanges(b.held, take)
	if past {
		b.ever = joinRanges(b.ever, take)
	}
}

// joinRanges returns the union of a and b as ascending merged ranges,
// sharing no storage with them.
func joinRanges(a, b []traces.PageRange) []traces.PageRange {
	all := make([]traces.PageRange, 0, len(a)+len(b))
	return traces.UnionRanges(append(append(all, a...), b...))
}
