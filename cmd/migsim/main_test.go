package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
)

// migsim runs the command line in-process and returns stdout, stderr and
// the exit code.
func migsim(t *testing.T, args ...string) (stdout, stderr string, code exitCode) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(t.Context(), args, streams{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), errb.String(), code
}

const examples = "../../scenarios/examples/"

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "name: x\nmodel:\n  downtim_limit: 3ms\n")
	garbage := writeFile(t, dir, "garbage.mgt", "\x89MGT this is not a trace")
	for _, tc := range []struct {
		args   []string
		code   exitCode
		stderr string // a part of stderr
	}{
		{[]string{}, exitOK, ""},
		{[]string{"run", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{[]string{"runn"}, exitUsage, `unknown command "runn" for "migsim" (did you mean run?)`},
		{[]string{"trace", "foo"}, exitUsage, `unknown command "foo" for "migsim trace"`},
		{[]string{"run", "a.yaml", "b.yaml"}, exitUsage, "accepts at most 1 arg(s), received 2"},
		{[]string{"run", "-o", "xml"}, exitUsage, `invalid value "xml" for --output: want table, json, csv`},
		{[]string{"run", "--seed", "x"}, exitUsage, `invalid argument "x" for "--seed"`},
		{[]string{"trace", "gen"}, exitUsage, "trace gen: --out FILE is required"},
		{[]string{"trace", "stats"}, exitUsage, "accepts 1 arg(s), received 0"},
		{[]string{"trace", "import", "x.txt"}, exitUsage, "trace import: --out FILE is required"},
		{[]string{"scenario", "check"}, exitUsage, "requires at least 1 arg(s)"},
		{[]string{"scenario", "explain", "x", "y"}, exitUsage, "accepts at most 1 arg(s), received 2"},
		{[]string{"run", bad}, exitError, bad + ":3: model.downtim_limit: unknown key for model precopy (did you mean downtime_limit?)"},
		{[]string{"run", "--set", "vm.memory=-1GiB"}, exitError, `--set vm.memory: size "-1GiB" is negative`},
		{[]string{"run", filepath.Join(dir, "missing.yaml")}, exitError, "no such file or directory"},
		{[]string{"scenario", "check", bad}, exitError, bad + ":3: model.downtim_limit"},
		{[]string{"trace", "stats", garbage}, exitError, garbage},
		{[]string{"trace", "stats", filepath.Join(dir, "missing.mgt")}, exitError, "no such file or directory"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := migsim(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.stderr)
			}
			if tc.code == exitUsage && !strings.Contains(stderr, "--help' for usage") {
				t.Errorf("usage error without a usage hint: %q", stderr)
			}
		})
	}
}

// TestRunJSON checks the JSON contract: it parses back into a
// models.Result and has every documented key.
func TestRunJSON(t *testing.T) {
	stdout, stderr, code := migsim(t, "run", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res models.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output does not parse as a models.Result: %v\n%s", err, stdout)
	}
	if res.Scenario != "default" || res.Model != "precopy" || res.Seed != 1 || !res.Converged || len(res.RoundsDetail) != res.Rounds {
		t.Errorf("unexpected result %+v", res)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "model", "seed", "converged", "stop_reason", "total_time_s", "downtime_s",
		"setup_time_s", "transferred_bytes", "rounds", "pages", "rounds_detail", "throttle_pct"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks key %q", k)
		}
	}
	pages, _ := m["pages"].(map[string]any)
	for _, k := range []string{"total", "zero", "normal"} {
		if _, ok := pages[k]; !ok {
			t.Errorf("JSON lacks key pages.%s", k)
		}
	}
	rounds, _ := m["rounds_detail"].([]any)
	if len(rounds) == 0 {
		t.Fatal("JSON rounds_detail is empty")
	}
	for i, r := range rounds {
		r, _ := r.(map[string]any)
		for _, k := range []string{"round", "start_s", "duration_s", "pages", "bytes"} {
			if _, ok := r[k]; !ok {
				t.Errorf("JSON lacks key rounds_detail[%d].%s", i, k)
			}
		}
	}
	if m["stop_reason"] != "downtime_met" {
		t.Errorf("stop_reason = %v, want downtime_met", m["stop_reason"])
	}
}

func TestRunCSV(t *testing.T) {
	stdout, stderr, code := migsim(t, "run", "-o", "csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], csvHeader) {
		t.Errorf("header %v, want %v", rows[0], csvHeader)
	}
	if len(rows) != 1+4+1 { // the default scenario: four rounds (DefaultSpec)
		t.Fatalf("got %d rows, want header, 4 rounds and a total", len(rows))
	}
	total := rows[len(rows)-1]
	if total[3] != "total" || total[len(total)-1] != "downtime_met" {
		t.Errorf("last row %v is not the totals row", total)
	}
	if rows[4][12] != "true" || rows[1][12] != "false" {
		t.Errorf("stop_and_copy column wrong: %v / %v", rows[1], rows[4])
	}
}

func TestRunTable(t *testing.T) {
	stdout, _, code := migsim(t, "run", examples+"demo.yaml")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"scenario     demo", "converged (downtime_met)", "lan-10g: 10Gbit", "4*", "* stop-and-copy"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
}

// TestDeterministic runs the same scenario and seed twice in every format
// and wants the same bytes.
func TestDeterministic(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-o", "json"},
		{"run", examples + "wan.yaml", "-o", "csv"},
		{"run", examples + "wan.yaml", "--seed", "3"},
	} {
		a, _, code := migsim(t, args...)
		b, _, _ := migsim(t, args...)
		if code != exitOK || a != b || a == "" {
			t.Errorf("migsim %s: exit %d, outputs differ: %v", strings.Join(args, " "), code, a != b)
		}
	}
}

func TestSeedFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		seed uint64
	}{
		{[]string{"--seed", "42"}, 42},
		{[]string{"--set", "seed=5"}, 5},
		{[]string{"--seed", "42", "--set", "seed=5"}, 42}, // --seed goes last
	} {
		stdout, stderr, code := migsim(t, append([]string{"run", "-o", "json"}, tc.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
		}
		var res models.Result
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		if res.Seed != tc.seed {
			t.Errorf("%v: seed %d, want %d", tc.args, res.Seed, tc.seed)
		}
	}
}

// TestRunFlags checks flag parsing apart from running.
func TestRunFlags(t *testing.T) {
	var got *runOptions
	cmd := newRunCmd(streams{}, func(_ *cobra.Command, o *runOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"x.yaml", "--set", "a=1", "--set", "b.c=2ms", "-o", "csv", "--progress"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.scenario != "x.yaml" || !slices.Equal(got.sets, []string{"a=1", "b.c=2ms"}) || got.output != "csv" || !got.progress {
		t.Errorf("parsed %+v", *got)
	}
}

func TestWarnings(t *testing.T) {
	stdout, stderr, code := migsim(t, "run", examples+"nonconverging.yaml", "--set", "model.max_time=20s", "-o", "json", "--progress")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: the migration did not complete: stop reason max_time") {
		t.Errorf("no warning on stderr: %q", stderr)
	}
	if !strings.Contains(stderr, "round 1: ") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	if strings.Contains(stdout, "warning") || !json.Valid([]byte(stdout)) {
		t.Errorf("stdout is not just the JSON result:\n%s", stdout)
	}
}

// TestTraceCommands generates a trace, summarizes it, exports and imports
// it, and runs a scenario on it.
func TestTraceCommands(t *testing.T) {
	dir := t.TempDir()
	mgt := filepath.Join(dir, "gen.mgt")
	_, stderr, code := migsim(t, "trace", "gen", "-o", mgt, "--set", "workload.generator.duration=2s", "--set", "vm.memory=256MiB",
		"--set", "workload.generator.working_set=64MiB")
	if code != exitOK {
		t.Fatalf("trace gen: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "wrote "+mgt+": 200 epochs") {
		t.Errorf("trace gen stderr %q", stderr)
	}

	stdout, stderr, code := migsim(t, "trace", "stats", "-o", "json", mgt)
	if code != exitOK {
		t.Fatalf("trace stats: exit %d: %s", code, stderr)
	}
	var st traces.TraceStats
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Epochs != 200 || st.MemoryPages != 65536 || st.MeanDirtyRate != 50000 {
		t.Errorf("stats %+v", st)
	}
	table, _, code := migsim(t, "trace", "stats", mgt)
	if code != exitOK || !strings.Contains(table, "epochs             200 of 10ms") {
		t.Errorf("trace stats table (exit %d):\n%s", code, table)
	}

	// Export to text and import again: the same statistics.
	tr, err := traces.Open(mgt)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if _, err := traces.ExportText(&text, tr); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	txt := writeFile(t, dir, "gen.txt", text.String())
	imported := filepath.Join(dir, "imported.mgt")
	if _, stderr, code := migsim(t, "trace", "import", txt, "-o", imported); code != exitOK {
		t.Fatalf("trace import: exit %d: %s", code, stderr)
	}
	again, _, _ := migsim(t, "trace", "stats", "-o", "json", imported)
	var st2 traces.TraceStats
	if err := json.Unmarshal([]byte(again), &st2); err != nil {
		t.Fatal(err)
	}
	st2.Provenance = st.Provenance
	if a, b := mustJSON(t, st), mustJSON(t, st2); a != b {
		t.Errorf("imported trace differs:\n%s\n%s", a, b)
	}
	badTxt := writeFile(t, dir, "bad.txt", "epoch: 10ms\nmemory: 1MiB\n0,w,999999\n")
	if _, stderr, code := migsim(t, "trace", "import", badTxt, "-o", filepath.Join(dir, "bad.mgt")); code != exitError || !strings.Contains(stderr, badTxt+":3") {
		t.Errorf("bad import: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.mgt")); !os.IsNotExist(err) {
		t.Errorf("failed import left an output file: %v", err)
	}

	// Replay the generated trace.
	sc := writeFile(t, dir, "replay.yaml", "workload:\n  trace: gen.mgt\n  at_end: idle\n")
	out, stderr, code := migsim(t, "run", sc, "-o", "json")
	if code != exitOK {
		t.Fatalf("run on trace: exit %d: %s", code, stderr)
	}
	var res models.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Completed || res.Pages.Total != 65536 {
		t.Errorf("run on trace: %v %+v", err, res)
	}
	if _, stderr, code := migsim(t, "trace", "gen", sc, "-o", filepath.Join(dir, "x.mgt")); code != exitError || !strings.Contains(stderr, "needs a workload.generator") {
		t.Errorf("trace gen on a trace scenario: exit %d, stderr %q", code, stderr)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInfoCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"profiles"}, []string{"lan-1g", "lan-10g", "lan-25g", "metro", "continental", "transatlantic", "Sources:"}},
		{[]string{"models"}, []string{"precopy"}},
		{[]string{"version"}, []string{"migsim "}},
		{[]string{"scenario", "explain"}, []string{"model.downtime_limit = 300ms  (duration)", "vm.memory = 4GiB  (bytes)"}},
		{[]string{"scenario", "check", examples + "demo.yaml", examples + "wan.yaml"}, []string{"demo.yaml: ok", "wan.yaml: ok"}},
	} {
		stdout, stderr, code := migsim(t, tc.args...)
		if code != exitOK {
			t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: stdout lacks %q", tc.args, w)
			}
		}
	}
}
