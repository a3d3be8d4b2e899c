package models

import (
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/units"
)

// HybridParams are the parameters of [Hybrid], the scenario's model
// section: the number of pre-copy rounds, the pre-copy settings that
// matter for them, and the post-copy settings of [PostcopyParams]. The
// keys are flat, as in the other models' sections; fields with the same
// key as in [PrecopyParams] or [PostcopyParams] mean the same there.
type HybridParams struct {
	// PrecopyRounds is the number of live pre-copy rounds before the
	// switch to post-copy, a count (default 1: one full pass, then
	// post-copy). 0 switches as soon as setup ends, as pure post-copy.
	// Under sync_policy pass it counts whole passes; under qemu it counts
	// the dirty-log syncs after setup's, so the switch comes at QEMU
	// dirty-sync-count precopy_rounds + 1, as the lab issues it.
	PrecopyRounds int `mapstructure:"precopy_rounds"`
	// SyncPolicy says when the pre-copy rounds sync the dirty log: pass
	// (the default) or qemu, as in [PrecopyParams].
	SyncPolicy SyncPolicy `mapstructure:"sync_policy"`
	// DowntimeLimit is pre-copy's stop condition during those rounds: if
	// the remaining dirty bytes fit in measured bandwidth × this, the
	// guest stops and the migration completes as pre-copy, without
	// post-copy. QEMU downtime-limit, a duration, default 300ms.
	DowntimeLimit time.Duration `mapstructure:"downtime_limit"`
	// MaxBandwidth caps the pre-copy rounds' throughput, bits per second;
	// 0 means the link's rate. QEMU max-bandwidth.
	MaxBandwidth units.BitRate `mapstructure:"max_bandwidth"`
	// SyncTimePerGiB is the cost of one dirty-log sync per GiB of guest
	// memory, a duration; the switch's final sync is part of downtime.
	// Default 100µs.
	SyncTimePerGiB time.Duration `mapstructure:"sync_time_per_gib"`
	// BandwidthWindow is the window over which pre-copy measures
	// throughput for its stop condition, a duration (QEMU 100ms).
	BandwidthWindow time.Duration `mapstructure:"bandwidth_window"`

	// Prepaging is the post-copy push order: none, forward, bubbling or
	// multi-pivot (default forward, as QEMU).
	Prepaging Prepaging `mapstructure:"prepaging"`
	// Pivots is the number of bubbles multi-pivot keeps expanding at once,
	// a count of at least 1 (default 4).
	Pivots int `mapstructure:"pivots"`
	// FaultServiceTime is the work per network fault besides the round
	// trip and the page's transfer, a duration. Default 20µs.
	FaultServiceTime time.Duration `mapstructure:"fault_service_time"`
	// MinorFaultTime is what a fault on a page already on the wire costs
	// besides waiting for it, a duration. Default 2µs.
	MinorFaultTime time.Duration `mapstructure:"minor_fault_time"`
	// MaxPostcopyBandwidth caps the post-copy stream, bits per second; 0
	// means the link's rate. QEMU max-postcopy-bandwidth.
	MaxPostcopyBandwidth units.BitRate `mapstructure:"max_postcopy_bandwidth"`
	// RateLimitWindow is the source's rate-limit window under
	// max_postcopy_bandwidth after the switch, a duration (default 100ms,
	// QEMU's BUFFER_DELAY; 0 turns the wait off): a page request waits for
	// the window's burst to drain or, while the source sleeps, for the next
	// window (postcopy_ratelimit.go).
	RateLimitWindow time.Duration `mapstructure:"rate_limit_window"`
	// Preempt sends requested pages on their own channel, as QEMU's
	// postcopy-preempt capability does: they wait neither for the
	// rate-limit window nor behind the push (default false).
	Preempt bool `mapstructure:"postcopy_preempt"`
	// SetupTime is the time from the migrate command to the first round,
	// a duration. Default 10ms.
	SetupTime time.Duration `mapstructure:"setup_time"`
	// ResumeTime is the destination's time to load device state and
	// resume the guest, counted in downtime, a duration. Default 5ms.
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (QEMU: 8).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is what a zero page costs on the wire, bytes (QEMU: 9).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// FullSpeedThreshold is the share of undisturbed speed, in (0, 1], at
	// or above which the guest counts as running at full speed. Default
	// 0.95.
	FullSpeedThreshold float64 `mapstructure:"full_speed_threshold"`
	// FullSpeedWindow is the sliding window over which guest speed is
	// measured for time_to_full_speed_s, a duration. Default 100ms.
	FullSpeedWindow time.Duration `mapstructure:"full_speed_window"`
	// MaxTime is the simulated time after which a migration that has not
	// completed is abandoned with stop reason max_time, a duration.
	// Default 1h.
	MaxTime time.Duration `mapstructure:"max_time"`
	// Multifd sends the pre-copy rounds over several channels, as QEMU
	// does with multifd and postcopy-ram together, and pushes the
	// post-copy phase's pages over them, uncompressed (see [Multifd] and
	// postcopy_stream.go); off unless its channels is set.
	Multifd Multifd `mapstructure:"multifd"`
	// Xbzrle sends pages re-sent in the pre-copy rounds as XBZRLE deltas,
	// as for pre-copy (see [Xbzrle]); QEMU uses it until the switch and
	// never in post-copy. Off unless enabled; not with multifd.
	Xbzrle Xbzrle `mapstructure:"xbzrle"`
	// FreePageHint leaves free-class pages the guest has not written out
	// of the migration, as for pre-copy and post-copy (default false;
	// composition.go).
	FreePageHint bool `mapstructure:"free_page_hint"`
	// Balloon is dynamic self-ballooning (Hines and Gopalan, VEE'09) during
	// the pre-copy rounds and until the switch (default off).
	Balloon BalloonParams `mapstructure:"balloon"`
	// Pagecache says what happens to clean page-cache pages: sent, skipped
	// and restored from the SAN, or dropped (default send).
	Pagecache PagecacheParams `mapstructure:"pagecache"`
}

