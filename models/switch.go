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

// postcopySwitch is when a pre-copy run, on either engine, hands over to
// post-copy: after a hybrid's live rounds, or once a forced switch has
// come. A is what the handover takes of the pages still to send.
type postcopySwitch[A any] struct {
	to     func(A) // the handover; nil: the run never switches
	after  int     // live rounds after which it is due; math.MaxInt: only when forced
	forced bool    // Input.ForcePostcopyAt has come
}

// due reports whether the switch is due at a decision after liveRounds
// live rounds.
func (s *postcopySwitch[A]) due(liveRounds int) bool {
	return s.to != nil && (liveRounds >= s.after || s.forced)
}

// pending reports whether a forced switch is due and has not happened
// yet, at time now, the run's stop reason being stop: the pre-copy's own
// max_time yields to it.
func (s *postcopySwitch[A]) pending(in Input, stop StopReason, now sim.Time) bool {
	at := in.ForcePostcopyAt
	return at > 0 && now >= sim.Time(at) && stop == 0 && s.to != nil
}

// force arranges the forced switch of in.ForcePostcopyAt, if any and no
// other switch is set: from then on the run switches at its next decision
// (the end of the pass under sync_policy pass, of the iteration step
// under qemu) unless it converges there, to the post-copy phase that
// handover(cfg) starts, cfg being QEMU's post-copy defaults with the
// pre-copy's own page costs (p) and a max_time budget of its own.
func (s *postcopySwitch[A]) force(eng *sim.Engine, in Input, p PrecopyParams, handover func(cfg postcopyConfig) func(A)) {
	at := in.ForcePostcopyAt
	if at <= 0 || s.to != nil {
		return
	}
	s.after = math.MaxInt
	s.to = handover(forcedPostcopyConfig(p, at))
	eng.Schedule(sim.Time(at), sim.PhaseClock, func() { s.forced = true })
}

// forcePostcopy arranges the forced switch of in.ForcePostcopyAt
// ([postcopySwitch.force]).
func (r *precopyRun) forcePostcopy() {
	r.sw.force(r.eng, r.in, r.p, r.postcopyHandover)
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
