package sim

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"
)

// Time is a point in simulated time: nanoseconds since the migration started.
type Time int64

// Seconds returns t in seconds.
func (t Time) Seconds() float64 { return float64(t) / 1e9 }

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// String prints t as a duration since the start, e.g. "1.5s".
func (t Time) String() string { return time.Duration(t).String() }

// Never is a time after every event.
const Never Time = 1<<63 - 1

// Phase orders events that fall on the same instant.
type Phase uint8

// Phases in the order they run within one instant.
const (
	PhaseClock Phase = iota
	PhaseGuest
	PhaseTransfer
	PhaseDecide
	PhaseObserve
)

// String returns the phase's name.
func (p Phase) String() string {
	switch p {
	case PhaseClock:
		return "clock"
	case PhaseGuest:
		return "guest"
	case PhaseTransfer:
		return "transfer"
	case PhaseDecide:
		return "decide"
	case PhaseObserve:
		return "observe"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Event is a scheduled action. Keep the pointer to cancel it.
type Event struct {
	at       Time    // on the shared clock
	owner    *Engine // the engine that scheduled it
	phase    Phase
	seq      uint64
	fn       func()
	index    int // position in the heap, -1 once popped or cancelled
	canceled bool
}

// At returns the event's time, on the clock of the engine that scheduled
// it.
func (ev *Event) At() Time { return ev.at - ev.owner.origin }

// Pending reports whether the event is still waiting to run.
func (ev *Event) Pending() bool { return ev != nil && ev.index >= 0 && !ev.canceled }

// ErrStopped is returned by [Engine.Run] when [Engine.Stop] ended the run
// before the queue was empty.
var ErrStopped = errors.New("sim: stopped")

// Engine is a discrete-event simulator: a virtual clock and a queue of
// events. It is not safe for concurrent use; a run is single-threaded and
// parallelism comes from running many engines.
//
// An engine from [Engine.Sub] shares its parent's clock and queue but
// counts time from an origin of its own, so that a model written for a
// migration starting at time 0 can start at any time beside others (a
// fleet of migrations on one engine).
type Engine struct {
	c      *clock
	origin Time
	rng    *rand.Rand
	closed bool // Close was called: its events no longer run
}

// clock is what an engine and its sub-engines share.
type clock struct {
	now     Time
	seq     uint64
	queue   eventQueue
	stopped bool
	events  uint64
}

// New returns an engine at time 0 whose randomness is seeded from seed.
func New(seed uint64) *Engine {
	return &Engine{c: &clock{}, rng: newRand(seed)}
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6d696773696d)) // "migsim"
}

// Sub returns an engine on e's clock and queue whose time 0 is e's
// current time, with randomness of its own seeded from seed. Its events
// run among e's by (time, phase, seq) like any others; [Engine.Stop] and
// [Engine.Run] act on the shared queue.
func (e *Engine) Sub(seed uint64) *Engine {
	return &Engine{c: e.c, origin: e.c.now, rng: newRand(seed)}
}

// Origin returns the time on the root engine's clock that is this
// engine's time 0 (0 for an engine from [New]).
func (e *Engine) Origin() Time { return e.origin }

// Now returns the current simulated time.
func (e *Engine) Now() Time { return e.c.now - e.origin }

// Rand returns the run's random source. Draw from it in a deterministic
// order (never while iterating a map).
func (e *Engine) Rand() *rand.Rand { return e.rng }

// Events returns how many events have run so far.
func (e *Engine) Events() uint64 { return e.c.events }

// Schedule arranges for fn to run at time at in the given phase. A time in
// the past is a broken invariant of the caller and panics.
// Cost: O(log n) in the number of pending events.
func (e *Engine) Schedule(at Time, phase Phase, fn func()) *Event {
	c := e.c
	abs := at + e.origin
	if abs < c.now {
		panic("sim: event scheduled at " + at.String() + ", before now " + e.Now().String())
	}
	c.seq++
	ev := &Event{at: abs, owner: e, phase: phase, seq: c.seq, fn: fn}
	heap.Push(&c.queue, ev)
	return ev
}

// After arranges for fn to run d after now in the given phase.
func (e *Engine) After(d time.Duration, phase Phase, fn func()) *Event {
	if d < 0 {
		d = 0
	}
	return e.Schedule(e.Now().Add(d), phase, fn)
}

// Cancel removes ev from the queue if it has not run. Cancelling an event
// that already ran or was cancelled does nothing. Cost: O(log n).
func (e *Engine) Cancel(ev *Event) {
	if ev == nil || ev.index < 0 || ev.canceled {
		return
	}
	ev.canceled = true
	heap.Remove(&e.c.queue, ev.index)
}

// Stop ends the run after the current event.
func (e *Engine) Stop() { e.c.stopped = true }

// Close ends the part of the run that e schedules: its events still
// pending, and any it schedules from now on, never run. For a sub-engine
// whose migration has ended while others go on; the shared clock and the
// other engines' events are unaffected.
func (e *Engine) Close() { e.closed = true }

// Run executes events in order until the queue is empty (nil), [Engine.Stop]
// is called ([ErrStopped]), the next event lies after until (nil; the clock
// is left at until), or ctx is done (ctx.Err()). The context is checked
// every few thousand events so that a cancelled run returns promptly.
func (e *Engine) Run(ctx context.Context, until Time) error {
	c := e.c
	if until != Never {
		until += e.origin
	}
	c.stopped = false
	for len(c.queue) > 0 {
		if c.stopped {
			return ErrStopped
		}
		if c.events&4095 == 0 && ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		next := c.queue[0]
		if next.at > until {
			c.now = until
			return nil
		}
		heap.Pop(&c.queue)
		c.now = next.at
		if next.owner.closed {
			continue
		}
		c.events++
		next.fn()
	}
	if c.stopped {
		return ErrStopped
	}
	return nil
}

// eventQueue is a min-heap of events ordered by (time, phase, seq).
type eventQueue []*Event

func (q eventQueue) Len() int { return len(q) }

func (q eventQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.phase != b.phase {
		return a.phase < b.phase
	}
	return a.seq < b.seq
}

func (q eventQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *eventQueue) Push(x any) {
	ev := x.(*Event)
	ev.index = len(*q)
	*q = append(*q, ev)
}

func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	ev := old[n-1]
	old[n-1] = nil
	ev.index = -1
	*q = old[:n-1]
	return ev
}
