package validate

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/scenarios"
)

// Suite is a matrix of lab cases: one base scenario and, per case, the
// scenario keys it changes, as `--set` would.
//
//	name: ci
//	base: lab-base.yaml          # a scenario file, relative to the suite
//	cases:
//	  - name: uniform-2k-200mbit
//	    set: [workload.generator.dirty_rate=2000, model.max_bandwidth=200Mbit]
type Suite struct {
	// Name names the suite in reports.
	Name string `yaml:"name"`
	// Base is the scenario file every case starts from, relative to the
	// suite file.
	Base string `yaml:"base"`
	// Cases are run in order.
	Cases []SuiteCase `yaml:"cases"`
	// Fleets are fleet cases, run after the cases: several migrations at
	// once over one shaped link beside the fleet simulator ([RunFleet]).
	Fleets []SuiteFleet `yaml:"fleets"`
	// Gate holds the accuracy thresholds "migsim validate suite --gate"
	// checks (see [SuiteResult.Gate]); none by default.
	Gate []Threshold `yaml:"gate"`
	// Shaping is how every case's path is shaped: "qemu" (the default:
	// QEMU's max-bandwidth over loopback) or "netns" (namespaces, tbf and
	// the RTT relay, see lab/netns.go). A case's own shaping wins over it,
	// and --shaping on the command line over both.
	Shaping lab.Shaping `yaml:"shaping"`
	// Calibration, when set, is the scenario key calibration of every
	// case (a built-in profile's name, or a profile file relative to the
	// suite file), before the case's own set: the simulator side then runs
	// calibrated. "" leaves the base scenario's.
	Calibration string `yaml:"calibration"`
	// CalibrationWeights weighs the metrics when "migsim calibrate" fits a
	// profile to this suite's results (see [calibration.Weights]); --weight flags
	// override them.
	CalibrationWeights calibration.Weights `yaml:"calibration_weights"`

	file string
}

// SuiteCase is one case of a [Suite].
type SuiteCase struct {
	// Name names the case; it becomes the scenario's name.
	Name string `yaml:"name"`
	// Base, when set, replaces the suite's base scenario file for this
	// case (relative to the suite file), e.g. a post-copy base whose model
	// section has no pre-copy keys.
	Base string `yaml:"base"`
	// Set holds key=value scenario overrides, applied to the base in order.
	Set []string `yaml:"set"`
	// Shaping, when set, replaces the suite's shaping for this case.
	Shaping lab.Shaping `yaml:"shaping"`
}

// SuiteFleet is a fleet case of a [Suite]: a fleet file run by
// [RunFleet], always over its shared netns-shaped link (the suite's
// shaping is for the cases).
type SuiteFleet struct {
	// Name names the case; it becomes the fleet's name.
	Name string `yaml:"name"`
	// File is the fleet file, relative to the suite file.
	File string `yaml:"file"`
	// Set holds key=value fleet overrides (as migsim evacuate --set
	// takes them), applied in order.
	Set []string `yaml:"set"`
}

// LoadSuite reads a suite file strictly: an unknown key is an error naming
// the file and line.
func LoadSuite(path string) (*Suite, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Base == "" {
		return nil, fmt.Errorf("%s: base: missing (a scenario file)", path)
	}
	if len(s.Cases) == 0 && len(s.Fleets) == 0 {
		return nil, fmt.Errorf("%s: cases: the suite has no case", path)
	}
	seen := map[string]bool{}
	for i, c := range s.Cases {
		if c.Name == "" || seen[c.Name] {
			return nil, fmt.Errorf("%s: cases[%d].name: %q is empty or repeated", path, i, c.Name)
		}
		seen[c.Name] = true
		if _, err := lab.ParseShaping(string(c.Shaping)); err != nil {
			return nil, fmt.Errorf("%s: cases[%d].%w", path, i, err)
		}
	}
	for i, f := range s.Fleets {
		if f.Name == "" || seen[f.Name] {
			return nil, fmt.Errorf("%s: fleets[%d].name: %q is empty or repeated", path, i, f.Name)
		}
		seen[f.Name] = true
		if f.File == "" {
			return nil, fmt.Errorf("%s: fleets[%d].file: missing (a fleet file)", path, i)
		}
	}
	if _, err := lab.ParseShaping(string(s.Shaping)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkThresholds(s.Gate); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.CalibrationWeights != nil {
		if err := s.CalibrationWeights.Check(); err != nil {
			return nil, fmt.Errorf("%s: calibration_weights: %w", path, err)
		}
	}
	s.file = path
	return &s, nil
}

// Scenario loads case i's scenario: the base with the case's overrides,
// named after the case.
func (s *Suite) Scenario(i int) (*scenarios.Spec, error) {
	return s.scenario(i)
}

// Fleet loads fleet case i: its file with the case's overrides, named
// after the case.
func (s *Suite) Fleet(i int) (*fleet.Spec, error) {
	c := s.Fleets[i]
	file := c.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(s.file), file)
	}
	return fleet.Load(file, append(append([]string(nil), c.Set...), "name="+c.Name))
}

