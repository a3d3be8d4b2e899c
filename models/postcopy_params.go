package models

import (
	"errors"
	"fmt"
	"math"
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
// section. Names follow QEMU's migrate-set-parameters where they mean the
// same thing.
type PostcopyParams struct {
	// Prepaging is the push order: none, forward, bubbling or multi-pivot
	// (default forward, which is what QEMU's source does).
	Prepaging Prepaging `mapstructure:"prepaging"`
	// Pivots is the number of bubbles multi-pivot keeps expanding at once,
	// a count of at least 1 (default 4); other push orders ignore it.
	Pivots int `mapstructure:"pivots"`
	// FaultServiceTime is the work per network fault besides the round
	// trip and the page's transfer (userfaultfd delivery, page request,
	// source lookup), a duration. Default 20µs.
	FaultServiceTime time.Duration `mapstructure:"fault_service_time"`
	// MinorFaultTime is what a fault on a page already on the wire costs
	// besides waiting for it to arrive, a duration. Default 2µs.
	MinorFaultTime time.Duration `mapstructure:"minor_fault_time"`
	// MaxPostcopyBandwidth caps the post-copy stream (device state, pushed
	// and requested pages), bits per second; 0 means the link's rate.
	// QEMU max-postcopy-bandwidth.
	MaxPostcopyBandwidth units.BitRate `mapstructure:"max_postcopy_bandwidth"`
	// RateLimitWindow is the source's rate-limit window under
	// max_postcopy_bandwidth, a duration (default 100ms, QEMU 7.2's
	// BUFFER_DELAY; 0 turns the wait off): the source sends each window's
	// quota in one burst, and a page request waits for the burst to drain
	// or, while the source sleeps, for the next window
	// (postcopy_ratelimit.go).
	RateLimitWindow time.Duration `mapstructure:"rate_limit_window"`
	// Preempt sends requested pages on their own channel, as QEMU's
	// postcopy-preempt capability does (7.1 and later): they wait neither
	// for the rate-limit window nor behind the push (default false, QEMU's
	// default).
	Preempt bool `mapstructure:"postcopy_preempt"`
	// SetupTime is the time from the migrate command to stopping the
	// guest, a duration; the guest runs on the source meanwhile. Default
	// 10ms.
	SetupTime time.Duration `mapstructure:"setup_time"`
	// ResumeTime is the destination's time to load device state and
	// resume the guest, counted in downtime, a duration. Default 5ms.
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (QEMU: 8).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is what a zero page costs on the wire, bytes (QEMU:
	// the 8-byte header and one fill byte).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// FullSpeedThreshold is the share of undisturbed speed, in (0, 1], at
	// or above which the guest counts as running at full speed for
	// time_to_full_speed_s. Default 0.95.
	FullSpeedThreshold float64 `mapstructure:"full_speed_threshold"`
	// FullSpeedWindow is the sliding window over which guest speed is
	// measured for time_to_full_speed_s, a duration. Default 100ms.
	FullSpeedWindow time.Duration `mapstructure:"full_speed_window"`
	// MaxTime is the simulated time after which a migration that has not
	// completed is abandoned with stop reason max_time, a duration.
	// Default 1h.
	MaxTime time.Duration `mapstructure:"max_time"`

	// FreePageHint leaves free-class pages the guest has not written out
	// of the migration, as QEMU's virtio-balloon free-page-hint does
	// without delay (default false; see composition.go).
	FreePageHint bool `mapstructure:"free_page_hint"`
	// Balloon is dynamic self-ballooning (Hines and Gopalan, VEE'09): a
	// balloon that takes free pages out of the migration.
	Balloon BalloonParams `mapstructure:"balloon"`
	// Pagecache says what happens to clean page-cache pages: sent, skipped
	// and restored from the SAN, or dropped (Akiyama et al., CLOUD'14).
	Pagecache PagecacheParams `mapstructure:"pagecache"`

	// Multifd pushes the missing pages over several channels, each its own
	// TCP stream, while page requests go on the main channel (see
	// postcopy_stream.go); off unless its channels is set. Compression
	// must be none.
	Multifd Multifd `mapstructure:"multifd"`
	// CPUBound holds the single post-copy stream to what one migration
	// thread per host can process, from costs (default false; with
	// multifd the channels' CPU model applies).
	CPUBound bool `mapstructure:"cpu_bound"`
	// Costs is the per-page CPU cost of each stage of the single stream
	// (see [Costs]), used with cpu_bound.
	Costs Costs `mapstructure:"costs"`
}

// DefaultPostcopyParams returns QEMU-like defaults: forward pre-paging,
// no bandwidth cap, and fixed costs typical of a local host.
func DefaultPostcopyParams() PostcopyParams {
	return PostcopyParams{
		Prepaging:          PrepagingForward,
		Pivots:             DefaultPivots,
		FaultServiceTime:   DefaultFaultServiceTime,
		MinorFaultTime:     DefaultMinorFaultTime,
		RateLimitWindow:    DefaultRateLimitWindow,
		SetupTime:          10 * time.Millisecond,
		ResumeTime:         5 * time.Millisecond,
		PageHeader:         8,
		ZeroPageBytes:      9,
		FullSpeedThreshold: DefaultFullSpeedThreshold,
		FullSpeedWindow:    DefaultFullSpeedWindow,
		MaxTime:            time.Hour,
		Balloon:            DefaultBalloonParams(),
		Pagecache:          DefaultPagecacheParams(),
		Multifd:            DefaultMultifd(),
		Costs:              singleStreamCosts(),
	}
}

// Validate checks the parameters and names the key of every bad one.
func (p *PostcopyParams) Validate() error {
	var errs []error
	if err := p.Prepaging.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model.prepaging: %w", err))
	}
	errs = append(errs, p.config().validate()...)
	errs = append(errs, p.memory().validate()...)
	if err := validatePostcopyStream(p.Multifd, p.Costs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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

// validate checks the shared settings, one error per bad key.
func (c postcopyConfig) validate() []error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("model.%s: "+format, append([]any{key}, args...)...))
		}
	}
	check(c.pivots >= 1, "pivots", "%d must be at least 1", c.pivots)
	check(c.faultService >= 0, "fault_service_time", "must not be negative")
	check(c.minorFault >= 0, "minor_fault_time", "must not be negative")
	check(c.capBps >= 0 && !math.IsInf(c.capBps, 0), "max_postcopy_bandwidth", "%v must not be negative", c.capBps)
	check(c.window >= 0, "rate_limit_window", "%v must not be negative", c.window)
	check(c.setup >= 0, "setup_time", "must not be negative")
	check(c.resume >= 0, "resume_time", "must not be negative")
	check(c.pageHeader >= 0, "page_header", "must not be negative")
	check(c.zeroPageBytes >= 0, "zero_page_bytes", "must not be negative")
	check(c.fullSpeed > 0 && c.fullSpeed <= 1, "full_speed_threshold", "%v must be in (0, 1]", c.fullSpeed)
	check(c.fullWindow > 0, "full_speed_window", "%v must be positive", c.fullWindow)
	check(c.maxTime > 0, "max_time", "%v must be positive", c.maxTime)
	return errs
}
