package validate

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
)

// Threshold bounds the simulator's error on one metric of a suite: the
// median and the worst |relative error| over the suite's cases of one
// model. A zero bound is not checked. In a suite file:
//
//	gate:
//	  - {metric: total_time_s, model: precopy, median: 0.15, worst: 0.40}
type Threshold struct {
	// Metric is a [MetricError] name, e.g. "downtime_s".
	Metric string `yaml:"metric" json:"metric"`
	// Model restricts the threshold to comparisons of this model; "" means
	// every model.
	Model string `yaml:"model" json:"model,omitempty"`
	// Shaping restricts the threshold to runs of this shaping ("qemu" or
	// "netns", see [lab.Shaping]); "" means every run.
	Shaping lab.Shaping `yaml:"shaping" json:"shaping,omitempty"`
	// Calibration makes the threshold one for runs simulated under this
	// calibration profile (e.g. "local-tcg"); "" is for uncalibrated runs.
	// See [ThresholdsFor].
	Calibration string `yaml:"calibration" json:"calibration,omitempty"`
	// Median and Worst are the largest allowed median and worst absolute
	// relative error, as fractions (0.15 is 15 %).
	Median float64 `yaml:"median" json:"median"`
	Worst  float64 `yaml:"worst" json:"worst"`
	// Abs is an absolute tolerance in the metric's own unit (seconds for
	// downtime_s): a case whose |simulated − real| is at most Abs counts as
	// error 0, so a case passes when it is within max(bound × real, Abs).
	// For small, noisy figures (a 0.13 s setup, a 15 ms downtime) where a
	// few milliseconds of scheduling are a large fraction. 0 is none.
	Abs float64 `yaml:"abs" json:"abs,omitempty"`
}

// Violation is a threshold crossed.
type Violation struct {
	Threshold Threshold `json:"threshold"`
	// Stat is "median" or "worst"; Got the measured error; Case the worst
	// case (for "worst").
	Stat string  `json:"stat"`
	Got  float64 `json:"got"`
	Case string  `json:"case,omitempty"`
}

func (v Violation) String() string {
	limit := v.Threshold.Median
	if v.Stat == "worst" {
		limit = v.Threshold.Worst
	}
	if v.Stat == StatMissing {
		return fmt.Sprintf("%s (%s): missing: no case in the results measured it", v.Threshold.Metric, v.Threshold.Scope())
	}
	s := fmt.Sprintf("%s (%s): %s |error| %.1f%% > %.1f%%", v.Threshold.Metric, v.Threshold.Scope(), v.Stat, 100*v.Got, 100*limit)
	if v.Case != "" {
		s += " in case " + v.Case
	}
	return s
}

// Scope says which runs t covers: "precopy", "all models, shaping netns",
// "precopy, calibration local-tcg".
func (t Threshold) Scope() string {
	model := t.Model
	if model == "" {
		model = "all models"
	}
	if t.Shaping != "" {
		model += ", shaping " + string(t.Shaping)
	}
	if t.Calibration != "" {
		model += ", calibration " + t.Calibration
	}
	return model
}

// StatMissing is the Stat of a [Violation] for a threshold no comparison
// in the results matched: a gate does not pass on nothing.
const StatMissing = "missing"

// checkThresholds validates a suite's gate: known metrics, no negative
// bound, at least one bound per entry.
func checkThresholds(ths []Threshold) error {
	known := map[string]bool{}
	var none models.Result
	for _, m := range slices.Concat(compareMetrics(lab.RealMetrics{}, &none), comparePostcopy(lab.RealMetrics{}, &none), compareXbzrle(lab.RealMetrics{}, &none)) {
		known[m.Name] = true
	}
	known[VerdictMetric], known[DirtyRateMetric] = true, true
	for i, t := range ths {
		switch {
		case !known[t.Metric]:
			return fmt.Errorf("gate[%d].metric: unknown metric %q", i, t.Metric)
		case t.Median < 0 || t.Worst < 0 || math.IsNaN(t.Median) || math.IsNaN(t.Worst):
			return fmt.Errorf("gate[%d]: median and worst must be non-negative fractions", i)
		case t.Abs < 0 || math.IsNaN(t.Abs) || math.IsInf(t.Abs, 0):
			return fmt.Errorf("gate[%d].abs: %v: want a non-negative tolerance in the metric's unit", i, t.Abs)
		case t.Median == 0 && t.Worst == 0:
			return fmt.Errorf("gate[%d]: %s has neither median nor worst", i, t.Metric)
		}
		if t.Shaping != "" {
			if _, err := lab.ParseShaping(string(t.Shaping)); err != nil {
				return fmt.Errorf("gate[%d].%w", i, err)
			}
		}
	}
	return nil
}

