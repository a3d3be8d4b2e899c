package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// HeatmapOptions configure [Heatmap].
type HeatmapOptions struct {
	// X and Y name the columns of the two axes; Z the metric shown in
	// colour, the mean over the rows of each cell (for a boolean column,
	// the fraction true: the convergence region).
	X, Y, Z string
	// Facet names the column whose values make the panels; "" for one.
	Facet string
	// Title is the figure's title, "" for none.
	Title string
}

// grid is the cells of a heat map: the mean of Z for each distinct (x, y),
// NaN where no row has that pair. It implements plotter.GridXYZ, with
// columns and rows at integer positions so that every step of a sweep
// axis gets one cell, whatever its spacing.
type grid struct {
	xs, ys []float64 // distinct values, ascending
	z      [][]float64
	// failed marks the cells whose runs all did not complete.
	failed [][]bool
}

func (g *grid) Dims() (c, r int)   { return len(g.xs), len(g.ys) }
func (g *grid) Z(c, r int) float64 { return g.z[c][r] }
func (g *grid) X(c int) float64    { return float64(c) }
func (g *grid) Y(r int) float64    { return float64(r) }

var _ plotter.GridXYZ = (*grid)(nil)

// cellLabels are the cell values written in the cells. It implements
// plotter.XYLabeller.
type cellLabels struct {
	g      *grid
	format func(float64) string
	values bool // write the values, not only the × of failed cells
}

func (l cellLabels) Len() int { c, r := l.g.Dims(); return c * r }
func (l cellLabels) XY(i int) (float64, float64) {
	_, r := l.g.Dims()
	return float64(i / r), float64(i % r)
}
func (l cellLabels) Label(i int) string {
	_, r := l.g.Dims()
	v := l.g.z[i/r][i%r]
	switch {
	case l.g.failed[i/r][i%r]:
		return "×"
	case math.IsNaN(v) || !l.values:
		return ""
	}
	return l.format(v)
}