// DefaultHybridParams returns one pre-copy round, then post-copy with
// forward pre-paging, with QEMU's defaults otherwise.
func DefaultHybridParams() HybridParams {
	pre, post := DefaultPrecopyParams(), DefaultPostcopyParams()
	return HybridParams{
		PrecopyRounds:      1,
		SyncPolicy:         pre.SyncPolicy,
		DowntimeLimit:      pre.DowntimeLimit,
		SyncTimePerGiB:     pre.SyncTimePerGiB,
		BandwidthWindow:    pre.BandwidthWindow,
		Prepaging:          post.Prepaging,
		Pivots:             post.Pivots,
		FaultServiceTime:   post.FaultServiceTime,
		MinorFaultTime:     post.MinorFaultTime,
		RateLimitWindow:    post.RateLimitWindow,
		SetupTime:          post.SetupTime,
		ResumeTime:         post.ResumeTime,
		PageHeader:         post.PageHeader,
		ZeroPageBytes:      post.ZeroPageBytes,
		FullSpeedThreshold: post.FullSpeedThreshold,
		FullSpeedWindow:    post.FullSpeedWindow,
		MaxTime:            post.MaxTime,
		Multifd:            pre.Multifd,
		Xbzrle:             pre.Xbzrle,
		Balloon:            pre.Balloon,
		Pagecache:          pre.Pagecache,
	}
}

// Validate checks the parameters and names the key of every bad one.
func (p *HybridParams) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("model.%s: "+format, append([]any{key}, args...)...))
		}
	}
	check(p.PrecopyRounds >= 0, "precopy_rounds", "%d must not be negative", p.PrecopyRounds)
	check(p.DowntimeLimit > 0, "downtime_limit", "%v must be positive", p.DowntimeLimit)
	check(p.MaxBandwidth >= 0, "max_bandwidth", "%v must not be negative", float64(p.MaxBandwidth))
	check(p.SyncTimePerGiB >= 0, "sync_time_per_gib", "must not be negative")
	check(p.BandwidthWindow > 0, "bandwidth_window", "%v must be positive", p.BandwidthWindow)
	if err := p.SyncPolicy.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Prepaging.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model.prepaging: %w", err))
	}
	errs = append(errs, p.config().validate()...)
	errs = append(errs, p.memory().validate()...)
	if err := p.Xbzrle.validate(p.Multifd.Channels > 0); err != nil {
		errs = append(errs, err)
	}
	if err := p.Multifd.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// precopy returns the pre-copy parameters of the live rounds: no caps, no
// auto-converge (the switch to post-copy is what ends a round that does
// not converge).
func (p *HybridParams) precopy() PrecopyParams {
	pre := DefaultPrecopyParams()
	pre.DowntimeLimit = p.DowntimeLimit
	pre.MaxBandwidth = p.MaxBandwidth
	pre.MaxTime = p.MaxTime
	pre.SetupTime = p.SetupTime
	pre.SyncTimePerGiB = p.SyncTimePerGiB
	pre.ResumeTime = p.ResumeTime
	pre.PageHeader = p.PageHeader
	pre.ZeroPageBytes = p.ZeroPageBytes
	pre.BandwidthWindow = p.BandwidthWindow
	pre.SyncPolicy = p.SyncPolicy
	pre.Multifd = p.Multifd
	pre.Xbzrle = p.Xbzrle
	pre.FreePageHint, pre.Balloon, pre.Pagecache = p.FreePageHint, p.Balloon, p.Pagecache
	return pre
}

// config returns the settings of the post-copy phase.
func (p *HybridParams) config() postcopyConfig {
	post := PostcopyParams{
		Prepaging:            p.Prepaging,
		Pivots:               p.Pivots,
		FaultServiceTime:     p.FaultServiceTime,
		MinorFaultTime:       p.MinorFaultTime,
		MaxPostcopyBandwidth: p.MaxPostcopyBandwidth,
		RateLimitWindow:      p.RateLimitWindow,
		Preempt:              p.Preempt,
		SetupTime:            p.SetupTime,
		ResumeTime:           p.ResumeTime,
		PageHeader:           p.PageHeader,
		ZeroPageBytes:        p.ZeroPageBytes,
		FullSpeedThreshold:   p.FullSpeedThreshold,
		FullSpeedWindow:      p.FullSpeedWindow,
		MaxTime:              p.MaxTime,
		Multifd:              p.Multifd,
	}
	return post.config()
}
