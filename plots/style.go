package plots

import (
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Default figure size: one column of a two-column paper.
const (
	DefaultWidth  = 3.5 * vg.Inch
	DefaultHeight = 2.6 * vg.Inch
	DefaultDPI    = 300
)

// colors is the Okabe–Ito palette, readable by colour-blind readers and in
// greyscale print when paired with markers and dashes.
var colors = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xFF}, // blue
	color.RGBA{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
	color.RGBA{0x00, 0x9E, 0x73, 0xFF}, // bluish green
	color.RGBA{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
	color.RGBA{0xE6, 0x9F, 0x00, 0xFF}, // orange
	color.RGBA{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
	color.RGBA{0x00, 0x00, 0x00, 0xFF}, // black
	color.RGBA{0xF0, 0xE4, 0x42, 0xFF}, // yellow
}

var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{},
	draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{},
}

var dashes = [][]vg.Length{nil, {vg.Points(4), vg.Points(2)}, {vg.Points(1), vg.Points(1.5)}, {vg.Points(5), vg.Points(2), vg.Points(1), vg.Points(2)}}

// seriesStyle returns the line and glyph style of series i.
func seriesStyle(i int) (draw.LineStyle, draw.GlyphStyle) {
	c := colors[i%len(colors)]
	ls := draw.LineStyle{Color: c, Width: vg.Points(1.2), Dashes: dashes[(i/len(colors)+i)%len(dashes)]}
	gs := draw.GlyphStyle{Color: c, Radius: vg.Points(2.2), Shape: glyphs[i%len(glyphs)]}
	return ls, gs
}

// newPlot returns a plot with paper-like defaults: serif text at 8–10 pt,
// a light grid, a legend without a frame in the top left.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := newBarePlot(title, xLabel, yLabel)
	g := plotter.NewGrid()
	g.Vertical.Color = color.Gray{Y: 0xE0}
	g.Horizontal.Color = color.Gray{Y: 0xE0}
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.4), vg.Points(0.4)
	p.Add(g)
	return p
}

// newBarePlot is newPlot without the grid.
func newBarePlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Tick.Marker = niceTicks{}
		a.Label.TextStyle.Font.Size = vg.Points(9)
		a.Tick.Label.Font.Size = vg.Points(8)
		a.LineStyle.Width = vg.Points(0.6)
		a.Tick.LineStyle.Width = vg.Points(0.6)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.Padding = vg.Points(1)
	return p
}

// unitSuffixes maps the unit suffixes of result columns to their units.
var unitSuffixes = []struct{ suffix, unit string }{
	{"_pages_per_s", "pages/s"}, {"_bytes", "bytes"}, {"_bps", "bit/s"}, {"_pct", "%"}, {"_s", "s"},
}

// stripUnit removes a column name's unit suffix.
func stripUnit(name string) string {
	for _, u := range unitSuffixes {
		if s, ok := strings.CutSuffix(name, u.suffix); ok {
			return s
		}
	}
	return name
}

// knownUnits gives the unit of columns whose name has no suffix.
var knownUnits = map[string]string{
	"dirty_rate": "pages/s", "read_rate": "pages/s", "dirty_pages_rate": "pages/s",
	"rounds": "passes", "dirty_sync_count": "syncs", "postcopy_requests": "faults", "minor_faults": "faults",
	"pages_total": "pages", "pages_zero": "pages", "pages_normal": "pages", "vcpus": "vCPUs",
}

// scaled is how a column is shown on an axis: values divided by scale,
// under label.
type scaled struct {
	scale float64
	label string
}

// axisFor returns the label and scale for a column given its values:
// "dirty rate (pages/s)", "transferred (GiB)", "downtime (ms)",
// "bandwidth (Gbit/s)". A boolean column is shown as a fraction.
func axisFor(column string, vals []float64, boolean bool) scaled {
	last := column[strings.LastIndexByte(column, '.')+1:]
	name := strings.ReplaceAll(stripUnit(last), "_", " ")
	maxAbs := 0.0
	for _, v := range vals {
		maxAbs = math.Max(maxAbs, math.Abs(v))
	}
	switch {
	case boolean:
		return scaled{1, "fraction " + name}
	case strings.HasSuffix(last, "_pages_per_s"):
		return scaled{1, name + " (pages/s)"}
	case strings.HasSuffix(last, "_bytes"):
		for _, u := range []struct {
			name string
			size float64
		}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if maxAbs >= u.size {
				return scaled{u.size, name + " (" + u.name + ")"}
			}
		}
		return scaled{1, name + " (bytes)"}
	case strings.HasSuffix(last, "_bps"):
		for _, u := range []struct {
			name string
			rate float64
		}{{"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}} {
			if maxAbs >= u.rate {
				return scaled{u.rate, name + " (" + u.name + ")"}
			}
		}
		return scaled{1, name + " (bit/s)"}
	case strings.HasSuffix(last, "_s"):
		if maxAbs > 0 && maxAbs < 1 {
			return scaled{1e-3, name + " (ms)"}
		}
		return scaled{1, name + " (s)"}
	case strings.HasSuffix(last, "_pct"):
		return scaled{1, name + " (%)"}
	}
	if u, ok := knownUnits[stripUnit(last)]; ok {
		return scaled{1, name + " (" + u + ")"}
	}
	return scaled{1, name}
}
