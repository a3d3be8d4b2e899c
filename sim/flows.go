package sim

import (
	"fmt"
	"math"
)

// FlowNetwork is a flow-level network: resources of fixed capacity (a
// host's NIC, out or in; the path between two sites) shared by the flows
// that cross them. Each flow has a weight (its TCP streams: k streams
// take k shares, as TCP shares a bottleneck per connection) and a ceiling
// of its own (its streams' window and loss limits, a migration's
// max-bandwidth). Rates are weighted max-min fair (progressive filling):
// every flow's rate per unit of weight rises together until a resource it
// crosses is full or its ceiling is reached, and the leftover goes to the
// others. Rates are recomputed whenever a flow starts, ends or changes
// its ceiling, and every flow whose offer changed is told at once, in
// the order the flows were added, so that a model can re-time the
// transfer it has in flight.
//
// A flow's offer is what the network would give it with its own ceiling
// lifted: its fair share where a resource bounds it, else the least room
// left on its resources by the others. A flow holds its ceiling itself
// (its TCP model does), so a flow alone on idle resources is offered
// their full capacity and runs exactly as it would on a path of its own.
//
// A resource's capacity may change while flows cross it ([FlowNetwork.SetCapacity]):
// a link whose rate follows a schedule.
//
// The network is not safe for concurrent use: it belongs to one engine.
type FlowNetwork struct {
	flows   []*Flow // active, in the order they were added
	seq     uint64
	stamp   uint64      // marks the resources seen by a recompute
	scratch []*Resource // the resources of the active flows
	frozen  []*Flow     // scratch of recompute
	// Recomputations counts rate recomputations, for benchmarks.
	Recomputations uint64
}

// Resource is one shared capacity of a [FlowNetwork].
type Resource struct {
	// Name names the resource in errors and figures, e.g. "a/out".
	Name string
	// CapacityBps is its capacity in bits per second, positive.
	CapacityBps float64

	used  float64 // rates of the frozen flows crossing it (recompute)
	free  float64 // weight of the unfrozen flows crossing it (recompute)
	stamp uint64
}

// Flow is a transfer in a [FlowNetwork].
type Flow struct {
	resources []*Resource
	weight    float64
	ceilBps   float64
	rateBps   float64
	offerBps  float64
	seq       uint64
	active    bool
	onOffer   func(offerBps float64)
	notified  float64 // the offer onOffer was last told

	frozen bool // scratch state of recompute
}

// NewFlow returns a flow over resources with the given weight (at least
// 1: its parallel streams) and ceiling in bits per second (+Inf or 0: no
// ceiling of its own). onOffer, when not nil, is called with the flow's
// new offer each time it changes while the flow is active, the first
// time when it is added; it must not add, remove or change flows.
func NewFlow(resources []*Resource, weight, ceilBps float64, onOffer func(offerBps float64)) *Flow {
	if weight < 1 {
		weight = 1
	}
	if !(ceilBps > 0) {
		ceilBps = math.Inf(1)
	}
	return &Flow{resources: resources, weight: weight, ceilBps: ceilBps, onOffer: onOffer}
}

// RateBps returns the flow's current rate, bits per second: its share,
// held to its ceiling.
func (f *Flow) RateBps() float64 { return f.rateBps }

// OfferBps returns what the network offers the flow, bits per second (see
// [FlowNetwork]).
func (f *Flow) OfferBps() float64 { return f.offerBps }

// Active reports whether the flow is in the network.
func (f *Flow) Active() bool { return f.active }

// Validate checks that every resource can carry data.
func (n *FlowNetwork) Validate(rs []*Resource) error {
	for _, r := range rs {
		if !(r.CapacityBps > 0) || math.IsInf(r.CapacityBps, 0) {
			return fmt.Errorf("resource %s: capacity %v bit/s must be positive and finite", r.Name, r.CapacityBps)
		}
	}
	return nil
}

// Add puts f in the network and recomputes the rates. Adding an active
// flow does nothing.
func (n *FlowNetwork) Add(f *Flow) {
	if f.active {
		return
	}
	n.seq++
	f.seq, f.active = n.seq, true
	f.rateBps, f.offerBps, f.notified = 0, 0, 0
	n.flows = append(n.flows, f)
	n.recompute()
}

// Remove takes f out of the network and recomputes the rates of the
// others. Removing a flow that is not active does nothing.
func (n *FlowNetwork) Remove(f *Flow) {
	if !f.active {
		return
	}
	f.active = false
	for i, g := range n.flows {
		if g == f {
			n.flows = append(n.flows[:i], n.flows[i+1:]...)
			break
		}
	}
	f.rateBps, f.offerBps, f.notified = 0, 0, 0
	n.recompute()
}

