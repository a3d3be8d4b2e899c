package validate

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// calCase is a recorded lab run ready to be simulated again under other
// parameters: its scenario, the trace its guest achieved and the real
// metrics.
type calCase struct {
	name string
	spec *scenarios.Spec
	ach  *achievedTrace
	mem  units.Bytes
	real RealMetrics
	rec  *Comparison // the recorded comparison
}

// prepareCases rebuilds, for every comparison of res that calibration
// fits (pre-copy over the lab's loopback: not post-copy or hybrid, whose
// parameters the profile does not fit, nor a shaped path, whose link is
// the scenario's), the achieved trace from the suite's scenario
// (regenerated from its seed) and the run's epoch reports, as [Run] did.
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
		if c.Model != "precopy" || c.shaping() != ShapingQEMU {
			continue
		}
		i, ok := idx[c.Scenario]
		if !ok {
			return nil, fmt.Errorf("result case %q is not in suite %s", c.Scenario, s.Name)
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
		tt := c.Real.Metrics.TotalTimeS
		horizon := time.Duration(max(3*tt, tt+60) * float64(time.Second))
		ach, err := buildAchieved(orig, c.Real, spec.Workload.AtEnd, horizon)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Scenario, err)
		}
		out = append(out, &calCase{name: c.Scenario, spec: spec, ach: ach, mem: units.Bytes(c.Real.GuestMemoryBytes), real: c.Real.Metrics, rec: c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("results of suite %s hold no pre-copy run over loopback to calibrate on", s.Name)
	}
	return out, nil
}

// simulate runs c's scenario under profile p on its achieved trace.
func (c *calCase) simulate(ctx context.Context, p *Profile) (*models.Result, error) {
	spec := *c.spec
	params, ok := spec.Model.Params.(*models.PrecopyParams)
	if !ok {
		return nil, fmt.Errorf("case %s: only precopy can be calibrated", c.name)
	}
	pp := *params
	if p != nil {
		applyProfile(p, &pp, &spec.Network)
	}
	// A candidate under which the migration does not converge would run
	// to max_time (an hour); ten times the real run, at least a minute,
	// is already an error no fit keeps.
	if lim := time.Duration(max(10*c.real.TotalTimeS, 60) * float64(time.Second)); pp.MaxTime > lim {
		pp.MaxTime = lim
	}
	spec.Model.Params = &pp
	model, in, err := spec.Build()
	if err != nil {
		return nil, err
	}
	in.Trace = c.ach.trace.opener()
	in.AtEnd = models.AtEndLoop
	in.VM.Memory = c.mem
	in.VM.PageSize = 4 * units.KiB
	return model.Run(ctx, in)
}

// Profile is a calibration profile (see package calibration): the
// physical parameters the models leave free, fitted to lab runs by
// [Calibrate].
type Profile = calibration.Profile

// applyProfile sets the parameters p fits on a pre-copy case, whatever
// its scenario gives: the fit searches them all. It is what a scenario's
// calibration key does to the keys the scenario does not set itself.
func applyProfile(p *Profile, pp *models.PrecopyParams, n *scenarios.NetworkSpec) {
	pp.MaxBandwidth = p.ScaleMaxBandwidth(pp.MaxBandwidth)
	if p.LinkBandwidth > 0 {
		n.Bandwidth = p.LinkBandwidth
	}
	pp.SetupTime = p.SetupTime
	pp.ResumeTime = p.ResumeTime
	pp.SyncTimePerGiB = p.SyncTimePerGiB
}

// calMetrics are the metrics calibration fits, weighted by [Weights].
var calMetrics = []string{"total_time_s", "downtime_s", "setup_time_s", "transferred_bytes"}

// calParam is one free parameter, searched in [lo, hi] through a logistic
// transform of an unbounded variable (log-spaced when log is set).
type calParam struct {
	name   string
	lo, hi float64
	log    bool
	get    func(*Profile) float64
	set    func(*Profile, float64)
}

var calParams = []calParam{
	{"bandwidth_factor", 0.3, 1.2, false,
		func(p *Profile) float64 { return p.BandwidthFactor }, func(p *Profile, v float64) { p.BandwidthFactor = v }},
	{"link_bandwidth_bps", 1e8, 4e10, true,
		func(p *Profile) float64 { return float64(p.LinkBandwidth) }, func(p *Profile, v float64) { p.LinkBandwidth = units.BitRate(v) }},
	{"setup_time_s", 1e-3, 3, true,
		func(p *Profile) float64 { return p.SetupTime.Seconds() }, func(p *Profile, v float64) { p.SetupTime = seconds(v) }},
	{"resume_time_s", 1e-4, 0.5, true,
		func(p *Profile) float64 { return p.ResumeTime.Seconds() }, func(p *Profile, v float64) { p.ResumeTime = seconds(v) }},
	{"sync_time_per_gib_s", 1e-5, 0.5, true,
		func(p *Profile) float64 { return p.SyncTimePerGiB.Seconds() }, func(p *Profile, v float64) { p.SyncTimePerGiB = seconds(v) }},
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

// fromFree is the inverse of toFree: every real maps inside [lo, hi].
func (c calParam) fromFree(x float64) float64 {
	u := 1 / (1 + math.Exp(-x))
	v := c.lo + u*(c.hi-c.lo)
	if c.log {
		v = math.Exp(math.Log(c.lo) + u*(math.Log(c.hi)-math.Log(c.lo)))
	}
	return min(max(v, c.lo), c.hi) // rounding at the ends
}

// caseErrors simulates every case under p and returns the relative error
// of each calibrated metric, case by case.
func caseErrors(ctx context.Context, cases []*calCase, p *Profile) ([][]float64, error) {
	out := make([][]float64, len(cases))
	for i, c := range cases {
		r, err := c.simulate(ctx, p)
		if err != nil {
			return nil, err
		}
		all := compareMetrics(c.real, r)
		for _, name := range calMetrics {
			for _, m := range all {
				if m.Name == name {
					out[i] = append(out[i], m.RelErr)
				}
			}
		}
	}
	return out, nil
}

// LoadProfile reads a calibration profile written by "migsim calibrate"
// (see [calibration.Load]) and checks that every fitted parameter lies
// within the bounds the fit searches.
func LoadProfile(path string) (*Profile, error) {
	p, err := calibration.Load(path)
	if err != nil {
		return nil, err
	}
	for _, c := range calParams {
		if v := c.get(p); v < c.lo || v > c.hi {
			return nil, fmt.Errorf("%s: %s %v is outside [%v, %v]", path, c.name, v, c.lo, c.hi)
		}
	}
	return p, nil
}
