package models

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Precopy is iterative pre-copy live migration as QEMU implements it
// (reference: QEMU 7.2, migration/migration.c migration_iteration_run and
// migration_completion, migration/ram.c ram_save_setup, ram_save_iterate,
// migration_bitmap_sync and mig_throttle_guest_down; Debian 12's
// qemu-system 7.2 is what the validation lab runs).
//
// # Semantics
//
//   - Setup (setup_time) ends with the first dirty-log sync; round 1 then
//     sends every page: zero pages as a header only (zero_page_bytes),
//     every other page in full plus its header (page_header).
//   - Pages written during round i are sent in round i+1: the dirty log is
//     synced when a round's pages have all been sent, and that sync's set
//     is the next round's work. A sync costs sync_time_per_gib × memory
//     while the guest keeps running.
//   - At each sync the model measures throughput over the last
//     bandwidth_window of transfer (QEMU's 100 ms BUFFER_DELAY) and stops
//     the guest when the remaining dirty bytes fit in
//     measured bandwidth × downtime_limit.
//   - Downtime is the sum of one sync, the final dirty set and the device
//     state over the path, resume_time and one RTT. As in QEMU,
//     max_bandwidth does not apply to the stop-and-copy pass.
//   - Every pass goes over the path's TCP stream model ([sim.Path.Send]):
//     network.streams streams (one by default, QEMU's migration channel),
//     each held to its window over the RTT and to Mathis's loss limit,
//     starting in slow start and keeping its window from pass to pass
//     (the pauses between passes are far shorter than the RTO). At RTT 0
//     this is the fluid link, bytes over bandwidth × (1 − loss).
//   - No round cap by default; max_rounds and max_bytes_factor force
//     stop-and-copy (Xen-style). A run that has not converged by max_time
//     ends there with converged false, completed false.
//   - Auto-converge follows migration_trigger_throttle and
//     mig_throttle_guest_down: at the first sync more than 1 s after the
//     start of the current period (which that sync ends), if the bytes
//     newly dirtied in the period (pages not already waiting in the
//     migration bitmap) exceed throttle_trigger_threshold % of the bytes
//     transferred in it, a counter is raised (it is not lowered by a
//     period below); on its second raise it goes back to 0 and the
//     throttle starts at cpu_throttle_initial % or rises by
//     cpu_throttle_increment % (less under cpu_throttle_tailslow), up to
//     max_cpu_throttle %. A throttle of p % runs the guest, and so its
//     trace, at (100 − p) % speed: QEMU's cpu_throttle_thread puts each
//     vCPU to sleep for p/(100 − p) of a 10 ms timeslice every timeslice
//     it runs. The rounds' throttle_pct is the timeline
//     ([Result.ThrottleSteps]).
//
// # Closed form
//
// For a guest that writes d distinct pages per second over all of memory
// and a path of b pages per second (d < b, no fixed costs), round i+1 sends
// V(i+1) = V(i) × d/b pages, V(1) = non-zero pages, and the guest stops in
// the first round with V(i) × page size ≤ b × downtime_limit.
//
// # Sync policy
//
// The above is sync_policy pass, the textbook model. QEMU syncs instead
// as soon as the pages still to send fall below the threshold, not when a
// pass ends; sync_policy qemu, the default, does so (precopy_sync.go), a
// round then being one sync period. The closed form holds for pass only.
type Precopy struct {
	p PrecopyParams
}

// NewPrecopy returns a pre-copy model with the given parameters.
func NewPrecopy(p PrecopyParams) (*Precopy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Precopy{p: p}, nil
}

func precopyInfo() Info {
	return register("precopy",
		"iterative pre-copy with QEMU's stop condition, caps and auto-converge",
		"QEMU 7.2 migration/ram.c and migration/migration.c",
		DefaultPrecopyParams,
		func(p PrecopyParams) (Model, error) { return NewPrecopy(p) })
}

// Name returns "precopy".
func (m *Precopy) Name() string { return "precopy" }

// Params returns the model's parameters.
func (m *Precopy) Params() PrecopyParams { return m.p }

// Run simulates one pre-copy migration.
func (m *Precopy) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one pre-copy migration beside others ([Launcher]).
func (m *Precopy) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *Precopy) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	return launchPrecopyRounds(env, in, m.Name(), m.p, func(r *precopyRun) {
		r.useMultifd(m.p.Multifd)
		r.useSingleStreamCPU(m.p)
		r.useXbzrle(m.p.Xbzrle)
		r.comp = newComposition(m.p.memory(), r.g.hdr)
		r.comp.attach(r.g)
		r.forcePostcopy()
	})
}