// scenario is [Suite.Scenario] with further overrides after the case's.
func (s *Suite) scenario(i int, extra ...string) (*scenarios.Spec, error) {
	c := s.Cases[i]
	base := cmp.Or(c.Base, s.Base)
	if !filepath.IsAbs(base) {
		base = filepath.Join(filepath.Dir(s.file), base)
	}
	var sets []string
	if cal := s.Calibration; cal != "" {
		if calibration.IsFile(cal) && !filepath.IsAbs(cal) {
			cal = filepath.Join(filepath.Dir(s.file), cal)
		}
		sets = append(sets, "calibration="+cal)
	}
	sets = append(append(append(sets, c.Set...), "name="+c.Name), extra...)
	return scenarios.Load(base, sets)
}

// SuiteResult is a suite's comparisons and the error summary per metric.
type SuiteResult struct {
	Suite string `json:"suite"`
	// LinkProbe is the measurement of the loopback path the suite's
	// unshaped local cases were simulated over; nil when none ran.
	LinkProbe   *lab.LinkProbe `json:"link_probe,omitempty"`
	Comparisons []*Comparison  `json:"comparisons"`
	// Failed lists the cases whose run failed, with the reason.
	Failed []CaseFailure `json:"failed"`
	// Retried holds the first attempts of the cases [SuiteResult.Retry]
	// ran again (their second runs are in Comparisons).
	Retried []*Comparison `json:"retried,omitempty"`
	// Summary has, per metric, the median and worst absolute relative
	// error over the cases that ran.
	Summary []MetricSummary `json:"summary"`
	// Fleets holds the fleet cases that ran, each with its own summary.
	Fleets []*FleetComparison `json:"fleets,omitempty"`
	// Verdicts has each pre-copy case's convergence verdict, real and
	// simulated: the completed cases of Comparisons, then those the lab
	// cancelled at --timeout (not converged by then; they are not in
	// Failed).
	Verdicts []Verdict `json:"verdicts,omitempty"`
}

// CaseFailure is a case that did not produce a comparison.
type CaseFailure struct {
	Case  string `json:"case"`
	Error string `json:"error"`
}

// MetricSummary summarises one metric's error over a suite.
type MetricSummary struct {
	Name string `json:"name"`
	// MedianAbsErr and WorstAbsErr are over |RelErr|; Worst names the case.
	MedianAbsErr float64 `json:"median_abs_rel_err"`
	WorstAbsErr  float64 `json:"worst_abs_rel_err"`
	Worst        string  `json:"worst_case"`
}

// RunSuite runs every case with [Run] and summarises. A case that fails
// is recorded in Failed and the suite goes on; cancellation stops it.
func RunSuite(ctx context.Context, s *Suite, opts Options) (*SuiteResult, error) {
	res := &SuiteResult{Suite: s.Name}
	if opts.Image.Guest == "" {
		// One replayer for every case, built before the first.
		tmp, err := os.MkdirTemp("", "migsim-suite-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		opts.Image.Guest = filepath.Join(tmp, "migsim-guest")
		if err := lab.BuildGuest(ctx, opts.Image.Guest); err != nil {
			return nil, err
		}
	}
	for i, c := range s.Cases {
		spec, err := s.Scenario(i)
		if err != nil {
			return nil, err
		}
		co := s.caseOptions(i, opts)
		if co.LinkBps == 0 && co.Hosts == nil && co.Local.Shaping != lab.ShapingNetns {
			// The first loopback case: measure the path once for all.
			if res.LinkProbe, err = ProbeLink(ctx, spec, co); err != nil {
				return nil, err
			}
			opts.LinkBps, co.LinkBps = res.LinkProbe.Bps, res.LinkProbe.Bps
		}
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "case %d/%d: %s\n", i+1, len(s.Cases), c.Name)
		}
		cmp, err := Run(ctx, spec, co)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			if !res.addNotConverged(err) {
				res.Failed = append(res.Failed, CaseFailure{Case: c.Name, Error: err.Error()})
			}
			continue
		}
		res.Comparisons = append(res.Comparisons, cmp)
	}
	res.Summary = summarise(res.Comparisons)
	res.fillVerdicts()
	for i, fc := range s.Fleets {
		f, err := s.Fleet(i)
		if err != nil {
			return nil, err
		}
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "fleet %d/%d: %s\n", i+1, len(s.Fleets), fc.Name)
		}
		fo := opts
		fo.Local.Shaping = "" // the fleet lab shapes its own link
		c, err := RunFleet(ctx, f, fo)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			res.Failed = append(res.Failed, CaseFailure{Case: fc.Name, Error: err.Error()})
			continue
		}
		res.Fleets = append(res.Fleets, c)
	}
	return res, nil
}

