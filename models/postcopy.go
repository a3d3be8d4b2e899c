package models

import (
	"context"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bitset"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Postcopy is post-copy live migration with demand paging, active push and
// pre-paging (Hines and Gopalan, VEE'09; QEMU postcopy-ram, see
// docs/devel/migration/postcopy.rst and migration/postcopy-ram.c).
//
// # Semantics
//
//   - Setup (setup_time) runs with the guest on the source. Then the guest
//     stops, its CPU and device state crosses the path, and it resumes on
//     the destination: downtime = device state over the path +
//     resume_time + one RTT, whatever the dirty rate. The source holds
//     every page at that moment; pages that were zero at the trace's
//     start and not written since cost zero_page_bytes, others a page
//     plus page_header.
//   - From then on the guest replays its trace on the destination in guest
//     time. Within an epoch its accesses (written and read-only pages
//     alike, each distinct page once) are spread evenly, access i of n
//     (i + ½)/n of the way through the epoch, in the order
//     workload.access_order gives ([AccessOrder]): a random permutation
//     by default, ascending page order for a sequential generator. The
//     vCPUs share this one access stream.
//   - An access to a page that has arrived costs nothing. An access to a
//     page on the wire (pushed, not yet arrived) is a minor fault: the
//     guest waits for it, plus minor_fault_time. Any other access is a
//     network fault (a postcopy request): the request leaves after
//     fault_service_time and reaches the source half an RTT later; under
//     max_postcopy_bandwidth it waits there for the end of the source's
//     burst or its next rate-limit window (postcopy_ratelimit.go); then
//     the page goes out as soon as the link finishes the page it is
//     sending (requests take priority over the push) and arrives half an
//     RTT after its transfer. With an idle, uncapped link the stall is
//     RTT + page transfer + fault_service_time. If the push sent the page
//     while the request was on its way, the source does not send it again
//     and the guest waits for the pushed copy.
//   - Active push: from the end of the device state the source sends the
//     pages still missing back to back, in the order prepaging gives (see
//     [Prepaging]); every request also moves the push pivot. Each page
//     crosses the network once, so transferred bytes are the pages ×
//     their wire size + device state, and since the link never idles
//     while pages are missing, the migration ends at
//     setup + (device state + all pages)/bandwidth + RTT/2, whatever the
//     push order: the order decides how much the guest stalls, not when
//     the last page lands.
//   - The migration is complete when the last page arrives; vm_at_risk_s
//     is the time from resuming to then. stall_time_s adds up the fault
//     stalls; guest_slowdown is (downtime + stalls) / total time;
//     time_to_full_speed_s comes from full_speed_threshold over a
//     full_speed_window sliding window.
//
// # Simulation
//
// Each fault is one engine event: the vCPU's wake-up when its page
// arrives. Between stalls the guest's progress is computed from guest
// time, one event per epoch. The push needs no events: between requests
// the link's timetable is known, so the push is advanced lazily up to the
// time of each access that may fault. An access to a page that had
// already arrived costs two bit tests (pages never return to the source),
// and pages that have long arrived are committed a 64-page word at a
// time while the push is an upward scan. A million faults take about
// 0.3 s; pushed pages cost about 12 ns each.
//
// # Known differences from QEMU
//
// QEMU requests a page that is on the wire but not yet received, and may
// send it twice; here each page crosses once. Discard bitmaps and request
// messages (destination to source) are not counted in transferred bytes.
// A real guest's vCPUs stall independently; here they share one access
// stream, so a stall stops the whole guest. Under access_order
// ascending a guest sweeps memory upwards within each epoch: on a fast or
// long-RTT path, where many pushed pages are on the wire, it trails an
// upward push and sees minor faults where a random order gives network
// faults (the guest is held up either way).
type Postcopy struct {
	p PostcopyParams
}

// NewPostcopy returns a post-copy model with the given parameters.
func NewPostcopy(p PostcopyParams) (*Postcopy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Postcopy{p: p}, nil
}

func postcopyInfo() Info {
	return register("postcopy",
		"post-copy: resume at once, demand paging, active push, pre-paging (none, forward, bubbling, multi-pivot)",
		"Hines and Gopalan, VEE'09; QEMU migration/postcopy-ram.c",
		DefaultPostcopyParams,
		func(p PostcopyParams) (Model, error) { return NewPostcopy(p) })
}

// Name returns "postcopy".
func (m *Postcopy) Name() string { return "postcopy" }

// Params returns the model's parameters.
func (m *Postcopy) Params() PostcopyParams { return m.p }

// Run simulates one post-copy migration.
func (m *Postcopy) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one post-copy migration beside others ([Launcher]).
func (m *Postcopy) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *Postcopy) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	return launchPostcopyComposed(env, in, m.Name(), m.p.config(), m.p.memory(), wholeMemoryPlan)
}