// launchPrecopyRounds starts a migration on pre-copy's round structure:
// it opens the guest, checks the input, builds the pre-copy run with p,
// lets configure adapt it (multifd, parallel workers, a hybrid's
// handover) and starts it; the model halts the run when it stops.
// Pre-copy, hybrid and parallel share it.
func launchPrecopyRounds(env *runEnv, in Input, name string, p PrecopyParams, configure func(r *precopyRun)) (func(error) (*Result, error), error) {
	g, err := openGuest(env, in)
	if err != nil {
		return nil, err
	}
	r := newPrecopyRun(p, in, env, g)
	r.res.Model = name
	configure(r)
	r.start()
	return func(runErr error) (*Result, error) {
		defer g.close()
		res, err := collect(g, r.res, nil, runErr)
		if err == nil && res.StopReason == StopPostcopy && r.sw.after == math.MaxInt {
			r.comp.finish(res) // a forced switch: the pre-copy did not finish
		}
		return res, err
	}, nil
}

// checkInput checks that the VM, trace and path agree.
func checkInput(in Input, g *guest) error {
	h := g.hdr
	if in.VM.PageSize != units.Bytes(h.PageSize) {
		return fmt.Errorf("vm.page_size %v differs from the trace's page size %v", in.VM.PageSize, units.Bytes(h.PageSize))
	}
	if in.VM.Memory != units.Bytes(h.MemoryBytes()) {
		return fmt.Errorf("vm.memory %v differs from the trace's memory %v (%d pages of %v)", in.VM.Memory, units.Bytes(h.MemoryBytes()), h.PageCount, units.Bytes(h.PageSize))
	}
	if in.VM.DeviceState < 0 {
		return fmt.Errorf("vm.device_state %v is negative", int64(in.VM.DeviceState))
	}
	if err := in.Path.Validate(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return in.AtEnd.Validate()
}

// precopyRun is the state of one pre-copy simulation.
type precopyRun struct {
	p   PrecopyParams
	in  Input
	env *runEnv
	eng *sim.Engine
	g   *guest
	res *Result

	pages      uint64  // guest pages
	wireNormal float64 // bytes on the wire per full page
	wireZero   float64 // bytes on the wire per zero page
	capBps     float64 // live-round rate cap (0: none)
	syncCost   time.Duration

	meter throughputMeter
	conn  sim.Conn     // the migration stream(s): TCP window state
	comp  *composition // free-page hint, balloon, page cache; nil: off
	sendS float64      // seconds spent sending, all passes

	// Current round.
	round        Round
	roundNormal  uint64
	roundEnd     *sim.Event
	liveRounds   int
	transferred  float64
	normalPages  uint64
	zeroPages    uint64
	liveBytes    float64
	liveStart    sim.Time
	lastExpected float64
	// The chunk in flight: the whole round under sync_policy pass, one
	// run of iteration steps under qemu (precopy_sync.go).
	chunkStart sim.Time
	chunkZero  uint64
	chunkBytes float64
	roundSendS float64 // seconds the round's chunks spent sending

	// q is the qemu sync policy's bitmap; nil under sync_policy pass.
	q *qemuSync

	// Auto-converge period (QEMU's time_last_bitmap_sync etc.).
	periodStart sim.Time
	periodFresh uint64
	periodBytes float64
	highCount   int
	throttlePct float64

	// sw, when set, hands the migration over to post-copy after a
	// hybrid's live rounds or at a forced switch, with the dirty set of
	// the last sync; the pre-copy run does nothing more (switch.go).
	sw postcopySwitch[*dirtyLog]

	// cpu, when not nil, holds passes to what the migration threads can
	// process (multifd, parallel; see costs.go).
	cpu *cpuPipeline
	// xb, when not nil, sends re-sent pages as XBZRLE deltas (xbzrle.go).
	xb *xbzrleCache
	// watch is the early verdict's state (verdict.go).
	watch progressWatch
}

func newPrecopyRun(p PrecopyParams, in Input, env *runEnv, g *guest) *precopyRun {
	ps := float64(g.hdr.PageSize)
	memGiB := float64(g.hdr.MemoryBytes()) / float64(units.GiB)
	return &precopyRun{
		p: p, in: in, env: env, eng: env.eng, g: g,
		res: &Result{
			Scenario: in.Scenario, Model: "precopy", Seed: in.Seed, Calibration: in.Calibration,
			DeviceStateBytes: uint64(in.VM.DeviceState),
		},
		pages:      g.hdr.PageCount,
		wireNormal: ps + float64(p.PageHeader),
		wireZero:   float64(p.ZeroPageBytes),
		capBps:     float64(p.MaxBandwidth),
		syncCost:   time.Duration(float64(p.SyncTimePerGiB) * memGiB),
		meter:      throughputMeter{window: p.BandwidthWindow},
		conn:       in.Path.Open(0),
	}
}

func (r *precopyRun) start() {
	r.g.start()
	r.eng.Schedule(sim.Time(r.p.MaxTime), sim.PhaseDecide, r.timeUp)
	r.eng.After(r.p.SetupTime, sim.PhaseDecide, r.setupDone)
	if u := r.in.ThrottledTraceUntil; u > 0 && r.p.AutoConverge {
		// Past the part of the trace that shows the throttle, it slows
		// the guest.
		r.eng.Schedule(sim.Time(u), sim.PhaseDecide, func() {
			if r.throttlePct > 0 && r.res.StopReason == 0 {
				r.g.setSpeed(throttledSpeed(r.throttlePct, r.in.CPUDemand))
			}
		})
	}
}

// setupDone ends setup with the first sync and starts round 1 over all of
// memory (QEMU sets every bit of the migration bitmap at setup).
func (r *precopyRun) setupDone() {
	r.g.sync()
	r.res.DirtySyncCount++
	now := r.eng.Now()
	r.res.SetupTimeS = now.Seconds()
	r.liveStart, r.periodStart = now, now
	zero := r.g.hdr.ClassPages(traces.ClassZero)
	skip, err := r.comp.skip(now, r.in)
	if err != nil {
		r.g.fail(err)
		return
	}
	if r.p.SyncPolicy == SyncQEMU {
		r.q = r.newQEMUSync()
		r.startPeriod()
		return
	}
	r.startRound(r.pages-zero-skip, zero)
}

// startRound sends normal full pages and zero header-only pages.
func (r *precopyRun) startRound(normal, zero uint64) {
	now := r.eng.Now()
	bytes := float64(normal)*r.wireNormal + float64(zero)*r.wireZero - r.xb.saved(normal)
	r.round = Round{
		Round: len(r.res.RoundsDetail) + 1, StartS: now.Seconds(),
		Pages: normal + zero, ZeroPages: zero, Bytes: uint64(math.Round(bytes)),
		ThrottlePct: r.throttlePct,
	}
	r.roundNormal = normal
	r.chunkStart, r.chunkZero, r.chunkBytes = now, zero, bytes
	r.livePass(now, bytes, r.passCap(normal, zero, bytes, r.capBps), r.endRound)
}

// endRound accounts the round, syncs the dirty log and decides.
func (r *precopyRun) endRound() {
	now := r.eng.Now()
	r.roundEnd = nil
	r.account(float64(r.round.Bytes), r.roundNormal, r.round.ZeroPages)
	r.liveRounds++

	dirty := r.g.sync()
	r.res.DirtySyncCount++
	n := dirty.count
	r.cpu.plan(dirty)
	bw := r.meter.rate(now, r.bpsLimit())
	r.round.DurationS = now.Seconds() - r.round.StartS
	r.sendS += r.round.DurationS
	r.round.DirtiedPages = n
	r.round.BandwidthBps = bw
	r.emit(r.round)

	r.autoConverge(now, n)

	remaining := float64(n) * r.wireNormal
	r.lastExpected = remaining * 8 / bw
	threshold := bw / 8 * r.p.DowntimeLimit.Seconds()
	switch {
	case remaining <= threshold:
		r.stopAndCopy(StopDowntimeMet, dirty)
	case r.sw.due(r.liveRounds):
		r.sw.to(dirty)
	case r.p.MaxRounds > 0 && r.liveRounds >= r.p.MaxRounds:
		r.stopAndCopy(StopMaxRounds, dirty)
	case r.p.MaxBytesFactor > 0 && r.transferred >= r.p.MaxBytesFactor*float64(r.g.hdr.MemoryBytes()):
		r.stopAndCopy(StopMaxBytes, dirty)
	case r.noProgress(n, threshold):
		r.stopNoProgress(n)
	default:
		r.eng.After(r.syncCost, sim.PhaseDecide, func() {
			r.xb.plan(dirty, uint64(r.res.DirtySyncCount), false, r.cpu, r.p.Costs)
			r.startRound(n, 0)
		})
	}
}

// bpsLimit is the live rounds' steady rate: the streams' rate over the
// path (the fluid goodput when TCP does not limit them) or max_bandwidth.
func (r *precopyRun) bpsLimit() float64 {
	return r.steadyBps(r.conn.Streams, r.eng.Now(), r.steadyCap(r.capBps))
}

// autoConverge runs QEMU's migration_bitmap_sync period check at a sync
// that set fresh pages in the migration bitmap, pages not already waiting
// there (QEMU's new_dirty_pages, which num_dirty_pages_period sums; under
// sync_policy pass the bitmap is empty at a sync, so fresh is every page
// the sync found): a period ends at the first sync more than a second
// after it began, and there the result's dirty_pages_rate is the fresh
// pages per second of the period (QEMU's dirty-pages-rate) and
// migration_trigger_throttle compares the bytes freshly dirtied in it with
// the bytes transferred in it ([Throttle.throttleCheck]).
func (r *precopyRun) autoConverge(now sim.Time, fresh uint64) {
	r.periodFresh += fresh
	if now.Sub(r.periodStart) <= time.Second {
		return
	}
	period := now.Sub(r.periodStart).Seconds()
	r.res.DirtyPagesRate = float64(r.periodFresh) / period
	dirtiedBytes := float64(r.periodFresh) * float64(r.g.hdr.PageSize)
	if pct, stepped := r.p.throttleCheck(r.throttlePct, dirtiedBytes, r.transferred-r.periodBytes, &r.highCount); stepped {
		r.throttlePct = pct
		if now >= sim.Time(r.in.ThrottledTraceUntil) {
			r.g.setSpeed(throttledSpeed(r.throttlePct, r.in.CPUDemand))
		}
	}
	r.periodStart, r.periodFresh, r.periodBytes = now, 0, r.transferred
}

// stopAndCopy stops the guest and sends the final dirty set and device
// state; the guest resumes on the destination when they have arrived.
func (r *precopyRun) stopAndCopy(reason StopReason, dirty *dirtyLog) {
	now := r.eng.Now()
	r.res.BandwidthBps = r.liveBytes * 8 / now.Sub(r.liveStart).Seconds()
	r.g.pause()
	if r.g.dirty.count > 0 { // written since the decision's sync
		dirty.or(r.g.dirty)
	}
	n, zero := dirty.count, uint64(0)
	if r.q != nil { // round 1's unsent zero pages still go as a header
		zero = dirty.andCount(r.q.zeroLeft)
	}
	r.xb.plan(dirty, uint64(r.res.DirtySyncCount+1), true, r.cpu, r.p.Costs)
	r.g.sync() // the final sync, with the guest stopped
	r.res.DirtySyncCount++
	normal := n - zero
	bytes := float64(normal)*r.wireNormal + float64(zero)*r.wireZero + float64(r.in.VM.DeviceState) - r.xb.saved(normal)
	sendAt := now.Add(r.syncCost)
	r.res.StopReason = reason
	capBps := r.passCap(normal, zero, bytes, 0) // QEMU lifts max-bandwidth here
	done := func(x sim.Transfer, bw float64) {
		xfer := x.Duration
		downtime := r.syncCost + xfer + r.p.ResumeTime + r.in.Path.MeanRTT()
		r.sendS += xfer.Seconds()
		r.account(bytes, normal, zero)
		r.res.DowntimeS = downtime.Seconds()
		r.emit(Round{
			Round: len(r.res.RoundsDetail) + 1, StartS: now.Seconds(), DurationS: downtime.Seconds(),
			Pages: n, ZeroPages: zero, Bytes: uint64(math.Round(bytes)),
			BandwidthBps:          bw,
			EffectiveBandwidthBps: x.Bps(),
			ThrottlePct:           r.throttlePct, StopAndCopy: true,
		})
		end := now.Add(downtime)
		if r.env.net == nil || end <= r.eng.Now() {
			r.finish(end)
			return
		}
		// Beside others, the migration holds its place until the guest
		// has resumed on the destination.
		r.eng.Schedule(end, sim.PhaseDecide, func() { r.finish(end) })
	}
	if r.env.net == nil {
		x := r.send(sendAt, bytes, capBps, nil)
		done(x, r.steadyBps(r.conn.Streams, sendAt, r.steadyCap(0)))
		return
	}
	// On a shared network the pass takes the share it gets from sendAt
	// on, and the run ends when its last plan does.
	r.eng.Schedule(sendAt, sim.PhaseDecide, func() {
		bw := r.steadyBps(r.conn.Streams, sendAt, r.steadyCap(0))
		var end *sim.Event
		var last sim.Transfer
		plan := func(x sim.Transfer) {
			r.eng.Cancel(end)
			last = x
			end = r.eng.Schedule(sendAt.Add(x.Duration), sim.PhaseDecide, func() { done(last, bw) })
		}
		plan(r.send(sendAt, bytes, capBps, plan))
	})
}

// timeUp abandons a migration that has not converged by max_time. The
// round in progress is counted up to now.
func (r *precopyRun) timeUp() {
	if r.res.StopReason != 0 || r.sw.pending(r.in, r.res.StopReason, r.eng.Now()) {
		return
	}
	now := r.eng.Now()
	r.res.BandwidthBps = r.liveBytes * 8 / math.Max(now.Sub(r.liveStart).Seconds(), 1e-9)
	if r.roundEnd != nil {
		r.eng.Cancel(r.roundEnd)
		frac := 0.0
		if total := r.roundEnd.At().Sub(r.chunkStart); total > 0 {
			frac = math.Min(1, float64(now.Sub(r.chunkStart))/float64(total))
		}
		zero := uint64(math.Floor(float64(r.chunkZero) * frac))
		normal := uint64(math.Floor(float64(r.roundNormal) * frac))
		bytes := float64(normal)*r.wireNormal + float64(zero)*r.wireZero - r.xb.saved(normal)
		r.account(bytes, normal, zero)
		// The chunk in flight counts up to now; earlier chunks in full.
		r.round.Pages = r.round.Pages - r.roundNormal - r.chunkZero + normal + zero
		r.round.ZeroPages = r.round.ZeroPages - r.chunkZero + zero
		r.round.Bytes = r.round.Bytes - uint64(math.Round(r.chunkBytes)) + uint64(math.Round(bytes))
		r.round.DurationS = now.Seconds() - r.round.StartS
		r.sendS += r.round.DurationS
		if sendS := r.roundSendS + now.Sub(r.chunkStart).Seconds(); r.q != nil && sendS > 0 {
			r.round.EffectiveBandwidthBps = float64(r.round.Bytes) * 8 / sendS
		} else if r.round.DurationS > 0 {
			r.round.EffectiveBandwidthBps = bytes * 8 / r.round.DurationS
		}
		r.round.BandwidthBps = r.meter.rate(now, r.bpsLimit())
		r.emit(r.round)
	}
	r.g.pause()
	r.res.StopReason = StopMaxTime
	r.finish(now)
}

func (r *precopyRun) account(bytes float64, normal, zero uint64) {
	r.transferred += bytes
	r.liveBytes += bytes
	r.normalPages += normal
	r.zeroPages += zero
}

func (r *precopyRun) emit(round Round) {
	r.res.RoundsDetail = append(r.res.RoundsDetail, round)
	if r.in.Observer != nil {
		r.in.Observer.ObserveRound(round)
	}
}

func (r *precopyRun) finish(end sim.Time) {
	res := r.res
	res.Converged = res.StopReason.Converged()
	res.Completed = res.StopReason.Completed()
	if !res.Completed {
		res.DowntimeS = 0
	}
	res.TotalTimeS = end.Seconds()
	res.ExpectedDowntimeS = r.lastExpected
	res.TransferredBytes = uint64(math.Round(r.transferred))
	res.Rounds = len(res.RoundsDetail)
	res.Pages = PageCounts{Total: r.pages, Zero: r.zeroPages, Normal: r.normalPages}
	res.ThrottlePct = r.throttlePct
	res.GuestTimeS = r.g.progress().Seconds()
	if r.sendS > 0 {
		res.EffectiveBandwidthBps = r.transferred * 8 / r.sendS
	}
	res.NetworkRTTS = r.in.Path.MeanRTT().Seconds()
	r.comp.finish(res)
	r.cpu.fill(res)
	r.xb.fill(res)
	precopyDisturbance(res)
	r.env.halt()
}
