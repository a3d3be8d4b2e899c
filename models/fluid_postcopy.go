package models

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// FluidPostcopy is [Postcopy] on the fluid engine (model.engine fluid).
//
// # Semantics
//
// The migration's timing is [Postcopy]'s, exactly: setup, the stop, the
// device state, the resume, and the last page's arrival when the link has
// sent every page once (the link never idles while pages are missing, so
// the order of the pages and the guest's faults do not move the end);
// the bytes are every page once, the zero class as a header; on a shared
// network the push follows its share as the page engine's does.
//
// The guest's faults are an expectation, a fluid model of the page
// engine's process integrated in steps of 2 ms to an epoch (stepSize) over
// blocks of memory (64, cut at the generator's class boundaries), for a
// guest that makes each epoch's accesses in random order
// (workload.access_order random, the default but for a sequential
// generator; ascending is not covered):
//
//   - in each step the guest accesses, in each block, the expected pages
//     it had not accessed since it resumed (written or read, from the
//     closed forms of [traces.Expect], background pages in every epoch;
//     a step that ends φ of the way through what is left of an epoch
//     accesses a random φ of that epoch's pages);
//   - such a page is missing with the block's share of pages neither
//     sent nor accessed among those not accessed (accessed pages have all
//     arrived), and on the wire with the block's pushed pages still in
//     flight; the first is a network fault, which stalls the guest for
//     fault_service_time + RTT + the page's transfer + the rest of the
//     pushed page the link is sending (half a page on average, less on a
//     path with no RTT: pushResidual), the second a minor fault, which
//     waits on average half the flight, plus minor_fault_time;
//   - the guest runs the share of each step its stalls leave it, solved
//     as a fixed point (with workload.catch_up, it keeps its schedule
//     while its stalls take less than the step);
//   - the link sends the requested pages first and pushes with the rest
//     of the step's capacity: upward from page 0 under prepaging none;
//     under forward, bubbling and multi-pivot, where each fault moves the
//     push to the faulting page, into each block in proportion to its
//     faults (then upward from the last pivot when no page faults).
//
// requests, minor faults, stall time, guest time, guest_slowdown and
// time_to_full_speed_s come from it; TestFluidPostcopyMatrix measures it
// against the page engine's mean over seeds (see its note in README.md).
//
// # Not covered
//
// Per run (fluidCovers): a guest with access_order ascending. Covered:
// the page cache with background pages (some lie in the page cache: the
// SAN's restore races their first touches, fluid_san.go; mode drop
// counts them as misses), the memory options (the pages
// they leave out at the stop never move; a churning guest's allocations
// after it take the lowest free pages, those left out first, which get
// blocks of their own: churnCuts), multifd channels,
// cpu_bound and postcopy_preempt as the page engine follows them
// ([postcopyStream]), and a capped push's rate-limit windows, their wait
// by its mean (fluid_ratelimit.go).
type FluidPostcopy struct {
	p PostcopyParams
}

// NewFluidPostcopy returns the fluid post-copy model; what it does not
// cover depends on the workload, and is checked per run (fluidCovers).
func NewFluidPostcopy(p PostcopyParams) (*FluidPostcopy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &FluidPostcopy{p: p}, nil
}

// fluidCovers returns an error when in's guest accesses an epoch's pages
// in ascending order: such a guest races the push through memory (it
// trails an upward push and waits on pages on the wire instead of
// requesting them), which a model of counts per block does not follow.
func (m *FluidPostcopy) fluidCovers(in Input) error {
	if in.accessOrder() == AccessAscending {
		return errors.New("workload.access_order: ascending (the default for a sequential generator): a guest scanning memory upwards races the post-copy push page by page, which the fluid engine's post-copy, counts per block of memory, does not follow")
	}
	return nil
}

// Name returns "postcopy".
func (m *FluidPostcopy) Name() string { return "postcopy" }

// Run simulates one post-copy migration on the fluid engine.
func (m *FluidPostcopy) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one fluid post-copy migration beside others ([Launcher]).
func (m *FluidPostcopy) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *FluidPostcopy) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	return m.launchWith(env, in, m.Name(), nil)
}

// launchWith is launch for a model of the given name; configure, when
// not nil, adjusts the post-copy phase before it begins (enlightened's).
func (m *FluidPostcopy) launchWith(env *runEnv, in Input, name string, configure func(*fluidPostcopyRun)) (func(error) (*Result, error), error) {
	p := m.p
	x, err := fluidInputFor(p.Parts(), in)
	if err != nil {
		return nil, err
	}
	if err := m.fluidCovers(in); err != nil {
		return nil, err
	}
	if err := checkFluidVM(in); err != nil {
		return nil, err
	}
	cfg := p.config()
	res := &Result{Scenario: in.Scenario, Model: name, Seed: in.Seed, Calibration: in.Calibration,
		DeviceStateBytes: uint64(in.VM.DeviceState), Engine: string(EngineFluid), VerdictMargin: 1}
	g := newFluidGuest(env.eng, x)
	g.start()
	r := newFluidPostcopyRun(cfg, in, env, g, x, res)
	if configure != nil {
		configure(r)
	}
	// The memory options: the stop is the skip point, and the pages they
	// leave out there never move (free pages and page cache, which a
	// generator's guest does not touch).
	o := p.memory()
	comp := newFluidComp(o.hint, o.balloon, x, float64(in.VM.PageSize))
	comp.start(env.eng, g) // the balloon's first inflation comes before setup's end
	var cached []traces.PageRange
	if lay := x.Layout(); o.pagecacheOn() && lay.FreeLo > lay.PagecacheLo {
		cached = []traces.PageRange{{Lo: lay.PagecacheLo, Hi: lay.FreeLo}}
	}
	r.san = newFluidSAN(o.pagecache, x.Layout(), float64(in.VM.PageSize), sim.Time(cfg.setup))
	if o.active() {
		r.composition = func(res *Result) {
			comp.fill(res)
			fillFluidPagecache(res, o.pagecache, float64(traces.CountRanges(cached)), float64(in.VM.PageSize), sim.Time(cfg.setup), pagecacheMisses(in, x.Layout(), o.pagecache))
		}
	}
	env.eng.Schedule(sim.Time(cfg.setup), sim.PhaseDecide, func() {
		g.pause()
		g.sync()
		res.SetupTimeS = env.eng.Now().Seconds()
		res.DirtySyncCount = 1
		r.skipped = cached
		if comp != nil {
			bal, hint := comp.skip(g.synced)
			r.skipped = joinRanges(joinRanges(bal, hint), cached)
		}
		r.begin(0, nil)
	})
	return fluidCollect(res), nil
}

