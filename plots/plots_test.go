package plots

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/models"
)

// testCSV is a sweep's results.csv in miniature: 2 models × 3 dirty rates
// × 2 bandwidths × 3 seeds. Pre-copy at 100000 pages/s over 1 Gbit does
// not complete (max_time: 3600 s, no downtime), and post-copy's converged
// is empty (not applicable).
func testCSV() string {
	var b strings.Builder
	b.WriteString("point,workload.generator.dirty_rate,network.bandwidth_bps,model.name,seed,model,converged,completed,stop_reason,total_time_s,downtime_s,transferred_bytes,bandwidth_bps\n")
	i := 0
	for _, m := range []string{"precopy", "postcopy"} {
		for _, d := range []float64{1000, 10000, 100000} {
			for _, bw := range []float64{1e9, 1e10} {
				for seed := 1; seed <= 3; seed++ {
					slow := math.Sqrt(1e10 / bw)
					conv, done, stop := "true", "true", "downtime_met"
					tt := (4+d/1e4)*slow + float64(seed)/10
					dt := 0.001*float64(seed) + d/1e7*slow
					switch {
					case m == "postcopy":
						conv, stop = "", "postcopy"
						tt, dt = 4*slow+float64(seed)/10, 0.002
					case d == 100000 && bw == 1e9:
						conv, done, stop = "false", "false", "max_time"
						tt, dt = 3600, 0
					}
					fmt.Fprintf(&b, "%d,%g,%g,%s,%d,%s,%s,%s,%s,%g,%g,%d,%g\n", i, d, bw, m, seed, m, conv, done, stop, tt, dt, int64(tt*1e9), bw*0.99)
					i++
				}
			}
		}
	}
	return b.String()
}

// testTable reads testCSV as a sweep's table: its axes are the dirty
// rate, the bandwidth, the model and the repeat axis seed.
func testTable(t *testing.T) *Table {
	t.Helper()
	tb, err := ReadCSV(strings.NewReader(testCSV()))
	if err != nil {
		t.Fatal(err)
	}
	tb.Axes = []string{"workload.generator.dirty_rate", "network.bandwidth_bps", "model.name", "seed"}
	tb.Repeats = []string{"seed"}
	return tb
}

