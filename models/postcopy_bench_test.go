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
	benchMillionFaults(b, models.EnginePage)
}

// BenchmarkFluidPostcopyMillionFaults is BenchmarkPostcopyMillionFaults
// on the fluid engine: its cost is per step of the push, not per fault.
func BenchmarkFluidPostcopyMillionFaults(b *testing.B) {
	benchMillionFaults(b, models.EngineFluid)
}

func benchMillionFaults(b *testing.B, e models.Engine) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenUniform
	spec.ReadRate = 200000
	in := fluidBenchInput("bench-faults", 12*units.GiB, 4, spec, units.Gbit)
	in.Path = sim.Path{Bandwidth: units.Gbit}
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingNone
	if res := postcopyBench(b, postcopyModel(b, p, e), in); res.PostcopyRequests < 1000000 {
		b.Fatalf("%d network faults, want at least a million", res.PostcopyRequests)
	}
}

// BenchmarkPostcopy64GiBBubbling simulates post-copy of a 64 GiB guest
// with a hot/cold workload over 25 Gbit/s with bubbling: 16 million pages
// pushed, the per-page cost of the push.
func BenchmarkPostcopy64GiBBubbling(b *testing.B) {
	bench64GiBBubbling(b, models.EnginePage)
}

// BenchmarkFluidPostcopy64GiBBubbling is BenchmarkPostcopy64GiBBubbling
// on the fluid engine.
func BenchmarkFluidPostcopy64GiBBubbling(b *testing.B) {
	bench64GiBBubbling(b, models.EngineFluid)
}

func bench64GiBBubbling(b *testing.B, e models.Engine) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenHotCold
	spec.DirtyRate = 100000
	spec.ReadRate = 100000
	spec.WorkingSet = 16 * units.GiB
	spec.ZeroFraction = 0.25
	in := fluidBenchInput("bench-64gib", 64*units.GiB, 16, spec, 25*units.Gbit)
	p := models.DefaultPostcopyParams()
	p.Prepaging = models.PrepagingBubbling
	postcopyBench(b, postcopyModel(b, p, e), in)
}

// postcopyModel returns the post-copy model with parameters p on engine e.
func postcopyModel(b *testing.B, p models.PostcopyParams, e models.Engine) models.Model {
	b.Helper()
	var m models.Model
	var err error
	if e == models.EngineFluid {
		m, err = models.NewFluidPostcopy(p)
	} else {
		m, err = models.NewPostcopy(p)
	}
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkFluidPostcopyChurnHint64GiB is fluid post-copy of a 64 GiB
// guest that allocates 20,000 pages/s and frees 5,000 under
// free_page_hint over 10 Gbit/s: the blocks its allocations after the
// resume add (churnCuts). BenchmarkFluidPostcopyNoChurnHint64GiB is the
// same guest without the churn.
func BenchmarkFluidPostcopyChurnHint64GiB(b *testing.B) { benchChurnHint(b, 20000, 5000) }

// BenchmarkFluidPostcopyNoChurnHint64GiB: see BenchmarkFluidPostcopyChurnHint64GiB.
func BenchmarkFluidPostcopyNoChurnHint64GiB(b *testing.B) { benchChurnHint(b, 0, 0) }

func benchChurnHint(b *testing.B, alloc, free float64) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenUniform
	spec.DirtyRate = 100000
	spec.WorkingSet = 16 * units.GiB
	spec.FreeFraction = 0.3
	spec.AllocRate, spec.FreeRate = alloc, free
	in := fluidBenchInput("bench-churn", 64*units.GiB, 16, spec, 10*units.Gbit)
	p := models.DefaultPostcopyParams()
	p.FreePageHint = true
	postcopyBench(b, postcopyModel(b, p, models.EngineFluid), in)
}
