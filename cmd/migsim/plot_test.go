package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// pngSize decodes the PNG at path and returns its size.
func pngSize(t *testing.T, path string) (int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// TestPlotCommands draws every kind of figure from a real sweep and run
// through the command line.
func TestPlotCommands(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", `name: p
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 32MiB, duration: 2s}
grid:
  workload.generator.dirty_rate: [2000, 8000, 20000]
  network.bandwidth: [1Gbit, 2Gbit]
  model.name: [precopy, postcopy]
repeat: 2
`)
	out := filepath.Join(dir, "out")
	if _, stderr, code := migsim(t, "sweep", spec, "--out", out, "--progress", "none", "--detail"); code != exitOK {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	csvPath := filepath.Join(out, "results.csv")
	fig := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		args []string
		file string
	}{
		{[]string{"plot", csvPath, "--x", "dirty_rate", "--y", "total_time_s", "--by", "model", "--where", "bandwidth=2Gbit", "--out", fig("line.png")}, "line.png"},
		{[]string{"plot", csvPath, "--x", "dirty_rate", "--y", "downtime_s", "--by", "model", "--where", "bandwidth=1e9", "--logx", "--out", fig("line.svg")}, "line.svg"},
		{[]string{"plot", csvPath, "--x", "dirty_rate", "--y", "downtime_s", "--by", "model", "--facet", "bandwidth", "--out", fig("facet.png")}, "facet.png"},
		{[]string{"plot", csvPath, "--kind", "cdf", "--y", "downtime_s", "--by", "model", "--out", fig("cdf.pdf")}, "cdf.pdf"},
		{[]string{"plot", csvPath, "--kind", "heatmap", "--x", "dirty_rate", "--y", "bandwidth", "--z", "converged", "--where", "model.name=precopy", "--out", fig("heat.png"), "--width", "10cm", "--height", "8cm", "--dpi", "127"}, "heat.png"},
		{[]string{"plot", filepath.Join(out, "results.jsonl"), "--point", "5", "--y", "duration_s", "--out", fig("rounds.svg")}, "rounds.svg"},
	} {
		_, stderr, code := migsim(t, tc.args...)
		if code != exitOK || !strings.Contains(stderr, "wrote "+fig(tc.file)) {
			t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
			continue
		}
		data, err := os.ReadFile(fig(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(tc.file) {
		case ".svg":
			if !bytes.Contains(data[:200], []byte(`<svg width="252pt" height="187.2pt"`)) {
				t.Errorf("%s: not a 3.5in x 2.6in SVG: %.200s", tc.file, data)
			}
		case ".pdf":
			if !bytes.HasPrefix(data, []byte("%PDF-")) {
				t.Errorf("%s: not a PDF", tc.file)
			}
		}
	}
	if w, h := pngSize(t, fig("line.png")); w != 1050 || h != 780 {
		t.Errorf("line.png is %dx%d, want 1050x780 (3.5in x 2.6in at 300 dpi)", w, h)
	}
	if w, h := pngSize(t, fig("facet.png")); w != 2100 || h != 810 {
		t.Errorf("facet.png is %dx%d, want 2100x810 (7in x 2.7in at 300 dpi: two panels side by side)", w, h)
	}
	if w, h := pngSize(t, fig("heat.png")); w != 500 || h != 400 {
		t.Errorf("heat.png is %dx%d, want 500x400 (10cm x 8cm at 127 dpi)", w, h)
	}

	// migsim run --plot, and a plot of a run's JSON.
	runJSON, stderr, code := migsim(t, "run", "-o", "json", "--plot", fig("run.png"))
	if code != exitOK {
		t.Fatalf("run --plot: exit %d: %s", code, stderr)
	}
	if w, h := pngSize(t, fig("run.png")); w != 1050 || h != 780 {
		t.Errorf("run.png is %dx%d", w, h)
	}
	// -o PATH is the deprecated spelling of --out.
	if _, stderr, code := migsim(t, "plot", csvPath, "--x", "dirty_rate", "--y", "total_time_s", "--by", "model", "--where", "bandwidth=2Gbit", "-o", fig("old.png")); code != exitOK ||
		!strings.Contains(stderr, "-o/--output PATH is deprecated") || !strings.Contains(stderr, "wrote "+fig("old.png")) {
		t.Errorf("plot -o PATH: exit %d: %s", code, stderr)
	}
	// A sweep run without --detail has no rounds to draw, and says so.
	brief := filepath.Join(dir, "brief")
	if _, stderr, code := migsim(t, "sweep", spec, "--out", brief, "--progress", "none"); code != exitOK {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	if _, stderr, code := migsim(t, "plot", filepath.Join(brief, "results.jsonl"), "--point", "5", "--out", fig("none.svg")); code != exitError ||
		!strings.Contains(stderr, "point 5 has no rounds_detail: the sweep ran without --detail") {
		t.Errorf("plot --point of a sweep without --detail: exit %d: %s", code, stderr)
	}
	jsonPath := writeFile(t, dir, "run.json", runJSON)
	if _, stderr, code := migsim(t, "plot", jsonPath); code != exitOK || !strings.Contains(stderr, "wrote "+filepath.Join(dir, "run-rounds.png")) {
		t.Errorf("plot run.json: exit %d: %s", code, stderr)
	}
}

// TestPlotRefusesPooling checks that plot names the axis it would have
// averaged over, reading the axes from sweep.json beside the CSV or, for
// a CSV alone, from the columns that are not result metrics.
func TestPlotRefusesPooling(t *testing.T) {
	dir := t.TempDir()
	spec := writeFile(t, dir, "s.yaml", `name: p
base:
  vm: {memory: 32MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 4000, working_set: 16MiB, duration: 2s}
grid:
  workload.generator.dirty_rate: [2000, 8000]
  network.bandwidth: [1Gbit, 10Gbit]
repeat: 2
`)
	out := filepath.Join(dir, "out")
	if _, stderr, code := migsim(t, "sweep", spec, "--out", out, "--progress", "none"); code != exitOK {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	csvPath := filepath.Join(out, "results.csv")
	data, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	alone := writeFile(t, dir, "alone.csv", string(data)) // no sweep.json beside it
	for _, path := range []string{csvPath, alone} {
		_, stderr, code := migsim(t, "plot", path, "--x", "dirty_rate", "--y", "total_time_s", "--out", filepath.Join(dir, "x.png"))
		if code != exitError || !strings.Contains(stderr, "differ in network.bandwidth_bps (1 Gbit, 10 Gbit)") ||
			!strings.Contains(stderr, "--where bandwidth=1Gbit") {
			t.Errorf("%s: exit %d, stderr %q", path, code, stderr)
		}
		// Seeds are repeats: one bandwidth pools them, with n in the caption.
		if _, stderr, code := migsim(t, "plot", path, "--x", "dirty_rate", "--y", "total_time_s", "--where", "bandwidth=10Gbit", "--out", filepath.Join(dir, "y.svg"), "--force"); code != exitOK {
			t.Errorf("%s --where bandwidth=10Gbit: exit %d: %s", path, code, stderr)
		}
		svg, err := os.ReadFile(filepath.Join(dir, "y.svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("n = 2 runs per point (repeats over seed)")) {
			t.Errorf("%s: the caption does not give n per point", path)
		}
	}
}

func TestPlotErrorsCLI(t *testing.T) {
	dir := t.TempDir()
	csvPath := writeFile(t, dir, "r.csv", "point,model,total_time_s\n0,precopy,1.5\n1,postcopy,2\n")
	for _, tc := range []struct {
		args   []string
		code   exitCode
		stderr string
	}{
		{[]string{"plot", csvPath, "--y", "total_time_s"}, exitUsage, "plot --kind line needs --x"},
		{[]string{"plot", csvPath, "--kind", "pie"}, exitUsage, `invalid value "pie" for --kind`},
		{[]string{"plot", csvPath, "--kind", "cdf", "--y", "total_time_s", "--width", "wide"}, exitUsage, `invalid value "wide" for --width`},
		{[]string{"plot", csvPath, "--x", "point", "--y", "total_tme_s"}, exitError, `--y: no column "total_tme_s" (did you mean total_time_s?)`},
		{[]string{"plot", csvPath, "--x", "model", "--y", "total_time_s"}, exitError, `"precopy" is not a number`},
		{[]string{"plot", csvPath, "--kind", "cdf", "--y", "total_time_s", "--out", filepath.Join(dir, "x.gif")}, exitError, "x.gif: name the figure's format with its extension"},
		{[]string{"plot", filepath.Join(dir, "none.csv"), "--x", "a", "--y", "b"}, exitError, "no such file"},
		{[]string{"plot", csvPath, "--x", "point", "--y", "total_time_s", "--facet", "modl"}, exitError, `--facet: no column "modl" (did you mean model?)`},
		{[]string{"plot", csvPath, "--x", "point", "--y", "total_time_s", "--where", "total_time_s>1m"}, exitError, `no row has total_time_s > 60 s (it holds 1.5 s, 2 s)`},
		{[]string{"plot", filepath.Join(dir, "run.json"), "--facet", "model"}, exitUsage, "--facet does not apply"},
	} {
		t.Run(strings.Join(tc.args[2:], " "), func(t *testing.T) {
			_, stderr, code := migsim(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q, want %q", code, tc.code, stderr, tc.stderr)
			}
		})
	}
}

func TestPlotFlags(t *testing.T) {
	var got *plotOptions
	cmd := newPlotCmd(streams{}, func(_ *cobra.Command, o *plotOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"res/results.csv", "--x", "a", "--y", "b", "--by", "c", "--where", "d=1", "--where", "e=2", "--logx"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.kind != "line" || got.output != "res/results-line.png" || len(got.where) != 2 || !got.logX || got.errors != "ci95" {
		t.Errorf("parsed %+v", *got)
	}
	cmd = newPlotCmd(streams{}, func(_ *cobra.Command, o *plotOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"run.json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.kind != "rounds" || got.output != "run-rounds.png" {
		t.Errorf("parsed %+v", *got)
	}
}
