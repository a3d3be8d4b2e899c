package plots

import (
	"fmt"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// CDFOptions configure [CDF].
type CDFOptions struct {
	// Y names the column whose distribution is drawn.
	Y string
	// By names the column whose values make the series; "" for one.
	By string
	// LogX puts the values on a log scale.
	LogX bool
	// Title is the figure's title, "" for none.
	Title string
}

// cdfPoints is an empirical CDF: sorted values and F(x) = rank/n. It
// implements plotter.XYer.
type cdfPoints struct {
	x []float64
	n int
}

func (c cdfPoints) Len() int { return len(c.x) }
func (c cdfPoints) XY(i int) (float64, float64) {
	return c.x[i], float64(i+1) / float64(c.n)
}

var _ plotter.XYer = cdfPoints{}

// CDF draws the empirical cumulative distribution of column Y over the
// rows, one step line per value of By: the share of points whose Y is at
// most x.
func CDF(t *Table, o CDFOptions) (*plot.Plot, error) {
	cy, err := t.Column(o.Y)
	if err != nil {
		return nil, fmt.Errorf("--y: %w", err)
	}
	cby := -1
	if o.By != "" {
		if cby, err = t.Column(o.By); err != nil {
			return nil, fmt.Errorf("--by: %w", err)
		}
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no rows to plot")
	}
	ys, err := t.floats(cy)
	if err != nil {
		return nil, err
	}
	sx := axisFor(t.Columns[cy], ys, false)
	p := newPlot(o.Title, sx.label, "fraction of points (CDF)")
	if err := setLog(p, o.LogX, false, ys, nil); err != nil {
		return nil, err
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Left, p.Legend.Top = false, false
	names, of := t.groups(cby)
	for g, name := range names {
		var v []float64
		for i := range t.Rows {
			if of[i] == g {
				v = append(v, ys[i]/sx.scale)
			}
		}
		slices.Sort(v)
		line, err := plotter.NewLine(cdfPoints{x: v, n: len(v)})
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", name, err)
		}
		line.StepStyle = plotter.PostStep
		line.LineStyle, _ = seriesStyle(g)
		p.Add(line)
		if o.By != "" {
			p.Legend.Add(name, line)
		}
	}
	return p, nil
}
