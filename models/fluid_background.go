package models

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/migsim/migsim/traces"
)

// fluidBackground is the guest OS's writes to its background pages
// (workload.background_write_rate, [withBackground]) as the fluid engine
// sees them.
//
// They are not random. Epoch e of a pass of the trace writes the
// background pages of indices [cum(e), cum(e+1)) in turn, wrapping over
// the n pages, where cum(e) = ⌊e·rate·epoch⌋ (the page engine's cumulative
// floor, computed the same way); the writer starts again with each replay
// of the trace (at_end loop) and stops with it when an idle guest's trace
// ends. So the pages a window of guest time writes are a cyclic range of
// indices known exactly, like the sequential generator's, and index k is
// page ⌊(2k+1)·P/(2n)⌋, which rises with k. A part f of an epoch takes the
// first f of that epoch's background writes, as the guest's replay takes
// the first share of an epoch's pages in ascending order; a range's ends
// may cover a fraction of an index, which is that page's probability of
// being written.
//
// [fluidBackground.add] splits a window's pieces at each such page and
// gives it the probability of being written by the workload or the
// background, so everything that reads windows (the migration bitmap, the
// pass policy's rounds, dirty_pages_rate) sees the background's writes.
// It costs O(pieces + n) per window.
type fluidBackground struct {
	n, pages uint64
	perEpoch float64        // writes per epoch, as the page engine computes it
	all      bool           // perEpoch ≥ n: every epoch writes every page
	x        *traces.Expect // the workload's, whose passes the writer follows

	spans []bgSpan // scratch: index ranges written
	hits  []bgHit  // scratch: pages written, ascending
	out   []traces.Piece
}

// bgSpan is the background indices [lo, hi), real numbers, 0 ≤ lo < hi ≤ n.
type bgSpan struct{ lo, hi float64 }

// bgHit is a background page and the probability that a window wrote it.
type bgHit struct {
	page uint64
	p    float64
}

// newFluidBackground returns the background writer of in over the
// generator x, nil when the guest OS writes nothing, or an error naming
// what the fluid engine does not follow.
func newFluidBackground(in Input, x *traces.Expect) (*fluidBackground, error) {
	if in.BackgroundWriteRate <= 0 || in.BackgroundPages <= 0 {
		return nil, nil
	}
	lay := x.Layout()
	n := min(uint64(in.BackgroundPages), lay.Pages)
	ep := x.Epoch()
	b := &fluidBackground{
		n: n, pages: lay.Pages,
		perEpoch: in.BackgroundWriteRate * ep.Seconds(),
		x:        x,
	}
	nf := float64(n)
	switch {
	case b.perEpoch >= nf:
		b.all = true
	case b.perEpoch > nf-1:
		// Its epochs write n−1 or n pages: the page engine's writer
		// rewrites all n without moving on when it writes n, which
		// breaks the cyclic range.
		return nil, fmt.Errorf("workload.background_write_rate: %v pages/s writes between %d and %d of the %d background pages an epoch; the fluid engine follows fewer than %d or all of them",
			in.BackgroundWriteRate, n-1, n, n, n-1)
	}
	return b, nil
}

// add adds to w, the expected set of pages the workload wrote in the
// guest-time window [a, c), the background pages written in it.
func (b *fluidBackground) add(a, c float64, w *traces.Window) {
	if b == nil || c <= a {
		return
	}
	b.spans = b.spans[:0]
	ep := b.x.Epoch().Seconds()
	b.x.Passes(a/ep, c/ep, b.pass)
	if len(b.spans) == 0 {
		return
	}
	b.hitsOf()
	out := b.out[:0]
	j := 0
	for _, pc := range w.Pieces {
		lo := pc.Lo
		for ; j < len(b.hits) && b.hits[j].page < pc.Hi; j++ {
			h := b.hits[j]
			if h.page > lo {
				part := pc
				part.Lo, part.Hi = lo, h.page
				out = append(out, part)
			}
			one := pc
			one.Lo, one.Hi = h.page, h.page+1
			one.Survive = pc.Survive * (1 - h.p)
			out = append(out, one)
			lo = h.page + 1
		}
		if lo < pc.Hi {
			part := pc
			part.Lo = lo
			out = append(out, part)
		}
	}
	w.Pieces = append(w.Pieces[:0], out...)
	b.out = out
}

