package models

import (
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// The SAN's restore of the page cache under pagecache skip, as the fluid
// post-copy's guest meets it ([sanRestore] on the page engine).
//
// From the skip point the destination restores the skipped page-cache
// pages, [PagecacheLo, FreeLo) of the generator's layout, in ascending
// order, page ρ (counted from 1) at start + ρ·perPage. A generator's
// workload never touches its page cache, but the guest's background
// pages, read every epoch and spread evenly over memory, include some
// that lie in it: the first touch of one the restore has not reached
// waits until it does or for a demand read (san_read_latency + a page at
// san_bandwidth), whichever is sooner, while the restore and the
// network's push are both under way. A block of the page cache holds its
// background pages evenly, and the guest touches them in random order,
// so a touch at wall time t finds its page at a rank uniform over the
// block's: its expected wait is the mean of clamp(start + ρ·perPage − t,
// 0, read) over the block's ranks, in closed form (meanWait).

// fluidSAN is the restore of one migration.
type fluidSAN struct {
	lo, hi  uint64  // the page cache, restored in this order
	start   float64 // ns: the restore's start
	perPage float64 // ns: one page's restore
	read    float64 // ns: one demand read
	done    float64 // ns: the restore's end
}

// newFluidSAN returns the restore of the page cache of layout lay left out
// at skipAt under pc, or nil unless mode skip has pages to restore.
func newFluidSAN(pc PagecacheParams, lay traces.Layout, pageSize float64, skipAt sim.Time) *fluidSAN {
	if pc.Mode != PagecacheSkip || lay.FreeLo <= lay.PagecacheLo {
		return nil
	}
	per, read := sanPageNs(pc, pageSize)
	done := sanRestoreEnd(pc, float64(lay.FreeLo-lay.PagecacheLo)*pageSize, skipAt)
	return &fluidSAN{lo: lay.PagecacheLo, hi: lay.FreeLo, start: float64(skipAt), perPage: per,
		read: read, done: float64(done)}
}

// holds reports whether the block [lo, hi) lies in the page cache.
func (s *fluidSAN) holds(lo, hi uint64) bool { return s != nil && lo >= s.lo && hi <= s.hi }

// meanWait returns the expected wait, ns, of a first touch at wall time t
// (ns) of a page of [lo, hi), a block of the page cache.
func (s *fluidSAN) meanWait(lo, hi uint64, t float64) float64 {
	if t >= s.done || hi <= lo {
		return 0
	}
	// u = start + ρ·perPage − t over ρ in [lo−s.lo+1, hi−s.lo+1).
	ua := s.start + float64(lo-s.lo+1)*s.perPage - t
	ub := s.start + float64(hi-s.lo+1)*s.perPage - t
	r := s.read
	// F is the integral of clamp(u, 0, r) from −∞.
	F := func(x float64) float64 {
		switch {
		case x <= 0:
			return 0
		case x <= r:
			return x * x / 2
		default:
			return r*r/2 + r*(x-r)
		}
	}
	return (F(ub) - F(ua)) / (ub - ua)
}
