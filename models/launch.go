package models

import (
	"context"
	"errors"

	"github.com/migsim/migsim/sim"
)

// SharedNet is a network a migration shares with others, such as a
// fleet's (package fleet): a migration launched on one sends every pass
// through it instead of over a path of its own, and its rate changes as
// other migrations start and end.
//
// A transfer is planned as [sim.Path.Send] plans it, on the share the
// network offers the migration, and re-planned from its start (same
// connection state, same bytes) each time that share changes while it is
// under way; its earlier part is the same in every plan. A transfer
// leaves the network when its latest plan ends.
type SharedNet interface {
	// Send plans n bytes over connection c from time at, capped in
	// aggregate at capBps when positive, and returns the plan and the
	// connection's state after it. retime, when not nil, receives each
	// later plan of the same transfer.
	Send(c sim.Conn, at sim.Time, n, capBps float64, retime func(sim.Transfer, sim.Conn)) (sim.Transfer, sim.Conn)
	// SteadyBps is [sim.Path.SteadyBps] on the share the network offers
	// the migration at time at (now): what k streams capped at capBps
	// would get once past slow start.
	SteadyBps(k int, at sim.Time, capBps float64) float64
	// Path returns the migration's path as the network offers it now to
	// k streams capped at capBps: its Bandwidth is the offer.
	Path(k int, capBps float64) sim.Path
	// Hold keeps k streams capped at capBps in the network until release
	// is called, and tells onRate the steady rate they get, at once and
	// at each change: a transfer paced by its rate, such as post-copy's
	// background push.
	Hold(k int, capBps float64, onRate func(bps float64)) (release func())
}

// Launcher is a model that can run beside other migrations on one engine
// and one shared network (a fleet).
type Launcher interface {
	Model
	// Launch starts one migration on eng, a sub-engine whose time 0 is
	// the migration's start (see [sim.Engine.Sub]), sending over net, and
	// returns at once. done receives the result, or what ended the run
	// early, exactly once, from an engine event. A migration launched
	// alone on an idle network gives the Result [Model.Run] gives.
	Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error
}

// runEnv is where one model run happens.
type runEnv struct {
	eng *sim.Engine
	// net is the shared network; nil: the run has in.Path to itself.
	net SharedNet
	// halt ends the run once the model has its result (or failed):
	// Engine.Stop for a run alone, the fleet's hand-over otherwise.
	halt func()
}

// launchFunc sets a model run up on env and starts it. It returns wait,
// which the caller calls once after the run has halted (with the
// engine's error, nil in a fleet) to collect the result; wait releases
// what the run holds (the trace).
type launchFunc func(env *runEnv, in Input) (wait func(runErr error) (*Result, error), err error)

// runAlone runs a model on an engine of its own seeded from in.Seed, over
// in.Path: [Model.Run].
func runAlone(ctx context.Context, in Input, launch launchFunc) (*Result, error) {
	eng := sim.New(in.Seed)
	env := &runEnv{eng: eng, halt: eng.Stop}
	wait, err := launch(env, in)
	if err != nil {
		return nil, err
	}
	return wait(eng.Run(ctx, sim.Never))
}

// launchShared runs a model beside others: [Launcher.Launch].
func launchShared(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error), launch launchFunc) error {
	env := &runEnv{eng: eng, net: net}
	var wait func(error) (*Result, error)
	halted := false
	env.halt = func() {
		if halted {
			return
		}
		halted = true
		// Hand the result on in an event of its own: the model may halt
		// while launch is still setting up, and must have finished its
		// current event before its result is read.
		eng.After(0, sim.PhaseObserve, func() {
			eng.Close()
			res, err := wait(nil)
			done(res, err)
		})
	}
	w, err := launch(env, in)
	if err != nil {
		eng.Close()
		return err
	}
	wait = w
	return nil
}

// collect is how a run's result is collected after it halted: the
// trace's error first, then *failed (an error a model event recorded;
// failed may be nil), then the engine's (a cancelled context). A run that
// ends without a stop reason is a broken model.
func collect(g *guest, res *Result, failed *error, runErr error) (*Result, error) {
	if g.err != nil {
		return nil, g.err
	}
	if failed != nil && *failed != nil {
		return nil, *failed
	}
	if runErr != nil && !errors.Is(runErr, sim.ErrStopped) {
		return nil, runErr
	}
	if res.StopReason == 0 {
		return nil, errors.New(res.Model + ": simulation ended without a stop reason")
	}
	return res, nil
}