// ThresholdsFor returns the thresholds of ths for runs simulated under the
// calibration profile named calibration ("" for none): those that name it
// or, when none does, the uncalibrated ones, so that a profile without
// thresholds of its own is held to the uncalibrated simulator's.
func ThresholdsFor(ths []Threshold, calibration string) []Threshold {
	pick := func(name string) []Threshold {
		var out []Threshold
		for _, t := range ths {
			if t.Calibration == name {
				out = append(out, t)
			}
		}
		return out
	}
	if out := pick(calibration); len(out) > 0 || calibration == "" {
		return out
	}
	return pick("")
}

// Calibration returns the calibration profile the simulator used for r's
// comparisons ("" for none).
func (r *SuiteResult) Calibration() string {
	for _, c := range r.Comparisons {
		if c.Sim != nil && c.Sim.Calibration != "" {
			return c.Sim.Calibration
		}
	}
	return ""
}

// Gate checks r against ths and returns the thresholds crossed, in the
// order of ths, median before worst. A threshold with no matching
// comparison is crossed (Stat [StatMissing], Got 0): a gate must not pass
// on nothing.
func (r *SuiteResult) Gate(ths []Threshold) []Violation {
	var out []Violation
	for _, c := range r.Check(ths) {
		out = append(out, c.Violations...)
	}
	return out
}

// Check statuses of a [ThresholdCheck].
const (
	CheckPass    = "pass"
	CheckFail    = "fail"
	CheckMissing = "missing"
)

// ThresholdCheck is the verdict on one threshold of a gate.
type ThresholdCheck struct {
	Threshold Threshold `json:"threshold"`
	// Status is "pass", "fail" (a bound crossed) or "missing" (no
	// comparison in the results measured the threshold's metric).
	Status string `json:"status"`
	// Cases is the number of comparisons the threshold covered.
	Cases int `json:"cases"`
	// MedianAbsErr and WorstAbsErr are the median and worst |relative
	// error| over those comparisons, fractions; null when missing.
	MedianAbsErr *float64 `json:"median_abs_rel_err"`
	WorstAbsErr  *float64 `json:"worst_abs_rel_err"`
	// WorstCase names the case of the worst error.
	WorstCase string `json:"worst_case,omitempty"`
	// Violations are the bounds crossed, median before worst, or the
	// missing verdict.
	Violations []Violation `json:"violations,omitempty"`
}

// Name names the check for reports: the metric and the runs it covers,
// e.g. "downtime_s (precopy, calibration local-tcg)".
func (c ThresholdCheck) Name() string {
	return fmt.Sprintf("%s (%s)", c.Threshold.Metric, c.Threshold.Scope())
}

// VerdictMetric is the gate's metric of convergence verdicts: a pre-copy
// case's error is 0 when the simulator's verdict agrees with the real
// run's ([Verdict]) and 1 when it does not, so a threshold with worst
// below 1 fails on any disagreement ({metric: verdict, model: precopy,
// worst: 0.5}). Only the model filter applies: verdicts are pre-copy's.
// Results that kept only their metrics (written before the lab kept each
// run's simulated result) have none: the check is "missing" without
// failing.
const VerdictMetric = "verdict"

// keptSim reports whether any comparison of r kept its simulated result.
func (r *SuiteResult) keptSim() bool {
	for _, c := range r.Comparisons {
		if c.Sim != nil {
			return true
		}
	}
	return len(r.Verdicts) > 0
}

