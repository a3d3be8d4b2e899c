package models_test

import (
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// postcopyBench runs m on in b.N times and reports simulated faults per
// second of wall time, trace generation included.
func postcopyBench(b *testing.B, m models.Model, in models.Input) *models.Result {
	res := runBench(b, m, in)
	faults := float64(res.PostcopyRequests + res.MinorFaults)
	b.ReportMetric(faults, "faults/op")
	b.ReportMetric(faults*float64(b.N)/b.Elapsed().Seconds(), "faults/s")
	b.ReportMetric(res.TotalTimeS, "sim-s/op")
	return res
}

// BenchmarkPostcopyMillionFaults simulates a post-copy migration of a
// 12 GiB guest that reads 200 000 random pages per second, over 1 Gbit/s
// with no round-trip time and demand paging (prepaging none): about 1.3
// million network faults, each one engine event. The target is well under
// a second per million faults.
func BenchmarkPostcopyMillionFaults(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenUniform
	spec.ReadRate = 200000
	in := benchInput("bench-faults", 12*units.GiB, 4, spec, units.Gbit)
	in.Path = sim.Path{Bandwidth: units.Gbit}
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingNone
	m, err := models.NewPostcopy(p)
	if err != nil {
		b.Fatal(err)
	}
	if res := postcopyBench(b, m, in); res.PostcopyRequests < 1000000 {
		b.Fatalf("%d network faults, want at least a million", res.PostcopyRequests)
	}
}

// BenchmarkPostcopy64GiBBubbling simulates post-copy of a 64 GiB guest
// with a hot/cold workload over 25 Gbit/s with bubbling: 16 million pages
// pushed, the per-page cost of the push.
func BenchmarkPostcopy64GiBBubbling(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenHotCold
	spec.DirtyRate = 100000
	spec.ReadRate = 100000
	spec.WorkingSet = 16 * units.GiB
	spec.ZeroFraction = 0.25
	in := benchInput("bench-64gib", 64*units.GiB, 16, spec, 25*units.Gbit)
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingBubbling
	m, err := models.NewPostcopy(p)
	if err != nil {
		b.Fatal(err)
	}
	postcopyBench(b, m, in)
}

// BenchmarkFluidPostcopyMillionFaults is BenchmarkPostcopyMillionFaults
// on the fluid engine: its cost is per step of the push, not per fault.
func BenchmarkFluidPostcopyMillionFaults(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenUniform
	spec.ReadRate = 200000
	in := fluidBenchInput("bench-faults", 12*units.GiB, 4, spec, units.Gbit)
	in.Path = sim.Path{Bandwidth: units.Gbit}
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingNone
	m, err := models.NewFluidPostcopy(p)
	if err != nil {
		b.Fatal(err)
	}
	if res := postcopyBench(b, m, in); res.PostcopyRequests < 1000000 {
		b.Fatalf("%d network faults, want at least a million", res.PostcopyRequests)
	}
}

// BenchmarkFluidPostcopy64GiBBubbling is BenchmarkPostcopy64GiBBubbling
// on the fluid engine.
func BenchmarkFluidPostcopy64GiBBubbling(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenHotCold
	spec.DirtyRate = 100000
	spec.ReadRate = 100000
	spec.WorkingSet = 16 * units.GiB
	spec.ZeroFraction = 0.25
	in := fluidBenchInput("bench-64gib", 64*units.GiB, 16, spec, 25*units.Gbit)
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingBubbling
	m, err := models.NewFluidPostcopy(p)
	if err != nil {
		b.Fatal(err)
	}
	postcopyBench(b, m, in)
}
