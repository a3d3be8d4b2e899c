package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/sweep"
)

// killSweep is 120 small points, about a second of work on two cores.
const killSweep = `name: kill
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  network.bandwidth: [200Mbit, 500Mbit, 1Gbit]
  model.name: [precopy, postcopy]
repeat: 20
`

// sameDirs fails unless the sweep outputs in a and b are equal, byte for
// byte.
func sameDirs(t *testing.T, a, b string) {
	t.Helper()
	for _, f := range []string{sweep.ManifestFile, sweep.JournalFile, sweep.CSVFile, sweep.ParquetFile} {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s", f, a, b)
		}
	}
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// TestSweepKillResume starts the real migsim sweep as a process, kills it
// with SIGKILL while it runs (twice), resumes it with --resume, and wants
// the outputs of an uninterrupted run, byte for byte.
func TestSweepKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the migsim binary")
	}
	dir := t.TempDir()
	spec := writeFile(t, dir, "kill.yaml", killSweep)

	// One binary for the reference and the killed runs: results carry
	// migsim_version, which a test binary and a built one (with VCS
	// information) do not share.
	bin := filepath.Join(dir, "migsim")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ref := filepath.Join(dir, "ref")
	if out, err := exec.Command(bin, "sweep", spec, "--out", ref, "--progress", "none").CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v: %s", err, out)
	}

	out := filepath.Join(dir, "out")
	journal := filepath.Join(out, sweep.JournalFile)
	const points = 120
	for round, atLeast := range []int{5, 40} {
		cmd := exec.Command(bin, "sweep", spec, "--out", out, "--resume", "--progress", "none", "--workers", "2")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for countLines(journal) < atLeast && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the sweep was not killed mid-run (%v); stderr:\n%s", round, err, stderr.String())
		}
		n := countLines(journal)
		if n < atLeast || n >= points {
			t.Fatalf("round %d: killed with %d of %d points in the journal, want at least %d and not all", round, n, points, atLeast)
		}
		if _, err := os.Stat(filepath.Join(out, sweep.CSVFile)); !os.IsNotExist(err) {
			t.Errorf("round %d: a killed run has a CSV file: %v", round, err)
		}
		t.Logf("round %d: killed with %d points in the journal", round, n)
	}

	cmd := exec.Command(bin, "sweep", spec, "--out", out, "--resume", "--progress", "none")
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !strings.Contains(string(stdout), fmt.Sprintf("%d points (", points)) || strings.Contains(string(stdout), " 0 resumed") {
		t.Errorf("resume summary %q", stdout)
	}
	sameDirs(t, ref, out)
}

// TestSweepShardsCLI runs a sweep in three shards through the command
// line, merges them, and compares with the unsharded run.
func TestSweepShardsCLI(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", strings.Replace(killSweep, "repeat: 20", "repeat: 2", 1))
	ref := filepath.Join(dir, "ref")
	if _, stderr, code := migsim(t, "sweep", spec, "-o", ref, "--progress", "none"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var shards []string
	for _, k := range []string{"1", "2", "3"} {
		d := filepath.Join(dir, "shard-"+k)
		stdout, stderr, code := migsim(t, "sweep", spec, "-o", d, "--shard", k+"/3", "--progress", "lines")
		if code != exitOK {
			t.Fatalf("shard %s: exit %d: %s", k, code, stderr)
		}
		if !strings.Contains(stdout, "shard "+k+"/3, 4 points (4 run, 0 resumed)") || !strings.Contains(stderr, "sweep: 4/4 points  100.0%") {
			t.Errorf("shard %s: stdout %q, stderr %q", k, stdout, stderr)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(dir, "merged")
	stdout, stderr, code := migsim(t, append([]string{"merge", "-o", merged}, shards...)...)
	if code != exitOK || !strings.Contains(stdout, "merged 3 shards of sweep kill: 12 points") {
		t.Fatalf("merge: exit %d: %s%s", code, stdout, stderr)
	}
	sameDirs(t, ref, merged)

	_, stderr, code = migsim(t, "merge", "-o", filepath.Join(dir, "m2"), shards[0], shards[2])
	if code != exitError || !strings.Contains(stderr, "merge: shard 2/3 is missing") {
		t.Errorf("merge with a shard missing: exit %d: %s", code, stderr)
	}
}

// TestSweepErrorsCLI checks that bad sweeps and flags fail before anything
// runs, with the usage exit code for flags.
func TestSweepErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", strings.Replace(killSweep, "repeat: 20", "repeat: 1", 1))
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(killSweep, "network.bandwidth:", "network.bandwith:", 1))
	zip := writeFile(t, dir, "zip.yaml", "zip:\n  network.rtt: [1ms, 2ms]\n  network.bandwidth: [1Gbit]\n")
	empty := writeFile(t, dir, "empty.yaml", "grid:\n  network.rtt: []\n")
	for _, tc := range []struct {
		args   []string
		code   exitCode
		stderr string
	}{
		{[]string{"sweep", bad}, exitError, bad + ":7: grid network.bandwith: unknown key (did you mean bandwidth?)"},
		{[]string{"sweep", zip}, exitError, zip + ":3: zip network.bandwidth: has 1 values but network.rtt has 2"},
		{[]string{"sweep", empty}, exitError, empty + ":2: grid network.rtt: empty axis"},
		{[]string{"sweep", good, "--shard", "3/2"}, exitUsage, "invalid value for --shard: shard 3/2: k must be between 1 and 2"},
		{[]string{"sweep", good, "--shard", "two"}, exitUsage, `invalid value for --shard: shard "two": want k/n`},
		{[]string{"sweep", good, "--format", "xlsx"}, exitUsage, `format "xlsx": want csv, jsonl or parquet`},
		{[]string{"sweep", good, "--progress", "loud"}, exitUsage, `invalid value "loud" for --progress`},
		{[]string{"sweep"}, exitUsage, "accepts 1 arg(s), received 0"},
		{[]string{"merge", dir}, exitUsage, "merge: --out DIR is required"},
		{[]string{"merge", "-o", filepath.Join(dir, "m"), dir}, exitError, "sweep.json: no such file"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := migsim(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q, want %q", code, tc.code, stderr, tc.stderr)
			}
		})
	}
	for _, f := range []string{bad, zip, empty, good} {
		if _, err := os.Stat(strings.TrimSuffix(filepath.Base(f), ".yaml") + "-results"); !os.IsNotExist(err) {
			t.Errorf("a failed sweep left an output directory: %v", err)
		}
	}
}