// verdictErrors returns the verdicts' errors for threshold t, and each
// one's case.
func (r *SuiteResult) verdictErrors(t Threshold) (errs []float64, cases []string) {
	if t.Model != "" && t.Model != "precopy" {
		return nil, nil
	}
	vs := r.Verdicts
	if len(vs) == 0 { // results written before verdicts were recorded
		vs = completedVerdicts(r.Comparisons)
	}
	for _, v := range vs {
		e := 0.0
		if !v.Agree {
			e = 1
		}
		errs = append(errs, e)
		cases = append(cases, v.Case)
	}
	return errs, cases
}

// Check checks r against each threshold of ths, in order.
func (r *SuiteResult) Check(ths []Threshold) []ThresholdCheck {
	out := make([]ThresholdCheck, 0, len(ths))
	for _, t := range ths {
		var errs []float64
		worst, worstCase := -1.0, ""
		if t.Metric == VerdictMetric {
			var cases []string
			errs, cases = r.verdictErrors(t)
			for i, e := range errs {
				if e > worst {
					worst, worstCase = e, cases[i]
				}
			}
		}
		for _, c := range r.Comparisons {
			if t.Model != "" && c.Model != t.Model {
				continue
			}
			if t.Shaping != "" && c.shaping() != t.Shaping {
				continue
			}
			if t.Calibration != "" && (c.Sim == nil || c.Sim.Calibration != t.Calibration) {
				continue
			}
			for _, m := range c.Metrics {
				if m.Name != t.Metric {
					continue
				}
				e := math.Abs(m.RelErr)
				if t.Abs > 0 && math.Abs(m.Sim-m.Real) <= t.Abs {
					e = 0
				}
				errs = append(errs, e)
				if e > worst {
					worst, worstCase = e, c.Scenario
				}
			}
		}
		c := ThresholdCheck{Threshold: t, Status: CheckPass, Cases: len(errs)}
		if len(errs) == 0 && t.Metric == VerdictMetric && !r.keptSim() {
			// Results written with their metrics only (before the lab kept
			// each run's simulated result) hold no verdict to check.
			c.Status = CheckMissing
			out = append(out, c)
			continue
		}
		if len(errs) == 0 {
			c.Status = CheckMissing
			c.Violations = []Violation{{Threshold: t, Stat: StatMissing}}
			out = append(out, c)
			continue
		}
		med := median(errs)
		c.MedianAbsErr, c.WorstAbsErr, c.WorstCase = &med, &worst, worstCase
		if t.Median > 0 && med > t.Median {
			c.Violations = append(c.Violations, Violation{Threshold: t, Stat: "median", Got: med})
		}
		if t.Worst > 0 && worst > t.Worst {
			c.Violations = append(c.Violations, Violation{Threshold: t, Stat: "worst", Got: worst, Case: worstCase})
		}
		if len(c.Violations) > 0 {
			c.Status = CheckFail
		}
		out = append(out, c)
	}
	return out
}

// GateReport is a gate's verdict on one suite's results, as "migsim
// validate gate -o json" and "migsim calibrate --evaluate -o json" print
// it and as [GateReport.WriteJUnit] writes it.
type GateReport struct {
	Suite string `json:"suite"`
	// Calibration is the profile the results were simulated under ("" for
	// none).
	Calibration string `json:"calibration,omitempty"`
	// Passed is true when every check passed.
	Passed bool `json:"passed"`
	// Checks has one entry per threshold, in the suite's order.
	Checks []ThresholdCheck `json:"checks"`
	// Summary is the results' per-metric error summary.
	Summary []MetricSummary `json:"summary"`
	// FailedCases are the cases whose run failed, with the reason.
	FailedCases []CaseFailure `json:"failed_cases,omitempty"`
}

// NewGateReport checks r against ths.
func NewGateReport(r *SuiteResult, ths []Threshold) *GateReport {
	g := &GateReport{Suite: r.Suite, Calibration: r.Calibration(), Passed: true, Checks: r.Check(ths),
		Summary: r.Summary, FailedCases: r.Failed}
	for _, c := range g.Checks {
		if c.Status != CheckPass {
			g.Passed = false
		}
	}
	if g.Summary == nil {
		g.Summary = []MetricSummary{}
	}
	return g
}