// churnHorizon returns the guest time, seconds, past the resume within
// which a churning guest's allocations get blocks of their own: the
// whole memory's transfer at the rate of the stop, with an epoch's
// margin (a guest held up by faults gets less far).
func (r *fluidPostcopyRun) churnHorizon(lay traces.Layout) float64 {
	if !r.x.Churn() || r.rateBps <= 0 {
		return 0
	}
	return float64(lay.Pages)*r.wireNormal*8/r.rateBps + r.x.Epoch().Seconds()
}

// churnCuts returns the pages a churning guest allocates after the
// resume, within churnHorizon: each epoch's apart (the pages of one
// epoch are touched together), over at most maxChurnCuts ranges and
// epochs, beyond which the union of the rest.
func (r *fluidPostcopyRun) churnCuts(lay traces.Layout) []traces.PageRange {
	h := r.churnHorizon(lay)
	if h <= 0 {
		return nil
	}
	const maxChurnCuts = 256
	ep := r.x.Epoch().Seconds()
	var out []traces.PageRange
	t := r.resumeG
	k0 := math.Floor(r.resumeG / ep)
	for k := k0; t < r.resumeG+h && len(out) < maxChurnCuts && k < k0+maxChurnCuts; k++ {
		e := (k + 1) * ep
		out = append(out, r.x.ChurnWritten(t, e)...)
		t = e
	}
	if t < r.resumeG+h {
		out = append(out, r.x.ChurnWritten(t, r.resumeG+h)...)
	}
	return out
}

// fluidBlock is a block of guest memory in the fluid post-copy's model.
type fluidBlock struct {
	lo, hi   uint64
	n        float64 // pages
	zero     bool    // the zero class: never accessed, sent as a header
	have     float64 // pages the destination had at the switch (a hybrid's pre-copy sent them)
	pushed   float64 // pages pushed
	reqd     float64 // pages requested
	accessed float64 // expected pages accessed since the resume
	inflight float64 // pushed pages on the wire
	faults   float64 // network faults in the current step
}

// unsent returns the block's pages the source still holds.
func (b *fluidBlock) unsent() float64 { return math.Max(0, b.n-b.have-b.pushed-b.reqd) }

// fluidPostcopyRun is the post-copy phase of one fluid migration.
type fluidPostcopyRun struct {
	cfg postcopyConfig
	in  Input
	env *runEnv
	eng *sim.Engine
	g   *fluidGuest
	x   *traces.Expect
	res *Result

	rateBps              float64
	wireNormal, wireZero float64
	oneWay               float64 // RTT/2, ns
	tauReq               float64 // a requested page's link time, ns (useStream)
	preempt              bool    // requests bypass the push (multifd, postcopy_preempt)
	bottleneck           string  // what bounds the push (with a CPU model)
	window               fluidWindow
	reqWait              float64   // a request's mean wait for the windows in the last step, ns
	shortStep            float64   // ns (stepSize)
	pushRate             []float64 // with windows: per block, pages pushed per ns in the last push
	pages, zeroPages     float64

	stopAt, resumeAt, doneAt sim.Time
	pushStart                sim.Time
	finished                 bool
	endEv                    *sim.Event
	release                  func()
	meter                    fullSpeedMeter

	// The fluid model's state, integrated up to odeT.
	blocks  []fluidBlock
	odeT    sim.Time // wall time reached
	guestT  float64  // guest seconds reached
	resumeG float64  // guest seconds at the resume
	pivot   int      // the block the push is in
	acc     []float64
	wWin    fluidWin // written since the resume, up to the current epoch
	rWin    fluidWin // read likewise
	wCur    fluidWin // the current epoch's writes left
	rCur    fluidWin
	lastPhi float64 // phi of the last newAccesses, whose accesses guestStep commits
	// After pre-copy rounds: per block, the overlap of the guest's
	// accesses with what the switch left (fluid_replay.go), and the
	// windows it takes.
	replay      []replayState
	unionWins   map[float64]*[2]fluidWin
	rFrom, rEnd fluidWin
	// Per block, from the windows above (epochSets): expected pages
	// accessed from the resume to setsFrom, and in [setsFrom, setsEnd).
	doneSet, curSet   []float64
	inSets            [4][]float64 // scratch: per block, the four windows' pages (epochSets)
	bg, bgLeft        []float64    // per block: background pages, the share left at the resume (setBackground)
	bgEpoch           float64      // the epoch under way at the resume
	setsFrom, setsEnd float64
	requests          float64
	minor             float64
	stall             float64     // seconds
	run               float64     // the guest's mean run between network faults in the last step, ns (pushResidual)
	reqPerNs          float64     // the requests' link time per ns of the guest's part of the last step
	hist              []pushStep  // the steps whose pushes may still be on the wire, oldest first
	faultQ            []faultStep // faults whose requests have not reached the source yet, in order
	faultSpare        [][]float64
	pivotSum          []float64
	openBlocks        []int              // scratch: the blocks with pages to send (pushPages)
	fwdLeft           []float64          // forward: per block, the pages above the last pivot in it left to push
	enl               *fluidEnl          // enlightened post-copy's list; nil: none (fluid_enlightened.go)
	strata            *fluidStrata       // a zipf guest's blocks by rank bucket after pre-copy rounds; nil: none (fluid_strata.go)
	composition       func(*Result)      // fills the memory options' fields at the end; nil: none
	skipped           []traces.PageRange // the pages they leave out at the stop: free and page-cache pages, which the guest does not touch
	san               *fluidSAN          // the page cache's restore from the SAN under pagecache skip; nil: none (fluid_san.go)
	spare             [][]float64        // their slices, for reuse

	// What the phase sends: pages as full pages and as zero headers
	// (zeroHeaders: the zero class goes as headers, pure post-copy's),
	// and what a hybrid's pre-copy rounds sent before.
	zeroHeaders                  bool
	sendNormal, sendZero         float64
	preBytes, preNormal, preZero float64
}

// newFluidPostcopyRun returns the post-copy phase of a fluid migration
// whose guest g runs workload x and whose result is res.
func newFluidPostcopyRun(cfg postcopyConfig, in Input, env *runEnv, g *fluidGuest, x *traces.Expect, res *Result) *fluidPostcopyRun {
	return &fluidPostcopyRun{cfg: cfg, in: in, env: env, eng: env.eng, g: g, x: x, res: res}
}