// wholeMemoryPlan is the source's state when a guest stops right after
// setup: every page is still to send, pages of the zero class not written
// since the start as a header only, in the configured pre-paging order.
func wholeMemoryPlan(cfg postcopyConfig, g *guest, written *roaring.Bitmap) (*postcopyPlan, error) {
	return &postcopyPlan{
		missing: allPages(g.hdr.PageCount),
		zero:    classAtStop(g.hdr.Zero, written),
		order:   newPivotOrder(cfg.prepaging, g.hdr.PageCount, cfg.pivots),
	}, nil
}

// postcopyPlan is what the source holds when the guest stops.
type postcopyPlan struct {
	missing *roaring.Bitmap // pages the destination lacks
	zero    *roaring.Bitmap // those of them sent as a zero-page header; nil: none
	order   pushOrder
	san     *sanRestore // page cache the SAN restores; nil: none (composition.go)
}

// allPages returns the set [0, n).
func allPages(n uint64) *roaring.Bitmap {
	b := roaring.New()
	b.AddRange(0, n)
	return b
}

// classAtStop returns the pages of class (as the trace header gives it at
// the start) not written since: a new set, nil when empty.
func classAtStop(class, written *roaring.Bitmap) *roaring.Bitmap {
	if class == nil || class.IsEmpty() {
		return nil
	}
	return roaring.AndNot(class, written)
}

// postcopyPlanner says what the source holds when the guest stops, given
// the pages it wrote during setup.
type postcopyPlanner func(cfg postcopyConfig, g *guest, written *roaring.Bitmap) (*postcopyPlan, error)

// launchPostcopy starts a migration that switches to post-copy as soon
// as setup ends: plan says what the source holds at that moment, given
// the pages the guest wrote during setup.
func launchPostcopy(env *runEnv, in Input, model string, cfg postcopyConfig, plan postcopyPlanner) (func(error) (*Result, error), error) {
	eng := env.eng
	g, err := openGuest(env, in)
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: in.Scenario, Model: model, Seed: in.Seed, Calibration: in.Calibration, DeviceStateBytes: uint64(in.VM.DeviceState)}
	var planErr error
	if cfg.attach != nil {
		cfg.attach(g)
	}
	g.start()
	eng.Schedule(sim.Time(cfg.setup), sim.PhaseDecide, func() {
		g.pause()
		written := g.takeDirty()
		res.SetupTimeS = eng.Now().Seconds()
		res.DirtySyncCount = 1
		p, err := plan(cfg, g, written)
		if err != nil {
			planErr = err
			env.halt()
			return
		}
		newPostcopyRun(cfg, in, env, g, res).begin(0, p)
	})
	return func(runErr error) (*Result, error) {
		defer g.close()
		return collect(g, res, &planErr, runErr)
	}, nil
}

// postcopyEnd is how a post-copy phase, on either engine, ends: what
// fill writes into the result. Counts are expectations on the fluid
// engine, whole numbers on the page engine.
type postcopyEnd struct {
	reason                StopReason
	stopAt, resumeAt, end sim.Time
	wireNormal, wireZero  float64 // bytes on the wire per page
	normal, zero          float64 // pages the phase sent, in full and as a zero-page header
	preBytes              float64 // page bytes of the live pre-copy rounds before it
	preNormal, preZero    float64 // their pages
	pages                 uint64  // the guest's
	rateBps               float64 // the push's rate at the end
	guestTimeS            float64
	requests, minor       float64
	stallS, fullSpeedS    float64
}

