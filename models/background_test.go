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
