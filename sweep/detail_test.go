package sweep

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
)

// cutDetail returns a result line without its rounds_detail member (an
// array of flat objects: its first ']' closes it).
func cutDetail(t *testing.T, line []byte) []byte {
	t.Helper()
	i := bytes.Index(line, []byte(`,"rounds_detail":[`))
	if i < 0 {
		t.Fatalf("line without rounds_detail: %.200s", line)
	}
	j := bytes.IndexByte(line[i:], ']')
	return append(append([]byte(nil), line[:i]...), line[i+j+1:]...)
}

// TestDetail runs a sweep of pre-copy and post-copy points (whose
// converged and expected_downtime_s do not apply) with and without
// Detail: the lines differ only by rounds_detail, byte for byte, and the
// tables are the same.
func TestDetail(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	with, without := t.TempDir(), t.TempDir()
	run(t, sw, Options{Dir: with, Detail: true})
	run(t, sw, Options{Dir: without})
	wl, bl := journalLines(t, with), journalLines(t, without)
	if len(wl) != len(bl) || len(wl) != sw.Len() {
		t.Fatalf("%d and %d lines for %d points", len(wl), len(bl), sw.Len())
	}
	nulls := 0
	for p := range wl {
		if got, want := bl[p], cutDetail(t, wl[p]); !bytes.Equal(got, want) {
			t.Errorf("point %d without detail:\n%s\nwith it, rounds_detail cut:\n%s", p, got, want)
		}
		if bytes.Contains(bl[p], []byte(`"converged":null`)) {
			nulls++
		}
		// A detailed line is the result as migsim run -o json gives it.
		var r struct {
			Result *models.Result `json:"result"`
		}
		if err := json.Unmarshal(wl[p], &r); err != nil {
			t.Fatal(err)
		}
		res, err := json.Marshal(r.Result)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(wl[p], res) {
			t.Errorf("point %d: the detailed line does not hold the result's JSON", p)
		}
	}
	if nulls == 0 {
		t.Error("no point has converged null: the sweep does not check what does not apply")
	}
	for _, f := range []string{CSVFile, ParquetFile} {
		a, err := os.ReadFile(filepath.Join(with, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(without, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs with and without detail", f)
		}
	}
	for dir, want := range map[string]bool{with: true, without: false} {
		m, err := ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Detail == nil || *m.Detail != want {
			t.Errorf("%s: manifest detail %v, want %v", dir, m.Detail, want)
		}
	}
}

// TestDetailResume: a resume keeps the directory's choice, refuses one
// that contradicts it, and a manifest without the key (from a migsim
// that always kept detail) means detail; merge refuses shards that differ.
func TestDetailResume(t *testing.T) {
	sw := loadTestSweep(t, testSweep)
	dir := t.TempDir()
	run(t, sw, Options{Dir: dir, Detail: true})
	lines := journalLines(t, dir)
	if err := os.WriteFile(filepath.Join(dir, JournalFile), bytes.Join(lines[:5], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), sw, Options{Dir: dir, Resume: true, DetailSet: true}); err == nil ||
		!strings.Contains(err.Error(), "holds results with detail; resume it with --detail") {
		t.Errorf("resume without detail of a detailed run: %v", err)
	}
	run(t, sw, Options{Dir: dir, Resume: true}) // keeps detail
	for p, l := range journalLines(t, dir) {
		if !bytes.Contains(l, []byte(`"rounds_detail":[`)) {
			t.Fatalf("point %d: resumed without detail", p)
		}
	}

	// An old manifest, without the key.
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	m.Detail = nil
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, JournalFile), bytes.Join(lines[:5], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), sw, Options{Dir: dir, Resume: true, DetailSet: true}); err == nil {
		t.Error("resume without detail of an old directory: no error")
	}

	// Shards of one sweep, one with detail.
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	run(t, sw, Options{Dir: a, Shard: Shard{1, 2}, Detail: true})
	run(t, sw, Options{Dir: b, Shard: Shard{2, 2}})
	if err := Merge(filepath.Join(t.TempDir(), "m"), []string{a, b}, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "without detail") {
		t.Errorf("merge of shards with and without detail: %v", err)
	}
}
