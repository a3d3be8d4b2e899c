package fit

import "math"

// weightedSumSq is the calibration objective: the sum over cases and
// metrics of weight × squared relative error, NaN (a metric a case
// lacks) left out.
func weightedSumSq(errs [][]float64, wv []float64) float64 {
	var s float64
	for _, row := range errs {
		for j, e := range row {
			if !math.IsNaN(e) {
				s += wv[j] * e * e
			}
		}
	}
	return s
}
