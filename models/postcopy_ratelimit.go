package models

import (
	"math"
	"time"
)

// The source's rate limiter and page requests (issues 9 and 10).
//
// # Semantics
//
//   - With max_postcopy_bandwidth set below the path's rate and no
//     postcopy_preempt, the source sends in rate-limit windows of
//     rate_limit_window (QEMU: BUFFER_DELAY, 100 ms; windows counted from
//     the start of the migration). At the start of each window it hands
//     the window's quota, cap × window, to the socket, which drains it at
//     the path's uncapped rate: the burst fills the first f = cap / path
//     rate of the window, and the source sleeps for the rest.
//   - A page request that reaches the source during a burst is queued
//     next in the stream, behind what the socket already holds: its page
//     goes out when the burst has drained. One that reaches it while the
//     source sleeps waits for the next window: QEMU 7.2 wakes its
//     migration thread for the request (migration_make_urgent_request),
//     but qemu_savevm_state_iterate returns without calling the RAM
//     iterator while the window's quota is spent, so the page goes out
//     first thing in the next window. A request at a uniformly random
//     time waits (f² + (1 − f)²) × window / 2 on average: 41 ms at 200
//     Mbit over 2 Gbit, against fault_service_time's 20 µs.
//   - postcopy_preempt (QEMU 7.1 and later) sends requested pages on their
//     own channel: no window wait and no queueing behind the push; a
//     requested page arrives one RTT + its transfer + fault_service_time
//     after the fault, as with multifd channels.
//   - max_postcopy_bandwidth 0 (QEMU's default: no limit), a cap at or
//     above the path's rate, or rate_limit_window 0 turn the wait off: the
//     page follows the one on the link.
//
// Measured in the lab (QEMU 7.2, TCG, loopback, validate/README.md):
// blocktime / requests is 68, 30-39, 29 and 14 ms at 100, 200, 400 and
// 800 Mbit; the migration socket holds 1-4 MiB after each window's start
// and drains in 20-60 ms, idle otherwise.
//
// # Known differences from QEMU
//
// The push itself stays a steady stream at the cap (bytes, pages and the
// end time are those of the windows' average), so pushed pages keep
// arriving while a requested page waits; in QEMU nothing moves between
// bursts. A socket smaller than a window's quota would bound the wait
// behind a burst; it is not modelled. QEMU resets its window when it
// checks the limit after the window has run out, so its windows drift by
// up to one check; here they are fixed.

// windowWait returns when the source's stream takes a page request that
// reaches it at req (ns since the start of the migration): at the end of
// the current window's burst, or at the next window's start.
func (r *postcopyRun) windowWait(req float64) float64 {
	w := float64(r.cfg.window)
	if r.preempt || w <= 0 || r.burstFrac >= 1 || r.burstFrac <= 0 {
		return req
	}
	start := math.Floor(req/w) * w
	if end := start + r.burstFrac*w; req < end {
		return end
	}
	return start + w
}

// useWindow sets the share of each rate-limit window the source's burst
// fills: the cap over the path's uncapped rate, 1 (no wait) without a cap
// or when the cap is at least the path's rate.
func (r *postcopyRun) useWindow() {
	r.burstFrac = 1
	if r.cfg.preempt {
		r.preempt = true
	}
	if r.cfg.capBps <= 0 || r.cfg.window <= 0 {
		return
	}
	if full := r.path(0).SteadyBps(0, 0, 0); full > r.cfg.capBps {
		r.burstFrac = r.cfg.capBps / full
	}
}

// DefaultRateLimitWindow is QEMU's rate-limit window (BUFFER_DELAY in
// migration/migration.c, 7.2): the source sends a window's quota of
// max-bandwidth or max-postcopy-bandwidth, then sleeps until the window
// ends.
const DefaultRateLimitWindow = 100 * time.Millisecond
