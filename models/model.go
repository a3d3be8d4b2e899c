package models

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Model is a live-migration algorithm.
//
// Run simulates one migration of in.VM over in.Path while the guest replays
// in.Trace, and returns its Result. A model opens the trace through
// in.Trace (possibly several times, to replay it from the start when the
// migration outlasts it), drives time only through a [sim.Engine] it
// creates from in.Seed, reports each pass over memory to in.Observer when
// that is not nil, and never opens files or reads the wall clock. Run
// returns ctx.Err() promptly when ctx is cancelled. The same Input gives the
// same Result, field for field.
type Model interface {
	// Name returns the model's registered name, e.g. "precopy".
	Name() string
	// Run simulates one migration.
	Run(ctx context.Context, in Input) (*Result, error)
}

// Input is what every model is given.
type Input struct {
	// Scenario is the scenario's name, copied into the Result.
	Scenario string
	// Seed seeds the run's engine; the same seed gives the same result.
	Seed uint64
	// Calibration names the calibration profile the parameters come from
	// (the scenario's calibration key), copied into the Result; "" for
	// none.
	Calibration string
	// VM describes the guest.
	VM VM
	// Trace opens the guest's dirty-page trace at its first epoch.
	Trace traces.Opener
	// Generator is the generator Trace replays, nil for a trace file; the
	// fluid engine runs on its closed forms instead of its epochs.
	Generator *traces.GeneratorSpec
	// AtEnd says what the guest does when the trace ends before the
	// migration does.
	AtEnd TraceEnd
	// CatchUp says the guest runs on a wall-clock schedule (an open-loop
	// workload): after a post-copy stall it runs its overdue accesses at
	// once until it is back on the schedule it held when the source
	// stopped it, downtime included. False: a stall delays everything
	// after it (a closed-loop workload keeps its pace, shifted).
	CatchUp bool
	// AccessOrder is the order of an epoch's accesses after a post-copy
	// switch; "" is the default ([Input.accessOrder]).
	AccessOrder AccessOrder
	// BackgroundPages is the guest OS's own working set: that many pages,
	// spread evenly over memory, are read in every epoch beside the
	// trace's accesses (see backgroundSource). 0: none.
	BackgroundPages int
	// BackgroundWriteRate is how many of the background pages the guest
	// OS writes per second, in turn (see withBackground); 0: it only
	// reads them.
	BackgroundWriteRate float64
	// CPUDemand is the share of its vCPUs' time the workload needs to keep
	// its pace, in (0, 1]; 0 means 1 (CPU-bound). The auto-converge
	// throttle slows the guest only when it leaves less ([throttledSpeed]).
	CPUDemand float64
	// Path is the network between source and destination.
	Path sim.Path
	// ForcePostcopyAt, when positive, is the time since the start at
	// which the management layer switches a pre-copy (precopy, parallel)
	// that is still running to post-copy, as QEMU's migrate-start-postcopy
	// does when OpenStack Nova's live_migration_timeout_action is
	// force_complete: the switch comes at the run's next decision and the
	// post-copy phase has QEMU's post-copy defaults and a max_time budget
	// of its own (see switch.go). 0: never.
	ForcePostcopyAt time.Duration
	// Observer, when not nil, is told of each pass over memory as it ends.
	Observer Observer
	// ThrottledTraceUntil, when positive, says the trace already shows
	// the guest as the auto-converge throttle slowed it up to this time
	// since the start (the validation lab's achieved trace, laid out in
	// wall time from a throttled guest's reports up to its last one):
	// until then the throttle steps as usual but does not slow the replay
	// again; from then on the guest runs at the throttle's speed. 0: the
	// throttle slows the guest from its first step.
	ThrottledTraceUntil time.Duration
}

// VM describes the migrating guest.
type VM struct {
	// Memory is the guest's memory size in bytes; it must equal the trace's
	// page count times its page size.
	Memory units.Bytes
	// PageSize is the page size in bytes.
	PageSize units.Bytes
	// VCPUs is the number of virtual CPUs.
	VCPUs int
	// DeviceState is the size of CPU and device state sent at stop time, in bytes.
	DeviceState units.Bytes
}

// TraceEnd says what the guest does after the last epoch of its trace.
type TraceEnd string

// Trace end behaviours.
const (
	// AtEndLoop replays the trace from its first epoch (the default).
	AtEndLoop TraceEnd = "loop"
	// AtEndIdle leaves the guest idle: it writes and reads nothing more.
	AtEndIdle TraceEnd = "idle"
)

// Validate checks that the trace end behaviour is known.
func (t TraceEnd) Validate() error {
	switch t {
	case AtEndLoop, AtEndIdle, "":
		return nil
	}
	return fmt.Errorf("unknown trace end %q (want loop or idle)", string(t))
}

// AccessOrder is the order in which the guest makes an epoch's accesses
// (its written and read pages, each distinct page once) on the
// destination after a post-copy switch, where the order decides which
// accesses find their page already pushed. Traces and the generator
// record which pages an epoch touches, not in what order.
type AccessOrder string

