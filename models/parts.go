package models

import (
	"errors"
	"math"
	"time"

	"github.com/migsim/migsim/units"
)

// Parameter parts.
//
// A model's parameters (its scenario section, model.*) are built from
// the parts below, embedded with `mapstructure:",squash"` so that their
// keys stay flat (model.downtime_limit, not model.rounds.downtime_limit),
// plus the sections [Multifd] and [Xbzrle] and the model's own keys. A key
// shared by two models is declared once, in its part, with its default
// (the named constants) and its check (the part's Validate); a model
// that runs another's machinery (hybrid's pre-copy rounds, parallel's
// rounds) hands it whole parts, so that no field is left behind. A model
// declares its parts with a Parts method ([Parts], [PartsOf]): the
// validation lab maps them to QEMU settings, calibration fits the keys
// they hold, and the fluid engine checks what it covers, without knowing
// the model's type.
//
//	part        keys                                            models
//	Rounds      downtime_limit max_bandwidth sync_time_per_gib  precopy hybrid parallel
//	            bandwidth_window
//	RoundCaps   max_rounds max_bytes_factor                     precopy parallel
//	Throttle    auto_converge cpu_throttle_* max_cpu_throttle   precopy
//	            throttle_trigger_threshold
//	Stream      setup_time resume_time page_header              every model
//	            zero_page_bytes max_time
//	Faults      fault_service_time minor_fault_time             postcopy hybrid enlightened
//	            max_postcopy_bandwidth full_speed_threshold
//	            full_speed_window
//	Push        prepaging pivots rate_limit_window              postcopy hybrid
//	            postcopy_preempt
//	Switch      precopy_rounds                                  hybrid
//	Memory      free_page_hint balloon pagecache                precopy postcopy hybrid parallel
//	CPU         cpu_bound costs                                 precopy postcopy
//	Multifd     multifd (a section)                             precopy postcopy hybrid
//	Xbzrle      xbzrle (a section)                              precopy hybrid

// Defaults of the parts' keys. The fixed costs are placeholders until
// calibrated against the lab (see package calibration).
const (
	// DefaultDowntimeLimit is QEMU's downtime-limit.
	DefaultDowntimeLimit = 300 * time.Millisecond
	// DefaultSyncTimePerGiB is one dirty-log sync's cost per GiB of guest
	// memory.
	DefaultSyncTimePerGiB = 100 * time.Microsecond
	// DefaultBandwidthWindow is QEMU's BUFFER_DELAY, the window over
	// which throughput is measured for the stop decision.
	DefaultBandwidthWindow = 100 * time.Millisecond

	// DefaultCPUThrottleInitial, DefaultCPUThrottleIncrement,
	// DefaultMaxCPUThrottle and DefaultThrottleTriggerThreshold are
	// QEMU's auto-converge settings, percent.
	DefaultCPUThrottleInitial       = 20
	DefaultCPUThrottleIncrement     = 10
	DefaultMaxCPUThrottle           = 99
	DefaultThrottleTriggerThreshold = 50

	// DefaultSetupTime is the time from the migrate command to the first
	// round (or, for post-copy, to the stop).
	DefaultSetupTime = 10 * time.Millisecond
	// DefaultResumeTime is the destination's time to load device state
	// and resume the guest.
	DefaultResumeTime = 5 * time.Millisecond
	// DefaultPageHeader is QEMU's per-page stream header: an 8-byte
	// offset-and-flags word.
	DefaultPageHeader units.Bytes = 8
	// DefaultZeroPageBytes is a zero page on QEMU's wire: the header and
	// one fill byte.
	DefaultZeroPageBytes units.Bytes = 9
	// DefaultMaxTime is the simulated time after which a migration that
	// has not ended is abandoned.
	DefaultMaxTime = time.Hour
)

