package models

import (
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/units"
)

// EnlightenedParams are the parameters of [Enlightened], the scenario's
// model section. Fields with the same key as in [PostcopyParams] mean the
// same there.
type EnlightenedParams struct {
	// WSHorizon is how far ahead the guest marks its working set: the
	// pages it touches within this much guest time after the stop are
	// pushed first, in the order it first touches them, a duration.
	// Default 2s.
	WSHorizon time.Duration `mapstructure:"ws_horizon"`
	// FaultServiceTime is the work per network fault besides the round
	// trip and the page's transfer, a duration. Default 20µs.
	FaultServiceTime time.Duration `mapstructure:"fault_service_time"`
	// MinorFaultTime is what a fault on a page already on the wire costs
	// besides waiting for it, a duration. Default 2µs.
	MinorFaultTime time.Duration `mapstructure:"minor_fault_time"`
	// MaxPostcopyBandwidth caps the post-copy stream, bits per second; 0
	// means the link's rate. QEMU max-postcopy-bandwidth.
	MaxPostcopyBandwidth units.BitRate `mapstructure:"max_postcopy_bandwidth"`
	// SetupTime is the time from the migrate command to stopping the
	// guest, a duration; the guest runs on the source meanwhile. Default
	// 10ms.
	SetupTime time.Duration `mapstructure:"setup_time"`
	// ResumeTime is the destination's time to load device state and
	// resume the guest, counted in downtime, a duration. Default 5ms.
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (QEMU: 8).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is what a zero page costs on the wire, bytes (QEMU: 9).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// FullSpeedThreshold is the share of undisturbed speed, in (0, 1], at
	// or above which the guest counts as running at full speed, the
	// figure of merit of enlightened post-copy. Default 0.95.
	FullSpeedThreshold float64 `mapstructure:"full_speed_threshold"`
	// FullSpeedWindow is the sliding window over which guest speed is
	// measured for time_to_full_speed_s, a duration. Default 100ms.
	FullSpeedWindow time.Duration `mapstructure:"full_speed_window"`
	// MaxTime is the simulated time after which a migration that has not
	// completed is abandoned with stop reason max_time, a duration.
	// Default 1h.
	MaxTime time.Duration `mapstructure:"max_time"`
}

// DefaultEnlightenedParams returns a 2 s working-set horizon and the
// post-copy defaults.
func DefaultEnlightenedParams() EnlightenedParams {
	post := DefaultPostcopyParams()
	return EnlightenedParams{
		WSHorizon:          2 * time.Second,
		FaultServiceTime:   post.FaultServiceTime,
		MinorFaultTime:     post.MinorFaultTime,
		SetupTime:          post.SetupTime,
		ResumeTime:         post.ResumeTime,
		PageHeader:         post.PageHeader,
		ZeroPageBytes:      post.ZeroPageBytes,
		FullSpeedThreshold: post.FullSpeedThreshold,
		FullSpeedWindow:    post.FullSpeedWindow,
		MaxTime:            post.MaxTime,
	}
}

// Validate checks the parameters and names the key of every bad one.
func (p *EnlightenedParams) Validate() error {
	var errs []error
	if p.WSHorizon < 0 {
		errs = append(errs, fmt.Errorf("model.ws_horizon: %v must not be negative", p.WSHorizon))
	}
	errs = append(errs, p.config().validate()...)
	return errors.Join(errs...)
}

// config returns the settings of the post-copy machinery; the push order
// is enlightened's own.
func (p *EnlightenedParams) config() postcopyConfig {
	post := PostcopyParams{
		Prepaging:            PrepagingNone,
		Pivots:               1,
		FaultServiceTime:     p.FaultServiceTime,
		MinorFaultTime:       p.MinorFaultTime,
		MaxPostcopyBandwidth: p.MaxPostcopyBandwidth,
		SetupTime:            p.SetupTime,
		ResumeTime:           p.ResumeTime,
		PageHeader:           p.PageHeader,
		ZeroPageBytes:        p.ZeroPageBytes,
		FullSpeedThreshold:   p.FullSpeedThreshold,
		FullSpeedWindow:      p.FullSpeedWindow,
		MaxTime:              p.MaxTime,
	}
	return post.config()
}
