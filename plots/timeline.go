package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// TimelineBar is one migration of a fleet, for [Timeline].
type TimelineBar struct {
	// Name labels the bar.
	Name string
	// StartS and EndS bound the migration, seconds since the fleet's
	// start; DowntimeS is the guest's stop at its end.
	StartS, EndS, DowntimeS float64
	// Completed is false for a migration that did not complete: drawn
	// hatched grey, with no downtime mark.
	Completed bool
	// Converged is false for one that completed without converging:
	// drawn in a second colour.
	Converged bool
}

// TimelinePoint is the fleet network's migration traffic from T on.
type TimelinePoint struct {
	T, Bps float64
}

// Timeline draws a fleet's migrations as a Gantt chart, one bar per
// migration with its downtime marked at the end, above the traffic the
// migrations put on the network over time (a step line, Gbit/s). Bars
// are in the order given, the first at the top.
func Timeline(title string, bars []TimelineBar, util []TimelinePoint) (Figure, error) {
	if len(bars) == 0 {
		return nil, fmt.Errorf("timeline: no migrations to draw")
	}
	end := 0.0
	for _, b := range bars {
		if math.IsNaN(b.StartS) || math.IsNaN(b.EndS) || b.EndS < b.StartS {
			return nil, fmt.Errorf("timeline: migration %s runs from %v s to %v s", b.Name, b.StartS, b.EndS)
		}
		end = math.Max(end, b.EndS)
	}
	g := newPlot(title, "", "")
	g.Add(gantt{bars: bars})
	g.X.Min, g.X.Max = 0, end*1.02
	g.Y.Min, g.Y.Max = -0.5, float64(len(bars))-0.5
	names := make([]plot.Tick, 0, len(bars))
	step := max(1, len(bars)/25) // at most about 25 names on the axis
	for i, b := range bars {
		if i%step == 0 {
			names = append(names, plot.Tick{Value: float64(len(bars) - 1 - i), Label: b.Name})
		}
	}
	g.Y.Tick.Marker = plot.ConstantTicks(names)
	g.Y.Tick.Label.Font.Size = vg.Points(6)

	u := newPlot("", "time (s)", "migration traffic (Gbit/s)")
	xy := binned(util, end, timelineBins)
	if len(xy) > 1 {
		line, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
		line.LineStyle, _ = seriesStyle(0)
		line.LineStyle.Dashes = nil
		u.Add(line)
	}
	u.X.Min, u.X.Max = 0, end*1.02
	u.Y.Min = 0
	return &figure{panels: []*plot.Plot{g, u}, cols: 1, caption: timelineCaption(bars)}, nil
}

// timelineBins is how many time bins the traffic is averaged over: the
// step series changes at every pass of every migration, far more often
// than a figure can show.
const timelineBins = 400

// binned returns the step series util (each value holding until the next
// point) averaged over bins equal bins of [0, end], in Gbit/s, as a step
// line.
func binned(util []TimelinePoint, end float64, bins int) plotter.XYs {
	if len(util) == 0 || !(end > 0) {
		return nil
	}
	w := end / float64(bins)
	sums := make([]float64, bins)
	for i, p := range util {
		t1 := end
		if i+1 < len(util) {
			t1 = math.Min(util[i+1].T, end)
		}
		for t0 := p.T; t0 < t1; {
			b := int(t0 / w)
			if float64(b+1)*w <= t0 { // rounding at a bin edge
				b++
			}
			hi := t1
			if b >= bins-1 {
				b = bins - 1
			} else {
				hi = math.Min(t1, float64(b+1)*w)
			}
			sums[b] += p.Bps * (hi - t0)
			t0 = hi
		}
	}
	xy := make(plotter.XYs, 0, 2*bins)
	for b, s := range sums {
		y := s / w / 1e9
		xy = append(xy, plotter.XY{X: float64(b) * w, Y: y}, plotter.XY{X: float64(b+1) * w, Y: y})
	}
	return xy
}

// timelineCaption says what the colours mean and how many did not
// complete.
func timelineCaption(bars []TimelineBar) string {
	failed, unconverged := 0, 0
	for _, b := range bars {
		switch {
		case !b.Completed:
			failed++
		case !b.Converged:
			unconverged++
		}
	}
	s := fmt.Sprintf("%d migrations; bar: start to end, black mark: the guest's downtime; traffic averaged over %d equal time bins", len(bars), timelineBins)
	if unconverged > 0 {
		s += fmt.Sprintf("; %d completed without converging (orange)", unconverged)
	}
	if failed > 0 {
		s += fmt.Sprintf("; %d did not complete (grey, hatched)", failed)
	}
	return s
}

// gantt draws the bars of a Timeline.
type gantt struct{ bars []TimelineBar }

var (
	barColor         = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	unconvergedColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	failedColor      = color.Gray{Y: 0xb0}
)

// Plot implements plot.Plotter.
func (g gantt) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	n := len(g.bars)
	h := math.Min(float64(c.Max.Y-c.Min.Y)/float64(n)*0.7, float64(vg.Points(10)))
	for i, b := range g.bars {
		y := ty(float64(n - 1 - i))
		x0, x1 := tx(b.StartS), tx(b.EndS)
		if x1-x0 < vg.Points(0.5) {
			x1 = x0 + vg.Points(0.5)
		}
		rect := c.ClipPolygonXY([]vg.Point{{X: x0, Y: y - vg.Length(h)/2}, {X: x1, Y: y - vg.Length(h)/2}, {X: x1, Y: y + vg.Length(h)/2}, {X: x0, Y: y + vg.Length(h)/2}})
		col := color.Color(barColor)
		switch {
		case !b.Completed:
			col = failedColor
		case !b.Converged:
			col = unconvergedColor
		}
		c.FillPolygon(col, rect)
		if !b.Completed {
			hatch := draw.LineStyle{Color: color.Gray{Y: 0x60}, Width: vg.Points(0.4)}
			for x := x0; x < x1; x += vg.Points(3) {
				c.StrokeLines(hatch, c.ClipLinesXY([]vg.Point{{X: x, Y: y - vg.Length(h)/2}, {X: min(x+vg.Length(h), x1), Y: y + vg.Length(h)/2}})...)
			}
			continue
		}
		if b.DowntimeS > 0 {
			d0 := tx(b.EndS - b.DowntimeS)
			if x1-d0 < vg.Points(1) {
				d0 = x1 - vg.Points(1)
			}
			mark := c.ClipPolygonXY([]vg.Point{{X: d0, Y: y - vg.Length(h)/2}, {X: x1, Y: y - vg.Length(h)/2}, {X: x1, Y: y + vg.Length(h)/2}, {X: d0, Y: y + vg.Length(h)/2}})
			c.FillPolygon(color.Black, mark)
		}
	}
}