// pass gathers the spans of the epochs [ua, ub) of one pass of the trace
// ([traces.Expect.Passes] folds a window onto passes as the workload's
// own: the writer restarts with each replay and stops when an idle
// guest's trace ends).
func (b *fluidBackground) pass(ua, ub float64) {
	if ub <= ua {
		return
	}
	nf := float64(b.n)
	if b.all {
		// Every epoch writes every page in ascending order: a part
		// [fa, fb) of an epoch is its indices [fa·n, fb·n).
		ea, eb := math.Floor(ua), math.Floor(ub)
		switch {
		case eb-math.Ceil(ua) >= 1:
			b.span(0, nf)
		case ea == eb:
			b.span((ua-ea)*nf, (ub-eb)*nf)
		default:
			b.span((ua-ea)*nf, nf)
			b.span(0, (ub-eb)*nf)
		}
		return
	}
	start, end := b.pos(ua), b.pos(ub)
	if end-start >= nf {
		b.span(0, nf)
		return
	}
	lo := math.Mod(start, nf)
	hi := lo + (end - start)
	if hi <= nf {
		b.span(lo, hi)
		return
	}
	b.span(lo, nf)
	b.span(0, hi-nf)
}

// cum is the writes of the trace's first e epochs, as the page engine's
// backgroundSource counts them.
func (b *fluidBackground) cum(e float64) float64 { return math.Floor(e * b.perEpoch) }

// pos returns the writes up to local epoch u (a part of an epoch takes its
// share of the epoch's writes).
func (b *fluidBackground) pos(u float64) float64 {
	e := math.Floor(u)
	base := b.cum(e)
	if f := u - e; f > 0 {
		base += f * (b.cum(e+1) - base)
	}
	return base
}

func (b *fluidBackground) span(lo, hi float64) {
	if hi > lo {
		b.spans = append(b.spans, bgSpan{lo, hi})
	}
}

// hitsOf turns the spans into pages, ascending, each with the probability
// that the window wrote it: 1 for an index a span covers, the share it
// covers at a span's fractional ends, combined over spans that overlap
// (a window that folds onto both ends of a pass).
func (b *fluidBackground) hitsOf() {
	hits := b.hits[:0]
	for _, s := range b.spans {
		for k := math.Floor(s.lo); k < s.hi && k < float64(b.n); k++ {
			p := math.Min(s.hi, k+1) - math.Max(s.lo, k)
			if p <= 0 {
				continue
			}
			hits = append(hits, bgHit{page: b.page(uint64(k)), p: math.Min(p, 1)})
		}
	}
	slices.SortFunc(hits, func(x, y bgHit) int { return cmp.Compare(x.page, y.page) })
	out := hits[:0]
	for _, h := range hits {
		if n := len(out); n > 0 && out[n-1].page == h.page {
			out[n-1].p = 1 - (1-out[n-1].p)*(1-h.p)
			continue
		}
		out = append(out, h)
	}
	b.hits = out
}

// page returns background index k's page ([withBackground]).
func (b *fluidBackground) page(k uint64) uint64 { return (2*k + 1) * b.pages / (2 * b.n) }

// fluidBackgroundCovers returns an error naming what keeps the fluid
// engine from following the guest OS's writes to its background pages in
// a model of the given parts: they are followed in pre-copy (either sync
// policy, auto-converge, multifd, parallel), but
//   - after a switch to post-copy (postcopy, hybrid, enlightened, a forced
//     switch), whose fluid faults take the background pages as read once
//     and never re-dirtied;
//   - with XBZRLE, whose fluid cache holds only pages the workload writes;
//   - with the memory options, whose free and page-cache classes the
//     fluid engine takes as never written, where background pages lie.
func fluidBackgroundCovers(parts Parts, in Input, x *traces.Expect) error {
	if in.BackgroundWriteRate <= 0 || in.BackgroundPages <= 0 {
		return nil
	}
	const key = "workload.background_write_rate"
	switch {
	case parts.Faults != nil || parts.Push != nil || parts.Switch != nil:
		return fmt.Errorf("%s: the fluid engine follows the guest OS's writes in pre-copy only, not with a post-copy phase", key)
	case in.ForcePostcopyAt > 0:
		return fmt.Errorf("%s: the fluid engine follows the guest OS's writes in pre-copy only, not with a forced switch to post-copy", key)
	case parts.Xbzrle != nil && parts.Xbzrle.Enabled:
		return fmt.Errorf("%s: with model.xbzrle the fluid engine's cache holds only the pages the workload writes, not the background pages", key)
	case parts.Memory != nil && parts.Memory.memory().active():
		return fmt.Errorf("%s: with model.free_page_hint, model.balloon or model.pagecache the fluid engine takes the free and page-cache classes as never written, and background pages lie there", key)
	}
	_, err := newFluidBackground(in, x)
	return err
}
