package models

import (
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestPostcopyCatchUp: an open-loop guest (Input.CatchUp) runs its
// overdue accesses at once after each stall, a closed-loop one keeps its
// pace shifted by the stall. Pure post-copy ends when the push does,
// whatever the guest does, so both runs take the same time; by then the
// open-loop guest is back on its schedule, ahead of the closed-loop one
// by the downtime plus the stalls the latter took (within an epoch); and
// having run more of its trace in the same time, it faulted more.
func TestPostcopyCatchUp(t *testing.T) {
	const pages = 1 << 15
	mem := units.Bytes(pages * 4096)
	for _, bw := range []units.BitRate{200 * units.Mbit, units.Gbit} {
		in := pcInput(genTrace(genSpec("uniform", 4000, 4000, mem/2, 0.25), mem, 1), pages, bw, 2*time.Millisecond)
		p := DefaultPostcopyParams()
		closed := runPostcopyModel(t, p, in)
		in.CatchUp = true
		open := runPostcopyModel(t, p, in)
		t.Logf("%v: closed loop: guest %.3fs, %d requests, stall %.3fs; open loop: guest %.3fs, %d requests, stall %.3fs; downtime %.3fs",
			bw, closed.GuestTimeS, closed.PostcopyRequests, closed.StallTimeS, open.GuestTimeS, open.PostcopyRequests, open.StallTimeS, closed.DowntimeS)
		if open.TotalTimeS != closed.TotalTimeS {
			t.Errorf("%v: total time %v open loop, %v closed: the push alone decides it", bw, open.TotalTimeS, closed.TotalTimeS)
		}
		want := closed.GuestTimeS + closed.DowntimeS + closed.StallTimeS
		if math.Abs(open.GuestTimeS-want) > 0.010 {
			t.Errorf("%v: open-loop guest reached %.4fs, want the closed loop's %.4fs + downtime + stalls = %.4fs", bw, open.GuestTimeS, closed.GuestTimeS, want)
		}
		if open.PostcopyRequests <= closed.PostcopyRequests {
			t.Errorf("%v: open loop %d requests, closed %d: catching up must fault more", bw, open.PostcopyRequests, closed.PostcopyRequests)
		}
		if open.PostcopyBytes != closed.PostcopyBytes {
			t.Errorf("%v: post-copy bytes %d open loop, %d closed: every page crosses once either way", bw, open.PostcopyBytes, closed.PostcopyBytes)
		}
	}
}
