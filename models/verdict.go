package models

import (
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// The early verdict: a pre-copy whose dirty set has stopped shrinking,
// with nothing pending that could change that, stops with stop reason
// no_progress after a bounded number of rounds instead of running on to
// max_time. The page engine ([Precopy], [Parallel]) and the fluid engine
// ([FluidPrecopy]) share this file; each calls its noProgress at every
// decision sync that neither stopped nor switched, after the caps.
//
// # The rule
//
// Let x(i) be the pages a decision sync i leaves to send (under
// sync_policy pass the dirty set found at the end of round i, under qemu
// the migration bitmap after the sync), th the pages that fit the
// downtime limit at the measured rate, and k = model.no_progress_rounds.
// With a = x(n−2k), b = x(n−k), c = x(n) taken from 2k rounds in which
// nothing was pending, the run stops at sync n when both hold:
//
//  1. The dirty set has stopped shrinking: it shrank by no more than
//     the noise of two page counts over the last k rounds
//     (b − c ≤ 3·√(b + c)), or it is shrinking ever more slowly towards
//     a floor above the threshold: 0 < b − c < a − b and the floor that
//     a geometric approach through a, b and c reaches (Aitken's Δ²,
//     c − (b−c)²/((a−b) − (b−c))) exceeds th. A dirty set that shrinks
//     by a steady factor (a − b : b − c = a : b), however slowly,
//     extrapolates to a floor of 0 and is left to run.
//  2. Even shrinking for good at its mean rate over the window,
//     ρ = (c/a)^(1/2k), it could not reach th before max_time: the
//     rounds that would take, each at least its pages (less th under
//     qemu, which leaves that much unsent before a sync) over the
//     fastest rate the rounds have had, end after max_time. For a
//     stationary workload this is a lower bound: the distinct pages a
//     guest writes in a window grow ever more slowly with its length, so
//     the dirty set shrinks by an ever smaller factor as rounds shorten.
//     A run that converges before max_time is never cut short.
//  3. It stands clear of the threshold: every count of the window
//     exceeds th by more than 5·√x (x the count). Under sync_policy
//     qemu a run near the threshold syncs every few steps, and its
//     pending set drifts down by a few pages a sync under noise of tens
//     (a knife edge: 6,400 pages/s under 200 Mbit/s in the lab's
//     scenario, 1,850-2,060 pages against 1,827), which the 2k rounds
//     of steps 1 and 2 cannot tell from a floor; before 2026-12-07 the
//     verdict stopped 4 of 10 page seeds there that converge 0.3-2 s
//     later. Such a run goes on to converge, or to max_time.
//  4. Its drift could not reach the threshold: over the last
//     noProgressDriftSyncs decision syncs with nothing pending (at least
//     the 2k+1 of the window; from where the counts came within the
//     noise of the window's highest, leaving out a set still settling),
//     the steepest shrinking factor a sync that a least-squares fit of
//     ln x allows, its slope less noProgressDriftSE standard errors,
//     could not take the last count to th before max_time (reckoned as
//     in step 2). Near the threshold a run under sync_policy qemu syncs
//     every 100 ms rate-limit window, and its pending set can fall by a
//     few tens of pages a second under a swing of ±50 a sync, for
//     seconds: with the guest OS's writes in the lab's scenario
//     (2026-12-07) at 6,150 pages/s under 200 Mbit/s, steps 1-3 stopped
//     5 of 10 page seeds at 15.7-16.7 s that converge at 23.8-31.3 s.
//     Step 4 needs the 32 syncs' fit to rule that out. It applies to the
//     page engine only, and there within 20·√x of the threshold: the
//     fluid engine's counts are expectations, without the noise that
//     hides such a drift from steps 1 and 2 (its verdict_margin marks
//     most knife edges, not a set that settles just above the threshold,
//     where seeds dip under it: validate/verdict.go), and far above the
//     threshold a set that has stopped shrinking sits at the writer's
//     fixed point, where a fit over the last syncs, which still holds
//     some of its approach, would only hold the run for up to 32 more
//     syncs (on a 4 GiB guest at 64 % dirty, 4-8 rounds; with a
//     sequential writer to max_time).
//
// The stop is completed false, converged false, as at max_time; the
// result reports c as steady_state_dirty_pages and the downtime that
// sync expected (expected_downtime_s).
//
// # Pending changes
//
// The verdict needs 2k rounds in a row with nothing pending; anything
// pending restarts the count:
//
//   - auto-converge below max_cpu_throttle (its next step slows the
//     guest) or a throttle step at this sync;
//   - a network.bandwidth_schedule change still ahead, or since the
//     window began;
//   - max_rounds or max_bytes_factor that the rounds, at the last
//     round's length and bytes, reach before max_time (the cap forces a
//     completion there);
//   - at_end idle with the trace's end, after which the guest writes
//     nothing, before max_time;
//   - XBZRLE in its first passes, while the cache warms (its hits shorten
//     the rounds): the first xbzrleCachedPageLifetime + 1 planned passes;
//   - a shared network (a fleet) on which other migrations still run or
//     wait: their starts and ends change this one's share. A fleet's last
//     migration is settled.
//
// It never applies, and the run goes to max_time as before, with
// model.no_progress_rounds 0, a trace file or a phases generator (the
// workload ahead may differ from the workload behind), alloc_rate or
// free_rate (the memory classes change), the balloon (its inflations
// follow the guest's free pages), a hybrid's pending switch to
// post-copy, or a forced one (Input.ForcePostcopyAt).
//
// Multifd and max_bandwidth need nothing of their own: the rate the
// rounds get is steady once past slow start, and the window's rounds
// measure it. Under sync_policy qemu the rule reads the bitmap at each
// sync; the lower bound of step 2 then rests on the same shrinking-factor
// argument, which holds closely rather than exactly (tests check both
// engines and both policies against runs with the verdict off).

// DefaultNoProgressRounds is the default of model.no_progress_rounds.
const DefaultNoProgressRounds = 2

// noProgressNoise is how many standard deviations of a page count a
// shrink must exceed to count as shrinking (step 1 of the rule).
const noProgressNoise = 3

// noProgressClearance is how many standard deviations of a page count
// the window must stay above the threshold (step 3 of the rule).
const noProgressClearance = 5

// noProgressDriftSyncs is how many decision syncs, at most, step 4 of
// the rule fits its drift to.
const noProgressDriftSyncs = 32

// noProgressDriftSE is how many standard errors of the fitted drift step
// 4 of the rule allows for.
const noProgressDriftSE = 3

// noProgressHover is how many standard deviations of a page count above
// the threshold step 4 of the rule looks at (the hover zone).
const noProgressHover = 20

// progressWatch is one run's state for the early verdict.
type progressWatch struct {
	started bool
	off     bool      // the verdict never applies to this run
	hist    []float64 // pages left at each decision sync with nothing pending
	histAt  sim.Time  // the time of hist[0]
	thr     float64   // the throttle at the last sync, percent
}

// verdictSync is what a decision sync tells the watch.
type verdictSync struct {
	now       sim.Time
	dirty     float64 // pages the sync leaves to send
	threshold float64 // pages that fit downtime_limit at the measured rate
	pagesPerS float64 // the fastest rate the rounds have, pages per second
	leftover  float64 // pages a round leaves unsent before its sync
	throttle  float64 // the throttle after this sync, percent
	guestS    float64 // guest time so far, seconds
	rounds    int     // live rounds so far
	bytes     float64 // bytes sent so far
	roundS    float64 // the last round's duration, seconds
	roundB    float64 // the last round's bytes
	handover  bool    // a switch to post-copy is arranged
	noisy     bool    // the counts are one random sample (the page engine): step 4 applies
	settled   bool    // nothing outside the model changes the rounds (fleet, XBZRLE)
}

// noProgressOff reports whether the verdict never applies to a run of p
// on in (see the file comment).
func noProgressOff(p *PrecopyParams, in *Input, handover bool) bool {
	if p.NoProgressRounds <= 0 || handover || in.ForcePostcopyAt > 0 || p.Balloon.Enabled {
		return true
	}
	g := in.Generator
	return g == nil || g.Kind == traces.GenPhases || g.AllocRate != 0 || g.FreeRate != 0
}

// pending reports whether something still to come could change the
// rounds (see the file comment).
func pending(p *PrecopyParams, in *Input, v verdictSync) bool {
	left := (time.Duration(p.MaxTime) - v.now.Sub(0)).Seconds()
	switch {
	case !v.settled:
		return true
	case p.AutoConverge && v.throttle < p.MaxCPUThrottle:
		return true
	case p.MaxRounds > 0 && float64(p.MaxRounds-v.rounds)*v.roundS < left:
		return true
	case p.MaxBytesFactor > 0 && v.roundB > 0 &&
		(p.MaxBytesFactor*float64(in.VM.Memory)-v.bytes)/v.roundB*v.roundS < left:
		return true
	}
	for _, c := range in.Path.Schedule {
		if sim.Time(c.At) > v.now {
			return true
		}
	}
	if in.AtEnd == AtEndIdle {
		d := in.Generator.Duration
		if d == 0 {
			d = traces.DefaultGeneratorSpec().Duration
		}
		if rest := d.Seconds() - v.guestS; rest > 0 && rest < left {
			return true
		}
	}
	return false
}

// observe records decision sync v and reports whether the run has made
// no progress (the rule of the file comment).
func (w *progressWatch) observe(p *PrecopyParams, in *Input, v verdictSync) bool {
	if !w.started {
		w.started = true
		w.off = noProgressOff(p, in, v.handover)
	}
	if w.off {
		return false
	}
	stepped := v.throttle != w.thr
	w.thr = v.throttle
	if stepped || pending(p, in, v) || w.changedSince(in, v.now) {
		w.hist, w.histAt = append(w.hist[:0], v.dirty), v.now
		return false
	}
	w.hist = append(w.hist, v.dirty)
	k := p.NoProgressRounds
	if keep := max(2*k+1, noProgressDriftSyncs); len(w.hist) > keep {
		w.hist = w.hist[len(w.hist)-keep:]
	}
	if len(w.hist) < 2*k+1 {
		return false
	}
	win := w.hist[len(w.hist)-2*k-1:]
	a, b, c := win[0], win[k], win[2*k]
	if !stalled(a, b, c, v.threshold) || !tooSlow(a, c, 2*k, v, p.MaxTime) || !clearOf(win, v.threshold) {
		return false
	}
	if lo := slices.Min(win); !v.noisy || lo-v.threshold > noProgressHover*math.Sqrt(lo) {
		return true
	}
	return driftTooSlow(w.settled(win), v, p.MaxTime)
}

// settled returns the counts of the history from where they came within
// the noise of the window win: the leading counts above win's highest by
// more than noProgressNoise·√x are the set still settling, and a fit
// through them would have it fall faster than it does now.
func (w *progressWatch) settled(win []float64) []float64 {
	hi := slices.Max(win)
	hi += noProgressNoise * math.Sqrt(hi)
	i := len(w.hist) - 1
	for i > 0 && w.hist[i-1] <= hi {
		i--
	}
	return w.hist[i:]
}

// driftTooSlow is step 4 of the rule: over the counts xs of consecutive
// decision syncs, the steepest shrinking factor a least-squares fit of
// ln x against the sync's index allows (its slope less
// noProgressDriftSE standard errors) could not take the last count to
// the threshold before maxTime ([shrinkTooSlow], as step 2).
func driftTooSlow(xs []float64, v verdictSync, maxTime time.Duration) bool {
	n := len(xs)
	if n < 3 {
		return true
	}
	idx, lx := make([]float64, n), make([]float64, n)
	for i, x := range xs {
		idx[i], lx[i] = float64(i), math.Log(x)
	}
	alpha, slope := stat.LinearRegression(idx, lx, nil, false)
	var rss float64
	for i, y := range lx {
		r := y - alpha - slope*idx[i]
		rss += r * r
	}
	sii := stat.Variance(idx, nil) * float64(n-1)
	steep := slope - noProgressDriftSE*math.Sqrt(rss/float64(n-2)/sii)
	if steep >= 0 {
		return true
	}
	return shrinkTooSlow(xs[n-1], math.Exp(steep), v, maxTime)
}

// clearOf is step 3 of the rule: every count of the window stands above
// the threshold th by more than noProgressClearance times the noise of a
// page count, √x.
func clearOf(hist []float64, th float64) bool {
	lo := slices.Min(hist)
	return lo-th > noProgressClearance*math.Sqrt(lo)
}

// changedSince reports whether the link changed since the window began.
func (w *progressWatch) changedSince(in *Input, now sim.Time) bool {
	for _, c := range in.Path.Schedule {
		if at := sim.Time(c.At); at > w.histAt && at <= now {
			return true
		}
	}
	return false
}

// stalled is step 1 of the rule: the dirty set, a, b and c pages k
// rounds apart, has stopped shrinking above th pages.
func stalled(a, b, c, th float64) bool {
	d1, d2 := a-b, b-c
	if d2 <= noProgressNoise*math.Sqrt(b+c) {
		return true
	}
	if d2 >= d1 {
		return false
	}
	return c-d2*d2/(d1-d2) > th
}

// tooSlow is step 2 of the rule: shrinking from c pages by the mean
// factor it shrank by from a over span rounds, the dirty set could not
// reach the threshold before maxTime.
func tooSlow(a, c float64, span int, v verdictSync, maxTime time.Duration) bool {
	if c >= a {
		return v.pagesPerS > 0
	}
	return shrinkTooSlow(c, math.Pow(c/a, 1/float64(span)), v, maxTime)
}

// shrinkTooSlow reports whether a dirty set of c pages, shrinking by the
// factor rho (below 1) a round, could not reach the threshold before
// maxTime: the rounds that would take, each at least its pages (less
// v.leftover) over the fastest rate the rounds have had, end after it.
func shrinkTooSlow(c, rho float64, v verdictSync, maxTime time.Duration) bool {
	if v.pagesPerS <= 0 {
		return false
	}
	k := math.Inf(1)
	if v.threshold > 0 {
		k = math.Max(1, math.Ceil(math.Log(v.threshold/c)/math.Log(rho)))
	}
	pages := c * (1 - math.Pow(rho, k)) / (1 - rho)
	if !math.IsInf(k, 1) {
		pages -= k * v.leftover
	}
	return v.now.Seconds()+pages/v.pagesPerS > maxTime.Seconds()
}

// settled reports whether a shared network, if any, can no longer change
// the share it offers the migration.
func settled(net SharedNet) bool {
	if net == nil {
		return true
	}
	s, ok := net.(SettledNet)
	return ok && s.Settled()
}

// SettledNet is a [SharedNet] that can tell when the share it offers a
// migration can no longer change (a fleet's last migration): only then
// may the early verdict (stop reason no_progress) end a migration on it.
type SettledNet interface {
	SharedNet
	// Settled reports whether no other migration runs or waits to run.
	Settled() bool
}

// noProgress is the page engine's hook at a decision sync that left
// dirty pages to send against a threshold of thresholdBytes.
func (r *precopyRun) noProgress(dirty uint64, thresholdBytes float64) bool {
	now := r.eng.Now()
	rate := r.bpsLimit() / 8 / r.wireNormal
	if r.round.DurationS > 0 {
		rate = math.Max(rate, float64(r.round.Pages)/r.round.DurationS)
	}
	th := thresholdBytes / r.wireNormal
	v := verdictSync{
		now: now, dirty: float64(dirty), threshold: th, pagesPerS: rate,
		throttle: r.throttlePct, guestS: r.g.progress().Seconds(),
		rounds: r.liveRounds, bytes: r.transferred,
		roundS: r.round.DurationS, roundB: float64(r.round.Bytes),
		handover: r.sw.to != nil, noisy: true,
		settled: settled(r.env.net) && r.xb.warm(),
	}
	if r.q != nil {
		v.leftover = th
	}
	return r.watch.observe(&r.p, &r.in, v)
}

// stopNoProgress ends a run whose dirty set (dirty pages) stopped
// shrinking: not completed, at this sync.
func (r *precopyRun) stopNoProgress(dirty uint64) {
	now := r.eng.Now()
	r.res.BandwidthBps = r.liveBytes * 8 / math.Max(now.Sub(r.liveStart).Seconds(), 1e-9)
	r.g.pause()
	r.res.StopReason = StopNoProgress
	r.res.SteadyStateDirtyPages = dirty
	r.finish(now)
}

// noProgress is the fluid engine's hook, as [precopyRun.noProgress].
func (r *fluidRun) noProgress(dirty, thresholdBytes float64) bool {
	now := r.eng.Now()
	rate := r.bpsLimit() / 8 / r.wireNormal
	if r.round.DurationS > 0 {
		rate = math.Max(rate, r.roundPages/r.round.DurationS)
	}
	th := thresholdBytes / r.wireNormal
	v := verdictSync{
		now: now, dirty: dirty, threshold: th, pagesPerS: rate,
		throttle: r.throttlePct, guestS: r.g.progress(),
		rounds: r.liveRounds, bytes: r.transferred,
		roundS: r.round.DurationS, roundB: r.roundBytes,
		handover: r.sw.to != nil,
		settled:  settled(r.env.net) && r.xb.warm(),
	}
	if r.qemu {
		v.leftover = th
	}
	return r.watch.observe(&r.p, &r.in, v)
}

// stopNoProgress is [precopyRun.stopNoProgress] on the fluid engine.
func (r *fluidRun) stopNoProgress(dirty float64) {
	now := r.eng.Now()
	r.res.BandwidthBps = r.liveBytes * 8 / math.Max(now.Sub(r.liveStart).Seconds(), 1e-9)
	r.g.pause()
	r.res.StopReason = StopNoProgress
	r.res.SteadyStateDirtyPages = uint64(math.Round(dirty))
	r.finish(now)
}

// warm reports whether XBZRLE, if on, is past its first passes, in which
// its cache fills and its hits grow.
func (x *xbzrleCache) warm() bool {
	return x == nil || x.passes > xbzrleCachedPageLifetime
}