// begin stops the guest now (the caller has paused it) and starts the
// post-copy phase. pre is the time the guest is stopped before the device
// state goes out (a hybrid's final sync). missing gives the expected
// pages of [lo, hi) the destination lacks after a hybrid's pre-copy
// rounds, all sent as full pages; nil: every page, the zero class as a
// header (pure post-copy).
func (r *fluidPostcopyRun) begin(pre time.Duration, missing fluidMissing) {
	now := r.eng.Now()
	lay := r.x.Layout()
	ps := float64(r.in.VM.PageSize)
	r.pages = float64(lay.Pages)
	r.zeroPages = float64(lay.Pages - lay.ZeroLo)
	r.wireNormal = ps + float64(r.cfg.pageHeader)
	r.wireZero = float64(r.cfg.zeroPageBytes)
	r.oneWay = float64(r.in.Path.RTT) / 2
	r.meter = newFullSpeedMeter(r.cfg.fullWindow, r.cfg.fullSpeed)
	r.rateBps = r.path(0).SteadyBps(0, now, r.cfg.capBps)
	r.useStream(now)
	r.window = r.newFluidWindow()
	r.stopAt = now
	dev := r.deviceStatePath(now).TransferTime(float64(r.in.VM.DeviceState), r.cfg.capBps)
	r.pushStart = now.Add(pre + dev)
	r.resumeAt = r.pushStart.Add(r.cfg.resume + r.in.Path.RTT)
	r.odeT = r.pushStart
	r.resumeG = r.g.progress()
	r.guestT = r.resumeG
	// Blocks are also cut where the workload's pieces change (a hotcold
	// guest's hot part, the phases' working sets): a block must be
	// uniform for the pages a hybrid leaves behind, which the guest wrote
	// last, to be spread like those it touches next.
	// So are they where the epoch under way at the stop splits between
	// the pages written before it (the epoch's lowest, all still to send
	// after a hybrid's rounds) and those it has yet to touch.
	var w, part traces.Window
	ep := r.x.Epoch().Seconds()
	r.x.Written(0, math.Max(r.resumeG, ep), &w)
	r.x.Written(math.Floor(r.resumeG/ep)*ep, r.resumeG, &part)
	cuts := append(w.Pieces, part.Pieces...)
	if r.enl != nil && missing == nil {
		r.skipped = r.enlFree(lay)
	}
	// And where the pages the memory options leave out begin and end, and
	// the pages a churning guest allocates after the resume: it takes the
	// lowest free pages, which are those left out (backed by fresh pages,
	// touching them moves nothing) or those freed since the stop (sent
	// like any other), and a block must not mix them.
	for _, pr := range r.skipped {
		cuts = append(cuts, traces.Piece{Lo: pr.Lo, Hi: pr.Hi})
	}
	for _, pr := range r.churnCuts(lay) {
		cuts = append(cuts, traces.Piece{Lo: pr.Lo, Hi: pr.Hi})
	}
	r.blocks = fluidBlocks(lay, cuts)

	r.acc = make([]float64, len(r.blocks))
	r.zeroHeaders = missing == nil
	if missing == nil {
		r.sendNormal, r.sendZero = r.pages-r.zeroPages, r.zeroPages
		// The pages the memory options leave out (free pages under
		// free_page_hint and the balloon, backed by fresh pages at the
		// destination; page cache, restored from the SAN or dropped) are
		// never sent, and never faulted: the guest does not touch them.
		for i := range r.blocks {
			b := &r.blocks[i]
			k := float64(traces.CountRanges(traces.IntersectRanges(r.skipped, []traces.PageRange{{Lo: b.lo, Hi: b.hi}})))
			b.have = k
			r.sendNormal -= k
		}
	} else {
		for i := range r.blocks {
			b := &r.blocks[i]
			m := math.Min(b.n, math.Max(0, missing.countIn(b.lo, b.hi)))
			b.have = b.n - m
			r.sendNormal += m
		}
		// A zipf guest's missing pages are its popular ranks, which it
		// touches first: its blocks are split by rank bucket
		// (fluid_strata.go).
		r.strata = newFluidStrata(r.x, r.blocks, missing)
		r.setReplay(missing)
	}
	r.setBackground()
	if r.enl != nil {
		r.enlBegin()
	}
	r.setDone(now)
	r.shortStep = math.Max(0.1e6, math.Min(2e6, float64(r.doneAt-r.pushStart)/40))
	r.meter.addLoss(r.stopAt, r.resumeAt, 1)
	if r.env != nil && r.env.net != nil {
		held := false
		r.release = r.env.net.Hold(r.cfg.stream.channels, r.cfg.capBps, func(bps float64) {
			if held {
				r.rerate(bps)
			}
		})
		held = true
	} else {
		for _, c := range r.in.Path.Schedule {
			at := sim.Time(c.At)
			if at <= r.stopAt {
				continue
			}
			r.eng.Schedule(at, sim.PhaseClock, func() {
				r.rerate(r.in.Path.SteadyBps(r.cfg.stream.channels, at, r.cfg.capBps))
			})
		}
	}
	r.scheduleEnd()
}

// fluidBlocks cuts memory into 64 blocks, also cut at the layout's class
// boundaries and at those of pieces.
func fluidBlocks(l traces.Layout, pieces []traces.Piece) []fluidBlock {
	cuts := []uint64{0, l.Pages, l.ZeroLo, l.FreeLo, l.PagecacheLo, l.WorkingSet, l.ZipfTop}
	for _, pc := range pieces {
		cuts = append(cuts, pc.Lo, pc.Hi)
	}
	const n = 64
	for i := uint64(1); i < n; i++ {
		cuts = append(cuts, l.Pages*i/n)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []fluidBlock
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		if hi <= lo || hi > l.Pages {
			continue
		}
		out = append(out, fluidBlock{lo: lo, hi: hi, n: float64(hi - lo), zero: lo >= l.ZeroLo})
	}
	return out
}

// path returns the path the phase runs over for k streams: in.Path, or
// the shared network's as it offers it now.
func (r *fluidPostcopyRun) path(k int) sim.Path {
	if r.env == nil || r.env.net == nil {
		return r.in.Path
	}
	return r.env.net.Path(k, r.cfg.capBps)
}

