package plots

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"math"
	"regexp"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/models"
)

// testCSV is a sweep's results.csv in miniature: 2 models × 3 dirty rates
// × 2 bandwidths × 3 seeds.
func testCSV() string {
	var b strings.Builder
	b.WriteString("point,workload.generator.dirty_rate,network.bandwidth_bps,model.name,seed,model,converged,total_time_s,downtime_s,transferred_bytes,bandwidth_bps\n")
	i := 0
	for _, m := range []string{"precopy", "postcopy"} {
		for _, d := range []float64{1000, 10000, 100000} {
			for _, bw := range []float64{1e9, 1e10} {
				for seed := 1; seed <= 3; seed++ {
					conv := m == "precopy" && d*4096*8 < bw/2
					tt := 5 + d/1e4 + float64(seed)/10
					fmt.Fprintf(&b, "%d,%g,%g,%s,%d,%s,%t,%g,%g,%d,%g\n", i, d, bw, m, seed, m, conv, tt, 0.001*float64(seed), int64(tt*1e9), bw*0.99)
					i++
				}
			}
		}
	}
	return b.String()
}

func testTable(t *testing.T) *Table {
	t.Helper()
	tb, err := ReadCSV(strings.NewReader(testCSV()))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func testResult() *models.Result {
	return &models.Result{
		Scenario: "demo", Model: "precopy", StopReason: models.StopDowntimeMet,
		RoundsDetail: []models.Round{
			{Round: 1, Pages: 1 << 20, Bytes: 4 << 30, DurationS: 3.4},
			{Round: 2, Pages: 172134, Bytes: 700 << 20, DurationS: 0.56},
			{Round: 3, Pages: 28277, Bytes: 111 << 20, DurationS: 0.1, StopAndCopy: true},
		},
	}
}

// figures builds one figure of each kind.
func figures(t *testing.T) map[string]Figure {
	t.Helper()
	tb := testTable(t)
	line, err := Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model", LogX: true, Title: "total time"})
	if err != nil {
		t.Fatal(err)
	}
	cdf, err := CDF(tb, CDFOptions{Y: "downtime_s", By: "model"})
	if err != nil {
		t.Fatal(err)
	}
	heat, err := Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "converged"})
	if err != nil {
		t.Fatal(err)
	}
	rounds, err := Rounds(testResult(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Figure{"line": line, "cdf": cdf, "heatmap": heat, "rounds": rounds}
}

var svgText = regexp.MustCompile(`>([^<>]+)</text>`)

// TestFigureFiles renders every kind in every format and checks that each
// file is a valid image of the requested size and holds the labels.
func TestFigureFiles(t *testing.T) {
	size := Size{Width: 4 * vg.Inch, Height: 3 * vg.Inch, DPI: 100}
	labels := map[string][]string{
		"line":    {"dirty rate (pages/s)", "total time (s)", "precopy", "postcopy", "total time"},
		"cdf":     {"downtime (ms)", "fraction of points (CDF)", "postcopy"},
		"heatmap": {"dirty rate (pages/s)", "bandwidth (Gbit/s)", "fraction converged", "100000", "0.5"},
		"rounds":  {"sent (GiB)", "round", "live round", "stop-and-copy (guest stopped)", "demo, precopy: downtime_met"},
	}
	for kind, fig := range figures(t) {
		for _, format := range Formats {
			t.Run(kind+"."+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, fig, format, size); err != nil {
					t.Fatal(err)
				}
				data := b.Bytes()
				switch format {
				case "png":
					img, err := png.Decode(bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					if r := img.Bounds(); r.Dx() != 400 || r.Dy() != 300 {
						t.Errorf("PNG is %dx%d, want 400x300 (4in x 3in at 100 dpi)", r.Dx(), r.Dy())
					}
				case "svg":
					var root struct {
						XMLName xml.Name
						Width   string `xml:"width,attr"`
						Height  string `xml:"height,attr"`
					}
					if err := xml.Unmarshal(data, &root); err != nil {
						t.Fatal(err)
					}
					if root.XMLName.Local != "svg" || root.Width != "288pt" || root.Height != "216pt" {
						t.Errorf("SVG root %s %s x %s, want svg 288pt x 216pt", root.XMLName.Local, root.Width, root.Height)
					}
					var texts []string
					for _, m := range svgText.FindAllStringSubmatch(string(data), -1) {
						texts = append(texts, m[1])
					}
					all := strings.Join(texts, "|")
					for _, l := range labels[kind] {
						if !strings.Contains(all, l) {
							t.Errorf("SVG lacks the text %q; it has %s", l, all)
						}
					}
				case "pdf":
					if !bytes.HasPrefix(data, []byte("%PDF-")) {
						t.Errorf("PDF starts with %q", data[:min(8, len(data))])
					}
					if !bytes.Contains(data, []byte("MediaBox [0 0 288.00 216.00]")) {
						t.Error("PDF page is not 288 x 216 pt")
					}
					if !bytes.HasSuffix(bytes.TrimSpace(data), []byte("%%EOF")) {
						t.Error("PDF lacks its end-of-file marker")
					}
				}
			})
		}
	}
}

func TestSave(t *testing.T) {
	fig := figures(t)["rounds"]
	dir := t.TempDir()
	if err := Save(dir+"/r.png", fig, DefaultSize); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir+"/r.gif", fig, DefaultSize); err == nil || !strings.Contains(err.Error(), ".png, .svg or .pdf") {
		t.Errorf("saving a .gif: %v", err)
	}
}

