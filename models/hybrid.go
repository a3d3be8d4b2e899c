package models

import (
	"context"

	"github.com/migsim/migsim/sim"
)

// Hybrid is pre-copy for a fixed number of rounds, then post-copy, as QEMU
// does when migrate-start-postcopy is issued during a pre-copy migration
// with the postcopy-ram capability (docs/devel/migration/postcopy.rst).
//
// # Semantics
//
//   - The live rounds are [Precopy]'s, run by the same code: round 1 sends
//     every page, round i+1 the pages dirtied during round i, with QEMU's
//     stop condition (downtime_limit), no round or byte caps and no
//     auto-converge. If a round's sync finds that the remaining dirty
//     bytes fit the downtime limit, the migration completes as pre-copy
//     (stop reason downtime_met), exactly as [Precopy] would. Under
//     sync_policy qemu a round is a sync period (see [SyncQEMU]), so the
//     switch comes at the precopy_rounds-th sync after setup's, and the
//     pages the bitmap still held are among those post-copy moves.
//   - Otherwise, at the sync that ends round precopy_rounds, the source
//     switches to post-copy: the guest stops, a final sync
//     (sync_time_per_gib × memory) collects what it dirtied last, its
//     device state crosses, and it resumes on the destination: downtime =
//     final sync + device state over the path + resume_time + one RTT.
//     The pages dirtied since the last round are the only ones the
//     destination lacks; [Postcopy]'s machinery pushes and requests them
//     (prepaging applies to them). Stop reason postcopy.
//   - precopy_bytes is what the live rounds sent, postcopy_bytes what the
//     post-copy phase sent; transferred_bytes adds the device state. Each
//     page crosses once per round it was dirty in, and once after the
//     switch if it was dirty then.
//   - precopy_rounds 0 is pure post-copy: the switch comes right after
//     setup, and the run is [Postcopy]'s.
type Hybrid struct {
	p HybridParams
}

// NewHybrid returns a hybrid model with the given parameters.
func NewHybrid(p HybridParams) (*Hybrid, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Hybrid{p: p}, nil
}

func hybridInfo() Info {
	return register("hybrid",
		"precopy_rounds of pre-copy, then post-copy (QEMU migrate-start-postcopy)",
		"QEMU docs/devel/migration/postcopy.rst; Hines and Gopalan, VEE'09",
		DefaultHybridParams,
		func(p HybridParams) (Model, error) { return NewHybrid(p) })
}

// Name returns "hybrid".
func (m *Hybrid) Name() string { return "hybrid" }

// Params returns the model's parameters.
func (m *Hybrid) Params() HybridParams { return m.p }

// Run simulates one hybrid migration.
func (m *Hybrid) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one hybrid migration beside others ([Launcher]).
func (m *Hybrid) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *Hybrid) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	cfg := m.p.config()
	if m.p.PrecopyRounds == 0 {
		return launchPostcopyComposed(env, in, m.Name(), cfg, m.p.memory(), wholeMemoryPlan)
	}
	var comp *composition // free-page hint, balloon, page cache; nil: off
	wait, err := launchPrecopyRounds(env, in, m.Name(), m.p.precopy(), func(pre *precopyRun) {
		g := pre.g
		pre.useMultifd(m.p.Multifd)
		pre.useXbzrle(m.p.Xbzrle)
		pre.comp = newComposition(m.p.memory(), g.hdr)
		pre.comp.attach(g)
		comp = pre.comp
		pre.sw.after, pre.sw.to = m.p.PrecopyRounds, pre.postcopyHandover(cfg)
	})
	if err != nil {
		return nil, err
	}
	return func(runErr error) (*Result, error) {
		res, err := wait(runErr)
		if err != nil {
			return nil, err
		}
		if res.StopReason == StopPostcopy {
			comp.finish(res) // a pre-copy that completed has done it
		}
		return res, nil
	}, nil
}