// useStream applies the stream settings ([postcopyStream]) to the push,
// as [postcopyRun.useStream] does: over multifd channels the push runs
// at the channels' rate with their packet headers and requests bypass it
// on the single stream, as they do with postcopy_preempt; with a CPU
// model the push runs at the least of the streams' rate and the CPU's.
// rateBps is the single stream's rate at now.
func (r *fluidPostcopyRun) useStream(now sim.Time) {
	s := r.cfg.stream
	r.tauReq = r.wireNormal * 8e9 / r.rateBps
	r.preempt = r.cfg.preempt || s.channels > 0
	if s.channels > 0 {
		r.wireNormal += s.packetHeader
		r.wireZero += s.packetHeader
		r.rateBps = r.path(s.channels).SteadyBps(s.channels, now, r.cfg.capBps)
	}
	r.rateBps, r.bottleneck = s.pushRate(r.rateBps, r.wireNormal)
	if s.channels == 0 { // one stream: requests take the push's page times
		r.tauReq = r.wireNormal * 8e9 / r.rateBps
	}
}

// deviceStatePath is [postcopyRun.deviceStatePath].
func (r *fluidPostcopyRun) deviceStatePath(now sim.Time) sim.Path {
	p := r.path(r.cfg.stream.channels)
	if (r.env == nil || r.env.net == nil) && len(p.Schedule) > 0 {
		p.Bandwidth, p.Loss, p.Schedule = units.BitRate(p.AvailableBps(now)), 0, nil
	}
	return p
}

// tau returns a page's link time, ns: a zero page's when zero is set.
func (r *fluidPostcopyRun) tau(zero bool) float64 {
	if zero && r.zeroHeaders {
		return r.wireZero * 8e9 / r.rateBps
	}
	return r.wireNormal * 8e9 / r.rateBps
}

// setDone sets when the last page lands from the link's work left at now.
func (r *fluidPostcopyRun) setDone(now sim.Time) {
	var left float64 // ns of link time
	for i := range r.blocks {
		b := &r.blocks[i]
		left += b.unsent() * r.tau(b.zero)
	}
	if e := r.enl; e != nil && !e.rest {
		left -= e.pos * r.tau(false) // the list's pages sent, which the blocks do not hold yet
	}
	from := math.Max(float64(now), float64(r.pushStart))
	r.doneAt = max(r.resumeAt, sim.Time(math.Ceil(from+left+r.oneWay)))
}

// rerate carries the push on at bps from now.
func (r *fluidPostcopyRun) rerate(bps float64) {
	if r.finished || bps <= 0 {
		return
	}
	now := r.eng.Now()
	r.advance(now)
	bps, _ = r.cfg.stream.pushRate(bps, r.wireNormal)
	r.rateBps = bps
	if r.cfg.stream.channels == 0 {
		r.tauReq = r.wireNormal * 8e9 / bps
	}
	r.setDone(now)
	r.scheduleEnd()
}

// scheduleEnd (re)schedules the phase's end: the last page's arrival, or
// max_time.
func (r *fluidPostcopyRun) scheduleEnd() {
	r.eng.Cancel(r.endEv)
	if limit := sim.Time(r.cfg.maxTime); r.doneAt > limit {
		r.endEv = r.eng.Schedule(max(limit, r.eng.Now()), sim.PhaseDecide, func() { r.finish(StopMaxTime, r.eng.Now()) })
	} else {
		r.endEv = r.eng.Schedule(r.doneAt, sim.PhaseDecide, func() { r.finish(StopPostcopy, r.doneAt) })
	}
}

// advance integrates the fluid model up to wall time t.
func (r *fluidPostcopyRun) advance(t sim.Time) {
	for r.odeT < t {
		dt := math.Min(r.stepSize(), float64(t-r.odeT))
		r.step(dt)
		r.odeT = r.odeT.Add(time.Duration(math.Max(1, math.Round(dt))))
	}
}

// stepSize returns the next step's length, ns: a hundredth of the push
// still to go, between the short step and an epoch; the short step while
// an enlightened guest rides its list. The short step is 2 ms, or a
// fortieth of the phase as it began, down to 0.1 ms.
// TestFluidPostcopyMatrix's errors with 2 ms steps throughout are those
// of 1 ms steps and of these; a post-copy phase of a few tens of
// milliseconds (a hybrid's), or a guest racing the push along its list,
// needs the short ones; one of a few milliseconds (a hybrid whose rounds
// left it the guest's hot pages), shorter still: with 2 ms steps such a
// phase of 7 ms gave 37 % more requests than the page seeds, with 0.25
// ms steps 4.5 % fewer.
func (r *fluidPostcopyRun) stepSize() float64 {
	ep := float64(r.x.Epoch())
	short := math.Min(ep, r.shortStep)
	if r.enl != nil && !r.enl.past {
		return short
	}
	return math.Max(short, math.Min(ep, float64(r.doneAt-r.odeT)/100))
}

// step integrates one step of dt ns from odeT.
//
// The guest runs from the resume on, and meets the pages as they are
// halfway through its part of the step: the push goes on to there first
// (less the link time the requests are expected to take by then, at the
// last step's rate), then the guest, then the push for the rest of the
// step. (Taking the state at the step's start instead overstates what is
// missing while the push runs through what the guest touches: 10 % more
// faults for a hybrid whose post-copy lasts 15 ms.)
func (r *fluidPostcopyRun) step(dt float64) {
	if r.enl != nil {
		r.enlStep(dt)
		return
	}
	r.blockStep(dt)
}

// blockStep is step over the blocks of memory.
func (r *fluidPostcopyRun) blockStep(dt float64) {
	t0 := float64(r.odeT)
	run := math.Min(dt, t0+dt-float64(r.resumeAt))
	if run <= 0 {
		r.push(dt, t0, t0+dt)
		return
	}
	pre := dt - run/2 // wall ns before the guest's midpoint
	est := math.Min(pre, r.reqPerNs*run/2)
	r.push(pre-est, t0, t0+pre)
	reqd := r.guestStep(run, t0+dt)
	r.reqPerNs = reqd / run
	r.noteFaults(t0 + pre)
	r.push(math.Max(0, dt-pre-(reqd-est)), t0+pre, t0+dt)
}

