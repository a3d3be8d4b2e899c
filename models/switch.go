package models

import (
	"math"
	"time"

	"github.com/migsim/migsim/sim"
)

// The switch from pre-copy to post-copy: after a hybrid's precopy_rounds
// (hybrid.go), or when the management layer forces it at a time
// ([Input.ForcePostcopyAt], as OpenStack Nova's force-complete issues
// QEMU's migrate-start-postcopy after its timeout).

// postcopyHandover returns the handover that switches r to post-copy
// under cfg: the guest stops, the pages still dirty (the last sync's set
// and what was written since) become post-copy's missing set, and the
// post-copy phase goes on from here on the same network.
func (pre *precopyRun) postcopyHandover(cfg postcopyConfig) func(dirty *dirtyLog) {
	return func(dirty *dirtyLog) {
		eng, g, comp := pre.eng, pre.g, pre.comp
		now := eng.Now()
		res := pre.res
		res.BandwidthBps = pre.liveBytes * 8 / now.Sub(pre.liveStart).Seconds()
		res.ExpectedDowntimeS = pre.lastExpected
		res.StopReason = StopPostcopy // the pre-copy run's time limit no longer applies
		g.pause()
		comp.stopInflating()
		if g.dirty.count > 0 { // written since the last round's sync
			dirty.or(g.dirty)
		}
		missing := dirty.bitmap()
		g.sync() // the final sync, with the guest stopped
		res.DirtySyncCount++
		post := newPostcopyRun(cfg, pre.in, pre.env, g, res)
		post.preBytes, post.preNormal, post.preZero = pre.transferred, pre.normalPages, pre.zeroPages
		pre.fillHandoverCPU(res)
		pre.xb.fill(res) // XBZRLE ends with the pre-copy rounds
		post.begin(pre.syncCost, &postcopyPlan{
			missing: missing,
			order:   newPivotOrder(cfg.prepaging, g.hdr.PageCount, cfg.pivots),
			san:     comp.restore(),
		})
	}
}

// forcePostcopy arranges the forced switch of in.ForcePostcopyAt, if
// any: from then on the run switches at its next decision (the end of
// the pass under sync_policy pass, of the iteration step under qemu)
// unless it converges there, with QEMU's post-copy defaults and the
// pre-copy's own page costs. The post-copy phase gets a max_time budget
// of its own from the switch.
func (r *precopyRun) forcePostcopy() {
	at := r.in.ForcePostcopyAt
	if at <= 0 || r.handover != nil {
		return
	}
	r.handoverAfter = math.MaxInt
	r.handover = r.postcopyHandover(forcedPostcopyConfig(r.p, at))
	r.eng.Schedule(sim.Time(at), sim.PhaseClock, func() { r.forceSwitch = true })
}

// forcedPostcopyConfig is the post-copy phase of a switch forced at at
// on a pre-copy with parameters p: QEMU's post-copy defaults with the
// pre-copy's own page costs and a max_time budget of its own.
func forcedPostcopyConfig(p PrecopyParams, at time.Duration) postcopyConfig {
	post := DefaultPostcopyParams()
	post.SetupTime, post.ResumeTime = p.SetupTime, p.ResumeTime
	post.PageHeader, post.ZeroPageBytes = p.PageHeader, p.ZeroPageBytes
	post.MaxTime = at + p.MaxTime
	return post.config()
}

// switchDue reports whether a handover is due at this decision.
func (r *precopyRun) switchDue() bool {
	return r.handover != nil && (r.liveRounds >= r.handoverAfter || r.forceSwitch)
}

// forcedPending reports whether a forced switch is due and has not
// happened yet, at time now: the pre-copy's own max_time yields to it.
func (r *precopyRun) forcedPending(now sim.Time) bool {
	at := r.in.ForcePostcopyAt
	return at > 0 && now >= sim.Time(at) && r.res.StopReason == 0 && r.handover != nil
}
