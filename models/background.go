package models

import (
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
)

// withBackground wraps open so that every epoch also reads the guest OS's
// own working set of n pages: page ⌊(k + ½)·P/n⌋ for k = 0 … n−1 of P
// pages, spread evenly over memory (a kernel's and its runtimes' pages lie
// all over guest-physical memory). A background page the epoch writes
// stays a write; the others join the epoch's reads, which keeps Written
// and Read disjoint. Reads dirty nothing: pre-copy migrates exactly what
// it did without the background; post-copy faults on each background
// page until it arrives.
func withBackground(open traces.Opener, n int) traces.Opener {
	return func() (traces.Source, error) {
		src, err := open()
		if err != nil {
			return nil, err
		}
		pages := src.Header().PageCount
		n := min(uint64(n), pages)
		bg := roaring.New()
		for k := range n {
			bg.Add(uint32((2*k + 1) * pages / (2 * n)))
		}
		return &backgroundSource{Source: src, bg: bg}, nil
	}
}

// backgroundSource is a Source whose epochs also read bg.
type backgroundSource struct {
	traces.Source
	bg *roaring.Bitmap
}

// Next fills e with the next epoch of the wrapped source plus the
// background reads.
func (s *backgroundSource) Next(e *traces.Epoch) error {
	if err := s.Source.Next(e); err != nil {
		return err
	}
	if e.Read == nil {
		e.Read = roaring.New()
	}
	e.Read.Or(s.bg)
	if e.Written != nil {
		e.Read.AndNot(e.Written)
	}
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
