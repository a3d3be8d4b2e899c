package models

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/migsim/migsim/traces"
)

// fluidBitmap is the fluid engine's migration bitmap (sync_policy qemu):
// the expected set of pages still to send.
//
// A page is in QEMU's bitmap when it was set at setup and not sent
// since, or written after the last sync before the scan last passed it
// and before the latest sync (a page written later waits in the dirty
// log). So memory is cut into segments, in ascending page order, each
// either still full from setup or holding since, the guest time of the
// sync before the scan last passed it: its pages are in the bitmap with
// the probability that the guest wrote them in [since, latest sync),
// which the closed forms give ([traces.Expect.Written]) per piece of
// memory and zipf rank bucket. Because membership is always such a
// window of the trace, a replayed trace (at_end loop) that writes the
// same pages again is counted once, as the page engine counts it.
//
// A scan that stops inside a segment cuts it where the expected pages
// taken run out (segment bounds are real numbers). Neighbours with the
// same since merge, so the bitmap holds a segment per sync period the
// scan has not yet passed again. Each operation costs O(segments ×
// pieces × zipf buckets).
type fluidBitmap struct {
	g      *fluidGuest // whose written sets the windows are
	zeroLo float64     // the zero class starts here
	end    float64     // the page count
	segs   []fluidSeg
	spare  []fluidSeg
	latest float64               // guest seconds at the latest sync
	wins   map[float64]*fluidWin // since → its window up to latest
	// used holds the windows of earlier syncs, whose slices written
	// reuses; release hands them to fluidWins when the run ends.
	used []*fluidWin

	// XBZRLE (fluid_xbzrle.go), when xb is set: it starts where the scan
	// first wraps to page 0; from then each segment keeps its origin.
	xb, xbStarted, wrapPending bool
	cache                      *xbzrleSlotModel         // when pages share the cache's slots (fluid_xbzrle_slots.go)
	looked                     []fluidSeg               // scratch: a chunk's lookups (take)
	spans                      map[[2]float64]*fluidWin // [a, b) → the pages written in it
}

// fluidSeg is pages [lo, hi) of a fluidBitmap.
type fluidSeg struct {
	lo, hi float64
	full   bool    // every page set since setup
	since  float64 // else: pages written in [since, latest) are set
	// origin is, once XBZRLE has started, the since the segment had then:
	// its pages sent since are those written in [origin, since).
	origin float64
}

// fluidWin is an expected set with each piece's probability and
// variance per page.
type fluidWin struct {
	w    traces.Window
	p, v []float64
}

// newFluidBitmap returns the bitmap at the setup sync, guest time at:
// every page set except those of skip (ranges left out of the
// migration, never written by a generator).
func newFluidBitmap(g *fluidGuest, at float64, skip [][2]uint64) *fluidBitmap {
	l := g.x.Layout()
	b := &fluidBitmap{g: g, zeroLo: float64(l.ZeroLo), end: float64(l.Pages),
		latest: at, wins: map[float64]*fluidWin{}}
	cuts := []uint64{0, l.Pages}
	for _, r := range skip {
		cuts = append(cuts, r[0], r[1])
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		full := true
		for _, r := range skip {
			if r[0] <= lo && hi <= r[1] {
				full = false
			}
		}
		b.segs = b.appendMerged(b.segs, fluidSeg{lo: float64(lo), hi: float64(hi), full: full, since: at})
	}
	return b
}

// sync moves the latest sync to guest time at: the dirty log joins the
// bitmap.
func (b *fluidBitmap) sync(at float64) {
	b.latest = at
	if b.cache != nil {
		b.cache.sync()
	}
	for _, w := range b.wins {
		b.used = append(b.used, w)
	}
	for _, w := range b.spans {
		b.used = append(b.used, w)
	}
	clear(b.wins)
	clear(b.spans)
}

