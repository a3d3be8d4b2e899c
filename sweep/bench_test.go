package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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

// BenchmarkSweepLatin runs testdata/latin-16gib.yaml (issue 19's speed
// and memory target: 16 GiB pre-copy points, dirty rate and bandwidth from
// a Latin hypercube, model.engine auto so fluid) at 1,000 and 10,000
// points as migsim sweep does: opened with the points' index only, each
// point loaded when it runs, every output written, on all cores. It
// reports s/sweep (checking the points included), points/s, and
// peak-heap-MB, the most heap in use seen while it ran (sampled every
// 10 ms), which should not grow with the points.
func BenchmarkSweepLatin(b *testing.B) {
	data, err := os.ReadFile("testdata/latin-16gib.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "latin.yaml")
			text := strings.Replace(string(data), "n: 10000", fmt.Sprintf("n: %d", n), 1)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				b.Fatal(err)
			}
			peak := watchHeap(b)
			for b.Loop() {
				sw, err := Open(b.Context(), path, LoadOptions{Index: true})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Run(b.Context(), sw, Options{Dir: b.TempDir(), Formats: allFormats, TraceCache: DefaultTraceCache}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sweep")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
		})
	}
}

// watchHeap samples the heap in use every 10 ms until b ends and returns
// a function that gives the most seen.
func watchHeap(b *testing.B) func() uint64 {
	var mu sync.Mutex
	var most uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			mu.Lock()
			most = max(most, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return most
	}
}
