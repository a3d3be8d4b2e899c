package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/validate"
)

// TestValidateThresholds records the same results three times with
// 'validate gate --history' and derives the CI suite's thresholds from
// them: every threshold the results measure counts three runs and
// suggests 1.5 x its error, rounded up; --min-runs above the runs exits
// 3; -o yaml gives gate entries that load back as a suite's.
func TestValidateThresholds(t *testing.T) {
	const suite, results = "../../validate/suites/ci.yaml", "../../validate/testdata/ci-results-load4.json"
	hist := filepath.Join(t.TempDir(), "h.jsonl")
	run := func(args ...string) (exitCode, string, string) {
		var out, errb bytes.Buffer
		code := execute(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errb})
		return code, out.String(), errb.String()
	}
	for range 3 {
		if code, _, errs := run("validate", "gate", suite, results, "--history", hist, "--commit", "test"); code != exitOK {
			t.Fatalf("validate gate --history: exit %d: %s", code, errs)
		}
	}
	code, out, errs := run("validate", "thresholds", suite, hist, "-o", "json")
	if code != exitOK && code != exitAccuracy {
		t.Fatalf("validate thresholds: exit %d: %s", code, errs)
	}
	var ds []validate.DerivedThreshold
	if err := json.Unmarshal([]byte(out), &ds); err != nil {
		t.Fatal(err)
	}
	s, err := validate.LoadSuite(suite)
	if err != nil {
		t.Fatal(err)
	}
	res, err := validate.ReadSuiteResult(results)
	if err != nil {
		t.Fatal(err)
	}
	checks := res.Check(validate.ThresholdsFor(s.Gate, res.Calibration()))
	measured := 0
	for _, c := range checks {
		if c.Status == validate.CheckMissing {
			continue
		}
		measured++
		found := false
		for _, d := range ds {
			if d.Current != c.Threshold {
				continue
			}
			found = true
			if d.Runs != 3 || d.SeenWorst == nil || *d.SeenWorst != *c.WorstAbsErr {
				t.Errorf("%s: %d runs, worst seen %v; want 3 and %v", c.Name(), d.Runs, d.SeenWorst, *c.WorstAbsErr)
			}
			if c.Threshold.Worst > 0 && d.Suggested.Worst != validate.NiceBound(1.5**c.WorstAbsErr) {
				t.Errorf("%s: suggested worst %v, want 1.5 x %v rounded up", c.Name(), d.Suggested.Worst, *c.WorstAbsErr)
			}
		}
		if !found {
			t.Errorf("%s: not in the derived thresholds", c.Name())
		}
	}
	if measured == 0 {
		t.Fatal("the results measure no threshold")
	}
	if code, _, errs := run("validate", "thresholds", suite, hist, "--min-runs", "4"); code != exitAccuracy || !strings.Contains(errs, "fewer than 4 recorded runs") {
		t.Errorf("--min-runs 4: exit %d, stderr %q; want exit 3 naming the runs", code, errs)
	}
	if code, _, errs := run("validate", "thresholds", suite, hist, "--margin", "0.5"); code != exitUsage || !strings.Contains(errs, "--margin") {
		t.Errorf("--margin 0.5: exit %d, stderr %q; want a usage error", code, errs)
	}
	_, yml, _ := run("validate", "thresholds", suite, hist, "-o", "yaml")
	if !strings.HasPrefix(yml, "gate:\n  - {metric: ") || strings.Count(yml, "\n  - {") != len(s.Gate) {
		t.Errorf("-o yaml: want one gate entry per threshold (%d), got\n%s", len(s.Gate), yml)
	}
}