// fill writes the phase's end into res: stop reason, times, bytes and
// pages (the live rounds' included), the post-copy round (reported to
// in.Observer), faults, the VM's time at risk and guest_slowdown (the
// downtime, the stalls and the live rounds' throttle over the total).
func (e postcopyEnd) fill(res *Result, in Input) {
	res.StopReason = e.reason
	res.Converged = false
	res.Completed = e.reason.Completed()
	res.TotalTimeS = e.end.Seconds()
	downtime := e.resumeAt.Sub(e.stopAt)
	res.DowntimeS = downtime.Seconds()
	post := e.normal*e.wireNormal + e.zero*e.wireZero
	dev := float64(in.VM.DeviceState)
	res.PrecopyBytes = uint64(math.Round(e.preBytes))
	res.PostcopyBytes = uint64(math.Round(post))
	res.TransferredBytes = uint64(math.Round(e.preBytes + post + dev))
	res.Pages = PageCounts{Total: e.pages, Zero: uint64(math.Round(e.preZero + e.zero)), Normal: uint64(math.Round(e.preNormal + e.normal))}
	dur := e.end.Sub(e.stopAt).Seconds()
	round := Round{
		Round: len(res.RoundsDetail) + 1, StartS: e.stopAt.Seconds(), DurationS: dur,
		Pages: uint64(math.Round(e.normal + e.zero)), ZeroPages: uint64(math.Round(e.zero)), Bytes: uint64(math.Round(post + dev)),
		Postcopy: true,
	}
	if dur > 0 {
		round.BandwidthBps = (post + dev) * 8 / dur
	}
	round.EffectiveBandwidthBps = e.rateBps
	res.EffectiveBandwidthBps = e.rateBps
	res.NetworkRTTS = in.Path.MeanRTT().Seconds()
	res.RoundsDetail = append(res.RoundsDetail, round)
	if in.Observer != nil {
		in.Observer.ObserveRound(round)
	}
	res.Rounds = len(res.RoundsDetail)
	if res.BandwidthBps == 0 {
		res.BandwidthBps = round.BandwidthBps
	}
	res.GuestTimeS = e.guestTimeS
	res.PostcopyRequests = uint64(math.Round(e.requests))
	res.MinorFaults = uint64(math.Round(e.minor))
	res.StallTimeS = e.stallS
	if e.end > e.resumeAt {
		res.VMAtRiskS = e.end.Sub(e.resumeAt).Seconds()
	}
	lost := downtime.Seconds() + e.stallS
	for _, rd := range res.RoundsDetail {
		if !rd.Postcopy && !rd.StopAndCopy {
			lost += rd.DurationS * rd.ThrottlePct / 100
		}
	}
	if res.TotalTimeS > 0 {
		res.GuestSlowdown = lost / res.TotalTimeS
	}
	res.TimeToFullSpeedS = e.fullSpeedS
}

// dense returns b as a flat bitset over pages pages.
func dense(b *roaring.Bitmap, pages uint64) *bitset.BitSet {
	words := make([]uint64, (pages+63)/64)
	b.WriteDenseTo(words)
	return bitset.FromWithLength(uint(pages), words)
}

// flight is a pushed page on the wire.
type flight struct {
	page   uint32
	arrive float64 // ns
}

