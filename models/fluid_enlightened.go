package models

import (
	"context"
	"math"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// FluidEnlightened is [Enlightened] on the fluid engine (model.engine
// fluid).
//
// # Semantics
//
// The timing and bytes are [Enlightened]'s, exactly: free pages are never
// sent, the rest once each, the zero class as headers, and the last page
// lands when the link has sent them all. The guest's faults are a fluid
// model of its race with the push:
//
//   - The working set goes first, in the order the guest first touches
//     its pages, so the push and the guest move along one sequence: the
//     expected pages the guest first touches from the resume up to guest
//     time τ, U(τ) (from the closed forms of [traces.Expect], the epoch
//     under way at the stop from where it stopped, in random order
//     within each epoch, as the guest makes them). The list holds U(H),
//     H the end of the epoch in which ws_horizon ends (the page engine
//     marks whole epochs).
//   - The push has sent P of the list by wall time t; the pages of the
//     list up to P(t − RTT/2) have arrived. A guest whose next first
//     touch is past the arrival front waits for it (a minor fault each,
//     plus minor_fault_time): it rides the front until the push pulls
//     ahead. A guest past P (it cannot be: the push leads from the
//     resume, and a guest never gets ahead of pages on the wire) would
//     fault on the network.
//   - Past H the guest touches pages off the list, which the push sends
//     after the list, upward from page 0: there the fault model is
//     [FluidPostcopy]'s, over blocks of memory whose list and free pages
//     are at the destination.
//
// A guest that allocates pages (alloc_rate) takes the lowest free ones.
// The free pages are those of the trace header's free class it has not
// allocated by the stop ([Enlightened]'s, enlFree), in blocks of their
// own; those it allocates after the resume are on the page engine's list
// but cost the push nothing and the guest no wait, so U(τ) counts the
// other pages only.
//
// # Not covered
//
// A guest whose accesses within an epoch come in ascending order
// (workload.access_order ascending: the list is then the page engine's
// ascending order, which the guest races page by page).
type FluidEnlightened struct {
	p EnlightenedParams
}

// NewFluidEnlightened returns the fluid enlightened post-copy model.
func NewFluidEnlightened(p EnlightenedParams) (*FluidEnlightened, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &FluidEnlightened{p: p}, nil
}

// fluidCovers returns an error for what the fluid enlightened post-copy
// does not run on in: [FluidPostcopy]'s.
func (m *FluidEnlightened) fluidCovers(in Input) error {
	return (&FluidPostcopy{}).fluidCovers(in)
}

// Name returns "enlightened".
func (m *FluidEnlightened) Name() string { return "enlightened" }

// Run simulates one enlightened post-copy migration on the fluid engine.
func (m *FluidEnlightened) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one fluid enlightened post-copy migration beside others
// ([Launcher]).
func (m *FluidEnlightened) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *FluidEnlightened) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	if err := m.fluidCovers(in); err != nil {
		return nil, err
	}
	post := &FluidPostcopy{p: PostcopyParams{Push: Push{Prepaging: PrepagingNone, Pivots: 1}, Faults: m.p.Faults, Stream: m.p.Stream}}
	horizon := m.p.WSHorizon.Seconds()
	return post.launchWith(env, in, m.Name(), func(r *fluidPostcopyRun) { r.enl = &fluidEnl{ws: horizon} })
}

// fluidEnl is the state of a fluid enlightened post-copy: the list, the
// push along it and its recent positions (the arrival front).
type fluidEnl struct {
	ws      float64 // ws_horizon, guest seconds
	horizon float64 // H: guest seconds from the resume the list covers
	list    float64 // U(H): pages on the list
	pos     float64 // P: list pages sent
	listB   []float64
	freeB   []float64
	rest    bool         // the list is sent: the blocks hold the rest
	past    bool         // the guest is past H: the blocks' model runs it
	hist    [][2]float64 // (wall ns, P) samples over the last RTT/2 and more
}

