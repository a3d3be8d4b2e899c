package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// KnifeEdge is the nominal verdict margin below which a case's verdict
// is called a knife edge: fewer than 9 in 10 page-level seeds of its
// scenario reach the most common verdict.
const KnifeEdge = 0.9

// marginSeeds is how many page-level seeds nominalMargin runs.
const marginSeeds = 10

// nominalMargin returns the verdict margin of spec's own scenario (its
// generator, not the guest's achieved trace): it runs the scenario on the
// page engine under marginSeeds seeds (spec's seed and the next ones) and
// returns the share that reach the most common verdict (converged or
// not). nil when a run fails.
//
// It counts verdicts, not the decision at every sync, and counts seeds
// even where the fluid engine covers the scenario. The fluid engine's
// verdict_margin estimates the seeds that take every decision it takes, a
// sync's timing included, so it is low where seeds only stop a sync apart
// (the lab's multifd 2-channel case, 0.85); and where the expected set
// settles just above the threshold it takes no account of a seed's set
// wandering under it later: at 6,170 pages/s under 200 Mbit/s on the
// lab's base scenario it stops with no_progress and a margin of 1, while
// 4 of 10 seeds converge within the minute.
func nominalMargin(ctx context.Context, spec *scenarios.Spec) *float64 {
	converged := 0
	for i := range uint64(marginSeeds) {
		res := runPageSeed(ctx, spec, spec.Seed+i)
		if res == nil {
			return nil
		}
		if res.Converged {
			converged++
		}
	}
	v := float64(max(converged, marginSeeds-converged)) / marginSeeds
	return &v
}

// runPageSeed runs spec's scenario on the page engine under seed; nil
// when it does not build or run.
func runPageSeed(ctx context.Context, spec *scenarios.Spec, seed uint64) *models.Result {
	s := *spec
	s.Model.Engine, s.Seed = models.EnginePage, seed
	m, in, err := s.Build()
	if err != nil {
		return nil
	}
	res, err := m.Run(ctx, in)
	if err != nil {
		return nil
	}
	return res
}

// Verdict is one pre-copy case's convergence verdict, real beside
// simulated: did the migration converge, and did the simulator say so.
// A real run that completed converged; one the lab cancelled at its
// --timeout did not converge within that time, and the simulator then
// replays the same guest for the same time (its max_time) to say whether
// it would have.
type Verdict struct {
	Case string `json:"case"`
	// RealConverged is true when QEMU completed the migration.
	RealConverged bool `json:"real_converged"`
	// RealCancelledAfterS is, for a run the lab cancelled, the time it
	// was given, seconds (--timeout); 0 for a run that completed.
	RealCancelledAfterS float64 `json:"real_cancelled_after_s,omitempty"`
	// SimConverged and SimStopReason are the simulator's verdict, and
	// SimTotalTimeS when it stopped, seconds.
	SimConverged  bool    `json:"sim_converged"`
	SimStopReason string  `json:"sim_stop_reason"`
	SimTotalTimeS float64 `json:"sim_total_time_s"`
	// Agree is true when both say the same.
	Agree bool `json:"agree"`
	// NominalMargin is the verdict margin of the case's own scenario (the
	// share of 10 page-level seeds that reach the most common verdict;
	// see nominalMargin): below [KnifeEdge], page-level seeds
	// of the same scenario split on the verdict, so a disagreement there
	// says little about the model.
	NominalMargin *float64 `json:"nominal_verdict_margin,omitempty"`
}

// NotConvergedError is a pre-copy case whose real migration the lab
// cancelled at its timeout ([lab.NotCompletedError]), with the
// simulator's verdict on the same guest over the same time.
type NotConvergedError struct {
	Scenario string
	Verdict  Verdict
	Err      *lab.NotCompletedError
}

func (e *NotConvergedError) Error() string {
	return fmt.Sprintf("scenario %s: real migration: %v: not converged by then; the simulator says %s after %.1f s", e.Scenario, e.Err, e.Verdict.SimStopReason, e.Verdict.SimTotalTimeS)
}

func (e *NotConvergedError) Unwrap() error { return e.Err }