// guestStep runs the guest for up to dt ns of wall time, ending at end
// (ns), and returns the link time its requests took, ns.
func (r *fluidPostcopyRun) guestStep(dt, end float64) float64 {
	tauN := r.tau(false)
	service := float64(r.cfg.faultService)
	// A request's page follows the pushed page on the link, or with
	// preempt bypasses the push, taking a single stream's page time.
	// Under a capped push's rate-limit windows it first waits for the
	// burst's end or the next window, then for the pushed page on the
	// link at a phase the wait has scattered (fluid_ratelimit.go).
	wait := tauN + pushResidual(tauN, 2*r.oneWay+service, r.run)
	r.reqWait = 0
	switch {
	case r.preempt:
		wait = r.tauReq
	case r.window.active():
		r.reqWait = r.window.meanWait(service+r.oneWay, 1.5*tauN+r.oneWay, r.run)
		wait = r.reqWait - r.pushedWhileWaiting(r.reqWait) + 1.5*tauN
	}
	sNet := service + 2*r.oneWay + wait
	sMinor := r.oneWay/2 + tauN/2 + float64(r.cfg.minorFault)
	// The guest ns g of this step. A closed loop runs g such that g and
	// the stalls of g's accesses fill dt. With catch_up the guest runs
	// what its wall-clock schedule has due by the step's end (its
	// backlog included), as much of it as its stalls leave time for.
	// Stalls grow with g about in proportion; a few fixed-point steps
	// settle it.
	at := end - dt/2 // the accesses' wall time, for the SAN's waits
	stalls := func(g float64) float64 {
		faults, minor, san := r.newAccesses(g/1e9, at)
		return faults*sNet + minor*sMinor + san
	}
	gmax, busy := dt, func(g float64) float64 { return g + stalls(g) - dt }
	if r.in.CatchUp {
		due := r.resumeG*1e9 + (end - float64(r.stopAt)) // the schedule at the step's end, guest ns
		gmax, busy = math.Max(0, due-r.guestT*1e9), func(g float64) float64 { return stalls(g) - dt }
	}
	g := solveIncreasing(busy, -dt, gmax, 1e-6*dt) // busy(0) = -dt: no accesses, no stalls
	faults, minor, san := r.newAccesses(g/1e9, at)

	// Commit: the accesses of g guest ns.
	var reqd float64
	for i := range r.blocks {
		b := &r.blocks[i]
		b.accessed += r.acc[i]
		b.reqd += b.faults
		reqd += b.faults
		if r.strata != nil && r.strata.cells[i] != nil {
			r.strata.commit(i, r.lastPhi)
		}
		if r.replay != nil {
			r.replay[i].am += r.replay[i].amTrial
		}
	}
	r.guestT += g / 1e9
	stall := faults*sNet + minor*sMinor + san
	if faults > 0 {
		r.run = g / faults // the guest's time from a resume to its next network fault, ns
		if r.in.CatchUp && g > dt {
			r.run = 0 // catching up: the next access comes at once
		}
	}
	r.requests += faults
	r.minor += minor
	r.stall += stall / 1e9
	if loss := math.Min(1, stall/dt); loss > 0 {
		a := r.odeT
		if a < r.resumeAt {
			a = r.resumeAt
		}
		r.meter.addLoss(a, a.Add(time.Duration(dt)), loss)
	}
	return reqd * tauN
}

// newAccesses sets acc (each block's new accesses) and each block's
// faults for the guest running g guest seconds from guestT, its accesses
// at wall time at (ns), and returns the network and minor faults and the
// SAN's waits (ns, fluid_san.go).
//
// The pages accessed since the resume are those of the epochs the guest
// has finished (the first from where it resumed) and a share of the
// epoch under way: under access_order random, the first φ of the rest of
// an epoch's time makes a random φ of the accesses left in it, so a page
// of the current epoch's set has been accessed with probability φ times
// its own, independently of the epochs before. Background pages belong to
// every epoch's set.
func (r *fluidPostcopyRun) newAccesses(g, at float64) (faults, minor, san float64) {
	k, phi := r.epochOf(r.guestT + g)
	r.lastPhi = phi
	sanOn := r.san != nil && at < float64(r.doneAt)
	if r.strata != nil {
		r.strata.prepare(r.blocks, r.setsFrom, r.setsEnd)
	}
	for i := range r.blocks {
		b := &r.blocks[i]
		b.faults = 0
		r.acc[i] = 0
		if b.zero {
			continue
		}
		if r.strata != nil && r.strata.cells[i] != nil {
			var m float64
			r.acc[i], b.faults, m = r.strata.accesses(i, phi)
			faults += b.faults
			minor += m
			continue
		}
		w, bgT := r.touchedParts(i, k, phi)
		total := unionBackground(w, bgT, b.n)
		fresh := math.Max(0, total-b.accessed)
		r.acc[i] = fresh
		if sanOn && fresh > 0 && r.san.holds(b.lo, b.hi) {
			san += fresh * r.san.meanWait(b.lo, b.hi, at)
		}
		if r.replay != nil && r.replay[i].parts != nil {
			f, m := r.replayAccesses(i, w, bgT, total, phi)
			b.faults = f
			faults += f
			minor += m
			continue
		}
		notAcc := b.n - b.accessed
		if fresh <= 0 || notAcc <= 0 {
			continue
		}
		pm := math.Min(1, b.unsent()/notAcc)
		pf := math.Min(1-pm, b.inflight/notAcc)
		b.faults = fresh * pm
		faults += b.faults
		minor += fresh * pf
	}
	return faults, minor, san
}

// epochOf returns the epoch k that guest time t (seconds) falls in, t at
// an epoch's end counting in that epoch, and phi, the share of what was
// left of it at the resume that t has run; it sets the blocks' sets for
// that epoch (epochSets).
func (r *fluidPostcopyRun) epochOf(t float64) (k, phi float64) {
	ep := r.x.Epoch().Seconds()
	k = math.Floor(t / ep)
	if k*ep >= t && t > r.resumeG {
		k-- // t ends epoch k-1
	}
	eStart, eEnd := k*ep, (k+1)*ep
	from := math.Max(r.resumeG, eStart) // the epoch's part left at the resume
	if eEnd > from {
		phi = math.Min(1, (t-from)/(eEnd-from))
	}
	r.epochSets(eStart, from, eEnd)
	return k, phi
}

