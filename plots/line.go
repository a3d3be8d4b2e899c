package plots

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Error bar kinds of [LineOptions].
const (
	ErrorsCI95 = "ci95" // 95 % confidence interval of the mean (Student's t)
	ErrorsStd  = "std"  // ± one sample standard deviation
	ErrorsNone = "none"
)

// LineOptions configure [Line].
type LineOptions struct {
	// X and Y name the columns on the axes (see [Table.Column]).
	X, Y string
	// By names the column whose values make the series; "" for one series.
	By string
	// Facet names the column whose values make the panels (small
	// multiples with shared axes); "" for one panel.
	Facet string
	// Errors is ErrorsCI95 (the default when ""), ErrorsStd or ErrorsNone:
	// the error bars drawn where several rows share a series and an x
	// (repeats over seeds).
	Errors string
	// LogX and LogY put an axis on a log scale.
	LogX, LogY bool
	// Title is the figure's title, "" for none.
	Title string
}

// series is one line of a plot: points with symmetric errors. It
// implements plotter.XYer and plotter.YErrorer.
type series struct {
	name   string
	style  int // the series' index among all of the figure's, for its colour
	x, y   []float64
	err    []float64
	counts []int
	// gapAfter[i] is true when the line must not join point i to point
	// i+1: at an x between them every run failed or had no value.
	gapAfter []bool
	// failX are the x values where some runs did not complete.
	failX []float64
}

// Len, XY and YError implement plotter.XYer and plotter.YErrorer.
func (s *series) Len() int                        { return len(s.x) }
func (s *series) XY(i int) (float64, float64)     { return s.x[i], s.y[i] }
func (s *series) YError(i int) (float64, float64) { return s.err[i], s.err[i] }

func (s *series) hasErrors() bool {
	return slices.ContainsFunc(s.err, func(e float64) bool { return e > 0 })
}

// scale returns s with x divided by sx and y and errors by sy.
func (s *series) scale(sx, sy float64) *series {
	c := &series{name: s.name, style: s.style, counts: s.counts, gapAfter: s.gapAfter}
	for i := range s.x {
		c.x = append(c.x, s.x[i]/sx)
		c.y = append(c.y, s.y[i]/sy)
		c.err = append(c.err, s.err[i]/sy)
	}
	for _, x := range s.failX {
		c.failX = append(c.failX, x/sx)
	}
	return c
}