// notConverged replays the guest of a cancelled pre-copy run (nc) in the
// simulator with max_time at the run's timeout and returns the verdicts.
func notConverged(ctx context.Context, spec *scenarios.Spec, orig *memTrace, nc *lab.NotCompletedError) (*NotConvergedError, error) {
	limited, err := spec.WithMaxTime(nc.Timeout)
	if err != nil {
		return nil, err
	}
	ach, err := buildAchieved(orig, nc.Run, spec.Workload.AtEnd, nc.Timeout+time.Minute)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the achieved trace: %w", err)
	}
	sim, err := simulateAchieved(ctx, limited, ach, nc.Run.GuestMemoryBytes)
	if err != nil {
		return nil, fmt.Errorf("simulation: %w", err)
	}
	v := Verdict{Case: spec.Name, RealCancelledAfterS: nc.Timeout.Seconds(),
		SimConverged: sim.Converged, SimStopReason: sim.StopReason.String(), SimTotalTimeS: sim.TotalTimeS,
		NominalMargin: nominalMargin(ctx, limited)}
	v.Agree = !v.SimConverged
	return &NotConvergedError{Scenario: spec.Name, Verdict: v, Err: nc}, nil
}

// verdictOf is the verdict of a pre-copy case that completed; ok is false
// for other models (a post-copy completes whatever it converges to).
func verdictOf(c *Comparison) (Verdict, bool) {
	if c.Model != "precopy" || c.Sim == nil || c.Real == nil {
		return Verdict{}, false
	}
	v := Verdict{Case: c.Scenario, RealConverged: true, SimConverged: c.Sim.Converged,
		SimStopReason: c.Sim.StopReason.String(), SimTotalTimeS: c.Sim.TotalTimeS, NominalMargin: c.NominalMargin}
	v.Agree = v.SimConverged
	return v, true
}

// fillVerdicts sets r.Verdicts: one per pre-copy comparison, in order,
// then the cancelled runs (which have no comparison), kept from before.
func (r *SuiteResult) fillVerdicts() {
	var cancelled []Verdict
	for _, v := range r.Verdicts {
		if v.RealCancelledAfterS > 0 {
			cancelled = append(cancelled, v)
		}
	}
	r.Verdicts = append(completedVerdicts(r.Comparisons), cancelled...)
}

// completedVerdicts returns the verdict of every pre-copy comparison of
// cs, in order.
func completedVerdicts(cs []*Comparison) []Verdict {
	var vs []Verdict
	for _, c := range cs {
		if v, ok := verdictOf(c); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// addNotConverged records err as a cancelled run's verdict when it is
// one, and reports whether it was.
func (r *SuiteResult) addNotConverged(err error) bool {
	var nc *NotConvergedError
	if !errors.As(err, &nc) {
		return false
	}
	r.Verdicts = append(r.Verdicts, nc.Verdict)
	return true
}

// writeVerdicts prints the verdicts: how many agree, then each that does
// not, and each cancelled run.
func (r *SuiteResult) writeVerdicts(w io.Writer) error {
	if len(r.Verdicts) == 0 {
		return nil
	}
	agree := 0
	for _, v := range r.Verdicts {
		if v.Agree {
			agree++
		}
	}
	if _, err := fmt.Fprintf(w, "verdicts: %d of %d pre-copy cases agree (converged or not)\n", agree, len(r.Verdicts)); err != nil {
		return err
	}
	for _, v := range r.Verdicts {
		real := "converged"
		if !v.RealConverged {
			real = fmt.Sprintf("not converged within %.0f s", v.RealCancelledAfterS)
		}
		knife := v.NominalMargin != nil && *v.NominalMargin < KnifeEdge
		if v.Agree && v.RealConverged && !knife {
			continue
		}
		mark := "agree"
		if !v.Agree {
			mark = "DISAGREE"
		}
		note := ""
		if knife {
			note = fmt.Sprintf(" (a knife edge: the verdict margin of the case's scenario is %.2f)", *v.NominalMargin)
		}
		if _, err := fmt.Fprintf(w, "  %-8s %s: real %s; simulated %s after %.1f s%s\n", mark, v.Case, real, v.SimStopReason, v.SimTotalTimeS, note); err != nil {
			return err
		}
	}
	return nil
}
