package models

import (
	"math"
	"slices"
)

// The fluid post-copy's wait for the source's rate-limit windows
// (postcopy_ratelimit.go): a capped push without postcopy_preempt or
// multifd channels, whose page requests wait for the end of the window's
// burst, or for the next window.
//
// The windows split the guest's requests into two kinds by where the
// source serves them: at the end of a burst (phase f·w of the window) or
// at a window's start (phase 0). The page then follows the pushed page on
// the link (half a page on average), takes its own page time and half an
// RTT; the guest runs on for an exponential time of mean run (its mean
// run between network faults) and faults again; the request reaches the
// source a fault service and half an RTT later. So where the next request
// lands in its window, and how long it waits, depend only on the kind of
// the last one: a two-state Markov chain, whose stationary mix weighs
// each kind's mean wait. A guest that runs long between faults lands
// uniformly: (f² + (1 − f)²)·w/2.

// fluidWindow is the rate limiter as the fluid post-copy sees it.
type fluidWindow struct {
	w, f float64 // window, ns; the share of it the burst fills (0: no wait)
}

// newFluidWindow returns r's rate limiter, as [postcopyRun.useWindow]
// sets it: none with preempt (postcopy_preempt or multifd channels),
// without a cap or window, or when the cap is at least the path's
// uncapped rate.
func (r *fluidPostcopyRun) newFluidWindow() fluidWindow {
	if r.preempt || r.cfg.capBps <= 0 || r.cfg.window <= 0 {
		return fluidWindow{}
	}
	full := r.path(0).SteadyBps(0, 0, 0)
	if full <= r.cfg.capBps {
		return fluidWindow{}
	}
	return fluidWindow{w: float64(r.cfg.window), f: r.cfg.capBps / full}
}

// active reports whether requests wait for the windows.
func (fw fluidWindow) active() bool { return fw.w > 0 && fw.f > 0 && fw.f < 1 }

// meanWait returns the mean time, ns, a request waits at the source for
// the windows, where e is the time from a fault to its request reaching
// the source, c from the request's service to the page's arrival, and
// run the guest's mean run between network faults (0: it faults at once).
func (fw fluidWindow) meanWait(e, c, run float64) float64 {
	if !fw.active() {
		return 0
	}
	burst := fw.f * fw.w
	waitB, pB := fw.from(burst+c+e, run) // served at a burst's end last time
	waitS, pS := fw.from(c+e, run)       // at a window's start
	// Stationary share of burst-end services: pi = pi·pB + (1 − pi)·pS.
	// When both states keep to themselves (pB = 1, pS = 0), the first
	// request decides: it lands in a burst with chance f.
	pi := fw.f
	if d := 1 - pB + pS; d > 1e-12 {
		pi = pS / d
	}
	return pi*waitB + (1-pi)*waitS
}

// from returns, for a request reaching the source at a + Y (ns, Y
// exponential with mean run, windows starting at multiples of w), its
// mean wait and the probability that it lands in a burst (and is served
// at the burst's end).
func (fw fluidWindow) from(a, run float64) (wait, pBurst float64) {
	w, burst := fw.w, fw.f*fw.w
	a0 := math.Mod(a, w)
	waitAt := func(phi float64) float64 {
		if phi < burst {
			return burst - phi
		}
		return w - phi
	}
	lw := 0.0
	if run > 0 {
		lw = w / run
	}
	if run <= 0 || lw > 700 {
		// The guest faults at once (or well within a window): Y ≈ its mean.
		phi := math.Mod(a0+math.Max(run, 0), w)
		if phi < burst {
			return waitAt(phi), 1
		}
		return waitAt(phi), 0
	}
	if lw < 1e-4 {
		// Y spreads over many windows: the phase is uniform.
		return (fw.f*fw.f + (1-fw.f)*(1-fw.f)) * w / 2, fw.f
	}
	// Y mod w has density λ·e^(−λu)/Z on [0, w), Z = 1 − e^(−λw). Split
	// [0, w) where the phase a0 + u (mod w) crosses the burst's end or the
	// window's; on each piece the wait is A − u for a constant A.
	lam := 1 / run
	z := -math.Expm1(-lam * w)
	cuts := []float64{0, w, math.Mod(burst-a0+w, w), math.Mod(w-a0, w)}
	slices.Sort(cuts)
	for i := 0; i+1 < len(cuts); i++ {
		u0, u1 := cuts[i], cuts[i+1]
		if u1 <= u0 {
			continue
		}
		// The piece's phase is a0 + u − m·w, in the burst or not
		// throughout: judged at its middle, clear of rounding at the cuts.
		m := math.Floor((a0 + (u0+u1)/2) / w)
		end, inBurst := w, a0+(u0+u1)/2-m*w < burst
		if inBurst {
			end = burst
		}
		A := end - a0 + m*w // wait = A − u on the piece
		e0, e1 := math.Exp(-lam*u0), math.Exp(-lam*u1)
		mass := e0 - e1
		// ∫ u λ e^(−λu) du over the piece.
		mom := (e0*(1+lam*u0) - e1*(1+lam*u1)) / lam
		wait += A*mass - mom
		if inBurst {
			pBurst += mass
		}
	}
	return wait / z, pBurst / z
}
