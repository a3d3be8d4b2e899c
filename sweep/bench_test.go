package sweep

import (
	"testing"
)

// BenchmarkSweep16GiB runs shard 1/9 of testdata/bench-16gib.yaml, the
// issue's speed target (10,000 migrations of 16 GiB guests): 1,112 points
// spread over every axis (9 is prime to every axis's length), on all
// cores, with the trace cache, writing every output. It reports points/s
// and the projected time of the whole sweep, loading excluded (see
// BenchmarkLoadSweep); `migsim sweep sweep/testdata/bench-16gib.yaml`
// measures it all directly.
func BenchmarkSweep16GiB(b *testing.B) {
	sw, err := Load("testdata/bench-16gib.yaml", nil)
	if err != nil {
		b.Fatal(err)
	}
	shard := Shard{K: 1, N: 9}
	points := len(shard.Points(len(sw.Points)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(b.Context(), sw, Options{Dir: b.TempDir(), Shard: shard, Formats: allFormats, TraceCache: DefaultTraceCache}); err != nil {
			b.Fatal(err)
		}
	}
	perPoint := b.Elapsed().Seconds() / float64(b.N*points)
	b.ReportMetric(1/perPoint, "points/s")
	b.ReportMetric(perPoint*float64(len(sw.Points)), "s/10k-sweep")
}

// BenchmarkLoadSweep expands and validates the 10,000 points of
// testdata/bench-16gib.yaml.
func BenchmarkLoadSweep(b *testing.B) {
	for b.Loop() {
		if _, err := Load("testdata/bench-16gib.yaml", nil); err != nil {
			b.Fatal(err)
		}
	}
}
