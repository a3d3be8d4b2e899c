package models

import (
	"testing"
	"time"

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
