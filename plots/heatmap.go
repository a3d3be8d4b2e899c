package plots

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// HeatmapOptions configure [Heatmap].
type HeatmapOptions struct {
	// X and Y name the columns of the two axes; Z the metric shown in
	// colour, the mean over the rows of each cell (for a boolean column,
	// the fraction true: the convergence region).
	X, Y, Z string
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
}

func (l cellLabels) Len() int { c, r := l.g.Dims(); return c * r }
func (l cellLabels) XY(i int) (float64, float64) {
	_, r := l.g.Dims()
	return float64(i / r), float64(i % r)
}
func (l cellLabels) Label(i int) string {
	_, r := l.g.Dims()
	v := l.g.z[i/r][i%r]
	if math.IsNaN(v) {
		return ""
	}
	return l.format(v)
}

// Figure is something [Save] can draw: a *plot.Plot, or a heat map with
// its colour bar.
type Figure interface {
	Draw(c draw.Canvas)
}

// heatFigure is a heat map with a colour bar on its right.
type heatFigure struct {
	main, bar *plot.Plot
}

// Draw draws the map and, in a strip on the right, the colour bar.
func (f *heatFigure) Draw(c draw.Canvas) {
	w := c.Max.X - c.Min.X
	strip := vg.Length(math.Min(float64(w)*0.22, float64(vg.Points(70))))
	f.main.Draw(draw.Crop(c, 0, -strip, 0, 0))
	f.bar.Draw(draw.Crop(c, w-strip, 0, vg.Points(8), -vg.Points(14)))
}

// Heatmap draws the mean of column Z over the grid of the distinct values
// of columns X and Y, with the value written in each cell when the grid is
// small enough to read, and a colour bar.
func Heatmap(t *Table, o HeatmapOptions) (Figure, error) {
	var cols [3]int
	for i, n := range []struct{ flag, name string }{{"--x", o.X}, {"--y", o.Y}, {"--z", o.Z}} {
		c, err := t.Column(n.name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.flag, err)
		}
		cols[i] = c
	}
	if len(t.Rows) == 0 {
		return nil, fmt.Errorf("no rows to plot")
	}
	var vals [3][]float64
	for i, c := range cols {
		v, err := t.floats(c)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	g := &grid{xs: distinctSorted(vals[0]), ys: distinctSorted(vals[1])}
	sum := make([][]float64, len(g.xs))
	n := make([][]int, len(g.xs))
	g.z = make([][]float64, len(g.xs))
	for c := range g.xs {
		sum[c], n[c], g.z[c] = make([]float64, len(g.ys)), make([]int, len(g.ys)), make([]float64, len(g.ys))
	}
	for i := range t.Rows {
		c, _ := slices.BinarySearch(g.xs, vals[0][i])
		r, _ := slices.BinarySearch(g.ys, vals[1][i])
		sum[c][r] += vals[2][i]
		n[c][r]++
	}
	zmin, zmax := math.Inf(1), math.Inf(-1)
	for c := range g.xs {
		for r := range g.ys {
			if n[c][r] == 0 {
				g.z[c][r] = math.NaN()
				continue
			}
			v := sum[c][r] / float64(n[c][r])
			g.z[c][r] = v
			zmin, zmax = math.Min(zmin, v), math.Max(zmax, v)
		}
	}
	if zmin == zmax { // one colour: widen the range so the map draws
		zmin, zmax = zmin-0.5, zmax+0.5
	}

	sx := axisFor(t.Columns[cols[0]], vals[0], false)
	sy := axisFor(t.Columns[cols[1]], vals[1], false)
	sz := axisFor(t.Columns[cols[2]], vals[2], t.isBool(cols[2]))
	p := newBarePlot(o.Title, sx.label, sy.label) // grid lines would cross the cells
	cmap := moreland.SmoothBlueRed()
	cmap.SetMin(zmin)
	cmap.SetMax(zmax)
	const shades = 255
	hm := plotter.NewHeatMap(g, cmap.Palette(shades))
	hm.Min, hm.Max = zmin, zmax
	hm.NaN = color.Gray{Y: 0xF0}
	p.Add(hm)
	p.X.Tick.Marker = indexTicks(g.xs, sx.scale)
	p.Y.Tick.Marker = indexTicks(g.ys, sy.scale)

	if len(g.xs)*len(g.ys) <= 144 {
		labels, err := plotter.NewLabels(cellLabels{g: g, format: func(v float64) string { return tickText(v / sz.scale) }})
		if err != nil {
			return nil, err
		}
		for i := range labels.TextStyle {
			c, r := i/len(g.ys), i%len(g.ys)
			st := &labels.TextStyle[i]
			st.Font.Size = vg.Points(6.5)
			st.XAlign, st.YAlign = text.XCenter, text.YCenter
			st.Color = color.Black
			if v := g.z[c][r]; !math.IsNaN(v) {
				if col, err := cmap.At(v); err == nil && luminance(col) < 0.45 {
					st.Color = color.White
				}
			}
		}
		p.Add(labels)
	}

	bar := plot.New()
	cb := &plotter.ColorBar{ColorMap: cmap, Vertical: true, Colors: shades}
	bar.Add(cb)
	bar.HideX()
	bar.Y.Label.Text = sz.label
	bar.Y.Label.TextStyle.Font.Size = vg.Points(9)
	bar.Y.Tick.Label.Font.Size = vg.Points(8)
	bar.Y.Padding = 0
	bar.Y.Tick.Marker = scaledTicks{scale: sz.scale}
	return &heatFigure{main: p, bar: bar}, nil
}

// indexTicks labels integer positions with the values they stand for.
func indexTicks(vals []float64, scale float64) plot.Ticker {
	var ticks plot.ConstantTicks
	step := max(1, (len(vals)+9)/10) // at most about 10 labels
	for i, v := range vals {
		t := plot.Tick{Value: float64(i)}
		if i%step == 0 {
			t.Label = tickText(v / scale)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// scaledTicks labels an axis holding raw values with the values divided
// by scale.
type scaledTicks struct{ scale float64 }

func (s scaledTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min/s.scale, max/s.scale)
	for i := range ticks {
		ticks[i].Value *= s.scale
	}
	return ticks
}

// tickText formats a value compactly: whole numbers below 10^7 in full,
// others to 3 significant digits.
func tickText(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e7 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func distinctSorted(v []float64) []float64 {
	out := slices.Clone(v)
	slices.Sort(out)
	return slices.Compact(out)
}

// luminance is the relative luminance of c, in [0, 1].
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 0xFFFF
}