// segments splits the series where the line has gaps.
func (s *series) segments() []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range s.x {
		cur = append(cur, plotter.XY{X: s.x[i], Y: s.y[i]})
		if s.gapAfter[i] || i == len(s.x)-1 {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

var (
	_ plotter.XYer     = (*series)(nil)
	_ plotter.YErrorer = (*series)(nil)
)

// isBool reports whether every non-empty cell of column c is true or
// false, and one is.
func (t *Table) isBool(c int) bool {
	seen := false
	for _, r := range t.Rows {
		switch r[c] {
		case "true", "false":
			seen = true
		case "":
		default:
			return false
		}
	}
	return seen
}

// panel is the rows of one panel of a faceted figure.
type panel struct {
	title string
	rows  []int
}

// facets splits the rows by column cf (one panel of every row when cf <
// 0), titling each panel "name = value" with the value's unit.
func (t *Table) facets(cf int) []panel {
	names, of := t.groups(cf)
	out := make([]panel, len(names))
	for i, n := range names {
		if cf >= 0 {
			out[i].title = fmt.Sprintf("%s = %s", shortLabel(t.Columns[cf]), formatValue(t.Columns[cf], n))
			if n == "" {
				out[i].title = shortLabel(t.Columns[cf]) + " not applicable"
			}
		}
	}
	for r, g := range of {
		out[g].rows = append(out[g].rows, r)
	}
	return out
}

// shortLabel is a column's name for a reader: its last part without the
// unit, underscores as spaces; with its section when that part is short
// (model.name, vm.vcpus).
func shortLabel(column string) string {
	last := stripUnit(column[strings.LastIndexByte(column, '.')+1:])
	if len(last) < 6 {
		return stripUnit(column)
	}
	return strings.ReplaceAll(last, "_", " ")
}

// failMark is the glyph of runs that did not complete.
var failMark = draw.GlyphStyle{Shape: draw.CrossGlyph{}, Radius: vg.Points(2.6)}

// Line plots column Y against column X, one line per value of By and one
// panel per value of Facet, with markers at the points and error bars over
// the rows that share an x in a series: the mean of Y and its 95 %
// confidence interval by default. A boolean Y (converged) is plotted as
// the fraction of true.
//
// Rows that differ in an axis of the table that is none of X, By, Facet
// and the repeat axes are not averaged: that is an error naming the
// column (see [Table.Axes]). Runs that did not complete (completed false,
// or stop_reason max_time or no_progress) are no values: they are left
// out of the lines and the means, marked × at the top of the panel in
// their series' colour, and counted in the caption, as are empty (not
// applicable) cells. A boolean Y counts every run. A line does not join
// points across an x where no run gave a value.
func Line(t *Table, o LineOptions) (Figure, error) {
	cx, cy, cby, cf, err := lineColumns(t, o)
	if err != nil {
		return nil, err
	}
	shown := []role{{"--x", cx}}
	if cby >= 0 {
		shown = append(shown, role{"--by", cby})
	}
	if cf >= 0 {
		shown = append(shown, role{"--facet", cf})
	}
	if err := t.checkPooling(shown); err != nil {
		return nil, err
	}
	panels := t.facets(cf)
	names, _ := t.groups(cby)
	tl := newTally()
	all := make([][]*series, len(panels))
	for i, pn := range panels {
		if all[i], err = lineSeries(t, pn.rows, cx, cy, cby, names, o.Errors, tl); err != nil {
			return nil, err
		}
	}

	var allX, allY []float64
	for _, ss := range all {
		for _, s := range ss {
			allX = append(allX, s.x...)
			allX = append(allX, s.failX...)
			for i := range s.y {
				allY = append(allY, s.y[i]+s.err[i], s.y[i]-s.err[i])
			}
		}
	}
	if len(allY) == 0 {
		return nil, fmt.Errorf("no value of %s to plot: %s", t.Columns[cy], noValueReason(tl))
	}
	sx := axisFor(t.Columns[cx], allX, false)
	sy := axisFor(t.Columns[cy], allY, t.isBool(cy))
	xlo, xhi := minMax(allX, sx.scale)
	ylo, yhi := minMax(allY, sy.scale)
	if xlo == xhi {
		xlo, xhi = xlo-0.5, xhi+0.5
	}
	fraction := t.isBool(cy)
	if fraction && !o.LogY {
		// A fraction's axis is 0 to 1 whatever the data (error bars may
		// reach past it); labels stop at 1 above the legend's room.
		ylo, yhi = math.Min(0, ylo), math.Max(1, yhi)
	}
	if ylo == yhi {
		ylo, yhi = ylo-0.5, yhi+0.5
	}
	anyFail := tl.failedTotal() > 0
	failY := yhi
	if o.LogY {
		failY = yhi * math.Pow(yhi/ylo, 0.06)
	} else if anyFail {
		failY = yhi + 0.06*(yhi-ylo)
	}
	top := math.Max(yhi, failY)
	entries := 0
	if o.By != "" {
		entries = len(names)
	}
	if anyFail {
		entries++
	}
	if entries > 0 && !o.LogY {
		// Room above the data and the failure marks for the legend.
		top += 0.09 * (float64(entries) + 0.5) * (yhi - ylo)
	}

	f := &figure{cols: facetCols(len(panels))}
	for i, pn := range panels {
		title := o.Title
		if len(panels) > 1 {
			title = pn.title
		}
		p := newPlot(title, sx.label, sy.label)
		if err := setLog(p, o.LogX, o.LogY, t, cx, allX, cy, allY); err != nil {
			return nil, err
		}
		for _, s := range all[i] {
			if err := addSeries(p, s.scale(sx.scale, sy.scale), o, failY); err != nil {
				return nil, err
			}
		}
		if i == 0 {
			// One legend, on the first panel, for every series drawn in
			// any panel.
			if o.By != "" {
				for g, name := range drawnNames(all, len(names)) {
					if name != "" {
						ls, gs := seriesStyle(g)
						p.Legend.Add(name, &plotter.Line{LineStyle: ls}, glyphThumb(gs))
					}
				}
			}
			if anyFail {
				p.Legend.Add("did not complete", failThumb{})
			}
		}
		p.X.Min, p.X.Max = xlo, xhi
		p.Y.Min, p.Y.Max = ylo, top
		if fraction && !o.LogY {
			p.Y.Tick.Marker = niceTicks{max: 1}
		}
		if len(panels) > 1 {
			if i%f.cols != 0 {
				p.Y.Label.Text = ""
			}
			if i < len(panels)-f.cols {
				p.X.Label.Text = ""
			}
		}
		f.panels = append(f.panels, p)
	}
	if o.Title != "" && len(panels) > 1 {
		f.panels[0].Title.Text = o.Title + ": " + panels[0].title
	}
	f.caption = lineCaption(t, o, tl)
	if empty := emptyNames(all, len(names)); len(empty) > 0 {
		f.caption += fmt.Sprintf(" No value at all (not applicable) for %s.", strings.Join(empty, ", "))
	}
	return f, nil
}

// failThumb draws the legend's "did not complete" mark in grey.
type failThumb struct{}

func (failThumb) Thumbnail(c *draw.Canvas) {
	st := failMark
	st.Color = colors[6]
	c.DrawGlyph(st, c.Center())
}

// addSeries draws one series on p: its line segments, markers, error
// bars and failure marks at failY.
func addSeries(p *plot.Plot, d *series, o LineOptions, failY float64) error {
	ls, gs := seriesStyle(d.style)
	for _, seg := range d.segments() {
		line, err := plotter.NewLine(seg)
		if err != nil {
			return fmt.Errorf("series %q: %w", d.name, err)
		}
		line.LineStyle = ls
		p.Add(line)
	}
	if d.Len() > 0 {
		pts, err := plotter.NewScatter(d)
		if err != nil {
			return fmt.Errorf("series %q: %w", d.name, err)
		}
		pts.GlyphStyle = gs
		p.Add(pts)
		if o.Errors != ErrorsNone && d.hasErrors() {
			eb, err := plotter.NewYErrorBars(d)
			if err != nil {
				return fmt.Errorf("series %q: %w", d.name, err)
			}
			eb.LineStyle.Color, eb.LineStyle.Width = ls.Color, ls.Width*0.8
			p.Add(eb)
		}
	}
	if len(d.failX) > 0 {
		var xys plotter.XYs
		for _, x := range d.failX {
			xys = append(xys, plotter.XY{X: x, Y: failY})
		}
		fails, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("series %q: %w", d.name, err)
		}
		fails.GlyphStyle = failMark
		fails.GlyphStyle.Color = ls.Color
		p.Add(fails)
	}
	return nil
}

// drawnNames returns, per series index (n of them), its legend label when
// some panel draws a point or a failure mark of it, else "".
func drawnNames(all [][]*series, n int) []string {
	out := make([]string, n)
	for _, ss := range all {
		for _, s := range ss {
			if s.Len() > 0 || len(s.failX) > 0 {
				out[s.style] = s.name
			}
		}
	}
	return out
}

// emptyNames lists the series that have rows but nothing to draw in any
// panel (every value empty: not applicable to them).
func emptyNames(all [][]*series, n int) []string {
	drawn := drawnNames(all, n)
	var out []string
	seen := map[int]bool{}
	for _, ss := range all {
		for _, s := range ss {
			if drawn[s.style] == "" && !seen[s.style] {
				seen[s.style] = true
				out = append(out, s.name)
			}
		}
	}
	return out
}

// glyphThumb draws a legend thumbnail of a marker.
type glyphThumb draw.GlyphStyle

func (g glyphThumb) Thumbnail(c *draw.Canvas) { c.DrawGlyph(draw.GlyphStyle(g), c.Center()) }

// lineColumns resolves the columns of a line plot.
func lineColumns(t *Table, o LineOptions) (cx, cy, cby, cf int, err error) {
	cby, cf = -1, -1
	if cx, err = t.Column(o.X); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("--x: %w", err)
	}
	if cy, err = t.Column(o.Y); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("--y: %w", err)
	}
	if o.By != "" {
		if cby, err = t.Column(o.By); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("--by: %w", err)
		}
	}
	if o.Facet != "" {
		if cf, err = t.Column(o.Facet); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("--facet: %w", err)
		}
	}
	if len(t.Rows) == 0 {
		return 0, 0, 0, 0, fmt.Errorf("no rows to plot")
	}
	return cx, cy, cby, cf, nil
}

