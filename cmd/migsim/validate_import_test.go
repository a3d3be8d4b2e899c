package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runImport runs migsim with args and returns the exit code, stdout and
// stderr.
func runImport(t *testing.T, args ...string) (exitCode, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

// TestValidateImport: the sample records import into a folder that
// 'validate gate' and 'calibrate --evaluate' accept; usage errors exit 2,
// bad or incomplete records exit 1 naming the record.
func TestValidateImport(t *testing.T) {
	const field = "../../validate/testdata/field/"
	dir := t.TempDir()
	code, out, errs := runImport(t, "validate", "import", "--map", field+"fleet.yaml", "--skip-incomplete",
		"--gate-from", "../../validate/suites/ci.yaml", "-o", dir,
		field+"app1.qmp.jsonl", field+"db1.rawstats.txt", field+"web1.jobinfo.txt", field+"vmim-db2.yaml")
	if code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, errs)
	}
	for _, want := range []string{"verdicts agree in", "app1-1", "total_time_s"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"skipped: ", "gate: left out stall_time_s", "imported 4 records (2 skipped)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	suite, results := filepath.Join(dir, "suite.yaml"), filepath.Join(dir, "results.json")
	if _, err := os.Stat(results); err != nil {
		t.Fatal(err)
	}
	// The gate reads the import (the lab's thresholds may fail it: exit 3).
	if code, _, errs := runImport(t, "validate", "gate", suite, results); code != exitOK && code != exitAccuracy {
		t.Errorf("validate gate: exit %d\n%s", code, errs)
	}
	if code, out, errs := runImport(t, "calibrate", results, "--suite", suite, "--evaluate", "none"); (code != exitOK && code != exitAccuracy) || !strings.Contains(out, "db1") {
		t.Errorf("calibrate --evaluate none: exit %d\n%s\n%s", code, out, errs)
	}

	for _, tc := range []struct {
		args []string
		code exitCode
		say  string
	}{
		{[]string{"validate", "import", field + "db1.rawstats.txt"}, exitUsage, "--out DIR is required"},
		{[]string{"validate", "import", "-o", dir}, exitUsage, "requires at least 1 arg"},
		{[]string{"validate", "import", "--format", "csv", "-o", dir, field + "db1.rawstats.txt"}, exitUsage, "want auto, qmp, virsh or kubevirt"},
		{[]string{"validate", "import", "--set", "oops", "-o", dir, field + "db1.rawstats.txt"}, exitUsage, "want key=value"},
		{[]string{"validate", "import", "-o", dir, field + "db1.rawstats.txt"}, exitError, "db1.rawstats.txt:1 (virsh): no value for"},
		{[]string{"validate", "import", "--map", field + "fleet.yaml", "-o", dir, field + "web1.jobinfo.txt"}, exitError, "--skip-incomplete skips them"},
	} {
		code, _, errs := runImport(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.say) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d saying %q", tc.args, code, errs, tc.code, tc.say)
		}
	}
}
