package sim

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestFlowNetworkMaxMin checks weighted max-min fair shares against hand
// computations.
func TestFlowNetworkMaxMin(t *testing.T) {
	type flowCase struct {
		res    []int
		weight float64
		ceil   float64
	}
	for _, c := range []struct {
		name              string
		caps              []float64
		flows             []flowCase
		wantRate, wantOff []float64
	}{
		{"alone", []float64{10}, []flowCase{{[]int{0}, 1, 0}}, []float64{10}, []float64{10}},
		{"alone under its ceiling", []float64{10}, []flowCase{{[]int{0}, 1, 4}}, []float64{4}, []float64{10}},
		{"two share one link", []float64{10}, []flowCase{{[]int{0}, 1, 0}, {[]int{0}, 1, 0}}, []float64{5, 5}, []float64{5, 5}},
		{"a ceiling leaves the rest", []float64{10}, []flowCase{{[]int{0}, 1, 2}, {[]int{0}, 1, 0}}, []float64{2, 8}, []float64{10 - 8, 8}},
		{"weights", []float64{9}, []flowCase{{[]int{0}, 2, 0}, {[]int{0}, 1, 0}}, []float64{6, 3}, []float64{6, 3}},
		// Two sources, two destinations, a fabric that does not block:
		// each flow has NICs of its own.
		{"non-blocking fabric", []float64{10, 10, 10, 10, 100}, []flowCase{{[]int{0, 2, 4}, 1, 0}, {[]int{1, 3, 4}, 1, 0}}, []float64{10, 10}, []float64{10, 10}},
		// One source NIC shared: half each.
		{"shared source NIC", []float64{10, 10, 10, 100}, []flowCase{{[]int{0, 1, 3}, 1, 0}, {[]int{0, 2, 3}, 1, 0}}, []float64{5, 5}, []float64{5, 5}},
		// Flow 0 crosses links 0 and 1, flows 1 and 2 one each: the
		// classic parking lot; link 1 is the tighter.
		{"parking lot", []float64{10, 4}, []flowCase{{[]int{0, 1}, 1, 0}, {[]int{0}, 1, 0}, {[]int{1}, 1, 0}}, []float64{2, 8, 2}, []float64{2, 8, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var rs []*Resource
			for i, cap := range c.caps {
				rs = append(rs, &Resource{Name: string(rune('a' + i)), CapacityBps: cap})
			}
			var net FlowNetwork
			var fs []*Flow
			for _, fc := range c.flows {
				var on []*Resource
				for _, i := range fc.res {
					on = append(on, rs[i])
				}
				f := NewFlow(on, fc.weight, fc.ceil, nil)
				fs = append(fs, f)
				net.Add(f)
			}
			for i, f := range fs {
				if !near(f.RateBps(), c.wantRate[i]) || !near(f.OfferBps(), c.wantOff[i]) {
					t.Errorf("flow %d: rate %v offer %v, want %v and %v", i, f.RateBps(), f.OfferBps(), c.wantRate[i], c.wantOff[i])
				}
			}
			// Conservation: no resource carries more than its capacity.
			for _, r := range rs {
				sum := 0.0
				for i, f := range fs {
					for _, j := range c.flows[i].res {
						if rs[j] == r {
							sum += f.RateBps()
						}
					}
				}
				if sum > r.CapacityBps*(1+1e-9) {
					t.Errorf("resource %s carries %v > %v", r.Name, sum, r.CapacityBps)
				}
			}
		})
	}
}

// TestFlowNetworkOffers checks that flows are told of every change of
// their offer, and only then, as flows come and go.
func TestFlowNetworkOffers(t *testing.T) {
	link := &Resource{Name: "path", CapacityBps: 12}
	var net FlowNetwork
	var got [3][]float64
	var fs []*Flow
	for i := range 3 {
		fs = append(fs, NewFlow([]*Resource{link}, 1, 0, func(o float64) { got[i] = append(got[i], o) }))
	}
	net.Add(fs[0])
	net.Add(fs[1])
	net.Add(fs[2])
	net.Remove(fs[1])
	net.SetCeiling(fs[0], 2)
	// Under its ceiling of 2 flow 0 is offered the room flow 2 leaves it.
	want := [3][]float64{{12, 6, 4, 6, 2}, {6, 4}, {4, 6, 10}}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("flow %d offers %v, want %v", i, got[i], want[i])
		}
		for j := range got[i] {
			if !near(got[i][j], want[i][j]) {
				t.Fatalf("flow %d offers %v, want %v", i, got[i], want[i])
			}
		}
	}
	if fs[1].Active() || net.Flows() != 2 {
		t.Errorf("after Remove: active %v, %d flows", fs[1].Active(), net.Flows())
	}
}

// TestFlowNetworkProbe checks that a probe returns what the flow would be
// offered and changes no one's rate.
func TestFlowNetworkProbe(t *testing.T) {
	link := &Resource{Name: "path", CapacityBps: 12}
	var net FlowNetwork
	told := 0
	a := NewFlow([]*Resource{link}, 1, 0, func(float64) { told++ })
	net.Add(a)
	if got := net.Probe([]*Resource{link}, 2, 0); !near(got, 8) {
		t.Errorf("probe offers %v, want 8 (2 of 3 shares)", got)
	}
	if !near(a.RateBps(), 12) || !near(a.OfferBps(), 12) || told != 1 || net.Flows() != 1 {
		t.Errorf("after the probe: rate %v offer %v, told %d times, %d flows", a.RateBps(), a.OfferBps(), told, net.Flows())
	}
}

// TestFlowNetworkSetCapacity checks that a capacity change re-shares the
// resources at once and tells only the flows whose offer changed.
func TestFlowNetworkSetCapacity(t *testing.T) {
	path := &Resource{Name: "path", CapacityBps: 12}
	other := &Resource{Name: "other", CapacityBps: 5}
	var net FlowNetwork
	var got [3][]float64
	fs := []*Flow{
		NewFlow([]*Resource{path}, 1, 0, func(o float64) { got[0] = append(got[0], o) }),
		NewFlow([]*Resource{path}, 2, 0, func(o float64) { got[1] = append(got[1], o) }),
		NewFlow([]*Resource{other}, 1, 0, func(o float64) { got[2] = append(got[2], o) }),
	}
	for _, f := range fs {
		net.Add(f)
	}
	// The path drops to 6 and the other link stays: flows 0 and 1 keep
	// their 1:2 split of the new capacity, flow 2 is not told.
	net.SetCapacity(CapacityChange{path, 6}, CapacityChange{other, 5})
	net.SetCapacity(CapacityChange{path, 6}) // no change: no one is told
	want := [3][]float64{{12, 4, 2}, {8, 4}, {5}}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("flow %d offers %v, want %v", i, got[i], want[i])
		}
		for j := range got[i] {
			if !near(got[i][j], want[i][j]) {
				t.Fatalf("flow %d offers %v, want %v", i, got[i], want[i])
			}
		}
	}
	if path.CapacityBps != 6 || !near(fs[0].RateBps()+fs[1].RateBps(), 6) {
		t.Errorf("path capacity %v carries %v, want 6 and 6", path.CapacityBps, fs[0].RateBps()+fs[1].RateBps())
	}
}
