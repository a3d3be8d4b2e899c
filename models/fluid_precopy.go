package models

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// FluidPrecopy is [Precopy] on the fluid engine (model.engine fluid): the
// same rounds, decisions and network, with the guest's pages replaced by
// their expectation.
//
// # Semantics
//
// Everything [Precopy] documents holds, with each count (pages dirtied
// in a round, the migration bitmap under sync_policy qemu) replaced by
// its expectation over the generator's seeds, from the closed forms of
// [traces.Expect]: the pages written in the guest-time window between
// two syncs, the throttle slowing guest time as it slows the trace. A
// pass is sent over the same path model ([sim.Path.Send], or a fleet's
// [SharedNet] with its re-plans), measured by the same 100 ms meter, and
// decided by the same stop rule, caps, auto-converge steps and CPU
// pipeline (multifd, cpu_bound). Under sync_policy qemu the migration
// bitmap is a [fluidBitmap]: the expected pages still to send per piece of
// memory (and zipf rank bucket), scanned upward from its cursor, exact
// under a replayed trace (see [fluidBitmap]).
//
// The result's fields mean what the page engine's mean, counts being
// expectations rounded to whole pages; engine says "fluid" and
// verdict_margin estimates how many page-level seeds would take the
// same decisions (see [Result.VerdictMargin]).
//
// A run costs O(rounds × (memory pieces × zipf buckets)), independent
// of the memory size and of the epochs the guest runs.
//
// # Not covered
//
// XBZRLE with a cache smaller than the pages a zipf workload can write
// (fluid_xbzrle.go, fluid_xbzrle_slots.go), trace files and generators
// with more than 64 zipf phases: see [FluidSupport]. A forced switch
// to post-copy (Input.ForcePostcopyAt) hands over to the fluid post-copy
// as a hybrid does (fluid_hybrid.go), with what a hybrid covers: not the
// page cache with background pages or a second zipf phase. Free-page
// hinting and the balloon are covered with exact sets of pages
// (fluid_composition.go). The guest OS's writes to its background pages
// (Input.BackgroundWriteRate) are covered as a deterministic cyclic
// writer (fluid_background.go), but not with a post-copy phase, XBZRLE or
// the memory options ([fluidBackgroundCovers]).
type FluidPrecopy struct {
	p   PrecopyParams
	par *Parallel // the parallel model whose fluid form this is; nil for precopy
}

// NewFluidParallel returns the fluid form of [Parallel]: pre-copy's fluid
// rounds (whole passes, as the page engine runs them) with the workers'
// streams, wire size and CPU pipeline, each pass's work shared among the
// workers by the expected dirty pages of their ranges.
func NewFluidParallel(p ParallelParams) (*FluidPrecopy, error) {
	par, err := NewParallel(p)
	if err != nil {
		return nil, err
	}
	f, err := NewFluidPrecopy(p.precopy())
	if err != nil {
		return nil, err
	}
	f.par = par
	return f, nil
}

// NewFluidPrecopy returns the fluid pre-copy model, or p's validation
// error. What the fluid engine does not cover depends on the workload and
// is an error of Run (see [FluidSupport]).
func NewFluidPrecopy(p PrecopyParams) (*FluidPrecopy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &FluidPrecopy{p: p}, nil
}

// Name returns "precopy", or "parallel" for [NewFluidParallel]'s.
func (m *FluidPrecopy) Name() string {
	if m.par != nil {
		return m.par.Name()
	}
	return "precopy"
}

// Run simulates one pre-copy migration on the fluid engine.
func (m *FluidPrecopy) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one fluid pre-copy migration beside others ([Launcher]).
func (m *FluidPrecopy) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *FluidPrecopy) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	p := m.p
	x, err := fluidInputFor(p.Parts(), in)
	if err != nil {
		return nil, err
	}
	if err := checkFluidVM(in); err != nil {
		return nil, err
	}
	if err := m.fluidCovers(in); err != nil {
		return nil, err
	}
	r := newFluidRun(m.p, in, env, x)
	if m.par != nil {
		r.useParallel(m.par, in.VM.VCPUs)
	}
	r.sw.force(r.eng, in, m.p, r.postcopyHandover)
	r.start()
	return fluidCollect(r.res), nil
}

