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
// (bandwidth, round-trip time, loss, jitter, TCP window and segment size,
// parallel streams, and a bandwidth schedule) and answers how long a
// transfer of a given size takes.
//
// [Path.TransferTime] is the fluid answer: bytes over bandwidth × (1 −
// loss). [Path.Send] is the TCP stream model (tcp.go): a [Conn] of k
// parallel streams, each held to the least of its window over the mean
// RTT ([Path.WindowLimitBps]), Mathis's loss law ([Path.MathisBps]) and
// its fair share of what the link leaves ([Path.AvailableBps]), ramping
// up in slow start on a new connection and after an idle time longer than
// the RTO. Send is a closed form, one call per transfer, returning the
// transfer's duration, the constant-rate pieces it was sent in (for
// throughput meters) and the connection's state for the next transfer.
// Jitter enters as its mean effect: TCP sees RTT + jitter on average
// ([Path.MeanRTT]) and a longer RTO; no randomness is drawn.
//
// At RTT 0 the stream model is the fluid one, to the nanosecond.
//
// # CPU
//
// A [CostTable] gives each stage of moving a page ([Stage]: scan, map,
// copy, compress, checksum, send on the source; receive, decompress,
// install on the destination) its CPU time per page on one core, with
// documented defaults ([DefaultCosts]). A [Pipeline] of workers, each
// running the stages overlapped or in turn, sharing an address-space lock
// ([LockMode]) and the hosts' cores ([AvailableCores]), has a closed-form
// steady rate, [Pipeline.Throughput]: the least of the workers, the cores
// and the link, naming the bottleneck.
package sim
