package models

import (
	"math"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
)

// withBackground wraps open so that every epoch also reads the guest OS's
// own working set of n = in.BackgroundPages pages: page ⌊(k + ½)·P/n⌋ for
// k = 0 … n−1 of P pages, spread evenly over memory (a kernel's and its
// runtimes' pages lie all over guest-physical memory). A background page
// the epoch writes stays a write; the others join the epoch's reads, which
// keeps Written and Read disjoint. Reads dirty nothing: without
// in.BackgroundWriteRate, pre-copy migrates exactly what it did without
// the background; post-copy faults on each background page until it
// arrives.
//
// in.BackgroundWriteRate (pages/s) makes the guest OS write its pages
// too: each epoch writes the next ⌊rate × epoch⌋ of them in turn (the
// fraction carried over; all n when that is n or more), which dirties
// them for pre-copy and leaves the pages post-copy faults on as they were.
// It returns open itself when there are no background pages.
func withBackground(open traces.Opener, in Input) traces.Opener {
	n := in.BackgroundPages
	if n <= 0 || open == nil {
		return open
	}
	rate := in.BackgroundWriteRate
	return func() (traces.Source, error) {
		src, err := open()
		if err != nil {
			return nil, err
		}
		pages := src.Header().PageCount
		n := min(uint64(n), pages)
		bg := roaring.New()
		list := make([]uint32, n)
		for k := range n {
			list[k] = uint32((2*k + 1) * pages / (2 * n))
		}
		bg.AddMany(list)
		s := &backgroundSource{Source: src, bg: bg}
		if rate > 0 {
			s.list = list
			s.perEpoch = rate * src.Header().Epoch.Seconds()
		}
		return s, nil
	}
}

// backgroundSource is a Source whose epochs also read bg and, at
// perEpoch pages an epoch, write its pages in turn.
//
// It never changes the wrapped source's sets, which may be a trace
// cache's, shared and read-only ([traces.Cache]): it hands the caller
// its own (w, r), and gives the wrapped source back its sets before each
// of its Next calls, so that a source refilling them in place refills its
// own.
type backgroundSource struct {
	traces.Source
	bg *roaring.Bitmap

	list     []uint32 // bg's pages in order; nil: the background is only read
	perEpoch float64  // background pages written per epoch
	epochs   uint64   // epochs returned so far
	written  uint64   // background writes handed out so far (cumulative floor)
	next     int      // index in list of the next page to write

	w, r       *roaring.Bitmap // the sets handed to the caller
	srcW, srcR *roaring.Bitmap // the wrapped source's, to give back
	handedOut  bool            // e holds w and r (or srcW) since the last Next
}

// Next fills e with the next epoch of the wrapped source plus the
// background's writes and reads.
func (s *backgroundSource) Next(e *traces.Epoch) error {
	if s.handedOut {
		e.Written, e.Read = s.srcW, s.srcR
		s.handedOut = false
	}
	if err := s.Source.Next(e); err != nil {
		return err
	}
	s.srcW, s.srcR, s.handedOut = e.Written, e.Read, true
	if s.r == nil {
		s.w, s.r = roaring.New(), roaring.New()
	}
	if s.list != nil {
		s.epochs++
		cum := uint64(math.Floor(float64(s.epochs) * s.perEpoch))
		k := cum - s.written
		s.written = cum
		if k > 0 {
			s.w.Clear()
			if e.Written != nil {
				s.w.Or(e.Written)
			}
			if k >= uint64(len(s.list)) {
				s.w.Or(s.bg)
			} else {
				for range k {
					s.w.Add(s.list[s.next])
					if s.next++; s.next == len(s.list) {
						s.next = 0
					}
				}
			}
			e.Written = s.w
		}
	}
	s.r.Clear()
	if e.Read != nil {
		s.r.Or(e.Read)
	}
	s.r.Or(s.bg)
	if e.Written != nil {
		s.r.AndNot(e.Written)
	}
	e.Read = s.r
	return nil
}

// Close closes the wrapped source.
func (s *backgroundSource) Close() error { return traces.Close(s.Source) }

// backgroundIn returns how many of the n background pages of a
// pages-page guest ([withBackground]) lie in [lo, hi).
func backgroundIn(n, pages, lo, hi uint64) uint64 {
	n = min(n, pages)
	if n == 0 || hi <= lo {
		return 0
	}
	// The k-th page, (2k+1)·pages/(2n), rises with k: the first k at or
	// past a bound by binary search.
	first := func(bound uint64) uint64 {
		return uint64(sort.Search(int(n), func(k int) bool { return (2*uint64(k)+1)*pages/(2*n) >= bound }))
	}
	return first(hi) - first(lo)
}
