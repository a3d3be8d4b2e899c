package plots

import (
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Figure is something [Save] can draw: a *plot.Plot, or a figure of
// panels with a colour bar and a caption.
type Figure interface {
	Draw(c draw.Canvas)
}

// figure is one or more panels in a grid (small multiples, row-major,
// their data areas aligned), with an optional colour bar on the right and
// a caption below that says what was averaged and what was left out.
type figure struct {
	panels  []*plot.Plot
	cols    int
	bar     *plot.Plot
	caption string
	// grids are a heat map's cells, per panel.
	grids []*grid
}

// Caption returns the text under the figure.
func (f *figure) Caption() string { return f.caption }

// Panels returns the number of panels.
func (f *figure) Panels() int { return len(f.panels) }

// captionStyle is the caption's text: 7 pt, left-aligned.
func captionStyle() text.Style {
	st := plot.New().Legend.TextStyle
	st.Font.Size = vg.Points(7)
	st.XAlign, st.YAlign = draw.XLeft, draw.YTop
	return st
}

// Draw draws the panels, the colour bar and the caption on c.
func (f *figure) Draw(c draw.Canvas) {
	if f.caption != "" {
		st := captionStyle()
		pad := vg.Points(4)
		lines := wrap(st, f.caption, c.Max.X-c.Min.X-2*pad)
		lineH := st.Font.Size * 1.25
		h := lineH*vg.Length(len(lines)) + pad
		y := c.Min.Y + h
		for _, l := range lines {
			c.FillText(st, vg.Point{X: c.Min.X + pad, Y: y}, l)
			y -= lineH
		}
		c = draw.Crop(c, 0, 0, h+pad/2, 0)
	}
	if f.bar != nil {
		w := c.Max.X - c.Min.X
		strip := vg.Length(math.Min(float64(w)*0.22, float64(vg.Points(70))))
		top := vg.Points(0)
		if len(f.panels) > 1 || f.panels[0].Title.Text != "" {
			top = -vg.Points(14)
		}
		f.bar.Draw(draw.Crop(c, w-strip, 0, vg.Points(8), top-vg.Points(14)))
		c = draw.Crop(c, 0, -strip, 0, 0)
	}
	if len(f.panels) == 1 {
		f.panels[0].Draw(c)
		return
	}
	cols := max(1, f.cols)
	rows := (len(f.panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for k := range cols {
			if i := r*cols + k; i < len(f.panels) {
				grid[r][k] = f.panels[i]
			}
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(6), PadY: vg.Points(6)}
	canvases := plot.Align(grid, tiles, c)
	for r := range grid {
		for k, p := range grid[r] {
			if p != nil {
				p.Draw(canvases[r][k])
			}
		}
	}
}

// wrap breaks s into lines no wider than width in style st.
func wrap(st text.Style, s string, width vg.Length) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			try := w
			if line != "" {
				try = line + " " + w
			}
			if line != "" && st.Width(try) > width {
				lines = append(lines, line)
				try = w
			}
			line = try
		}
		lines = append(lines, line)
	}
	return lines
}

// facetCols returns the columns of a grid of n panels: up to 3 side by
// side.
func facetCols(n int) int {
	switch {
	case n <= 3:
		return n
	case n == 4:
		return 2
	}
	return 3
}
