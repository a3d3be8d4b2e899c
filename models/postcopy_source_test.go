package models

import (
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// scanRegion is a part of memory [lo, hi) that a scanTrace walks through
// at rate distinct pages per second of guest time.
type scanRegion struct {
	lo, hi uint64
	rate   float64
}

// scanTrace is a test source for workloads the generators do not make: one
// or more sequential scans over regions anywhere in memory (the generators'
// working set always starts at page 0). Each epoch, each region touches the
// next rate × epoch pages after where it stopped, wrapping inside the
// region; the pages are written, or only read when read is set.
type scanTrace struct {
	hdr     traces.Header
	regions []scanRegion
	read    bool
	epochs  uint64 // 0: unbounded
	next    uint64
	pos     []uint64
	carry   []float64
}

func newScanTrace(pages uint64, read bool, regions ...scanRegion) traces.Opener {
	return newScanTraceEpoch(pages, 10*time.Millisecond, read, regions...)
}

func newScanTraceEpoch(pages uint64, epoch time.Duration, read bool, regions ...scanRegion) traces.Opener {
	return func() (traces.Source, error) {
		s := &scanTrace{
			hdr:     traces.Header{PageSize: 4096, PageCount: pages, Epoch: epoch, Provenance: "test scanTrace"},
			regions: regions, read: read,
			pos: make([]uint64, len(regions)), carry: make([]float64, len(regions)),
		}
		for i, r := range regions {
			s.pos[i] = r.lo
		}
		return s, nil
	}
}

func (s *scanTrace) Header() *traces.Header { return &s.hdr }

func (s *scanTrace) Next(e *traces.Epoch) error {
	if s.epochs > 0 && s.next >= s.epochs {
		return io.EOF
	}
	e.Reset()
	e.Index = s.next
	s.next++
	set := e.Written
	if s.read {
		set = e.Read
	}
	for i, r := range s.regions {
		want := r.rate*s.hdr.Epoch.Seconds() + s.carry[i]
		n := uint64(math.Floor(want))
		s.carry[i] = want - float64(n)
		n = min(n, r.hi-r.lo)
		end := s.pos[i] + n
		if end <= r.hi {
			set.AddRange(s.pos[i], end)
		} else {
			set.AddRange(s.pos[i], r.hi)
			set.AddRange(r.lo, r.lo+end-r.hi)
		}
		s.pos[i] = r.lo + (end-r.lo)%(r.hi-r.lo)
	}
	return nil
}

// classSource overrides the page classes of a source's header.
type classSource struct {
	traces.Source
	hdr traces.Header
}

func (c *classSource) Header() *traces.Header { return &c.hdr }

// withFree returns open with the pages [lo, hi) in the free class.
func withFree(open traces.Opener, lo, hi uint64) traces.Opener {
	return func() (traces.Source, error) {
		src, err := open()
		if err != nil {
			return nil, err
		}
		c := &classSource{Source: src, hdr: *src.Header()}
		c.hdr.Free = roaring.New()
		c.hdr.Free.AddRange(lo, hi)
		return c, nil
	}
}

// genTrace returns an opener of the generator of spec.
func genTrace(spec traces.GeneratorSpec, memory units.Bytes, seed uint64) traces.Opener {
	return func() (traces.Source, error) {
		return traces.NewGenerator(spec, memory, 4096, seed)
	}
}
