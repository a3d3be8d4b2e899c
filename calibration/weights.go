package calibration

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Metrics names the metrics calibration fits ("migsim calibrate"), in
// the order of its residuals: the relative errors of the simulator
// against real runs, each weighed by [Weights]. A case contributes the
// ones its model has (the post-copy metrics only post-copy and hybrid
// runs).
func Metrics() []string { return slices.Clone(metrics) }

var metrics = []string{"total_time_s", "downtime_s", "setup_time_s", "transferred_bytes", "pages.normal", "postcopy_requests", "stall_time_s"}

// Weights gives, per calibrated metric (see [Metrics]), the
// weight of its squared relative errors in the calibration objective, a
// non-negative number; a metric not listed weighs 1, and 0 leaves it out
// of the fit (it is still reported). In a suite file:
//
//	calibration_weights: {downtime_s: 3, setup_time_s: 0.5}
//
// and on the command line: migsim calibrate --weight downtime_s=3.
type Weights map[string]float64

// Check reports an unknown metric, a negative or non-finite weight, or
// weights that leave nothing to fit.
func (w Weights) Check() error {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := (Weights{k: w[k]}).checkOne(); err != nil {
			return err
		}
	}
	if slices.Max(w.Vector()) == 0 {
		return fmt.Errorf("weights: every metric weighs 0, nothing to fit")
	}
	return nil
}

// Vector returns the weights in the order of [Metrics].
func (w Weights) Vector() []float64 {
	out := make([]float64, len(metrics))
	for j, m := range metrics {
		out[j] = 1
		if v, ok := w[m]; ok {
			out[j] = v
		}
	}
	return out
}

// Set adds "metric=weight" to w, as --weight gives it.
func (w Weights) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("weight %q: want metric=weight, e.g. downtime_s=3", s)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return fmt.Errorf("weight %q: %v is not a number", s, v)
	}
	k = strings.TrimSpace(k)
	if err := (Weights{k: f}).checkOne(); err != nil {
		return err
	}
	w[k] = f
	return nil
}

func (w Weights) checkOne() error {
	for k, v := range w {
		if !slices.Contains(metrics, k) {
			return fmt.Errorf("weight %s: not a calibrated metric (want one of %s)", k, strings.Join(metrics, ", "))
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("weight %s: %v must be a non-negative number", k, v)
		}
	}
	return nil
}

// String formats w as --weight flags would give it, in metric order, or
// "equal" when every weight is 1.
func (w Weights) String() string {
	var parts []string
	for j, v := range w.Vector() {
		if v != 1 {
			parts = append(parts, metrics[j]+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	if len(parts) == 0 {
		return "equal"
	}
	return strings.Join(parts, " ")
}
