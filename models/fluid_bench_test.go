package models_test

import (
	"math/rand/v2"
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// fluidInput is benchInput with the generator the fluid engine reads.
func fluidBenchInput(name string, mem units.Bytes, vcpus int, spec traces.GeneratorSpec, bw units.BitRate) models.Input {
	in := benchInput(name, mem, vcpus, spec, bw)
	in.Generator = &spec
	return in
}

func newFluidPrecopy(b *testing.B, p models.PrecopyParams) *models.FluidPrecopy {
	b.Helper()
	m, err := models.NewFluidPrecopy(p)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkFluidPrecopy1TiBHotcold is BenchmarkPrecopy1TiBHotcold on the
// fluid engine. The target is under a millisecond per migration.
func BenchmarkFluidPrecopy1TiBHotcold(b *testing.B) {
	m := newFluidPrecopy(b, models.DefaultPrecopyParams())
	runConverging(b, m, fluidBenchInput("bench-1tib", units.TiB, 32, hotcold64GiB(), 25*units.Gbit))
}

// BenchmarkFluidPrecopy1TiBZipfQEMU is a 1 TiB guest under zipf writes
// over all of memory, sync_policy qemu: the fluid bitmap's cost.
func BenchmarkFluidPrecopy1TiBZipfQEMU(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenZipf
	spec.DirtyRate = 200000
	p := models.DefaultPrecopyParams()
	p.SyncPolicy = models.SyncQEMU
	m := newFluidPrecopy(b, p)
	runConverging(b, m, fluidBenchInput("bench-1tib-zipf", units.TiB, 32, spec, 25*units.Gbit))
}

// precopy16GiB is the sweep point: a 16 GiB guest writing
// uniformly over all of memory at share of the link's page rate.
func precopy16GiB(share float64, bw units.BitRate) traces.GeneratorSpec {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenUniform
	spec.DirtyRate = share * float64(bw) / 8 / 4096
	return spec
}

// BenchmarkPrecopy16GiB compares the engines on 16 GiB guests over 10
// Gbit/s and 1 Gbit/s, idle and writing at 20 % of the link's page rate.
func BenchmarkPrecopy16GiB(b *testing.B) {
	for _, c := range []struct {
		name  string
		share float64
		bw    units.BitRate
	}{
		{"10G/idle", 0, 10 * units.Gbit},
		{"10G/dirty20", 0.2, 10 * units.Gbit},
		{"1G/dirty20", 0.2, units.Gbit},
	} {
		spec := precopy16GiB(c.share, c.bw)
		if c.share == 0 {
			spec.Kind = traces.GenIdle
		}
		in := fluidBenchInput("bench-16gib", 16*units.GiB, 4, spec, c.bw)
		b.Run("page/"+c.name, func(b *testing.B) {
			m, err := models.NewPrecopy(models.DefaultPrecopyParams())
			if err != nil {
				b.Fatal(err)
			}
			runConverging(b, m, in)
		})
		b.Run("fluid/"+c.name, func(b *testing.B) {
			runConverging(b, newFluidPrecopy(b, models.DefaultPrecopyParams()), in)
		})
	}
}

// BenchmarkFluidSweep16GiB is a sweep of 16 GiB pre-copy points on the
// fluid engine, dirty rate (0-60 % of the link's page rate) and
// bandwidth (1-25 Gbit/s) drawn at random, both sync policies: it reports
// points per second on one core.
func BenchmarkFluidSweep16GiB(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	type point struct {
		m  models.Model
		in models.Input
	}
	var pts []point
	for i := range 256 {
		bw := units.BitRate(1e9 + rng.Float64()*24e9)
		spec := precopy16GiB(rng.Float64()*0.6, bw)
		p := models.DefaultPrecopyParams()
		if i%2 == 1 {
			p.SyncPolicy = models.SyncQEMU
		}
		pts = append(pts, point{newFluidPrecopy(b, p), fluidBenchInput("sweep", 16*units.GiB, 4, spec, bw)})
	}
	i := 0
	for b.Loop() {
		pt := pts[i%len(pts)]
		i++
		if _, err := pt.m.Run(b.Context(), pt.in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkHybridZipf16GiB compares the engines on a hybrid of a 16 GiB
// guest writing zipf over all of memory at 40 % of a 10 Gbit/s link's
// page rate, one pre-copy round and then post-copy: the fluid run's
// post-copy follows each block by rank bucket (fluid_strata.go).
func BenchmarkHybridZipf16GiB(b *testing.B) {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenZipf
	spec.DirtyRate = 0.4 * 10e9 / 8 / 4096
	in := fluidBenchInput("bench-hybrid-zipf", 16*units.GiB, 4, spec, 10*units.Gbit)
	p := models.DefaultHybridParams()
	p.PrecopyRounds = 1
	for _, e := range []struct {
		name string
		new  func(models.HybridParams) (models.Model, error)
	}{
		{"page", func(p models.HybridParams) (models.Model, error) { return models.NewHybrid(p) }},
		{"fluid", func(p models.HybridParams) (models.Model, error) { return models.NewFluidHybrid(p) }},
	} {
		b.Run(e.name, func(b *testing.B) {
			m, err := e.new(p)
			if err != nil {
				b.Fatal(err)
			}
			res := runBench(b, m, in)
			b.ReportMetric(float64(res.PostcopyRequests), "requests/op")
		})
	}
}

// BenchmarkPrecopyXbzrleSmallCache16GiB compares the engines on XBZRLE
// with QEMU's default 64 MiB cache on a 16 GiB guest writing uniformly
// over all of memory at 20 % of a 10 Gbit/s link's page rate, both sync
// policies: 256 pages share each slot, and the fluid engine follows the
// slots' state (fluid_xbzrle_slots.go).
func BenchmarkPrecopyXbzrleSmallCache16GiB(b *testing.B) {
	in := fluidBenchInput("bench-16gib-xbzrle", 16*units.GiB, 4, precopy16GiB(0.2, 10*units.Gbit), 10*units.Gbit)
	for _, pol := range []models.SyncPolicy{models.SyncPass, models.SyncQEMU} {
		p := models.DefaultPrecopyParams()
		p.SyncPolicy = pol
		p.Xbzrle.Enabled = true
		b.Run("page/"+string(pol), func(b *testing.B) {
			m, err := models.NewPrecopy(p)
			if err != nil {
				b.Fatal(err)
			}
			res := runConverging(b, m, in)
			b.ReportMetric(float64(res.XbzrlePages), "xbzrle-pages/op")
		})
		b.Run("fluid/"+string(pol), func(b *testing.B) {
			res := runConverging(b, newFluidPrecopy(b, p), in)
			b.ReportMetric(float64(res.XbzrlePages), "xbzrle-pages/op")
		})
	}
}
