package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// benchInput is a guest of mem bytes replaying spec (seed 1, 4 KiB pages,
// 1 MiB of device state) over a link of bw with a 50 µs RTT.
func benchInput(name string, mem units.Bytes, vcpus int, spec traces.GeneratorSpec, bw units.BitRate) models.Input {
	return models.Input{
		Scenario: name, Seed: 1,
		VM: models.VM{Memory: mem, PageSize: 4 * units.KiB, VCPUs: vcpus, DeviceState: units.MiB},
		Trace: func() (traces.Source, error) {
			return traces.NewGenerator(spec, mem, 4*units.KiB, 1)
		},
		Path: sim.Path{Bandwidth: bw, RTT: 50 * time.Microsecond},
	}
}

// hotcold64GiB dirties 200 000 pages/s over a 64 GiB working set, 90 %
// of writes to its hottest 10 %, with a quarter of memory zero.
func hotcold64GiB() traces.GeneratorSpec {
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = traces.GenHotCold
	spec.DirtyRate = 200000
	spec.WorkingSet = 64 * units.GiB
	spec.ZeroFraction = 0.25
	return spec
}

// runBench runs m on in b.N times and returns the last result.
func runBench(b *testing.B, m models.Model, in models.Input) *models.Result {
	b.Helper()
	var res *models.Result
	var err error
	for b.Loop() {
		res, err = m.Run(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
	}
	return res
}

// runConverging runs m on in b.N times, fails unless the migration
// converges, and reports simulated seconds and rounds per migration.
func runConverging(b *testing.B, m models.Model, in models.Input) *models.Result {
	b.Helper()
	res := runBench(b, m, in)
	if !res.Converged {
		b.Fatalf("benchmark scenario did not converge: %s", res.StopReason)
	}
	b.ReportMetric(res.TotalTimeS, "sim-s/op")
	b.ReportMetric(float64(res.Rounds), "rounds/op")
	return res
}

// BenchmarkPrecopy1TiBHotcold simulates one pre-copy migration of a 1 TiB
// guest over a 25 Gbit/s LAN under hotcold64GiB. The target is under one
// second of wall time per migration.
func BenchmarkPrecopy1TiBHotcold(b *testing.B) {
	m, err := models.NewPrecopy(models.DefaultPrecopyParams())
	if err != nil {
		b.Fatal(err)
	}
	runConverging(b, m, benchInput("bench-1tib", units.TiB, 32, hotcold64GiB(), 25*units.Gbit))
}

// BenchmarkPrecopy1TiBXbzrleBalloon is BenchmarkPrecopy1TiBHotcold with
// half of memory free and the guest allocating 2 000 pages/s of it, a
// self-ballooning guest (DSB) and XBZRLE with a 4 GiB cache: the cost of
// composition over time and of the XBZRLE cache on the same migration.
func BenchmarkPrecopy1TiBXbzrleBalloon(b *testing.B) {
	spec := hotcold64GiB()
	spec.FreeFraction = 0.5
	spec.AllocRate = 2000
	p := models.DefaultPrecopyParams()
	p.Balloon.Enabled = true
	p.Xbzrle.Enabled = true
	p.Xbzrle.CacheSize = 4 * units.GiB
	m, err := models.NewPrecopy(p)
	if err != nil {
		b.Fatal(err)
	}
	res := runConverging(b, m, benchInput("bench-1tib-xbzrle-balloon", units.TiB, 32, spec, 25*units.Gbit))
	if res.BalloonReclaimedPages == 0 || res.XbzrlePages == 0 {
		b.Fatalf("balloon reclaimed %d pages and XBZRLE sent %d: want both at work", res.BalloonReclaimedPages, res.XbzrlePages)
	}
}

// BenchmarkParallel16Workers1TiB simulates one parallel (PMigrate)
// migration of a 1 TiB guest with 16 range-locked pipelined workers over
// a 100 Gbit/s link under hotcold64GiB.
func BenchmarkParallel16Workers1TiB(b *testing.B) {
	p := models.DefaultParallelParams()
	p.Workers = 16
	m, err := models.NewParallel(p)
	if err != nil {
		b.Fatal(err)
	}
	runConverging(b, m, benchInput("bench-parallel-1tib", units.TiB, 32, hotcold64GiB(), 100*units.Gbit))
}
