package plots

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"
)

// CDFOptions configure [CDF].
type CDFOptions struct {
	// Y names the column whose distribution is drawn.
	Y string
	// By names the column whose values make the series; "" for one.
	By string
	// Facet names the column whose values make the panels; "" for one.
	Facet string
	// LogX puts the values on a log scale.
	LogX bool
	// Title is the figure's title, "" for none.
	Title string
}

// cdfPoints is an empirical CDF over n runs: sorted values and F(x) =
// rank/n. Runs that did not complete are among the n but have no value,
// so F ends at the share that completed. It implements plotter.XYer.
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
// rows, one step line per value of By and one panel per value of Facet:
// the share of runs whose Y is at most x. A run that did not complete
// has no Y: it counts among the runs but never reaches any x, so its
// curve ends below 1, at the share that completed, marked ×. Empty (not
// applicable) cells are left out. Both are counted in the caption.
func CDF(t *Table, o CDFOptions) (Figure, error) {
	cy, err := t.Column(o.Y)
	if err != nil {
		return nil, fmt.Errorf("--y: %w", err)
	}
	cby, cf := -1, -1
	if o.By != "" {
		if cby, err = t.Column(o.By); err != nil {
			return nil, fmt.Errorf("--by: %w", err)
		}
	}
	if o.Facet != "" {
		if cf, err = t.Column(o.Facet); err != nil {
			return nil, fmt.Errorf("--facet: %w", err)
		}
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no rows to plot")
	}
	ys, err := t.floats(cy)
	if err != nil {
		return nil, err
	}
	fails := t.failures()
	outcome := t.isBool(cy)
	names, of := t.groups(cby)
	panels := t.facets(cf)
	tl := newTally()
	type curve struct {
		v []float64
		n int
	}
	curves := make([][]curve, len(panels))
	var drawn []float64
	for i, pn := range panels {
		curves[i] = make([]curve, len(names))
		for _, r := range pn.rows {
			c := &curves[i][of[r]]
			switch {
			case fails[r] != "" && !outcome:
				tl.failed[fails[r]]++
				c.n++
			case math.IsNaN(ys[r]):
				tl.missing++
			default:
				c.v = append(c.v, ys[r])
				c.n++
				drawn = append(drawn, ys[r])
			}
		}
		for g := range curves[i] {
			slices.Sort(curves[i][g].v)
			if curves[i][g].n > 0 {
				tl.point(curves[i][g].n)
			}
		}
	}
	if len(drawn) == 0 {
		return nil, fmt.Errorf("no value of %s to plot: %s", t.Columns[cy], noValueReason(tl))
	}
	sx := axisFor(t.Columns[cy], drawn, false)
	lo, hi := minMax(drawn, sx.scale)
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	f := &figure{cols: facetCols(len(panels))}
	for i, pn := range panels {
		title := o.Title
		if len(panels) > 1 {
			title = pn.title
		}
		p := newPlot(title, sx.label, "fraction of runs (CDF)")
		if err := setLog(p, o.LogX, false, t, cy, drawn, -1, nil); err != nil {
			return nil, err
		}
		p.Legend.Left, p.Legend.Top = false, false
		for g, name := range names {
			c := curves[i][g]
			if c.n == 0 {
				continue
			}
			v := make([]float64, len(c.v))
			for k := range c.v {
				v[k] = c.v[k] / sx.scale
			}
			ls, _ := seriesStyle(g)
			if len(v) > 0 {
				line, err := plotter.NewLine(cdfPoints{x: v, n: c.n})
				if err != nil {
					return nil, fmt.Errorf("series %q: %w", name, err)
				}
				line.StepStyle = plotter.PostStep
				line.LineStyle = ls
				p.Add(line)
				if o.By != "" && i == 0 {
					label := formatValue(t.Columns[cby], name)
					p.Legend.Add(label, line)
				}
			}
			if len(v) < c.n {
				// The curve stops at the share that completed.
				end := hi
				if len(v) > 0 {
					end = v[len(v)-1]
				}
				mark, err := plotter.NewScatter(plotter.XYs{{X: end, Y: float64(len(v)) / float64(c.n)}})
				if err != nil {
					return nil, err
				}
				mark.GlyphStyle = failMark
				mark.GlyphStyle.Color = ls.Color
				p.Add(mark)
			}
		}
		if i == 0 && tl.failedTotal() > 0 {
			p.Legend.Add("share completed", failThumb{})
		}
		p.X.Min, p.X.Max = lo, hi
		p.Y.Min, p.Y.Max = 0, 1
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
	parts := []string{fmt.Sprintf("Share of the runs of each curve (%s) whose %s is at most x.", strings.TrimPrefix(tl.nText("curve"), "n = "), shortLabel(t.Columns[cy]))}
	if tl.failedTotal() > 0 {
		parts = append(parts, fmt.Sprintf("%s did not complete: counted as never reaching any x, so a curve ends at the share that completed (×).", tl.failedText()))
	}
	if tl.missing > 0 {
		parts = append(parts, fmt.Sprintf("%s without a value (not applicable) left out.", plural(tl.missing, "row")))
	}
	f.caption = strings.Join(parts, " ")
	return f, nil
}