// Heatmap draws the mean of column Z over the grid of the distinct values
// of columns X and Y, one panel per value of Facet, with the value written
// in each cell when the grid is small enough to read, and a colour bar
// shared by the panels. A boolean Z (converged) is the fraction of runs
// where it is true, on a colour scale fixed to [0, 1].
//
// Rows that differ in an axis of the table that is none of X, Y, Facet
// and the repeat axes are not averaged: that is an error naming the
// column (see [Table.Axes]), so that a convergence map never averages
// two models. For a Z that is not boolean, runs that did not complete
// are left out of the means; a cell where no run completed is marked ×.
// Empty (not applicable) cells are left out. The caption counts both.
func Heatmap(t *Table, o HeatmapOptions) (Figure, error) {
	var cols [3]int
	for i, n := range []struct{ flag, name string }{{"--x", o.X}, {"--y", o.Y}, {"--z", o.Z}} {
		c, err := t.Column(n.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.flag, err)
		}
		cols[i] = c
	}
	cf := -1
	if o.Facet != "" {
		c, err := t.Column(o.Facet)
		if err != nil {
			return nil, fmt.Errorf("--facet: %w", err)
		}
		cf = c
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no rows to plot")
	}
	shown := []role{{"--x", cols[0]}, {"--y", cols[1]}}
	if cf >= 0 {
		shown = append(shown, role{"--facet", cf})
	}
	if err := t.checkPooling(shown); err != nil {
		return nil, err
	}
	var vals [3][]float64
	for i, c := range cols {
		v, err := t.floats(c)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	fails := t.failures()
	boolean := t.isBool(cols[2])
	tl := newTally()
	xs, ys := distinctSorted(vals[0]), distinctSorted(vals[1])
	panels := t.facets(cf)
	grids := make([]*grid, len(panels))
	zmin, zmax := math.Inf(1), math.Inf(-1)
	var drawn []float64
	for pi, pn := range panels {
		g := &grid{xs: xs, ys: ys, z: make([][]float64, len(xs)), failed: make([][]bool, len(xs))}
		sum := make([][]float64, len(xs))
		n := make([][]int, len(xs))
		for c := range xs {
			sum[c], n[c], g.z[c], g.failed[c] = make([]float64, len(ys)), make([]int, len(ys)), make([]float64, len(ys)), make([]bool, len(ys))
		}
		seen := make([][]bool, len(xs))
		for c := range seen {
			seen[c] = make([]bool, len(ys))
		}
		for _, i := range pn.rows {
			if math.IsNaN(vals[0][i]) || math.IsNaN(vals[1][i]) {
				tl.missingX++
				continue
			}
			c, _ := slices.BinarySearch(xs, vals[0][i])
			r, _ := slices.BinarySearch(ys, vals[1][i])
			seen[c][r] = true
			switch {
			case fails[i] != "" && !boolean:
				tl.failed[fails[i]]++
				g.failed[c][r] = true
			case math.IsNaN(vals[2][i]):
				tl.missing++
			default:
				sum[c][r] += vals[2][i]
				n[c][r]++
			}
		}
		for c := range xs {
			for r := range ys {
				g.failed[c][r] = g.failed[c][r] && n[c][r] == 0
				if n[c][r] == 0 {
					g.z[c][r] = math.NaN()
					if !seen[c][r] {
						tl.empty++
					}
					continue
				}
				v := sum[c][r] / float64(n[c][r])
				g.z[c][r] = v
				tl.point(n[c][r])
				zmin, zmax = math.Min(zmin, v), math.Max(zmax, v)
				drawn = append(drawn, v)
			}
		}
		grids[pi] = g
	}
	if len(drawn) == 0 {
		return nil, fmt.Errorf("no value of %s to plot: %s", t.Columns[cols[2]], noValueReason(tl))
	}
	if boolean {
		zmin, zmax = 0, 1 // a fraction: 0.5 is half-way whatever the data
	} else if zmin == zmax { // one colour: widen the range so the map draws
		zmin, zmax = zmin-0.5, zmax+0.5
	}

	sx := axisFor(t.Columns[cols[0]], vals[0], false)
	sy := axisFor(t.Columns[cols[1]], vals[1], false)
	sz := axisFor(t.Columns[cols[2]], drawn, boolean)
	cmap := moreland.SmoothBlueRed()
	cmap.SetMin(zmin)
	cmap.SetMax(zmax)
	const shades = 255
	f := &figure{cols: facetCols(len(panels)), grids: grids}
	for pi, g := range grids {
		title := o.Title
		if len(panels) > 1 {
			title = panels[pi].title
		}
		p := newBarePlot(title, sx.label, sy.label) // grid lines would cross the cells
		hm := plotter.NewHeatMap(g, cmap.Palette(shades))
		hm.Min, hm.Max = zmin, zmax
		hm.NaN = color.Gray{Y: 0xF0}
		p.Add(hm)
		p.X.Tick.Marker = indexTicks(g.xs, sx.scale, 6, true)
		p.Y.Tick.Marker = indexTicks(g.ys, sy.scale, 10, false)
		if len(g.xs)*len(g.ys) <= 144 || hasFailed(g) {
			labels, err := cellLabelPlot(g, cmap, sz.scale, len(g.xs)*len(g.ys) <= 144)
			if err != nil {
				return nil, err
			}
			p.Add(labels)
		}
		if len(panels) > 1 {
			if pi%f.cols != 0 {
				p.Y.Label.Text = ""
			}
			if pi < len(panels)-f.cols {
				p.X.Label.Text = ""
			}
		}
		f.panels = append(f.panels, p)
	}
	if o.Title != "" && len(panels) > 1 {
		f.panels[0].Title.Text = o.Title + ": " + panels[0].title
	}

	bar := plot.New()
	cb := &plotter.ColorBar{ColorMap: cmap, Vertical: true, Colors: shades}
	bar.Add(cb)
	bar.HideX()
	bar.Y.Label.Text = sz.label
	bar.Y.Label.TextStyle.Font.Size = vg.Points(9)
	bar.Y.Tick.Label.Font.Size = vg.Points(8)
	bar.Y.Padding = 0
	bar.Y.Tick.Marker = niceTicks{scale: sz.scale}
	f.bar = bar
	f.caption = heatCaption(t, cols[2], boolean, tl)
	return f, nil
}