func TestColumn(t *testing.T) {
	tb := testTable(t)
	for name, want := range map[string]string{
		"total_time_s":          "total_time_s",
		"dirty_rate":            "workload.generator.dirty_rate",
		"bandwidth":             "network.bandwidth_bps", // the axis, not the metric
		"bandwidth_bps":         "bandwidth_bps",         // the metric by its name
		"network.bandwidth_bps": "network.bandwidth_bps",
		"model":                 "model",
		"name":                  "model.name",
	} {
		c, err := tb.Column(name)
		if err != nil || tb.Columns[c] != want {
			t.Errorf("Column(%q) = %v, %v; want %s", name, c, err, want)
		}
	}
	if _, err := tb.Column("total_tme_s"); err == nil || !strings.Contains(err.Error(), "did you mean total_time_s?") {
		t.Errorf("misspelt column: %v", err)
	}
	amb := &Table{Columns: []string{"a.rate", "b.rate"}}
	if _, err := amb.Column("rate"); err == nil || !strings.Contains(err.Error(), "ambiguous: it matches a.rate, b.rate") {
		t.Errorf("ambiguous column: %v", err)
	}
}

func TestWhere(t *testing.T) {
	tb := testTable(t)
	got, err := tb.Where([]string{"model=precopy", "bandwidth=1e10", "seed=2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 3 {
		t.Errorf("%d rows, want 3 (one per dirty rate)", len(got.Rows))
	}
	if _, err := tb.Where([]string{"model=xen"}); err == nil || !strings.Contains(err.Error(), "no row has model = xen") {
		t.Errorf("filter matching nothing: %v", err)
	}
	if _, err := tb.Where([]string{"model"}); err == nil {
		t.Error("filter without = accepted")
	}
}

// TestLineErrorBars checks the aggregation: the mean over repeats and a
// 95 % confidence interval with Student's t.
func TestLineErrorBars(t *testing.T) {
	mean, e := summarize([]float64{1, 2, 3}, ErrorsCI95)
	// t(0.975, 2 dof) = 4.302653; s = 1; n = 3.
	if mean != 2 || math.Abs(e-4.302653/math.Sqrt(3)) > 1e-5 {
		t.Errorf("ci95 of 1,2,3: %v ± %v", mean, e)
	}
	if _, e := summarize([]float64{1, 2, 3}, ErrorsStd); e != 1 {
		t.Errorf("std of 1,2,3: %v", e)
	}
	if _, e := summarize([]float64{7}, ErrorsCI95); e != 0 {
		t.Errorf("one sample: error %v", e)
	}

	tb := testTable(t)
	_, _, all, err := lineSeries(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model", Errors: ErrorsStd})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].name != "precopy" || all[0].Len() != 3 {
		t.Fatalf("%d series, want precopy and postcopy with 3 points", len(all))
	}
	// The series go to gonum/plot as XYers.
	xys, err := plotter.CopyXYs(all[0])
	if err != nil {
		t.Fatal(err)
	}
	// precopy at 10000 pages/s: 6 rows (2 bandwidths × 3 seeds) of 6.1,
	// 6.2 and 6.3: mean 6.2, sample standard deviation √(0.04/5).
	if pt := xys[1]; pt.X != 10000 || math.Abs(pt.Y-6.2) > 1e-9 || all[0].counts[1] != 6 {
		t.Errorf("precopy at 10000: %+v (%d rows), want mean 6.2 over 6", pt, all[0].counts[1])
	}
	if lo, hi := all[0].YError(1); lo != hi || math.Abs(lo-0.0894427191) > 1e-9 {
		t.Errorf("precopy at 10000: error %v, %v; want the standard deviation 0.0894", lo, hi)
	}
}

func TestPlotErrors(t *testing.T) {
	tb := testTable(t)
	if _, err := Line(tb, LineOptions{X: "model", Y: "total_time_s"}); err == nil || !strings.Contains(err.Error(), `"precopy" is not a number`) {
		t.Errorf("text on x: %v", err)
	}
	if _, err := Line(tb, LineOptions{X: "dirty_rate", Y: "downtime_s", LogY: true, Errors: ErrorsStd}); err != nil {
		t.Errorf("log y of positive values: %v", err)
	}
	z, _ := tb.Where([]string{"seed=1"})
	for i := range z.Rows {
		z.Rows[i][7] = "0"
	}
	if _, err := Line(z, LineOptions{X: "dirty_rate", Y: "total_time_s", LogY: true}); err == nil || !strings.Contains(err.Error(), "--logy") {
		t.Errorf("log y of zeros: %v", err)
	}
	if _, err := Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "nope"}); err == nil || !strings.Contains(err.Error(), "--z") {
		t.Errorf("heat map of a missing column: %v", err)
	}
	if _, err := Rounds(testResult(), "speed", ""); err == nil || !strings.Contains(err.Error(), "unknown round metric") {
		t.Errorf("unknown round metric: %v", err)
	}
	if _, err := Rounds(&models.Result{}, "", ""); err == nil {
		t.Error("a result without rounds was plotted")
	}
}

func TestAxisLabels(t *testing.T) {
	for _, tc := range []struct {
		col   string
		vals  []float64
		label string
		scale float64
	}{
		{"transferred_bytes", []float64{5 << 30}, "transferred (GiB)", 1 << 30},
		{"network.bandwidth_bps", []float64{1e9, 1e10}, "bandwidth (Gbit/s)", 1e9},
		{"downtime_s", []float64{0.2}, "downtime (ms)", 1e-3},
		{"total_time_s", []float64{12}, "total time (s)", 1},
		{"workload.generator.dirty_rate", []float64{1}, "dirty rate (pages/s)", 1},
		{"throttle_pct", []float64{20}, "throttle (%)", 1},
	} {
		got := axisFor(tc.col, tc.vals, false)
		if got.label != tc.label || got.scale != tc.scale {
			t.Errorf("axisFor(%s) = %+v, want %s / %g", tc.col, got, tc.label, tc.scale)
		}
	}
}
