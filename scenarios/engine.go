package scenarios

import (
	"fmt"

	"github.com/migsim/migsim/models"
)

// validateEngine checks model.engine: a known engine and, for fluid, a
// model, parameters and workload the fluid engine covers (an error
// naming the feature and why); auto always loads, falling back to the
// page engine where fluid does not cover the run.
func (l *loader) validateEngine(s *Spec) {
	e := s.Model.Engine
	if err := e.Validate(); err != nil {
		l.add("model.engine", err)
		return
	}
	if e != models.EngineFluid {
		return
	}
	in := models.Input{
		Generator: s.Workload.Generator, AtEnd: s.Workload.AtEnd, AccessOrder: s.Workload.AccessOrder,
		CatchUp: s.Workload.CatchUp, BackgroundPages: s.Workload.BackgroundPages,
		BackgroundWriteRate: s.Workload.BackgroundWriteRate,
		VM:                  models.VM{Memory: s.VM.Memory, PageSize: s.VM.PageSize},
	}
	if err := models.FluidSupport(s.Model.Name, s.Model.Params, in); err != nil {
		l.add("model.engine", fmt.Errorf("fluid does not cover %w (use page, or auto to fall back to it)", err))
	}
}
