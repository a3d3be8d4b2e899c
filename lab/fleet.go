package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Fleets: several real migrations at once over one shaped link.
//
// Every migration is a lab guest of its own, booted at once. All the
// sources run in one network namespace (migsim-<pid>-<n>-src) and all the
// destinations in another (-dst), joined by one veth pair whose egress a
// tbf holds to the fleet's link; each migration goes through a relay of
// its own (relay.go) that adds the path's RTT and bounds its window, then
// over the shared veth, so the migrations really share the link and the
// kernel's TCP, not a model, decides how. No guest starts replaying its
// trace before every guest has booted (a replaying TCG guest takes a core
// the others' boots need; the default boot timeout is 180 s per two
// guests). Once every guest has replayed for the warm-up, the migrate
// commands are given as the plan says: the first MaxConcurrent in the
// plan's order at once, the next whenever one ends (its query-migrate says
// completed), within the per-host caps. Each destination's memory is
// verified as in a lone run, after every migration of the fleet has
// ended, so that no verification runs beside a migration.

// FleetPlan says when a fleet's migrations start ([RunFleet]).
type FleetPlan struct {
	// Names names each migration, for messages.
	Names []string
	// From and To are each migration's source and destination host, for
	// the per-host caps.
	From, To []string
	// Order lists the migrations (indices) in start order.
	Order []int
	// MaxConcurrent is the most migrations in flight at once (at least 1).
	MaxConcurrent int
	// MaxOutboundPerHost and MaxInboundPerHost bound the migrations
	// leaving and entering one host at once; 0 means no bound.
	MaxOutboundPerHost, MaxInboundPerHost int
}

// FleetRun is a fleet's real migrations ([RunFleet]).
type FleetRun struct {
	// Runs holds each migration's real run, in the plan's index order.
	Runs []*RealRun
	// StartS is when each migration's migrate command was given, seconds
	// after the fleet's first.
	StartS []float64
}

// RunFleet runs the migrations of runs at once over one link shaped to
// shape, their migrate commands given as plan says (see the notes at the
// top of fleet.go). Each run's options are its own but for its shaping
// (the fleet's link); a zero BootTimeout is 180 s per two guests. Every
// destination's memory is verified; the first failure cancels the other
// migrations and is returned, naming its migration. It needs root and
// iproute2 (the link is the netns shaping's). log, when not nil, receives
// the fleet's own progress lines.
func RunFleet(ctx context.Context, shape NetShape, runs []LocalOptions, plan FleetPlan, log io.Writer) (*FleetRun, error) {
	n := len(runs)
	if len(plan.Names) != n || len(plan.From) != n || len(plan.To) != n || len(plan.Order) != n || plan.MaxConcurrent < 1 {
		return nil, fmt.Errorf("fleet: a plan of %d names, %d sources, %d destinations and %d starts at most %d at once for %d migrations",
			len(plan.Names), len(plan.From), len(plan.To), len(plan.Order), plan.MaxConcurrent, n)
	}
	if err := CheckShaping(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if log != nil {
			fmt.Fprintf(log, format+"\n", args...)
		}
	}
	net, err := setupLabNet(shape, logf)
	if err != nil {
		return nil, err
	}
	defer net.close()
	names := make([]string, n)
	for k, i := range plan.Order {
		names[k] = plan.Names[i]
	}
	logf("%d migrations (namespaces %s and %s), %d at once in the order %s; tbf %.1f Mbit/s on the shared veth (goodput %.1f), relay RTT %v, window %v",
		n, net.src, net.dst, plan.MaxConcurrent, strings.Join(names, " "),
		shape.TBFRate()/1e6, float64(shape.Bandwidth)/1e6, shape.RTT, shape.Window)
	gate := newFleetGate(net, plan)
	reals, err := runFleetMembers(ctx, shape, runs, gate)
	if err != nil {
		return nil, err
	}
	out := &FleetRun{Runs: reals, StartS: make([]float64, n)}
	for i := range reals {
		out.StartS[i] = gate.startAt[i].Sub(gate.t0).Seconds()
	}
	return out, nil
}

// fleetGate starts a fleet's lab migrations as the plan says and holds
// each migration's verification until every migration has ended.
type fleetGate struct {
	net  *labNet
	plan FleetPlan

	mu        sync.Mutex
	booted    int
	allBooted chan struct{}
	ready     int
	started   []bool
	startC    []chan struct{}
	running   int
	outN, inN map[string]int
	ended     int
	allEnded  chan struct{}
	t0        time.Time
	startAt   []time.Time
	onStart   func(i int) // tests: told each start, under mu
}

