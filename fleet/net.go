package fleet

import (
	"math"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// vmNet is one migration's view of the fleet's network ([models.SharedNet]):
// its own path (round trip, loss, TCP window and segment size) whose rate
// is the share the flow network offers it over the resources it crosses
// (its source's NIC out, the path between its hosts, its destination's
// NIC in).
//
// A transfer is one flow from its start until its latest plan ends. Its
// plan is [sim.Path.Send] from its start with the offers it has had so
// far as the path's bandwidth schedule, so that TCP's slow start and
// window limits act on the share exactly as they act on a path of its
// own, and a migration alone on idle resources is planned exactly as
// `migsim run` plans it. Each change of offer re-plans the transfer and
// hands the plan to the model.
type vmNet struct {
	net       *sim.FlowNetwork
	eng       *sim.Engine // the migration's sub-engine: its times
	path      sim.Path    // the migration's path; Bandwidth and Schedule are set per plan
	resources []*sim.Resource
	capBps    float64 // plan.bandwidth_per_migration, bits/s; 0: none
	cur       *transfer
	// onRate, when not nil, is told the migration's rate each time a
	// flow of it starts, changes or ends (0), for the utilisation series.
	onRate func(at sim.Time, bps float64)
	// alone, when not nil, reports whether every other migration of the
	// fleet has ended ([models.SettledNet]).
	alone func() bool
}

// transfer is a pass in flight.
type transfer struct {
	flow   *sim.Flow
	start  sim.Time
	conn   sim.Conn
	bytes  float64
	capBps float64
	sched  []sim.RateChange // the offers since start
	retime func(sim.Transfer, sim.Conn)
	end    *sim.Event
	hold   func(bps float64) // a held flow's rate listener (post-copy push)
}

var _ models.SettledNet = (*vmNet)(nil)

// Settled reports whether every other migration of the fleet has ended,
// none running and none waiting to start: the share the network offers
// this one can no longer change, so that pre-copy's early verdict
// (stop reason no_progress) may end it.
func (v *vmNet) Settled() bool { return v.alone != nil && v.alone() }

// ceiling returns what k streams capped at capBps can carry whatever the
// network, in the network's raw bits per second (before loss).
func (v *vmNet) ceiling(k int, capBps float64) float64 {
	if k <= 0 {
		k = max(v.path.Streams, 1)
	}
	c := float64(k) * v.path.StreamCeilingBps()
	if capBps > 0 {
		c = math.Min(c, capBps)
	}
	if v.capBps > 0 {
		c = math.Min(c, v.capBps)
	}
	return c / (1 - v.path.Loss)
}

// effCap is capBps held to plan.bandwidth_per_migration.
func (v *vmNet) effCap(capBps float64) float64 {
	if v.capBps > 0 && (capBps <= 0 || v.capBps < capBps) {
		return v.capBps
	}
	return capBps
}

// at returns the path with bandwidth bps and no schedule.
func (v *vmNet) at(bps float64) sim.Path {
	p := v.path
	p.Bandwidth = units.BitRate(bps)
	p.Schedule = nil
	return p
}

// offer returns what the migration's streams are offered now: the
// current transfer's offer, or what a new one would get.
func (v *vmNet) offer(k int, capBps float64) float64 {
	if v.cur != nil {
		return v.cur.flow.OfferBps()
	}
	weight := float64(max(k, 1))
	return v.net.Probe(v.resources, weight, v.ceiling(k, capBps))
}

// Path returns the migration's path as the network offers it now.
func (v *vmNet) Path(k int, capBps float64) sim.Path { return v.at(v.offer(k, capBps)) }

// SteadyBps is [sim.Path.SteadyBps] on the share offered now.
func (v *vmNet) SteadyBps(k int, at sim.Time, capBps float64) float64 {
	return v.at(v.offer(k, capBps)).SteadyBps(k, 0, v.effCap(capBps))
}

// Send plans a transfer of n bytes from at (the current time) and keeps
// re-planning it while the offer changes.
func (v *vmNet) Send(c sim.Conn, at sim.Time, n, capBps float64, retime func(sim.Transfer, sim.Conn)) (sim.Transfer, sim.Conn) {
	v.finish()
	if n <= 0 {
		return sim.Transfer{}, c
	}
	if c.Streams <= 0 {
		c.Streams = max(v.path.Streams, 1)
	}
	t := &transfer{start: at, conn: c, bytes: n, capBps: v.effCap(capBps)}
	first := true
	t.flow = sim.NewFlow(v.resources, float64(c.Streams), v.ceiling(c.Streams, capBps), func(offer float64) {
		v.note(t, offer)
		if first {
			return
		}
		x, conn := v.plan(t)
		if t.retime != nil {
			t.retime(x, conn)
		}
	})
	v.cur = t
	v.net.Add(t.flow)
	first = false
	t.retime = retime
	return v.plan(t)
}

// Hold keeps a flow of k streams capped at capBps in the network until
// release, and tells onRate the steady rate those streams get, at once
// and whenever it changes (post-copy's background push).
func (v *vmNet) Hold(k int, capBps float64, onRate func(bps float64)) (release func()) {
	v.finish()
	if k <= 0 {
		k = max(v.path.Streams, 1)
	}
	t := &transfer{start: v.eng.Now(), capBps: v.effCap(capBps), hold: onRate}
	t.flow = sim.NewFlow(v.resources, float64(k), v.ceiling(k, capBps), func(offer float64) {
		v.note(t, offer)
		onRate(v.at(offer).SteadyBps(k, 0, t.capBps))
	})
	v.cur = t
	v.net.Add(t.flow)
	return func() {
		if v.cur == t {
			v.finish()
		}
	}
}

// note records an offer change of t at the current time.
func (v *vmNet) note(t *transfer, offer float64) {
	now := v.eng.Now()
	rc := sim.RateChange{At: now.Sub(0), Bandwidth: units.BitRate(offer)}
	if k := len(t.sched); k > 0 && t.sched[k-1].At == rc.At {
		t.sched[k-1] = rc
	} else {
		t.sched = append(t.sched, rc)
	}
	if v.onRate != nil {
		v.onRate(now, t.flow.RateBps())
	}
}

// plan plans t from its start over the offers so far and (re)schedules
// its end, where it leaves the network.
func (v *vmNet) plan(t *transfer) (sim.Transfer, sim.Conn) {
	p := v.path
	p.Bandwidth = t.sched[0].Bandwidth
	p.Schedule = t.sched
	x, conn := p.Send(t.conn, t.start, t.bytes, t.capBps)
	v.eng.Cancel(t.end)
	t.end = v.eng.Schedule(t.start.Add(x.Duration), sim.PhaseTransfer, func() {
		if v.cur == t {
			v.finish()
		}
	})
	return x, conn
}

// finish takes the transfer in flight, if any, out of the network.
func (v *vmNet) finish() {
	t := v.cur
	if t == nil {
		return
	}
	v.cur = nil
	v.eng.Cancel(t.end)
	v.net.Remove(t.flow)
	if v.onRate != nil {
		v.onRate(v.eng.Now(), 0)
	}
}
