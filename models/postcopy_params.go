package models

import (
	"fmt"
	"time"

	"github.com/migsim/migsim/units"
)

// Prepaging is the post-copy push order: how the source picks the next
// page to push while the guest runs on the destination (Hines and
// Gopalan, VEE'09, section 3). Its values are the scenario key
// model.prepaging.
type Prepaging string

// Push orders. See [Postcopy] for what each one does.
const (
	// PrepagingNone is demand paging with a plain active push: the push
	// scans memory upwards from page 0 and faults never move it.
	PrepagingNone Prepaging = "none"
	// PrepagingForward moves the push to the page after each faulting
	// page and scans upwards from there, wrapping at the top of memory,
	// as QEMU's source does when a page request arrives.
	PrepagingForward Prepaging = "forward"
	// PrepagingBubbling is Hines's bubbling with a single pivot: the
	// push pivot jumps to each faulting page and the bubble expands
	// forward and backward from it, one page each way in turn.
	PrepagingBubbling Prepaging = "bubbling"
	// PrepagingMultiPivot is Hines's bubbling with several live pivots:
	// each fault starts a new bubble, the oldest is retired beyond
	// `pivots`, and a bubble's edge stops where it meets another live
	// bubble.
	PrepagingMultiPivot Prepaging = "multi-pivot"
)

// Validate checks that p is a known push order.
func (p Prepaging) Validate() error {
	switch p {
	case PrepagingNone, PrepagingForward, PrepagingBubbling, PrepagingMultiPivot:
		return nil
	}
	return fmt.Errorf("%q is not one of none, forward, bubbling, multi-pivot", string(p))
}

// Defaults shared by the post-copy family ([Postcopy], [Hybrid],
// [Enlightened]). The fault costs are placeholders until calibrated
// against the lab.
const (
	// DefaultFaultServiceTime is the destination's and source's work per
	// network fault on top of the round trip and the page's transfer:
	// userfaultfd delivery, the page request, the source's lookup.
	DefaultFaultServiceTime = 20 * time.Microsecond
	// DefaultMinorFaultTime is the cost of a fault on a page already on
	// the wire, on top of waiting for it: the userfaultfd wake-up.
	DefaultMinorFaultTime = 2 * time.Microsecond
	// DefaultFullSpeedThreshold is the share of undisturbed speed at
	// which the guest counts as running at full speed.
	DefaultFullSpeedThreshold = 0.95
	// DefaultFullSpeedWindow is the sliding window over which guest speed
	// is measured for time_to_full_speed_s.
	DefaultFullSpeedWindow = 100 * time.Millisecond
	// DefaultPivots is the number of live pivots of multi-pivot bubbling.
	DefaultPivots = 4
)

// PostcopyParams are the parameters of [Postcopy], the scenario's model
// section: the parts [Push], [Faults], [Stream], [Memory] and [CPU] and
// the section multifd. Names follow QEMU's migrate-set-parameters where
// they mean the same thing.
type PostcopyParams struct {
	Push   `mapstructure:",squash"`
	Faults `mapstructure:",squash"`
	Stream `mapstructure:",squash"`
	Memory `mapstructure:",squash"`

	// Multifd pushes the missing pages over several channels, each its own
	// TCP stream, while page requests go on the main channel (see
	// postcopy_stream.go); off unless its channels is set. Compression
	// must be none.
	Multifd Multifd `mapstructure:"multifd"`

	CPU `mapstructure:",squash"`
}

// DefaultPostcopyParams returns QEMU-like defaults: forward pre-paging,
// no bandwidth cap, and fixed costs typical of a local host.
func DefaultPostcopyParams() PostcopyParams {
	return PostcopyParams{
		Push:    DefaultPush(),
		Faults:  DefaultFaults(),
		Stream:  DefaultStream(),
		Memory:  DefaultMemory(),
		Multifd: DefaultMultifd(),
		CPU:     DefaultCPU(),
	}
}

// Parts returns the parts p is built of.
func (p *PostcopyParams) Parts() Parts {
	return Parts{Push: &p.Push, Faults: &p.Faults, Stream: &p.Stream, Memory: &p.Memory, CPU: &p.CPU, Multifd: &p.Multifd}
}

// Validate checks the parameters, one [FieldError] per bad key.
func (p *PostcopyParams) Validate() error {
	c := p.Parts().validate()
	c.add(validatePostcopyMultifd(p.Multifd))
	return c.err()
}

// config returns the settings the post-copy machinery runs on.
func (p *PostcopyParams) config() postcopyConfig {
	return postcopyConfig{
		prepaging:     p.Prepaging,
		pivots:        p.Pivots,
		faultService:  p.FaultServiceTime,
		minorFault:    p.MinorFaultTime,
		capBps:        float64(p.MaxPostcopyBandwidth),
		window:        p.RateLimitWindow,
		preempt:       p.Preempt,
		setup:         p.SetupTime,
		resume:        p.ResumeTime,
		pageHeader:    p.PageHeader,
		zeroPageBytes: p.ZeroPageBytes,
		fullSpeed:     p.FullSpeedThreshold,
		fullWindow:    p.FullSpeedWindow,
		maxTime:       p.MaxTime,
		stream:        postcopyStreamOf(p.Multifd, p.CPUBound, p.Costs),
	}
}

// postcopyConfig is what the post-copy machinery needs, whichever model's
// parameters it came from. Its fields mean what the PostcopyParams fields
// of the same names mean.
type postcopyConfig struct {
	prepaging     Prepaging
	pivots        int
	faultService  time.Duration
	minorFault    time.Duration
	capBps        float64
	window        time.Duration // rate-limit window; 0: requests never wait for one
	preempt       bool          // requests on their own channel (postcopy_preempt)
	setup         time.Duration
	resume        time.Duration
	pageHeader    units.Bytes
	zeroPageBytes units.Bytes
	fullSpeed     float64
	fullWindow    time.Duration
	maxTime       time.Duration
	stream        postcopyStream
	// attach, when not nil, is called with the run's guest before it
	// starts (the composition options, composition.go).
	attach func(g *guest)
}
