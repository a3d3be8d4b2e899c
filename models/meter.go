package models

import (
	"time"

	"github.com/migsim/migsim/sim"
)

// throughputMeter measures the migration's throughput over a sliding window
// of simulated time, as QEMU measures bandwidth for its stop decision.
// Transfers are recorded as segments sent at a uniform rate.
type throughputMeter struct {
	window time.Duration
	segs   []segment
	first  sim.Time
	any    bool
}

type segment struct {
	start, end sim.Time
	bytes      float64
}

// add records bytes sent uniformly over [start, end).
func (m *throughputMeter) add(start, end sim.Time, bytes float64) {
	if !m.any {
		m.first, m.any = start, true
	}
	m.segs = append(m.segs, segment{start, end, bytes})
}

// cut forgets the segments that start at or after from (a transfer
// planned again from from on).
func (m *throughputMeter) cut(from sim.Time) {
	keep := m.segs[:0]
	for _, s := range m.segs {
		if s.start < from {
			keep = append(keep, s)
		}
	}
	m.segs = keep
}

// rate returns the throughput over the window ending at now, in bits per
// second: the bytes sent in [now−window, now] over the window, or over the
// time since the first transfer when that is shorter. With nothing sent it
// returns fallback.
func (m *throughputMeter) rate(now sim.Time, fallback float64) float64 {
	from := now.Add(-m.window)
	if m.any && from < m.first {
		from = m.first
	}
	span := now.Sub(from).Seconds()
	if span <= 0 {
		return fallback
	}
	var bytes float64
	keep := m.segs[:0]
	for _, s := range m.segs {
		if s.end <= from && s.end < now {
			continue // wholly before the window: drop it
		}
		keep = append(keep, s)
		lo, hi := max(s.start, from), min(s.end, now)
		if hi > lo && s.end > s.start {
			bytes += s.bytes * float64(hi-lo) / float64(s.end-s.start)
		}
	}
	m.segs = keep
	if bytes == 0 {
		return fallback
	}
	return bytes * 8 / span
}
