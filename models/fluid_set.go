package models

import (
	"math"
	"slices"

	"github.com/migsim/migsim/traces"
)

// fluidSet is the fluid engine's page bitmap (sync_policy qemu's
// migration bitmap): an expected set of pages. Memory is cut into
// segments in ascending page order, and each segment holds the
// probability that a page of it is in the set, one per zipf rank bucket
// inside the zipf working set (whose pages mix the buckets in the law's
// shares) and one elsewhere. Segment bounds are real numbers: a scan that
// stops inside a segment cuts it where the expected pages taken run out.
//
// Operations mirror [dirtyLog]'s: or with a sync's set (a page is in the
// union unless it escapes both, and a window's writes are independent of
// the past given its counts), take k pages scanning upward from a cursor
// and wrapping, count the set and its zero-class part. Each costs
// O(segments × buckets); equal neighbours merge, so a run keeps a few
// segments per sync period still in the bitmap.
type fluidSet struct {
	segs   []fluidSeg
	shares []float64 // zipf bucket shares, nil without zipf
	spare  []fluidSeg
}

// fluidSeg is pages [lo, hi) of a fluidSet.
type fluidSeg struct {
	lo, hi float64
	d      float64   // probability a page is in the set, outside the zipf working set
	dz     []float64 // per zipf bucket inside it; nil outside
	zero   bool      // the zero class
}

// newFluidSet returns the set of every page of the layout except the
// pages of skip (ranges [lo, hi) left out of the migration); zws is the
// zipf working set's top (0 without zipf).
func newFluidSet(l traces.Layout, shares []float64, zws uint64, skip [][2]uint64) *fluidSet {
	s := &fluidSet{shares: shares}
	cuts := []uint64{0, zws, l.PagecacheLo, l.FreeLo, l.ZeroLo, l.Pages}
	for _, r := range skip {
		cuts = append(cuts, r[0], r[1])
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		if hi > l.Pages {
			break
		}
		d := 1.0
		for _, r := range skip {
			if r[0] <= lo && hi <= r[1] {
				d = 0
			}
		}
		seg := fluidSeg{lo: float64(lo), hi: float64(hi), d: d, zero: lo >= l.ZeroLo}
		if hi <= zws {
			seg.dz = make([]float64, len(shares))
			for b := range seg.dz {
				seg.dz[b] = d
			}
		}
		s.segs = append(s.segs, seg)
	}
	return s
}

// in returns the expected pages of seg in the set.
func (s *fluidSet) in(seg *fluidSeg) float64 {
	n := seg.hi - seg.lo
	if seg.dz == nil {
		return n * seg.d
	}
	var c float64
	for b, sh := range s.shares {
		c += sh * seg.dz[b]
	}
	return n * c
}

// count returns the expected number of pages in the set.
func (s *fluidSet) count() float64 {
	var n float64
	for i := range s.segs {
		n += s.in(&s.segs[i])
	}
	return n
}

// zeroCount returns the expected number of zero-class pages in the set.
func (s *fluidSet) zeroCount() float64 {
	var n float64
	for i := range s.segs {
		if s.segs[i].zero {
			n += s.in(&s.segs[i])
		}
	}
	return n
}

// variance returns the variance of the set's size were its pages in it
// independently.
func (s *fluidSet) variance() float64 {
	var v float64
	for i := range s.segs {
		seg := &s.segs[i]
		n := seg.hi - seg.lo
		if seg.dz == nil {
			v += n * seg.d * (1 - seg.d)
			continue
		}
		for b, sh := range s.shares {
			v += n * sh * seg.dz[b] * (1 - seg.dz[b])
		}
	}
	return v
}