// epochSets sets each block's expected pages accessed from the resume to
// from (doneSet) and in what is left of the current epoch, [from, eEnd)
// (curSet), for the epoch [eStart, eEnd); they change once an epoch, so
// the steps and the solver's trials within one reuse them.
func (r *fluidPostcopyRun) epochSets(eStart, from, eEnd float64) {
	if r.doneSet != nil && from == r.setsFrom && eEnd == r.setsEnd {
		return
	}
	r.setsFrom, r.setsEnd = from, eEnd
	if r.doneSet == nil {
		r.doneSet = make([]float64, len(r.blocks))
		r.curSet = make([]float64, len(r.blocks))
	}
	// Each piece's probability once (a zipf piece's is a sum over its
	// rank buckets), then each block's pages from them.
	r.x.Written(r.resumeG, from, &r.wWin.w)
	r.x.Read(r.resumeG, from, &r.rWin.w)
	r.x.Written(from, eEnd, &r.wCur.w)
	r.x.Read(from, eEnd, &r.rCur.w)
	for _, w := range []*fluidWin{&r.wWin, &r.rWin, &r.wCur, &r.rCur} {
		w.setPieces()
	}
	for k, w := range []*fluidWin{&r.wWin, &r.rWin, &r.wCur, &r.rCur} {
		r.inSets[k] = inBlocks(w, r.blocks, r.inSets[k])
	}
	for i := range r.blocks {
		b := &r.blocks[i]
		r.doneSet[i], r.curSet[i] = 0, 0
		if !b.zero && (r.strata == nil || r.strata.cells[i] == nil) {
			r.doneSet[i] = union(r.inSets[0][i], r.inSets[1][i], b.n)
			r.curSet[i] = union(r.inSets[2][i], r.inSets[3][i], b.n)
		}
	}
	if r.strata != nil {
		r.strata.setEpoch(r.blocks, &r.wWin.w, &r.rWin.w, &r.wCur.w, &r.rCur.w)
	}
	r.replayWindows(from, eEnd)
	if r.strata != nil {
		r.strata.replayEpoch(r.blocks, r.replay, r.unionWins, &r.rFrom, &r.rEnd)
	}
}

// inBlocks returns dst (reused) set to the expected pages of window w in
// each block, inWin over each, in one sweep: the blocks and w's pieces
// both ascend without overlapping, so a block's pieces start where the
// last block's ended.
func inBlocks(w *fluidWin, blocks []fluidBlock, dst []float64) []float64 {
	dst = slices.Grow(dst[:0], len(blocks))[:len(blocks)]
	ps := w.w.Pieces
	j := 0
	for i := range blocks {
		lo, hi := blocks[i].lo, blocks[i].hi
		for j < len(ps) && ps[j].Hi <= lo {
			j++
		}
		var n float64
		for k := j; k < len(ps) && ps[k].Lo < hi; k++ {
			if a, z := max(lo, ps[k].Lo), min(hi, ps[k].Hi); z > a {
				n += float64(z-a) * w.p[k]
			}
		}
		dst[i] = n
	}
	return dst
}

// setBackground sets each block's background pages and the share of them
// left in the epoch under way at the resume (its upper ranks: the guest
// made the others on the source), for [fluidPostcopyRun.total]. Background
// pages are read in every epoch: after a hybrid's pre-copy rounds those
// the workload wrote since the last sync are missing like any other, and
// the guest touches them early (replayAccesses).
// (Until 2026-12-07 a hybrid had none here, taking them all as at the
// destination: 16-40 % fewer requests with 2,000-8,000 of them.)
func (r *fluidPostcopyRun) setBackground() {
	if r.in.BackgroundPages <= 0 {
		return
	}
	ep := r.x.Epoch().Seconds()
	k0 := math.Floor(r.resumeG / ep)
	eStart, eEnd := k0*ep, (k0+1)*ep
	partial := r.resumeG > eStart
	var cur, full traces.Window
	if partial {
		r.x.Written(r.resumeG, eEnd, &cur)
		r.x.Written(eStart, eEnd, &full)
	}
	r.bg = make([]float64, len(r.blocks))
	r.bgLeft = make([]float64, len(r.blocks))
	for i := range r.blocks {
		b := &r.blocks[i]
		if b.zero {
			continue
		}
		r.bg[i] = float64(r.in.BackgroundPages) * b.n / r.pages
		r.bgLeft[i] = 1
		if partial {
			if f := full.CountIn(b.lo, b.hi); f > 0 {
				r.bgLeft[i] = math.Min(1, cur.CountIn(b.lo, b.hi)/f)
			} else {
				r.bgLeft[i] = (eEnd - r.resumeG) / ep
			}
		}
	}
	r.bgEpoch = k0
}

// total returns block i's expected pages touched from the resume to t
// guest seconds, t in epoch k (from epochSets, with phi of what was left
// of it): the writes and reads (random, independent from epoch to epoch)
// and the background pages, the same pages every epoch, touched once.
func (r *fluidPostcopyRun) total(i int, k, phi float64) float64 {
	w, bgT := r.touchedParts(i, k, phi)
	return unionBackground(w, bgT, r.blocks[i].n)
}

// touchedParts returns total's two parts: the workload's pages w and the
// background pages bgT.
func (r *fluidPostcopyRun) touchedParts(i int, k, phi float64) (w, bgT float64) {
	w = union(r.doneSet[i], phi*r.curSet[i], r.blocks[i].n)
	if r.bg == nil || r.bg[i] <= 0 {
		return w, 0
	}
	switch left := r.bgLeft[i]; {
	case k <= r.bgEpoch:
		return w, r.bg[i] * left * phi
	case k == r.bgEpoch+1:
		return w, r.bg[i] * (left + (1-left)*phi)
	default:
		return w, r.bg[i]
	}
}

// unionBackground returns the union of a block's n pages of w workload
// pages and bgT background pages, which lie at fixed places independent
// of the workload's.
func unionBackground(w, bgT, n float64) float64 {
	if bgT <= 0 {
		return w
	}
	return math.Min(n, bgT+w*(1-bgT/n))
}

// pushResidual returns the mean time, ns, a page request waits at the
// source for the link to finish the pushed page it is sending, pages
// taking tau ns each. The push runs back to back from the end of the
// page the guest last waited for, and the next request reaches the
// source d ns (an RTT and the fault service) plus the guest's run after
// that page's arrival, a run taken as exponential with mean run ns: on
// a path whose RTT is not a whole number of pages the phase is spread
// and the wait half a page; with a short path and a guest that faults
// at once it is not (a 1 Gbit/s link with no RTT: a third of a page).
func pushResidual(tau, d, run float64) float64 {
	if tau <= 0 {
		return 0
	}
	dm := math.Mod(d, tau)
	if run <= 0 {
		return math.Mod(tau-dm, tau)
	}
	lt := tau / run
	if lt < 1e-6 {
		return tau / 2
	}
	// Y mod tau, Y exponential: truncated to [0, tau).
	q := math.Exp(-lt)
	ey := run - tau*q/(1-q)
	over := (math.Exp(-(tau-dm)/run) - q) / (1 - q) // P(dm + Y' >= tau)
	return tau - (dm + ey - tau*over)
}

