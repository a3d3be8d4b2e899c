package models

import (
	"context"
	"fmt"
	"math"

	"github.com/migsim/migsim/sim"
)

// FluidHybrid is [Hybrid] on the fluid engine (model.engine fluid): the
// live rounds are [FluidPrecopy]'s, and at the sync that ends round
// precopy_rounds (unless the migration completes there, as pre-copy)
// the switch hands the pages still to send, as expected counts per
// range of memory (the last sync's set under sync_policy pass, the
// migration bitmap under qemu), to [FluidPostcopy]'s phase: the guest
// stops, the final sync (sync_time_per_gib × memory) and the device
// state go before it resumes, and the push and the guest's faults are
// the fluid post-copy's over what the destination lacks. precopy_rounds
// 0 is [FluidPostcopy].
//
// The pages a zipf guest wrote last, which the switch leaves to
// post-copy, are its popular ranks, which it also touches first after
// the resume: the post-copy follows them by rank bucket within each
// block (fluid_strata.go).
//
// # Not covered
//
// What [FluidPostcopy] does not cover (its keys are the hybrid's too),
// and more than one zipf phase (fluidSwitchZipf).
type FluidHybrid struct {
	p HybridParams
}

// NewFluidHybrid returns the fluid hybrid model; what it does not cover
// depends on the workload, and is checked per run (fluidCovers).
func NewFluidHybrid(p HybridParams) (*FluidHybrid, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &FluidHybrid{p: p}, nil
}

// fluidCovers returns an error for what the fluid hybrid does not run on
// in: the post-copy's access order, a second zipf phase, the page cache
// with background pages.
func (m *FluidHybrid) fluidCovers(in Input) error {
	if err := (&FluidPostcopy{}).fluidCovers(in); err != nil {
		return err
	}
	if m.p.PrecopyRounds == 0 {
		return nil // pure post-copy
	}
	if err := fluidSwitchMemory(m.p.Memory.memory(), in, "in a hybrid"); err != nil {
		return err
	}
	return fluidSwitchZipf(in, "in a hybrid")
}

// fluidSwitchZipf returns an error when in's workload has more than one
// zipf phase and a post-copy phase (where says which) follows pre-copy
// rounds: the fluid post-copy follows the pages the rounds leave by rank
// bucket of one zipf law (fluid_strata.go), and a page's buckets under
// two laws would need a cell per pair.
func fluidSwitchZipf(in Input, where string) error {
	g := in.Generator
	if g == nil {
		return nil
	}
	n := 0
	for i, ph := range g.Phases {
		if ph.Kind == "zipf" {
			if n++; n == 2 {
				return fmt.Errorf("workload.generator.phases[%d].kind: a second zipf phase %s: the fluid post-copy follows the pages the pre-copy rounds leave by rank bucket of one zipf law, and a page's buckets under two laws would need a cell per pair", i, where)
			}
		}
	}
	return nil
}

// Name returns "hybrid".
func (m *FluidHybrid) Name() string { return "hybrid" }

// Run simulates one hybrid migration on the fluid engine.
func (m *FluidHybrid) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one fluid hybrid migration beside others ([Launcher]).
func (m *FluidHybrid) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *FluidHybrid) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	if err := m.fluidCovers(in); err != nil {
		return nil, err
	}
	cfg := m.p.config()
	if m.p.PrecopyRounds == 0 {
		post := &FluidPostcopy{p: PostcopyParams{Push: m.p.Push, Faults: m.p.Faults, Stream: m.p.Stream, Memory: m.p.Memory, Multifd: m.p.Multifd}}
		wait, err := post.launch(env, in)
		if err != nil {
			return nil, err
		}
		return func(runErr error) (*Result, error) {
			res, err := wait(runErr)
			if res != nil {
				res.Model = m.Name()
			}
			return res, err
		}, nil
	}
	pre := m.p.precopy()
	x, err := fluidInputFor(pre.Parts(), in)
	if err != nil {
		return nil, err
	}
	if err := checkFluidVM(in); err != nil {
		return nil, err
	}
	r := newFluidRun(pre, in, env, x)
	r.res.Model = m.Name()
	r.sw.after, r.sw.to = m.p.PrecopyRounds, r.postcopyHandover(cfg)
	r.start()
	return fluidCollect(r.res), nil
}

