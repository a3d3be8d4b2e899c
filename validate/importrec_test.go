package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/migsim/migsim/lab"
)

// field is a sample of validate/testdata/field.
func field(name string) string { return filepath.Join("testdata", "field", name) }

// factOf returns the value of key among facts and where it came from;
// ok is false when absent.
func factOf(facts []Fact, key string) (value, from string, ok bool) {
	for _, f := range facts {
		if f.Key == key {
			return f.Value, f.From, true
		}
	}
	return "", "", false
}

// labRecord writes the real run of lab comparison c the way a user would
// hand it over: as the lab run object ("real" of validate run --json) or
// as the bare final query-migrate reply.
func labRecord(t *testing.T, dir string, c *Comparison, finalOnly bool) string {
	t.Helper()
	var v any = map[string]any{"final_query_migrate": c.Real.Final, "series": c.Real.Series}
	if finalOnly {
		v = map[string]any{"return": c.Real.Final}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, c.Scenario+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportQMPMatchesLab: the QMP records the lab keeps, read back as
// field records, give the figures the lab itself took from the same
// replies: the import reads QEMU's query-migrate as the lab does.
func TestImportQMPMatchesLab(t *testing.T) {
	res := readResult(t, "testdata/ci-results-quiet.json.gz")
	dir := t.TempDir()
	for _, c := range res.Comparisons {
		for _, finalOnly := range []bool{false, true} {
			p := labRecord(t, dir, c, finalOnly)
			recs, errs := parseQMPRecords(p, mustRead(t, p))
			if len(errs) > 0 || len(recs) != 1 {
				t.Fatalf("%s (final only %v): %d records, errors %v", c.Scenario, finalOnly, len(recs), errs)
			}
			r, want := recs[0], c.Real.Metrics
			got := r.metrics
			if want.QEMUDowntimeS > 0 { // the lab's downtime is the guest's; QEMU's is kept apart
				want.DowntimeS, want.QEMUDowntimeS = want.QEMUDowntimeS, 0
			}
			// Stall time is the destination's postcopy-blocktime, which
			// the lab asks the destination for; the source's reply has none.
			want.StallTimeS = 0
			if got != want {
				t.Errorf("%s: imported metrics\n%+v\nlab's\n%+v", c.Scenario, got, want)
			}
			if v, _, _ := factOf(r.facts, "vm.memory"); v == "" {
				t.Errorf("%s: no vm.memory fact", c.Scenario)
			}
			postcopy := c.Model != "precopy"
			if r.postcopy != postcopy {
				t.Errorf("%s: post-copy %v, want %v (model %s)", c.Scenario, r.postcopy, postcopy, c.Model)
			}
			_, _, hasRate := factOf(r.facts, "workload.generator.dirty_rate")
			if finalOnly && hasRate {
				t.Errorf("%s: a final reply gave a dirty rate (QEMU reports none once completed)", c.Scenario)
			}
			if !finalOnly && c.Model == "precopy" {
				rate, k := pollDirtyRate(c.Real.Series)
				if !hasRate || k == 0 || rate <= 0 {
					t.Errorf("%s: polled series gave no dirty rate", c.Scenario)
				}
			}
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportQMPStream: a QMP session's log (greeting, empty replies,
// parameters, capabilities, polls, an event) splits into its migrations;
// the completed one takes its settled final reply and its settings, the
// failed one is an incomplete migration.
func TestImportQMPStream(t *testing.T) {
	p := field("app1.qmp.jsonl")
	recs, errs := parseQMPRecords(p, mustRead(t, p))
	if len(recs) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrIncompleteMigration) {
		t.Fatalf("records %d, errors %v: want one record and one incomplete migration", len(recs), errs)
	}
	if !strings.Contains(errs[0].Error(), "app1.qmp.jsonl:16:") || !strings.Contains(errs[0].Error(), "Connection reset by peer") {
		t.Errorf("incomplete migration error %q: want its line and QEMU's error-desc", errs[0])
	}
	r := recs[0]
	if r.line != 7 {
		t.Errorf("record starts at line %d, want 7 (its first query-migrate reply)", r.line)
	}
	// The first completed reply has downtime 0: QEMU had not settled.
	if r.metrics.DowntimeS != 0.094 || r.metrics.TotalTimeS != 13.63 || r.metrics.DowntimeBytes != 12288000 {
		t.Errorf("metrics %+v: want the last completed reply's (downtime 94 ms)", r.metrics)
	}
	want := map[string]string{
		"vm.memory":                     "4113MiB",
		"model.max_bandwidth":           "128MiB/s",
		"model.downtime_limit":          "300ms",
		"model.multifd.channels":        "2",
		"model.auto_converge":           "true",
		"model.xbzrle.enabled":          "false",
		"model.name":                    "precopy",
		"workload.generator.dirty_rate": "3840", // the distinct polled values 4096 and 3584
	}
	for k, v := range want {
		if got, _, _ := factOf(r.facts, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(r.series) != 7 {
		t.Errorf("%d samples, want the 7 query-migrate replies of the migration", len(r.series))
	}
}

// TestImportVirsh: the plain and --rawstats outputs of the same
// migration give the same metrics; the plain one's memory, rounded by
// virsh to three decimals, is brought to whole pages and says so.
func TestImportVirsh(t *testing.T) {
	plain, errs := parseVirshRecords(field("db1.jobinfo.txt"), mustRead(t, field("db1.jobinfo.txt")))
	if len(errs) > 0 || len(plain) != 1 {
		t.Fatalf("plain: %v", errs)
	}
	raw, errs := parseVirshRecords(field("db1.rawstats.txt"), mustRead(t, field("db1.rawstats.txt")))
	if len(errs) > 0 || len(raw) != 1 {
		t.Fatalf("rawstats: %v", errs)
	}
	p, r := plain[0].metrics, raw[0].metrics
	if r.TotalTimeS != 9.412 || r.DowntimeS != 0.071 || r.SetupTimeS != 0.023 || r.TransferredBytes != 2487951360 ||
		r.DirtySyncCount != 4 || r.Pages.Zero != 1496326 || r.Pages.Normal != 602879 || r.Pages.Total != 2101248 {
		t.Errorf("rawstats metrics %+v", r)
	}
	if p.TotalTimeS != r.TotalTimeS || p.DowntimeS != r.DowntimeS || p.DirtySyncCount != r.DirtySyncCount || p.Pages.Zero != r.Pages.Zero {
		t.Errorf("plain %+v differs from rawstats %+v", p, r)
	}
	// "2.317 GiB" is 2.317 × 2^30 to a byte: within half a unit of the
	// third decimal of the exact 2487951360.
	if d := math.Abs(float64(p.TransferredBytes) - float64(r.TransferredBytes)); d > 0.0005*(1<<30) {
		t.Errorf("plain transferred %d, rawstats %d", p.TransferredBytes, r.TransferredBytes)
	}
	rm, _, _ := factOf(raw[0].facts, "vm.memory")
	pm, pfrom, _ := factOf(plain[0].facts, "vm.memory")
	if rm != "8208MiB" || pm == "" || !strings.Contains(pfrom, "rounded to whole pages") {
		t.Errorf("vm.memory rawstats %q, plain %q from %q", rm, pm, pfrom)
	}
	if !slices.Equal(plain[0].measured, raw[0].measured) || slices.Contains(raw[0].measured, "bandwidth_bps") {
		t.Errorf("measured plain %v rawstats %v: want the same, without bandwidth_bps (no downtime bytes)", plain[0].measured, raw[0].measured)
	}
	if _, _, ok := factOf(raw[0].facts, "workload.generator.dirty_rate"); ok || raw[0].missing["workload.generator.dirty_rate"] == "" {
		t.Error("a completed job's dirty rate of 0 was taken as a measurement")
	}

	// A completed post-copy job and a failed one.
	recs, errs := parseVirshRecords(field("web1.jobinfo.txt"), mustRead(t, field("web1.jobinfo.txt")))
	if len(recs) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrIncompleteMigration) || !strings.Contains(errs[0].Error(), "web1.jobinfo.txt:21:") {
		t.Fatalf("records %d, errors %v", len(recs), errs)
	}
	if v, _, _ := factOf(recs[0].facts, "model.name"); v != "hybrid" || recs[0].metrics.PostcopyRequests != 1873 {
		t.Errorf("post-copy job: model %q, requests %d", v, recs[0].metrics.PostcopyRequests)
	}
}

// TestImportKubeVirt reads the migration objects: total time from the
// timestamps, the mode and the configuration; a failed migration is an
// incomplete one.
func TestImportKubeVirt(t *testing.T) {
	recs, errs := parseKubeVirtRecords(field("vmim-db2.yaml"), mustRead(t, field("vmim-db2.yaml")))
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatalf("%v", errs)
	}
	r := recs[0]
	if r.vm != "db2" || r.name != "kubevirt-evacuation-db2" || r.metrics.TotalTimeS != 11 || !slices.Equal(r.measured, []string{"total_time_s"}) {
		t.Errorf("vm %q name %q total %v measured %v", r.vm, r.name, r.metrics.TotalTimeS, r.measured)
	}
	if v, _, _ := factOf(r.facts, "model.max_bandwidth"); v != "1024MiB/s" {
		t.Errorf("max_bandwidth %q, want 1024MiB/s (1Gi)", v)
	}
	if _, _, ok := factOf(r.facts, "vm.memory"); ok {
		t.Error("a VirtualMachineInstanceMigration gave vm.memory")
	}

	recs, errs = parseKubeVirtRecords(field("vmims.json"), mustRead(t, field("vmims.json")))
	if len(recs) != 1 || len(errs) != 1 || !errors.Is(errs[0], ErrIncompleteMigration) {
		t.Fatalf("list: records %d, errors %v", len(recs), errs)
	}
	if v, _, _ := factOf(recs[0].facts, "model.name"); v != "hybrid" || recs[0].metrics.TotalTimeS != 107 {
		t.Errorf("post-copy migration: model %q, total %v", v, recs[0].metrics.TotalTimeS)
	}

	recs, errs = parseKubeVirtRecords(field("vmi-web3.yaml"), mustRead(t, field("vmi-web3.yaml")))
	if len(errs) > 0 || len(recs) != 1 {
		t.Fatalf("vmi: %v", errs)
	}
	if v, _, _ := factOf(recs[0].facts, "vm.memory"); v != "2GiB" || recs[0].metrics.TotalTimeS != 6.5 {
		t.Errorf("vmi: memory %q total %v", v, recs[0].metrics.TotalTimeS)
	}
	if v, _, _ := factOf(recs[0].facts, "model.auto_converge"); v != "true" {
		t.Errorf("vmi: auto_converge %q", v)
	}
}

// TestImportBadRecords: a bad record is an error naming the file, the
// line and what was expected.
func TestImportBadRecords(t *testing.T) {
	cases := []struct {
		name, file, text string
		want             []string
		format           FieldFormat
	}{
		{"virsh unit", "a.txt", "Job type:         Completed\nTime elapsed:     12 s\n", []string{"a.txt:2:", "Time elapsed", "whole number of ms"}, ""},
		{"virsh size", "a.txt", "Job type: Completed\nTime elapsed: 12 ms\nMemory total: 8 GB\n", []string{"a.txt:3:", "Memory total", "8.000 GiB"}, ""},
		{"virsh missing", "a.txt", "Job type: Completed\nTime elapsed: 12 ms\nTotal downtime: 5 ms\nMemory processed: 1.000 GiB\n", []string{"a.txt:1:", "Memory total"}, ""},
		{"virsh not a migration", "a.txt", "Job type: Completed\nOperation: Save\nTime elapsed: 12 ms\n", []string{"a.txt:1:", "Operation", "not a migration"}, ""},
		{"virsh junk", "a.txt", "hello\n", []string{"a.txt:1:", "Label: value", "domjobinfo"}, FormatVirsh},
		{"virsh no job type", "a.txt", "Operation: Outgoing migration\n", []string{"a.txt:1:", "Job type"}, FormatVirsh},
		{"unknown format", "a.txt", "hello\n", []string{"a.txt:", "unknown record format", "--format"}, ""},
		{"qmp running", "a.json", `{"return": {"status": "active", "total-time": 100, "ram": {"total": 4096}}}`, []string{"a.json:1:", "still active", "completed"}, ""},
		{"qmp not json", "a.json", "{\"return\": {\"status\": \"completed\",\n oops", []string{"a.json:1:"}, ""},
		{"qmp other object", "a.json", `{"return": {"foo": 1}}`, []string{"a.json:1:", "query-migrate reply"}, ""},
		{"qmp no total", "a.json", `{"return": {"status": "completed", "downtime": 5, "ram": {"total": 4096}}}`, []string{"a.json:1:", "total-time"}, ""},
		{"qmp odd memory", "a.json", `{"return": {"status": "completed", "total-time": 100, "downtime": 5, "ram": {"total": 4097, "page-size": 4096}}}`, []string{"a.json:1:", "ram.total 4097", "whole number"}, ""},
		{"kubevirt time", "a.yaml", "kind: VirtualMachineInstanceMigration\nmetadata: {name: m}\nspec: {vmiName: v}\nstatus:\n  migrationState:\n    completed: true\n    startTimestamp: yesterday\n    endTimestamp: \"2024-05-01T10:00:14Z\"\n", []string{"a.yaml:7:", "startTimestamp", "RFC 3339"}, ""},
		{"kubevirt kind", "a.yaml", "kind: Pod\nmetadata: {name: p}\n", []string{"a.yaml:1:", "kind \"Pod\"", "VirtualMachineInstanceMigration"}, FormatKubeVirt},
		{"kubevirt no state", "a.yaml", "kind: VirtualMachineInstanceMigration\nmetadata: {name: m}\nstatus: {phase: Pending}\n", []string{"a.yaml:1:", "migrationState: missing"}, ""},
		{"kubevirt bandwidth", "a.yaml", "kind: VirtualMachineInstanceMigration\nmetadata: {name: m}\nstatus:\n  migrationState:\n    completed: true\n    startTimestamp: \"2024-05-01T10:00:03Z\"\n    endTimestamp: \"2024-05-01T10:00:14Z\"\n    migrationConfiguration:\n      bandwidthPerMigration: fast\n", []string{"a.yaml:9:", "bandwidthPerMigration", "quantity"}, ""},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, errs := readRecordFile(p, c.format)
			err := errors.Join(errs...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestFieldMapping: the mapping file is read strictly, and a record's
// facts combine as documented: --set over vms entries over the record
// over defaults, each replaced record value noted, keys of another model
// left out, a missing fact named with the reason the record lacks it.
func TestFieldMapping(t *testing.T) {
	dir := t.TempDir()
	bad := map[string][]string{
		"defaults:\n  network.bandwith: 1Gbit\n":            {"m.yaml:2:", "network.bandwith", "unknown scenario key"},
		"defaults:\n  vm.memory: [1, 2]\n":                  {"m.yaml:2:", "single value"},
		"vms:\n  - set: {vm.memory: 1GiB}\n":                {"m.yaml:2:", "vms[0].match: missing"},
		"vms:\n  - match: \"[\"\n    set: {}\n":             {"m.yaml:2:", "vms[0].match"},
		"default:\n  vm.memory: 1GiB\n":                     {"m.yaml:1:", "unknown section"},
		"defaults:\n  vm.memory: 1GiB\n  vm.memory: 2GiB\n": {"m.yaml:3:", "repeated"},
	}
	for text, want := range bad {
		p := filepath.Join(dir, "m.yaml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFieldMapping(p)
		if err == nil {
			t.Errorf("%q: no error", text)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", text, err, w)
			}
		}
	}

	m, err := LoadFieldMapping(field("fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := &fieldRecord{format: FormatQMP, file: "x.json", line: 3, vm: "web7"}
	r.fact("vm.memory", "4GiB", "ram.total")
	r.fact("model.name", "precopy", "completed without post-copy")
	r.fact("model.max_bandwidth", "128MiB/s", "query-migrate-parameters max-bandwidth")
	r.fact("model.auto_converge", "true", "cpu-throttle-percentage polled")
	facts, notes, err := r.assemble(m, []string{"network.bandwidth=25Gbit"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"vm.memory":                     "4GiB",     // the record, over nothing
		"model.max_bandwidth":           "128MiB/s", // the record over the defaults' 0
		"model.auto_converge":           "true",     // the record over the defaults' false
		"workload.generator.dirty_rate": "20000",    // the web* entry
		"network.bandwidth":             "25Gbit",   // --set over the defaults
	}
	for k, v := range want {
		if got, _, _ := factOf(facts, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, _, ok := factOf(facts, "model.precopy_rounds"); ok {
		t.Error("model.precopy_rounds, a hybrid key, reached a pre-copy record")
	}
	if len(notes) != 0 {
		t.Errorf("notes %v: nothing the record gives was replaced", notes)
	}
	_, notes, err = r.assemble(m, []string{"vm.memory=8GiB"})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "8GiB replaces the record's 4GiB") {
		t.Errorf("notes %v, error %v: want one on vm.memory", notes, err)
	}

	r.lacks("network.bandwidth", "records never say")
	_, _, err = r.assemble(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "x.json:3 (qmp)") || !strings.Contains(err.Error(), "network.bandwidth (records never say)") ||
		!strings.Contains(err.Error(), "workload.generator.kind") {
		t.Errorf("missing facts error %v", err)
	}
}

// importSamples imports every sample record with the sample mapping.
func importSamples(t *testing.T) *FieldImport {
	t.Helper()
	m, err := LoadFieldMapping(field("fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"app1.qmp.jsonl", "db1.jobinfo.txt", "db1.rawstats.txt", "web1.jobinfo.txt", "vmim-db2.yaml", "vmims.json", "vmi-web3.yaml"}
	for i := range files {
		files[i] = field(files[i])
	}
	fi, err := ImportRecords(context.Background(), files, ImportOptions{Mapping: m, SkipIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestImportRoundTrip: the written suite and results are what
// "validate gate" and "calibrate" read: the suite loads, the results read
// back equal, every case re-simulated as calibrate --evaluate does gives
// the import's own comparison, and the output is the same byte for byte
// from one import to the next.
func TestImportRoundTrip(t *testing.T) {
	fi := importSamples(t)
	if len(fi.Result.Comparisons) != 7 || len(fi.Skipped) != 3 {
		t.Fatalf("%d comparisons, %d skipped: want 7 and 3", len(fi.Result.Comparisons), len(fi.Skipped))
	}
	for _, c := range fi.Result.Comparisons {
		var names []string
		for _, m := range c.Metrics {
			names = append(names, m.Name)
		}
		// compareRun's order, the record's metrics only.
		want := slices.DeleteFunc(slices.Clone(c.Field.Measured), func(n string) bool { return !slices.Contains(names, n) })
		if !slices.Equal(names, want) || len(names) == 0 {
			t.Errorf("%s: metrics %v, measured %v", c.Scenario, names, c.Field.Measured)
		}
	}
	dir := t.TempDir()
	ths := []Threshold{{Metric: "total_time_s", Model: "precopy", Median: 10, Worst: 100}, {Metric: "stall_time_s", Median: 1}}
	keep, drop := FieldThresholds(ths, fi.Result)
	if len(keep) != 1 || len(drop) != 1 || drop[0].Metric != "stall_time_s" {
		t.Errorf("kept %v, dropped %v: no record measures stall time", keep, drop)
	}
	if err := fi.Write(dir, keep); err != nil {
		t.Fatal(err)
	}
	suite, err := LoadSuite(filepath.Join(dir, "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ReadSuiteResult(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(suite.Cases) != len(res.Comparisons) || len(suite.Gate) != 1 {
		t.Fatalf("suite: %d cases, %d thresholds", len(suite.Cases), len(suite.Gate))
	}
	if vs := res.Gate(suite.Gate); len(vs) != 0 {
		t.Errorf("gate %v: a 1000 %% median cannot be crossed", vs)
	}
	re, err := Resimulate(context.Background(), suite, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range re.Comparisons {
		a, _ := json.Marshal(c.Sim)
		b, _ := json.Marshal(res.Comparisons[i].Sim)
		if !bytes.Equal(a, b) || !slices.Equal(c.Metrics, res.Comparisons[i].Metrics) {
			t.Errorf("%s: re-simulated from the suite file, the case differs from the import's", c.Scenario)
		}
	}

	dir2 := t.TempDir()
	if err := importSamples(t).Write(dir2, keep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"suite.yaml", "results.json", "base.yaml"} {
		if !bytes.Equal(mustRead(t, filepath.Join(dir, f)), mustRead(t, filepath.Join(dir2, f))) {
			t.Errorf("%s differs between two imports of the same records", f)
		}
	}
}

// importLabRuns imports the quiet recording's uniform pre-copy lab runs
// (no multifd, no XBZRLE) as field records, with the lab's settings and a
// generator of kind in the mapping.
func importLabRuns(t *testing.T, kind string) *FieldImport {
	t.Helper()
	res := readResult(t, "testdata/ci-results-quiet.json.gz")
	dir := t.TempDir()
	var files []string
	for _, c := range res.Comparisons {
		if c.Model == "precopy" && c.shaping() == lab.ShapingQEMU && !strings.Contains(c.Scenario, "multifd") && !strings.Contains(c.Scenario, "xbzrle") {
			files = append(files, labRecord(t, dir, c, false))
		}
	}
	if len(files) < 6 {
		t.Fatalf("%d pre-copy lab runs, want 6", len(files))
	}
	mp := filepath.Join(dir, "lab.yaml")
	mapping := `defaults:
  network.bandwidth: 2Gbit
  model.downtime_limit: 300ms
  model.auto_converge: false
  workload.generator.kind: ` + kind + `
  workload.generator.working_set: 64MiB
vms:
  - {match: "*200mbit", set: {model.max_bandwidth: 200Mbit}}
  - {match: "*400mbit", set: {model.max_bandwidth: 400Mbit}}
`
	if err := os.WriteFile(mp, []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFieldMapping(mp)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := ImportRecords(context.Background(), files, ImportOptions{Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestImportLabAccuracy: the lab's pre-copy runs, imported as field
// records with the lab's settings and a cyclic (sequential) writer at the
// rate fitted to QEMU's last polled dirty rate (for this writer close to
// it; TestImportFitsDirtyRate holds the uniform one), are simulated about
// as well as the lab
// simulates them on the traces its guests replayed: the scenarios built
// from the records stand for the migrations.
func TestImportLabAccuracy(t *testing.T) {
	fi := importLabRuns(t, "sequential")
	var tt []float64
	for _, c := range fi.Result.Comparisons {
		if !c.Sim.Converged {
			t.Errorf("%s: the real migration converged, the simulated one did not (%s)", c.Scenario, c.Sim.StopReason)
		}
		for _, me := range c.Metrics {
			if me.Name == "total_time_s" {
				tt = append(tt, math.Abs(me.RelErr))
			}
		}
	}
	if med := median(tt); med > 0.15 {
		t.Errorf("median |error| of total time %.1f %%: the scenarios built from the records are off", 100*med)
	}
}

// TestParseQuantity reads Kubernetes quantities as KubeVirt writes them.
func TestParseQuantity(t *testing.T) {
	for s, want := range map[string]float64{"0": 0, "64Mi": 64 << 20, "1Gi": 1 << 30, "100M": 1e8, "1.5Gi": 1.5 * (1 << 30), "1e3": 1000, "500m": 0.5} {
		if got, err := parseQuantity(s); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "fast", "-1Mi", "1MiB", "Mi"} {
		if _, err := parseQuantity(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// BenchmarkImportSamples imports the seven sample records (reading,
// building seven scenarios, simulating them).
func BenchmarkImportSamples(b *testing.B) {
	m, err := LoadFieldMapping(field("fleet.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	files := []string{"app1.qmp.jsonl", "db1.jobinfo.txt", "db1.rawstats.txt", "web1.jobinfo.txt", "vmim-db2.yaml", "vmims.json", "vmi-web3.yaml"}
	for i := range files {
		files[i] = field(files[i])
	}
	for b.Loop() {
		if _, err := ImportRecords(context.Background(), files, ImportOptions{Mapping: m, SkipIncomplete: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestImportFitsDirtyRate: QEMU's polled ram.dirty-pages-rate counts only
// pages not already waiting to be sent, so it is below the guest's dirty
// rate; the import fits the workload's rate so that the case's scenario
// reports QEMU's last polled figure as its own dirty_pages_rate. With the
// lab's records mapped to the lab's uniform writer, the fitted scenarios
// come close to the real migrations, where QEMU's polled figure itself
// left them converging early (ci81's records: total time median |error|
// 1.9 % fitted against 9 % with the polled mean, the 6k pages/s, 200 Mbit
// case +12.7 % against -39.9 %).
func TestImportFitsDirtyRate(t *testing.T) {
	fi := importLabRuns(t, "uniform")
	var tt []float64
	for _, c := range fi.Result.Comparisons {
		var rate Fact
		for _, f := range c.Field.Facts {
			if f.Key == "workload.generator.dirty_rate" {
				rate = f
			}
		}
		q := lastPolledRate(c.Real.Series)
		if !strings.Contains(rate.From, "fitted") || c.NominalDirtyRate <= c.AchievedDirtyRate {
			t.Errorf("%s: dirty rate %s (%s), want one fitted above QEMU's polled mean %.0f", c.Scenario, rate.Value, rate.From, c.AchievedDirtyRate)
		}
		if math.Abs(c.Sim.DirtyPagesRate/q-1) > 2*dirtyRateFitTol {
			t.Errorf("%s: simulated dirty_pages_rate %.0f, QEMU's last %.0f", c.Scenario, c.Sim.DirtyPagesRate, q)
		}
		for _, me := range c.Metrics {
			if me.Name == "total_time_s" {
				tt = append(tt, math.Abs(me.RelErr))
				t.Logf("%s: rate %s (QEMU's mean %.0f, last %.0f), total time %+.1f %%", c.Scenario, rate.Value, c.AchievedDirtyRate, q, 100*me.RelErr)
			}
		}
	}
	if med := median(tt); med > 0.08 {
		t.Errorf("median |error| of total time %.1f %%, want at most 8 %%", 100*med)
	}
}
