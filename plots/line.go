package plots

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
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
	x, y   []float64
	err    []float64
	counts []int
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
	c := &series{name: s.name, counts: s.counts}
	for i := range s.x {
		c.x = append(c.x, s.x[i]/sx)
		c.y = append(c.y, s.y[i]/sy)
		c.err = append(c.err, s.err[i]/sy)
	}
	return c
}

var (
	_ plotter.XYer     = (*series)(nil)
	_ plotter.YErrorer = (*series)(nil)
)

// isBool reports whether every cell of column c is true or false.
func (t *Table) isBool(c int) bool {
	for _, r := range t.Rows {
		if r[c] != "true" && r[c] != "false" {
			return false
		}
	}
	return len(t.Rows) > 0
}

// Line plots column Y against column X, one line per value of By, with
// markers at the points and error bars over the rows that share an x in a
// series: the mean of Y and its 95 % confidence interval by default. A
// boolean Y (converged) is plotted as the fraction of true.
func Line(t *Table, o LineOptions) (*plot.Plot, error) {
	cx, cy, all, err := lineSeries(t, o)
	if err != nil {
		return nil, err
	}
	var allX, allY []float64
	for _, s := range all {
		allX = append(allX, s.x...)
		for i := range s.y {
			allY = append(allY, s.y[i]+s.err[i], s.y[i]-s.err[i])
		}
	}
	names := all
	sx := axisFor(t.Columns[cx], allX, false)
	sy := axisFor(t.Columns[cy], allY, t.isBool(cy))
	p := newPlot(o.Title, sx.label, sy.label)
	if err := setLog(p, o.LogX, o.LogY, allX, allY); err != nil {
		return nil, err
	}
	if o.By != "" && !o.LogY {
		// Room above the data for the legend.
		lo, hi := slices.Min(allY)/sy.scale, slices.Max(allY)/sy.scale
		p.Y.Max = hi + 0.08*float64(len(names)+1)*(hi-lo)
	}
	for i, s := range all {
		d := s.scale(sx.scale, sy.scale)
		ls, gs := seriesStyle(i)
		line, err := plotter.NewLine(d)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.name, err)
		}
		line.LineStyle = ls
		pts, err := plotter.NewScatter(d)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.name, err)
		}
		pts.GlyphStyle = gs
		p.Add(line, pts)
		if o.Errors != ErrorsNone && d.hasErrors() {
			eb, err := plotter.NewYErrorBars(d)
			if err != nil {
				return nil, fmt.Errorf("series %q: %w", s.name, err)
			}
			eb.LineStyle.Color, eb.LineStyle.Width = ls.Color, ls.Width*0.8
			p.Add(eb)
		}
		if o.By != "" {
			p.Legend.Add(s.name, line, pts)
		}
	}
	return p, nil
}

// lineSeries aggregates the table into the series of a line plot: per
// value of By, per distinct X in ascending order, the mean of Y and its
// error.
func lineSeries(t *Table, o LineOptions) (cx, cy int, all []*series, err error) {
	if cx, err = t.Column(o.X); err != nil {
		return 0, 0, nil, fmt.Errorf("--x: %w", err)
	}
	if cy, err = t.Column(o.Y); err != nil {
		return 0, 0, nil, fmt.Errorf("--y: %w", err)
	}
	cby := -1
	if o.By != "" {
		if cby, err = t.Column(o.By); err != nil {
			return 0, 0, nil, fmt.Errorf("--by: %w", err)
		}
	}
	if len(t.Rows) == 0 {
		return 0, 0, nil, fmt.Errorf("no rows to plot")
	}
	xs, err := t.floats(cx)
	if err != nil {
		return 0, 0, nil, err
	}
	ys, err := t.floats(cy)
	if err != nil {
		return 0, 0, nil, err
	}
	names, of := t.groups(cby)
	for g, name := range names {
		byX := map[float64][]float64{}
		for i := range t.Rows {
			if of[i] == g {
				byX[xs[i]] = append(byX[xs[i]], ys[i])
			}
		}
		keys := make([]float64, 0, len(byX))
		for x := range byX {
			keys = append(keys, x)
		}
		slices.Sort(keys)
		s := &series{name: name}
		for _, x := range keys {
			mean, e := summarize(byX[x], o.Errors)
			s.x, s.y, s.err, s.counts = append(s.x, x), append(s.y, mean), append(s.err, e), append(s.counts, len(byX[x]))
		}
		all = append(all, s)
	}
	return cx, cy, all, nil
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

// setLog puts the axes on log scales, checking the data are positive.
func setLog(p *plot.Plot, logX, logY bool, xs, ys []float64) error {
	if logX {
		if slices.ContainsFunc(xs, func(v float64) bool { return v <= 0 }) {
			return fmt.Errorf("--logx: the x values must be positive")
		}
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	if logY {
		if slices.ContainsFunc(ys, func(v float64) bool { return v <= 0 }) {
			return fmt.Errorf("--logy: the y values (and error bars) must be positive")
		}
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	return nil
}