// Violations returns the thresholds crossed, as [SuiteResult.Gate] does.
func (g *GateReport) Violations() []Violation {
	var out []Violation
	for _, c := range g.Checks {
		out = append(out, c.Violations...)
	}
	return out
}

// JUnit XML, as CI systems (GitLab, Jenkins, GitHub test reporters) read
// it: one test suite, one test case per threshold.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes g as JUnit XML: a test suite named after the suite
// (and calibration), one test case per threshold named by its metric and
// scope, failed with the bounds it crossed; a missing threshold fails as
// "missing", naming what no case measured. Each case that failed to run
// is an error case of its own.
func (g *GateReport) WriteJUnit(w io.Writer) error {
	name := "gate " + g.Suite
	if g.Calibration != "" {
		name += " (calibration " + g.Calibration + ")"
	}
	s := junitSuite{Name: name}
	class := "migsim.gate." + g.Suite
	for _, c := range g.Checks {
		jc := junitCase{Name: c.Name(), Classname: class}
		if c.MedianAbsErr != nil {
			jc.Output = fmt.Sprintf("%d cases; median |error| %.1f%%, worst %.1f%% (%s)", c.Cases, 100**c.MedianAbsErr, 100**c.WorstAbsErr, c.WorstCase)
		}
		if len(c.Violations) > 0 {
			var msgs []string
			for _, v := range c.Violations {
				msgs = append(msgs, v.String())
			}
			jc.Failure = &junitFailure{Message: msgs[0], Type: c.Status, Text: strings.Join(msgs, "\n")}
			s.Failures++
		}
		s.Cases = append(s.Cases, jc)
	}
	for _, f := range g.FailedCases {
		s.Cases = append(s.Cases, junitCase{Name: "case " + f.Case, Classname: class,
			Error: &junitFailure{Message: "the case did not run", Type: "run", Text: f.Error}})
		s.Errors++
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ReadSuiteResult reads a suite's results as written by
// "migsim validate suite --json", gzipped when path ends in .gz (as the
// recordings in validate/testdata are).
func ReadSuiteResult(path string) (*SuiteResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	var r SuiteResult
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Comparisons) == 0 {
		return nil, fmt.Errorf("%s: no comparisons (not a suite result?)", path)
	}
	for i, c := range r.Comparisons {
		if c == nil || len(c.Metrics) == 0 {
			return nil, fmt.Errorf("%s: comparisons[%d]: no metrics", path, i)
		}
	}
	return &r, nil
}

// HistoryEntry is one line of a history file (JSON lines): a recorded
// suite run and its error summary, so that regressions show over time.
type HistoryEntry struct {
	// Date is when the entry was recorded (UTC, RFC 3339).
	Date time.Time `json:"date"`
	// Commit is the migsim commit measured ("" if unknown).
	Commit string `json:"commit"`
	Suite  string `json:"suite"`
	// Calibration names the profile the simulator used ("" for defaults).
	Calibration string `json:"calibration,omitempty"`
	// Host describes the machine and its state, e.g. "TCG 2 cores, load 3.0".
	Host string `json:"host,omitempty"`
	// Cases and Failed count the cases that ran and that failed.
	Cases  int             `json:"cases"`
	Failed int             `json:"failed"`
	Errors []MetricSummary `json:"errors"`
	// Gate lists the thresholds crossed, as text ("" entries none).
	Gate []string `json:"gate,omitempty"`
	// Checks are the errors this run measured for each threshold of the
	// suite's gate that applies to its calibration, crossed or not: what
	// [DeriveThresholds] sets thresholds from.
	Checks []ThresholdCheck `json:"checks,omitempty"`
}

// AppendHistory appends e as one JSON line to the file at path, creating
// it if needed.
func AppendHistory(path string, e HistoryEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// WriteGate prints the gate's verdict: each threshold crossed, or "gate
// passed" with the number of thresholds.
func WriteGate(w io.Writer, ths []Threshold, vs []Violation) error {
	if len(vs) == 0 {
		_, err := fmt.Fprintf(w, "gate passed: %d thresholds\n", len(ths))
		return err
	}
	for _, v := range vs {
		if _, err := fmt.Fprintf(w, "GATE FAILED: %s\n", v); err != nil {
			return err
		}
	}
	return nil
}
