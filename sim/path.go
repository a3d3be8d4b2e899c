package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/migsim/migsim/units"
)

// Path is the network between the migration source and destination.
//
// It answers two kinds of question. The fluid ones, [Path.GoodputBps] and
// [Path.TransferTime], treat the path as a pipe of bandwidth × (1 − loss)
// bits per second, with one RTT on top of each request/response exchange;
// they ignore TCP and the bandwidth schedule. The stream ones,
// [Path.SteadyBps] and [Path.Send] (see tcp.go), model the TCP streams a
// migration actually uses: each limited by its window over the RTT and by
// its loss rate (Mathis), ramping up in slow start, sharing what the link
// has left at each instant fairly.
//
// The zero value of every field added for the stream model (Jitter,
// Window, MSS, Streams, Schedule) means "no such limit": a Path with only
// Bandwidth, RTT and Loss set, and RTT 0, gives the same times through
// Send as through TransferTime.
type Path struct {
	// Bandwidth is the link's capacity in bits per second.
	Bandwidth units.BitRate
	// RTT is the base round-trip time, without queueing jitter.
	RTT time.Duration
	// Loss is the packet loss probability, in [0, 1).
	Loss float64
	// Jitter is the mean queueing delay that cross traffic adds to RTT: TCP
	// sees a mean round trip of RTT + Jitter ([Path.MeanRTT]). 0: none.
	Jitter time.Duration
	// Window is the largest window one TCP stream reaches (the least of
	// the receiver's autotuned window and the sender's buffer), bytes; 0
	// means no limit. [DefaultWindow] is Linux's default.
	Window units.Bytes
	// MSS is the TCP maximum segment size, payload bytes per packet; 0
	// means [DefaultMSS].
	MSS units.Bytes
	// Streams is the number of parallel TCP streams a bulk transfer uses
	// by default (QEMU's migration channel is one; multifd adds more); 0
	// means 1.
	Streams int
	// Schedule changes the link over time, in increasing At order; before
	// its first entry, and when empty, the link is Bandwidth with no cross
	// traffic.
	Schedule []RateChange
}

// RateChange is the state of the link from time At on, until the next
// change.
type RateChange struct {
	// At is the time since the migration started from which the change
	// holds.
	At time.Duration
	// Bandwidth is the link's capacity from At on, bits per second; 0
	// means the path's Bandwidth.
	Bandwidth units.BitRate
	// CrossTraffic is the share of that capacity other traffic takes from
	// At on, in [0, 1); the migration's streams share the rest.
	CrossTraffic float64
}

// Validate checks that the path can carry data.
func (p Path) Validate() error {
	var errs []error
	if !(p.Bandwidth > 0) || math.IsInf(float64(p.Bandwidth), 0) {
		errs = append(errs, fmt.Errorf("bandwidth %v must be positive and finite", float64(p.Bandwidth)))
	}
	if p.RTT < 0 {
		errs = append(errs, errors.New("rtt must not be negative"))
	}
	if p.Loss < 0 || p.Loss >= 1 || math.IsNaN(p.Loss) {
		errs = append(errs, fmt.Errorf("loss %v must be in [0, 1)", p.Loss))
	}
	if p.Jitter < 0 {
		errs = append(errs, errors.New("jitter must not be negative"))
	}
	if p.Window < 0 {
		errs = append(errs, fmt.Errorf("window %v must not be negative", p.Window))
	}
	if p.MSS < 0 || p.MSS > MaxMSS || (p.MSS > 0 && p.MSS < MinMSS) {
		errs = append(errs, fmt.Errorf("mss %v must be 0 (default) or in [%v, %v]", p.MSS, MinMSS, MaxMSS))
	}
	if p.Window > 0 && float64(p.Window) < p.mss() {
		errs = append(errs, fmt.Errorf("window %v is less than one segment (%v)", p.Window, units.Bytes(p.mss())))
	}
	if p.Streams < 0 {
		errs = append(errs, fmt.Errorf("streams %d must not be negative", p.Streams))
	}
	for i, c := range p.Schedule {
		if c.At < 0 || (i > 0 && c.At <= p.Schedule[i-1].At) {
			errs = append(errs, fmt.Errorf("schedule[%d]: at %v must be at least 0 and after the previous change", i, c.At))
		}
		if c.Bandwidth < 0 || math.IsInf(float64(c.Bandwidth), 0) || math.IsNaN(float64(c.Bandwidth)) {
			errs = append(errs, fmt.Errorf("schedule[%d]: bandwidth %v must be 0 (the path's) or positive", i, float64(c.Bandwidth)))
		}
		if c.CrossTraffic < 0 || c.CrossTraffic >= 1 || math.IsNaN(c.CrossTraffic) {
			errs = append(errs, fmt.Errorf("schedule[%d]: cross traffic %v must be in [0, 1)", i, c.CrossTraffic))
		}
	}
	return errors.Join(errs...)
}

// GoodputBps returns the rate at which payload crosses the fluid path,
// bandwidth × (1 − loss), in bits per second. It ignores TCP's limits and
// the schedule; [Path.SteadyBps] accounts for them.
func (p Path) GoodputBps() float64 { return float64(p.Bandwidth) * (1 - p.Loss) }

// TransferTime returns how long n bytes take to cross the fluid path at
// its goodput, capped at rate capBps when capBps > 0 (a migration's
// max-bandwidth). The result is rounded up to whole nanoseconds so that a
// non-empty transfer never takes zero time, and is at most
// [MaxTransferTime]. It ignores TCP's limits and the schedule;
// [Path.Send] accounts for them.
func (p Path) TransferTime(n float64, capBps float64) time.Duration {
	if n <= 0 {
		return 0
	}
	rate := p.GoodputBps()
	if capBps > 0 && capBps < rate {
		rate = capBps
	}
	return ceilDuration(n * 8 / rate)
}

// MaxTransferTime is the longest a transfer is said to take, 2^62 ns
// (about 146 years): [Path.TransferTime] and [Path.Send] give a transfer
// that would take longer (gigabytes over a link of a few bits per second)
// this duration, never a time.Duration that overflowed to a negative or
// zero one. Sums of a few such times stay below time.Duration's limit,
// and a run's max_time ends the migration long before.
const MaxTransferTime = time.Duration(1 << 62)

// ceilDuration returns sec seconds rounded up to whole nanoseconds, at
// most [MaxTransferTime] (also for +Inf and NaN).
func ceilDuration(sec float64) time.Duration {
	ns := math.Ceil(sec * 1e9)
	if !(ns < float64(MaxTransferTime)) {
		return MaxTransferTime
	}
	return time.Duration(ns)
}

// roundDuration returns sec seconds rounded to whole nanoseconds, at
// most [MaxTransferTime].
func roundDuration(sec float64) time.Duration {
	ns := math.Round(sec * 1e9)
	if !(ns < float64(MaxTransferTime)) {
		return MaxTransferTime
	}
	return time.Duration(ns)
}

// MeanRTT returns the round trip TCP sees on average, RTT + Jitter.
func (p Path) MeanRTT() time.Duration { return p.RTT + p.Jitter }
