package models

import (
	"fmt"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// fluidGuest is the fluid engine's guest: the page-level [guest] without
// its pages. It keeps guest time (which a throttle slows and a stop
// halts) and, at each dirty-log sync, hands out the expected set of
// pages written since the last one, from the generator's closed forms
// ([traces.Expect]). It costs O(1) per speed change and O(pieces ×
// zipf buckets) per sync, whatever the memory size and however many
// epochs pass.
type fluidGuest struct {
	eng *sim.Engine
	x   *traces.Expect

	speed   float64  // guest time per wall time, in (0, 1]
	paused  bool     // the vCPUs no longer run
	mark    sim.Time // wall time of the last catch-up
	at      float64  // guest seconds at mark
	synced  float64  // guest seconds at the last sync
	winFrom float64  // guest seconds at the sync before: win is what was written since

	win traces.Window // the last sync's set, valid until the next sync

	// comp is the hint and balloon under the generator's churn, from the
	// skip point on (fluid_composition.go); nil otherwise.
	comp *fluidComp
	// bg is the guest OS's writes to its background pages
	// (fluid_background.go); nil without.
	bg *fluidBackground
}

func newFluidGuest(eng *sim.Engine, x *traces.Expect) *fluidGuest {
	return &fluidGuest{eng: eng, x: x, speed: 1}
}

// start begins execution at the current time.
func (g *fluidGuest) start() { g.mark = g.eng.Now() }

// catchUp brings guest time up to now.
func (g *fluidGuest) catchUp() {
	now := g.eng.Now()
	if !g.paused && now > g.mark {
		g.at += now.Sub(g.mark).Seconds() * g.speed
	}
	g.mark = now
}

// progress returns the guest seconds executed so far.
func (g *fluidGuest) progress() float64 {
	g.catchUp()
	return g.at
}

// setSpeed changes the guest's speed (1 − throttle) from now on.
func (g *fluidGuest) setSpeed(speed float64) {
	if speed <= 0 || speed > 1 {
		panic(fmt.Sprintf("models: guest speed %v outside (0, 1]", speed))
	}
	g.catchUp()
	g.speed = speed
}

// pause stops the guest.
func (g *fluidGuest) pause() {
	g.catchUp()
	g.paused = true
}

// sync returns the expected set of pages written since the last sync and
// starts a new window: a dirty-log sync. The set stays valid until the
// next sync.
func (g *fluidGuest) sync() *traces.Window {
	g.catchUp()
	if g.comp != nil {
		g.comp.observe(g.at)
	}
	g.written(g.synced, g.at, &g.win)
	g.winFrom, g.synced = g.synced, g.at
	return &g.win
}

// written sets w to the expected set of pages written in the guest-time
// window [a, c) between two syncs: under the hint or the balloon with
// churn, the churn's pages they leave in the dirty sets; with the guest
// OS's writes, its background pages too.
func (g *fluidGuest) written(a, c float64, w *traces.Window) {
	if g.comp != nil && a >= g.comp.syncs[0] {
		g.x.WrittenChurn(a, c, w, g.comp.churn(a, c))
	} else {
		g.x.Written(a, c, w)
	}
	g.bg.add(a, c, w)
}