// postcopyHandover returns the switch of r to post-copy under cfg
// ([precopyRun.postcopyHandover]): the guest stops, the final sync runs
// with it stopped, and the fluid post-copy phase goes on from here on
// the same network with missing, the pages still to send.
func (r *fluidRun) postcopyHandover(cfg postcopyConfig) func(missing fluidMissing) {
	return func(missing fluidMissing) {
		now := r.eng.Now()
		res := r.res
		res.BandwidthBps = r.liveBytes * 8 / now.Sub(r.liveStart).Seconds()
		res.ExpectedDowntimeS = r.lastExpected
		res.StopReason = StopPostcopy // the pre-copy run's time limit no longer applies
		r.g.pause()
		r.fillHandoverCPU(res)
		r.xb.fill(res) // XBZRLE ends with the pre-copy rounds
		res.VerdictMargin = r.margin
		post := newFluidPostcopyRun(cfg, r.in, r.env, r.g, r.x, res)
		post.preBytes, post.preNormal, post.preZero = r.transferred, r.normalPages, r.zeroPages
		post.composition = r.finishComposition // the pages the memory options left out stay out; the post-copy's end counts them
		post.begin(r.syncCost, missing)
		// missing has been read (under sync_policy pass it is the last
		// sync's window, which the next sync reuses): the final sync,
		// with the guest stopped, finds nothing written since.
		r.g.sync()
		res.DirtySyncCount++
		r.bm.release()
	}
}

// fillHandoverCPU is [precopyRun.fillHandoverCPU]: the pre-copy rounds'
// CPU figures at a switch, over what they sent.
func (r *fluidRun) fillHandoverCPU(res *Result) {
	if r.cpu == nil {
		return
	}
	pages, bytes := res.Pages, res.TransferredBytes
	res.Pages = PageCounts{Normal: uint64(math.Round(r.normalPages)), Zero: uint64(math.Round(r.zeroPages))}
	res.TransferredBytes = uint64(math.Round(r.transferred))
	res.Completed = false // device state is not page data
	r.cpu.fill(res)
	res.Pages, res.TransferredBytes = pages, bytes
}

// fluidCovers returns an error for what a forced switch to post-copy
// (in.ForcePostcopyAt) needs and the fluid engine does not cover: the
// post-copy's access order, and what fluidSwitchMemory names of the
// memory options (the hint's and the balloon's pages stay out after the
// switch, as on the page engine).
func (m *FluidPrecopy) fluidCovers(in Input) error {
	if in.ForcePostcopyAt <= 0 {
		return nil
	}
	if err := (&FluidPostcopy{}).fluidCovers(in); err != nil {
		return err
	}
	const where = "after a forced switch to post-copy (plan.on_timeout postcopy)"
	if err := fluidSwitchZipf(in, where); err != nil {
		return err
	}
	return fluidSwitchMemory(m.p.memory(), in, where)
}

// fluidSwitchMemory returns an error for the memory options o that a
// post-copy phase after pre-copy rounds (where says which) on the fluid
// engine does not follow on in: the page cache with background pages.
// Pure post-copy follows them (fluid_san.go). After the rounds the
// SAN's waits take most of a short post-copy phase, during which the
// push sends what is missing: with them, a step's faults taken at its
// start gave up to 180 % more requests than the page engine (a few tens
// over lan-10g and metro), though the stall was within 3 %.
// (free_page_hint and the balloon with a guest that allocates or frees
// pages are followed: the pages it allocates after the switch have
// blocks of their own, fluidPostcopyRun.churnCuts.)
func fluidSwitchMemory(o memoryOptions, in Input, where string) error {
	if o.pagecacheOn() && in.BackgroundPages > 0 {
		return fmt.Errorf("model.pagecache: with workload.background_pages %s, the guest touches the background pages in its page cache, which the SAN's restore races (a demand read) after the pre-copy rounds; the fluid engine follows that in pure post-copy only", where)
	}
	return nil
}
