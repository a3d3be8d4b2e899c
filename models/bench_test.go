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

// BenchmarkPrecopy1TiBHotcold simulates one pre-copy migration of a 1 TiB
// guest over a 25 Gbit/s LAN while a hot/cold workload dirties 200 000
// pages/s over a 64 GiB working set (90 % of writes to its hottest 10 %).
// The target is under one second of wall time per migration.
func BenchmarkPrecopy1TiBHotcold(b *testing.B) {
	const mem = units.TiB
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = "hotcold"
	spec.DirtyRate = 200000
	spec.WorkingSet = 64 * units.GiB
	spec.ZeroFraction = 0.25
	in := models.Input{
		Scenario: "bench-1tib", Seed: 1,
		VM: models.VM{Memory: mem, PageSize: 4 * units.KiB, VCPUs: 32, DeviceState: units.MiB},
		Trace: func() (traces.Source, error) {
			return traces.NewGenerator(spec, mem, 4*units.KiB, 1)
		},
		Path: sim.Path{Bandwidth: 25 * units.Gbit, RTT: 50 * time.Microsecond},
	}
	m, err := models.NewPrecopy(models.DefaultPrecopyParams())
	if err != nil {
		b.Fatal(err)
	}
	var res *models.Result
	for b.Loop() {
		res, err = m.Run(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
	}
	if !res.Converged {
		b.Fatalf("benchmark scenario did not converge: %s", res.StopReason)
	}
	b.ReportMetric(res.TotalTimeS, "sim-s/op")
	b.ReportMetric(float64(res.Rounds), "rounds/op")
}

// BenchmarkParallel16Workers1TiB simulates one parallel (PMigrate)
// migration of a 1 TiB guest with 16 range-locked pipelined workers over
// a 100 Gbit/s link while a hot/cold workload dirties 200 000 pages/s
// over a 64 GiB working set.
func BenchmarkParallel16Workers1TiB(b *testing.B) {
	const mem = units.TiB
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = "hotcold"
	spec.DirtyRate = 200000
	spec.WorkingSet = 64 * units.GiB
	spec.ZeroFraction = 0.25
	in := models.Input{
		Scenario: "bench-parallel-1tib", Seed: 1,
		VM: models.VM{Memory: mem, PageSize: 4 * units.KiB, VCPUs: 32, DeviceState: units.MiB},
		Trace: func() (traces.Source, error) {
			return traces.NewGenerator(spec, mem, 4*units.KiB, 1)
		},
		Path: sim.Path{Bandwidth: 100 * units.Gbit, RTT: 50 * time.Microsecond},
	}
	p := models.DefaultParallelParams()
	p.Workers = 16
	m, err := models.NewParallel(p)
	if err != nil {
		b.Fatal(err)
	}
	var res *models.Result
	for b.Loop() {
		res, err = m.Run(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
	}
	if !res.Converged {
		b.Fatalf("benchmark scenario did not converge: %s", res.StopReason)
	}
	b.ReportMetric(res.TotalTimeS, "sim-s/op")
	b.ReportMetric(float64(res.Rounds), "rounds/op")
}
