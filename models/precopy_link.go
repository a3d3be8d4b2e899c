package models

import "github.com/migsim/migsim/sim"

// The pre-copy rounds' passes over the network: over the run's own path,
// or over a network shared with other migrations (a fleet), whose share
// changes while a pass is under way.

// send plans a pass of bytes from time at over the run's connection,
// capped at capBps when positive, and keeps the connection's state. On a
// shared network each later plan of the same pass goes to retime (which
// may be nil).
func (r *precopyRun) send(at sim.Time, bytes, capBps float64, retime func(sim.Transfer)) sim.Transfer {
	var x sim.Transfer
	if r.env.net == nil {
		x, r.conn = r.in.Path.Send(r.conn, at, bytes, capBps)
		return x
	}
	x, r.conn = r.env.net.Send(r.conn, at, bytes, capBps, func(nx sim.Transfer, c sim.Conn) {
		r.conn = c
		if retime != nil {
			retime(nx)
		}
	})
	return x
}

// steadyBps is [sim.Path.SteadyBps] over the run's path, or on the share
// the shared network offers now.
func (r *precopyRun) steadyBps(k int, at sim.Time, capBps float64) float64 {
	if r.env.net == nil {
		return r.in.Path.SteadyBps(k, at, capBps)
	}
	return r.env.net.SteadyBps(k, at, capBps)
}

// livePass sends a live round's pass (or one chunk of it, under sync
// policy qemu) from now, feeds the throughput meter with its pieces and
// calls end when its last byte has left. A new plan of the pass (the
// share changed) moves end and replaces the pass's pieces in the meter.
func (r *precopyRun) livePass(now sim.Time, bytes, capBps float64, end func()) {
	plan := func(x sim.Transfer) {
		if r.q == nil {
			r.round.EffectiveBandwidthBps = x.Bps()
		}
		for _, sp := range x.Spans {
			r.meter.add(now.Add(sp.Start), now.Add(sp.End), sp.Bytes)
		}
		r.roundEnd = r.eng.Schedule(now.Add(x.Duration), sim.PhaseDecide, end)
	}
	plan(r.send(now, bytes, capBps, func(x sim.Transfer) {
		r.eng.Cancel(r.roundEnd)
		r.meter.cut(now)
		plan(x)
	}))
}
