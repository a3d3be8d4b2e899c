package lab

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestFleetGate drives the gate with stand-in migrations: nothing starts
// before every guest is ready, then the plan's order at most conc at
// once, the next as one ends, and no member goes on to verify before
// every migration has ended.
func TestFleetGate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := newFleetGate(nil, FleetPlan{Names: []string{"x", "y", "z"}, From: []string{"a", "a", "a"}, To: []string{"b", "b", "b"}, Order: []int{2, 0, 1}, MaxConcurrent: 2})
	var seq []int
	g.onStart = func(i int) { seq = append(seq, i) }
	started := func(i int) bool {
		select {
		case <-g.startC[i]:
			return true
		default:
			return false
		}
	}
	member := func(i int) *fleetMember { return &fleetMember{g: g, i: i} }
	waits := make([]chan error, 3)
	for _, i := range []int{0, 1} {
		waits[i] = make(chan error, 1)
		go func() { waits[i] <- member(i).waitStart(ctx) }()
	}
	time.Sleep(50 * time.Millisecond)
	if started(0) || started(1) {
		t.Fatal("a migration started before every guest was ready")
	}
	waits[2] = make(chan error, 1)
	go func() { waits[2] <- member(2).waitStart(ctx) }()
	for _, i := range []int{2, 0} {
		if err := <-waits[i]; err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	if started(1) {
		t.Fatal("three migrations in flight with max_concurrent 2")
	}
	ended := make([]chan error, 3)
	for i := range ended {
		ended[i] = make(chan error, 1)
	}
	go func() { ended[2] <- member(2).migrated(ctx) }()
	if err := <-waits[1]; err != nil {
		t.Fatalf("member 1: %v", err)
	}
	select {
	case err := <-ended[2]:
		t.Fatalf("member 2 went on to verify (%v) while two migrations were in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	go func() { ended[0] <- member(0).migrated(ctx) }()
	go func() { ended[1] <- member(1).migrated(ctx) }()
	for i := range ended {
		if err := <-ended[i]; err != nil {
			t.Fatalf("member %d after its migration: %v", i, err)
		}
	}
	if got := fmt.Sprint(seq); got != "[2 0 1]" {
		t.Errorf("start order %s, want [2 0 1] (the plan's)", got)
	}

	// Per-host caps hold as fleet.Run's do: one outbound at a time.
	two := func(conc int) FleetPlan {
		return FleetPlan{Names: []string{"x", "y"}, From: []string{"a", "a"}, To: []string{"b", "b"}, Order: []int{0, 1}, MaxConcurrent: conc}
	}
	plan := two(2)
	plan.MaxOutboundPerHost = 1
	g = newFleetGate(nil, plan)
	g.mu.Lock()
	g.fill()
	g.mu.Unlock()
	if !started(0) || started(1) {
		t.Errorf("max_outbound_per_host 1: started %v %v, want only the first", started(0), started(1))
	}

	// A member waiting for its start returns when the fleet is cancelled.
	g = newFleetGate(nil, two(1))
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if err := (&fleetMember{g: g, i: 0}).waitStart(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v, want context.Canceled", err)
	}
	// No guest replays before every guest has booted.
	g = newFleetGate(nil, two(2))
	first := make(chan error, 1)
	go func() { first <- (&fleetMember{g: g, i: 0}).booted(ctx) }()
	select {
	case err := <-first:
		t.Fatalf("a guest went on (%v) before the other had booted", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := (&fleetMember{g: g, i: 1}).booted(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A lone run's nil member never waits.
	var lone *fleetMember
	if lone.booted(cctx) != nil || lone.waitStart(cctx) != nil || lone.migrated(cctx) != nil {
		t.Error("a nil fleet member waited")
	}
}