// lineSeries aggregates rows into the series of a line plot: per value of
// column cby (names, in order), per distinct x in ascending order, the
// mean of y over the completed runs with a value, and its error. It
// counts what it leaves out in tl.
func lineSeries(t *Table, rows []int, cx, cy, cby int, names []string, errKind string, tl *tally) ([]*series, error) {
	xs, err := t.floats(cx)
	if err != nil {
		return nil, err
	}
	ys, err := t.floats(cy)
	if err != nil {
		return nil, err
	}
	fails := t.failures()
	outcome := t.isBool(cy) // converged, completed: every run counts
	_, of := t.groups(cby)
	var all []*series
	for g, name := range names {
		type cell struct {
			vals   []float64
			failed int
		}
		byX := map[float64]*cell{}
		for _, i := range rows {
			if of[i] != g {
				continue
			}
			if math.IsNaN(xs[i]) {
				tl.missingX++
				continue
			}
			c := byX[xs[i]]
			if c == nil {
				c = &cell{}
				byX[xs[i]] = c
			}
			switch {
			case fails[i] != "" && !outcome:
				c.failed++
				tl.failed[fails[i]]++
			case math.IsNaN(ys[i]):
				tl.missing++
			default:
				c.vals = append(c.vals, ys[i])
			}
		}
		if len(byX) == 0 {
			continue
		}
		label := name
		if cby >= 0 {
			label = formatValue(t.Columns[cby], name)
			if name == "" {
				label = "(none)"
			}
		}
		s := &series{name: label, style: g}
		gap := false
		for _, x := range slices.Sorted(maps.Keys(byX)) {
			c := byX[x]
			if c.failed > 0 {
				s.failX = append(s.failX, x)
			}
			if len(c.vals) == 0 {
				gap = true
				continue
			}
			if gap && len(s.gapAfter) > 0 {
				s.gapAfter[len(s.gapAfter)-1] = true
			}
			gap = false
			mean, e := summarize(c.vals, errKind)
			s.x, s.y, s.err, s.counts = append(s.x, x), append(s.y, mean), append(s.err, e), append(s.counts, len(c.vals))
			s.gapAfter = append(s.gapAfter, false)
			tl.point(len(c.vals))
		}
		all = append(all, s)
	}
	return all, nil
}