// Rounds are the pre-copy rounds' stop condition and pace (QEMU's
// migration_iteration_run and its rate limit).
type Rounds struct {
	// DowntimeLimit is the longest acceptable downtime, a duration:
	// pre-copy stops the guest for its last pass when the remaining dirty
	// bytes fit in measured bandwidth × this (QEMU downtime-limit,
	// default 300ms). In a hybrid's pre-copy rounds the migration then
	// completes as pre-copy, without post-copy.
	DowntimeLimit time.Duration `mapstructure:"downtime_limit"`
	// MaxBandwidth caps the live rounds' throughput, bits per second; 0
	// means the link's rate. QEMU max-bandwidth (whose own default is
	// 128MiB/s; libvirt and most tools raise it). Like QEMU, the cap is
	// lifted for the stop-and-copy pass.
	MaxBandwidth units.BitRate `mapstructure:"max_bandwidth"`
	// SyncTimePerGiB is the cost of one dirty-log sync per GiB of guest
	// memory (KVM_GET_DIRTY_LOG and the bitmap walk), a duration; the
	// final sync is part of downtime. Default 100µs.
	SyncTimePerGiB time.Duration `mapstructure:"sync_time_per_gib"`
	// BandwidthWindow is the window over which throughput is measured
	// for the stop decision, a duration (QEMU's BUFFER_DELAY, 100ms).
	BandwidthWindow time.Duration `mapstructure:"bandwidth_window"`
}

// DefaultRounds returns QEMU's defaults, max-bandwidth unlimited.
func DefaultRounds() Rounds {
	return Rounds{DowntimeLimit: DefaultDowntimeLimit, SyncTimePerGiB: DefaultSyncTimePerGiB, BandwidthWindow: DefaultBandwidthWindow}
}

// Validate checks the part, one [FieldError] per bad key.
func (r *Rounds) Validate() error {
	var c checks
	c.check(r.DowntimeLimit > 0, "model.downtime_limit", "%v must be positive", r.DowntimeLimit)
	c.check(r.MaxBandwidth >= 0, "model.max_bandwidth", "%v must not be negative", float64(r.MaxBandwidth))
	c.check(r.SyncTimePerGiB >= 0, "model.sync_time_per_gib", "must not be negative")
	c.check(r.BandwidthWindow > 0, "model.bandwidth_window", "%v must be positive", r.BandwidthWindow)
	return c.err()
}

// RoundCaps force stop-and-copy before the stop condition holds, as Xen
// does (both off by default, as in QEMU).
type RoundCaps struct {
	// MaxRounds forces stop-and-copy after this many live rounds, a
	// count; 0 means no cap (QEMU has none; Xen uses 30).
	MaxRounds int `mapstructure:"max_rounds"`
	// MaxBytesFactor forces stop-and-copy once this many times the
	// guest's memory has been sent, a number; 0 means no cap (Xen uses
	// 3).
	MaxBytesFactor float64 `mapstructure:"max_bytes_factor"`
}

// Validate checks the part, one [FieldError] per bad key.
func (r *RoundCaps) Validate() error {
	var c checks
	c.check(r.MaxRounds >= 0, "model.max_rounds", "%d must not be negative", r.MaxRounds)
	c.check(r.MaxBytesFactor == 0 || r.MaxBytesFactor >= 1, "model.max_bytes_factor", "%v must be 0 (no cap) or at least 1", r.MaxBytesFactor)
	return c.err()
}

