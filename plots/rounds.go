package plots

import (
	"fmt"
	"image/color"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/models"
)

// RoundMetrics are the per-round values [Rounds] can chart, by the name
// of their key in rounds_detail.
var RoundMetrics = []string{"bytes", "pages", "duration_s", "dirtied_pages", "zero_pages", "bandwidth_bps", "throttle_pct"}

// roundValue returns the named value of r.
func roundValue(r models.Round, metric string) (float64, bool) {
	switch metric {
	case "bytes":
		return float64(r.Bytes), true
	case "pages":
		return float64(r.Pages), true
	case "duration_s":
		return r.DurationS, true
	case "dirtied_pages":
		return float64(r.DirtiedPages), true
	case "zero_pages":
		return float64(r.ZeroPages), true
	case "bandwidth_bps":
		return r.BandwidthBps, true
	case "throttle_pct":
		return r.ThrottlePct, true
	}
	return 0, false
}

// roundBars adapts a run's rounds to plotter.XYer (x the round number, y
// the metric) and, for bar charts, plotter.Valuer. With final set it
// holds only the last pass (stop-and-copy or post-copy), else only the
// live rounds; the other bars are 0.
type roundBars struct {
	rounds []models.Round
	metric string
	scale  float64
	final  bool
}

func (b roundBars) Len() int { return len(b.rounds) }

func (b roundBars) Value(i int) float64 {
	r := b.rounds[i]
	if (r.StopAndCopy || r.Postcopy) != b.final {
		return 0
	}
	v, _ := roundValue(r, b.metric)
	return v / b.scale
}

func (b roundBars) XY(i int) (float64, float64) { return float64(b.rounds[i].Round), b.Value(i) }

var (
	_ plotter.XYer   = roundBars{}
	_ plotter.Valuer = roundBars{}
)

// Rounds draws one bar per pass of a run: the metric (default "bytes")
// of each live round, and of the final pass (stop-and-copy or post-copy)
// in a second colour.
func Rounds(res *models.Result, metric, title string) (*plot.Plot, error) {
	if metric == "" {
		metric = "bytes"
	}
	if len(res.RoundsDetail) == 0 {
		return nil, fmt.Errorf("the result has no rounds_detail")
	}
	var vals []float64
	for _, r := range res.RoundsDetail {
		v, ok := roundValue(r, metric)
		if !ok {
			return nil, fmt.Errorf("unknown round metric %q (known: %v)", metric, RoundMetrics)
		}
		vals = append(vals, v)
	}
	column := map[string]string{"bytes": "sent_bytes", "pages": "pages_sent", "zero_pages": "zero_pages_sent",
		"dirtied_pages": "pages_dirtied"}[metric]
	if column == "" {
		column = metric
	}
	sy := axisFor(column, vals, false)
	if strings.HasPrefix(column, "pages") || strings.HasPrefix(column, "zero_pages") {
		sy.label += " (pages)"
	}
	if title == "" {
		title = fmt.Sprintf("%s, %s: %s", res.Scenario, res.Model, res.StopReason)
	}
	p := newPlot(title, "round", sy.label)
	p.Legend.Left = false
	width := vg.Points(max(4, 180/float64(len(vals)+1)))
	names := make([]string, len(res.RoundsDetail))
	for i, r := range res.RoundsDetail {
		names[i] = strconv.Itoa(r.Round)
	}
	live, err := plotter.NewBarChart(roundBars{rounds: res.RoundsDetail, metric: metric, scale: sy.scale}, width)
	if err != nil {
		return nil, err
	}
	live.Color, live.LineStyle.Width = colors[0], 0
	final, err := plotter.NewBarChart(roundBars{rounds: res.RoundsDetail, metric: metric, scale: sy.scale, final: true}, width)
	if err != nil {
		return nil, err
	}
	final.Color, final.LineStyle.Width = colors[1], 0
	p.Add(live, final)
	p.Legend.Add("live round", live)
	last := res.RoundsDetail[len(res.RoundsDetail)-1]
	switch {
	case last.Postcopy:
		p.Legend.Add("post-copy (guest on the destination)", final)
	case last.StopAndCopy:
		p.Legend.Add("stop-and-copy (guest stopped)", final)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4
	p.Y.Min = 0
	p.Y.Max = slices.Max(vals) / sy.scale * 1.25 // room for the legend
	p.X.LineStyle.Color = color.Black
	return p, nil
}