// postcopyRun is the post-copy phase of one migration, from stopping the
// guest on the source to the last page's arrival. Link times are float64
// nanoseconds since the start of the migration: a page's transfer is
// rarely a whole number of nanoseconds, and rounding each one would drift.
//
// The page sets it updates per access and per pushed page are flat
// bitsets, one bit per guest page each (32 MiB for 1 TiB of 4 KiB pages):
// O(1) tests and updates, where removing pages one by one from a
// compressed set rewrites its containers.
type postcopyRun struct {
	rateBps float64 // the push's steady rate over the path, bits/s

	cfg postcopyConfig
	in  Input
	env *runEnv
	eng *sim.Engine
	g   *guest
	res *Result

	missing  *bitset.BitSet // pages the destination lacks and the source has not sent
	left     uint64         // pages in missing
	zero     *bitset.BitSet // pages sent as a zero-page header; nil: none
	inflight *bitset.BitSet // pushed pages on the wire, not yet arrived
	ring     []flight       // inflight in push order, which is arrival order, from head
	head     int
	order    pushOrder
	san      *sanRestore // page cache the SAN restores; nil: none
	stepFn   func()      // step, bound once

	wireNormal, wireZero float64 // bytes on the wire per page
	tauNormal, tauZero   float64 // link time per page, ns
	oneWay               float64 // RTT/2, ns
	linkFree             float64 // when the link has sent all it was given, ns

	stopAt, resumeAt, doneAt sim.Time
	finished                 bool
	endEv                    *sim.Event // the phase's end (scheduleEnd)
	release                  func()     // leaves a shared network; nil alone

	// The guest on the destination: acc holds the current epoch's
	// accesses in ascending order, idx the next one. Guest time anchorG
	// ran at wall time anchorW, and the guest runs at full speed from
	// there until its next stall.
	acc     []uint32
	idx     int
	epochG  time.Duration // guest time at the start of the current epoch
	anchorG time.Duration
	anchorW sim.Time
	// With Input.CatchUp, guest time schedG is due at wall time schedW
	// (where the guest was when the source stopped it) and the guest runs
	// its overdue accesses at once.
	schedG time.Duration
	schedW sim.Time
	idleG  time.Duration // guest time at which the trace ended (at_end idle); −1 while running
	accSet *roaring.Bitmap

	// Under AccessRandom, the epoch's accesses are permuted (permute).
	random bool
	perm   accessPermuter

	// Counters.
	requests, minor    uint64
	stall              time.Duration
	normal, zeroSent   uint64  // pages sent after the switch
	preBytes           float64 // page bytes of the live pre-copy rounds
	preNormal, preZero uint64
	meter              fullSpeedMeter

	// Streams and CPU (postcopy_stream.go).
	preempt                  bool    // requests bypass the push (multifd, postcopy_preempt)
	burstFrac                float64 // share of a rate-limit window the source sends in (postcopy_ratelimit.go)
	tauReqNormal, tauReqZero float64 // a requested page's time on its stream, ns
	bottleneck               string
}

func newPostcopyRun(cfg postcopyConfig, in Input, env *runEnv, g *guest, res *Result) *postcopyRun {
	r := &postcopyRun{
		cfg: cfg, in: in, env: env, eng: env.eng, g: g, res: res,
		inflight:   bitset.New(uint(g.hdr.PageCount)),
		accSet:     roaring.New(),
		wireNormal: float64(g.hdr.PageSize) + float64(cfg.pageHeader),
		wireZero:   float64(cfg.zeroPageBytes),
		oneWay:     float64(in.Path.RTT) / 2,
		idleG:      -1,
		meter:      newFullSpeedMeter(cfg.fullWindow, cfg.fullSpeed),
		random:     in.accessOrder() == AccessRandom,
	}
	// The push runs over the path's streams at their steady TCP rate:
	// window/RTT and Mathis's loss limit per stream, up to the link as
	// it is now (a hybrid switches late; the link may have changed).
	rate := r.path(0).SteadyBps(0, r.eng.Now(), cfg.capBps)
	r.rateBps = rate
	nsPerByte := 8e9 / rate
	r.tauNormal = r.wireNormal * nsPerByte
	r.tauZero = r.wireZero * nsPerByte
	r.useStream()
	r.useWindow()
	return r
}

