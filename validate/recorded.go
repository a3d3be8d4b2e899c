package validate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Recording is a recorded run of a suite, ready to be simulated again
// under other parameters (calibration, package calibration/fit): its
// uncalibrated scenario, the trace its guest achieved (a lab run) or the
// record's own workload (a field record, importrec.go), and the real run.
type Recording struct {
	// Name is the case's name.
	Name string
	// Spec is the case's scenario, uncalibrated; for a lab run over
	// loopback, over the link rate the lab measured for it.
	Spec *scenarios.Spec
	// Real is the real run; Rec the comparison recorded with it.
	Real *lab.RealRun
	Rec  *Comparison

	mig lab.MigrationParams
	ach *achievedTrace // nil for a field record
}

// Recordings returns a [Recording] of every comparison of res (results of
// suite s with their real runs) that calibration fits: every model the
// lab runs, over the lab's loopback (not a shaped path, whose link is the
// scenario's, not the host's), and every field record. For a lab run it
// rebuilds the achieved trace from the suite's scenario (regenerated from
// its seed) and the run's epoch reports, as [Run] did.
func Recordings(ctx context.Context, s *Suite, res *SuiteResult) ([]*Recording, error) {
	idx := map[string]int{}
	for i, c := range s.Cases {
		idx[c.Name] = i
	}
	tmp, err := os.MkdirTemp("", "migsim-calibrate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []*Recording
	for _, c := range res.Comparisons {
		if c.shaping() != lab.ShapingQEMU {
			continue
		}
		i, ok := idx[c.Scenario]
		if !ok {
			return nil, fmt.Errorf("result case %q is not in suite %s", c.Scenario, s.Name)
		}
		if c.Field != nil { // a field record: no achieved trace (importrec.go)
			fc, err := s.fieldCase(i, c)
			if err != nil {
				return nil, err
			}
			out = append(out, fc)
			continue
		}
		if c.Real == nil || len(c.Real.Epochs) == 0 {
			return nil, fmt.Errorf("case %s: the results hold no real run (write them with --json)", c.Scenario)
		}
		// The fit starts from the uncalibrated scenario, whatever profile
		// the suite or its base scenario names.
		spec, err := s.scenario(i, "calibration=")
		if err != nil {
			return nil, err
		}
		if c.LinkBps > 0 { // the loopback rate the lab measured for it
			spec = spec.WithLinkRate(units.BitRate(c.LinkBps))
		}
		mig, err := migrationParams(spec)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Scenario, err)
		}
		path := spec.TracePath()
		if path == "" {
			path = filepath.Join(tmp, c.Scenario+".mgt")
			src, err := spec.Opener()()
			if err != nil {
				return nil, err
			}
			err = lab.WriteTraceFile(ctx, path, src)
			_ = traces.Close(src)
			if err != nil {
				return nil, err
			}
		}
		orig, err := loadTrace(path)
		if err != nil {
			return nil, err
		}
		ach, err := buildAchieved(orig, c.Real, spec.Workload.AtEnd, achievedHorizon(c.Real))
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Scenario, err)
		}
		out = append(out, &Recording{Name: c.Scenario, Spec: spec, mig: mig, ach: ach, Real: c.Real, Rec: c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("results of suite %s hold no run over loopback to calibrate on", s.Name)
	}
	return out, nil
}

// Simulate simulates c's scenario under calibration profile p (nil:
// uncalibrated) on what c's guest really did: the achieved trace over the
// whole guest RAM for a lab run, the record's own workload for a field
// record. A candidate under which the migration does not converge would
// run to max_time (an hour); its max_time is cut to ten times the real
// run, at least a minute, already an error no fit or comparison keeps.
func (c *Recording) Simulate(ctx context.Context, p *calibration.Profile) (*models.Result, error) {
	if p == nil {
		p = &calibration.Profile{} // changes nothing; Calibrated copies the parameters
	}
	spec := c.Spec.Calibrated(p)
	lim := time.Duration(max(10*c.Real.Metrics.TotalTimeS, 60) * float64(time.Second))
	if parts, _ := models.PartsOf(spec.Model.Params); parts.Stream != nil {
		parts.Stream.MaxTime = min(parts.Stream.MaxTime, lim)
	}
	if c.ach == nil { // a field record: its scenario's own workload
		return simulateField(ctx, spec)
	}
	return simulateAchieved(ctx, spec, c.ach, c.Real.GuestMemoryBytes)
}

// Resimulate simulates every recorded run of res that calibration fits
// (see [Recordings]) again, on the trace its guest achieved, under
// profile p (nil: the suite's uncalibrated scenarios), and returns the
// comparisons with the real runs as a suite result, ready for
// [SuiteResult.Gate]: the offline check of how a profile would fare on
// recorded runs ("migsim calibrate --eval").
func Resimulate(ctx context.Context, s *Suite, res *SuiteResult, p *calibration.Profile) (*SuiteResult, error) {
	cases, err := Recordings(ctx, s, res)
	if err != nil {
		return nil, err
	}
	out := &SuiteResult{Suite: res.Suite}
	for _, c := range cases {
		r, err := c.Simulate(ctx, p)
		if err != nil {
			return nil, err
		}
		r.Calibration = ""
		if p != nil {
			r.Calibration = p.Name
		}
		rec := *c.Rec
		rec.Metrics, rec.Sim = c.Compare(r), r
		if rec.NominalMargin == nil && r.Model == "precopy" && c.ach != nil {
			rec.NominalMargin = nominalMargin(ctx, c.Spec) // recorded before it was kept
		}
		out.Comparisons = append(out.Comparisons, &rec)
	}
	out.Summary = summarise(out.Comparisons)
	// The verdicts of the runs simulated again, and the cancelled runs'
	// as recorded (their replay is not repeated).
	out.Verdicts = res.Verdicts
	out.fillVerdicts()
	return out, nil
}

// ResimulatedThresholds returns the thresholds of ths that apply to the
// runs [Resimulate] simulated again in res (those over the lab's
// loopback): the ones not restricted to a shaped path, for a model res
// holds runs of. A recording made before a model joined the suite is not
// failed for lacking it; a live suite run (validate suite --gate) still
// is.
func ResimulatedThresholds(ths []Threshold, res *SuiteResult) []Threshold {
	models := map[string]bool{}
	for _, c := range res.Comparisons {
		models[c.Model] = true
	}
	var out []Threshold
	for _, t := range ths {
		if (t.Shaping == "" || t.Shaping == lab.ShapingQEMU) && (t.Model == "" || models[t.Model]) {
			out = append(out, t)
		}
	}
	return out
}