// window returns the pages written in [since, latest).
func (b *fluidBitmap) window(since float64) *fluidWin {
	if w, ok := b.wins[since]; ok {
		return w
	}
	w := b.written(since, b.latest)
	b.wins[since] = w
	return w
}

// written returns the pages written in [a, c) with each piece's
// probability and variance.
func (b *fluidBitmap) written(a, c float64) *fluidWin {
	var w *fluidWin
	if n := len(b.used); n > 0 {
		w, b.used = b.used[n-1], b.used[:n-1]
	} else {
		w = fluidWins.Get().(*fluidWin)
	}
	b.g.written(a, c, &w.w)
	w.setPieces()
	return w
}

// setPieces sets each piece's probability and variance from the set w.w.
func (w *fluidWin) setPieces() {
	w.p, w.v = w.p[:0], w.v[:0]
	for _, pc := range w.w.Pieces {
		p, v := w.w.PieceIn(pc)
		w.p = append(w.p, p)
		w.v = append(w.v, v)
	}
}

// fluidWins keeps the windows of finished runs for the next ones (a
// sweep runs thousands): their slices are what a window costs.
var fluidWins = sync.Pool{New: func() any { return &fluidWin{} }}

// release hands the bitmap's windows to fluidWins; the bitmap is not
// used after.
func (b *fluidBitmap) release() {
	if b == nil {
		return
	}
	b.sync(b.latest)
	for _, w := range b.used {
		fluidWins.Put(w)
	}
	b.used = nil
}

// span returns the pages written in [a, c), kept until the next sync.
func (b *fluidBitmap) span(a, c float64) *fluidWin {
	k := [2]float64{a, c}
	if w, ok := b.spans[k]; ok {
		return w
	}
	if b.spans == nil {
		b.spans = map[[2]float64]*fluidWin{}
	}
	w := b.written(a, c)
	b.spans[k] = w
	return w
}

// inWin returns the expected pages of [lo, hi) in w, and their variance
// were they independent.
func inWin(w *fluidWin, lo, hi float64) (n, v float64) {
	pieces := w.w.Pieces
	for i := firstPiece(pieces, lo); i < len(pieces) && float64(pieces[i].Lo) < hi; i++ {
		pc := pieces[i]
		a, z := math.Max(lo, float64(pc.Lo)), math.Min(hi, float64(pc.Hi))
		if z > a {
			n += (z - a) * w.p[i]
			v += (z - a) * w.v[i]
		}
	}
	return n, v
}

// firstPiece returns the index of the first of pieces (ascending, as a
// window's are) that ends past x: those before it hold nothing at or
// above x. The background's single pages (fluid_background.go) make a
// window's pieces many, and a bitmap's segments look each up.
func firstPiece(pieces []traces.Piece, x float64) int {
	return sort.Search(len(pieces), func(i int) bool { return float64(pieces[i].Hi) > x })
}

// startXbzrle starts XBZRLE's lookups: every segment's origin is its
// since now.
func (b *fluidBitmap) startXbzrle() {
	if !b.xb || b.xbStarted {
		return
	}
	b.xbStarted = true
	for i := range b.segs {
		b.segs[i].origin = b.segs[i].since
	}
}

// foundIn returns the expected pages of [lo, hi) of seg, n of them in the
// bitmap, that XBZRLE's cache holds: written in [since, latest) and in
// [origin, since), as fluid_xbzrle.go gives it.
func (b *fluidBitmap) foundIn(seg *fluidSeg, lo, hi, n float64) float64 {
	if !b.xbStarted || seg.full || seg.origin >= seg.since {
		return 0
	}
	before, _ := inWin(b.span(seg.origin, seg.since), lo, hi)
	union, _ := inWin(b.span(seg.origin, b.latest), lo, hi)
	return math.Max(0, n+before-union)
}

