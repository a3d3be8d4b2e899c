package models

import (
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// TestBackgroundPages: the guest OS's working set is read every epoch.
// Reads dirty nothing, so pre-copy's result is unchanged; an idle guest
// in pure post-copy faults once on each background page the push has not
// brought yet, and on nothing else; more background means more requests
// and more stall.
func TestBackgroundPages(t *testing.T) {
	const pages = 1 << 15
	mem := units.Bytes(pages * 4096)
	busy := genTrace(genSpec("uniform", 4000, 0, mem/2, 0.25), mem, 1)
	in := pcInput(busy, pages, 200*units.Mbit, time.Millisecond)
	m, err := NewPrecopy(DefaultPrecopyParams())
	base := runModel(t, m, err, in)
	in.BackgroundPages = 200
	withBg := runModel(t, m, err, in)
	if base.TransferredBytes != withBg.TransferredBytes || base.TotalTimeS != withBg.TotalTimeS || base.Rounds != withBg.Rounds {
		t.Errorf("pre-copy changed by background reads: %d bytes, %v s, %d rounds; without %d, %v, %d",
			withBg.TransferredBytes, withBg.TotalTimeS, withBg.Rounds, base.TransferredBytes, base.TotalTimeS, base.Rounds)
	}

	idle := genTrace(genSpec("uniform", 1, 0, 4096*16, 0), mem, 1)
	var last *Result
	for _, n := range []int{0, 50, 200} {
		in := pcInput(idle, pages, 200*units.Mbit, time.Millisecond)
		in.BackgroundPages = n
		res := runPostcopyModel(t, DefaultPostcopyParams(), in)
		t.Logf("background %d: %d requests, stall %.3fs", n, res.PostcopyRequests, res.StallTimeS)
		if res.PostcopyRequests > uint64(n)+16 { // 16: the idle trace's few pages
			t.Errorf("background %d: %d requests, more than the background and the trace's pages", n, res.PostcopyRequests)
		}
		if n > 0 && res.PostcopyRequests < uint64(n)/2 {
			t.Errorf("background %d: only %d requests: the push cannot have brought half of them first", n, res.PostcopyRequests)
		}
		if last != nil && (res.PostcopyRequests <= last.PostcopyRequests || res.StallTimeS <= last.StallTimeS) {
			t.Errorf("background %d: %d requests, %.3fs stall, not above the smaller background's %d, %.3fs", n, res.PostcopyRequests, res.StallTimeS, last.PostcopyRequests, last.StallTimeS)
		}
		last = res
	}
}

// TestBackgroundIn holds backgroundIn, the count of background pages in
// a range, to the pages withBackground places, one by one.
func TestBackgroundIn(t *testing.T) {
	for _, c := range []struct{ n, pages uint64 }{{1, 1}, {7, 100}, {300, 65536}, {2000, 65536}, {100, 50}, {65536, 65536}} {
		n := min(c.n, c.pages)
		at := make([]uint64, n)
		for k := range n {
			at[k] = (2*k + 1) * c.pages / (2 * n)
		}
		for _, r := range [][2]uint64{{0, c.pages}, {0, 0}, {c.pages / 3, c.pages / 2}, {c.pages / 5, c.pages/5 + 1}, {c.pages - 1, c.pages}, {c.pages / 2, c.pages / 3}} {
			var want uint64
			for _, p := range at {
				if p >= r[0] && p < r[1] {
					want++
				}
			}
			if got := backgroundIn(c.n, c.pages, r[0], r[1]); got != want {
				t.Errorf("%d of %d pages in [%d, %d): %d, want %d", c.n, c.pages, r[0], r[1], got, want)
			}
		}
	}
}

// TestBackgroundWrites: with a write rate, each epoch writes the next
// ⌊rate × epoch⌋ background pages in turn, the fraction carried over, and
// all of them once that reaches their number; written pages leave the
// reads, and every background page is still touched every epoch.
func TestBackgroundWrites(t *testing.T) {
	const pages = 1 << 12
	mem := units.Bytes(pages * 4096)
	idle := genTrace(genSpec("uniform", 1, 0, 4096*4, 0), mem, 1)
	epoch := traces.DefaultGenEpoch.Seconds()
	for _, c := range []struct {
		perEpoch float64
		want     []int // background writes in the first epochs
	}{
		{2.5, []int{2, 3, 2, 3, 2, 3, 2, 3}},
		{0.4, []int{0, 0, 1, 0, 1, 0, 0, 1}},
		{10, []int{10, 10, 10}},
		{25, []int{10, 10, 10}},
	} {
		in := Input{BackgroundPages: 10, BackgroundWriteRate: c.perEpoch / epoch}
		src, err := withBackground(idle, in)()
		if err != nil {
			t.Fatal(err)
		}
		bg := roaring.New()
		for k := range uint64(10) {
			bg.Add(uint32((2*k + 1) * pages / 20))
		}
		times := map[uint32]int{}
		var e traces.Epoch
		for i, want := range c.want {
			e.Reset()
			if err := src.Next(&e); err != nil {
				t.Fatal(err)
			}
			w := roaring.New()
			if e.Written != nil {
				w = roaring.And(e.Written, bg)
			}
			if got := int(w.GetCardinality()); got != want {
				t.Errorf("%.1f a epoch, epoch %d: %d background writes, want %d", c.perEpoch, i, got, want)
			}
			w.Iterate(func(p uint32) bool { times[p]++; return true })
			if e.Read != nil && e.Written != nil && roaring.And(e.Read, e.Written).GetCardinality() > 0 {
				t.Errorf("epoch %d reads pages it writes", i)
			}
			touched := roaring.Or(e.Read, e.Written)
			if !roaring.And(touched, bg).Equals(bg) {
				t.Errorf("epoch %d leaves background pages untouched", i)
			}
		}
		// In turn: no page is written twice before every page once.
		if c.perEpoch == 2.5 {
			for p, n := range times {
				if n != 2 {
					t.Errorf("2.5 a epoch over 8 epochs: page %d written %d times, want each of the 10 twice", p, n)
				}
			}
		}
		_ = traces.Close(src)
	}
}

// TestBackgroundWritesDecideConvergence is the lab's near-threshold case
// (validate/suites/threshold.yaml): 10,000 writes/s over a hot working
// set, max-bandwidth 100 Mbit/s and a 300 ms limit (3.6 MiB), under
// QEMU's iteration. Real QEMU converges at 3 MiB and not at 4 MiB; on the
// workload alone the model converges at both, since QEMU's sync finds
// each cycle's writes and the guest OS's. With the guest OS rewriting its
// 100 background pages every epoch (the lab's base scenario) it converges
// at 3 MiB and not at 4 MiB, and sends more than without.
func TestBackgroundWritesDecideConvergence(t *testing.T) {
	const pages = 1 << 15
	mem := units.Bytes(pages * 4096)
	p := DefaultPrecopyParams()
	p.Rounds.DowntimeLimit = 300 * time.Millisecond
	p.Rounds.MaxBandwidth = 100 * units.Mbit
	p.Stream.MaxTime = 60 * time.Second
	m, err := NewPrecopy(p)
	for _, c := range []struct {
		ws   units.Bytes
		rate float64
		want bool
	}{
		{3 * units.MiB, 0, true},
		{4 * units.MiB, 0, true},
		{3 * units.MiB, 10000, true},
		{4 * units.MiB, 10000, false},
	} {
		spec := genSpec("uniform", 10000, 0, c.ws, 0)
		in := pcInput(genTrace(spec, mem, 1), pages, 2*units.Gbit, 50*time.Microsecond)
		in.BackgroundPages = 100
		in.BackgroundWriteRate = c.rate
		res := runModel(t, m, err, in)
		t.Logf("%v, background writes %v/s: converged %v (%s) after %.2f s, %d syncs", c.ws, c.rate, res.Converged, res.StopReason, res.TotalTimeS, res.DirtySyncCount)
		if res.Converged != c.want {
			t.Errorf("%v, background writes %v/s: converged %v, want %v", c.ws, c.rate, res.Converged, c.want)
		}
		if c.rate > 0 && c.want {
			in.BackgroundWriteRate = 0
			base := runModel(t, m, err, in)
			if res.TransferredBytes <= base.TransferredBytes {
				t.Errorf("%v: %d bytes with the background rewritten, not more than the %d without", c.ws, res.TransferredBytes, base.TransferredBytes)
			}
		}
	}
}

// TestBackgroundLeavesSharedSetsAlone: a trace cache hands every reader
// the same read-only sets; the background's reads and writes must go to
// sets of its own, or every other run of the workload would replay them.
func TestBackgroundLeavesSharedSetsAlone(t *testing.T) {
	const pages = 1 << 12
	mem := units.Bytes(pages * 4096)
	gen := genTrace(genSpec("uniform", 20000, 10000, mem/2, 0), mem, 3)
	cache := traces.NewCache(1 << 30)
	shared := cache.Opener("w", gen)
	read := func(open traces.Opener, n int) (w, r []*roaring.Bitmap) {
		t.Helper()
		src, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = traces.Close(src) }()
		var e traces.Epoch
		for range n {
			if err := src.Next(&e); err != nil {
				t.Fatal(err)
			}
			w, r = append(w, e.Written.Clone()), append(r, e.Read.Clone())
		}
		return w, r
	}
	wantW, wantR := read(gen, 20)
	in := Input{BackgroundPages: 50, BackgroundWriteRate: 1000}
	bgW, _ := read(withBackground(shared, in), 20)
	gotW, gotR := read(shared, 20)
	for i := range wantW {
		if !gotW[i].Equals(wantW[i]) || !gotR[i].Equals(wantR[i]) {
			t.Fatalf("epoch %d: the cached sets changed under the background (%d written, want %d; %d read, want %d)",
				i, gotW[i].GetCardinality(), wantW[i].GetCardinality(), gotR[i].GetCardinality(), wantR[i].GetCardinality())
		}
		if bgW[i].GetCardinality() <= wantW[i].GetCardinality() && i > 0 {
			t.Errorf("epoch %d: the background wrote nothing (%d written, the workload alone %d)", i, bgW[i].GetCardinality(), wantW[i].GetCardinality())
		}
	}
}