// enlBegin sets the list and the free class when the phase begins.
func (r *fluidPostcopyRun) enlBegin() {
	e := r.enl
	ep := r.x.Epoch().Seconds()
	e.horizon = math.Ceil((r.resumeG+e.ws)/ep-1e-9)*ep - r.resumeG
	if e.horizon < 0 || e.ws <= 0 {
		e.horizon = 0
	}
	e.listB = make([]float64, len(r.blocks))
	e.freeB = make([]float64, len(r.blocks))
	// The free pages (r.skipped, enlFree: blocks of their own) are never
	// sent, and begin counted them as at the destination. On the list
	// they cost the push nothing and the guest no wait: the list counts
	// the others.
	for i := range r.blocks {
		e.freeB[i] = r.blocks[i].have
	}
	e.list = r.touched(e.horizon, e.listB)
	e.hist = append(e.hist[:0], [2]float64{float64(r.pushStart), 0})
}

// enlFree returns the pages free when the guest stops, which enlightened
// post-copy never sends: as [Enlightened] takes them, the trace header's
// free class but the pages written since the trace's start, which only a
// churning guest's allocations can be (its workload's writes stay in the
// working set).
func (r *fluidPostcopyRun) enlFree(lay traces.Layout) []traces.PageRange {
	if lay.ZeroLo <= lay.FreeLo {
		return nil
	}
	free := []traces.PageRange{{Lo: lay.FreeLo, Hi: lay.ZeroLo}}
	return traces.SubtractRanges(free, r.x.ChurnWritten(0, r.resumeG))
}

// touched returns U(τ), the expected pages the guest touches from the
// resume to τ guest seconds after it, and sets per[i] to block i's share
// when per is not nil.
func (r *fluidPostcopyRun) touched(tau float64, per []float64) float64 {
	k, phi := r.epochOf(r.resumeG + tau)
	var u float64
	for i := range r.blocks {
		v := 0.0
		if b := &r.blocks[i]; !b.zero && (r.enl == nil || r.enl.freeB[i] < b.n) {
			v = r.total(i, k, phi)
		}
		if per != nil {
			per[i] = v
		}
		u += v
	}
	return u
}

// front returns the arrival front, the list pages arrived by wall time t
// (ns): those sent by t − RTT/2.
func (e *fluidEnl) front(t, oneWay float64) float64 {
	at := t - oneWay
	h := e.hist
	if at <= h[0][0] {
		return h[0][1]
	}
	for j := len(h) - 1; j > 0; j-- {
		if at >= h[j-1][0] {
			a, c := h[j-1], h[j]
			if c[0] <= a[0] {
				return c[1]
			}
			return a[1] + (c[1]-a[1])*math.Min(1, (at-a[0])/(c[0]-a[0]))
		}
	}
	return h[0][1]
}

// enlPush spends budget ns of link time ending at wall time end (ns):
// the list first, then the rest by [fluidPostcopyRun.push].
func (r *fluidPostcopyRun) enlPush(budget, end float64) {
	e := r.enl
	if !e.rest {
		tau := r.tau(false)
		k := math.Min(e.list-e.pos, budget/tau)
		e.pos += k
		budget -= k * tau
		e.hist = append(e.hist, [2]float64{end, e.pos})
		// Keep the samples the front may still need.
		for len(e.hist) > 2 && e.hist[1][0] < end-r.oneWay {
			e.hist = e.hist[1:]
		}
		if e.pos >= e.list-1e-9 {
			e.rest = true
			for i := range r.blocks {
				b := &r.blocks[i]
				b.have = math.Min(b.n, e.freeB[i]+e.listB[i])
			}
		}
	}
	if e.rest && budget > 0 {
		r.push(budget, end-budget, end)
	}
}