// solveIncreasing returns the x in [0, hi] where the nondecreasing f,
// whose value at 0 is f0 < 0, crosses zero (hi itself when f(hi) <= 0),
// to within tol: regula falsi with the Illinois step, bracketed, so a
// kink in f (an epoch's end) slows it but cannot throw it out.
func solveIncreasing(f func(float64) float64, f0, hi, tol float64) float64 {
	fb := f(hi)
	if fb <= 0 || hi <= 0 {
		return hi
	}
	a, b, fa := 0.0, hi, f0
	side := 0
	for range 60 {
		x := b - fb*(b-a)/(fb-fa)
		if !(x > a && x < b) {
			x = (a + b) / 2
		}
		fx := f(x)
		if math.Abs(fx) <= tol || b-a <= tol {
			return x
		}
		if fx < 0 {
			a, fa = x, fx
			if side == -1 {
				fb /= 2
			}
			side = -1
		} else {
			b, fb = x, fx
			if side == 1 {
				fa /= 2
			}
			side = 1
		}
	}
	return a
}

// union returns the expected size of the union of two independent random
// sets of a and b pages among n.
func union(a, b, n float64) float64 {
	if n <= 0 {
		return 0
	}
	return math.Min(n, a+b-a*b/n)
}

// push spends budget ns of link time from wall time a to c (ns) pushing
// pages, in the order prepaging gives, and sets what is on the wire.
func (r *fluidPostcopyRun) push(budget, a, c float64) {
	cur := r.pushHistory(c - a)
	pivots := r.arrivedFaults(c)
	if budget > 0 {
		r.pushPages(budget, cur, pivots)
	}
	if r.window.active() && c > a {
		if r.pushRate == nil {
			r.pushRate = make([]float64, len(r.blocks))
		}
		for i, k := range cur {
			r.pushRate[i] = k / (c - a)
		}
	}
	// The pages pushed in the last oneWay of wall time are on the wire,
	// the oldest step's in proportion.
	for i := range r.blocks {
		r.blocks[i].inflight = 0
	}
	left := r.oneWay
	for j := len(r.hist) - 1; j >= 0 && left > 0; j-- {
		h := &r.hist[j]
		f := math.Min(1, left/h.dt)
		for i, k := range h.pushed {
			r.blocks[i].inflight += f * k
		}
		left -= h.dt
	}
	for i := range r.blocks {
		b := &r.blocks[i]
		b.inflight = math.Min(b.inflight, b.pushed)
	}
}

// pushedWhileWaiting returns how much sooner, on average, a requested
// page arrives because the push sends it while its request waits wait ns
// for the windows: the push goes on meanwhile (postcopy_ratelimit.go)
// and may reach the page first. A faulting page is taken as uniform over
// its block's unsent pages, the block's faults of the last step weighing
// the blocks, and the push as going on through each block at its last
// rate.
func (r *fluidPostcopyRun) pushedWhileWaiting(wait float64) float64 {
	if r.pushRate == nil || wait <= 0 {
		return 0
	}
	var saved, weight float64
	for i := range r.blocks {
		b := &r.blocks[i]
		if b.faults <= 0 {
			continue
		}
		weight += b.faults
		u, rate := b.unsent(), r.pushRate[i]
		if u <= 0 || rate <= 0 {
			continue
		}
		if k := rate * wait; k >= u { // the push covers the block within the wait
			saved += b.faults * (wait - u/(2*rate))
		} else { // with probability k/u, at a uniform time within the wait
			saved += b.faults * (k / u) * wait / 2
		}
	}
	if weight <= 0 {
		return 0
	}
	return saved / weight
}

// faultStep is the network faults per block of a guest step, whose
// requests reach the source at arrive (ns) and move the push there.
type faultStep struct {
	arrive float64
	faults []float64
}

// noteFaults records the faults of the guest step just run, made about
// at wall time at (ns): their requests reach the source a fault service
// and half an RTT later, and move the push when it serves them, after
// their wait for the rate-limit windows.
func (r *fluidPostcopyRun) noteFaults(at float64) {
	if r.cfg.prepaging == PrepagingNone {
		return
	}
	var f []float64
	if n := len(r.faultSpare); n > 0 {
		f, r.faultSpare = r.faultSpare[n-1], r.faultSpare[:n-1]
	} else {
		f = make([]float64, len(r.blocks))
	}
	any := false
	for i := range r.blocks {
		f[i] = r.blocks[i].faults
		any = any || f[i] > 0
	}
	if !any {
		r.faultSpare = append(r.faultSpare, f)
		return
	}
	r.faultQ = append(r.faultQ, faultStep{arrive: at + float64(r.cfg.faultService) + r.oneWay + r.reqWait, faults: f})
}

// arrivedFaults takes off the queue the faults whose requests have
// reached the source by wall time c (ns), moves the push's pivots by
// them, and returns the pivots: per block, the chance that the push works
// from a fault there (the rest: it carries on where it was).
func (r *fluidPostcopyRun) arrivedFaults(c float64) []float64 {
	k := 0
	for k < len(r.faultQ) && r.faultQ[k].arrive < c {
		k++
	}
	if k == 0 {
		return r.pivotSum
	}
	if r.pivotSum == nil {
		r.pivotSum = make([]float64, len(r.blocks))
	}
	// The push's pivots are a mixture: each block's weight is the chance
	// that the push works from a fault in it, the rest the chance that it
	// carries on where it was. An expected m faults move it with chance
	// min(1, m/K), K the pivots it keeps (one but under multi-pivot): a
	// fault expected once in fifty steps moves it once in fifty, not at
	// every step (which made forward pre-paging over a long path, with a
	// free class the guest never touches above its working set, far
	// better than the page engine's: 12 % fewer requests on continental).
	arrived := r.faultSpare0()
	var m float64
	for _, q := range r.faultQ[:k] {
		for i, f := range q.faults {
			arrived[i] += f
			m += f
		}
		r.faultSpare = append(r.faultSpare, q.faults)
	}
	keep := 1.0
	if r.cfg.prepaging == PrepagingMultiPivot && r.cfg.pivots > 1 {
		keep = float64(r.cfg.pivots)
	}
	if a := math.Min(1, m/keep); a > 0 {
		for i, f := range arrived {
			r.pivotSum[i] = (1-a)*r.pivotSum[i] + a*f/m
		}
		if r.cfg.prepaging == PrepagingForward {
			// A forward push resumes from the faulting page: of its
			// block, the pages above it, half of what is left on
			// average; with the chance that a fault there moved it.
			if r.fwdLeft == nil {
				r.fwdLeft = make([]float64, len(r.blocks))
			}
			for i, f := range arrived {
				if f > 0 {
					c := math.Min(1, f/keep)
					r.fwdLeft[i] = (1-c)*r.fwdLeft[i] + c*r.blocks[i].unsent()/2
				}
			}
		}
	}
	r.faultSpare = append(r.faultSpare, arrived)
	r.faultQ = append(r.faultQ[:0], r.faultQ[k:]...)
	return r.pivotSum
}

