package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// testSweep is 18 small points: 3 bandwidths × 2 models × 3 seeds, over
// 3 workloads (one per seed) shared by 6 points each.
const testSweep = `name: t
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
    access_order: ascending   # post-copy on the page engine (auto), which reads traces through the cache
grid:
  network.bandwidth: [200Mbit, 500Mbit, 1Gbit]
  model.name: [precopy, postcopy]
repeat: 3
`

var allFormats = Formats{CSV: true, Parquet: true}

func loadTestSweep(t *testing.T, text string) *Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sw, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

func run(t *testing.T, sw *Spec, opts Options) Summary {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Formats = allFormats
	sum, err := Run(t.Context(), sw, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

var outputFiles = []string{ManifestFile, JournalFile, CSVFile, ParquetFile}

// sameOutputs fails unless dirs a and b hold the same bytes.
func sameOutputs(t *testing.T, a, b string) {
	t.Helper()
	for _, f := range outputFiles {
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

// TestRunDeterministic runs a sweep on one worker without the trace cache
// and on four with it: the same bytes. It checks the tables' shape.
func TestRunDeterministic(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	a, b := t.TempDir(), t.TempDir()
	sum := run(t, sw, Options{Dir: a, Workers: 1})
	if sum.Points != 18 || sum.Ran != 18 || sum.Resumed != 0 {
		t.Errorf("summary %+v", sum)
	}
	sum = run(t, sw, Options{Dir: b, Workers: 4, TraceCache: 64 << 20})
	if sum.Cache.Opens == 0 || sum.Cache.Hits == 0 {
		t.Errorf("the trace cache was not used: %+v", sum.Cache)
	}
	sameOutputs(t, a, b)

	f, err := os.Open(filepath.Join(a, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 19 {
		t.Fatalf("%d CSV rows, want a header and 18", len(rows))
	}
	head := rows[0]
	if !slices.Equal(head[:4], []string{"point", "network.bandwidth_bps", "model.name", "seed"}) {
		t.Errorf("CSV starts with %v, want point then the axes", head[:4])
	}
	for _, c := range []string{"total_time_s", "downtime_s", "transferred_bytes", "pages_total", "stop_reason", "converged"} {
		if !slices.Contains(head, c) {
			t.Errorf("CSV lacks column %s", c)
		}
	}
	seeds := 0
	for _, c := range head {
		if c == "seed" {
			seeds++
		}
	}
	if slices.Contains(head, "rounds_detail") || seeds != 1 {
		t.Errorf("CSV header %v: rounds_detail, or seed twice", head)
	}
	if rows[8][0] != "7" || rows[8][1] != "5e+08" || rows[8][2] != "precopy" || rows[8][3] != "2" {
		t.Errorf("row of point 7: %v", rows[8][:4])
	}

	// The Parquet file has the same columns and rows.
	pq, err := os.ReadFile(filepath.Join(a, ParquetFile))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(pq), int64(len(pq)))
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 18 {
		t.Errorf("parquet has %d rows, want 18", pf.NumRows())
	}
	var names []string
	for _, f := range pf.Schema().Fields() {
		names = append(names, f.Name())
	}
	if !slices.Equal(names, head) {
		t.Errorf("parquet columns %v\nwant %v", names, head)
	}
	type probe struct {
		Point      int64   `parquet:"point"`
		Bandwidth  float64 `parquet:"network.bandwidth_bps"`
		Model      string  `parquet:"model.name"`
		TotalTimeS float64 `parquet:"total_time_s"`
		Converged  bool    `parquet:"converged"`
	}
	got, err := parquet.Read[probe](bytes.NewReader(pq), int64(len(pq)))
	if err != nil {
		t.Fatal(err)
	}
	if p := got[7]; p.Point != 7 || p.Bandwidth != 5e8 || p.Model != "precopy" || fmt.Sprint(p.TotalTimeS) != rows[8][slices.Index(head, "total_time_s")] {
		t.Errorf("parquet row 7 %+v, CSV %v", p, rows[8])
	}
}

// TestResume resumes from a journal holding some points out of order and
// a partial last line, as a killed run leaves it.
func TestResume(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	full := t.TempDir()
	run(t, sw, Options{Dir: full, Workers: 2})
	lines := journalLines(t, full)

	dir := t.TempDir()
	if err := writeManifest(dir, newManifest(sw, Shard{}, false)); err != nil {
		t.Fatal(err)
	}
	var j []byte
	for _, p := range []int{5, 2, 17, 9} {
		j = append(j, lines[p]...)
	}
	j = append(j, lines[3][:40]...) // cut mid-line
	if err := os.WriteFile(filepath.Join(dir, JournalFile), j, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), sw, Options{Dir: dir, Formats: allFormats}); err == nil || !strings.Contains(err.Error(), "pass --resume") {
		t.Errorf("run over earlier results without Resume: %v", err)
	}
	sum := run(t, sw, Options{Dir: dir, Resume: true})
	if sum.Resumed != 4 || sum.Ran != 14 {
		t.Errorf("summary %+v, want 4 resumed and 14 run", sum)
	}
	sameOutputs(t, full, dir)

	// Resuming a complete run rewrites the same outputs and runs nothing.
	if sum := run(t, sw, Options{Dir: dir, Resume: true}); sum.Ran != 0 {
		t.Errorf("resume of a complete run ran %d points", sum.Ran)
	}
	sameOutputs(t, full, dir)
}

func journalLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	return lines[:len(lines)-1] // after the last newline: nothing
}

// TestInterrupt cancels a run after its first results and resumes it.
func TestInterrupt(t *testing.T) {
	sw := loadTestSweep(t, strings.Replace(testSweep, "repeat: 3", "repeat: 12", 1))
	full := t.TempDir()
	run(t, sw, Options{Dir: full, Workers: 2})

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(filepath.Join(dir, JournalFile)); err == nil && fi.Size() > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	sum, err := Run(ctx, sw, Options{Dir: dir, Workers: 2, Formats: allFormats})
	cancel()
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("cancelled run returned %v (summary %+v), want ErrInterrupted", err, sum)
	}
	if _, err := os.Stat(filepath.Join(dir, CSVFile)); !os.IsNotExist(err) {
		t.Errorf("an interrupted run wrote %s: %v", CSVFile, err)
	}
	sum = run(t, sw, Options{Dir: dir, Resume: true})
	if sum.Resumed == 0 || sum.Resumed+sum.Ran != len(sw.Points) {
		t.Errorf("resume summary %+v", sum)
	}
	sameOutputs(t, full, dir)
}

// TestResumeRefuses checks that a journal of another sweep, of another
// shard, or damaged in the middle, is refused, naming the file.
func TestResumeRefuses(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	dir := t.TempDir()
	run(t, sw, Options{Dir: dir})

	other := loadTestSweep(t, strings.Replace(testSweep, "1Gbit", "2Gbit", 1))
	_, err := Run(t.Context(), other, Options{Dir: dir, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "cannot resume") || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("resuming another sweep: %v", err)
	}
	_, err = Run(t.Context(), sw, Options{Dir: dir, Resume: true, Shard: Shard{1, 2}})
	if err == nil || !strings.Contains(err.Error(), `holds shard "whole sweep"`) {
		t.Errorf("resuming as a shard: %v", err)
	}

	// The manifest matches but a journal line names another point's ID.
	lines := journalLines(t, dir)
	bad := append(slices.Clone(lines[0]), bytes.Replace(lines[1], []byte(`"point":1,`), []byte(`"point":4,`), 1)...)
	path := filepath.Join(dir, JournalFile)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(t.Context(), sw, Options{Dir: dir, Resume: true})
	if err == nil || !strings.Contains(err.Error(), path+":2: point 4 has ID") {
		t.Errorf("journal with a wrong ID: %v", err)
	}
	garbage := append(slices.Clone(lines[0]), []byte("{not json}\n")...)
	garbage = append(garbage, lines[2]...)
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(t.Context(), sw, Options{Dir: dir, Resume: true})
	if err == nil || !strings.Contains(err.Error(), path+":2: not a result line") {
		t.Errorf("journal with a damaged line: %v", err)
	}
}

// TestShardMerge runs a sweep as 4 shards, merges them, and compares with
// the unsharded run; then checks merge's refusals.
func TestShardMerge(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	full := t.TempDir()
	run(t, sw, Options{Dir: full, Workers: 3})

	root := t.TempDir()
	var shards []string
	for k := 4; k >= 1; k-- {
		d := filepath.Join(root, fmt.Sprintf("shard-%d", k))
		sum := run(t, sw, Options{Dir: d, Shard: Shard{k, 4}, Workers: 1})
		if want := len(Shard{k, 4}.Points(18)); sum.Points != want {
			t.Errorf("shard %d/4: %d points, want %d", k, sum.Points, want)
		}
		shards = append(shards, d)
	}
	merged := filepath.Join(root, "merged")
	if err := Merge(merged, shards, MergeOptions{Formats: allFormats}); err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, full, merged)

	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"missing", shards[:3], "shard 1/4 is missing"},
		{"twice", append(slices.Clone(shards[:3]), shards[0]), "both hold shard 4/4"},
		{"unsharded", []string{full, shards[0]}, "holds shard 4/4, but " + full + " holds the whole sweep"},
	} {
		err := Merge(filepath.Join(root, "x-"+tc.name), tc.dirs, MergeOptions{Formats: allFormats})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("merge %s: %v, want %q", tc.name, err, tc.want)
		}
	}
	other := loadTestSweep(t, strings.Replace(testSweep, "1Gbit", "2Gbit", 1))
	od := filepath.Join(root, "other")
	run(t, other, Options{Dir: od, Shard: Shard{1, 4}})
	if err := Merge(filepath.Join(root, "x"), append(slices.Clone(shards[:3]), od), MergeOptions{Formats: allFormats}); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("merge of two sweeps: %v", err)
	}
	// An incomplete shard: cut its journal.
	lines := journalLines(t, shards[0])
	if err := os.WriteFile(filepath.Join(shards[0], JournalFile), bytes.Join(lines[:2], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Merge(filepath.Join(root, "x"), shards, MergeOptions{Formats: allFormats}); err == nil || !strings.Contains(err.Error(), "is incomplete: 2 of its 4 points") {
		t.Errorf("merge of an incomplete shard: %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for s, want := range map[string]string{
		"1/1": "", "2/8": "", "3/2": "k must be between 1 and 2", "0/4": "k must be between 1 and 4",
		"1/0": "shard count must be at least 1", "x": "want k/n", "1/": "want k/n",
	} {
		_, err := ParseShard(s)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseShard(%q) = %v, want %q", s, err, want)
		}
	}
	// Shards partition the points.
	seen := map[int]int{}
	for k := 1; k <= 3; k++ {
		for _, p := range (Shard{k, 3}).Points(10) {
			seen[p]++
		}
	}
	for p := range 10 {
		if seen[p] != 1 {
			t.Errorf("point %d is in %d shards", p, seen[p])
		}
	}
}

// TestMetricColumns checks the metric columns against the Result's JSON
// contract.
func TestMetricColumns(t *testing.T) {
	var names []string
	for _, m := range scenarioShape.metrics {
		names = append(names, m.Name)
	}
	for _, want := range []string{"scenario", "model", "seed", "converged", "completed", "stop_reason", "total_time_s",
		"downtime_s", "expected_downtime_s", "setup_time_s", "transferred_bytes", "device_state_bytes", "rounds",
		"dirty_sync_count", "pages_total", "pages_zero", "pages_normal", "dirty_pages_rate", "bandwidth_bps",
		"throttle_pct", "guest_time_s"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric columns lack %s: %v", want, names)
		}
	}
	if slices.Contains(names, "rounds_detail") {
		t.Error("rounds_detail is a column")
	}
}

func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := NewProgress(&b, false, time.Hour)
	p.now = func() time.Time { return now }
	p.start(100, 1000)
	p.add(300)
	now = now.Add(10 * time.Second)
	p.stop()
	want := "sweep: 400/1000 points  40.0%  30.0 points/s  ETA 20s  elapsed 10s\n"
	if b.String() != want {
		t.Errorf("progress %q, want %q", b.String(), want)
	}
	b.Reset()
	p = NewProgress(&b, true, 0)
	p.now = func() time.Time { return now }
	p.start(0, 4)
	p.add(2)
	now = now.Add(time.Second)
	p.stop()
	if !strings.HasPrefix(b.String(), "\r[############            ] 2/4 points  50.0%") || !strings.HasSuffix(b.String(), "\x1b[K\n") {
		t.Errorf("bar %q", b.String())
	}
}
