package sim_test

import (
	"fmt"

	"github.com/migsim/migsim/sim"
)

// Eight pipelined workers with the default costs: the range lock lets
// them map at once and the 40 Gbit/s link binds; the global lock
// serialises their map steps first.
func ExamplePipeline_Throughput() {
	for _, lock := range []sim.LockMode{sim.LockGlobal, sim.LockRange} {
		p := sim.Pipeline{Costs: sim.DefaultCosts(), Workers: 8, Overlap: true, Lock: lock}
		b := p.Throughput(40e9, 4096+8)
		fmt.Printf("%s: %.0f pages/s, bound by %s\n", lock, b.PagesPerSecond, b.Bottleneck)
	}
	// Output:
	// global: 833333 pages/s, bound by map_lock
	// range: 1218324 pages/s, bound by link
}