// foundAll returns the expected pages of the whole bitmap that XBZRLE's
// cache holds (the stop-and-copy pass's lookups).
func (b *fluidBitmap) foundAll() float64 {
	var f float64
	for i := range b.segs {
		s := &b.segs[i]
		if b.cache != nil {
			if b.xbStarted {
				f += b.slotFound(s, s.lo, s.hi, true)
			}
			continue
		}
		n, _ := b.in(s, s.lo, s.hi)
		f += b.foundIn(s, s.lo, s.hi, n)
	}
	return f
}

// slotFound looks up the pages of [lo, hi) of seg in the slots' model
// and returns the expected hits; last (the stop-and-copy pass) inserts
// nothing.
func (b *fluidBitmap) slotFound(seg *fluidSeg, lo, hi float64, last bool) float64 {
	if seg.full {
		return b.cache.lookup(lo, hi, nil, last)
	}
	w := b.window(seg.since)
	return b.cache.lookup(lo, hi, piecesIn(w.w.Pieces, w.p), last)
}

// in returns the expected pages of [lo, hi) of seg in the bitmap, and
// their variance were they independent.
func (b *fluidBitmap) in(seg *fluidSeg, lo, hi float64) (n, v float64) {
	if seg.full {
		return hi - lo, 0
	}
	return inWin(b.window(seg.since), lo, hi)
}

// cut returns where in seg, from its start, the expected pages in the
// bitmap reach need (less than the segment holds).
func (b *fluidBitmap) cut(seg *fluidSeg, need float64) float64 {
	if seg.full {
		return seg.lo + need
	}
	w := b.window(seg.since)
	pieces := w.w.Pieces
	for i := firstPiece(pieces, seg.lo); i < len(pieces); i++ {
		pc := pieces[i]
		a, z := math.Max(seg.lo, float64(pc.Lo)), math.Min(seg.hi, float64(pc.Hi))
		if z <= a || w.p[i] <= 0 {
			continue
		}
		if n := (z - a) * w.p[i]; n < need {
			need -= n
			continue
		}
		return a + need/w.p[i]
	}
	return seg.hi
}

// count returns the expected number of pages in the bitmap and its
// variance were they independent.
func (b *fluidBitmap) count() (n, v float64) {
	for i := range b.segs {
		s := &b.segs[i]
		sn, sv := b.in(s, s.lo, s.hi)
		n += sn
		v += sv
	}
	return n, v
}

// countIn returns the expected pages of [lo, hi) in the bitmap.
func (b *fluidBitmap) countIn(lo, hi uint64) float64 {
	var n float64
	for i := range b.segs {
		s := &b.segs[i]
		if a, z := math.Max(s.lo, float64(lo)), math.Min(s.hi, float64(hi)); z > a {
			sn, _ := b.in(s, a, z)
			n += sn
		}
	}
	return n
}

// zeroCount returns the expected number of zero-class pages in the
// bitmap that go as zero pages (round 1's not yet sent).
func (b *fluidBitmap) zeroCount() float64 {
	var n float64
	for i := range b.segs {
		s := &b.segs[i]
		if s.hi > b.zeroLo {
			n += b.zeroIn(s, math.Max(s.lo, b.zeroLo), s.hi)
		}
	}
	return n
}

// zeroIn returns the expected pages of [lo, hi) of seg, in the zero class,
// that go as zero pages. The workload never writes the zero class, so
// every one in the bitmap does; but the guest OS's writes reach
// background pages there (fluid_background.go), and a page written before
// the latest sync is no longer zero (the page engine's zeroLeft): only a
// segment still full from setup holds zero pages, those not written since
// setup.
func (b *fluidBitmap) zeroIn(seg *fluidSeg, lo, hi float64) float64 {
	if b.g.bg == nil {
		n, _ := b.in(seg, lo, hi)
		return n
	}
	if !seg.full {
		return 0
	}
	written, _ := inWin(b.window(seg.since), lo, hi)
	return hi - lo - written
}

