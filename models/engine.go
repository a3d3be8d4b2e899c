package models

import (
	"context"
	"fmt"

	"github.com/migsim/migsim/sim"
)

// Engine is the scenario key model.engine: how a model computes its
// result.
type Engine string

// Engines.
const (
	// EnginePage replays the guest's trace page by page (the default):
	// every model, every workload, one random sample of a generator.
	EnginePage Engine = "page"
	// EngineFluid runs the model on the expectation of a generator
	// workload (its closed forms, traces.Expect): exact in expectation
	// over seeds, at a cost per round instead of per page. Only what
	// [FluidSupport] accepts.
	EngineFluid Engine = "fluid"
	// EngineAuto runs fluid where [FluidSupport] accepts the model and
	// its input, and page elsewhere, saying why in the result's
	// engine_fallback.
	EngineAuto Engine = "auto"
)

// Validate checks the engine's name.
func (e Engine) Validate() error {
	switch e {
	case EnginePage, EngineFluid, EngineAuto:
		return nil
	}
	return fmt.Errorf("%q is not page, fluid or auto", string(e))
}

// FluidSupport returns nil when the fluid engine covers the model named
// name with parameters params (a pointer, as [Info.Params] returns them)
// on input in (its Generator, VM, AtEnd, AccessOrder, BackgroundPages
// and ForcePostcopyAt are read), else an error naming the key of the
// first feature it does not cover and why.
func FluidSupport(name string, params any, in Input) error {
	info, err := Lookup(name)
	if err != nil {
		return fmt.Errorf("model.name: %w", err)
	}
	if err := fluidParams(info, params); err != nil {
		return err
	}
	l, err := info.Fluid(params)
	if err != nil {
		return err
	}
	return fluidCoversInput(l, params, in)
}

// fluidCoversInput returns nil when the fluid model l, built from params,
// runs in: the workload has closed forms the parts of params follow
// (fluidInputFor), and l's own checks on the input pass.
func fluidCoversInput(l Launcher, params any, in Input) error {
	parts, _ := PartsOf(params)
	if _, err := fluidInputFor(parts, in); err != nil {
		return err
	}
	if c, ok := l.(fluidInputChecker); ok {
		return c.fluidCovers(in)
	}
	return nil
}

// fluidInputChecker is a fluid model with checks of its own on the input
// (FluidPostcopy: the guest's access order).
type fluidInputChecker interface {
	fluidCovers(in Input) error
}

// fluidParams is FluidSupport's check of the model and its parameters:
// a model with a fluid form (every part of a model that has one has a
// fluid form too; what depends on the workload is checked per run, by
// fluidInputFor).
func fluidParams(info Info, params any) error {
	if info.Fluid == nil {
		why := info.NoFluid
		if why == "" {
			why = "it has no fluid form"
		}
		return fmt.Errorf("model.name: model %s: %s", info.Name, why)
	}
	// The fluid form's own checks of the parameters (NewFluidPostcopy's).
	_, err := info.Fluid(params)
	return err
}

// NewEngine builds the model of info from params to run under engine e:
// page is info.New's model itself; fluid its fluid form (info.Fluid), or
// an error naming what the fluid engine does not cover; auto picks, for
// each run, fluid when [FluidSupport] accepts it and page otherwise.
// Under fluid and auto the result says which engine ran (Result.Engine).
func NewEngine(info Info, params any, e Engine) (Model, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("model.engine: %w", err)
	}
	if e == EnginePage || e == "" {
		return info.New(params)
	}
	m := &engineModel{name: info.Name, mode: e, params: params}
	if err := fluidParams(info, params); err != nil {
		if e == EngineFluid {
			return nil, fmt.Errorf("model.engine: fluid does not cover %w", err)
		}
		m.why = err
	} else {
		f, err := info.Fluid(params)
		if err != nil {
			return nil, err
		}
		m.fluid = f
	}
	if e == EngineAuto {
		page, err := info.New(params)
		if err != nil {
			return nil, err
		}
		m.page = page
	}
	return m, nil
}

// engineModel is a model under model.engine fluid or auto.
type engineModel struct {
	name   string
	mode   Engine
	params any
	fluid  Launcher // nil when the parameters have no fluid form
	why    error    // why fluid is nil
	page   Model    // nil under fluid
}

// Name returns the model's registered name.
func (m *engineModel) Name() string { return m.name }

// pick returns the model that runs in, and why it is not the fluid one
// ("" when it is).
func (m *engineModel) pick(in Input) (model Model, why string, err error) {
	reason := m.why
	if m.fluid != nil {
		if err := fluidCoversInput(m.fluid, m.params, in); err != nil {
			reason = err
		} else {
			return m.fluid, "", nil
		}
	}
	if m.mode == EngineFluid {
		return nil, "", fmt.Errorf("model.engine: fluid does not cover %w", reason)
	}
	return m.page, reason.Error(), nil
}

// tag marks res with the engine that ran and why.
func tag(res *Result, fluid bool, why string) {
	if res == nil {
		return
	}
	if fluid {
		res.Engine = string(EngineFluid)
		return
	}
	res.Engine, res.EngineFallback = string(EnginePage), why
}

// Run simulates one migration on the engine picked for in.
func (m *engineModel) Run(ctx context.Context, in Input) (*Result, error) {
	model, why, err := m.pick(in)
	if err != nil {
		return nil, err
	}
	res, err := model.Run(ctx, in)
	if err != nil {
		return nil, err
	}
	tag(res, model == Model(m.fluid), why)
	return res, nil
}

// Launch starts one migration beside others on the engine picked for in
// ([Launcher]).
func (m *engineModel) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	model, why, err := m.pick(in)
	if err != nil {
		return err
	}
	l, ok := model.(Launcher)
	if !ok {
		return fmt.Errorf("model %s cannot run beside others", m.name)
	}
	fluid := model == Model(m.fluid)
	return l.Launch(eng, net, in, func(res *Result, err error) {
		tag(res, fluid, why)
		done(res, err)
	})
}