// begin stops the guest now (the caller has paused it on the source) and
// starts the post-copy phase. pre is the time spent with the guest stopped
// before the device state goes out (a hybrid's final sync).
func (r *postcopyRun) begin(pre time.Duration, p *postcopyPlan) {
	pages := r.g.hdr.PageCount
	r.missing, r.order, r.san = dense(p.missing, pages), p.order, p.san
	n := p.missing.GetCardinality()
	var nz uint64
	if p.zero != nil && !p.zero.IsEmpty() {
		r.zero = dense(p.zero, pages)
		nz = p.missing.AndCardinality(p.zero)
	}
	r.left = n
	now := r.eng.Now()
	r.stopAt = now
	dev := r.deviceStatePath(now).TransferTime(float64(r.in.VM.DeviceState), r.cfg.capBps)
	pushStart := now.Add(pre + dev)
	r.resumeAt = pushStart.Add(r.cfg.resume + r.in.Path.RTT)
	r.linkFree = float64(pushStart)

	// The link never idles while pages are missing, so the last page
	// lands when all of them have been sent, whatever the order.
	r.doneAt = r.resumeAt
	if n > 0 {
		work := float64(n-nz)*r.tauNormal + float64(nz)*r.tauZero
		r.doneAt = max(r.doneAt, sim.Time(math.Ceil(r.linkFree+work+r.oneWay)))
	}

	r.addRoundLosses()
	r.meter.addLoss(r.stopAt, r.resumeAt, 1)
	r.stepFn = r.step
	r.eng.Schedule(r.resumeAt, sim.PhaseGuest, r.startGuest)
	if r.env != nil && r.env.net != nil {
		net := r.env.net
		// On a shared network the phase holds its streams from the stop
		// to its end, and its push follows the share they get.
		held := false
		r.release = net.Hold(r.cfg.stream.channels, r.cfg.capBps, func(bps float64) {
			if held {
				r.rerate(bps)
			}
		})
		held = true
	} else {
		r.followSchedule()
	}
	r.scheduleEnd()
}

