package models

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/migsim/migsim/traces"
)

// XBZRLE on the fluid engine ([Xbzrle] for the semantics).
//
// # Closed form
//
// When no two pages the workload can write share a cache slot (its
// working set, and with alloc_rate the free pages it may allocate, fit
// the cache: slot p mod slots is p's alone), a slot
// holds its page from the page's first lookup on, so a lookup hits
// exactly when the page was sent before since XBZRLE started. A page's
// sends are its writes in consecutive windows of guest time between the
// syncs before the scan passed it, so the pages of a pass or chunk found
// in the cache are those written in its window [a, b) that were also
// written in [o, a), o the start of the page's first window after
// XBZRLE started:
//
//	found = |W[a, b)| + |W[o, a)| − |W[o, b)|,
//
// each term a closed form ([traces.Expect.Written]) over the pages
// concerned. Under sync_policy pass, o is the setup sync's guest time
// (XBZRLE starts with round 2, whose set is round 1's writes); under
// qemu, each stretch of the bitmap keeps the start of its window when
// the scan first wrapped to page 0, where XBZRLE starts.
//
// A working set larger than the cache makes pages evict each other:
// fluid_xbzrle_slots.go follows the slots' state instead, but for a zipf
// workload, which FluidSupport refuses.

// fluidXbzrle is a fluid run's XBZRLE counters.
type fluidXbzrle struct {
	slots      uint64
	pageSize   float64
	encoded    uint64
	overflow   bool
	wireHit    float64 // wire bytes of a hit page
	pageHeader float64 // the page header within wireHit
	wireFull   float64 // wire bytes of a full page

	// cache is the slots' state when pages share them (a cache smaller
	// than what the workload writes, fluid_xbzrle_slots.go); nil: the
	// closed form above.
	cache *xbzrleSlotModel

	passes int // live passes (or chunks) planned, as xbzrleCache counts them

	pass  fluidXbzrleCounts // the pass or chunk planned last
	scale float64           // the share of it sent (timeUp)
	total fluidXbzrleCounts // every pass planned, the last one included
}

// fluidXbzrleCounts are expected lookups of one or more passes.
type fluidXbzrleCounts = xbzrleTally[float64]

// xbzrleSlots returns the cache's slots for pages of pageSize bytes: a
// power of two, as [precopyRun.useXbzrle] sizes it.
func xbzrleSlots(x Xbzrle, pageSize uint64) uint64 {
	slots := max(uint64(x.CacheSize)/pageSize, 1)
	return 1 << (63 - bits.LeadingZeros64(slots))
}

// fluidXbzrleCovers returns an error when x's cache is smaller than the
// pages a zipf workload can write (layout's WrittenTop): its pages share
// slots, and their ranks tie their lookups together, which the slots'
// model (fluid_xbzrle_slots.go) does not follow.
func fluidXbzrleCovers(x Xbzrle, l traces.Layout, pageSize uint64) error {
	if !x.Enabled {
		return nil
	}
	if slots := xbzrleSlots(x, pageSize); l.WrittenTop > slots && l.ZipfTop > 0 {
		return fmt.Errorf("model.xbzrle.cache_size: %d pages, fewer than the %d a zipf workload can write: pages that share a slot evict each other, and a page's rank ties its lookups together (a popular page hits at every one), which the fluid engine's model of the slots does not follow", slots, l.WrittenTop)
	}
	return nil
}

// newFluidXbzrle returns XBZRLE's counters for a run whose full pages
// take wireFull bytes, nil when x is off.
func newFluidXbzrle(x Xbzrle, pageSize uint64, pageHeader, wireFull float64) *fluidXbzrle {
	if !x.Enabled {
		return nil
	}
	enc, over := xbzrleEncoded(pageSize, x.ChangedFraction, uint64(x.RunBytes))
	return &fluidXbzrle{
		slots: xbzrleSlots(x, pageSize), pageSize: float64(pageSize), encoded: enc, overflow: over,
		wireHit:    pageHeader + xbzrleFlagBytes + float64(enc),
		pageHeader: pageHeader, wireFull: wireFull, scale: 1,
	}
}

// plan records a pass or chunk of pages lookups, found of them in the
// cache.
func (x *fluidXbzrle) plan(pages, found float64, last bool, cpu *cpuPipeline, costs Costs) {
	if x == nil {
		return
	}
	found = math.Min(math.Max(found, 0), pages)
	c := fluidXbzrleCounts{pages: pages, misses: pages - found}
	switch {
	case x.overflow:
		c.overflows = found
	case x.encoded == 0:
		c.skipped = found
	default:
		c.hits = found
	}
	x.pass, x.scale = c, 1
	x.total.add(c)
	if !last {
		x.passes++
	}
	if cpu != nil {
		// The CPU work of the expected lookups, as [xbzrleCache.plan]
		// counts it: linear in the counts, so exact in expectation.
		copyS := costs.Copy.Seconds()
		if costs.Copy == 0 {
			copyS = DefaultCosts().Copy.Seconds()
		}
		cpu.passSrc = (c.hits+c.skipped+c.overflows)*costs.XbzrleEncode.Seconds() + c.misses*copyS
		cpu.passDst = c.hits * costs.XbzrleDecode.Seconds()
		if last {
			cpu.passSrc -= c.misses * copyS
		}
		cpu.extraSrc += cpu.passSrc
		cpu.extraDst += cpu.passDst
	}
}

// warm is [xbzrleCache.warm]: XBZRLE, if on, is past its first passes,
// in which its cache fills and its hits grow.
func (x *fluidXbzrle) warm() bool {
	return x == nil || x.passes > xbzrleCachedPageLifetime
}

// saved returns the bytes the planned pass or chunk saves over sending
// its pages in full, for the share of it sent: normal of its full pages
// ([xbzrleCache.saved]).
func (x *fluidXbzrle) saved(normal float64) float64 {
	if x == nil || x.pass.pages <= 0 {
		return 0
	}
	x.scale = math.Min(1, normal/x.pass.pages)
	return x.scale * (x.pass.hits*(x.wireFull-x.wireHit) + x.pass.skipped*x.wireFull)
}

// fill writes the counters into res as [xbzrleCache.fill] does.
func (x *fluidXbzrle) fill(res *Result) {
	if x == nil {
		return
	}
	t := x.total
	if x.scale < 1 { // the last pass was cut short
		p, cut := x.pass, 1-x.scale
		t.pages -= cut * p.pages
		t.hits -= cut * p.hits
		t.skipped -= cut * p.skipped
		t.misses -= cut * p.misses
		t.overflows -= cut * p.overflows
	}
	round := func(v float64) uint64 { return uint64(math.Round(math.Max(v, 0))) }
	res.XbzrleCacheSizeBytes = x.slots * uint64(x.pageSize)
	res.XbzrlePages = round(t.hits)
	res.XbzrleBytes = round(t.hits * (x.wireHit - x.pageHeader))
	res.XbzrleCacheMisses = round(t.misses)
	res.XbzrleOverflow = round(t.overflows)
	if t.pages > 0 {
		res.XbzrleCacheMissRate = t.misses / t.pages
	}
	if res.XbzrleBytes > 0 {
		res.XbzrleEncodingRate = t.hits * x.pageSize / float64(res.XbzrleBytes)
	}
	if n := round(t.hits + t.skipped); res.Pages.Normal >= n {
		res.Pages.Normal -= n
	}
}
