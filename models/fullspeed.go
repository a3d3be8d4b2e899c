package models

import (
	"math"
	"time"

	"github.com/migsim/migsim/sim"
)

// fullSpeedSlots is the number of steps a full-speed window advances by
// in one window length: the window slides by window/fullSpeedSlots.
const fullSpeedSlots = 10

// fullSpeedMeter finds when a disturbed guest is back at full speed.
//
// The guest's speed over a window is 1 − lost/window, where lost is the
// vCPU time in the window that did not run the guest: downtime and fault
// stalls count in full, a throttle of p % counts p % of the time. The
// window slides in steps of window/10 from the start of the migration.
// The guest is at full speed from the end of the last window whose speed
// was below the threshold; a guest that never fell below it was at full
// speed from 0.
//
// Losses must be added in time order and must not overlap. Memory and
// time per added interval are O(1) plus one step per slot it spans.
type fullSpeedMeter struct {
	slot    float64 // ns
	maxLoss float64 // ns of loss per window above which the window is slow
	bins    [fullSpeedSlots]float64
	cur     int64 // slot that bins[cur%fullSpeedSlots] accumulates
	lastBad int64 // last slot whose window was slow; −1 if none
}

func newFullSpeedMeter(window time.Duration, threshold float64) fullSpeedMeter {
	w := float64(window)
	return fullSpeedMeter{slot: w / fullSpeedSlots, maxLoss: (1 - threshold) * w, lastBad: -1}
}

// addLoss records that over [a, b) the guest lost share (in (0, 1]) of
// its vCPU time.
func (m *fullSpeedMeter) addLoss(a, b sim.Time, share float64) {
	lo, hi := float64(a), float64(b)
	for lo < hi {
		k := int64(math.Floor(lo / m.slot))
		m.advance(k)
		end := math.Min(hi, float64(k+1)*m.slot)
		m.bins[k%fullSpeedSlots] += (end - lo) * share
		lo = end
	}
}

// advance finishes every slot before slot k.
func (m *fullSpeedMeter) advance(k int64) {
	for m.cur < k {
		var loss float64
		for _, v := range m.bins {
			loss += v
		}
		if loss == 0 {
			m.cur = k // no loss in any window until slot k
			break
		}
		if loss > m.maxLoss*(1+1e-12) {
			m.lastBad = m.cur
		}
		m.cur++
		m.bins[m.cur%fullSpeedSlots] = 0
	}
}

// result returns the time, in seconds since the start, from which the
// guest ran at full speed, given that it loses nothing after the last
// added loss.
func (m *fullSpeedMeter) result() float64 {
	m.advance(m.cur + fullSpeedSlots + 1)
	if m.lastBad < 0 {
		return 0
	}
	return float64(m.lastBad+1) * m.slot / 1e9
}

// precopyDisturbance fills the disturbance fields of a pre-copy result
// from its rounds: the guest loses its throttle share during live rounds
// and all of its time during the stop-and-copy pass. precopy_bytes is
// what the live rounds sent.
func precopyDisturbance(res *Result) {
	m := newFullSpeedMeter(DefaultFullSpeedWindow, DefaultFullSpeedThreshold)
	var lost, live float64
	for _, r := range res.RoundsDetail {
		a := sim.Time(math.Round(r.StartS * 1e9))
		b := sim.Time(math.Round((r.StartS + r.DurationS) * 1e9))
		switch {
		case r.StopAndCopy:
			m.addLoss(a, b, 1)
			lost += r.DurationS
		default:
			live += float64(r.Bytes)
			if r.ThrottlePct > 0 {
				m.addLoss(a, b, r.ThrottlePct/100)
				lost += r.DurationS * r.ThrottlePct / 100
			}
		}
	}
	res.PrecopyBytes = uint64(math.Round(live))
	if res.TotalTimeS > 0 {
		res.GuestSlowdown = lost / res.TotalTimeS
	}
	res.TimeToFullSpeedS = m.result()
}