// newFleetGate returns the gate of plan's migrations over net.
func newFleetGate(net *labNet, plan FleetPlan) *fleetGate {
	n := len(plan.From)
	g := &fleetGate{net: net, plan: plan,
		started: make([]bool, n), startC: make([]chan struct{}, n), startAt: make([]time.Time, n),
		outN: map[string]int{}, inN: map[string]int{}, allBooted: make(chan struct{}), allEnded: make(chan struct{})}
	for i := range g.startC {
		g.startC[i] = make(chan struct{})
	}
	return g
}

// fill starts every migration the caps allow, first in order first, as
// the simulator's fleet.Run does; g.mu is held.
func (g *fleetGate) fill() {
	for _, i := range g.plan.Order {
		if g.running >= g.plan.MaxConcurrent {
			return
		}
		if g.started[i] {
			continue
		}
		if c := g.plan.MaxOutboundPerHost; c > 0 && g.outN[g.plan.From[i]] >= c {
			continue
		}
		if c := g.plan.MaxInboundPerHost; c > 0 && g.inN[g.plan.To[i]] >= c {
			continue
		}
		now := time.Now()
		if g.t0.IsZero() {
			g.t0 = now
		}
		g.started[i], g.startAt[i] = true, now
		g.running++
		g.outN[g.plan.From[i]]++
		g.inN[g.plan.To[i]]++
		if g.onStart != nil {
			g.onStart(i)
		}
		close(g.startC[i])
	}
}

// fleetMember is one migration's handle on its fleet's gate; a nil one
// (a lone run) never waits.
type fleetMember struct {
	g *fleetGate
	i int
}

// borrowNet returns the member's view of the fleet's network: the
// fleet's namespaces, a relay of its own.
func (m *fleetMember) borrowNet() *labNet {
	n := m.g.net
	return &labNet{shape: n.shape, src: n.src, dst: n.dst, borrowed: true}
}

// booted says the member's guest has booted and waits until every guest
// of the fleet has, so that no guest replays (and takes CPU from the
// others' boots) before all can.
func (m *fleetMember) booted(ctx context.Context) error {
	if m == nil {
		return nil
	}
	g := m.g
	g.mu.Lock()
	g.booted++
	if g.booted == len(g.startC) {
		close(g.allBooted)
	}
	g.mu.Unlock()
	select {
	case <-g.allBooted:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitStart says the member's guest is ready to migrate and waits until
// the plan starts its migration; the plan starts none before every guest
// is ready.
func (m *fleetMember) waitStart(ctx context.Context) error {
	if m == nil {
		return nil
	}
	g := m.g
	g.mu.Lock()
	g.ready++
	if g.ready == len(g.startC) {
		g.fill()
	}
	g.mu.Unlock()
	select {
	case <-g.startC[m.i]:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// migrated says the member's migration has ended, lets the plan start
// the next ones, and waits until every migration of the fleet has ended.
func (m *fleetMember) migrated(ctx context.Context) error {
	if m == nil {
		return nil
	}
	g := m.g
	g.mu.Lock()
	g.running--
	g.outN[g.plan.From[m.i]]--
	g.inN[g.plan.To[m.i]]--
	g.ended++
	if g.ended == len(g.startC) {
		close(g.allEnded)
	}
	g.fill()
	g.mu.Unlock()
	select {
	case <-g.allEnded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runFleetMembers runs every migration at once, each held by gate; the
// first failure cancels the others and is returned.
func runFleetMembers(ctx context.Context, shape NetShape, runs []LocalOptions, gate *fleetGate) ([]*RealRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(runs)
	reals := make([]*RealRun, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, lo := range runs {
		lo.Shaping, lo.Network = ShapingNetns, shape
		if lo.BootTimeout == 0 {
			// The guests boot at once: 180 s per two.
			lo.BootTimeout = time.Duration((n+1)/2) * 180 * time.Second
		}
		lo.fleet = &fleetMember{g: gate, i: i}
		wg.Go(func() {
			r, err := RunLocal(ctx, lo)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("%s: real migration: %w", gate.plan.Names[i], err)
				}
				cancel()
				return
			}
			reals[i] = r
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return reals, nil
}
