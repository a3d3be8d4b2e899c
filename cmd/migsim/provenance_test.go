package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/internal/buildinfo"
	"github.com/migsim/migsim/sweep"
)

// "migsim version" and "--version" print the same build information, and
// results carry its version.
func TestVersion(t *testing.T) {
	v, stderr, code := migsim(t, "version")
	if code != exitOK || !strings.HasPrefix(v, "migsim "+buildinfo.Version()+"\n") || !strings.Contains(v, "revision ") {
		t.Errorf("version: exit %d, %q, stderr %q", code, v, stderr)
	}
	flag, _, code := migsim(t, "--version")
	if code != exitOK || flag != v {
		t.Errorf("--version printed %q, version %q", flag, v)
	}
	out, _, code := migsim(t, "run", "-o", "json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK {
		t.Fatalf("run -o json: exit %d, %v", code, err)
	}
	if res["migsim_version"] != buildinfo.Version() {
		t.Errorf("migsim_version = %v, want %q", res["migsim_version"], buildinfo.Version())
	}
	if _, ok := res["resolved_scenario"]; ok {
		t.Error("resolved_scenario without --resolved")
	}
}

// run -o json --resolved carries the resolved scenario, which loads back
// as a scenario file giving the same result.
func TestRunResolved(t *testing.T) {
	args := []string{"run", examples + "wan.yaml", "--set", "model.downtime_limit=1s", "--set", "workload.generator.duration=5s"}
	out, stderr, code := migsim(t, append(args, "-o", "json", "--resolved")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		TotalTimeS float64        `json:"total_time_s"`
		Resolved   map[string]any `json:"resolved_scenario"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	model, _ := res.Resolved["model"].(map[string]any)
	network, _ := res.Resolved["network"].(map[string]any)
	if model["downtime_limit"] != "1s" || network["rtt"] != "80ms" || network["profile"] != "transatlantic" || res.Resolved["seed"] != 7.0 {
		t.Errorf("resolved scenario lacks the flag's, the profile's or the file's values: model %v, network %v, seed %v",
			model["downtime_limit"], network["rtt"], res.Resolved["seed"])
	}
	// Written as YAML, the resolved scenario is a scenario that runs the same.
	y, err := yaml.Marshal(res.Resolved)
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, t.TempDir(), "wan.yaml", string(y))
	again, stderr, code := migsim(t, "run", file, "-o", "json")
	if code != exitOK {
		t.Fatalf("the resolved scenario does not run: %s\n%s", stderr, y)
	}
	var res2 struct {
		TotalTimeS float64 `json:"total_time_s"`
	}
	if err := json.Unmarshal([]byte(again), &res2); err != nil || res2.TotalTimeS != res.TotalTimeS {
		t.Errorf("resolved scenario ran to %v s, the original to %v s (%v)", res2.TotalTimeS, res.TotalTimeS, err)
	}
	if _, stderr, code := migsim(t, "run", "--resolved"); code != exitUsage || !strings.Contains(stderr, "--resolved needs -o json") {
		t.Errorf("--resolved without -o json: exit %d, %s", code, stderr)
	}
}

// scenario explain FILE prints every key's resolved value and where it
// came from.
func TestScenarioExplainFile(t *testing.T) {
	out, stderr, code := migsim(t, "scenario", "explain", examples+"wan.yaml", "--set", "model.max_rounds=3")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"seed = 7  (integer; file line 10)",
		"network.profile = transatlantic  (text; file line 23)",
		"network.rtt = 80ms  (duration; profile transatlantic)",
		"model.max_rounds = 3  (integer; --set)",
		"model.max_time = 1h0m0s  (duration; default)",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("explain lacks %q", want)
		}
	}
	if strings.Contains(out, "model.prepaging") {
		t.Error("explain lists another model's parameters")
	}
	cal, _, code := migsim(t, "scenario", "explain", "--set", "calibration=local-tcg")
	if code != exitOK || !strings.Contains(cal, "model.setup_time = ") || !strings.Contains(cal, "(duration; calibration local-tcg)") {
		t.Errorf("explain of a calibrated scenario does not name the calibration:\n%s", cal)
	}
	// Without a file or flags: every key of every model, with its doc.
	all, _, _ := migsim(t, "scenario", "explain")
	if !strings.Contains(all, "model.prepaging") || !strings.Contains(all, "# Parameters of model postcopy") {
		t.Error("explain without a file lacks the models' parameters")
	}
	js, _, code := migsim(t, "scenario", "explain", examples+"wan.yaml", "-o", "json")
	var obj map[string]any
	if err := json.Unmarshal([]byte(js), &obj); err != nil || code != exitOK || obj["name"] != "wan" {
		t.Errorf("explain -o json: exit %d, %v, name %v", code, err, obj["name"])
	}
}

// A sweep's directory records the base scenario, the sweep's --set flags
// and the version; every result line carries the version.
func TestSweepProvenance(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", `name: p
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 1000, working_set: 64MiB, duration: 10s, epoch: 10ms}
grid:
  model.name: [precopy, postcopy]
`)
	out := filepath.Join(dir, "out")
	if _, stderr, code := migsim(t, "sweep", spec, "--out", out, "--progress", "none", "--set", "network.profile=lan-1g"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m, err := sweep.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.MigsimVersion != buildinfo.Version() || m.BaseFile != spec || len(m.BaseSets) != 1 || m.BaseSets[0] != "network.profile=lan-1g" {
		t.Errorf("manifest: version %q, base file %q, sets %v", m.MigsimVersion, m.BaseFile, m.BaseSets)
	}
	wantBase := "vm: {memory: 64MiB}\nworkload:\n  generator: {kind: uniform, dirty_rate: 1000, working_set: 64MiB, duration: 10s, epoch: 10ms}\n"
	if m.BaseScenario != wantBase {
		t.Errorf("base scenario %q, want %q", m.BaseScenario, wantBase)
	}
	lines, err := os.ReadFile(filepath.Join(out, sweep.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(lines), `"migsim_version":"`+buildinfo.Version()+`"`); n != 2 {
		t.Errorf("%d result lines carry the version, want 2", n)
	}
	csv, err := os.ReadFile(filepath.Join(out, sweep.CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(csv), "migsim_version") {
		t.Error("the CSV has a migsim_version column")
	}
}

// -o names the format everywhere; where it used to be a path, -o PATH
// still works with a warning, and --out is the new spelling.
func TestOutFlagDeprecation(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", "name: d\nbase:\n  vm: {memory: 64MiB}\n  workload:\n    generator: {kind: idle, working_set: 64MiB, duration: 1s}\n")
	_, stderr, code := migsim(t, "sweep", spec, "-o", filepath.Join(dir, "old"), "--progress", "none")
	if code != exitOK || !strings.Contains(stderr, "warning: migsim sweep: -o/--output PATH is deprecated") || !strings.Contains(stderr, "use --out "+filepath.Join(dir, "old")) {
		t.Errorf("sweep -o DIR: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "old", sweep.ManifestFile)); err != nil {
		t.Errorf("sweep -o DIR did not write there: %v", err)
	}
	_, stderr, code = migsim(t, "sweep", spec, "--out", filepath.Join(dir, "new"), "--progress", "none")
	if code != exitOK || strings.Contains(stderr, "deprecated") {
		t.Errorf("sweep --out DIR: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = migsim(t, "sweep", spec, "--out", filepath.Join(dir, "a"), "-o", filepath.Join(dir, "b"))
	if code != exitUsage || !strings.Contains(stderr, "give the path with --out only") {
		t.Errorf("sweep --out and -o: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = migsim(t, "merge", "-o", filepath.Join(dir, "m"), filepath.Join(dir, "new"))
	if code != exitOK || !strings.Contains(stderr, "warning: migsim merge: -o/--output PATH is deprecated") {
		t.Errorf("merge -o DIR: exit %d, stderr %q", code, stderr)
	}
	gen := []string{"trace", "gen", "--set", "vm.memory=64MiB", "--set", "workload.generator.working_set=64MiB", "--set", "workload.generator.duration=1s"}
	_, stderr, code = migsim(t, append(gen, "--output", filepath.Join(dir, "old.mgt"))...)
	if code != exitOK || !strings.Contains(stderr, "warning: migsim trace gen: -o/--output PATH is deprecated") {
		t.Errorf("trace gen --output FILE: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = migsim(t, append(gen, "--out", filepath.Join(dir, "new.mgt"))...)
	if code != exitOK || strings.Contains(stderr, "deprecated") {
		t.Errorf("trace gen --out FILE: exit %d, stderr %q", code, stderr)
	}
	for _, f := range []string{"old.mgt", "new.mgt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// Where -o is a format, it stays one.
	if out, _, code := migsim(t, "trace", "stats", "-o", "json", filepath.Join(dir, "new.mgt")); code != exitOK || !strings.HasPrefix(out, "{") {
		t.Errorf("trace stats -o json: exit %d, %.40q", code, out)
	}
}