// enlStep integrates one step of dt ns from odeT.
func (r *fluidPostcopyRun) enlStep(dt float64) {
	e := r.enl
	t0 := float64(r.odeT)
	run := math.Min(dt, t0+dt-float64(r.resumeAt))
	if run <= 0 {
		r.enlPush(dt, t0+dt)
		return
	}
	if r.guestT-r.resumeG >= e.horizon && e.rest {
		// Past the list: post-copy's model, the list's pages at the
		// destination and touched.
		if !e.past {
			e.past = true
			for i := range r.blocks {
				r.blocks[i].accessed = e.listB[i]
			}
		}
		r.blockStep(dt)
		return
	}
	if pre := dt - run; pre > 0 {
		r.enlPush(pre, t0+pre)
	}
	r.enlPush(run, t0+dt)
	r.enlGuest(run, t0+dt)
}

// enlGuest runs the guest on the list for up to dt ns of wall time ending
// at end (ns): free while its next first touch has arrived, else riding
// the arrival front, waiting for each page it touches first (a minor
// fault) until the push pulls ahead.
func (r *fluidPostcopyRun) enlGuest(dt, end float64) {
	e := r.enl
	step := dt / 1e9 // wall seconds
	gmax := step     // guest seconds it would run
	backlog := 0.0   // guest seconds it is behind its schedule at the step's start (catch_up)
	if r.in.CatchUp {
		due := r.resumeG + (end-float64(r.stopAt))/1e9
		gmax = math.Max(0, due-r.guestT)
		backlog = math.Max(0, gmax-step)
	}
	tau0 := r.guestT - r.resumeG
	gmax = math.Min(gmax, math.Max(0, e.horizon-tau0)) // the list ends at H
	x0 := r.touched(tau0, nil)
	a0, a1 := e.front(end-dt, r.oneWay), e.front(end, r.oneWay)
	g, stall, minor := gmax, 0.0, 0.0
	if r.touched(tau0+gmax, nil) > a1 {
		// It catches the front and gets as far as the front goes.
		inv := func(x float64) float64 { // the guest time at which it reaches x
			lo, hi := 0.0, gmax
			for range 40 {
				if hi-lo <= 1e-9*gmax+1e-12 {
					break
				}
				if mid := (lo + hi) / 2; r.touched(tau0+mid, nil) > x {
					hi = mid
				} else {
					lo = mid
				}
			}
			return lo
		}
		g = 0
		if a1 > x0 {
			g = inv(a1)
		}
		from := math.Max(x0, a0) // where it met the front
		minor = math.Max(0, a1-from)
		met := 0.0
		if from > x0 {
			met = inv(from)
		}
		// A first touch while it rides finds its page on the wire unless
		// the guest's gap since the last one, about exponential with mean
		// 1/u (its first touches per guest second), outlasts the push's
		// 1/R between pages: 1 − exp(−u/R) of them. Catching up, its
		// accesses come at once: all of them.
		if rate := (a1 - a0) / step; rate > 0 && g > met && (!r.in.CatchUp || backlog <= 0) {
			u := minor / (g - met)
			minor *= -math.Expm1(-u / rate)
		}
		if r.in.CatchUp {
			// It rides for the share of the step the front takes from
			// there. Behind its schedule it runs what the arrivals allow
			// at once and waits the whole ride; on schedule its accesses
			// between arrivals take their time.
			ride := step
			if a1 > a0 {
				ride = step * math.Min(1, (a1-from)/(a1-a0))
			}
			stall = math.Max(0, ride-math.Max(0, g-met-backlog))
		} else {
			stall = step - g
		}
	}
	// minor_fault_time per minor fault, out of the guest's time.
	if over := minor * r.cfg.minorFault.Seconds(); over > 0 {
		stall += over
		if !r.in.CatchUp {
			g = math.Max(0, g-over)
		}
	}
	stall = math.Min(stall, step)
	r.guestT += g
	r.minor += minor
	r.stall += stall
	if loss := stall / step; loss > 0 {
		a := r.odeT
		if a < r.resumeAt {
			a = r.resumeAt
		}
		r.meter.addLoss(a, a.Add(time.Duration(dt)), loss)
	}
}
