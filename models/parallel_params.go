package models

import (
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// ParallelParams are the parameters of [Parallel], the scenario's model
// section: the workers, their lock and pipeline, compression, the hosts'
// cores and the cost table, and the pre-copy settings that matter for
// the rounds. Keys shared with [PrecopyParams] mean the same there.
type ParallelParams struct {
	// Workers is the number of parallel workers, each migrating an equal
	// contiguous range [lo, hi) of memory over its own TCP stream, a count
	// of at least 1 (default 4).
	Workers int `mapstructure:"workers"`
	// Lock is how workers share the address-space lock when they map
	// pages: global (Linux's per-process lock, the map steps' locked parts
	// serialise) or range (PMigrate's range lock, disjoint ranges proceed).
	// Default range.
	Lock sim.LockMode `mapstructure:"lock"`
	// Pipeline runs each worker's stages as overlapping threads (PMigrate's
	// pipeline parallelism, default true); false runs them in turn on one
	// thread per host, as a single-threaded migrator does.
	Pipeline bool `mapstructure:"pipeline"`
	// Compression is the workers' compressor: none, zlib, zstd or
	// qatzip-like (default none).
	Compression string `mapstructure:"compression"`
	// Level is the compression level, an integer; 0 means 1.
	Level int `mapstructure:"level"`
	// CompressionRatio overrides the codec's raw-to-compressed ratio, a
	// number; 0 uses the codec's.
	CompressionRatio float64 `mapstructure:"compression_ratio"`
	// SourceCores is the source host's physical cores, a number; the
	// guest's busy vCPUs compete with the workers for them
	// ([sim.AvailableCores]). 0 means no limit.
	SourceCores float64 `mapstructure:"source_cores"`
	// VCPUBusy is the share of each guest vCPU that is busy on the source
	// and competes for its cores, a fraction in [0, 1] (default 1, a
	// memory-intensive guest).
	VCPUBusy float64 `mapstructure:"vcpu_busy"`
	// DestinationCores is the destination host's cores available to the
	// receiving threads, a number; 0 means no limit.
	DestinationCores float64 `mapstructure:"destination_cores"`
	// Costs is the per-page CPU cost of each stage (see [Costs]).
	Costs Costs `mapstructure:"costs"`

	// DowntimeLimit is pre-copy's stop condition, a duration (default
	// 300ms).
	DowntimeLimit time.Duration `mapstructure:"downtime_limit"`
	// MaxBandwidth caps the live rounds' throughput, bits per second; 0
	// means no cap.
	MaxBandwidth units.BitRate `mapstructure:"max_bandwidth"`
	// MaxRounds forces stop-and-copy after this many live rounds, a count;
	// 0 means no cap.
	MaxRounds int `mapstructure:"max_rounds"`
	// MaxBytesFactor forces stop-and-copy once this many times the
	// guest's memory has been sent, a number; 0 means no cap (Xen: 3).
	MaxBytesFactor float64 `mapstructure:"max_bytes_factor"`
	// MaxTime abandons a migration that has not converged by then, a
	// duration (default 1h).
	MaxTime time.Duration `mapstructure:"max_time"`
	// SetupTime is the time before the first round, a duration (default
	// 10ms).
	SetupTime time.Duration `mapstructure:"setup_time"`
	// SyncTimePerGiB is the cost of one dirty-log sync per GiB, a duration
	// (default 100µs).
	SyncTimePerGiB time.Duration `mapstructure:"sync_time_per_gib"`
	// ResumeTime is the destination's time to resume the guest, a
	// duration (default 5ms).
	ResumeTime time.Duration `mapstructure:"resume_time"`
	// PageHeader is the per-page stream header, bytes (default 8).
	PageHeader units.Bytes `mapstructure:"page_header"`
	// ZeroPageBytes is a zero page on the wire, bytes (default 9).
	ZeroPageBytes units.Bytes `mapstructure:"zero_page_bytes"`
	// BandwidthWindow is the throughput measurement window of the stop
	// condition, a duration (default 100ms).
	BandwidthWindow time.Duration `mapstructure:"bandwidth_window"`
	// FreePageHint leaves free-class pages the guest has not written out
	// of the migration, as for pre-copy (default false; composition.go).
	FreePageHint bool `mapstructure:"free_page_hint"`
	// Balloon is dynamic self-ballooning (Hines and Gopalan, VEE'09)
	// (default off).
	Balloon BalloonParams `mapstructure:"balloon"`
	// Pagecache says what happens to clean page-cache pages: sent, skipped
	// and restored from the SAN, or dropped (default send).
	Pagecache PagecacheParams `mapstructure:"pagecache"`
}

// DefaultParallelParams returns four range-locked pipelined workers, no
// compression, unlimited cores, the default costs and pre-copy's defaults.
func DefaultParallelParams() ParallelParams {
	pc := DefaultPrecopyParams()
	return ParallelParams{
		Workers: 4, Lock: sim.LockRange, Pipeline: true, Compression: "none", VCPUBusy: 1,
		Costs:         DefaultCosts(),
		DowntimeLimit: pc.DowntimeLimit, MaxBandwidth: pc.MaxBandwidth, MaxRounds: pc.MaxRounds,
		MaxTime: pc.MaxTime, SetupTime: pc.SetupTime, SyncTimePerGiB: pc.SyncTimePerGiB,
		ResumeTime: pc.ResumeTime, PageHeader: pc.PageHeader, ZeroPageBytes: pc.ZeroPageBytes,
		BandwidthWindow: pc.BandwidthWindow,
		Balloon:         pc.Balloon, Pagecache: pc.Pagecache,
	}
}

// precopy returns the pre-copy parameters of the rounds.
func (p ParallelParams) precopy() PrecopyParams {
	pc := DefaultPrecopyParams()
	pc.DowntimeLimit, pc.MaxBandwidth, pc.MaxRounds, pc.MaxTime = p.DowntimeLimit, p.MaxBandwidth, p.MaxRounds, p.MaxTime
	pc.MaxBytesFactor = p.MaxBytesFactor
	pc.SetupTime, pc.SyncTimePerGiB, pc.ResumeTime = p.SetupTime, p.SyncTimePerGiB, p.ResumeTime
	pc.PageHeader, pc.ZeroPageBytes, pc.BandwidthWindow = p.PageHeader, p.ZeroPageBytes, p.BandwidthWindow
	pc.FreePageHint, pc.Balloon, pc.Pagecache = p.FreePageHint, p.Balloon, p.Pagecache
	// Whole passes: the workers split each pass's set, which QEMU's
	// threshold-driven syncs (sync_policy qemu) would cut short.
	pc.SyncPolicy = SyncPass
	return pc
}

// Validate checks the parameters and names the key of each bad one.
func (p *ParallelParams) Validate() error {
	var errs []error
	if p.Workers < 1 {
		errs = append(errs, fmt.Errorf("model.workers %d must be at least 1", p.Workers))
	}
	if err := p.Lock.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model.%w", err))
	}
	if _, err := codecAt(p.Compression, p.Level, p.CompressionRatio); err != nil {
		errs = append(errs, fmt.Errorf("model.compression: %w", err))
	}
	if p.CompressionRatio < 0 {
		errs = append(errs, fmt.Errorf("model.compression_ratio %v must not be negative", p.CompressionRatio))
	}
	if p.SourceCores < 0 || p.DestinationCores < 0 {
		errs = append(errs, errors.New("model.source_cores and model.destination_cores must not be negative"))
	}
	if !(p.VCPUBusy >= 0 && p.VCPUBusy <= 1) {
		errs = append(errs, fmt.Errorf("model.vcpu_busy %v must be in [0, 1]", p.VCPUBusy))
	}
	if err := validateCosts(p.Costs); err != nil {
		errs = append(errs, err)
	}
	pc := p.precopy()
	if err := pc.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
