package models

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

func runParallel(t testing.TB, p ParallelParams, in Input) *Result {
	t.Helper()
	m, err := NewParallel(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// bareParallel has no fixed costs and a compress stage of 10µs per page,
// the slowest stage by far: one worker moves 100 000 pages/s.
func bareParallel(workers int, lock sim.LockMode) ParallelParams {
	p := DefaultParallelParams()
	p.SetupTime, p.SyncTimePerGiB, p.ResumeTime = 0, 0, 0
	p.Workers, p.Lock = workers, lock
	p.Compression, p.CompressionRatio = "zstd", 2
	p.Costs.MapLockedShare = 0
	return p
}

// With a CPU-bound stage the migration time falls as 1/N until the link
// takes over at N = link pages/s ÷ worker pages/s, then stays flat.
func TestParallelScalesUntilLinkKnee(t *testing.T) {
	const pages = 1 << 18 // 1 GiB, idle guest: one pass, then stop-and-copy
	bw := 4 * units.Gbit
	in := input(pages, 1024, 0, 0, bw)
	zstd, _ := codecAt("zstd", 1, 2)
	worker := 1 / zstd.Compress.Seconds()
	wire := 4096.0/2 + 8
	linkPPS := float64(bw) / 8 / wire
	knee := linkPPS / worker
	t.Logf("worker %.0f pages/s, link %.0f pages/s, knee at %.2f workers", worker, linkPPS, knee)
	for _, n := range []int{1, 2, 3, 4, 5, 6, 8, 12, 16} {
		res := runParallel(t, bareParallel(n, sim.LockRange), in)
		want := pages / math.Min(float64(n)*worker, linkPPS)
		got := res.TotalTimeS
		if math.Abs(got-want)/want > 0.01 {
			t.Errorf("workers=%d: total %.3fs, want %.3fs", n, got, want)
		}
		wantB := "compress"
		if float64(n) > knee {
			wantB = "link"
		}
		if res.Bottleneck != wantB {
			t.Errorf("workers=%d: bottleneck %q, want %q", n, res.Bottleneck, wantB)
		}
		t.Logf("workers=%2d total=%.3fs bottleneck=%s", n, got, res.Bottleneck)
	}
}

// The range lock beats the global lock by a factor that grows with
// workers, and they are equal at one worker.
func TestParallelRangeLockGain(t *testing.T) {
	in := input(1<<18, 1024, 0, 0, 1000*units.Gbit) // a link that never binds
	prev := 0.0
	for _, n := range []int{1, 2, 4, 8, 16} {
		p := DefaultParallelParams()
		p.SetupTime, p.SyncTimePerGiB, p.ResumeTime = 0, 0, 0
		p.Workers = n
		p.Lock = sim.LockGlobal
		g := runParallel(t, p, in)
		p.Lock = sim.LockRange
		r := runParallel(t, p, in)
		gain := g.TotalTimeS / r.TotalTimeS
		t.Logf("workers=%2d global=%.3fs (%s) range=%.3fs (%s) gain=%.2f", n, g.TotalTimeS, g.Bottleneck, r.TotalTimeS, r.Bottleneck, gain)
		if n == 1 && math.Abs(gain-1) > 1e-9 {
			t.Errorf("one worker: gain %v, want 1", gain)
		}
		if n > 1 && gain <= prev*1.05 {
			t.Errorf("workers=%d: gain %.3f does not grow from %.3f", n, gain, prev)
		}
		prev = gain
	}
}

// PMigrate's headline shape: a memory-intensive guest (1.2 GB/s of writes
// over an 8 GiB working set) on a 40 Gbit/s link. One thread doing every
// stage in turn cannot outrun the writes, so Xen's caps (30 rounds, 3×
// memory sent) stop it with the whole working set dirty; eight pipelined
// range-locked workers converge. PMigrate reports 2.49-9.88× shorter
// migrations and 1.9-279.89× shorter downtime.
func TestParallelHeadlineShape(t *testing.T) {
	in := input(1<<22, 1<<21, 0, 300000, 40*units.Gbit) // 16 GiB
	in.VM.VCPUs = 4
	single := DefaultParallelParams()
	single.Workers, single.Pipeline, single.MaxRounds, single.MaxBytesFactor = 1, false, 30, 3
	par := DefaultParallelParams()
	par.Workers, par.Lock, par.MaxRounds, par.MaxBytesFactor = 8, sim.LockRange, 30, 3
	s := runParallel(t, single, in)
	p := runParallel(t, par, in)
	t.Logf("single: total %.2fs downtime %.3fs rounds %d stop %s bottleneck %s", s.TotalTimeS, s.DowntimeS, s.Rounds, s.StopReason, s.Bottleneck)
	t.Logf("8 workers: total %.2fs downtime %.3fs rounds %d stop %s bottleneck %s", p.TotalTimeS, p.DowntimeS, p.Rounds, p.StopReason, p.Bottleneck)
	if speed := s.TotalTimeS / p.TotalTimeS; speed < 2.5 || speed > 10 {
		t.Errorf("8 workers only %.2f× faster than one thread; PMigrate reports 2.49-9.88×", speed)
	}
	if d := s.DowntimeS / p.DowntimeS; d < 10 {
		t.Errorf("downtime only %.2f× shorter", d)
	}
	if !p.Converged || s.Converged {
		t.Errorf("want the single thread forced and the workers converged: %s, %s", s.StopReason, p.StopReason)
	}
}

// Per-worker bytes follow where the dirty pages are: a working set inside
// worker 0's range loads worker 0 alone after round 1, and the bytes add
// up to what was sent.
func TestParallelWorkerBytes(t *testing.T) {
	in := input(1<<18, 1<<14, 0, 50000, 10*units.Gbit)
	p := DefaultParallelParams()
	res := runParallel(t, p, in)
	if len(res.WorkerBytes) != p.Workers {
		t.Fatalf("worker_bytes %v, want %d entries", res.WorkerBytes, p.Workers)
	}
	var sum uint64
	for _, b := range res.WorkerBytes {
		sum += b
	}
	pageBytes := res.TransferredBytes - res.DeviceStateBytes
	if d := math.Abs(float64(sum) - float64(pageBytes)); d > float64(len(res.WorkerBytes)) {
		t.Errorf("worker bytes add to %d, sent %d", sum, pageBytes)
	}
	if res.WorkerBytes[0] <= res.WorkerBytes[1] {
		t.Errorf("worker 0 holds the working set but sent %d ≤ worker 1's %d", res.WorkerBytes[0], res.WorkerBytes[1])
	}
	if res.CPUSecondsSource <= 0 || res.CPUSecondsDestination <= 0 || res.CompressionRatio != 1 {
		t.Errorf("cpu %.3f/%.3f ratio %v", res.CPUSecondsSource, res.CPUSecondsDestination, res.CompressionRatio)
	}
	want := float64(res.Pages.Normal) * (sim.DefaultCosts().SourceSeconds())
	if math.Abs(res.CPUSecondsSource-want) > 1e-9*want {
		t.Errorf("cpu_seconds_source %.6f, want %.6f", res.CPUSecondsSource, want)
	}
}

// Busy vCPUs take source cores from the workers when the host is
// oversubscribed.
func TestParallelCoresOversubscribed(t *testing.T) {
	in := input(1<<18, 1024, 0, 0, 100*units.Gbit)
	in.VM.VCPUs = 8
	p := DefaultParallelParams()
	p.Workers, p.SourceCores = 8, 8
	res := runParallel(t, p, in)
	if res.Bottleneck != "source_cores" {
		t.Fatalf("bottleneck %q, want source_cores", res.Bottleneck)
	}
}

func TestParallelParamsValidate(t *testing.T) {
	for _, bad := range []func(*ParallelParams){
		func(p *ParallelParams) { p.Workers = 0 },
		func(p *ParallelParams) { p.Lock = "spin" },
		func(p *ParallelParams) { p.Compression = "lz4" },
		func(p *ParallelParams) { p.Costs.Copy = -time.Nanosecond },
		func(p *ParallelParams) { p.DowntimeLimit = 0 },
	} {
		p := DefaultParallelParams()
		bad(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("accepted %+v", p)
		}
	}
}

// countIn agrees with a page-by-page count on ranges with unaligned ends.
func TestDirtyLogCountIn(t *testing.T) {
	const pages = 1000
	d := newDirtyLog(pages)
	set := map[uint64]bool{}
	b := roaring.New()
	for p := uint64(0); p < pages; p += 7 {
		b.Add(uint32(p))
		set[p] = true
	}
	b.AddRange(130, 260)
	for p := uint64(130); p < 260; p++ {
		set[p] = true
	}
	d.add(b)
	for _, r := range [][2]uint64{{0, 1000}, {0, 0}, {3, 5}, {63, 65}, {64, 128}, {100, 999}, {129, 261}, {500, 501}} {
		var want uint64
		for p := r[0]; p < r[1]; p++ {
			if set[p] {
				want++
			}
		}
		if got := d.countIn(r[0], r[1]); got != want {
			t.Errorf("countIn(%d, %d) = %d, want %d", r[0], r[1], got, want)
		}
	}
}
