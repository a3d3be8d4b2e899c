package sim

import (
	"math"
	"testing"
	"time"
)

// A CPU-bound pipeline scales as 1/N with workers until the link takes
// over, at the worker count the arithmetic gives.
func TestPipelineScalesUntilLinkKnee(t *testing.T) {
	c := DefaultCosts()
	c.MapLockedShare = 0
	c.Compress = 10 * time.Microsecond // slowest stage: 100k pages/s per worker
	link := 10e9                       // bits/s
	wire := 4096.0 / 2.5               // bytes per page
	// Link: 10e9/8/1638.4 = 762939 pages/s, so the knee is at 7.6 workers.
	knee := link / 8 / wire / 1e5
	for n := 1; n <= 16; n++ {
		b := Pipeline{Costs: c, Workers: n, Overlap: true, Lock: LockRange}.Throughput(link, wire)
		want := math.Min(float64(n)*1e5, link/8/wire)
		if math.Abs(b.PagesPerSecond-want)/want > 1e-9 {
			t.Errorf("workers=%d: %.0f pages/s, want %.0f", n, b.PagesPerSecond, want)
		}
		wantB := "compress"
		if float64(n) > knee {
			wantB = "link"
		}
		if b.Bottleneck != wantB {
			t.Errorf("workers=%d: bottleneck %s, want %s (knee %.2f)", n, b.Bottleneck, wantB, knee)
		}
	}
}

// Cores cap the aggregate: sum of source costs × rate ≤ cores.
func TestPipelineCoresBound(t *testing.T) {
	c := DefaultCosts()
	b := Pipeline{Costs: c, Workers: 64, Overlap: true, Lock: LockRange, SourceCores: 4}.Throughput(0, 0)
	want := 4 / c.SourceSeconds()
	if b.Bottleneck != "source_cores" || math.Abs(b.PagesPerSecond-want) > 1e-6*want {
		t.Fatalf("got %+v, want %.0f pages/s bound by source_cores", b, want)
	}
}

// The range lock equals the global lock at one worker and its gain grows
// with workers; the global lock's rate approaches 1/L.
func TestPipelineRangeLockGain(t *testing.T) {
	c := DefaultCosts()
	prev := 0.0
	for _, n := range []int{1, 2, 4, 8, 16} {
		g := Pipeline{Costs: c, Workers: n, Overlap: true, Lock: LockGlobal}.Throughput(0, 0)
		r := Pipeline{Costs: c, Workers: n, Overlap: true, Lock: LockRange}.Throughput(0, 0)
		gain := r.PagesPerSecond / g.PagesPerSecond
		if n == 1 && math.Abs(gain-1) > 1e-12 {
			t.Errorf("one worker: gain %v, want 1", gain)
		}
		if n > 1 && gain <= prev {
			t.Errorf("workers=%d: gain %.3f did not grow from %.3f", n, gain, prev)
		}
		if l := c.Map.Seconds() * c.MapLockedShare; g.PagesPerSecond > 1/l {
			t.Errorf("workers=%d: global lock rate %.0f above 1/L = %.0f", n, g.PagesPerSecond, 1/l)
		}
		t.Logf("workers=%2d global=%8.0f range=%8.0f gain=%.2f (%s)", n, g.PagesPerSecond, r.PagesPerSecond, gain, g.Bottleneck)
		prev = gain
	}
	if prev < 2 {
		t.Errorf("gain at 16 workers %.2f; PMigrate reports 2.06-3.05", prev)
	}
}

func TestPipelineNoOverlapIsSum(t *testing.T) {
	c := DefaultCosts()
	b := Pipeline{Costs: c, Workers: 1, Lock: LockGlobal}.Throughput(0, 0)
	if want := 1 / c.SourceSeconds(); math.Abs(b.PagesPerSecond-want) > 1e-6*want {
		t.Fatalf("one sequential thread: %.0f pages/s, want %.0f", b.PagesPerSecond, want)
	}
}

func TestAvailableCores(t *testing.T) {
	for _, c := range []struct{ cores, vcpus, threads, want float64 }{
		{16, 4, 8, 8}, {8, 8, 8, 4}, {0, 4, 8, 0}, {8, 0, 16, 8 * 16.0 / 16},
	} {
		if got := AvailableCores(c.cores, c.vcpus, c.threads); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("AvailableCores(%v, %v, %v) = %v, want %v", c.cores, c.vcpus, c.threads, got, c.want)
		}
	}
}

func TestCostTableValidate(t *testing.T) {
	c := DefaultCosts()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Copy, c.MapLockedShare = -1, 2
	if err := c.Validate(); err == nil {
		t.Fatal("negative cost and share 2 accepted")
	}
}
