package models

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
)

// Parallel is PMigrate's parallel live migration (Song et al.,
// "Parallelizing live migration of virtual machines", VEE'13): data
// parallelism over memory and pipeline parallelism within each worker,
// on pre-copy's round structure.
//
// # Semantics
//
//   - The rounds, the stop condition, the syncs and stop-and-copy are
//     [Precopy]'s, run by the same code; only the rate of each pass
//     differs.
//   - Memory is split into workers equal contiguous ranges [lo, hi); each
//     worker sends the dirty pages of its range over its own TCP stream
//     (the path's stream model with workers streams).
//   - Each worker moves pages through the stages of the cost table
//     (scan, map, copy, compress, checksum, send on the source; receive,
//     decompress, install on the destination). With pipeline on, the
//     stages overlap and a worker moves a page per slowest stage;
//     without, a page per sum of each host's stages.
//   - Throughput is the least of the workers' rate (× workers), the
//     source and destination cores (the guest's busy vCPUs compete for
//     the source's, [sim.AvailableCores]) and the path, as
//     [sim.Pipeline.Throughput] gives it. A pass takes the longer of its
//     busiest worker's CPU time and its time on the streams, so a dirty
//     set crowded into one range is slower than the same set spread out.
//   - lock: global serialises the locked part of every worker's map step
//     (a closed queueing network solved by mean-value analysis, see
//     [sim.Pipeline.Throughput]); lock: range lets disjoint ranges map
//     at once. The range lock's gain is 1 at one worker and grows with
//     workers until another limit binds.
//   - Compression shrinks each page to page size / ratio on the wire and
//     costs the codec's per-page CPU on both hosts.
//
// # Closed form
//
// For a guest dirtying d pages per second and a pipeline moving X pages
// per second (X the least of the limits above), the rounds follow
// pre-copy's closed form with b = X: V(i+1) = V(i) × d/X.
type Parallel struct {
	p ParallelParams
}

// NewParallel returns a parallel model with the given parameters.
func NewParallel(p ParallelParams) (*Parallel, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Parallel{p: p}, nil
}

func parallelInfo() Info {
	return register("parallel",
		"PMigrate: workers × pipelined stages on pre-copy rounds, with range or global lock and a CPU cost model",
		"Song et al., Parallelizing live migration of virtual machines, VEE'13",
		DefaultParallelParams,
		func(p ParallelParams) (Model, error) { return NewParallel(p) })
}

// Name returns "parallel".
func (m *Parallel) Name() string { return "parallel" }

// Params returns the model's parameters.
func (m *Parallel) Params() ParallelParams { return m.p }

// pipeline returns the workers' pipeline for a guest of vcpus vCPUs.
func (m *Parallel) pipeline(vcpus int) (sim.Pipeline, Codec) {
	p := m.p
	codec, err := codecAt(p.Compression, p.Level, p.CompressionRatio)
	if err != nil {
		panic("parallel: unvalidated parameters: " + err.Error())
	}
	costs := p.Costs.table(codec)
	threads := float64(p.Workers)
	if p.Pipeline {
		stages := 0
		for s := sim.StageScan; s < sim.StageReceive; s++ {
			if costs.Of(s) > 0 {
				stages++
			}
		}
		threads *= float64(max(stages, 1))
	}
	return sim.Pipeline{
		Costs: costs, Workers: p.Workers, Overlap: p.Pipeline, Lock: p.Lock,
		SourceCores:      sim.AvailableCores(p.SourceCores, float64(vcpus)*p.VCPUBusy, threads),
		DestinationCores: p.DestinationCores,
	}, codec
}

// workers returns the wire bytes of a full page and the workers' CPU
// pipeline for a guest of vcpus vCPUs and pages pages of pageSize bytes,
// zero its zero class (the pages round 1 sends as a header), on both
// engines.
func (m *Parallel) workers(vcpus int, pageSize float64, pages uint64, zero *roaring.Bitmap) (wireNormal float64, cpu *cpuPipeline) {
	pipe, codec := m.pipeline(vcpus)
	return pageSize/codec.Ratio + float64(m.p.PageHeader), newCPUPipeline(pipe, codec, pageSize, pages, zero, false)
}

// Run simulates one parallel migration.
func (m *Parallel) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one parallel migration beside others ([Launcher]).
func (m *Parallel) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *Parallel) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	return launchPrecopyRounds(env, in, m.Name(), m.p.precopy(), func(r *precopyRun) {
		r.wireNormal, r.cpu = m.workers(in.VM.VCPUs, float64(r.g.hdr.PageSize), r.pages, r.g.hdr.Zero)
		r.conn = in.Path.Open(m.p.Workers)
		r.comp = newComposition(m.p.memory(), r.g.hdr)
		r.comp.attach(r.g)
		r.forcePostcopy()
	})
}
