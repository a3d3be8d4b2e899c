package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEngineOrdersByTimePhaseSeq(t *testing.T) {
	e := New(1)
	var got []string
	add := func(at Time, p Phase, name string) {
		e.Schedule(at, p, func() { got = append(got, name) })
	}
	add(20, PhaseGuest, "t20-guest")
	add(10, PhaseObserve, "t10-observe")
	add(10, PhaseDecide, "t10-decide-a")
	add(10, PhaseClock, "t10-clock")
	add(10, PhaseDecide, "t10-decide-b")
	add(5, PhaseObserve, "t5-observe")
	if err := e.Run(context.Background(), Never); err != nil {
		t.Fatal(err)
	}
	want := []string{"t5-observe", "t10-clock", "t10-decide-a", "t10-decide-b", "t10-observe", "t20-guest"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if e.Now() != 20 || e.Events() != 6 {
		t.Fatalf("now %v events %d", e.Now(), e.Events())
	}
}

func TestEngineCancelStopUntil(t *testing.T) {
	e := New(1)
	ran := 0
	ev := e.Schedule(10, PhaseGuest, func() { ran++ })
	e.Schedule(5, PhaseGuest, func() { e.Cancel(ev) })
	e.Schedule(30, PhaseGuest, func() { ran += 10 })
	e.Schedule(40, PhaseGuest, func() { ran += 100 })
	if err := e.Run(context.Background(), 35); err != nil {
		t.Fatal(err)
	}
	if ran != 10 || e.Now() != 35 || ev.Pending() {
		t.Fatalf("ran=%d now=%v pending=%v", ran, e.Now(), ev.Pending())
	}
	e.Schedule(50, PhaseGuest, func() { e.Stop() })
	e.Schedule(60, PhaseGuest, func() { ran += 1000 })
	if err := e.Run(context.Background(), Never); !errors.Is(err, ErrStopped) {
		t.Fatalf("Run = %v, want ErrStopped", err)
	}
	if ran != 110 {
		t.Fatalf("ran=%d: the event after Stop must not run", ran)
	}
}

func TestEngineContextCancel(t *testing.T) {
	e := New(1)
	var tick func()
	tick = func() { e.After(time.Millisecond, PhaseGuest, tick) }
	tick()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx, Never); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestEngineSeededRandomness(t *testing.T) {
	a, b, c := New(7), New(7), New(8)
	for i := range 10 {
		x, y, z := a.Rand().Uint64(), b.Rand().Uint64(), c.Rand().Uint64()
		if x != y {
			t.Fatalf("draw %d: same seed differs", i)
		}
		if x == z && i == 0 {
			t.Fatalf("different seeds gave the same first draw")
		}
	}
}

func TestSchedulingInThePastPanics(t *testing.T) {
	e := New(1)
	e.Schedule(10, PhaseGuest, func() {})
	_ = e.Run(context.Background(), Never)
	defer func() {
		if recover() == nil {
			t.Fatal("want a panic for an event before now")
		}
	}()
	e.Schedule(5, PhaseGuest, func() {})
}

func TestPathTransferTime(t *testing.T) {
	p := Path{Bandwidth: 1e9, RTT: time.Millisecond}
	if d := p.TransferTime(125e6, 0); d != time.Second {
		t.Fatalf("125 MB at 1 Gbit/s = %v, want 1s", d)
	}
	if d := p.TransferTime(125e6, 0.5e9); d != 2*time.Second {
		t.Fatalf("capped at 0.5 Gbit/s: %v", d)
	}
	lossy := Path{Bandwidth: 1e9, Loss: 0.5}
	if d := lossy.TransferTime(125e6, 0); d != 2*time.Second {
		t.Fatalf("50%% loss: %v", d)
	}
	if d := p.TransferTime(1, 0); d <= 0 {
		t.Fatal("a non-empty transfer must take time")
	}
	for _, bad := range []Path{{}, {Bandwidth: -1}, {Bandwidth: 1, RTT: -1}, {Bandwidth: 1, Loss: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: want a validation error", bad)
		}
	}
}

func BenchmarkEngineEvents(b *testing.B) {
	e := New(1)
	n := 0
	var tick func()
	tick = func() {
		n++
		e.After(time.Microsecond, PhaseGuest, tick)
	}
	for range 64 {
		tick()
	}
	b.ResetTimer()
	_ = e.Run(context.Background(), Time(b.N)*Time(time.Microsecond)/64)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// TestSubEngine runs two sub-engines on one clock: each counts time from
// where it was made, their events interleave by shared time, and an
// event's At is on its own engine's clock.
func TestSubEngine(t *testing.T) {
	root := New(1)
	var log []string
	var b *Engine
	root.Schedule(5, PhaseDecide, func() {
		b = root.Sub(2)
		ev := b.After(10, PhaseDecide, func() { log = append(log, "b@"+b.Now().String()) })
		if ev.At() != 10 || b.Now() != 0 || b.Origin() != 5 {
			t.Errorf("sub-engine: event at %v, now %v, origin %v", ev.At(), b.Now(), b.Origin())
		}
	})
	a := root.Sub(3)
	a.Schedule(12, PhaseDecide, func() { log = append(log, "a@"+a.Now().String()) })
	a.Schedule(16, PhaseDecide, func() { log = append(log, "a@"+a.Now().String()+" root@"+root.Now().String()) })
	if err := root.Run(context.Background(), Never); err != nil {
		t.Fatal(err)
	}
	want := "a@12ns b@10ns a@16ns root@16ns"
	if got := strings.Join(log, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}
