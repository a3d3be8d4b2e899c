package models

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFluidWindowMeanWait checks the fluid post-copy's wait for the
// source's rate-limit windows against a direct simulation of the same
// loop, request by request: a request reaching the source at phase φ of
// its window waits to the burst's end (φ < f·w) or to the next window;
// its page arrives c later; the guest runs an exponential time of mean
// run and its next request reaches the source e after its fault. Bursts
// of a quarter, half and nine tenths of 100 ms windows, guests that
// fault at once, every 1, 30 and 400 ms; within 1 % (or 0.1 ms). A guest
// that runs long between faults lands uniformly, (f² + (1 − f)²)·w/2.
func TestFluidWindowMeanWait(t *testing.T) {
	const w = 100e6
	e, c := 20e3+50e3, 1.5*33e3+50e3
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []float64{0.25, 0.5, 0.9} {
		fw := fluidWindow{w: w, f: f}
		for _, run := range []float64{0, 1e6, 30e6, 400e6} {
			got := fw.meanWait(e, c, run)
			// Simulate the loop.
			const n = 400000
			served, sum := 0.0, 0.0
			for range n {
				y := 0.0
				if run > 0 {
					y = rng.ExpFloat64() * run
				}
				req := served + c + y + e
				start := math.Floor(req/w) * w
				next := start + w
				if req < start+f*w {
					next = start + f*w
				}
				sum += next - req
				served = next
			}
			want := sum / n
			t.Logf("burst %.2f, run %5.0f ms: wait %6.2f ms, simulated %6.2f ms", f, run/1e6, got/1e6, want/1e6)
			if math.Abs(got-want) > max(0.01*want, 1e5) {
				t.Errorf("burst %.2f, run %.0f ms: mean wait %.3f ms, simulated %.3f ms", f, run/1e6, got/1e6, want/1e6)
			}
		}
		if got, want := fw.meanWait(e, c, 1e15), (f*f+(1-f)*(1-f))*w/2; math.Abs(got-want) > 1e-3*want {
			t.Errorf("burst %.2f, a guest that runs long: %.3f ms, want the uniform %.3f ms", f, got/1e6, want/1e6)
		}
	}
	if got := (fluidWindow{}).meanWait(e, c, 1e6); got != 0 {
		t.Errorf("no windows: wait %v, want 0", got)
	}
}
