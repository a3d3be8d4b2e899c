package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
)

// --assert on run: true assertions exit 0, a false one exits 4 after the
// output, naming the expression; a null key is named as such; a bad
// expression is a usage error before anything runs.
func TestRunAssert(t *testing.T) {
	short := []string{"--set", "vm.memory=256MiB", "--set", "workload.generator.working_set=256MiB"}
	run := func(args ...string) (string, string, exitCode) {
		return migsim(t, append(append([]string{"run"}, short...), args...)...)
	}
	if _, stderr, code := run("--assert", "completed && downtime_s <= 1", "--assert", `stop_reason == "downtime_met"`); code != exitOK {
		t.Errorf("true assertions: exit %d, stderr %s", code, stderr)
	}
	stdout, stderr, code := run("-o", "json", "--assert", "total_time_s < 0.001")
	if code != exitAssert {
		t.Errorf("false assertion: exit %d, want %d", code, exitAssert)
	}
	if !strings.Contains(stderr, "assertion failed: total_time_s < 0.001 is false") {
		t.Errorf("stderr does not name the failed assertion:\n%s", stderr)
	}
	var res models.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.TotalTimeS <= 0 {
		t.Errorf("the result was not written before the assertion failed: %v\n%s", err, stdout)
	}

	// A migration that never stopped the guest has no downtime: null.
	_, stderr, code = migsim(t, "run", examples+"nonconverging.yaml", "--set", "model.max_time=5s", "--assert", "downtime_s < 1")
	if code != exitAssert || !strings.Contains(stderr, "downtime_s null") {
		t.Errorf("assertion on a null key: exit %d, stderr:\n%s", code, stderr)
	}
	// Guarded, it is just false.
	_, stderr, code = migsim(t, "run", examples+"nonconverging.yaml", "--set", "model.max_time=5s", "--assert", "completed && downtime_s < 1")
	if code != exitAssert || !strings.Contains(stderr, "is false") {
		t.Errorf("guarded assertion: exit %d, stderr:\n%s", code, stderr)
	}

	for _, tc := range []struct{ expr, say string }{
		{"nope > 1", "unknown name nope"},
		{"downtime_s", "expected bool"},
		{"completed &&", "unexpected token"},
		{" ", "empty expression"},
	} {
		_, stderr, code := run("--assert", tc.expr)
		if code != exitUsage || !strings.Contains(stderr, tc.say) {
			t.Errorf("--assert %q: exit %d, stderr %q; want usage error saying %q", tc.expr, code, stderr, tc.say)
		}
	}
}

// --assert on sweep names the failing points with their axes.
func TestSweepAssert(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", `name: a
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 0, working_set: 64MiB, duration: 10s, epoch: 10ms}
  network: {profile: lan-1g}
grid:
  workload.generator.dirty_rate: [0, 100000]
  model.name: [precopy, postcopy]
`)
	out := filepath.Join(dir, "out")
	_, stderr, code := migsim(t, "sweep", spec, "--out", out, "--progress", "none", "--set", "model.max_time=20s",
		"--assert", "completed")
	if code != exitAssert {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitAssert, stderr)
	}
	// Only pre-copy at 100000 pages/s over 1 Gbit (about 30000 pages/s)
	// does not complete: point 2 of dirty_rate × model.
	if !strings.Contains(stderr, "assertion failed: point 2 (workload.generator.dirty_rate_pages_per_s=100000 model.name=precopy): completed is false") {
		t.Errorf("stderr does not name the failing point:\n%s", stderr)
	}
	if strings.Count(stderr, "assertion failed: point") != 1 || !strings.Contains(stderr, "assertions failed on 1 of 4 points") {
		t.Errorf("want exactly one failing point of 4:\n%s", stderr)
	}
	// The outputs are all there.
	if _, err := os.Stat(filepath.Join(out, "results.csv")); err != nil {
		t.Error(err)
	}

	// rounds_detail is in the results only with --detail: an assertion
	// that reads it without is refused before anything runs.
	_, stderr, code = migsim(t, "sweep", spec, "--out", filepath.Join(dir, "out2"), "--progress", "none", "--assert", "len(rounds_detail) < 50")
	if code != exitUsage || !strings.Contains(stderr, "reads rounds_detail, which results.jsonl holds only with --detail") {
		t.Errorf("--assert on rounds_detail without --detail: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Error("the refused sweep wrote its directory")
	}
	_, stderr, code = migsim(t, "sweep", spec, "--out", filepath.Join(dir, "out3"), "--progress", "none", "--set", "model.max_time=20s",
		"--detail", "--assert", "len(rounds_detail) < 50")
	if code != exitOK {
		t.Errorf("--assert on rounds_detail with --detail: exit %d, stderr %q", code, stderr)
	}
}

// validate gate -o json and --junit: a missing threshold is named
// missing, no NaN anywhere.
func TestValidateGateReport(t *testing.T) {
	dir := t.TempDir()
	base, err := filepath.Abs("../../validate/suites/lab-base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	suite := writeFile(t, dir, "suite.yaml", `name: ci
base: `+base+`
cases:
  - name: uniform-1k-200mbit
    set: [workload.generator.dirty_rate=1000, model.max_bandwidth=200Mbit]
gate:
  - {metric: total_time_s, model: precopy, median: 0.5, worst: 0.9}
  - {metric: downtime_s, model: no-such-model, median: 0.5}
`)
	junit := filepath.Join(dir, "gate.xml")
	stdout, stderr, code := migsim(t, "validate", "gate", suite, "../../validate/testdata/ci-results-load4.json", "-o", "json", "--junit", junit)
	if code != exitAccuracy {
		t.Fatalf("exit %d, want %d (a missing threshold fails); stderr:\n%s", code, exitAccuracy, stderr)
	}
	if strings.Contains(stdout, "NaN") {
		t.Errorf("JSON holds NaN:\n%s", stdout)
	}
	var rep struct {
		Suite  string `json:"suite"`
		Passed bool   `json:"passed"`
		Checks []struct {
			Status string `json:"status"`
			Cases  int    `json:"cases"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	if rep.Passed || len(rep.Checks) != 2 || rep.Checks[0].Status != "pass" || rep.Checks[0].Cases == 0 || rep.Checks[1].Status != "missing" {
		t.Errorf("report %+v: want the pre-copy check passing and the other missing", rep)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(x, &doc); err != nil || len(doc.Suites) != 1 || doc.Suites[0].Tests != 2 || doc.Suites[0].Failures != 1 {
		t.Errorf("JUnit: %v %+v\n%s", err, doc, x)
	}
	if !strings.Contains(string(x), "downtime_s (no-such-model): missing") {
		t.Errorf("JUnit does not name the missing threshold:\n%s", x)
	}
	if _, stderr, code := migsim(t, "validate", "gate", suite, "../../validate/testdata/ci-results-load4.json", "-o", "xml"); code != exitUsage {
		t.Errorf("-o xml: exit %d, want %d; %s", code, exitUsage, stderr)
	}
}
