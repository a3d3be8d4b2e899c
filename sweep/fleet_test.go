package sweep

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/migsim/migsim/fleet"
)

// testFleet is a small fleet: 2 + 1 VMs leaving host a for b over a
// shared 10 Gbit path, on the fluid engine (fleets' default, auto).
const testFleet = `name: small
seed: 3
network: {bandwidth: 10Gbit, rtt: 0.1ms}
hosts:
  - {name: a, nic: 10Gbit}
  - {name: b, nic: 10Gbit}
vms:
  - name: web
    count: 2
    from: a
    to: b
    vm: {memory: 1GiB}
    workload: {generator: {kind: hotcold, dirty_rate: 20000, working_set: 256MiB, duration: 60s}}
    model: {name: precopy, downtime_limit: 300ms}
  - name: db
    from: a
    to: b
    vm: {memory: 2GiB}
    workload: {generator: {kind: uniform, dirty_rate: 60000, working_set: 512MiB, duration: 60s}}
    model: {name: precopy, downtime_limit: 300ms, max_time: 60s}
plan: {max_concurrent: 1}
`

// testFleetSweep sweeps testFleet (in fleet.yaml beside it) over fleet
// keys: 3 × 2 × 2 points.
const testFleetSweep = `name: fs
base: fleet.yaml
grid:
  plan.max_concurrent: [1, 2, 3]
  vms.db.model.downtime_limit: [300ms, 1s]
  plan.order: [fifo, optimize]
`

// writeFleetSweep writes testFleet and a sweep over it into a new
// directory and returns the sweep file's path.
func writeFleetSweep(t *testing.T, sweep string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fleet.yaml"), testFleet)
	path := filepath.Join(dir, "sweep.yaml")
	writeFile(t, path, sweep)
	return path
}

