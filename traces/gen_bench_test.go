package traces

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// genBenchCases are the workloads of BenchmarkGenerator, on a 1 TiB guest
// (2^28 pages of 4 KiB) in 10ms epochs. "hotcold/200k/ws64GiB" is the
// workload of models.BenchmarkPrecopy1TiBHotcold.
var genBenchCases = []struct {
	name string
	spec GeneratorSpec
}{
	{"idle", GeneratorSpec{Kind: GenIdle}},
	{"sequential/1M", GeneratorSpec{Kind: GenSequential, DirtyRate: 1e6}},
	{"uniform/100k", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e5}},
	{"uniform/1M", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6}},
	{"uniform/1M+reads", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, ReadRate: 1e6}},
	{"uniform/1M/ws1GiB", GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, WorkingSet: units.GiB}},
	{"hotcold/200k/ws64GiB", GeneratorSpec{Kind: GenHotCold, DirtyRate: 2e5, WorkingSet: 64 * units.GiB, ZeroFraction: 0.25}},
	{"hotcold/1M", GeneratorSpec{Kind: GenHotCold, DirtyRate: 1e6}},
	{"hotcold/1M+reads", GeneratorSpec{Kind: GenHotCold, DirtyRate: 1e6, ReadRate: 5e5}},
	{"zipf/100k", GeneratorSpec{Kind: GenZipf, DirtyRate: 1e5}},
	{"zipf/1M+reads", GeneratorSpec{Kind: GenZipf, DirtyRate: 1e6, ReadRate: 1e5}},
}

// BenchmarkGenerator plays epochs of each workload of genBenchCases. One
// iteration is one 10ms epoch. It reports written plus read pages per
// second of wall time (pages/s) and of the process's CPU time
// (pages/cpu-s, which other load on the machine disturbs less; it counts
// the garbage collector's work too), and the pages per epoch.
//
// Millions of pages per CPU second, median of 6 runs each, before and
// after the generators built their sets whole (setBuilder, gen_build.go)
// and sorted small batches with a bucket pass instead of pdqsort
// (gen_sort.go), on a shared 2-core Debian VM (Go 1.26):
//
//	workload                before   after
//	uniform/100k              11.1    19.3   ×1.74
//	uniform/1M                18.4    34.0   ×1.85
//	uniform/1M+reads          15.2    26.7   ×1.75
//	uniform/1M/ws1GiB         52.1   121.7   ×2.34
//	hotcold/200k/ws64GiB      35.7    80.9   ×2.26
//	hotcold/1M                33.4    66.3   ×1.99
//	hotcold/1M+reads          23.6    43.1   ×1.83
//	zipf/100k                  4.6     7.2   ×1.55
//	zipf/1M+reads              3.9     5.4   ×1.39
//
// The benchmark's heap is small, so the garbage collector runs often and
// the figures count it; models.BenchmarkPrecopy1TiBHotcold, with a 64 MiB
// live heap, spent 1.36 s of CPU in the generator per migration before
// and 0.58 s after (×2.3).
func BenchmarkGenerator(b *testing.B) {
	for _, c := range genBenchCases {
		b.Run(c.name, func(b *testing.B) {
			spec := c.spec
			spec.Duration = 1000 * time.Hour
			src, err := NewGenerator(spec, units.TiB, 4*units.KiB, 1)
			if err != nil {
				b.Fatal(err)
			}
			var e Epoch
			var pages uint64
			b.ReportAllocs()
			cpu0 := processCPUTime()
			for b.Loop() {
				if err := src.Next(&e); err != nil {
					b.Fatal(err)
				}
				pages += e.Written.GetCardinality() + e.Read.GetCardinality()
			}
			b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
			if cpu := processCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(pages)/cpu.Seconds(), "pages/cpu-s")
			}
			b.ReportMetric(float64(pages)/float64(b.N), "pages/epoch")
		})
	}
}

// genBenchEpochs returns 100 epochs of uniform writes (10000 pages each)
// and reads (2000) over a 1 TiB guest.
func genBenchEpochs(b *testing.B) Source {
	spec := GeneratorSpec{Kind: GenUniform, DirtyRate: 1e6, ReadRate: 2e5, Duration: time.Second}
	src, err := NewGenerator(spec, units.TiB, 4*units.KiB, 1)
	if err != nil {
		b.Fatal(err)
	}
	return &genSliceSource{hdr: *src.Header(), epochs: genCollect(b, src)}
}

// genCycleSource replays the epochs of src, numbered on, until n epochs.
// It hands out the stored bitmaps themselves (no copy), so its consumer
// must not change them.
type genCycleSource struct {
	*genSliceSource
	n, done uint64
}

func (c *genCycleSource) Next(e *Epoch) error {
	if c.done == c.n {
		return io.EOF
	}
	src := c.epochs[c.done%uint64(len(c.epochs))]
	*e = Epoch{Index: c.done, Written: src.Written, Read: src.Read}
	c.done++
	return nil
}

// BenchmarkStats reports the pages per second Stats gets through (written
// plus read) over 30 s of guest time, excluding the cost of producing the
// epochs.
func BenchmarkStats(b *testing.B) {
	src := genBenchEpochs(b).(*genSliceSource)
	var pages uint64
	for b.Loop() {
		st, err := Stats(&genCycleSource{genSliceSource: src, n: 3000})
		if err != nil {
			b.Fatal(err)
		}
		pages += st.WrittenPages + st.ReadPages
	}
	b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkTextReader reports how fast the text form parses, in bytes and
// pages per second.
func BenchmarkTextReader(b *testing.B) {
	var text bytes.Buffer
	if _, err := ExportText(&text, genBenchEpochs(b)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(text.Len()))
	var pages uint64
	var e Epoch
	for b.Loop() {
		tr, err := NewTextReader(bytes.NewReader(text.Bytes()), "bench.txt", ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for tr.Next(&e) == nil {
			pages += e.Written.GetCardinality() + e.Read.GetCardinality()
		}
	}
	b.ReportMetric(float64(pages)/b.Elapsed().Seconds(), "pages/s")
}