// minMax returns the least and greatest of v divided by scale.
func minMax(v []float64, scale float64) (lo, hi float64) {
	return slices.Min(v) / scale, slices.Max(v) / scale
}

// noValueReason says why a figure has nothing to draw.
func noValueReason(tl *tally) string {
	var why []string
	if n := tl.failedTotal(); n > 0 {
		why = append(why, tl.failedText()+" did not complete")
	}
	if tl.missing > 0 {
		why = append(why, plural(tl.missing, "row")+" have an empty cell (not applicable)")
	}
	if tl.missingX > 0 {
		why = append(why, plural(tl.missingX, "row")+" have no position")
	}
	if len(why) == 0 {
		return "no rows"
	}
	return strings.Join(why, "; ")
}

// lineCaption says what each point is and what was left out.
func lineCaption(t *Table, o LineOptions, tl *tally) string {
	var parts []string
	switch {
	case tl.nMax <= 1:
		parts = append(parts, "One run per point.")
	default:
		bars := map[string]string{ErrorsStd: "; bars: ±1 standard deviation", ErrorsNone: ""}[o.Errors]
		if o.Errors == "" || o.Errors == ErrorsCI95 {
			bars = "; bars: 95 % confidence interval of the mean"
		}
		parts = append(parts, fmt.Sprintf("Mean of %s%s%s.", tl.nText("point"), repeatText(t), bars))
	}
	parts = append(parts, leftOutText(tl, "lines and means", "× at the top")...)
	return strings.Join(parts, " ")
}

// leftOutText describes the runs a figure did not draw as values.
func leftOutText(tl *tally, from, mark string) []string {
	var parts []string
	if tl.failedTotal() > 0 {
		parts = append(parts, fmt.Sprintf("%s did not complete: left out of the %s, marked %s.", tl.failedText(), from, mark))
	}
	if tl.missing > 0 {
		parts = append(parts, fmt.Sprintf("%s without a value (not applicable) left out.", plural(tl.missing, "row")))
	}
	if tl.missingX > 0 {
		parts = append(parts, fmt.Sprintf("%s without a position left out.", plural(tl.missingX, "row")))
	}
	return parts
}

// summarize returns the mean of v and its error bar half-width.
func summarize(v []float64, kind string) (mean, e float64) {
	mean, std := stat.MeanStdDev(v, nil)
	if len(v) < 2 || math.IsNaN(std) {
		return mean, 0
	}
	switch kind {
	case ErrorsStd:
		return mean, std
	case ErrorsNone:
		return mean, 0
	}
	tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(v) - 1)}.Quantile(0.975)
	return mean, tq * std / math.Sqrt(float64(len(v)))
}

// setLog puts the axes on log scales, checking the drawn values xs and
// ys of columns cx and cy are positive: a log axis cannot show zero or
// less, and that is an error naming the column and how many values are
// so, not a silent drop.
func setLog(p *plot.Plot, logX, logY bool, t *Table, cx int, xs []float64, cy int, ys []float64) error {
	if logX {
		if n := countNonPositive(xs); n > 0 {
			return fmt.Errorf("--logx: %s is zero or below at %s, which a log axis cannot show; leave those rows out with --where '%s>0', or drop --logx",
				t.Columns[cx], plural(n, "point"), t.shortName(cx))
		}
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if logY {
		if n := countNonPositive(ys); n > 0 {
			return fmt.Errorf("--logy: %s reaches zero or below (error bars included) at %s, which a log axis cannot show; drop --logy, or --errors none if only the bars reach zero",
				t.Columns[cy], plural(n, "point"))
		}
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	return nil
}

func countNonPositive(v []float64) int {
	n := 0
	for _, x := range v {
		if x <= 0 {
			n++
		}
	}
	return n
}