// or adds a sync's set w to s: a page is in the union unless it escapes
// both.
func (s *fluidSet) or(w *traces.Window) {
	out := s.spare[:0]
	i, j := 0, 0
	pos := 0.0
	for i < len(s.segs) && j < len(w.Pieces) {
		sg, pc := &s.segs[i], &w.Pieces[j]
		end := math.Min(sg.hi, float64(pc.Hi))
		if end > pos {
			ns := fluidSeg{lo: pos, hi: end, zero: sg.zero}
			switch {
			case sg.dz != nil:
				ns.dz = make([]float64, len(sg.dz))
				for b, d := range sg.dz {
					ns.dz[b] = 1 - (1-d)*pc.Survive*w.Zipf[b]
				}
			default:
				ns.d = 1 - (1-sg.d)*pc.Survive
			}
			out = s.appendMerged(out, ns)
			pos = end
		}
		if sg.hi <= end {
			i++
		}
		if float64(pc.Hi) <= end {
			j++
		}
	}
	s.spare, s.segs = s.segs[:0], out
}

// appendMerged appends seg to out, merged into the last segment when
// they hold the same probabilities.
func (s *fluidSet) appendMerged(out []fluidSeg, seg fluidSeg) []fluidSeg {
	if n := len(out); n > 0 {
		last := &out[n-1]
		if last.zero == seg.zero && last.hi == seg.lo && (last.dz == nil) == (seg.dz == nil) && last.d == seg.d &&
			(seg.dz == nil || slices.Equal(last.dz, seg.dz)) {
			last.hi = seg.hi
			return out
		}
	}
	return append(out, seg)
}

// clearSeg empties seg.
func clearSeg(seg *fluidSeg) {
	seg.d = 0
	if seg.dz != nil {
		seg.dz = make([]float64, len(seg.dz))
	}
}

// split cuts the segment holding position x at x and returns the index of
// the segment starting at x (len(segs) when x is the end of memory).
func (s *fluidSet) split(x float64) int {
	i, ok := slices.BinarySearchFunc(s.segs, x, func(seg fluidSeg, x float64) int {
		switch {
		case seg.hi <= x:
			return -1
		case seg.lo > x:
			return 1
		}
		return 0
	})
	if !ok {
		return i
	}
	seg := s.segs[i]
	if seg.lo == x {
		return i
	}
	right := seg
	right.lo = x
	if seg.dz != nil {
		right.dz = slices.Clone(seg.dz)
	}
	s.segs[i].hi = x
	s.segs = slices.Insert(s.segs, i+1, right)
	return i + 1
}

// take removes k expected pages from the set in ascending page order from
// position from, wrapping to page 0 (QEMU's bitmap scan), and returns the
// pages taken, how many of them are zero-class, and the position after
// the last one taken.
func (s *fluidSet) take(from, k float64) (taken, zero, next float64) {
	end := s.segs[len(s.segs)-1].hi
	if from >= end {
		from = 0
	}
	next = from
	start := s.split(from)
	n := len(s.segs)
	const eps = 1e-9
	for t := 0; t < n && k-taken > eps; t++ {
		i := (start + t) % n
		seg := &s.segs[i]
		c := s.in(seg)
		if c <= 0 {
			continue
		}
		need := k - taken
		if c <= need {
			taken += c
			if seg.zero {
				zero += c
			}
			clearSeg(seg)
			next = seg.hi
			continue
		}
		// Take the first need expected pages: the set's density is even
		// across the segment, so they end at lo + need/c of its length.
		x := seg.lo + (seg.hi-seg.lo)*need/c
		if x <= seg.lo {
			break // less than the position's resolution
		}
		taken += need
		if seg.zero {
			zero += need
		}
		next = x
		j := s.split(x)
		clearSeg(&s.segs[j-1])
		break
	}
	if next >= end {
		next = 0
	}
	s.compact()
	return taken, zero, next
}

// compact merges neighbouring segments that hold the same probabilities.
func (s *fluidSet) compact() {
	out := s.spare[:0]
	for _, seg := range s.segs {
		out = s.appendMerged(out, seg)
	}
	s.spare, s.segs = s.segs[:0], out
}