// hasFailed reports whether a cell of g has only runs that did not
// complete.
func hasFailed(g *grid) bool {
	for _, col := range g.failed {
		if slices.Contains(col, true) {
			return true
		}
	}
	return false
}

// cellLabelPlot writes each cell's value (when values is set) and × in the
// cells where no run completed.
func cellLabelPlot(g *grid, cmap palette.ColorMap, scale float64, values bool) (*plotter.Labels, error) {
	labels, err := plotter.NewLabels(cellLabels{g: g, format: func(v float64) string { return tickText(v / scale) }, values: values})
	if err != nil {
		return nil, err
	}
	for i := range labels.TextStyle {
		c, r := i/len(g.ys), i%len(g.ys)
		st := &labels.TextStyle[i]
		st.Font.Size = vg.Points(6.5)
		if g.failed[c][r] {
			st.Font.Size = vg.Points(10)
		}
		st.XAlign, st.YAlign = text.XCenter, text.YCenter
		st.Color = color.Black
		if v := g.z[c][r]; !math.IsNaN(v) {
			if col, err := cmap.At(v); err == nil && luminance(col) < 0.45 {
				st.Color = color.White
			}
		}
	}
	return labels, nil
}

// heatCaption says what a cell is and what was left out.
func heatCaption(t *Table, cz int, boolean bool, tl *tally) string {
	var parts []string
	what := "Mean"
	if boolean {
		what = "Fraction " + shortLabel(t.Columns[cz])
	}
	if tl.nMax <= 1 {
		parts = append(parts, what+" of one run per cell.")
	} else {
		parts = append(parts, fmt.Sprintf("%s of %s%s.", what, tl.nText("cell"), repeatText(t)))
	}
	parts = append(parts, leftOutText(tl, "means", "× where none completed")...)
	if tl.empty > 0 {
		parts = append(parts, fmt.Sprintf("Grey: no run (%s).", plural(tl.empty, "cell")))
	}
	return strings.Join(parts, " ")
}

// indexTicks labels integer positions with the values they stand for,
// at most max of them (every k-th position), each label with the fewest
// significant digits that tell the values apart, thousands as k and
// millions as M ("20k") on the x axis, where labels sit side by side.
func indexTicks(vals []float64, scale float64, most int, compact bool) plot.Ticker {
	var ticks plot.ConstantTicks
	step := max(1, (len(vals)+most-1)/most)
	labels := distinctLabels(vals, scale, compact)
	for i := range vals {
		t := plot.Tick{Value: float64(i)}
		if i%step == 0 {
			t.Label = labels[i]
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// distinctLabels formats vals divided by scale with 3 significant digits,
// or more until no two labels are the same (at most 10).
func distinctLabels(vals []float64, scale float64, compact bool) []string {
	out := make([]string, len(vals))
	for digits := 3; digits <= 10; digits++ {
		seen := map[string]bool{}
		unique := true
		for i, v := range vals {
			out[i] = formatTick(v/scale, digits, compact)
			if seen[out[i]] {
				unique = false
			}
			seen[out[i]] = true
		}
		if unique {
			break
		}
	}
	return out
}

// formatTick writes v with digits significant digits: whole numbers below
// 10^7 in full unless compact, where 10^4 and more become k and M.
func formatTick(v float64, digits int, compact bool) string {
	a := math.Abs(v)
	switch {
	case compact && a >= 1e6 && a < 1e10:
		return strconv.FormatFloat(roundSig(v/1e6, digits), 'f', -1, 64) + "M"
	case compact && a >= 1e4 && a < 1e6:
		return strconv.FormatFloat(roundSig(v/1e3, digits), 'f', -1, 64) + "k"
	case v == math.Trunc(v) && a < 1e7:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', digits, 64)
}

// tickText formats a value compactly: whole numbers below 10^7 in full,
// others to 3 significant digits.
func tickText(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e7 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// distinctSorted returns the distinct numbers of v in ascending order,
// NaN (missing) left out.
func distinctSorted(v []float64) []float64 {
	out := slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	slices.Sort(out)
	return slices.Compact(out)
}

// luminance is the relative luminance of c, in [0, 1].
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xFFFF
}