// followSchedule makes the push of a run on a path of its own follow the
// path's bandwidth_schedule: at each change after the stop it carries on
// at the streams' steady rate from then, as on a shared network it
// follows its share.
func (r *postcopyRun) followSchedule() {
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

// scheduleEnd (re)schedules the end of the phase: when the last page has
// arrived, or at max_time.
func (r *postcopyRun) scheduleEnd() {
	r.eng.Cancel(r.endEv)
	if limit := sim.Time(r.cfg.maxTime); r.doneAt > limit {
		r.endEv = r.eng.Schedule(max(limit, r.eng.Now()), sim.PhaseDecide, func() { r.finish(StopMaxTime, r.eng.Now()) })
	} else {
		r.endEv = r.eng.Schedule(r.doneAt, sim.PhaseDecide, func() { r.finish(StopPostcopy, r.doneAt) })
	}
}

// deviceStatePath is the path the device state crosses at the stop, at
// time now: a shared network's as it offers it now or, on a path of its
// own, in.Path with what its bandwidth_schedule leaves then (a hybrid
// switches late; the link may have changed since the start).
func (r *postcopyRun) deviceStatePath(now sim.Time) sim.Path {
	p := r.path(r.cfg.stream.channels)
	if (r.env == nil || r.env.net == nil) && len(p.Schedule) > 0 {
		p.Bandwidth, p.Loss, p.Schedule = units.BitRate(p.AvailableBps(now)), 0, nil
	}
	return p
}

// path returns the path the phase runs over for k streams: in.Path, or
// the shared network's as it offers it now.
func (r *postcopyRun) path(k int) sim.Path {
	if r.env == nil || r.env.net == nil {
		return r.in.Path
	}
	return r.env.net.Path(k, r.cfg.capBps)
}

// rerate carries the push on at a new rate, bps, from now (the share of a
// shared network changed): the pages whose transfer has started go at the
// old rate, the rest at the new one, and the end moves.
func (r *postcopyRun) rerate(bps float64) {
	if r.finished || bps <= 0 {
		return
	}
	now := float64(r.eng.Now())
	r.advance(now, now)
	rate, _ := r.cfg.stream.pushRate(bps, r.wireNormal)
	r.rateBps = rate
	r.tauNormal = r.wireNormal * 8e9 / rate
	r.tauZero = r.wireZero * 8e9 / rate
	if r.cfg.stream.channels == 0 { // one stream: requests take the push's page times
		r.tauReqNormal, r.tauReqZero = r.tauNormal, r.tauZero
	}
	if r.left == 0 {
		return
	}
	var nz uint64
	if r.zero != nil {
		nz = uint64(r.missing.IntersectionCardinality(r.zero))
	}
	work := float64(r.left-nz)*r.tauNormal + float64(nz)*r.tauZero
	r.doneAt = max(r.resumeAt, sim.Time(math.Ceil(math.Max(r.linkFree, now)+work+r.oneWay)))
	r.scheduleEnd()
}

// addRoundLosses feeds the throttle of earlier pre-copy rounds to the
// full-speed meter.
func (r *postcopyRun) addRoundLosses() {
	for _, rd := range r.res.RoundsDetail {
		if rd.ThrottlePct > 0 {
			a := sim.Time(math.Round(rd.StartS * 1e9))
			b := sim.Time(math.Round((rd.StartS + rd.DurationS) * 1e9))
			r.meter.addLoss(a, min(b, r.stopAt), rd.ThrottlePct/100)
		}
	}
}

// startGuest resumes the guest on the destination where it stopped on the
// source.
func (r *postcopyRun) startGuest() {
	g := r.g
	r.anchorW = r.eng.Now()
	if !g.curValid {
		r.idleG = g.guestTime
		r.anchorG = g.guestTime
		return
	}
	r.loadAccesses()
	n := float64(len(r.acc))
	r.idx = min(len(r.acc), max(0, int(math.Ceil(g.done*n-0.5))))
	r.permute(r.idx)
	r.epochG = g.guestTime
	r.anchorG = g.guestTime + time.Duration(g.done*float64(g.epochLen))
	r.schedG, r.schedW = r.anchorG, r.stopAt
	r.step()
}

// loadAccesses fills acc with the current epoch's accesses.
func (r *postcopyRun) loadAccesses() {
	r.accSet.Clear()
	r.accSet.Or(r.g.cur.Written)
	r.accSet.Or(r.g.cur.Read)
	n := int(r.accSet.GetCardinality())
	if cap(r.acc) < n {
		r.acc = make([]uint32, n)
	}
	r.acc = r.acc[:n]
	r.accSet.ToExistingArray(&r.acc)
}

// permute puts acc[from:], the accesses of the current epoch still to
// come, in the guest's order: ascending as loaded, or under
// [AccessRandom] a permutation drawn from the run's seed and the epoch's
// start in guest time, so that the same scenario and seed make the same
// accesses in the same order. At the resume, from skips the accesses the
// guest made on the source before the stop: the generator's partial
// epochs hold their lowest pages (see traces.Expect), and those are the
// pages the source saw written.
func (r *postcopyRun) permute(from int) {
	if r.random {
		r.perm.shuffle(r.in.Seed, r.g.guestTime, r.acc[from:])
	}
}

// accessPermuter draws the random order of an epoch's accesses
// ([AccessRandom]) from the run's seed and the epoch's start in guest
// time: the guest's order, and the order in which enlightened post-copy,
// which knows the guest's future, pushes its pages.
type accessPermuter struct {
	pcg *rand.PCG
	rng *rand.Rand
}

// shuffle permutes acc, the accesses left in the epoch starting at guest
// time start.
func (p *accessPermuter) shuffle(seed uint64, start time.Duration, acc []uint32) {
	if len(acc) < 2 {
		return
	}
	if p.pcg == nil {
		p.pcg = rand.NewPCG(0, 0)
		p.rng = rand.New(p.pcg)
	}
	p.pcg.Seed(seed, uint64(start)^0x9e3779b97f4a7c15)
	p.rng.Shuffle(len(acc), func(i, j int) { acc[i], acc[j] = acc[j], acc[i] })
}

// wallAt returns the wall time at which the running guest reaches guest
// time tg: at full speed from its last wake-up, or, catching up, when its
// schedule has it due but not before its last wake-up.
func (r *postcopyRun) wallAt(tg time.Duration) sim.Time {
	if r.in.CatchUp {
		return max(r.anchorW, r.schedW.Add(tg-r.schedG))
	}
	return max(r.anchorW, r.anchorW.Add(tg-r.anchorG))
}

// step runs the guest from its current access until it stalls or its
// epoch ends. It is the handler of the guest's engine events: epoch
// starts (PhaseGuest) and fault wake-ups (PhaseTransfer).
func (r *postcopyRun) step() {
	if r.finished {
		return
	}
	g := r.g
	epoch := g.epochLen
	for {
		if !g.curValid {
			r.idleG = g.guestTime
			return
		}
		n := len(r.acc)
		if r.idx >= n {
			end := r.wallAt(r.epochG + epoch)
			if end > r.eng.Now() {
				r.eng.Schedule(end, sim.PhaseGuest, r.stepFn)
				return
			}
			g.guestTime += epoch
			g.loadNext()
			if g.err != nil {
				return
			}
			r.epochG = g.guestTime
			r.idx = 0
			if g.curValid {
				r.loadAccesses()
				r.permute(0)
			}
			continue
		}
		p := r.acc[r.idx]
		if r.san != nil { // a page the SAN has not restored yet
			tg := r.epochG + time.Duration(float64(2*r.idx+1)*float64(epoch)/float64(2*n))
			if ta := r.wallAt(tg); ta < r.doneAt {
				if w := r.san.ready(p, ta); w > ta {
					r.wake(tg, ta, float64(w))
					return
				}
			}
		}
		if !r.missing.Test(uint(p)) && !r.inflight.Test(uint(p)) {
			// Arrived before the last update of the sets, so before now:
			// pages never go back to missing or onto the wire.
			r.idx++
			continue
		}
		tg := r.epochG + time.Duration(float64(2*r.idx+1)*float64(epoch)/float64(2*n))
		ta := r.wallAt(tg)
		if ta >= r.doneAt {
			r.idx = n // every page has arrived: the rest of the epoch runs free
			continue
		}
		t := float64(ta)
		r.advance(t, t)
		r.prune(t)
		switch {
		case r.missing.Test(uint(p)):
			r.networkFault(p, tg, ta)
			return
		case r.inflight.Test(uint(p)):
			r.minor++
			r.wake(tg, ta, r.arrival(p)+float64(r.cfg.minorFault))
			return
		}
		r.idx++
	}
}

// networkFault requests page p, which the guest accesses at guest time tg,
// wall time ta.
func (r *postcopyRun) networkFault(p uint32, tg time.Duration, ta sim.Time) {
	r.requests++
	req := float64(ta) + float64(r.cfg.faultService) + r.oneWay // the request reaches the source
	req = r.windowWait(req)                                     // the source serves it (postcopy_ratelimit.go)
	r.advance(req, float64(ta))                                 // the push goes on meanwhile
	var arrive float64
	if r.missing.Test(uint(p)) {
		r.missing.Clear(uint(p))
		r.left--
		start := math.Max(req, r.linkFree) // after the page on the link
		r.linkFree = start + r.send(p)
		arrive = r.requestArrival(p, req, r.linkFree)
	} else {
		arrive = r.arrival(p) // pushed while the request travelled
	}
	r.order.requested(p)
	r.wake(tg, ta, arrive)
}

// wake schedules the guest's wake-up when the page it waits for arrives
// (at arrive, ns), the access at guest time tg having faulted at ta.
func (r *postcopyRun) wake(tg time.Duration, ta sim.Time, arrive float64) {
	w := max(ta, sim.Time(math.Ceil(arrive)))
	r.stall += w.Sub(ta)
	r.meter.addLoss(ta, w, 1)
	r.anchorG, r.anchorW = tg, w
	r.idx++
	r.eng.Schedule(w, sim.PhaseTransfer, r.stepFn)
}

// send accounts page p on the wire and returns its link time in ns.
func (r *postcopyRun) send(p uint32) float64 {
	if r.zero != nil && r.zero.Test(uint(p)) {
		r.zeroSent++
		return r.tauZero
	}
	r.normal++
	return r.tauNormal
}

// advance pushes, in the push order, every page whose transfer starts by
// t (ns). Pages that arrive by seen (ns; the guest cannot look earlier)
// are not tracked as on the wire.
func (r *postcopyRun) advance(t, seen float64) {
	for r.left > 0 && r.linkFree <= t {
		if r.advanceWord(seen) {
			continue
		}
		p := r.order.next(r.missing)
		r.missing.Clear(uint(p))
		r.left--
		r.linkFree += r.send(p)
		if arrive := r.linkFree + r.oneWay; arrive > seen {
			r.ring = append(r.ring, flight{page: p, arrive: arrive})
			r.inflight.Set(uint(p))
		}
	}
}

// advanceWord pushes, when the push order is an upward scan, the missing
// pages of the next 64-page word at once, if all of them arrive by seen
// (ns): a catch-up over pages the guest cannot have seen on the wire. It
// reports whether it did.
func (r *postcopyRun) advanceWord(seen float64) bool {
	from, ok := r.order.scan()
	pages := uint64(r.missing.Len())
	if !ok || from >= pages {
		return false
	}
	words := r.missing.Words()
	wi := from / 64
	w := words[wi] &^ (1<<(from%64) - 1)
	if w == 0 {
		v, found := r.missing.NextSet(uint(from))
		if !found {
			return false // the order wraps or ends: page by page
		}
		r.order.skip(uint64(v))
		return true
	}
	cnt := uint64(bits.OnesCount64(w))
	var nz uint64
	if r.zero != nil {
		nz = uint64(bits.OnesCount64(w & r.zero.Words()[wi]))
	}
	end := r.linkFree + float64(cnt-nz)*r.tauNormal + float64(nz)*r.tauZero
	if end+r.oneWay > seen {
		return false
	}
	words[wi] &^= w
	r.left -= cnt
	r.normal += cnt - nz
	r.zeroSent += nz
	r.linkFree = end
	r.order.skip(min((wi+1)*64, pages))
	return true
}

// prune forgets the pushed pages that have arrived by t (ns).
func (r *postcopyRun) prune(t float64) {
	for r.head < len(r.ring) && r.ring[r.head].arrive <= t {
		r.inflight.Clear(uint(r.ring[r.head].page))
		r.head++
	}
	if r.head > 1024 && 2*r.head > len(r.ring) {
		r.ring = r.ring[:copy(r.ring, r.ring[r.head:])]
		r.head = 0
	}
}

// arrival returns when pushed page p, on the wire, arrives (ns).
func (r *postcopyRun) arrival(p uint32) float64 {
	for _, f := range r.ring[r.head:] {
		if f.page == p {
			return f.arrive
		}
	}
	panic("models: post-copy page on the wire has no arrival time")
}

// progress returns the guest time the guest has reached at wall time t.
func (r *postcopyRun) progress(t sim.Time) time.Duration {
	if t < r.resumeAt {
		return r.g.guestTime + time.Duration(r.g.done*float64(r.g.epochLen))
	}
	tg := r.anchorG
	if t > r.anchorW {
		tg += t.Sub(r.anchorW)
	}
	if r.in.CatchUp && t > r.anchorW {
		tg = max(r.anchorG, r.schedG+t.Sub(r.schedW))
	}
	if r.idleG >= 0 {
		tg = min(tg, r.idleG)
	}
	return tg
}

// finish ends the migration at end with the given reason and fills the
// result.
func (r *postcopyRun) finish(reason StopReason, end sim.Time) {
	if r.finished {
		return
	}
	r.finished = true
	if reason == StopPostcopy {
		// Every page has left the source by now; committing them without
		// a time bound keeps rounding in the link's sum out of the count.
		r.advance(math.Inf(1), math.Inf(1))
	} else {
		r.advance(float64(end), float64(end))
	}
	guest := r.progress(end).Seconds()
	if r.in.CatchUp && reason == StopPostcopy && end > r.stopAt {
		// Every page has arrived: an open-loop guest behind its schedule
		// runs its overdue accesses at once, none of them a fault.
		tg := r.schedG + end.Sub(r.schedW)
		if r.idleG >= 0 {
			tg = min(tg, r.idleG)
		}
		guest = max(guest, tg.Seconds())
	}
	res := r.res
	postcopyEnd{
		reason: reason, stopAt: r.stopAt, resumeAt: r.resumeAt, end: end,
		wireNormal: r.wireNormal, wireZero: r.wireZero,
		normal: float64(r.normal), zero: float64(r.zeroSent),
		preBytes: r.preBytes, preNormal: float64(r.preNormal), preZero: float64(r.preZero),
		pages: r.g.hdr.PageCount, rateBps: r.rateBps, guestTimeS: guest,
		requests: float64(r.requests), minor: float64(r.minor), stallS: r.stall.Seconds(),
		fullSpeedS: r.meter.result(),
	}.fill(res, r.in)
	r.fillStream(res)
	if r.release != nil {
		r.release()
	}
	r.env.halt()
}