// SetCeiling changes f's ceiling (bits per second; 0 or +Inf: none) and
// recomputes the rates when f is active.
func (n *FlowNetwork) SetCeiling(f *Flow, ceilBps float64) {
	if !(ceilBps > 0) {
		ceilBps = math.Inf(1)
	}
	if f.ceilBps == ceilBps {
		return
	}
	f.ceilBps = ceilBps
	if f.active {
		n.recompute()
	}
}

// CapacityChange is a new capacity for a resource, for
// [FlowNetwork.SetCapacity].
type CapacityChange struct {
	Resource    *Resource
	CapacityBps float64 // positive
}

// SetCapacity applies changes (a link's rate changing over time) and then
// recomputes the rates once, telling every flow whose offer changed.
func (n *FlowNetwork) SetCapacity(changes ...CapacityChange) {
	changed := false
	for _, c := range changes {
		if c.Resource.CapacityBps != c.CapacityBps {
			c.Resource.CapacityBps, changed = c.CapacityBps, true
		}
	}
	if changed && len(n.flows) > 0 {
		n.recompute()
	}
}

// Flows returns how many flows are active.
func (n *FlowNetwork) Flows() int { return len(n.flows) }

// recompute sets every active flow's rate by weighted progressive
// filling, then its offer, and tells each flow whose offer changed.
// Cost: O(rounds × flows × resources per flow), each round freezing at
// least one flow.
func (n *FlowNetwork) recompute() {
	n.Recomputations++
	n.fill(n.flows)
	for _, f := range n.flows {
		if f.offerBps != f.notified {
			f.notified = f.offerBps
			if f.onOffer != nil {
				f.onOffer(f.offerBps)
			}
		}
	}
}

// Probe returns the offer a flow over resources with the given weight and
// ceiling would get if it were added now, changing nothing.
func (n *FlowNetwork) Probe(resources []*Resource, weight, ceilBps float64) float64 {
	f := NewFlow(resources, weight, ceilBps, nil)
	saved := make([][2]float64, len(n.flows))
	for i, g := range n.flows {
		saved[i] = [2]float64{g.rateBps, g.offerBps}
	}
	n.fill(append(n.flows[:len(n.flows):len(n.flows)], f))
	for i, g := range n.flows {
		g.rateBps, g.offerBps = saved[i][0], saved[i][1]
	}
	return f.offerBps
}

// fill sets the rate and offer of every flow of flows.
func (n *FlowNetwork) fill(flows []*Flow) {
	n.stamp++
	rs := n.scratch[:0]
	for _, f := range flows {
		f.frozen = false
		for _, r := range f.resources {
			if r.stamp != n.stamp {
				r.stamp, r.used, r.free = n.stamp, 0, 0
				rs = append(rs, r)
			}
			r.free += f.weight
		}
	}
	n.scratch = rs
	const eps = 1e-12
	level, left := 0.0, len(flows)
	for left > 0 {
		// The level (rate per unit of weight) at which the next ceiling
		// binds or the next resource fills.
		next := math.Inf(1)
		for _, f := range flows {
			if !f.frozen {
				next = math.Min(next, f.ceilBps/f.weight)
			}
		}
		for _, r := range rs {
			if r.free > 0 {
				next = math.Min(next, (r.CapacityBps-r.used)/r.free)
			}
		}
		level = math.Max(level, next)
		// Freeze every flow that reached its ceiling or crosses a full
		// resource; decide for all before changing the resources.
		froze := n.frozen[:0]
		for _, f := range flows {
			if f.frozen {
				continue
			}
			bound := f.ceilBps/f.weight <= level*(1+eps) || math.IsInf(level, 1)
			for _, r := range f.resources {
				if r.CapacityBps-r.used-level*r.free <= r.CapacityBps*eps {
					bound = true
				}
			}
			if bound {
				froze = append(froze, f)
			}
		}
		if len(froze) == 0 { // rounding: freeze the rest at this level
			for _, f := range flows {
				if !f.frozen {
					froze = append(froze, f)
				}
			}
		}
		for _, f := range froze {
			f.frozen = true
			f.rateBps = math.Min(f.ceilBps, level*f.weight)
			for _, r := range f.resources {
				r.used += f.rateBps
				r.free -= f.weight
			}
		}
		n.frozen = froze
		left -= len(froze)
	}
	// Offers: a flow that a resource bounds is offered its rate; one that
	// its ceiling bounds, the least room the others leave it.
	for _, f := range flows {
		offer := f.rateBps
		if f.rateBps >= f.ceilBps*(1-1e-9) {
			offer = math.Inf(1)
			for _, r := range f.resources {
				offer = math.Min(offer, r.CapacityBps-(r.used-f.rateBps))
			}
			offer = math.Max(offer, f.rateBps)
		}
		f.offerBps = offer
	}
}
