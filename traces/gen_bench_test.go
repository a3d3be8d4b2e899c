package traces

import (
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// BenchmarkGenerator plays epochs of each kind for a 1 TiB guest (2^28
// pages of 4 KiB) and reports written plus read pages per second of wall
// time. One iteration is one 10ms epoch.
func BenchmarkGenerator(b *testing.B) {
	const memory = units.TiB
	cases := []struct {
		name string
		spec GeneratorSpec
	}{
		{"idle", GeneratorSpec{Kind: GenIdle}},
		{"sequential/1M", GeneratorSpec{Kind: GenSequential, DirtyRate: 1e6}},
		{"uniform/100k", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e5}},
		{"uniform/1M", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6}},
		{"uniform/1M+reads", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, ReadRate: 1e6}},
		{"uniform/1M/ws1GiB", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, WorkingSet: units.GiB}},
		{"hotcold/1M", GeneratorSpec{Kind: GenHotCold, DirtyRate: 1e6}},
		{"zipf/100k", GeneratorSpec{Kind: GenZipf, DirtyRate: 1e5}},
		{"zipf/1M+reads", GeneratorSpec{Kind: GenZipf, DirtyRate: 1e6, ReadRate: 1e5}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			spec := c.spec
			spec.Duration = 1000 * time.Hour
			src, err := NewGenerator(spec, memory, 4*units.KiB, 1)
			if err != nil {
				b.Fatal(err)
			}
			var e Epoch
			var pages uint64
			b.ReportAllocs()
			for b.Loop() {
				if err := src.Next(&e); err != nil {
					b.Fatal(err)
				}
				pages += e.Written.GetCardinality() + e.Read.GetCardinality()
			}
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
			b.ReportMetric(float64(pages)/float64(b.N), "pages/epoch")
		})
	}
}
