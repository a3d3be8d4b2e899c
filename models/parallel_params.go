package models

import (
	"github.com/migsim/migsim/sim"
)

// ParallelParams are the parameters of [Parallel], the scenario's model
// section: the workers, their lock and pipeline, compression, the hosts'
// cores and the cost table, and the parts [Rounds], [RoundCaps],
// [Stream] and [Memory] of the pre-copy rounds. A key of [PrecopyParams]
// means the same here.
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

	Rounds    `mapstructure:",squash"`
	RoundCaps `mapstructure:",squash"`
	Stream    `mapstructure:",squash"`
	Memory    `mapstructure:",squash"`
}

// Defaults of parallel's own keys.
const (
	// DefaultWorkers is PMigrate's worker count.
	DefaultWorkers = 4
	// DefaultParallelVCPUBusy is a memory-intensive guest's busy share of
	// each vCPU.
	DefaultParallelVCPUBusy = 1
)

// DefaultParallelParams returns four range-locked pipelined workers, no
// compression, unlimited cores, the default costs and pre-copy's defaults.
func DefaultParallelParams() ParallelParams {
	return ParallelParams{
		Workers: DefaultWorkers, Lock: sim.LockRange, Pipeline: true, Compression: "none", VCPUBusy: DefaultParallelVCPUBusy,
		Costs:  DefaultCosts(),
		Rounds: DefaultRounds(),
		Stream: DefaultStream(),
		Memory: DefaultMemory(),
	}
}

// Parts returns the parts p is built of.
func (p *ParallelParams) Parts() Parts {
	return Parts{Rounds: &p.Rounds, RoundCaps: &p.RoundCaps, Stream: &p.Stream, Memory: &p.Memory}
}

// precopy returns the pre-copy parameters of the rounds: the parts the
// two share, whole, and pre-copy's defaults for the rest (no
// auto-converge, no multifd or XBZRLE: the workers are the streams).
func (p ParallelParams) precopy() PrecopyParams {
	pc := DefaultPrecopyParams()
	pc.Rounds, pc.RoundCaps, pc.Stream, pc.Memory = p.Rounds, p.RoundCaps, p.Stream, p.Memory
	// Whole passes: the workers split each pass's set, which QEMU's
	// threshold-driven syncs (sync_policy qemu) would cut short.
	pc.SyncPolicy = SyncPass
	return pc
}

// Validate checks the parameters, one [FieldError] per bad key.
func (p *ParallelParams) Validate() error {
	c := p.Parts().validate()
	c.check(p.Workers >= 1, "model.workers", "%d must be at least 1", p.Workers)
	if err := p.Lock.Validate(); err != nil {
		c.add(&FieldError{Key: "model.lock", Err: err})
	}
	if _, err := codecAt(p.Compression, p.Level, p.CompressionRatio); err != nil {
		c.add(&FieldError{Key: compressionKey("model.", "compression", err), Err: err})
	}
	c.check(p.CompressionRatio >= 0, "model.compression_ratio", "%v must not be negative", p.CompressionRatio)
	c.check(p.SourceCores >= 0, "model.source_cores", "%v must not be negative", p.SourceCores)
	c.check(p.DestinationCores >= 0, "model.destination_cores", "%v must not be negative", p.DestinationCores)
	c.check(p.VCPUBusy >= 0 && p.VCPUBusy <= 1, "model.vcpu_busy", "%v must be in [0, 1]", p.VCPUBusy)
	c.add(validateCosts("model.costs", p.Costs))
	return c.err()
}
