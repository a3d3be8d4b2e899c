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
	at       Time
	phase    Phase
	seq      uint64
	fn       func()
	index    int // position in the heap, -1 once popped or cancelled
	canceled bool
}

// At returns the event's time.
func (ev *Event) At() Time { return ev.at }

// Pending reports whether the event is still waiting to run.
func (ev *Event) Pending() bool { return ev != nil && ev.index >= 0 && !ev.canceled }

// ErrStopped is returned by [Engine.Run] when [Engine.Stop] ended the run
// before the queue was empty.
var ErrStopped = errors.New("sim: stopped")

// Engine is a discrete-event simulator: a virtual clock and a queue of
// events. It is not safe for concurrent use; a run is single-threaded and
// parallelism comes from running many engines.
type Engine struct {
	now     Time
	seq     uint64
	queue   eventQueue
	rng     *rand.Rand
	stopped bool
	events  uint64
}

// New returns an engine at time 0 whose randomness is seeded from seed.
func New(seed uint64) *Engine {
	return &Engine{rng: rand.New(rand.NewPCG(seed, 0x6d696773696d))} // "migsim"
}

// Now returns the current simulated time.
func (e *Engine) Now() Time { return e.now }

// Rand returns the run's random source. Draw from it in a deterministic
// order (never while iterating a map).
func (e *Engine) Rand() *rand.Rand { return e.rng }

// Events returns how many events have run so far.
func (e *Engine) Events() uint64 { return e.events }

// Schedule arranges for fn to run at time at in the given phase. A time in
// the past is a broken invariant of the caller and panics.
// Cost: O(log n) in the number of pending events.
func (e *Engine) Schedule(at Time, phase Phase, fn func()) *Event {
	if at < e.now {
		panic("sim: event scheduled at " + at.String() + ", before now " + e.now.String())
	}
	e.seq++
	ev := &Event{at: at, phase: phase, seq: e.seq, fn: fn}
	heap.Push(&e.queue, ev)
	return ev
}

// After arranges for fn to run d after now in the given phase.
func (e *Engine) After(d time.Duration, phase Phase, fn func()) *Event {
	if d < 0 {
		d = 0
	}
	return e.Schedule(e.now.Add(d), phase, fn)
}

// Cancel removes ev from the queue if it has not run. Cancelling an event
// that already ran or was cancelled does nothing. Cost: O(log n).
func (e *Engine) Cancel(ev *Event) {
	if ev == nil || ev.index < 0 || ev.canceled {
		return
	}
	ev.canceled = true
	heap.Remove(&e.queue, ev.index)
}

// Stop ends the run after the current event.
func (e *Engine) Stop() { e.stopped = true }

// Run executes events in order until the queue is empty (nil), [Engine.Stop]
// is called ([ErrStopped]), the next event lies after until (nil; the clock
// is left at until), or ctx is done (ctx.Err()). The context is checked
// every few thousand events so that a cancelled run returns promptly.
func (e *Engine) Run(ctx context.Context, until Time) error {
	e.stopped = false
	for len(e.queue) > 0 {
		if e.stopped {
			return ErrStopped
		}
		if e.events&4095 == 0 && ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		next := e.queue[0]
		if next.at > until {
			e.now = until
			return nil
		}
		heap.Pop(&e.queue)
		e.now = next.at
		e.events++
		next.fn()
	}
	if e.stopped {
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