func TestSweepDryRun(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", killSweep)
	stdout, stderr, code := migsim(t, "sweep", spec, "--dry-run", "--shard", "2/3", "-o", filepath.Join(dir, "out"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"points  40 in shard 2/3 of 120", "axis    network.bandwidth (grid): 3 values, column network.bandwidth_bps",
		"axis    seed (repeat): 20 values", "estimate  ", "  1  network.bandwidth=200Mbit model.name=precopy seed=2"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("a dry run wrote its output directory: %v", err)
	}
}

func TestSweepFlags(t *testing.T) {
	var got *sweepOptions
	cmd := newSweepCmd(streams{}, func(_ *cobra.Command, o *sweepOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"s.yaml", "-o", "d", "-j", "3", "--shard", "2/4", "--resume", "--format", "csv", "--set", "seed=2", "--trace-cache", "0"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	opts, err := got.runOptions()
	if err != nil {
		t.Fatal(err)
	}
	if got.file != "s.yaml" || !slices.Equal(got.sets, []string{"seed=2"}) || opts.Dir != "d" || opts.Workers != 3 ||
		opts.Shard != (sweep.Shard{K: 2, N: 4}) || !opts.Resume || !opts.Formats.CSV || opts.Formats.Parquet || opts.TraceCache != 0 {
		t.Errorf("parsed %+v into %+v", *got, opts)
	}
}

// TestSweepFleetCLI sweeps a fleet file: --assert over the fleet
// summary's keys names the failing points, plot draws the CSV, and an
// assertion over a scenario key is a usage error.
func TestSweepFleetCLI(t *testing.T) {
	dir := t.TempDir()
	fleetFile := writeFile(t, dir, "fleet.yaml", `name: two
network: {bandwidth: 10Gbit, rtt: 0.1ms}
vms:
  - name: web
    count: 2
    vm: {memory: 1GiB}
    workload: {generator: {kind: uniform, dirty_rate: 20000, working_set: 256MiB, duration: 60s}}
    model: {name: precopy, downtime_limit: 300ms}
`)
	spec := writeFile(t, dir, "s.yaml", "base: "+fleetFile+"\ngrid:\n  plan.max_concurrent: [1, 2]\n  network.bandwidth: [1Gbit, 10Gbit]\n")
	out := filepath.Join(dir, "out")
	_, stderr, code := migsim(t, "sweep", spec, "--out", out, "--progress", "none", "--assert", "makespan_s < 10")
	if code != exitAssert || !strings.Contains(stderr, "assertion failed: point 0 (plan.max_concurrent=1 network.bandwidth_bps=1e+09): makespan_s < 10 is false") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, stderr, code := migsim(t, "plot", filepath.Join(out, "results.csv"), "--x", "plan.max_concurrent", "--y", "makespan_s", "--by", "network.bandwidth",
		"--out", filepath.Join(dir, "f.svg")); code != exitOK {
		t.Errorf("plot: exit %d: %s", code, stderr)
	}
	if _, stderr, code := migsim(t, "sweep", spec, "--out", filepath.Join(dir, "o2"), "--assert", "downtime_s < 1"); code != exitUsage || !strings.Contains(stderr, "downtime_s") {
		t.Errorf("--assert on a scenario key: exit %d: %s", code, stderr)
	}
	if _, stderr, code := migsim(t, "sweep", spec, "--out", filepath.Join(dir, "o3"), "--assert", "len(vms) == 2"); code != exitUsage || !strings.Contains(stderr, "reads vms, which results.jsonl holds only with --detail") {
		t.Errorf("--assert on vms without --detail: exit %d: %s", code, stderr)
	}
}