// Throttle is QEMU's auto-converge: CPU throttling of a guest that
// dirties memory faster than it is sent.
type Throttle struct {
	// AutoConverge enables QEMU's auto-converge CPU throttling.
	AutoConverge bool `mapstructure:"auto_converge"`
	// CPUThrottleInitial is the first throttle step, percent (QEMU 20).
	CPUThrottleInitial float64 `mapstructure:"cpu_throttle_initial"`
	// CPUThrottleIncrement is each further step, percent (QEMU 10).
	CPUThrottleIncrement float64 `mapstructure:"cpu_throttle_increment"`
	// MaxCPUThrottle caps the throttle, percent (QEMU 99).
	MaxCPUThrottle float64 `mapstructure:"max_cpu_throttle"`
	// ThrottleTriggerThreshold is the share of bytes transferred in a sync
	// period that dirtied bytes must exceed, twice, to throttle further,
	// percent (QEMU throttle-trigger-threshold, 50).
	ThrottleTriggerThreshold float64 `mapstructure:"throttle_trigger_threshold"`
	// CPUThrottleTailslow, true or false (default false, as in QEMU),
	// makes the steps after the first smaller near the trigger (QEMU
	// cpu-throttle-tailslow): a step raises the throttle by no more than
	// takes the guest's CPU share from c = 100 − throttle to the share
	// c × trigger / dirtied (trigger = the period's bytes transferred ×
	// throttle_trigger_threshold / 100, dirtied = the bytes it dirtied; the
	// share rounded down to a whole percent), and never by more than
	// cpu_throttle_increment.
	CPUThrottleTailslow bool `mapstructure:"cpu_throttle_tailslow"`
}

// next returns the throttle, percent, that a step of QEMU 7.2's
// mig_throttle_guest_down sets from throttle now (0: not throttling yet),
// at a sync period that dirtied dirtied bytes against trigger bytes. The
// first step sets cpu_throttle_initial; each further one adds
// cpu_throttle_increment (less under cpu_throttle_tailslow), up to
// max_cpu_throttle. As QEMU's cpu_throttle_set, the result is held to
// [1, 99].
func (t *Throttle) next(now, dirtied, trigger float64) float64 {
	pct := t.CPUThrottleInitial
	if now > 0 {
		inc := t.CPUThrottleIncrement
		if t.CPUThrottleTailslow && dirtied > 0 {
			cpuNow := 100 - now
			ideal := math.Floor(cpuNow * trigger / dirtied)
			inc = math.Min(cpuNow-ideal, inc)
		}
		pct = math.Min(now+inc, t.MaxCPUThrottle)
	}
	return math.Min(math.Max(pct, 1), 99)
}

// throttleCheck is QEMU 7.2's migration_trigger_throttle at a sync that
// closes a period (one at least a second long) in which the guest newly
// dirtied dirtied bytes while xfer bytes were transferred: a period whose
// dirtied bytes exceed throttle_trigger_threshold % of xfer raises the
// counter high; on its second raise the counter goes back to 0 and the
// throttle takes a step. It returns the throttle after the check and
// whether it stepped; with auto_converge off nothing changes.
func (t *Throttle) throttleCheck(now, dirtied, xfer float64, high *int) (float64, bool) {
	if !t.AutoConverge {
		return now, false
	}
	trigger := math.Floor(xfer * t.ThrottleTriggerThreshold / 100)
	if dirtied <= trigger {
		return now, false
	}
	*high++
	if *high < 2 {
		return now, false
	}
	*high = 0
	return t.next(now, dirtied, trigger), true
}

// DefaultThrottle returns auto-converge off with QEMU's steps.
func DefaultThrottle() Throttle {
	return Throttle{
		CPUThrottleInitial:       DefaultCPUThrottleInitial,
		CPUThrottleIncrement:     DefaultCPUThrottleIncrement,
		MaxCPUThrottle:           DefaultMaxCPUThrottle,
		ThrottleTriggerThreshold: DefaultThrottleTriggerThreshold,
	}
}

// Validate checks the part, one [FieldError] per bad key.
func (t *Throttle) Validate() error {
	var c checks
	pct := func(key string, v float64) {
		c.check(v >= 0 && v <= 100, key, "%v must be a percentage in [0, 100]", v)
	}
	pct("model.cpu_throttle_initial", t.CPUThrottleInitial)
	pct("model.cpu_throttle_increment", t.CPUThrottleIncrement)
	pct("model.max_cpu_throttle", t.MaxCPUThrottle)
	pct("model.throttle_trigger_threshold", t.ThrottleTriggerThreshold)
	c.check(t.MaxCPUThrottle < 100, "model.max_cpu_throttle", "%v must be below 100 (a fully stopped guest never converges)", t.MaxCPUThrottle)
	return c.err()
}

