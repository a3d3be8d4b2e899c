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
// The foundation model is a fluid link: a transfer of n bytes takes
// n*8/[Path.GoodputBps] seconds, and a request/response exchange costs one
// RTT on top. Loss reduces goodput by the retransmitted share,
// goodput = bandwidth × (1 − loss). TCP window and loss limits of single
// streams over long paths belong to the WAN model.
type Path struct {
	// Bandwidth is the link's capacity in bits per second.
	Bandwidth units.BitRate
	// RTT is the round-trip time.
	RTT time.Duration
	// Loss is the packet loss probability, in [0, 1).
	Loss float64
}

// Validate checks that the path can carry data.
func (p Path) Validate() error {
	if !(p.Bandwidth > 0) || math.IsInf(float64(p.Bandwidth), 0) {
		return fmt.Errorf("bandwidth %v must be positive and finite", float64(p.Bandwidth))
	}
	if p.RTT < 0 {
		return errors.New("rtt must not be negative")
	}
	if p.Loss < 0 || p.Loss >= 1 || math.IsNaN(p.Loss) {
		return fmt.Errorf("loss %v must be in [0, 1)", p.Loss)
	}
	return nil
}

// GoodputBps returns the rate at which payload crosses the path, in bits
// per second.
func (p Path) GoodputBps() float64 { return float64(p.Bandwidth) * (1 - p.Loss) }

// TransferTime returns how long n bytes take to cross the path at its
// goodput, capped at rate capBps when capBps > 0 (a migration's
// max-bandwidth). The result is rounded up to whole nanoseconds so that a
// non-empty transfer never takes zero time.
func (p Path) TransferTime(n float64, capBps float64) time.Duration {
	if n <= 0 {
		return 0
	}
	rate := p.GoodputBps()
	if capBps > 0 && capBps < rate {
		rate = capBps
	}
	return time.Duration(math.Ceil(n * 8 / rate * 1e9))
}