// faultSpare0 returns a zeroed slice of a value per block, reused.
func (r *fluidPostcopyRun) faultSpare0() []float64 {
	if n := len(r.faultSpare); n > 0 {
		f := r.faultSpare[n-1]
		r.faultSpare = r.faultSpare[:n-1]
		clear(f)
		return f
	}
	return make([]float64, len(r.blocks))
}

// pushStep is one step's pushes per block, for the pages on the wire.
type pushStep struct {
	dt     float64 // the step's wall time, ns
	pushed []float64
}

// pushHistory starts the record of a step of dt ns, dropping the steps
// that left the wire (older than oneWay), and returns its pushes, zeroed.
func (r *fluidPostcopyRun) pushHistory(dt float64) []float64 {
	var span float64
	keep := len(r.hist)
	for j := len(r.hist) - 1; j >= 0; j-- {
		if span >= r.oneWay {
			break
		}
		span += r.hist[j].dt
		keep = j
	}
	if drop := keep; drop > 0 {
		spare := make([][]float64, 0, drop)
		for _, h := range r.hist[:drop] {
			spare = append(spare, h.pushed)
		}
		r.hist = append(r.hist[:0], r.hist[drop:]...)
		r.spare = append(r.spare, spare...)
	}
	var cur []float64
	if n := len(r.spare); n > 0 {
		cur, r.spare = r.spare[n-1], r.spare[:n-1]
		clear(cur)
	} else {
		cur = make([]float64, len(r.blocks))
	}
	if r.oneWay <= 0 {
		r.spare = append(r.spare, cur) // nothing stays on the wire
		return cur
	}
	r.hist = append(r.hist, pushStep{dt: dt, pushed: cur})
	return cur
}

// pushPages spends budget ns of link time pushing pages in the order
// prepaging gives, adding each block's pushes to cur. Under none the push
// scans upward from page 0. Under forward each fault moves it to the
// faulting page, from where it scans upward, so each block's faults take
// their share of the step's pushes upward from the block; bubbling and
// multi-pivot expand from the faulting page both ways, half each, the
// faulting block first (the rest to the other side when one runs out).
// Without faults the push goes on from where it was.
func (r *fluidPostcopyRun) pushPages(budget float64, cur, pivots []float64) {
	n := len(r.blocks)
	sent := func(i int, ns float64) float64 {
		b := &r.blocks[i]
		tau := r.tau(b.zero)
		k := math.Min(b.unsent(), ns/tau)
		if k <= 0 {
			return 0
		}
		if r.strata != nil {
			r.strata.push(i, k)
		}
		b.pushed += k
		cur[i] += k
		r.pivot = i
		return k * tau
	}
	// The blocks with pages to send, in order: a sweep skips the rest.
	open := r.openBlocks[:0]
	for i := range r.blocks {
		if r.blocks[i].unsent() > 0 {
			open = append(open, i)
		}
	}
	r.openBlocks = open
	// sweep pushes up to ns from block i on, one way (dir ±1), wrapping,
	// and returns the link time spent.
	sweep := func(i, dir int, ns float64) float64 {
		m := len(open)
		if m == 0 {
			return 0
		}
		i = (i%n + n) % n
		j, _ := slices.BinarySearch(open, i) // the first open block at or above i
		if dir < 0 && (j == m || open[j] != i) {
			j-- // the last open block below i
		}
		spent := 0.0
		for k := 0; k < m && ns-spent > 1e-9; k++ {
			spent += sent(open[((j+dir*k)%m+m)%m], ns-spent)
		}
		return spent
	}
	spent := 0.0
	base := r.pivot // where the push carries on, for the share no fault moved
	if r.cfg.prepaging == PrepagingNone {
		base = 0
	} else {
		for i, f := range pivots {
			if f <= 0 {
				continue
			}
			share := budget * f
			if r.cfg.prepaging == PrepagingForward {
				// The faulting block's part above the pivot, then upward.
				first := 0.0
				if left := r.fwdLeft[i]; left > 0 {
					tau := r.tau(r.blocks[i].zero)
					first = sent(i, math.Min(share, left*tau))
					r.fwdLeft[i] = math.Max(0, left-first/tau)
				}
				spent += first + sweep(i+1, 1, share-first)
				continue
			}
			up := sweep(i, 1, share/2)
			spent += up + sweep(i, -1, share-up) // from the faulting block too: the pivot lies inside it
		}
	}
	spent += sweep(base, 1, budget-spent)
}

// progress returns the guest time the guest has reached at the end:
// with catch_up, when every page has arrived (complete), where its
// wall-clock schedule has it, since its overdue accesses then run at
// once ([Postcopy]'s rule).
func (r *fluidPostcopyRun) progress(end sim.Time, complete bool) float64 {
	if r.in.CatchUp && complete && end > r.stopAt {
		return math.Max(r.guestT, r.resumeG+end.Sub(r.stopAt).Seconds())
	}
	return r.guestT
}

// finish ends the migration at end with the given reason and fills the
// result.
func (r *fluidPostcopyRun) finish(reason StopReason, end sim.Time) {
	if r.finished {
		return
	}
	r.advance(end)
	r.finished = true
	normal, zero := r.sendNormal, r.sendZero
	if reason != StopPostcopy { // cut at max_time: what has left the source
		normal, zero = 0, 0
		for _, b := range r.blocks {
			if b.zero && r.zeroHeaders {
				zero += b.pushed
			} else {
				normal += b.pushed + b.reqd
			}
		}
	}
	postcopyEnd{
		reason: reason, stopAt: r.stopAt, resumeAt: r.resumeAt, end: end,
		wireNormal: r.wireNormal, wireZero: r.wireZero, normal: normal, zero: zero,
		preBytes: r.preBytes, preNormal: r.preNormal, preZero: r.preZero,
		pages: uint64(r.pages), rateBps: r.rateBps, guestTimeS: r.progress(end, reason == StopPostcopy),
		requests: r.requests, minor: r.minor, stallS: r.stall, fullSpeedS: r.meter.result(),
	}.fill(r.res, r.in)
	r.cfg.stream.fill(r.res, normal, zero, r.wireNormal, r.wireZero, r.bottleneck)
	if r.composition != nil {
		total := r.res.TotalTimeS
		r.composition(r.res)
		if r.res.TotalTimeS > total {
			// The slowdown is a share of the total time, which the SAN
			// restore has stretched.
			r.res.GuestSlowdown *= total / r.res.TotalTimeS
		}
	}
	if r.release != nil {
		r.release()
	}
	r.env.halt()
}
