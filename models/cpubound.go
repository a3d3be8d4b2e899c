package models

import (
	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
)

// The single migration stream's CPU model (model.cpu_bound on pre-copy;
// issue 6): QEMU's one migration thread walks the bitmap, checks for zero
// pages and sends each page from guest memory, and one thread on the
// destination receives and installs it. The two threads overlap, so the
// stream moves a page per max(source stage sum, destination stage sum) of
// model.costs ([sim.Pipeline] with one worker, without overlap); a pass
// takes the longer of that and its time on the path, and the bottleneck
// names the binding thread's largest stage, or the link.
//
// With the default costs the destination's receive and install (2µs a
// page) bind at about 500 000 pages/s, 16 Gbit/s of 4 KiB pages: a
// 100 Gbit/s link is CPU-bound, a 10 Gbit/s one is not. The model is
// opt-in so that runs written before it, which the link alone bounds,
// keep their results.

// singleStreamCosts returns the default cost table of a single migration
// stream: map and copy are 0 since QEMU sends from guest memory.
func singleStreamCosts() Costs {
	c := DefaultCosts()
	c.Map, c.Copy = 0, 0
	return c
}

// useSingleStreamCPU holds the run's one stream to its threads' CPU when
// p.CPUBound and multifd is off. It must run after useMultifd.
func (r *precopyRun) useSingleStreamCPU(p PrecopyParams) {
	if !p.CPUBound || r.cpu != nil {
		return
	}
	r.cpu = singleStreamPipeline(p, float64(r.g.hdr.PageSize), r.pages, r.g.hdr.Zero)
}

// singleStreamPipeline is the single stream's CPU pipeline under
// cpu_bound for a guest of pages pages of pageSize bytes (zero: its zero
// pages, may be nil); every engine's cpu_bound runs on it.
func singleStreamPipeline(p PrecopyParams, pageSize float64, pages uint64, zero *roaring.Bitmap) *cpuPipeline {
	none := Codec{Name: "none", Ratio: 1}
	pipe := sim.Pipeline{Costs: p.Costs.table(none), Workers: 1, Lock: sim.LockRange}
	return newCPUPipeline(pipe, none, pageSize, pages, zero, true)
}
