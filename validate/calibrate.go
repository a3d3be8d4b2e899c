package validate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// calCase is a recorded lab run ready to be simulated again under other
// parameters: its scenario, the trace its guest achieved and the real
// run.
type calCase struct {
	name string
	spec *scenarios.Spec // uncalibrated
	mig  MigrationParams
	ach  *achievedTrace
	real *RealRun
	rec  *Comparison // the recorded comparison
}

// prepareCases rebuilds, for every comparison of res that calibration
// fits (every model the lab runs, over the lab's loopback: not a shaped
// path, whose link is the scenario's, not the host's), the achieved trace
// from the suite's scenario (regenerated from its seed) and the run's
// epoch reports, as [Run] did.
func prepareCases(ctx context.Context, s *Suite, res *SuiteResult) ([]*calCase, error) {
	idx := map[string]int{}
	for i, c := range s.Cases {
		idx[c.Name] = i
	}
	tmp, err := os.MkdirTemp("", "migsim-calibrate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []*calCase
	for _, c := range res.Comparisons {
		if c.shaping() != ShapingQEMU {
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
			err = WriteTraceFile(ctx, path, src)
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
		out = append(out, &calCase{name: c.Scenario, spec: spec, mig: mig, ach: ach, real: c.Real, rec: c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("results of suite %s hold no run over loopback to calibrate on", s.Name)
	}
	return out, nil
}

// simulate runs c's scenario under profile p (nil: uncalibrated) on its
// achieved trace.
func (c *calCase) simulate(ctx context.Context, p *Profile) (*models.Result, error) {
	if p == nil {
		p = &Profile{} // changes nothing; Calibrated copies the parameters
	}
	spec := c.spec.Calibrated(p)
	// A candidate under which the migration does not converge would run
	// to max_time (an hour); ten times the real run, at least a minute,
	// is already an error no fit keeps.
	lim := time.Duration(max(10*c.real.Metrics.TotalTimeS, 60) * float64(time.Second))
	if parts, _ := models.PartsOf(spec.Model.Params); parts.Stream != nil {
		parts.Stream.MaxTime = min(parts.Stream.MaxTime, lim)
	}
	if c.ach == nil { // a field record: its scenario's own workload
		return simulateField(ctx, spec)
	}
	return simulateAchieved(ctx, spec, c.ach, c.real.GuestMemoryBytes)
}

// Profile is a calibration profile (see package calibration): the
// physical parameters the models leave free, fitted to lab runs by
// [Calibrate].
type Profile = calibration.Profile

// calMetrics are the metrics calibration fits, weighted by [Weights]. A
// case contributes the ones its model has (the post-copy metrics only
// post-copy and hybrid runs) and that calSkip does not leave out.
var calMetrics = []string{"total_time_s", "downtime_s", "setup_time_s", "transferred_bytes", "pages.normal", "postcopy_requests", "stall_time_s"}

// calSkip leaves metrics out of the fit for a model that does not model
// what dominates them in the lab, so that no parameter is bent to make up
// for it: hybrid's downtime is mostly QEMU's destination applying the
// discard bitmap of the pages still dirty at the switch (60-560 ms under
// TCG), which the model does not cost; and after its pre-copy round the
// model's guest faults 90-170 % more often than QEMU's (which pages are
// missing, not what a fault costs), where fitting fault_service_time to
// hybrid's request count would wreck pure post-copy's (see
// suites/ci.yaml and ACCURACY.md).
var calSkip = map[string][]string{"hybrid": {"downtime_s", "postcopy_requests"}}

// calParam is one free parameter, searched in [lo, hi] through a logistic
// transform of an unbounded variable (log-spaced when log is set).
type calParam struct {
	name   string
	lo, hi float64
	log    bool
	get    func(*Profile) float64
	set    func(*Profile, float64)
	// quantum is the smallest change the parameter can make (1 for a
	// byte count), 0 for a continuous one.
	quantum float64
}

var calParams = []calParam{
	{"bandwidth_factor", 0.3, 1.2, false,
		func(p *Profile) float64 { return p.BandwidthFactor }, func(p *Profile, v float64) { p.BandwidthFactor = v }, 0},
	{"multifd_bandwidth_factor", 0.3, 1.5, false,
		func(p *Profile) float64 { return p.MultifdBandwidthFactor }, func(p *Profile, v float64) { p.MultifdBandwidthFactor = v }, 0},
	{"link_bandwidth_bps", 1e8, 4e10, true,
		func(p *Profile) float64 { return float64(p.LinkBandwidth) }, func(p *Profile, v float64) { p.LinkBandwidth = units.BitRate(v) }, 0},
	{"setup_time_s", 1e-3, 3, true,
		func(p *Profile) float64 { return p.SetupTime.Seconds() }, func(p *Profile, v float64) { p.SetupTime = seconds(v) }, 0},
	{"resume_time_s", 1e-4, 0.5, true,
		func(p *Profile) float64 { return p.ResumeTime.Seconds() }, func(p *Profile, v float64) { p.ResumeTime = seconds(v) }, 0},
	{"sync_time_per_gib_s", 1e-5, 0.5, true,
		func(p *Profile) float64 { return p.SyncTimePerGiB.Seconds() }, func(p *Profile, v float64) { p.SyncTimePerGiB = seconds(v) }, 0},
	{"page_header_bytes", 0, 512, false,
		func(p *Profile) float64 { return float64(p.PageHeader) }, func(p *Profile, v float64) { p.PageHeader = units.Bytes(math.Round(v)) }, 1},
	{"device_state_bytes", 4096, 64 << 20, true,
		func(p *Profile) float64 { return float64(p.DeviceState) }, func(p *Profile, v float64) { p.DeviceState = units.Bytes(math.Round(v)) }, 1},
	{"fault_service_time_s", 1e-6, 0.1, true,
		func(p *Profile) float64 { return p.FaultServiceTime.Seconds() }, func(p *Profile, v float64) { p.FaultServiceTime = seconds(v) }, 0},
	{"cost_factor", 0.05, 50, true,
		func(p *Profile) float64 { return p.CostFactor }, func(p *Profile, v float64) { p.CostFactor = v }, 0},
}

func seconds(v float64) time.Duration { return time.Duration(math.Round(v * 1e9)) }

// toFree maps a parameter value into the unbounded search variable.
func (c calParam) toFree(v float64) float64 {
	lo, hi := c.lo, c.hi
	if c.log {
		lo, hi, v = math.Log(lo), math.Log(hi), math.Log(v)
	}
	u := (v - lo) / (hi - lo)
	u = min(max(u, 1e-6), 1-1e-6)
	return math.Log(u / (1 - u))
}

// fdStep is the finite-difference step of the free variable at x for
// levenbergMarquardt: one that moves the parameter by 2 % of its value,
// at least by its quantum, within [1e-4, 1].
func (c calParam) fdStep(x float64) float64 {
	d := c.slope(x)
	want := max(0.02*math.Abs(c.fromFree(x)), c.quantum, 1e-9*(c.hi-c.lo))
	if d <= 0 || math.IsNaN(d) {
		return 1
	}
	return min(max(want/d, 1e-4), 1)
}

// slope is dv/dx, the parameter's rate of change with the free variable
// at x (central difference).
func (c calParam) slope(x float64) float64 {
	const e = 1e-6
	return (c.fromFree(x+e) - c.fromFree(x-e)) / (2 * e)
}

// fromFree is the inverse of toFree: every real maps inside [lo, hi].
func (c calParam) fromFree(x float64) float64 {
	u := 1 / (1 + math.Exp(-x))
	v := c.lo + u*(c.hi-c.lo)
	if c.log {
		v = math.Exp(math.Log(c.lo) + u*(math.Log(c.hi)-math.Log(c.lo)))
	}
	return min(max(v, c.lo), c.hi) // rounding at the ends
}

// caseErrors simulates every case under p (nil: uncalibrated) and
// returns the relative error of each calibrated metric, case by case in
// the order of calMetrics; NaN where the case's model lacks the metric,
// calSkip leaves it out, or the real value is 0.
func caseErrors(ctx context.Context, cases []*calCase, p *Profile) ([][]float64, error) {
	out := make([][]float64, len(cases))
	for i, c := range cases {
		r, err := c.simulate(ctx, p)
		if err != nil {
			return nil, err
		}
		out[i] = metricRow(c, c.compare(r))
	}
	return out, nil
}

// metricRow picks the calibrated metrics of case c out of all, in the
// order of calMetrics (see caseErrors).
func metricRow(c *calCase, all []MetricError) []float64 {
	row := make([]float64, len(calMetrics))
	for j, name := range calMetrics {
		row[j] = math.NaN()
		if slices.Contains(calSkip[c.rec.Model], name) {
			continue
		}
		for _, m := range all {
			if m.Name == name && !m.Undefined {
				row[j] = m.RelErr
			}
		}
	}
	return row
}

// LoadProfile reads a calibration profile written by "migsim calibrate"
// (see [calibration.Load]) and checks that every parameter it sets lies
// within the bounds the fit searches.
func LoadProfile(path string) (*Profile, error) {
	p, err := calibration.Load(path)
	if err != nil {
		return nil, err
	}
	for _, c := range calParams {
		if v := c.get(p); v != 0 && (v < c.lo || v > c.hi) {
			return nil, fmt.Errorf("%s: %s %v is outside [%v, %v]", path, c.name, v, c.lo, c.hi)
		}
	}
	return p, nil
}
