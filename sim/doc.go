// Package sim is migsim's discrete-event engine and the shared resources
// that models draw on.
//
// # Time
//
// Simulated time is a [Time]: integer nanoseconds since the migration
// started. Durations are ordinary time.Duration values. Nothing in a run
// reads the wall clock.
//
// # Events
//
// An [Engine] holds a queue of events ordered by (time, [Phase], sequence
// number). Within one instant, events run in phase order:
//
//  1. PhaseClock: clock and throttle changes;
//  2. PhaseGuest: the guest's progress through its trace (writes appear);
//  3. PhaseTransfer: transfers that complete;
//  4. PhaseDecide: the migration model's decisions (sync, stop-and-copy);
//  5. PhaseObserve: observers (per-round records, progress).
//
// Events in the same phase at the same instant run in the order they were
// scheduled. This makes every run deterministic.
//
// # Randomness
//
// Each engine owns one *rand.Rand (math/rand/v2, PCG) seeded from the
// scenario seed; models draw from [Engine.Rand] and from nothing else.
//
// # Network
//
// A [Path] describes the network between source and destination
// (bandwidth, round-trip time, loss) and answers how long a transfer of a
// given size takes.
package sim