// Access orders.
const (
	// AccessRandom spreads an epoch's accesses over the epoch in a random
	// order (a permutation drawn from the run's seed and the epoch): a
	// guest whose accesses within an epoch have no order in memory. The
	// default, except for a sequential generator.
	AccessRandom AccessOrder = "random"
	// AccessAscending makes them in ascending page order: a guest that
	// scans memory upwards within each epoch. The default for a
	// generator whose every phase is sequential.
	AccessAscending AccessOrder = "ascending"
)

// Validate checks that the access order is known ("" is the default).
func (o AccessOrder) Validate() error {
	switch o {
	case AccessRandom, AccessAscending, "":
		return nil
	}
	return fmt.Errorf("unknown access order %q (want random or ascending)", string(o))
}

// accessOrder returns the order in's guest accesses an epoch's pages in:
// in.AccessOrder, or by default ascending for a generator whose every
// phase is sequential and random otherwise.
func (in Input) accessOrder() AccessOrder {
	if in.AccessOrder != "" {
		return in.AccessOrder
	}
	if g := in.Generator; g != nil {
		seq := g.Kind == traces.GenSequential
		if g.Kind == traces.GenPhases && len(g.Phases) > 0 {
			seq = true
			for _, ph := range g.Phases {
				seq = seq && ph.Kind == traces.GenSequential
			}
		}
		if seq {
			return AccessAscending
		}
	}
	return AccessRandom
}

// Observer receives per-pass records while a model runs. Observers must not
// keep the Round's slices beyond the call.
type Observer interface {
	ObserveRound(r Round)
}

// ObserverFunc adapts a function to [Observer].
type ObserverFunc func(Round)

// ObserveRound calls f(r).
func (f ObserverFunc) ObserveRound(r Round) { f(r) }

// Info describes a registered model.
type Info struct {
	// Name is the value of the scenario key model.name.
	Name string
	// Summary is a one-line description.
	Summary string
	// Reference names the implementation or paper the model follows.
	Reference string
	// Params returns a pointer to a fresh copy of the model's default
	// parameters; the scenario's model section is decoded into it.
	Params func() any
	// New builds the model from parameters returned by Params (after
	// decoding). It validates them (their Validate, the one check of
	// every key) and returns an error whose [FieldError]s name the keys.
	New func(params any) (Model, error)
	// Fluid, when not nil, builds the model's fluid form (model.engine
	// fluid, [NewEngine]) from parameters returned by Params; nil for a
	// model without one, NoFluid saying why.
	Fluid   func(params any) (Launcher, error)
	NoFluid string
}

// Validator is implemented by parameter structs that can check themselves:
// every model's parameters, which return a [FieldError] per bad key.
type Validator interface {
	Validate() error
}

// register builds an Info whose Params and New are typed by P. build
// validates the parameters (the model's constructor does).
func register[P any](name, summary, reference string, defaults func() P, build func(P) (Model, error)) Info {
	return Info{
		Name:      name,
		Summary:   summary,
		Reference: reference,
		Params: func() any {
			p := defaults()
			return &p
		},
		New: func(params any) (Model, error) {
			p, err := paramsOf[P](name, params)
			if err != nil {
				return nil, err
			}
			m, err := build(*p)
			if err != nil {
				return nil, fmt.Errorf("model %s: %w", name, err)
			}
			return m, nil
		},
	}
}

// withFluid adds to info the fluid form build makes of parameters P.
func withFluid[P any](info Info, build func(P) (Launcher, error)) Info {
	info.Fluid = func(params any) (Launcher, error) {
		p, err := paramsOf[P](info.Name, params)
		if err != nil {
			return nil, err
		}
		l, err := build(*p)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", info.Name, err)
		}
		return l, nil
	}
	return info
}

// paramsOf returns params as model name's parameters, *P.
func paramsOf[P any](name string, params any) (*P, error) {
	p, ok := params.(*P)
	if !ok {
		return nil, fmt.Errorf("model %s: parameters of type %T, want *%T", name, params, *new(P))
	}
	return p, nil
}

// Registry returns every model, sorted by name. It is the one explicit list
// of models; there is no registration by init side effect.
func Registry() []Info {
	all := []Info{
		withFluid(precopyInfo(), func(p PrecopyParams) (Launcher, error) { return NewFluidPrecopy(p) }),
		withFluid(postcopyInfo(), func(p PostcopyParams) (Launcher, error) { return NewFluidPostcopy(p) }),
		withFluid(hybridInfo(), func(p HybridParams) (Launcher, error) { return NewFluidHybrid(p) }),
		withFluid(enlightenedInfo(), func(p EnlightenedParams) (Launcher, error) { return NewFluidEnlightened(p) }),
		withFluid(parallelInfo(), func(p ParallelParams) (Launcher, error) { return NewFluidParallel(p) }),
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}

// Lookup returns the model registered under name.
func Lookup(name string) (Info, error) {
	var names []string
	for _, m := range Registry() {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Info{}, fmt.Errorf("unknown model %q (known: %s)", name, strings.Join(names, ", "))
}