// where filters tb or fails the test.
func where(t *testing.T, tb *Table, filters ...string) *Table {
	t.Helper()
	out, err := tb.Where(filters)
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// figures builds one figure of each kind, the golden images' subjects.
func figures(t *testing.T) map[string]Figure {
	t.Helper()
	tb := testTable(t)
	must := func(f Figure, err error) Figure {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return map[string]Figure{
		// One panel: pre-copy against post-copy over 10 Gbit, log x.
		"line": must(Line(where(t, tb, "bandwidth=10Gbit"), LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model", LogX: true, Title: "total time"})),
		// Small multiples by bandwidth; the 1 Gbit panel's pre-copy line
		// stops before 100000 pages/s, where its runs did not complete (×).
		"line-facet": must(Line(tb, LineOptions{X: "dirty_rate", Y: "downtime_s", By: "model", Facet: "bandwidth", LogX: true})),
		// One curve per bandwidth, with units in the legend.
		"line-by-units": must(Line(where(t, tb, "model=precopy"), LineOptions{X: "dirty_rate", Y: "total_time_s", By: "bandwidth", LogX: true, Errors: ErrorsStd})),
		"cdf":           must(CDF(tb, CDFOptions{Y: "downtime_s", By: "model"})),
		// Pre-copy only: post-copy's converged is empty, not false.
		"heatmap": must(Heatmap(where(t, tb, "model.name=precopy"), HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "converged"})),
		// A metric: the cell where no run completed is ×, not 3600 s.
		"heatmap-facet": must(Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "total_time_s", Facet: "model.name"})),
		"rounds":        must(Rounds(testResult(), "", "")),
		// A fleet: one that did not converge, one that did not complete.
		"timeline": must(Timeline("evacuation", []TimelineBar{
			{Name: "vm-1", StartS: 0, EndS: 10, DowntimeS: 0.1, Completed: true, Converged: true},
			{Name: "vm-2", StartS: 2, EndS: 15, DowntimeS: 0.9, Completed: true},
			{Name: "vm-3", StartS: 5, EndS: 30},
		}, []TimelinePoint{{0, 5e9}, {2, 9e9}, {10, 6e9}, {15, 2e9}, {30, 0}})),
	}
}

var svgText = regexp.MustCompile(`>([^<>]+)</text>`)

// TestFigureFiles renders every kind in every format and checks that each
// file is a valid image of the requested size and holds the labels.
func TestFigureFiles(t *testing.T) {
	size := Size{Width: 4 * vg.Inch, Height: 3 * vg.Inch, DPI: 100}
	labels := map[string][]string{
		"line":          {"dirty rate (pages/s)", "total time (s)", "precopy", "postcopy", "total time", "Mean of n = 3 runs per point (repeats over seed)"},
		"line-facet":    {"bandwidth = 1 Gbit", "bandwidth = 10 Gbit", "did not complete", "3 runs (max_time 3) did not complete"},
		"line-by-units": {"1 Gbit", "10 Gbit", "bars: ±1 standard deviation"},
		"cdf":           {"downtime (ms)", "fraction of runs (CDF)", "postcopy", "share completed", "(18 runs per curve)"},
		"heatmap":       {"dirty rate (pages/s)", "bandwidth (Gbit/s)", "fraction converged", "100k", "10k", "0.4", "0.0", "1.0", "Fraction converged of n = 3 runs per cell"},
		"heatmap-facet": {"model.name = precopy", "model.name = postcopy", "×", "left out of the means, marked × where none completed"},
		"rounds":        {"sent (GiB)", "round", "live round", "stop-and-copy (guest stopped)", "demo, precopy: downtime_met"},
		"timeline":      {"evacuation", "vm-1", "vm-3", "time (s)", "migration traffic (Gbit/s)"},
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
					all := strings.Join(texts, " ") // a caption's lines join with a space
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
	got := where(t, tb, "model=precopy", "bandwidth=1e10", "seed=2")
	if len(got.Rows) != 3 {
		t.Errorf("%d rows, want 3 (one per dirty rate)", len(got.Rows))
	}
	if !slices.Equal(got.Axes, tb.Axes) || !slices.Equal(got.Repeats, tb.Repeats) {
		t.Errorf("Where lost the axes: %v %v", got.Axes, got.Repeats)
	}
	// Values with units, as the scenario files spell them.
	for filter, want := range map[string]int{
		"bandwidth=10Gbit":   18,
		"bandwidth=10 Gbit":  18,
		"bandwidth=1.25GB/s": 18, // bytes per second
		"bandwidth!=10Gbit":  18,
		"bandwidth>1Gbit":    18,
		"bandwidth>=1Gbit":   36,
		"dirty_rate<10000":   12,
		"dirty_rate<=10000":  24,
		// 18 post-copy (2 ms); pre-copy at 1000 pages/s 2 + 2, at 10000
		// over 10 Gbit 1 (2 ms; 3 ms is not below), and the 3 that did
		// not complete (0).
		"downtime_s<3ms":   26,
		"total_time_s>=1h": 3,
		// Above 4.295 s: post-copy 1 + 3 per dirty rate, pre-copy 2 + 3 +
		// 6 + 6.
		"transferred_bytes>4GiB": 29,
	} {
		got, err := tb.Where([]string{filter})
		if err != nil {
			t.Errorf("%s: %v", filter, err)
			continue
		}
		if len(got.Rows) != want {
			t.Errorf("%s: %d rows, want %d", filter, len(got.Rows), want)
		}
	}
	for filter, msg := range map[string]string{
		"model=xen":             "no row has model = xen (it holds precopy, postcopy)",
		"bandwidth=40Gbit":      "no row has network.bandwidth_bps = 40 Gbit (it holds 1 Gbit, 10 Gbit)",
		"bandwidth=10furlongs":  `network.bandwidth_bps holds rates in bits/s: rate "10furlongs": unknown unit "furlongs"`,
		"downtime_s<3":          "",
		"model>precopy":         `> compares numbers, and "precopy" is not one`,
		"model":                 "want column=value",
		"=precopy":              "want column=value",
		"dirty_rat=1000":        `no column "dirty_rat" (did you mean workload.generator.dirty_rate?)`,
		"converged=maybe":       "no row has converged = maybe (it holds true, false, (empty))",
		"total_time_s=forever":  `total_time_s holds times in seconds: duration "forever"`,
		"transferred_bytes=4Gx": `transferred_bytes holds sizes in bytes: size "4Gx": unknown unit "Gx"`,
	} {
		_, err := tb.Where([]string{filter})
		switch {
		case msg == "" && err != nil:
			t.Errorf("%s: %v", filter, err)
		case msg != "" && (err == nil || !strings.Contains(err.Error(), msg)):
			t.Errorf("%s: error %v, want %q", filter, err, msg)
		}
	}
}

// TestPoolingRefused checks that rows differing in an axis that is not on
// the figure are not averaged: the error names the column, its values,
// where, and how to choose.
func TestPoolingRefused(t *testing.T) {
	tb := testTable(t)
	_, err := Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model"})
	for _, want := range []string{
		"differ in network.bandwidth_bps (1 Gbit, 10 Gbit)",
		"not on the figure (--x, --by) nor a repeat axis",
		"at workload.generator.dirty_rate = 1000 pages/s, model = precopy",
		"--where bandwidth=1Gbit", "--by bandwidth or --facet bandwidth",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("line over two bandwidths: error %v, want %q", err, want)
		}
	}
	// A convergence map never averages two models.
	_, err = Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "converged"})
	if err == nil || !strings.Contains(err.Error(), "differ in model.name (precopy, postcopy)") || !strings.Contains(err.Error(), "--where model.name=precopy") {
		t.Errorf("heat map over two models: %v", err)
	}
	// Two axes off the figure are both named.
	_, err = Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s"})
	if err == nil || !strings.Contains(err.Error(), "network.bandwidth_bps (1 Gbit, 10 Gbit) and model.name (precopy, postcopy)") {
		t.Errorf("line over bandwidths and models: %v", err)
	}
	// Each way of choosing works: --where, --by, --facet; seeds pool.
	for name, o := range map[string]LineOptions{
		"by":    {X: "dirty_rate", Y: "total_time_s", By: "bandwidth", Facet: "model.name"},
		"facet": {X: "dirty_rate", Y: "total_time_s", By: "model", Facet: "bandwidth"},
	} {
		if _, err := Line(tb, o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Line(where(t, tb, "bandwidth=10Gbit"), LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model"}); err != nil {
		t.Errorf("where: %v", err)
	}
	// Without axes, nothing is checked.
	tb.Axes = nil
	if _, err := Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model"}); err != nil {
		t.Errorf("a table without axes: %v", err)
	}
}

