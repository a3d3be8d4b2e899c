package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCalibrateCmdUsage checks flag parsing of "calibrate" (built alone
// until the lead registers it); the fit itself is tested in validate.
func TestCalibrateCmdUsage(t *testing.T) {
	for _, args := range [][]string{
		{"results.json"},                      // no --suite, no -o
		{"results.json", "--suite", "s.yaml"}, // no -o
		{"--suite", "s.yaml", "-o", "p.yaml"}, // no results
	} {
		var out, errb bytes.Buffer
		cmd := newCalibrateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if code := exitCodeOf(cmd.ExecuteContext(context.Background())); code != exitUsage {
			t.Errorf("calibrate %q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestCalibrateEvaluate re-simulates the recorded quiet runs under the
// shipped profile with --evaluate and gates them; bad --weight, --fix
// and --evaluate values are usage errors.
func TestCalibrateEvaluate(t *testing.T) {
	f, err := os.Open("../../validate/testdata/ci-results-quiet2.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(t.TempDir(), "results.json")
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(results, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, exitCode) {
		var out, errb bytes.Buffer
		cmd := newCalibrateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(append([]string{results, "--suite", "../../validate/suites/ci.yaml"}, args...))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		code := exitCodeOf(cmd.ExecuteContext(context.Background()))
		return out.String() + errb.String(), code
	}
	out, code := run("--evaluate", "local-tcg")
	if code != 0 || !strings.Contains(out, "gate passed") || !strings.Contains(out, "total_time_s") {
		t.Errorf("--evaluate local-tcg: exit %d\n%s", code, out)
	}
	// -o json prints the verdict as one object; --junit writes it as XML.
	junit := filepath.Join(t.TempDir(), "gate.xml")
	out, code = run("--evaluate", "local-tcg", "-o", "json", "--junit", junit)
	var rep struct {
		Passed bool `json:"passed"`
		Checks []struct {
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || !rep.Passed || len(rep.Checks) == 0 {
		t.Errorf("--evaluate local-tcg -o json: exit %d, %v\n%s", code, err, out)
	}
	if x, err := os.ReadFile(junit); err != nil || !strings.Contains(string(x), "<testsuite name=\"gate ci (calibration local-tcg)\"") {
		t.Errorf("--junit: %v\n%s", err, x)
	}
	for _, args := range [][]string{
		{"--evaluate", "no-such-profile"},
		{"-o", "-", "--weight", "downtime=3"},
		{"-o", "-", "--weight", "downtime_s=-1"},
		{"--out", "p.yaml", "-o", "json"}, // json goes with --evaluate
		{"--evaluate", "local-tcg", "-o", "xml", "--out", "p.yaml"},
		{"--out", "-", "--fix", "link_bandwidth=1e10"},           // no such parameter
		{"--out", "-", "--fix", "link_bandwidth_bps=fast"},       // not a number
		{"--out", "-", "--fix", "setup_time_s"},                  // no value
		{"--evaluate", "local-tcg", "--fix", "setup_time_s=0.1"}, // nothing is fitted
	} {
		if out, code := run(args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, out)
		}
	}
}
