package models

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

func runHybrid(t *testing.T, p HybridParams, in Input) *Result {
	t.Helper()
	m, err := NewHybrid(p)
	return runModel(t, m, err, in)
}

// jsonAs returns res as JSON with its model name replaced by model.
func jsonAs(t *testing.T, res *Result, model string) []byte {
	t.Helper()
	c := *res
	c.Model = model
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// N live pre-copy rounds, then the pages dirtied in round N go by
// post-copy: each crosses once more, and the switch's downtime is the
// final sync + device state + resume + RTT.
func TestHybridRoundsThenPostcopy(t *testing.T) {
	const pages = 1 << 17
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("uniform", 20000, 5000, mem/2, 0.25), mem, 1), pages, units.Gbit, 200*time.Microsecond)
	for _, n := range []int{1, 2, 3} {
		p := passHybridParams() // whole-pass rounds: the switch follows round n's pass
		p.PrecopyRounds = n
		p.Prepaging = PrepagingBubbling
		res := runHybrid(t, p, in)
		if res.StopReason != StopPostcopy || !res.Completed || res.Rounds != n+1 {
			t.Fatalf("%d rounds: stop %v completed %v rounds %d", n, res.StopReason, res.Completed, res.Rounds)
		}
		var live uint64
		for _, r := range res.RoundsDetail[:n] {
			if r.Postcopy || r.StopAndCopy {
				t.Fatalf("round %d is not a live round: %+v", r.Round, r)
			}
			live += r.Bytes
		}
		last := res.RoundsDetail[n]
		dirty := res.RoundsDetail[n-1].DirtiedPages
		if !last.Postcopy || last.Pages != dirty || last.ZeroPages != 0 {
			t.Errorf("%d rounds: post-copy pass %+v, want the %d pages dirtied in round %d", n, last, dirty, n)
		}
		if res.PrecopyBytes != live || res.PostcopyBytes != dirty*(4096+8) {
			t.Errorf("%d rounds: precopy_bytes %d (rounds %d), postcopy_bytes %d (want %d)", n, res.PrecopyBytes, live, res.PostcopyBytes, dirty*4104)
		}
		if res.TransferredBytes != res.PrecopyBytes+res.PostcopyBytes+res.DeviceStateBytes {
			t.Errorf("%d rounds: transferred %d ≠ pre %d + post %d + device %d", n, res.TransferredBytes, res.PrecopyBytes, res.PostcopyBytes, res.DeviceStateBytes)
		}
		sync := float64(p.SyncTimePerGiB) * float64(mem) / float64(units.GiB) / 1e9
		devT := math.Ceil(float64(in.VM.DeviceState)*8/1e9*1e9) / 1e9
		want := sync + devT + p.ResumeTime.Seconds() + in.Path.RTT.Seconds()
		if math.Abs(res.DowntimeS-want) > 2e-9 {
			t.Errorf("%d rounds: downtime %v s, want sync + device + resume + RTT = %v s", n, res.DowntimeS, want)
		}
		if res.DirtySyncCount != n+2 {
			t.Errorf("%d rounds: %d syncs, want setup + one per round + the switch's", n, res.DirtySyncCount)
		}
	}
}

// precopy_rounds 0 is pure post-copy, field for field.
func TestHybridZeroRoundsIsPostcopy(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("hotcold", 10000, 10000, mem/2, 0.1), mem, 3), pages, units.Gbit, time.Millisecond)
	h := DefaultHybridParams()
	h.PrecopyRounds = 0
	h.Prepaging = PrepagingBubbling
	p := postcopyWith(PrepagingBubbling)
	got, want := jsonAs(t, runHybrid(t, h, in), "x"), jsonAs(t, runPostcopyModel(t, p, in), "x")
	if !bytes.Equal(got, want) {
		t.Fatalf("hybrid with 0 rounds:\n%s\npostcopy:\n%s", got, want)
	}
}

// A hybrid whose pre-copy converges within its rounds completes as
// pre-copy, field for field.
func TestHybridConvergesAsPrecopy(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("uniform", 500, 5000, mem/4, 0.1), mem, 1), pages, units.Gbit, 200*time.Microsecond)
	h := DefaultHybridParams()
	h.PrecopyRounds = 5
	res := runHybrid(t, h, in)
	m, err := NewPrecopy(DefaultPrecopyParams())
	pre := runModel(t, m, err, in)
	if !pre.Converged || pre.Rounds > 5 {
		t.Fatalf("pre-copy: converged %v in %d rounds; the case needs it within 5", pre.Converged, pre.Rounds)
	}
	if got, want := jsonAs(t, res, "x"), jsonAs(t, pre, "x"); !bytes.Equal(got, want) {
		t.Fatalf("hybrid:\n%s\nprecopy:\n%s", got, want)
	}
}

// On a write-heavy guest, one pre-copy pass then post-copy sends fewer
// bytes than pre-copy (dirty pages cross at most twice) and faults less
// than pure post-copy (only pages dirtied in the pass are missing).
func TestHybridBetweenPrecopyAndPostcopy(t *testing.T) {
	const pages = 1 << 17
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("hotcold", 25000, 10000, mem/2, 0), mem, 1), pages, units.Gbit, 200*time.Microsecond)
	m, err := NewPrecopy(DefaultPrecopyParams())
	pre := runModel(t, m, err, in)
	post := runPostcopyModel(t, DefaultPostcopyParams(), in)
	hyb := runHybrid(t, DefaultHybridParams(), in)
	t.Logf("pre-copy %d bytes %.2f s; hybrid %d bytes %.2f s %d requests %.3f s stalled; post-copy %d bytes %.2f s %d requests %.3f s stalled",
		pre.TransferredBytes, pre.TotalTimeS, hyb.TransferredBytes, hyb.TotalTimeS, hyb.PostcopyRequests, hyb.StallTimeS,
		post.TransferredBytes, post.TotalTimeS, post.PostcopyRequests, post.StallTimeS)
	if hyb.TransferredBytes >= pre.TransferredBytes {
		t.Errorf("hybrid sent %d bytes, pre-copy %d", hyb.TransferredBytes, pre.TransferredBytes)
	}
	if hyb.PostcopyRequests >= post.PostcopyRequests || hyb.StallTimeS >= post.StallTimeS {
		t.Errorf("hybrid %d requests (%v s), post-copy %d (%v s)", hyb.PostcopyRequests, hyb.StallTimeS, post.PostcopyRequests, post.StallTimeS)
	}
}