// TestFailedRunsLeftOut checks that runs that did not complete are not
// drawn as values: not in the means, marked, counted; and that a line
// does not run through the x where they failed.
func TestFailedRunsLeftOut(t *testing.T) {
	tb := where(t, testTable(t), "bandwidth=1Gbit", "model=precopy")
	cx, cy, cby, _, err := lineColumns(tb, LineOptions{X: "dirty_rate", Y: "downtime_s"})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]int, len(tb.Rows))
	for i := range rows {
		rows[i] = i
	}
	tl := newTally()
	all, err := lineSeries(tb, rows, cx, cy, cby, []string{""}, ErrorsCI95, tl)
	if err != nil {
		t.Fatal(err)
	}
	s := all[0]
	if !slices.Equal(s.x, []float64{1000, 10000}) || !slices.Equal(s.failX, []float64{100000}) {
		t.Errorf("points at %v, failures at %v; want 1000 and 10000, failures at 100000", s.x, s.failX)
	}
	if tl.failed["max_time"] != 3 || tl.nMin != 3 || tl.nMax != 3 {
		t.Errorf("tally %+v, want 3 max_time and n = 3", tl)
	}
	// With a partial failure the mean is over the runs that completed.
	tb.Rows[0][7], tb.Rows[0][8], tb.Rows[0][10] = "false", "no_progress", "0"
	tl = newTally()
	all, _ = lineSeries(tb, rows, cx, cy, cby, []string{""}, ErrorsCI95, tl)
	// Seeds 2 and 3 at 1000 pages/s over 1 Gbit: 0.002 + 0.000316, 0.003 + 0.000316.
	want := 0.0025 + 1000/1e7*math.Sqrt(10)
	if s := all[0]; math.Abs(s.y[0]-want) > 1e-12 || s.counts[0] != 2 || s.failX[0] != 1000 {
		t.Errorf("partial failure: mean %v over %d, failures at %v; want %v over 2, a mark at 1000", s.y[0], s.counts[0], s.failX, want)
	}
	// The line breaks where every run failed.
	f, err := Line(where(t, testTable(t), "model=precopy"), LineOptions{X: "dirty_rate", Y: "downtime_s", Facet: "bandwidth"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.(*figure).caption; !strings.Contains(c, "3 runs (max_time 3) did not complete: left out of the lines and means, marked × at the top.") {
		t.Errorf("caption %q", c)
	}
	// Every run failed: an error that says so, not an empty figure.
	allFail := where(t, testTable(t), "model=precopy", "bandwidth=1Gbit", "dirty_rate=100000")
	if _, err := Line(allFail, LineOptions{X: "dirty_rate", Y: "downtime_s"}); err == nil || !strings.Contains(err.Error(), "no value of downtime_s to plot: 3 runs (max_time 3) did not complete") {
		t.Errorf("all failed: %v", err)
	}
	// A boolean outcome counts every run.
	tl = newTally()
	cc, _ := tb.Column("converged")
	all, _ = lineSeries(where(t, testTable(t), "bandwidth=1Gbit", "model=precopy"), rows, cx, cc, -1, []string{""}, ErrorsNone, tl)
	if s := all[0]; !slices.Equal(s.y, []float64{1, 1, 0}) || len(s.failX) != 0 {
		t.Errorf("converged: %v, failures at %v; want 1, 1, 0 and none", s.y, s.failX)
	}
}

// TestMissingCells checks that an empty cell is a missing value, not 0.
func TestMissingCells(t *testing.T) {
	tb, err := ReadCSV(strings.NewReader("x,model,ratio,converged\n1,a,2,true\n1,a,,\n1,a,4,false\n2,a,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	cx, _ := tb.Column("x")
	cr, _ := tb.Column("ratio")
	cc, _ := tb.Column("converged")
	tl := newTally()
	all, err := lineSeries(tb, []int{0, 1, 2, 3}, cx, cr, -1, []string{""}, ErrorsNone, tl)
	if err != nil {
		t.Fatal(err)
	}
	if s := all[0]; !slices.Equal(s.x, []float64{1}) || s.y[0] != 3 || tl.missing != 2 {
		t.Errorf("ratio: x %v, y %v, %d missing; want mean 3 at x=1 over 2 rows, 2 missing", s.x, s.y, tl.missing)
	}
	if !tb.isBool(cc) {
		t.Error("a boolean column with empty cells is not boolean")
	}
	all, _ = lineSeries(tb, []int{0, 1, 2, 3}, cx, cc, -1, []string{""}, ErrorsNone, newTally())
	if s := all[0]; s.y[0] != 0.5 {
		t.Errorf("converged: %v, want 0.5 (one of two; the empty cell is not false)", s.y)
	}
	f, err := Line(tb, LineOptions{X: "x", Y: "ratio"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.(*figure).caption; !strings.Contains(c, "2 rows without a value (not applicable) left out") || !strings.Contains(c, "n = 2 runs per point") {
		t.Errorf("caption %q", c)
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

	tb := where(t, testTable(t), "bandwidth=10Gbit")
	cx, cy, cby, _, err := lineColumns(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model"})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := tb.groups(cby)
	rows := make([]int, len(tb.Rows))
	for i := range rows {
		rows[i] = i
	}
	all, err := lineSeries(tb, rows, cx, cy, cby, names, ErrorsStd, newTally())
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
	// precopy at 10000 pages/s over 10 Gbit: 3 seeds of 5.1, 5.2 and
	// 5.3: mean 5.2, sample standard deviation 0.1.
	if pt := xys[1]; pt.X != 10000 || math.Abs(pt.Y-5.2) > 1e-9 || all[0].counts[1] != 3 {
		t.Errorf("precopy at 10000: %+v (%d rows), want mean 5.2 over 3", pt, all[0].counts[1])
	}
	if lo, hi := all[0].YError(1); lo != hi || math.Abs(lo-0.1) > 1e-9 {
		t.Errorf("precopy at 10000: error %v, %v; want the standard deviation 0.1", lo, hi)
	}
}

func TestPlotErrors(t *testing.T) {
	tb := testTable(t)
	tb10 := where(t, tb, "bandwidth=10Gbit")
	if _, err := Line(where(t, tb10, "dirty_rate=1000"), LineOptions{X: "model", Y: "total_time_s"}); err == nil || !strings.Contains(err.Error(), `"precopy" is not a number`) {
		t.Errorf("text on x: %v", err)
	}
	if _, err := Line(tb10, LineOptions{X: "dirty_rate", Y: "downtime_s", By: "model", LogY: true, Errors: ErrorsStd}); err != nil {
		t.Errorf("log y of positive values: %v", err)
	}
	if _, err := Line(tb10, LineOptions{X: "seed", Y: "total_time_s", By: "model", Facet: "dirty_rate", LogY: true, Errors: ErrorsNone}); err != nil {
		t.Errorf("log y: %v", err)
	}
	z := where(t, tb, "seed=1", "model=precopy", "bandwidth=10Gbit")
	for i := range z.Rows {
		z.Rows[i][1] = strconv.Itoa(i) // dirty rates 0, 1, 2
	}
	if _, err := Line(z, LineOptions{X: "dirty_rate", Y: "total_time_s", LogX: true}); err == nil ||
		!strings.Contains(err.Error(), "--logx: workload.generator.dirty_rate is zero or below at 1 point") || !strings.Contains(err.Error(), "--where 'dirty_rate>0'") {
		t.Errorf("log x over zero: %v", err)
	}
	if _, err := Line(z, LineOptions{X: "dirty_rate", Y: "total_time_s", LogX: true}); err == nil {
		t.Error("log x over zero accepted")
	}
	if _, err := Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "nope"}); err == nil || !strings.Contains(err.Error(), "--z") {
		t.Errorf("heat map of a missing column: %v", err)
	}
	if _, err := Line(tb, LineOptions{X: "dirty_rate", Y: "total_time_s", Facet: "bandwith"}); err == nil || !strings.Contains(err.Error(), "--facet: no column") {
		t.Errorf("facet of a missing column: %v", err)
	}
	if _, err := Rounds(testResult(), "speed", ""); err == nil || !strings.Contains(err.Error(), "unknown round metric") {
		t.Errorf("unknown round metric: %v", err)
	}
	if _, err := Rounds(&models.Result{}, "", ""); err == nil {
		t.Error("a result without rounds was plotted")
	}
}

// TestHeatmapFraction checks that a boolean map's colour scale is [0, 1]
// whatever the data, and that its cells are fractions of the runs with a
// value.
func TestHeatmapFraction(t *testing.T) {
	tb := where(t, testTable(t), "model=precopy", "bandwidth=1Gbit")
	for i := range tb.Rows { // at most half of the runs converge in a cell
		if tb.Rows[i][4] != "1" {
			tb.Rows[i][6] = "false"
		}
	}
	tb.Rows[0][6] = "" // not applicable: left out, not false
	f, err := Heatmap(tb, HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "converged"})
	if err != nil {
		t.Fatal(err)
	}
	fig := f.(*figure)
	if fig.bar.Y.Min != 0 || fig.bar.Y.Max != 1 {
		t.Errorf("colour scale [%v, %v], want [0, 1]", fig.bar.Y.Min, fig.bar.Y.Max)
	}
	g := heatGrid(t, fig)
	// 1000 pages/s: seed 1 left out, seeds 2 and 3 false: 0 of 2. 10000:
	// 1 of 3.
	if g.z[0][0] != 0 || math.Abs(g.z[1][0]-1.0/3) > 1e-12 || g.z[2][0] != 0 {
		t.Errorf("fractions %v, want 0, 1/3, 0", g.z)
	}
	if !strings.Contains(fig.caption, "1 row without a value (not applicable) left out") {
		t.Errorf("caption %q", fig.caption)
	}
}

// heatGrid returns the grid of the first panel of a heat map.
func heatGrid(t *testing.T, f *figure) *grid {
	t.Helper()
	if len(f.grids) == 0 {
		t.Fatal("not a heat map")
	}
	return f.grids[0]
}

// TestHeatmapFailedCells checks that a metric's cell where no run
// completed is marked, not coloured by the value the runs gave up at.
func TestHeatmapFailedCells(t *testing.T) {
	f, err := Heatmap(where(t, testTable(t), "model=precopy"), HeatmapOptions{X: "dirty_rate", Y: "bandwidth", Z: "total_time_s"})
	if err != nil {
		t.Fatal(err)
	}
	g := heatGrid(t, f.(*figure))
	if !math.IsNaN(g.z[2][0]) || !g.failed[2][0] || g.failed[2][1] {
		t.Errorf("cell of 100000 pages/s over 1 Gbit: %v, failed %v; want NaN and marked", g.z[2][0], g.failed[2][0])
	}
	if l := (cellLabels{g: g, format: tickText, values: true}).Label(2*2 + 0); l != "×" {
		t.Errorf("label %q, want ×", l)
	}
	if g.z[2][1] > 100 {
		t.Errorf("cell over 10 Gbit: %v", g.z[2][1])
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{500, 4500, []string{"1000", "2000", "3000", "4000"}},
		{0, 60000, []string{"0", "20000", "40000", "60000"}},
		{0, 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{4.32, 15.16, []string{"6", "8", "10", "12", "14"}},
		{4.2, 16.5, []string{"6", "8", "10", "12", "14", "16"}},
		{0, 2.6, []string{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}},
		{-3, 3, []string{"-3", "-2", "-1", "0", "1", "2", "3"}},
		{0.002, 0.0031, []string{"0.0020", "0.0022", "0.0024", "0.0026", "0.0028", "0.0030"}},
		{1e9, 2.5e10, []string{"5e+09", "1e+10", "1.5e+10", "2e+10", "2.5e+10"}},
		{7, 7, []string{"7"}},
	} {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ticks over [%v, %v]: %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
	// A scaled axis: raw bytes labelled in GiB.
	var got []string
	for _, tk := range (niceTicks{scale: 1 << 30}).Ticks(0, 4<<30) {
		if tk.Label != "" {
			got = append(got, fmt.Sprintf("%s@%g", tk.Label, tk.Value))
		}
	}
	if want := []string{"0@0", "1@1.073741824e+09", "2@2.147483648e+09", "3@3.221225472e+09", "4@4.294967296e+09"}; !slices.Equal(got, want) {
		t.Errorf("GiB ticks %v, want %v", got, want)
	}
}

func TestValueUnits(t *testing.T) {
	for _, tc := range []struct{ col, cell, want string }{
		{"network.bandwidth_bps", "1e+10", "10 Gbit"},
		{"network.bandwidth_bps", "2.5e+09", "2.5 Gbit"},
		{"network.bandwidth_bps", "1e+08", "100 Mbit"},
		{"vm.memory_bytes", "4294967296", "4 GiB"},
		{"vm.memory_bytes", "1536", "1.5 KiB"},
		{"model.downtime_limit_s", "0.3", "300 ms"},
		{"model.downtime_limit_s", "10", "10 s"},
		{"workload.generator.dirty_rate", "20000", "20000 pages/s"},
		{"workload.generator.dirty_rate_pages_per_s", "20000", "20000 pages/s"},
		{"model.name", "precopy", "precopy"},
		{"model.xbzrle", "true", "true"},
	} {
		if got := formatValue(tc.col, tc.cell); got != tc.want {
			t.Errorf("formatValue(%s, %s) = %q, want %q", tc.col, tc.cell, got, tc.want)
		}
	}
	for col, cell := range map[string]string{"network.bandwidth_bps": "2.5e+09", "vm.memory_bytes": "4294967296", "model.downtime_limit_s": "0.3"} {
		w := whereValue(col, cell)
		v, ok, err := parseValue(col, w)
		want, _ := strconv.ParseFloat(cell, 64)
		if err != nil || !ok || v != want {
			t.Errorf("whereValue(%s, %s) = %q reads back as %v, %v, %v", col, cell, w, v, ok, err)
		}
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
		{"workload.generator.dirty_rate_pages_per_s", []float64{1}, "dirty rate (pages/s)", 1},
		{"throttle_pct", []float64{20}, "throttle (%)", 1},
	} {
		got := axisFor(tc.col, tc.vals, false)
		if got.label != tc.label || got.scale != tc.scale {
			t.Errorf("axisFor(%s) = %+v, want %s / %g", tc.col, got, tc.label, tc.scale)
		}
	}
}

// svgTexts draws fig as SVG and returns its texts joined by spaces.
func svgTexts(t *testing.T, fig Figure) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, fig, "svg", Size{Width: 7 * vg.Inch, Height: 3 * vg.Inch}); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range svgText.FindAllStringSubmatch(b.String(), -1) {
		texts = append(texts, m[1])
	}
	return strings.Join(texts, " ")
}

// TestSeriesNotApplicable checks that a series whose every value is empty
// (post-copy's converged) is named in the caption and left out of the
// legend, and that a series keeps its colour in every panel, present or
// not in the first.
func TestSeriesNotApplicable(t *testing.T) {
	tb := testTable(t)
	f, err := Line(where(t, tb, "bandwidth=10Gbit"), LineOptions{X: "dirty_rate", Y: "converged", By: "model"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.(*figure).caption; !strings.Contains(c, "No value at all (not applicable) for postcopy.") {
		t.Errorf("caption %q", c)
	}
	txt := svgTexts(t, f)
	if !strings.Contains(txt, "precopy") || strings.Count(txt, "postcopy") != 1 {
		t.Errorf("texts %q: want precopy in the legend, postcopy only in the caption", txt)
	}
	// A fraction's axis: 0 to 1, no label past 1.
	if !strings.Contains(txt, "fraction converged 0.0 0.2 0.4 0.6 0.8 1.0 precopy") {
		t.Errorf("texts %q: want the axis labelled 0.0 to 1.0", txt)
	}
	// Post-copy only in the second panel: its series keeps index 1.
	var rows [][]string
	for _, r := range tb.Rows {
		if r[2] == "1e+10" || r[5] == "precopy" {
			rows = append(rows, r)
		}
	}
	part := &Table{Columns: tb.Columns, Rows: rows, Axes: tb.Axes, Repeats: tb.Repeats}
	f, err = Line(part, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model", Facet: "bandwidth"})
	if err != nil {
		t.Fatal(err)
	}
	cx, cy, cby, _, _ := lineColumns(part, LineOptions{X: "dirty_rate", Y: "total_time_s", By: "model"})
	names, _ := part.groups(cby)
	for _, pn := range part.facets(1) {
		all, err := lineSeries(part, pn.rows, cx, cy, cby, names, ErrorsNone, newTally())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if want := slices.Index(names, s.name); s.style != want {
				t.Errorf("panel %s: series %s has style %d, want %d", pn.title, s.name, s.style, want)
			}
		}
	}
	if txt := svgTexts(t, f); strings.Count(txt, "postcopy") != 1 {
		t.Errorf("the legend should name postcopy once: %q", txt)
	}
}