// Retry runs once more every case that crossed a threshold of vs (the
// worst case of a "worst" violation; for a "median" one, every case of
// that model over the median bound) and puts the new run in its place:
// one slow moment of a shared machine (a TCG stall, a noisy neighbour)
// then fails the gate only if it comes back. The first attempts are kept
// in r.Retried. It returns the names of the cases run again.
func (r *SuiteResult) Retry(ctx context.Context, s *Suite, vs []Violation, opts Options) ([]string, error) {
	again := map[string]bool{}
	for _, v := range vs {
		switch v.Stat {
		case "worst":
			again[v.Case] = true
		case "median":
			for _, c := range r.Comparisons {
				if v.Threshold.Model != "" && c.Model != v.Threshold.Model {
					continue
				}
				for _, m := range c.Metrics {
					if m.Name == v.Threshold.Metric && math.Abs(m.RelErr) > v.Threshold.Median {
						again[c.Scenario] = true
					}
				}
			}
		}
	}
	if r.LinkProbe != nil && opts.LinkBps == 0 {
		opts.LinkBps = r.LinkProbe.Bps
	}
	var names []string
	for i, c := range s.Cases {
		if !again[c.Name] {
			continue
		}
		spec, err := s.Scenario(i)
		if err != nil {
			return names, err
		}
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "retrying case %s once: it crossed a gate threshold\n", c.Name)
		}
		cmp, err := Run(ctx, spec, s.caseOptions(i, opts))
		if ctx.Err() != nil {
			return names, ctx.Err()
		}
		names = append(names, c.Name)
		if err != nil {
			r.Failed = append(r.Failed, CaseFailure{Case: c.Name, Error: "retry: " + err.Error()})
			continue
		}
		for j, old := range r.Comparisons {
			if old.Scenario == c.Name {
				r.Retried = append(r.Retried, old)
				r.Comparisons[j] = cmp
			}
		}
	}
	r.Summary = summarise(r.Comparisons)
	r.fillVerdicts()
	return names, nil
}

// summarise summarises each metric over the comparisons that have it, in
// the order metrics first appear (post-copy metrics only in post-copy
// cases).
func summarise(cs []*Comparison) []MetricSummary {
	if len(cs) == 0 {
		return nil
	}
	var out []MetricSummary
	errs := map[string][]float64{}
	idx := map[string]int{}
	for _, c := range cs {
		for _, m := range c.Metrics {
			i, ok := idx[m.Name]
			if !ok {
				i = len(out)
				idx[m.Name] = i
				out = append(out, MetricSummary{Name: m.Name})
			}
			e := math.Abs(m.RelErr)
			errs[m.Name] = append(errs[m.Name], e)
			if e >= out[i].WorstAbsErr {
				out[i].WorstAbsErr, out[i].Worst = e, c.Scenario
			}
		}
	}
	for i := range out {
		out[i].MedianAbsErr = median(errs[out[i].Name])
	}
	return out
}

// WriteTable prints every case's real and simulated values side by side,
// then the summary and the failures.
func (r *SuiteResult) WriteTable(w io.Writer) error {
	if len(r.Comparisons) == 0 && len(r.Fleets) > 0 {
		return r.writeFleets(w, false)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tmetric\treal\tsim\terror\t\n")
	for _, c := range r.Comparisons {
		for _, m := range c.Metrics {
			e := fmt.Sprintf("%+.1f%%", 100*m.RelErr)
			if m.Undefined {
				e = "n/a"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", c.Scenario, m.Name, formatValue(m.Name, m.Real), formatValue(m.Name, m.Sim), e)
		}
		fmt.Fprintf(tw, "%s\tdirty rate (pages/s)\t%.0f\t%.0f nominal\t\t\n", c.Scenario, c.AchievedDirtyRate, c.NominalDirtyRate)
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\n")
	fmt.Fprintf(tw, "summary\tmetric\tmedian |err|\tworst |err|\tworst case\t\n")
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "\t%s\t%.1f%%\t%.1f%%\t%s\t\n", s.Name, 100*s.MedianAbsErr, 100*s.WorstAbsErr, s.Worst)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.writeVerdicts(w); err != nil {
		return err
	}
	return r.writeFleets(w, true)
}

// writeFleets prints each fleet case's table (after a blank line when
// gap), then the failures.
func (r *SuiteResult) writeFleets(w io.Writer, gap bool) error {
	for _, c := range r.Fleets {
		if gap {
			fmt.Fprintln(w)
		}
		gap = true
		if err := c.WriteTable(w); err != nil {
			return err
		}
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "FAILED %s: %s\n", f.Case, f.Error)
	}
	return nil
}
