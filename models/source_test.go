package models

import (
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
)

// seqTrace is a test source: it writes rate distinct pages per second of
// guest time in a cyclic scan over pages [0, ws), for epochs epochs (0:
// unbounded), with zero pages [pages-zero, pages).
type seqTrace struct {
	hdr    traces.Header
	ws     uint64
	rate   float64
	epochs uint64
	next   uint64
	pos    uint64 // next page to write
	carry  float64
}

func newSeqTrace(pages, ws, zero uint64, rate float64, epoch time.Duration, epochs uint64) traces.Opener {
	return func() (traces.Source, error) {
		h := traces.Header{PageSize: 4096, PageCount: pages, Epoch: epoch, Provenance: "test seqTrace"}
		if zero > 0 {
			h.Zero = roaring.New()
			h.Zero.AddRange(pages-zero, pages)
		}
		return &seqTrace{hdr: h, ws: ws, rate: rate, epochs: epochs}, nil
	}
}

func (s *seqTrace) Header() *traces.Header { return &s.hdr }

func (s *seqTrace) Next(e *traces.Epoch) error {
	if s.epochs > 0 && s.next >= s.epochs {
		return io.EOF
	}
	e.Reset()
	e.Index = s.next
	s.next++
	want := s.rate*s.hdr.Epoch.Seconds() + s.carry
	n := uint64(math.Floor(want))
	s.carry = want - float64(n)
	if n > s.ws {
		n = s.ws
	}
	end := s.pos + n
	if end <= s.ws {
		e.Written.AddRange(s.pos, end)
	} else {
		e.Written.AddRange(s.pos, s.ws)
		e.Written.AddRange(0, end-s.ws)
	}
	s.pos = end % s.ws
	return nil
}
