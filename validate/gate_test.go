package validate

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
)

// readResult reads suite results (gzipped with .gz).
func readResult(t testing.TB, path string) *SuiteResult {
	t.Helper()
	r, err := ReadSuiteResult(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loadCI loads the CI suite and its gate.
func loadCI(t testing.TB) *Suite {
	t.Helper()
	s, err := LoadSuite("suites/ci.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Gate) == 0 {
		t.Fatal("suites/ci.yaml has no gate")
	}
	return s
}

// breakModel makes the recorded simulator results wrong on purpose, as a
// simulator whose effective bandwidth is factor times the true one would
// be: the transfer-bound metrics (total time, downtime) scale by 1/factor.
// Real values are untouched; errors are recomputed.
func breakModel(r *SuiteResult, factor float64) {
	for _, c := range r.Comparisons {
		for i, m := range c.Metrics {
			switch m.Name {
			case "total_time_s", "downtime_s":
				c.Metrics[i] = metricError(m.Name, m.Real, m.Sim/factor)
			case "bandwidth_bps":
				c.Metrics[i] = metricError(m.Name, m.Real, m.Sim*factor)
			}
		}
	}
}

// TestGateCatchesBrokenModel: the CI suite's gate passes the results of
// a clean-clone lab run at load about 4 (two busy loops beside it),
// re-simulated with the model the gate was set for, and fails them once
// the model is broken, naming the metric; no QEMU needed.
func TestGateCatchesBrokenModel(t *testing.T) {
	s := loadCI(t)
	res, err := ReadSuiteResult("testdata/ci-results-load4.json")
	if err != nil {
		t.Fatal(err)
	}
	if vs := res.Gate(ThresholdsFor(s.Gate, "")); len(vs) != 0 {
		t.Fatalf("the run recorded at load 4 fails the gate: %v", vs)
	}
	for _, factor := range []float64{0.6, 1.6} {
		broken, _ := ReadSuiteResult("testdata/ci-results-load4.json")
		breakModel(broken, factor)
		vs := broken.Gate(ThresholdsFor(s.Gate, ""))
		var names []string
		for _, v := range vs {
			names = append(names, v.String())
		}
		t.Logf("bandwidth ×%v: %s", factor, strings.Join(names, "; "))
		if !strings.Contains(strings.Join(names, "\n"), "total_time_s") {
			t.Errorf("bandwidth ×%v: the gate did not catch total_time_s: %v", factor, names)
		}
	}
}

// TestGateCatchesFaultCost: the post-copy gate fails a simulator whose
// page requests cost microseconds, as before the rate-limit window
// (models/postcopy_ratelimit.go): 15-80x the requests, a fraction of the
// stall.
func TestGateCatchesFaultCost(t *testing.T) {
	s := loadCI(t)
	res, err := ReadSuiteResult("testdata/ci-results-load4.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Comparisons {
		for i, m := range c.Metrics {
			switch m.Name {
			case "postcopy_requests":
				c.Metrics[i] = metricError(m.Name, m.Real, 15*m.Real)
			case "stall_time_s":
				c.Metrics[i] = metricError(m.Name, m.Real, 0.15*m.Real)
			}
		}
	}
	var names []string
	for _, v := range res.Gate(ThresholdsFor(s.Gate, "")) {
		names = append(names, v.String())
	}
	got := strings.Join(names, "\n")
	// Hybrid's stall bound (100 %: the model stalls 31-65 % more than QEMU
	// after its pre-copy round, ACCURACY.md) cannot catch a stall cut to a
	// fraction; its request count catches the same fault.
	for _, want := range []string{"postcopy_requests (postcopy)", "stall_time_s (postcopy)", "postcopy_requests (hybrid)"} {
		if !strings.Contains(got, want) {
			t.Errorf("the gate did not catch %s: %v", want, names)
		}
	}
}

// TestGateLoadedRun: the run recorded on a heavily loaded machine (load
// 10-15) crosses the gate; the gate is for a quiet machine.
func TestGateLoadedRun(t *testing.T) {
	res, err := ReadSuiteResult("testdata/ci-results-load15.json")
	if err != nil {
		t.Fatal(err)
	}
	if vs := res.Gate(ThresholdsFor(loadCI(t).Gate, "")); len(vs) == 0 {
		t.Error("the loaded-machine run passes the gate")
	}
}

func TestGateRules(t *testing.T) {
	res := &SuiteResult{Comparisons: []*Comparison{
		{Scenario: "a", Model: "precopy", Metrics: []MetricError{{Name: "downtime_s", RelErr: 0.1}}},
		{Scenario: "b", Model: "precopy", Metrics: []MetricError{{Name: "downtime_s", RelErr: -0.5}}},
		{Scenario: "c", Model: "precopy", Metrics: []MetricError{{Name: "downtime_s", RelErr: 0.2}}},
	}}
	ths := []Threshold{
		{Metric: "downtime_s", Median: 0.25, Worst: 0.4},               // worst crossed by b
		{Metric: "downtime_s", Model: "precopy", Median: 0.15},         // median 0.2 crossed
		{Metric: "downtime_s", Model: "postcopy", Median: 1, Worst: 1}, // nothing to check
		{Metric: "downtime_s", Median: 0.2, Worst: 0.5},                // passes (bounds inclusive)
	}
	var got []string
	for _, v := range res.Gate(ths) {
		got = append(got, v.String())
	}
	want := []string{
		"downtime_s (all models): worst |error| 50.0% > 40.0% in case b",
		"downtime_s (precopy): median |error| 20.0% > 15.0%",
		"downtime_s (postcopy): missing: no case in the results measured it",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Gate =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := checkThresholds([]Threshold{{Metric: "downtime", Median: 1}}); err == nil {
		t.Error("an unknown metric passed")
	}
	if err := checkThresholds([]Threshold{{Metric: "downtime_s"}}); err == nil {
		t.Error("a threshold without bounds passed")
	}
}

// TestGateAbsoluteTolerance checks a threshold's abs: a case within abs
// of the real value counts as error 0, one beyond it keeps its relative
// error, so the bound is max(bound × real, abs).
func TestGateAbsoluteTolerance(t *testing.T) {
	res := &SuiteResult{Comparisons: []*Comparison{
		{Scenario: "near", Model: "postcopy", Metrics: []MetricError{metricError("setup_time_s", 0.202, 0.133)}}, // 69 ms, -34 %
		{Scenario: "same", Model: "postcopy", Metrics: []MetricError{metricError("setup_time_s", 0.130, 0.133)}},
		{Scenario: "far", Model: "postcopy", Metrics: []MetricError{metricError("setup_time_s", 0.400, 0.133)}}, // 267 ms, -67 %
	}}
	check := func(abs float64) ThresholdCheck {
		return res.Check([]Threshold{{Metric: "setup_time_s", Median: 0.30, Worst: 0.60, Abs: abs}})[0]
	}
	without := check(0)
	if without.Status != CheckFail || *without.MedianAbsErr < 0.34 {
		t.Errorf("without abs: %s, median %.3f; want the 34 %% median to fail", without.Status, *without.MedianAbsErr)
	}
	with := check(0.1)
	if *with.MedianAbsErr != 0 || with.WorstCase != "far" || len(with.Violations) != 1 || with.Violations[0].Stat != "worst" {
		t.Errorf("abs 0.1 s: median %.3f, worst %.3f in %q, violations %v; want median 0 and only the 267 ms case crossing worst",
			*with.MedianAbsErr, *with.WorstAbsErr, with.WorstCase, with.Violations)
	}
	if err := checkThresholds([]Threshold{{Metric: "setup_time_s", Median: 1, Abs: -0.1}}); err == nil {
		t.Error("a negative abs passed")
	}
}

// TestHistoryFile checks that the repository's history file parses, one
// entry a line, and that AppendHistory writes such lines.
func TestHistoryFile(t *testing.T) {
	f, err := os.Open("history/ci.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var e HistoryEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Suite == "" || len(e.Errors) == 0 {
			t.Errorf("history/ci.jsonl line %d: %v %+v", n+1, err, e)
		}
		n++
	}
	if n == 0 {
		t.Error("history/ci.jsonl is empty")
	}
	p := filepath.Join(t.TempDir(), "h.jsonl")
	for range 2 {
		if err := AppendHistory(p, HistoryEntry{Suite: "x", Errors: []MetricSummary{{Name: "downtime_s", MedianAbsErr: math.Pi}}}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	if strings.Count(string(b), "\n") != 2 {
		t.Errorf("AppendHistory wrote %q", b)
	}
}

// TestThresholdsForCalibration: a profile's own thresholds replace the
// uncalibrated ones for its runs, a profile without any falls back to
// them, and a calibrated threshold only sees comparisons simulated under
// its profile.
func TestThresholdsForCalibration(t *testing.T) {
	ths := []Threshold{
		{Metric: "total_time_s", Median: 0.2},
		{Metric: "total_time_s", Calibration: "local-tcg", Median: 0.1},
	}
	if got := ThresholdsFor(ths, ""); len(got) != 1 || got[0].Calibration != "" {
		t.Errorf("uncalibrated: %+v", got)
	}
	if got := ThresholdsFor(ths, "local-tcg"); len(got) != 1 || got[0].Median != 0.1 {
		t.Errorf("local-tcg: %+v", got)
	}
	if got := ThresholdsFor(ths, "mine"); len(got) != 1 || got[0].Calibration != "" {
		t.Errorf("a profile without thresholds: %+v, want the uncalibrated ones", got)
	}
	cmp := func(cal string, err float64) *Comparison {
		return &Comparison{Model: "precopy", Sim: &models.Result{Calibration: cal},
			Metrics: []MetricError{{Name: "total_time_s", RelErr: err}}}
	}
	res := &SuiteResult{Comparisons: []*Comparison{cmp("local-tcg", 0.05), cmp("", 0.5)}}
	if res.Calibration() != "local-tcg" {
		t.Errorf("result calibration %q", res.Calibration())
	}
	if vs := res.Gate(ThresholdsFor(ths, "local-tcg")); len(vs) != 0 {
		t.Errorf("the uncalibrated comparison leaked into the local-tcg threshold: %v", vs)
	}
	if vs := (&SuiteResult{Comparisons: []*Comparison{cmp("", 0.5)}}).Gate(ThresholdsFor(ths, "local-tcg")); len(vs) != 1 || vs[0].Stat != "missing" {
		t.Errorf("no local-tcg comparison: %v, want the threshold missing", vs)
	}
}

// TestGateVerdicts: a verdict threshold fails when a pre-copy case's
// simulated verdict disagrees with the real run's, naming the case, and
// passes when every one agrees; results recorded before verdicts were
// kept get theirs from their comparisons.
func TestGateVerdicts(t *testing.T) {
	th := []Threshold{{Metric: VerdictMetric, Model: "precopy", Worst: 0.5}}
	if err := checkThresholds(th); err != nil {
		t.Fatalf("a verdict threshold is refused: %v", err)
	}
	run := func(name string, converged bool) *Comparison {
		return &Comparison{Scenario: name, Model: "precopy", Real: &lab.RealRun{}, Sim: &models.Result{Converged: converged}}
	}
	agree := &SuiteResult{Comparisons: []*Comparison{run("a", true), run("b", true)}}
	if vs := agree.Gate(th); len(vs) != 0 {
		t.Errorf("every verdict agrees: %v", vs)
	}
	wrong := &SuiteResult{Comparisons: []*Comparison{run("a", true), run("b", false)}}
	wrong.fillVerdicts()
	vs := wrong.Gate(th)
	if len(vs) != 1 || vs[0].Case != "b" || vs[0].Got != 1 {
		t.Errorf("b's simulator did not converge where QEMU did: %v, want the worst case b failing", vs)
	}
	// A run the lab cancelled that the simulator says converges.
	cancelled := &SuiteResult{Verdicts: []Verdict{{Case: "c", RealCancelledAfterS: 60, SimConverged: true}}}
	if vs := cancelled.Gate(th); len(vs) != 1 || vs[0].Case != "c" {
		t.Errorf("a cancelled run the simulator converges: %v, want c failing", vs)
	}
	if vs := wrong.Gate([]Threshold{{Metric: VerdictMetric, Model: "postcopy", Worst: 0.5}}); len(vs) != 1 || vs[0].Stat != StatMissing {
		t.Errorf("post-copy has no verdicts: %v, want the threshold missing", vs)
	}
}
