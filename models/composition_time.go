package models

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// Composition over time: the memory classes as the guest changes them
// (trace record 0x02 and writes), the balloon's periodic inflation and
// deflation, and the free-page hint of pages freed during the migration.
//
// # Semantics
//
//   - The composition starts as the trace header's and follows the guest:
//     an epoch's composition change applies when the guest starts the
//     epoch. A page the guest writes leaves the free and page-cache
//     classes (it is allocated) when a dirty-log sync sees the write,
//     unless the trace freed it after the write and before the sync.
//   - The balloon inflates when the migration is requested (time 0) and
//     then every interval while the guest runs on the source (pre-copy
//     until stop-and-copy; post-copy and hybrid until the stop). Each
//     inflation grows the balloon by at most reclaim_rate × interval
//     pages, up to floor(efficiency × max(0, free pages − min_free/page
//     size)) pages in all, taking the lowest free pages it does not hold,
//     without the pages written since the last sync (unless freed after
//     the write). Every inflation
//     counts, not only the first: pages the guest frees during the
//     migration are reclaimed at the next one.
//   - A page that leaves the free class (allocated by a change, or
//     written) leaves the balloon (it deflates): the balloon gives the
//     page back and, once written, it is dirty and sent like any other.
//   - At each sync after the skip point, the pages the balloon holds now
//     and, with free_page_hint, the free pages are taken out of the dirty
//     set before it is sent: a page written, then freed and reclaimed (or
//     hinted) before the pass that would resend it, is not resent.
//   - The counts: balloon_reclaimed_pages is the number of pages the
//     balloon held at some time during the migration that were never
//     sent; skipped_free_pages the same for the hinted pages.
//
// # Known differences
//
// Round 1 of pre-copy is decided at the setup sync: a page freed during
// round 1 is still sent in it (QEMU's hint can clear bits of the bulk pass
// still ahead). Post-copy's skip sets are fixed at the stop; on the
// destination an allocated balloon page is a fresh page (nothing moves)
// and later frees do not shorten the push. The zero class is the header's
// (to_zero changes only take pages out of the free and page-cache
// classes).

// attach makes c follow g's composition: trace changes, dirty-log syncs,
// and the balloon's inflations on g's engine from now on. Call it before
// the guest starts.
func (c *composition) attach(g *guest) {
	if c == nil {
		return
	}
	c.eng, c.g = g.eng, g
	g.onSync = c.observe
	g.onChange = c.change
	if c.opts.balloon.Enabled {
		c.live = true
		c.eng.After(0, sim.PhaseDecide, c.inflate)
	}
}

// stopInflating stops the balloon's inflations: the guest has left the
// source.
func (c *composition) stopInflating() {
	if c != nil {
		c.live = false
	}
}

// change applies a composition change as the guest starts an epoch.
func (c *composition) change(ch *traces.ClassChange) {
	if ch.ToFree != nil && !ch.ToFree.IsEmpty() {
		c.freedSinceSync.Or(ch.ToFree)
	}
	if c.balloon != nil {
		// Pages leaving the free class deflate the balloon: those the
		// change moves into another class (its sets are disjoint).
		for _, to := range []*roaring.Bitmap{ch.ToAnon, ch.ToZero, ch.ToPageCache} {
			if to != nil && !to.IsEmpty() {
				c.balloon.AndNot(to)
			}
		}
	}
	ch.Apply(c.zero, c.free, c.cache)
}

// inflate is one balloon inflation; it schedules the next.
func (c *composition) inflate() {
	if !c.live || c.g.paused {
		return
	}
	b := c.opts.balloon
	above := float64(c.free.GetCardinality()) - float64(b.MinFree)/c.pageSize
	target := math.Floor(b.Efficiency * math.Max(0, above))
	grow := min(math.Floor(b.ReclaimRate*b.Interval.Seconds()), target-float64(c.balloon.GetCardinality()))
	if grow >= 1 {
		avail := roaring.AndNot(c.free, c.balloon)
		if d := c.g.dirty; d.count > 0 {
			// Written since the last sync and not freed since: in use.
			inUse := roaring.FromDense(d.words, false)
			inUse.AndNot(c.freedSinceSync)
			avail.AndNot(inUse)
		}
		if n := uint64(grow); n > 0 && !avail.IsEmpty() {
			take := avail
			if n < avail.GetCardinality() {
				last, err := avail.Select(uint32(n))
				if err != nil {
					panic("models: balloon rank out of range: " + err.Error())
				}
				take.RemoveRange(uint64(last), math.MaxUint32+1)
			}
			c.balloon.Or(take)
			if c.everBalloon != nil { // after the skip point
				c.everBalloon.Or(take)
			}
		}
	}
	c.eng.After(b.Interval, sim.PhaseDecide, c.inflate)
}

// observe follows a dirty-log sync: written pages are allocated (they
// leave the free and page-cache classes and the balloon), and after the
// skip point the balloon's pages and, with hinting, the free pages leave
// the synced set, which is what the next pass sends.
func (c *composition) observe(d *dirtyLog) {
	if c == nil || d.lo >= d.hi {
		if c != nil {
			c.freedSinceSync.Clear()
		}
		return
	}
	written := roaring.FromDense(d.words, false)
	alloc := written
	if !c.freedSinceSync.IsEmpty() {
		alloc = roaring.AndNot(written, c.freedSinceSync)
		c.freedSinceSync.Clear()
	}
	c.free.AndNot(alloc)
	c.cache.AndNot(alloc)
	if c.balloon != nil {
		c.balloon.AndNot(alloc)
	}
	if !c.pastSkip {
		return
	}
	out := roaring.New()
	if c.balloon != nil {
		out.Or(roaring.And(written, c.balloon))
	}
	if c.opts.hint {
		h := roaring.And(written, c.free)
		h.AndNot(out)
		c.hinted.Or(h)
		out.Or(h)
	}
	if !out.IsEmpty() {
		d.remove(out)
		written.AndNot(out)
	}
	c.sent.Or(written)
}

// remove clears the bits of every page in b.
func (d *dirtyLog) remove(b *roaring.Bitmap) {
	it := b.Iterator()
	for it.HasNext() {
		p := it.Next()
		w, m := p>>6, uint64(1)<<(p&63)
		if d.words[w]&m != 0 {
			d.words[w] &^= m
			d.count--
		}
	}
}