// readCSV returns the rows of a CSV file, header first.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestFleetSweep runs a sweep over a fleet file: each point's row is the
// summary migsim evacuate gives for the fleet with the point's values as
// --set, the planner's columns filled with order optimize only, and the
// axes typed as fleet keys.
func TestFleetSweep(t *testing.T) {
	path := writeFleetSweep(t, testFleetSweep)
	sw, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Kind != KindFleet || sw.Len() != 12 {
		t.Fatalf("kind %q, %d points; want fleet, 12", sw.Kind, sw.Len())
	}
	var cols []string
	for _, a := range sw.Axes {
		cols = append(cols, a.Column+":"+string(a.Type))
	}
	if want := []string{"plan.max_concurrent:int", "vms.db.model.downtime_limit_s:float", "plan.order:string"}; !slices.Equal(cols, want) {
		t.Errorf("axes %v, want %v", cols, want)
	}
	dir := t.TempDir()
	run(t, sw, Options{Dir: dir})
	rows := readCSV(t, filepath.Join(dir, CSVFile))
	head := rows[0]
	col := func(name string) int {
		i := slices.Index(head, name)
		if i < 0 {
			t.Fatalf("no column %s in %v", name, head)
		}
		return i
	}
	for _, name := range []string{"makespan_s", "completed", "vms_not_converged", "vms_not_converged_count", "vm_count", "worst_downtime_s",
		"sum_downtime_s", "transferred_bytes", "peak_concurrency", "max_concurrent", "planner_makespan_s", "planner_fifo_makespan_s",
		"planner_one_at_a_time_makespan_s", "planner_evaluations"} {
		col(name)
	}
	if slices.Contains(head, "vms") || slices.Contains(head, "order") {
		t.Errorf("per-VM detail in the table: %v", head)
	}
	base := filepath.Join(filepath.Dir(path), "fleet.yaml")
	for i, p := range sw.Points {
		f, err := fleet.Load(base, p.Sets)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fleet.Evacuate(t.Context(), f, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		row := rows[i+1]
		if got := row[col("makespan_s")]; got != strconv.FormatFloat(res.MakespanS, 'g', -1, 64) {
			t.Errorf("point %d (%v): makespan %s, evacuate gives %v", i, p.Sets, got, res.MakespanS)
		}
		if got := row[col("vms_not_converged")]; got != strings.Join(res.VMsNotConverged, " ") {
			t.Errorf("point %d: not converged %q, evacuate gives %v", i, got, res.VMsNotConverged)
		}
		if got, want := row[col("transferred_bytes")], strconv.FormatUint(res.TransferredBytes, 10); got != want {
			t.Errorf("point %d: bytes %s, want %s", i, got, want)
		}
		if got, want := row[col("max_concurrent")], strconv.Itoa(res.MaxConcurrent); got != want {
			t.Errorf("point %d: max_concurrent %s, want %s", i, got, want)
		}
		planned := row[col("planner_makespan_s")] != ""
		if optimize := strings.HasSuffix(p.Sets[2], "=optimize"); planned != optimize {
			t.Errorf("point %d (%v): planner columns filled %v", i, p.Sets, planned)
		}
		if planned && row[col("planner_fifo_makespan_s")] != strconv.FormatFloat(res.Planner.FIFO.MakespanS, 'g', -1, 64) {
			t.Errorf("point %d: planner's fifo %s, want %v", i, row[col("planner_fifo_makespan_s")], res.Planner.FIFO.MakespanS)
		}
	}
	// The axes change the fleets: more at once, a shorter makespan here.
	if rows[1][col("makespan_s")] == rows[9][col("makespan_s")] {
		t.Errorf("max_concurrent 1 and 3 give one makespan, %s", rows[1][col("makespan_s")])
	}
}

// TestFleetSweepBase: a base with a vms key is a fleet, inline too; the
// sweep file's kind settles it either way, and a bad kind is an error.
func TestFleetSweepBase(t *testing.T) {
	inline := "name: in\nbase:\n  " + strings.ReplaceAll(strings.TrimSpace(testFleet), "\n", "\n  ") + "\ngrid:\n  vms.web.count: [1, 3]\n"
	sw := loadSweep(t, inline)
	if sw.Kind != KindFleet || sw.Points[1].Fleet == nil || len(sw.Points[1].Fleet.VMs) != 4 {
		t.Errorf("inline fleet: kind %q, point 1 %+v", sw.Kind, sw.Points[1].Fleet)
	}
	for _, tc := range []struct{ text, want string }{
		{"kind: scenario\nbase: fleet.yaml\n", "fleet.yaml:7: vms: unknown key (did you mean vm?)"},
		{"kind: fleet\nbase: {vm: {memory: 1GiB}}\n", "sweep.yaml:2: vm: unknown fleet key"},
		{"kind: fleets\nbase: fleet.yaml\n", "sweep.yaml:1: kind: want scenario or fleet, got \"fleets\""},
	} {
		_, err := Load(writeFleetSweep(t, tc.text), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	sw, err := Load(writeFleetSweep(t, "kind: fleet\nbase: fleet.yaml\n"), nil)
	if err != nil || sw.Kind != KindFleet || sw.Len() != 1 {
		t.Errorf("kind: fleet: %v, %+v", err, sw)
	}
}

// TestFleetSweepErrors: a bad fleet key or value on an axis is the error
// migsim evacuate --set gives for it, at the axis's line.
func TestFleetSweepErrors(t *testing.T) {
	for _, tc := range []struct{ axis, want string }{
		{"plan.max_concurrent: [0, 2]", `sweep.yaml:3: grid plan.max_concurrent: "0": want a whole number, at least 1 (value 0 at point 0)`},
		{"vms.nope.count: [2]", `sweep.yaml:3: grid vms.nope.count: no vms entry is named "nope" (known: web, db)`},
		{"plan.ordr: [fifo]", `sweep.yaml:3: grid plan.ordr: unknown plan key (did you mean order?)`},
		{"vms.web.model.downtim_limit: [1s]", `sweep.yaml:3: grid vms.web.model.downtim_limit: unknown key: no model has it (did you mean downtime_limit?)`},
		{"vms.web.count: [0]", `sweep.yaml:3: grid vms.web.count: "0": want a whole number of VMs from 1 to 100000`},
		{"plan.order: [fifo, fastest]", `sweep.yaml:3: grid plan.order: unknown order "fastest"`},
		{"vms.web.to: [a]", `sweep.yaml:3: grid vms.web.to: the VM would migrate from "a" to itself`},
		{"vms.db.model.downtime_limit: [3]", `sweep.yaml:3: grid vms.db.model.downtime_limit: duration "3" has no unit`},
		{"plans.order: [fifo]", `sweep.yaml:3: grid plans.order: unknown fleet key (did you mean plan?)`},
	} {
		_, err := Load(writeFleetSweep(t, "base: fleet.yaml\ngrid:\n  "+tc.axis+"\n"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.axis, err, tc.want)
		}
		var se *Error
		if err != nil && !errors.As(err, &se) {
			t.Errorf("%s: error %T is not a sweep *Error", tc.axis, err)
		}
	}
}

// TestFleetSweepResumeShards: a fleet sweep resumed from a cut journal,
// and one run as shards and merged, write what one run writes, byte for
// byte; with detail the lines hold each fleet's order and VMs, and the
// tables stay the same.
func TestFleetSweepResumeShards(t *testing.T) {
	path := writeFleetSweep(t, testFleetSweep+"latin:\n  n: 2\n  keys:\n    network.bandwidth: {min: 5Gbit, max: 20Gbit}\n")
	sw, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	run(t, sw, Options{Dir: full, Workers: 2})

	lines := journalLines(t, full)
	dir := t.TempDir()
	run(t, sw, Options{Dir: dir, Workers: 1})
	var j []byte
	for _, p := range []int{7, 2, 19} {
		j = append(j, lines[p]...)
	}
	j = append(j, lines[4][:30]...)
	if err := os.WriteFile(filepath.Join(dir, JournalFile), j, 0o644); err != nil {
		t.Fatal(err)
	}
	if sum := run(t, sw, Options{Dir: dir, Resume: true}); sum.Resumed != 3 || sum.Ran != sw.Len()-3 {
		t.Errorf("resume: %+v", sum)
	}
	sameOutputs(t, full, dir)

	root := t.TempDir()
	var shards []string
	for k := 1; k <= 3; k++ {
		d := filepath.Join(root, fmt.Sprint(k))
		run(t, sw, Options{Dir: d, Shard: Shard{k, 3}})
		shards = append(shards, d)
	}
	merged := filepath.Join(root, "merged")
	if err := Merge(merged, shards, MergeOptions{Formats: allFormats}); err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, full, merged)

	detail := t.TempDir()
	run(t, sw, Options{Dir: detail, Detail: true})
	for _, f := range []string{CSVFile, ParquetFile} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		b, _ := os.ReadFile(filepath.Join(detail, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs with detail", f)
		}
	}
	var r struct {
		Result fleet.Summary `json:"result"`
	}
	if err := json.Unmarshal(journalLines(t, detail)[0], &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Result.VMs) != 3 || len(r.Result.Order) != 3 {
		t.Errorf("a detailed line holds %d VMs and an order of %d, want 3 each", len(r.Result.VMs), len(r.Result.Order))
	}
	if bytes.Contains(journalLines(t, full)[0], []byte(`"vms":[`)) {
		t.Error("a line without detail holds the VMs")
	}
}

// TestFleetSweepExamples loads the fleet sweeps shipped under
// scenarios/fleets/sweeps.
func TestFleetSweepExamples(t *testing.T) {
	files, err := filepath.Glob("../scenarios/fleets/sweeps/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("found %v (%v), want the shipped fleet sweeps", files, err)
	}
	for _, f := range files {
		sw, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if sw.Kind != KindFleet || sw.Len() == 0 {
			t.Errorf("%s: kind %q, %d points", f, sw.Kind, sw.Len())
		}
	}
}
