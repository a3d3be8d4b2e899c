package plots

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// niceTicks places labelled ticks at whole multiples of a round step (1,
// 2 or 5 times a power of ten, rarely 2.5), 3 to 7 of them in the axis range, so
// that an axis reads 0, 2000, 4000, 6000 rather than 500, 2500, 4500.
// Unlabelled minor ticks halve the step (fifths of a 2.5 step). Values on
// the axis are divided by scale before labelling, for axes that hold raw
// values shown in a larger unit (a colour bar of bytes shown in GiB).
type niceTicks struct {
	scale float64
	// max, when not 0, is the greatest value labelled (a fraction's 1):
	// the axis may reach past it, for a legend's room.
	max float64
}

var _ plot.Ticker = niceTicks{}

// Ticks implements plot.Ticker.
func (n niceTicks) Ticks(lo, hi float64) []plot.Tick {
	scale := n.scale
	if scale == 0 {
		scale = 1
	}
	lo, hi = lo/scale, hi/scale
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []plot.Tick{{Value: lo * scale, Label: tickLabel(lo, 0)}}
	}
	if n.max != 0 && n.max > lo {
		hi = math.Min(hi, n.max)
	}
	step, decimals := niceStep(lo, hi)
	var ticks []plot.Tick
	first, last := math.Ceil(lo/step-1e-9), math.Floor(hi/step+1e-9)
	for k := first; k <= last; k++ {
		v := k * step
		if v == 0 {
			v = 0 // no "-0"
		}
		ticks = append(ticks, plot.Tick{Value: v * scale, Label: tickLabel(v, decimals)})
	}
	minor := step / 2
	if m := step / math.Pow(10, math.Floor(math.Log10(step))); math.Abs(m-2.5) < 1e-9 {
		minor = step / 5
	}
	for k := math.Ceil(lo/minor - 1e-9); k <= math.Floor(hi/minor+1e-9); k++ {
		v := k * minor
		if r := v / step; math.Abs(r-math.Round(r)) < 1e-6 {
			continue
		}
		ticks = append(ticks, plot.Tick{Value: v * scale})
	}
	return ticks
}

// niceStep returns the step of the labelled ticks over [lo, hi] and the
// decimals its labels need: the round step giving the count of ticks
// closest to 5, between 3 and 7 when one does.
func niceStep(lo, hi float64) (step float64, decimals int) {
	span := hi - lo
	mag := math.Floor(math.Log10(span))
	best, bestScore := 0.0, math.Inf(1)
	for _, e := range []float64{mag - 2, mag - 1, mag, mag + 1} {
		for rank, m := range []float64{1, 5, 2, 2.5} {
			s := m * math.Pow(10, e)
			count := math.Floor(hi/s+1e-9) - math.Ceil(lo/s-1e-9) + 1
			if count < 2 {
				continue
			}
			score := math.Abs(count - 5)
			if count < 3 || count > 7 {
				score += 10
			}
			score += 0.01 * float64(rank) // prefer 1, then 5, 2
			if m == 2.5 {
				score += 1.5 // 2.5 (7.5, 12.5) only when it fits far better
			}
			if score < bestScore {
				best, bestScore = s, score
			}
		}
	}
	if best == 0 {
		best = math.Pow(10, mag)
	}
	decimals = max(0, -int(math.Floor(math.Log10(best)+1e-9)))
	if m := best / math.Pow(10, math.Floor(math.Log10(best)+1e-9)); math.Abs(m-2.5) < 1e-9 {
		decimals++
	}
	return best, decimals
}

// tickLabel formats a tick value with the given decimals; large and tiny
// magnitudes in exponent form.
func tickLabel(v float64, decimals int) string {
	if a := math.Abs(v); a != 0 && (a >= 1e7 || a < 1e-4) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