// checkFluidVM checks what a fluid run reads of in besides the workload:
// its path and its device state.
func checkFluidVM(in Input) error {
	if err := in.Path.Validate(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if in.VM.DeviceState < 0 {
		return fmt.Errorf("vm.device_state %v is negative", int64(in.VM.DeviceState))
	}
	return nil
}

// fluidCollect returns a fluid run's wait: res once the run has stopped
// with a stop reason, or the error that stopped it.
func fluidCollect(res *Result) func(error) (*Result, error) {
	return func(runErr error) (*Result, error) {
		if runErr != nil && !errors.Is(runErr, sim.ErrStopped) {
			return nil, runErr
		}
		if res.StopReason == 0 {
			return nil, errors.New(res.Model + " (fluid): simulation ended without a stop reason")
		}
		return res, nil
	}
}

// fluidInputFor is [fluidInput] for a model of the given parts: it also
// checks what they need of the workload (XBZRLE's cache must hold every
// page the workload can write, fluid_xbzrle.go).
func fluidInputFor(parts Parts, in Input) (*traces.Expect, error) {
	x, err := fluidInput(in)
	if err != nil {
		return nil, err
	}
	if xb := parts.Xbzrle; xb != nil {
		if err := fluidXbzrleCovers(*xb, x.Layout(), uint64(in.VM.PageSize)); err != nil {
			return nil, err
		}
	}
	if err := fluidBackgroundCovers(parts, in, x); err != nil {
		return nil, err
	}
	return x, nil
}

// fluidInput returns the closed forms of in's workload, or an error
// naming what the fluid engine cannot run.
func fluidInput(in Input) (*traces.Expect, error) {
	if in.Generator == nil {
		return nil, errors.New("workload.trace: a trace file has no closed form; the fluid engine runs generator workloads")
	}
	if err := in.AtEnd.Validate(); err != nil {
		return nil, err
	}
	x, err := traces.NewExpect(*in.Generator, in.VM.Memory, in.VM.PageSize, in.AtEnd != AtEndIdle)
	if err != nil {
		return nil, fmt.Errorf("workload.%w", err)
	}
	return x, nil
}

// fluidRun is the state of one fluid pre-copy simulation: precopyRun
// with expected counts.
type fluidRun struct {
	p   PrecopyParams
	in  Input
	env *runEnv
	eng *sim.Engine
	g   *fluidGuest
	x   *traces.Expect
	lay traces.Layout
	res *Result

	pages      float64 // guest pages
	zeroClass  float64 // the zero class's pages
	pageSize   float64
	wireNormal float64
	wireZero   float64
	capBps     float64
	syncCost   time.Duration

	meter throughputMeter
	conn  sim.Conn
	cpu   *cpuPipeline
	sendS float64

	// The memory options: pages left out at setup and their ranges; the
	// hint and the balloon (fluid_composition.go).
	hinted, cached, ballooned float64
	skipRanges                [][2]uint64
	skipAt                    sim.Time
	comp                      *fluidComp

	// Current round, counts as expectations.
	round        Round
	roundPages   float64
	roundZero    float64
	roundBytes   float64
	roundNormal  float64
	roundEnd     *sim.Event
	liveRounds   int
	transferred  float64
	normalPages  float64
	zeroPages    float64
	liveBytes    float64
	liveStart    sim.Time
	lastExpected float64
	chunkStart   sim.Time
	chunkZero    float64
	chunkBytes   float64
	roundSendS   float64

	// XBZRLE (fluid_xbzrle.go); nil when off. Under sync_policy pass,
	// xbOrigin is the setup sync's guest time, xbUnion the pages written
	// from it to the sync before the latest, and xbFound the pages of the
	// latest sync's set found in the cache.
	xb                         *fluidXbzrle
	xbOrigin, xbUnion, xbFound float64
	xbWin                      traces.Window

	// Under sync_policy qemu: the migration bitmap and its scan.
	bm     *fluidBitmap
	cursor float64
	qemu   bool

	// Auto-converge period.
	periodStart sim.Time
	periodFresh float64
	periodVar   float64
	periodBytes float64
	highCount   int
	throttlePct float64

	// The switch to post-copy, a hybrid's or a forced one (switch.go,
	// fluid_hybrid.go): the handover gets the pages still to send.
	sw postcopySwitch[fluidMissing]

	// margin is the product over decisions of the chance that a seed
	// takes the same branch (Result.VerdictMargin).
	margin float64
	// timeVar is the variance, s², of the time the run has reached, as
	// seeds' dirty sets vary: for a forced switch's decisions
	// (forcedMargin).
	timeVar float64
	// watch is the early verdict's state (verdict.go).
	watch progressWatch
}

func newFluidRun(p PrecopyParams, in Input, env *runEnv, x *traces.Expect) *fluidRun {
	lay := x.Layout()
	ps := float64(in.VM.PageSize)
	memGiB := float64(in.VM.Memory) / float64(units.GiB)
	r := &fluidRun{
		p: p, in: in, env: env, eng: env.eng, x: x, lay: lay,
		g: newFluidGuest(env.eng, x),
		res: &Result{
			Scenario: in.Scenario, Model: "precopy", Seed: in.Seed, Calibration: in.Calibration,
			DeviceStateBytes: uint64(in.VM.DeviceState), Engine: string(EngineFluid),
		},
		pages:      float64(lay.Pages),
		zeroClass:  float64(lay.Pages - lay.ZeroLo),
		pageSize:   ps,
		wireNormal: ps + float64(p.PageHeader),
		wireZero:   float64(p.ZeroPageBytes),
		capBps:     float64(p.MaxBandwidth),
		syncCost:   time.Duration(float64(p.SyncTimePerGiB) * memGiB),
		meter:      throughputMeter{window: p.BandwidthWindow},
		conn:       in.Path.Open(0),
		qemu:       p.SyncPolicy == SyncQEMU,
		margin:     1,
	}
	// The guest OS's writes; fluidInputFor has checked that the fluid
	// engine follows them.
	r.g.bg, _ = newFluidBackground(in, x)
	if m := p.Multifd; m.Channels > 0 {
		r.wireNormal, r.wireZero, r.cpu = m.pipeline(ps, float64(p.PageHeader), in.VM.VCPUs, lay.Pages, nil)
		r.conn = in.Path.Open(m.Channels)
	} else if p.CPUBound {
		r.cpu = singleStreamPipeline(p, ps, lay.Pages, nil)
	}
	r.xb = newFluidXbzrle(p.Xbzrle, uint64(in.VM.PageSize), float64(p.PageHeader), r.wireNormal)
	if r.xb != nil && lay.WrittenTop > r.xb.slots {
		r.xb.cache = newXbzrleSlotModel(r.xb.slots, lay.WrittenTop, x.Cuts()) // pages share slots
	}
	r.comp = newFluidComp(p.FreePageHint, p.Balloon, x, ps)
	return r
}

// useParallel gives the run the parallel model's workers: a stream each,
// the codec's wire size and the workers' CPU pipeline, whose shares
// follow each range's non-zero pages in round 1 and its expected dirty
// pages after (endRound), as [Parallel]'s do.
func (r *fluidRun) useParallel(m *Parallel, vcpus int) {
	zero := roaring.New()
	zero.AddRange(r.lay.ZeroLo, r.lay.Pages)
	r.res.Model = m.Name()
	r.wireNormal, r.cpu = m.workers(vcpus, r.pageSize, r.lay.Pages, zero)
	r.conn = r.in.Path.Open(m.p.Workers)
}

func (r *fluidRun) start() {
	r.g.start()
	r.comp.start(r.eng, r.g) // the balloon's first inflation comes before setup's end
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

// skip fixes the pages the memory options leave out at the setup sync:
// the balloon's (its lowest free pages), the rest of the free class under
// free_page_hint, the page cache under pagecache skip or drop. A
// generator never writes them.
func (r *fluidRun) skip(now sim.Time) float64 {
	r.skipAt = now
	if r.comp != nil {
		// The balloon's pages and the hinted ones, as the guest has
		// changed the free class (fluid_composition.go).
		bal, hint := r.comp.skip(r.g.synced)
		r.ballooned, r.hinted = float64(traces.CountRanges(bal)), float64(traces.CountRanges(hint))
		for _, f := range joinRanges(bal, hint) {
			r.skipRanges = append(r.skipRanges, [2]uint64{f.Lo, f.Hi})
		}
		if r.x.Churn() {
			r.g.comp = r.comp // the dirty sets follow the churn's frees
		}
	}
	if m := r.p.Pagecache.Mode; m == PagecacheSkip || m == PagecacheDrop {
		r.cached = float64(r.lay.FreeLo - r.lay.PagecacheLo)
		r.skipRanges = append(r.skipRanges, [2]uint64{r.lay.PagecacheLo, r.lay.FreeLo})
	}
	return r.ballooned + r.hinted + r.cached
}

// setupDone ends setup with the first sync and starts round 1 over all of
// memory.
func (r *fluidRun) setupDone() {
	r.g.sync()
	r.res.DirtySyncCount++
	now := r.eng.Now()
	r.res.SetupTimeS = now.Seconds()
	r.liveStart, r.periodStart = now, now
	skip := r.skip(now)
	r.xbOrigin = r.g.synced
	if r.qemu {
		r.bm = newFluidBitmap(r.g, r.g.synced, r.skipRanges)
		r.bm.xb = r.xb != nil
		if r.xb != nil {
			r.bm.cache = r.xb.cache
		}
		r.startPeriod()
		return
	}
	r.startRound(r.pages-r.zeroClass-skip, r.zeroClass)
}

// startRound sends normal full pages and zero header-only pages.
func (r *fluidRun) startRound(normal, zero float64) {
	now := r.eng.Now()
	bytes := normal*r.wireNormal + zero*r.wireZero - r.xb.saved(normal)
	r.round = Round{Round: len(r.res.RoundsDetail) + 1, StartS: now.Seconds(), ThrottlePct: r.throttlePct}
	r.roundPages, r.roundZero, r.roundBytes = normal+zero, zero, bytes
	r.roundNormal = normal
	r.chunkStart, r.chunkZero, r.chunkBytes = now, zero, bytes
	r.livePass(now, bytes, r.passCap(normal, zero, bytes, r.capBps), r.endRound)
}

// endRound accounts the round, syncs and decides (sync_policy pass).
func (r *fluidRun) endRound() {
	now := r.eng.Now()
	r.roundEnd = nil
	r.account(r.roundBytes, r.roundNormal, r.roundZero)
	r.liveRounds++

	w := r.g.sync()
	r.res.DirtySyncCount++
	n, v := w.Count(), w.Variance()
	r.xbPass(w, n)
	r.cpu.planExpected(func(lo, hi uint64) float64 { return w.CountIn(lo, hi) }, n)
	bw := r.meter.rate(now, r.bpsLimit())
	r.round.DurationS = now.Seconds() - r.round.StartS
	r.sendS += r.round.DurationS
	r.emitRound(n, bw)

	r.autoConverge(now, v, n)
	r.spreadTime(v, bw)
	r.forcedMargin(now)

	remaining := n * r.wireNormal
	r.lastExpected = remaining * 8 / bw
	threshold := bw / 8 * r.p.DowntimeLimit.Seconds()
	r.decide(remaining-threshold, math.Sqrt(v)*r.wireNormal)
	switch {
	case remaining <= threshold:
		r.stopAndCopy(StopDowntimeMet, n, 0)
	case r.sw.due(r.liveRounds):
		r.sw.to(windowMissing{w, r.g.winFrom})
	case r.p.MaxRounds > 0 && r.liveRounds >= r.p.MaxRounds:
		r.stopAndCopy(StopMaxRounds, n, 0)
	case r.p.MaxBytesFactor > 0 && r.transferred >= r.p.MaxBytesFactor*float64(r.in.VM.Memory):
		r.stopAndCopy(StopMaxBytes, n, 0)
	case r.noProgress(n, threshold):
		r.stopNoProgress(n)
	default:
		r.xbLive(w)
		r.eng.After(r.syncCost, sim.PhaseDecide, func() {
			r.xb.plan(n, r.xbFound, false, r.cpu, r.p.Costs)
			r.startRound(n, 0)
		})
	}
}

// xbPass sets xbFound for the set of the sync just made (w, n pages
// written since the sync before) under sync_policy pass: the pages also
// written between the setup sync and the sync before ([fluidXbzrle]), or,
// when pages share the cache's slots, the slots' model's hits in a
// stop-and-copy pass, which inserts nothing (a live pass's, whose inserts
// evict pages the pass then misses, are xbLive's).
func (r *fluidRun) xbPass(w *traces.Window, n float64) {
	if r.xb == nil {
		return
	}
	if c := r.xb.cache; c != nil {
		c.sync()
		r.xbFound = c.lookup(0, c.top, windowIn(w), true)
		return
	}
	r.g.written(r.xbOrigin, r.g.synced, &r.xbWin)
	union := r.xbWin.Count()
	r.xbFound = math.Max(0, n+r.xbUnion-union)
	r.xbUnion = union
}

// xbLive sets xbFound for a live pass over the set of the sync just made
// (w) when pages share the cache's slots: the slots' model's hits, its
// lookups and inserts made.
func (r *fluidRun) xbLive(w *traces.Window) {
	if r.xb == nil || r.xb.cache == nil {
		return
	}
	c := r.xb.cache
	r.xbFound = c.lookup(0, c.top, windowIn(w), false)
}

// emitRound records the live round that a sync finding n dirty pages
// ended, bw the measured rate.
func (r *fluidRun) emitRound(n, bw float64) {
	r.round.Pages = uint64(math.Round(r.roundPages))
	r.round.ZeroPages = uint64(math.Round(r.roundZero))
	r.round.Bytes = uint64(math.Round(r.roundBytes))
	r.round.DirtiedPages = uint64(math.Round(n))
	r.round.BandwidthBps = bw
	r.emit(r.round)
}

// decide notes a decision on a quantity whose expectation is d away from
// its threshold with standard deviation sd: a seed takes the fluid
// engine's branch with probability Φ(|d|/sd).
func (r *fluidRun) decide(d, sd float64) {
	if sd <= 0 || math.IsNaN(d) {
		return
	}
	r.margin *= 0.5 * math.Erfc(-math.Abs(d)/sd/math.Sqrt2)
}

// spreadTime adds to timeVar the time to send the pages a sync found,
// their variance v, at bw bits/s.
func (r *fluidRun) spreadTime(v, bw float64) {
	if bw > 0 && v > 0 {
		r.timeVar += v * math.Pow(r.wireNormal*8/bw, 2)
	}
}

// forcedMargin is decide for a forced switch to post-copy
// (Input.ForcePostcopyAt) at a decision at now: a page seed switches at
// the first decision after the switch time, and seeds whose decisions
// fall on the other side of it switch a round (under qemu a chunk)
// earlier or later.
func (r *fluidRun) forcedMargin(now sim.Time) {
	at := r.in.ForcePostcopyAt
	if at <= 0 || r.sw.to == nil {
		return
	}
	// The seeds' spread, and the fluid run's own error in time against
	// their mean (within 0.1-0.3 % on TestFluidForcedSwitch): a run whose
	// decision falls within that of the switch time is as close.
	res := forcedTimeResolution * now.Seconds()
	r.decide(now.Seconds()-at.Seconds(), math.Sqrt(r.timeVar+res*res))
}

// forcedTimeResolution is the fluid engine's error in time, a share of
// the time elapsed, that forcedMargin counts beside the seeds' spread.
const forcedTimeResolution = 1e-3

// bpsLimit is the live rounds' steady rate.
func (r *fluidRun) bpsLimit() float64 {
	return r.steadyBps(r.conn.Streams, r.eng.Now(), r.cpu.steadyCap(r.capBps, r.wireNormal))
}

// passCap is [precopyRun.passCap].
func (r *fluidRun) passCap(normal, zero, bytes, capBps float64) float64 {
	return r.cpu.passCap(uint64(math.Round(normal)), uint64(math.Round(zero)), bytes, capBps, func(capBps float64) float64 {
		return r.steadyBps(r.conn.Streams, r.eng.Now(), capBps)
	})
}

// autoConverge is [precopyRun.autoConverge] at a sync that set fresh
// pages (variance v) in the bitmap.
func (r *fluidRun) autoConverge(now sim.Time, v, fresh float64) {
	r.periodFresh += fresh
	r.periodVar += v
	if now.Sub(r.periodStart) <= time.Second {
		return
	}
	period := now.Sub(r.periodStart).Seconds()
	r.res.DirtyPagesRate = r.periodFresh / period
	dirtiedBytes := r.periodFresh * r.pageSize
	xfer := r.transferred - r.periodBytes
	if r.p.AutoConverge {
		trigger := math.Floor(xfer * r.p.ThrottleTriggerThreshold / 100)
		r.decide(dirtiedBytes-trigger, math.Sqrt(r.periodVar)*r.pageSize)
	}
	if pct, stepped := r.p.throttleCheck(r.throttlePct, dirtiedBytes, xfer, &r.highCount); stepped {
		r.throttlePct = pct
		if now >= sim.Time(r.in.ThrottledTraceUntil) {
			r.g.setSpeed(throttledSpeed(r.throttlePct, r.in.CPUDemand))
		}
	}
	r.periodStart, r.periodFresh, r.periodVar, r.periodBytes = now, 0, 0, r.transferred
}

// stopAndCopy stops the guest and sends the final n pages, zero of them
// zero pages, and the device state.
func (r *fluidRun) stopAndCopy(reason StopReason, n, zero float64) {
	now := r.eng.Now()
	r.res.BandwidthBps = r.liveBytes * 8 / now.Sub(r.liveStart).Seconds()
	r.g.pause()
	r.g.sync() // the final sync, with the guest stopped: nothing new
	r.res.DirtySyncCount++
	normal := n - zero
	found := r.xbFound
	if r.qemu {
		found = r.bm.foundAll()
	}
	r.xb.plan(n, found, true, r.cpu, r.p.Costs)
	bytes := normal*r.wireNormal + zero*r.wireZero + float64(r.in.VM.DeviceState) - r.xb.saved(normal)
	sendAt := now.Add(r.syncCost)
	r.res.StopReason = reason
	capBps := r.passCap(normal, zero, bytes, 0)
	done := func(x sim.Transfer, bw float64) {
		xfer := x.Duration
		downtime := r.syncCost + xfer + r.p.ResumeTime + r.in.Path.MeanRTT()
		r.sendS += xfer.Seconds()
		r.account(bytes, normal, zero)
		r.res.DowntimeS = downtime.Seconds()
		r.emit(Round{
			Round: len(r.res.RoundsDetail) + 1, StartS: now.Seconds(), DurationS: downtime.Seconds(),
			Pages: uint64(math.Round(n)), ZeroPages: uint64(math.Round(zero)), Bytes: uint64(math.Round(bytes)),
			BandwidthBps:          bw,
			EffectiveBandwidthBps: x.Bps(),
			ThrottlePct:           r.throttlePct, StopAndCopy: true,
		})
		end := now.Add(downtime)
		if r.env.net == nil || end <= r.eng.Now() {
			r.finish(end)
			return
		}
		r.eng.Schedule(end, sim.PhaseDecide, func() { r.finish(end) })
	}
	if r.env.net == nil {
		x := r.send(sendAt, bytes, capBps, nil)
		done(x, r.steadyBps(r.conn.Streams, sendAt, r.cpu.steadyCap(0, r.wireNormal)))
		return
	}
	r.eng.Schedule(sendAt, sim.PhaseDecide, func() {
		bw := r.steadyBps(r.conn.Streams, sendAt, r.cpu.steadyCap(0, r.wireNormal))
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

// timeUp abandons a migration that has not converged by max_time; the
// round in progress counts up to now.
func (r *fluidRun) timeUp() {
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
		zero := r.chunkZero * frac
		normal := r.roundNormal * frac
		bytes := normal*r.wireNormal + zero*r.wireZero - r.xb.saved(normal)
		r.account(bytes, normal, zero)
		r.roundPages = r.roundPages - r.roundNormal - r.chunkZero + normal + zero
		r.roundZero = r.roundZero - r.chunkZero + zero
		r.roundBytes = r.roundBytes - r.chunkBytes + bytes
		r.round.DurationS = now.Seconds() - r.round.StartS
		r.sendS += r.round.DurationS
		r.round.Pages = uint64(math.Round(r.roundPages))
		r.round.ZeroPages = uint64(math.Round(r.roundZero))
		r.round.Bytes = uint64(math.Round(r.roundBytes))
		if sendS := r.roundSendS + now.Sub(r.chunkStart).Seconds(); r.qemu && sendS > 0 {
			r.round.EffectiveBandwidthBps = r.roundBytes * 8 / sendS
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

func (r *fluidRun) account(bytes, normal, zero float64) {
	r.transferred += bytes
	r.liveBytes += bytes
	r.normalPages += normal
	r.zeroPages += zero
}

func (r *fluidRun) emit(round Round) {
	r.res.RoundsDetail = append(r.res.RoundsDetail, round)
	if r.in.Observer != nil {
		r.in.Observer.ObserveRound(round)
	}
}

func (r *fluidRun) finish(end sim.Time) {
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
	res.Pages = PageCounts{Total: uint64(r.pages), Zero: uint64(math.Round(r.zeroPages)), Normal: uint64(math.Round(r.normalPages))}
	res.ThrottlePct = r.throttlePct
	res.GuestTimeS = r.g.progress()
	if r.sendS > 0 {
		res.EffectiveBandwidthBps = r.transferred * 8 / r.sendS
	}
	res.NetworkRTTS = r.in.Path.MeanRTT().Seconds()
	r.finishComposition(res)
	r.cpu.fill(res)
	r.xb.fill(res)
	precopyDisturbance(res)
	res.VerdictMargin = r.margin
	r.bm.release()
	r.env.halt()
}

// finishComposition fills the memory options' fields as
// [composition.finish] does (fluid_composition.go for the hint and the
// balloon; the page cache is never written, so never sent).
func (r *fluidRun) finishComposition(res *Result) {
	r.comp.fill(res)
	fillFluidPagecache(res, r.p.Pagecache, r.cached, r.pageSize, r.skipAt, pagecacheMisses(r.in, r.lay, r.p.Pagecache))
}

// pagecacheMisses returns the distinct page-cache pages a guest running
// x's layout touches within pc's penalty horizon, mode drop's misses
// ([composition.countMisses]): a generator's workload never touches its
// page cache, but the guest's background pages (in.BackgroundPages),
// read every epoch, include those that lie in it.
func pagecacheMisses(in Input, lay traces.Layout, pc PagecacheParams) uint64 {
	if pc.Mode != PagecacheDrop || pc.PenaltyHorizon <= 0 || in.BackgroundPages <= 0 {
		return 0
	}
	return backgroundIn(uint64(in.BackgroundPages), lay.Pages, lay.PagecacheLo, lay.FreeLo)
}

// fillFluidPagecache fills the page cache's fields for a run that left
// cached pages of pageSize bytes out at skipAt: under mode skip the SAN
// restores them from there, and a completed migration ends no sooner
// than the restore; under mode drop each of misses (pagecacheMisses)
// costs a demand read.
func fillFluidPagecache(res *Result, pc PagecacheParams, cached, pageSize float64, skipAt sim.Time, misses uint64) {
	if pc.Mode != PagecacheSkip && pc.Mode != PagecacheDrop {
		return
	}
	res.SkippedPagecachePages = uint64(cached)
	if pc.Mode == PagecacheDrop {
		fillDropMisses(res, pc, pageSize, misses)
	}
	if pc.Mode == PagecacheSkip && cached > 0 {
		bytes := cached * pageSize
		res.SANBytes = uint64(math.Round(bytes))
		done := sanRestoreEnd(pc, bytes, skipAt)
		if res.Completed {
			res.TotalTimeS = math.Max(res.TotalTimeS, done.Seconds())
		}
	}
}

// The passes over the network, as precopy_link.go sends them.

func (r *fluidRun) send(at sim.Time, bytes, capBps float64, retime func(sim.Transfer)) sim.Transfer {
	var x sim.Transfer
	if r.env.net == nil {
		x, r.conn = r.in.Path.Send(r.conn, at, bytes, capBps)
		return x
	}
	x, r.conn = r.env.net.Send(r.conn, at, bytes, capBps, func(nx sim.Transfer, c sim.Conn) {
		r.conn = c
		if retime != nil {
			retime(nx)
		}
	})
	return x
}

func (r *fluidRun) steadyBps(k int, at sim.Time, capBps float64) float64 {
	if r.env.net == nil {
		return r.in.Path.SteadyBps(k, at, capBps)
	}
	return r.env.net.SteadyBps(k, at, capBps)
}

// livePass sends a live round's pass (or chunk) from now, feeds the
// meter and calls end when its last byte has left; a new plan moves end.
func (r *fluidRun) livePass(now sim.Time, bytes, capBps float64, end func()) {
	plan := func(x sim.Transfer) {
		if !r.qemu {
			r.round.EffectiveBandwidthBps = x.Bps()
		}
		for _, sp := range x.Spans {
			r.meter.add(now.Add(sp.Start), now.Add(sp.End), sp.Bytes)
		}
		r.roundEnd = r.eng.Schedule(now.Add(x.Duration), sim.PhaseDecide, end)
	}
	plan(r.send(now, bytes, capBps, func(x sim.Transfer) {
		r.eng.Cancel(r.roundEnd)
		r.meter.cut(now)
		plan(x)
	}))
}

// The qemu sync policy (precopy_sync.go) on the fluid bitmap.

// startPeriod starts a sync period after a sync or setup.
func (r *fluidRun) startPeriod() {
	r.round = Round{Round: len(r.res.RoundsDetail) + 1, StartS: r.eng.Now().Seconds(), ThrottlePct: r.throttlePct}
	r.roundPages, r.roundZero, r.roundBytes = 0, 0, 0
	r.roundSendS = 0
	r.sendChunk()
}

// stepPages is [precopyRun.stepPages].
func (r *fluidRun) stepPages() float64 {
	link := r.steadyBps(r.conn.Streams, r.eng.Now(), r.cpu.steadyCap(0, r.wireNormal))
	step := r.p.IterateMaxWait
	rate := link
	if r.capBps > 0 && (link <= 0 || r.capBps <= link) {
		step, rate = r.p.BandwidthWindow, r.capBps
	}
	return math.Max(1, rate/8*step.Seconds()/r.wireNormal)
}

// threshold is [precopyRun.threshold].
func (r *fluidRun) threshold(now sim.Time) (bytes, bps float64) {
	bw := r.meter.rate(now, r.bpsLimit())
	return bw / 8 * r.p.DowntimeLimit.Seconds(), bw
}

// sendChunk sends the steps that bring the bitmap below the threshold.
func (r *fluidRun) sendChunk() {
	now := r.eng.Now()
	th, _ := r.threshold(now)
	n, _ := r.bm.count()
	s := r.stepPages()
	j := math.Floor((n-th/r.wireNormal)/s) + 1
	k := math.Min(n, math.Max(1, math.Ceil(j*s)))
	taken, zero, next, lookups, found := r.bm.take(r.cursor, k)
	r.cursor = next
	normal := taken - zero
	if lookups > 0 {
		r.xb.plan(lookups, found, false, r.cpu, r.p.Costs)
	}
	bytes := normal*r.wireNormal + zero*r.wireZero - r.xb.saved(normal)
	r.roundPages += taken
	r.roundZero += zero
	r.roundBytes += bytes
	r.chunkStart, r.roundNormal, r.chunkZero, r.chunkBytes = now, normal, zero, bytes
	r.livePass(now, bytes, r.passCap(normal, zero, bytes, r.capBps), r.endChunk)
}

// endChunk accounts the chunk and sends another or syncs.
func (r *fluidRun) endChunk() {
	now := r.eng.Now()
	r.roundEnd = nil
	r.account(r.chunkBytes, r.roundNormal, r.chunkZero)
	r.roundSendS += now.Sub(r.chunkStart).Seconds()
	th, _ := r.threshold(now)
	r.forcedMargin(now)
	if n, _ := r.bm.count(); n >= 0.5 && n*r.wireNormal >= th && !r.sw.forced {
		r.sendChunk()
		return
	}
	r.syncQEMU()
}

// syncQEMU is [precopyRun.syncQEMU].
func (r *fluidRun) syncQEMU() {
	now := r.eng.Now()
	r.liveRounds++
	w := r.g.sync()
	r.res.DirtySyncCount++
	found := w.Count()
	before, _ := r.bm.count()
	r.bm.sync(r.g.synced)
	after, _ := r.bm.count()
	fresh := math.Max(0, after-before) // QEMU's new_dirty_pages
	th, bw := r.threshold(now)
	r.round.DurationS = now.Seconds() - r.round.StartS
	r.sendS += r.round.DurationS
	if r.roundSendS > 0 {
		r.round.EffectiveBandwidthBps = r.roundBytes * 8 / r.roundSendS
	}
	r.emitRound(found, bw)

	r.autoConverge(now, w.Variance(), fresh)
	r.spreadTime(w.Variance(), bw)

	n, v := r.bm.count()
	remaining := n * r.wireNormal
	r.lastExpected = remaining * 8 / bw
	r.decide(remaining-th, math.Sqrt(v)*r.wireNormal)
	switch {
	case remaining < th || n < 0.5:
		r.stopAndCopy(StopDowntimeMet, n, r.bm.zeroCount())
	case r.sw.due(r.liveRounds):
		r.sw.to(r.bm)
	case r.p.MaxRounds > 0 && r.liveRounds >= r.p.MaxRounds:
		r.stopAndCopy(StopMaxRounds, n, r.bm.zeroCount())
	case r.p.MaxBytesFactor > 0 && r.transferred >= r.p.MaxBytesFactor*float64(r.in.VM.Memory):
		r.stopAndCopy(StopMaxBytes, n, r.bm.zeroCount())
	case r.noProgress(n, th):
		r.stopNoProgress(n)
	default:
		r.eng.After(r.syncPause(), sim.PhaseDecide, r.startPeriod)
	}
}

// syncPause is [precopyRun.syncPause].
func (r *fluidRun) syncPause() time.Duration {
	link := r.steadyBps(r.conn.Streams, r.eng.Now(), r.cpu.steadyCap(0, r.wireNormal))
	if r.capBps <= 0 || link <= r.capBps {
		return r.syncCost
	}
	idle := time.Duration(float64(r.p.BandwidthWindow) * (1 - r.capBps/link))
	return max(0, r.syncCost-idle)
}
