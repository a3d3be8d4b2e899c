package models

import (
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/units"
)

// PrecopyParams are the parameters of [Precopy], the scenario's model
// section. Names follow QEMU's migrate-set-parameters where they mean the
// same thing.
type PrecopyParams struct {
	// DowntimeLimit is the longest acceptable downtime; stop-and-copy
	// starts when the remaining dirty bytes fit in measured bandwidth ×
	// this. QEMU downtime-limit, default 300ms.
	DowntimeLimit time.Duration `mapstructure:"downtime_limit"`
	// MaxBandwidth caps the live rounds' throughput, bits per second; 0
	// means the link's rate. QEMU max-bandwidth (whose own default is
	// 128MiB/s; libvirt and most tools raise it). Like QEMU, the cap is
	// lifted for the stop-and-copy pass.
	MaxBandwidth units.BitRate `mapstructure:"max_bandwidth"`
	// MaxRounds forces stop-and-copy after this many live rounds; 0 means
	// no cap (QEMU has none; Xen uses 30).
	MaxRounds int `mapstructure:"max_rounds"`
	// MaxBytesFactor forces stop-and-copy once this many times the guest's
	// memory has been sent; 0 means no cap (Xen uses 3).
	MaxBytesFactor float64 `mapstructure:"max_bytes_factor"`
	// MaxTime is the simulated time after which a migration that has not
	// converged is abandoned with stop reason max_time. Default 1h.
	MaxTime time.Duration `mapstructure:"max_time"`

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

	// SetupTime is the time from the migrate command to the first round
	// (QEMU setup-time: bitmap allocation, first sync). Default 10ms.
	SetupTime time.Duration `mapstructure:"setup_time"`
	// SyncTimePerGiB is the cost of one dirty-log sync per GiB of guest
	// memory (KVM_GET_DIRTY_LOG and the bitmap walk). Default 100µs.
	SyncTimePerGiB time.Duration `mapstructure:"sync_time_per_gib"`
	// ResumeTime is the destination's time to load device state and resume
	// the guest, counted in downtime. Default 5ms.
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (QEMU: an 8-byte
	// offset-and-flags word).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is what a zero page costs on the wire, bytes (QEMU: the
	// 8-byte header and one fill byte).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// BandwidthWindow is the window over which throughput is measured for
	// the stop decision (QEMU's BUFFER_DELAY, 100ms).
	BandwidthWindow time.Duration `mapstructure:"bandwidth_window"`
	// SyncPolicy says when the dirty log is synced: pass (the default)
	// at the end of each whole pass over the last sync's set, a round
	// being that pass; qemu as QEMU 7.2's ram_save_pending, whenever the
	// pages still to send fall below measured bandwidth × downtime_limit,
	// a round then being one sync period (see precopy_sync.go). qemu
	// matches the lab's dirty-sync-count and downtime-bytes but not yet
	// its total time at dirty rates near the link's, so pass stays the
	// default.
	SyncPolicy SyncPolicy `mapstructure:"sync_policy"`
	// IterateMaxWait is the longest iteration step when the path, not
	// max_bandwidth, limits the rounds, a duration (QEMU's MAX_WAIT,
	// 50ms); sync_policy qemu checks the pending bytes between steps. A
	// rate-limited step sends max_bandwidth × bandwidth_window.
	IterateMaxWait time.Duration `mapstructure:"iterate_max_wait"`

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

	// Multifd sends pages over several channels, optionally compressed
	// (QEMU's multifd capability; see [Multifd]); off unless its
	// channels is set.
	Multifd Multifd `mapstructure:"multifd"`
	// Xbzrle sends re-sent pages as deltas against a cache of what was
	// sent before (QEMU's xbzrle capability; see [Xbzrle]); off unless
	// its enabled is set.
	Xbzrle Xbzrle `mapstructure:"xbzrle"`
	// CPUBound holds the single migration stream to what one migration
	// thread on each host can process, from the costs table (see
	// cpubound.go); default false, so that the link alone bounds it. With
	// multifd the channels' own CPU model applies instead.
	CPUBound bool `mapstructure:"cpu_bound"`
	// Costs is the per-page CPU cost of each stage of the single stream
	// (see [Costs]), used with cpu_bound and for XBZRLE's CPU time; map
	// and copy default to 0 since QEMU sends from guest memory.
	Costs Costs `mapstructure:"costs"`
}

// DefaultPrecopyParams returns QEMU's defaults, with max-bandwidth
// unlimited and the fixed costs set to typical values for a local host.
// The fixed costs are placeholders until calibrated against the lab.
func DefaultPrecopyParams() PrecopyParams {
	return PrecopyParams{
		DowntimeLimit:            300 * time.Millisecond,
		MaxTime:                  time.Hour,
		CPUThrottleInitial:       20,
		CPUThrottleIncrement:     10,
		MaxCPUThrottle:           99,
		ThrottleTriggerThreshold: 50,
		SetupTime:                10 * time.Millisecond,
		SyncTimePerGiB:           100 * time.Microsecond,
		ResumeTime:               5 * time.Millisecond,
		PageHeader:               8,
		ZeroPageBytes:            9,
		BandwidthWindow:          100 * time.Millisecond,
		SyncPolicy:               SyncPass,
		IterateMaxWait:           50 * time.Millisecond,
		Multifd:                  DefaultMultifd(),
		Xbzrle:                   DefaultXbzrle(),
		Costs:                    singleStreamCosts(),
		Balloon:                  DefaultBalloonParams(),
		Pagecache:                DefaultPagecacheParams(),
	}
}

// Validate checks the parameters and names the key of the first bad one.
func (p *PrecopyParams) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("model.%s: "+format, append([]any{key}, args...)...))
		}
	}
	check(p.DowntimeLimit > 0, "downtime_limit", "%v must be positive", p.DowntimeLimit)
	check(p.MaxBandwidth >= 0, "max_bandwidth", "%v must not be negative", float64(p.MaxBandwidth))
	check(p.MaxRounds >= 0, "max_rounds", "%d must not be negative", p.MaxRounds)
	check(p.MaxBytesFactor == 0 || p.MaxBytesFactor >= 1, "max_bytes_factor", "%v must be 0 (no cap) or at least 1", p.MaxBytesFactor)
	check(p.MaxTime > 0, "max_time", "%v must be positive", p.MaxTime)
	pct := func(key string, v float64) { check(v >= 0 && v <= 100, key, "%v must be a percentage in [0, 100]", v) }
	pct("cpu_throttle_initial", p.CPUThrottleInitial)
	pct("cpu_throttle_increment", p.CPUThrottleIncrement)
	pct("max_cpu_throttle", p.MaxCPUThrottle)
	pct("throttle_trigger_threshold", p.ThrottleTriggerThreshold)
	check(p.MaxCPUThrottle < 100, "max_cpu_throttle", "%v must be below 100 (a fully stopped guest never converges)", p.MaxCPUThrottle)
	check(p.SetupTime >= 0, "setup_time", "must not be negative")
	check(p.SyncTimePerGiB >= 0, "sync_time_per_gib", "must not be negative")
	check(p.ResumeTime >= 0, "resume_time", "must not be negative")
	check(p.PageHeader >= 0, "page_header", "must not be negative")
	check(p.ZeroPageBytes >= 0, "zero_page_bytes", "must not be negative")
	check(p.BandwidthWindow > 0, "bandwidth_window", "%v must be positive", p.BandwidthWindow)
	if err := p.SyncPolicy.validate(); err != nil {
		errs = append(errs, err)
	}
	check(p.IterateMaxWait > 0, "iterate_max_wait", "%v must be positive", p.IterateMaxWait)
	errs = append(errs, p.memory().validate()...)
	if err := p.Multifd.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Xbzrle.validate(p.Multifd.Channels > 0); err != nil {
		errs = append(errs, err)
	}
	if err := validateCosts(p.Costs); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