// Stream is what every migration stream costs besides its pages: setup,
// resume, per-page framing, and the time budget.
type Stream struct {
	// SetupTime is the time from the migrate command to the first round
	// (QEMU setup-time: bitmap allocation, first sync), or for post-copy
	// to stopping the guest, which runs on the source meanwhile; a
	// duration. Default 10ms.
	SetupTime time.Duration `mapstructure:"setup_time"`
	// ResumeTime is the destination's time to load device state and
	// resume the guest, counted in downtime, a duration. Default 5ms.
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (QEMU: an 8-byte
	// offset-and-flags word).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is what a zero page costs on the wire, bytes (QEMU: the
	// 8-byte header and one fill byte).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// MaxTime is the simulated time after which a migration that has not
	// ended is abandoned with stop reason max_time, a duration. Default
	// 1h.
	MaxTime time.Duration `mapstructure:"max_time"`
}

// DefaultStream returns QEMU's framing and fixed costs typical of a local
// host.
func DefaultStream() Stream {
	return Stream{SetupTime: DefaultSetupTime, ResumeTime: DefaultResumeTime,
		PageHeader: DefaultPageHeader, ZeroPageBytes: DefaultZeroPageBytes, MaxTime: DefaultMaxTime}
}

// Validate checks the part, one [FieldError] per bad key.
func (s *Stream) Validate() error {
	var c checks
	c.check(s.SetupTime >= 0, "model.setup_time", "must not be negative")
	c.check(s.ResumeTime >= 0, "model.resume_time", "must not be negative")
	c.check(s.PageHeader >= 0, "model.page_header", "must not be negative")
	c.check(s.ZeroPageBytes >= 0, "model.zero_page_bytes", "must not be negative")
	c.check(s.MaxTime > 0, "model.max_time", "%v must be positive", s.MaxTime)
	return c.err()
}

// Faults is what the post-copy phase's page faults cost and how the
// guest's speed after the switch is measured.
type Faults struct {
	// FaultServiceTime is the work per network fault besides the round
	// trip and the page's transfer (userfaultfd delivery, page request,
	// source lookup), a duration. Default 20µs.
	FaultServiceTime time.Duration `mapstructure:"fault_service_time"`
	// MinorFaultTime is what a fault on a page already on the wire costs
	// besides waiting for it to arrive (the userfaultfd wake-up), a
	// duration. Default 2µs.
	MinorFaultTime time.Duration `mapstructure:"minor_fault_time"`
	// MaxPostcopyBandwidth caps the post-copy stream (device state, pushed
	// and requested pages), bits per second; 0 means the link's rate.
	// QEMU max-postcopy-bandwidth.
	MaxPostcopyBandwidth units.BitRate `mapstructure:"max_postcopy_bandwidth"`
	// FullSpeedThreshold is the share of undisturbed speed, in (0, 1], at
	// or above which the guest counts as running at full speed for
	// time_to_full_speed_s (the figure of merit of enlightened
	// post-copy). Default 0.95.
	FullSpeedThreshold float64 `mapstructure:"full_speed_threshold"`
	// FullSpeedWindow is the sliding window over which guest speed is
	// measured for time_to_full_speed_s, a duration. Default 100ms.
	FullSpeedWindow time.Duration `mapstructure:"full_speed_window"`
}

// DefaultFaults returns the post-copy family's fault costs and
// full-speed measure, no bandwidth cap.
func DefaultFaults() Faults {
	return Faults{FaultServiceTime: DefaultFaultServiceTime, MinorFaultTime: DefaultMinorFaultTime,
		FullSpeedThreshold: DefaultFullSpeedThreshold, FullSpeedWindow: DefaultFullSpeedWindow}
}

// Validate checks the part, one [FieldError] per bad key.
func (f *Faults) Validate() error {
	var c checks
	c.check(f.FaultServiceTime >= 0, "model.fault_service_time", "must not be negative")
	c.check(f.MinorFaultTime >= 0, "model.minor_fault_time", "must not be negative")
	capBps := float64(f.MaxPostcopyBandwidth)
	c.check(capBps >= 0 && !math.IsInf(capBps, 0), "model.max_postcopy_bandwidth", "%v must not be negative", capBps)
	c.check(f.FullSpeedThreshold > 0 && f.FullSpeedThreshold <= 1, "model.full_speed_threshold", "%v must be in (0, 1]", f.FullSpeedThreshold)
	c.check(f.FullSpeedWindow > 0, "model.full_speed_window", "%v must be positive", f.FullSpeedWindow)
	return c.err()
}

// Push is how the post-copy source pushes the missing pages and serves
// the destination's requests.
type Push struct {
	// Prepaging is the push order: none, forward, bubbling or multi-pivot
	// (default forward, which is what QEMU's source does).
	Prepaging Prepaging `mapstructure:"prepaging"`
	// Pivots is the number of bubbles multi-pivot keeps expanding at once,
	// a count of at least 1 (default 4); other push orders ignore it.
	Pivots int `mapstructure:"pivots"`
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
}

// DefaultPush returns QEMU's source: forward pre-paging, the rate-limit
// window, no preempt channel.
func DefaultPush() Push {
	return Push{Prepaging: PrepagingForward, Pivots: DefaultPivots, RateLimitWindow: DefaultRateLimitWindow}
}

// Validate checks the part, one [FieldError] per bad key.
func (p *Push) Validate() error {
	var c checks
	if err := p.Prepaging.Validate(); err != nil {
		c.add(&FieldError{Key: "model.prepaging", Err: err})
	}
	c.check(p.Pivots >= 1, "model.pivots", "%d must be at least 1", p.Pivots)
	c.check(p.RateLimitWindow >= 0, "model.rate_limit_window", "%v must not be negative", p.RateLimitWindow)
	return c.err()
}

// Switch is when a hybrid migration switches from its pre-copy rounds to
// post-copy.
type Switch struct {
	// PrecopyRounds is the number of live pre-copy rounds before the
	// switch to post-copy, a count (default 1: one full pass, then
	// post-copy). 0 switches as soon as setup ends, as pure post-copy.
	// Under sync_policy pass it counts whole passes; under qemu it counts
	// the dirty-log syncs after setup's, so the switch comes at QEMU
	// dirty-sync-count precopy_rounds + 1, as the lab issues it.
	PrecopyRounds int `mapstructure:"precopy_rounds"`
}

// DefaultPrecopyRounds is a hybrid's pre-copy rounds: one full pass.
const DefaultPrecopyRounds = 1

// Validate checks the part, one [FieldError] per bad key.
func (s *Switch) Validate() error {
	var c checks
	c.check(s.PrecopyRounds >= 0, "model.precopy_rounds", "%d must not be negative", s.PrecopyRounds)
	return c.err()
}

// Memory is the memory composition options: what the source leaves out
// of the migration (see composition.go).
type Memory struct {
	// FreePageHint leaves free-class pages the guest has not written out
	// of the migration, as QEMU's virtio-balloon free-page-hint does
	// without delay (default false; see composition.go).
	FreePageHint bool `mapstructure:"free_page_hint"`
	// Balloon is dynamic self-ballooning (Hines and Gopalan, VEE'09): a
	// balloon that takes free pages out of the migration (in a hybrid,
	// during the pre-copy rounds and until the switch).
	Balloon BalloonParams `mapstructure:"balloon"`
	// Pagecache says what happens to clean page-cache pages: sent, skipped
	// and restored from the SAN, or dropped (Akiyama et al., CLOUD'14).
	Pagecache PagecacheParams `mapstructure:"pagecache"`
}

// DefaultMemory returns every option off, with Hines's balloon and a
// 4 Gbit SAN.
func DefaultMemory() Memory {
	return Memory{Balloon: DefaultBalloonParams(), Pagecache: DefaultPagecacheParams()}
}

// Validate checks the part, one [FieldError] per bad key.
func (m *Memory) Validate() error {
	var c checks
	for _, err := range m.memory().validate() {
		c.add(err)
	}
	return c.err()
}

// memory returns the composition options of a run.
func (m *Memory) memory() memoryOptions {
	return memoryOptions{hint: m.FreePageHint, balloon: m.Balloon, pagecache: m.Pagecache}
}

// CPU holds the single migration stream to what its threads can
// process (cpubound.go).
type CPU struct {
	// CPUBound holds the single migration stream to what one migration
	// thread on each host can process, from the costs table (see
	// cpubound.go); default false, so that the link alone bounds it. With
	// multifd the channels' own CPU model applies instead.
	CPUBound bool `mapstructure:"cpu_bound"`
	// Costs is the per-page CPU cost of each stage of the single stream
	// (see [Costs]), used with cpu_bound and, in pre-copy, for XBZRLE's
	// CPU time; map and copy default to 0 since QEMU sends from guest
	// memory.
	Costs Costs `mapstructure:"costs"`
}

// DefaultCPU returns the single stream unbounded by CPU, with its
// default costs.
func DefaultCPU() CPU { return CPU{Costs: singleStreamCosts()} }

// Validate checks the part, one [FieldError] per bad key.
func (c *CPU) Validate() error { return validateCosts("model.costs", c.Costs) }

// Parts points to the parts a model's parameters are built of; a nil
// field is a part the model does not have. See the table at the top of
// parts.go.
type Parts struct {
	Rounds    *Rounds
	RoundCaps *RoundCaps
	Throttle  *Throttle
	Stream    *Stream
	Faults    *Faults
	Push      *Push
	Switch    *Switch
	Memory    *Memory
	CPU       *CPU
	Multifd   *Multifd
	Xbzrle    *Xbzrle
}

// composed is implemented by every model's parameters: it declares its
// parts.
type composed interface {
	Parts() Parts
}

// PartsOf returns the parts of params, a pointer to a model's parameters
// as [Info.Params] returns them; false when params declares none. The
// parts point into params: changing them changes params.
func PartsOf(params any) (Parts, bool) {
	if c, ok := params.(composed); ok {
		return c.Parts(), true
	}
	return Parts{}, false
}

// validate checks every part p holds, each by its own Validate, and
// returns their field errors in the order of the table above. A model's
// Validate calls it first, then checks its own keys and the rules that
// join parts.
func (p Parts) validate() checks {
	var c checks
	if p.Switch != nil {
		c.add(p.Switch.Validate())
	}
	if p.Rounds != nil {
		c.add(p.Rounds.Validate())
	}
	if p.RoundCaps != nil {
		c.add(p.RoundCaps.Validate())
	}
	if p.Throttle != nil {
		c.add(p.Throttle.Validate())
	}
	if p.Stream != nil {
		c.add(p.Stream.Validate())
	}
	if p.Faults != nil {
		c.add(p.Faults.Validate())
	}
	if p.Push != nil {
		c.add(p.Push.Validate())
	}
	if p.Memory != nil {
		c.add(p.Memory.Validate())
	}
	if p.CPU != nil {
		c.add(p.CPU.Validate())
	}
	if p.Multifd != nil {
		c.add(p.Multifd.Validate())
	}
	if p.Xbzrle != nil {
		c.add(p.Xbzrle.Validate())
		if p.Xbzrle.Enabled && p.Multifd != nil && p.Multifd.Channels > 0 {
			c.add(&FieldError{Key: "model.xbzrle.enabled", Err: errors.New("XBZRLE does not combine with model.multifd (QEMU: multifd is not compatible with xbzrle)")})
		}
	}
	return c
}

// throttledSpeed returns the guest's speed (guest time per wall time)
// under an auto-converge throttle of pct percent, for a workload that
// needs demand of its vCPUs' time to keep its pace (0 means 1): the
// throttle leaves 1 − pct/100 of it; a CPU-bound guest (demand 1) slows
// by as much, a paced one only once that is less than its demand.
func throttledSpeed(pct, demand float64) float64 {
	left := 1 - pct/100
	if demand <= 0 || demand >= 1 {
		return left
	}
	return math.Min(1, left/demand)
}
