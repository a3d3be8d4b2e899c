package models

import (
	"slices"

	"github.com/bits-and-blooms/bitset"
)

// pushOrder picks the pages the source pushes during post-copy, one at a
// time. It reads the set of pages still at the source (a flat bitset over
// guest pages) and never changes it: the caller removes each page it is
// given before asking for the next.
type pushOrder interface {
	// next returns the next page of missing to push. missing is not
	// empty.
	next(missing *bitset.BitSet) uint32
	// requested tells the order that the destination asked for page p
	// (a network fault). p is no longer in missing.
	requested(p uint32)
	// scan reports whether, until the next request, the order pushes the
	// missing pages in ascending order from page from (an upward scan
	// with nothing else interleaved), so that the caller may take them a
	// word at a time; skip(to) then says that it took every missing page
	// below to.
	scan() (from uint64, ok bool)
	skip(to uint64)
}

// bubble is one pivot of the bubbling push order and the region it has
// swept: every page in (bwd, fwd) has left the source.
type bubble struct {
	pivot uint32
	// fwd is the next page the forward edge looks at; bwd the next page
	// the backward edge looks at (−1: nothing below).
	fwd uint64
	bwd int64
	// fwdDone and bwdDone mark an edge that found nothing to push within
	// its limits; they are cleared when the set of live bubbles changes.
	fwdDone, bwdDone bool
	born             uint64 // creation order, to retire the oldest
}

// pivotOrder is the push order of Hines and Gopalan's pre-paging
// (VEE'09, section 3.3), in the variants of [Prepaging]:
//
//   - none: one bubble at page 0 with only a forward edge; faults do not
//     move it, so the push is a plain upward scan that skips pages
//     already sent.
//   - forward: one forward edge that jumps to the page after each
//     requested page and wraps at the top of memory (QEMU restarts its
//     dirty-page scan at the requested page).
//   - bubbling: one bubble; each request moves its pivot to the requested
//     page and the bubble expands from there, forward and backward in
//     turn, one page each, skipping pages already sent, until its edges
//     reach the ends of memory.
//   - multi-pivot: each request adds a bubble at the requested page and
//     retires the oldest beyond maxLive. Live bubbles share the link
//     round-robin, one page per edge in turn. An edge stops where it
//     meets the region swept by the neighbouring live bubble; retired
//     bubbles do not stop anyone.
//
// Before the first request the push starts from a bubble at page 0. Every
// page in missing is eventually returned: the outermost live edges run to
// the ends of memory and neighbouring edges run until they meet.
type pivotOrder struct {
	mode    Prepaging
	pages   uint64
	maxLive int
	live    []*bubble // sorted by pivot
	edge    int       // round-robin cursor: edge e is live[e/2], forward when e is even
	born    uint64
	pos     uint64 // forward: the next page the scan looks at
}

func newPivotOrder(mode Prepaging, pages uint64, pivots int) *pivotOrder {
	o := &pivotOrder{mode: mode, pages: pages, maxLive: 1}
	if mode == PrepagingMultiPivot {
		o.maxLive = max(pivots, 1)
	}
	o.live = []*bubble{{pivot: 0, fwd: 0, bwd: -1, bwdDone: true}}
	return o
}

func (o *pivotOrder) next(missing *bitset.BitSet) uint32 {
	if o.mode == PrepagingForward {
		v, ok := missing.NextSet(uint(o.pos))
		if !ok { // wrap to the bottom of memory
			v, ok = missing.NextSet(0)
		}
		if !ok {
			panic("models: forward pre-paging asked for a page with none missing")
		}
		o.pos = uint64(v) + 1
		return uint32(v)
	}
	n := 2 * len(o.live)
	for range n {
		e := o.edge
		o.edge = (o.edge + 1) % n
		var p uint32
		var ok bool
		if e%2 == 0 {
			p, ok = o.forward(missing, e/2)
		} else {
			p, ok = o.backward(missing, e/2)
		}
		if ok {
			return p
		}
	}
	panic("models: pre-paging has pages to push but no live edge reaches them")
}

// forward advances the forward edge of live[i] to its next page.
func (o *pivotOrder) forward(missing *bitset.BitSet, i int) (uint32, bool) {
	b := o.live[i]
	if b.fwdDone {
		return 0, false
	}
	limit := int64(o.pages) - 1
	if i+1 < len(o.live) {
		limit = o.live[i+1].bwd // the right neighbour's territory starts above
	}
	if b.fwd >= o.pages || int64(b.fwd) > limit {
		b.fwdDone = true
		return 0, false
	}
	v, ok := missing.NextSet(uint(b.fwd))
	if !ok || int64(v) > limit {
		b.fwdDone = true
		return 0, false
	}
	b.fwd = uint64(v) + 1
	return uint32(v), true
}

// backward advances the backward edge of live[i] to its next page.
func (o *pivotOrder) backward(missing *bitset.BitSet, i int) (uint32, bool) {
	b := o.live[i]
	if b.bwdDone {
		return 0, false
	}
	limit := int64(0)
	if i > 0 {
		limit = int64(o.live[i-1].fwd) // the left neighbour's territory ends below
	}
	if b.bwd < limit {
		b.bwdDone = true
		return 0, false
	}
	v, ok := missing.PreviousSet(uint(b.bwd))
	if !ok || int64(v) < limit {
		b.bwdDone = true
		return 0, false
	}
	b.bwd = int64(v) - 1
	return uint32(v), true
}

func (o *pivotOrder) requested(p uint32) {
	switch o.mode {
	case PrepagingNone:
		return
	case PrepagingForward:
		o.pos = uint64(p) + 1
		return
	}
	o.born++
	nb := &bubble{pivot: p, fwd: uint64(p) + 1, bwd: int64(p) - 1, bwdDone: p == 0, born: o.born}
	if o.maxLive == 1 {
		o.live[0] = nb
		o.edge = 0
		return
	}
	i, _ := slices.BinarySearchFunc(o.live, p, func(b *bubble, p uint32) int {
		switch {
		case b.pivot < p:
			return -1
		case b.pivot > p:
			return 1
		}
		return 0
	})
	o.live = slices.Insert(o.live, i, nb)
	if len(o.live) > o.maxLive {
		oldest := 0
		for j, b := range o.live {
			if b.born < o.live[oldest].born {
				oldest = j
			}
		}
		o.live = slices.Delete(o.live, oldest, oldest+1)
	}
	// Neighbours changed: every edge looks again within its new limits.
	for j, b := range o.live {
		b.fwdDone = b.fwd >= o.pages
		b.bwdDone = b.bwd < 0
		if b == nb {
			o.edge = 2 * j
		}
	}
}

func (o *pivotOrder) scan() (uint64, bool) {
	switch {
	case o.mode == PrepagingForward:
		return o.pos, true
	case len(o.live) == 1 && o.live[0].bwdDone && !o.live[0].fwdDone:
		return o.live[0].fwd, true // a lone bubble whose backward edge is done
	}
	return 0, false
}

func (o *pivotOrder) skip(to uint64) {
	if o.mode == PrepagingForward {
		o.pos = to
		return
	}
	o.live[0].fwd = to
}