// appendMerged appends seg to out, merged into the last segment when
// both are full or hold the same since.
func (b *fluidBitmap) appendMerged(out []fluidSeg, seg fluidSeg) []fluidSeg {
	if n := len(out); n > 0 {
		last := &out[n-1]
		if last.hi == seg.lo && last.full == seg.full && (seg.full || last.since == seg.since) && last.origin == seg.origin {
			last.hi = seg.hi
			return out
		}
	}
	return append(out, seg)
}

// split cuts the segment holding position x at x and returns the index of
// the segment starting at x (len(segs) at the end of memory).
func (b *fluidBitmap) split(x float64) int {
	i, ok := slices.BinarySearchFunc(b.segs, x, func(seg fluidSeg, x float64) int {
		switch {
		case seg.hi <= x:
			return -1
		case seg.lo > x:
			return 1
		}
		return 0
	})
	if !ok || b.segs[i].lo == x {
		return i
	}
	right := b.segs[i]
	right.lo = x
	b.segs[i].hi = x
	b.segs = slices.Insert(b.segs, i+1, right)
	return i + 1
}

// take sends k expected pages of the bitmap in ascending page order from
// position from, wrapping to page 0 (QEMU's bitmap scan), and returns
// the pages taken, how many of them are zero-class, the position after
// the last one taken, and, once XBZRLE has started, how many of them it
// looked up and found in its cache. The pages the scan passes are
// cleared: from now on they hold what the guest writes after the latest
// sync.
func (b *fluidBitmap) take(from, k float64) (taken, zero, next, lookups, found float64) {
	if from >= b.end {
		from = 0
	}
	if b.wrapPending {
		b.wrapPending = false
		b.startXbzrle()
	}
	next = from
	start := b.split(from)
	n := len(b.segs)
	const eps = 1e-9
	// With the slots' model, the chunk's lookups go after the scan, in
	// ascending page order, as the page engine's (xbzrleCache.plan) go
	// over the chunk's set.
	looked := b.looked[:0]
	passed := func(seg *fluidSeg, lo, hi float64) {
		c, _ := b.in(seg, lo, hi)
		taken += c
		if b.xbStarted {
			lookups += c
			if b.cache != nil {
				looked = append(looked, fluidSeg{lo: lo, hi: hi, full: seg.full, since: seg.since})
			} else {
				found += b.foundIn(seg, lo, hi, c)
			}
		}
		if hi > b.zeroLo {
			zero += b.zeroIn(seg, math.Max(lo, b.zeroLo), hi)
		}
	}
	for t := 0; t < n && k-taken > eps; t++ {
		i := (start + t) % n
		if i == 0 && t > 0 {
			b.startXbzrle() // the scan wraps to page 0
		}
		seg := &b.segs[i]
		c, _ := b.in(seg, seg.lo, seg.hi)
		if c <= 0 {
			continue
		}
		if need := k - taken; c > need {
			x := b.cut(seg, need)
			if x <= seg.lo {
				break // less than the position's resolution
			}
			if x < seg.hi {
				passed(seg, seg.lo, x)
				next = x
				j := b.split(x)
				b.segs[j-1].full, b.segs[j-1].since = false, b.latest
				break
			}
		}
		passed(seg, seg.lo, seg.hi)
		seg.full, seg.since = false, b.latest
		next = seg.hi
	}
	if next >= b.end {
		next = 0
		b.wrapPending = true
	}
	slices.SortFunc(looked, func(x, y fluidSeg) int { return cmp.Compare(x.lo, y.lo) })
	for i := range looked {
		found += b.slotFound(&looked[i], looked[i].lo, looked[i].hi, false)
	}
	b.looked = looked
	out := b.spare[:0]
	for _, s := range b.segs {
		out = b.appendMerged(out, s)
	}
	b.spare, b.segs = b.segs[:0], out
	return taken, zero, next, lookups, found
}
