package validate

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"

	"gonum.org/v1/gonum/optimize"

	"github.com/migsim/migsim/models"
)

// Fit is the outcome of [Calibrate].
type Fit struct {
	Profile Profile `json:"profile"`
	// Cost is the sum of squared relative errors over the fitted cases and
	// metrics, before (Default) and after calibration.
	DefaultCost, Cost float64
	// Evaluations counts the simulations of the whole case set.
	Evaluations int
	// Status is gonum's termination status.
	Status string
	// Residuals are the relative errors after calibration, per case and
	// metric (see CalibratedMetrics).
	Residuals [][]float64
	Cases     []string
}

// CalibratedMetrics names the metrics calibration fits, in the order of
// [Fit.Residuals]' rows.
func CalibratedMetrics() []string { return slices.Clone(calMetrics) }

// defaultProfile is the profile the scenario of c already has.
func defaultProfile(c *calCase) Profile {
	pp := c.spec.Model.Params.(*models.PrecopyParams)
	return Profile{
		BandwidthFactor: 1, LinkBandwidth: c.spec.Network.Bandwidth,
		SetupTime: pp.SetupTime, ResumeTime: pp.ResumeTime, SyncTimePerGiB: pp.SyncTimePerGiB,
	}
}

func sumSq(errs [][]float64) float64 {
	var s float64
	for _, row := range errs {
		for _, e := range row {
			s += e * e
		}
	}
	return s
}

// calibrate fits the free parameters to cases with Nelder-Mead, starting
// from the scenarios' defaults, minimising the sum of squared relative
// errors of CalibratedMetrics. maxEval bounds the simulations of the set.
// The search runs on logistic-transformed variables (bounds by
// transformation), so the initial simplex of size 1 spans a good part of
// each parameter's range.
func calibrate(ctx context.Context, cases []*calCase, maxEval int) (*Fit, error) {
	if len(cases) == 0 {
		return nil, fmt.Errorf("calibrate: no cases")
	}
	start := defaultProfile(cases[0])
	base, err := caseErrors(ctx, cases, &start)
	if err != nil {
		return nil, err
	}
	x0 := make([]float64, len(calParams))
	for i, c := range calParams {
		x0[i] = c.toFree(c.get(&start))
	}
	profileAt := func(x []float64) Profile {
		p := start
		for i, c := range calParams {
			c.set(&p, c.fromFree(x[i]))
		}
		return p
	}
	var simErr error
	prob := optimize.Problem{Func: func(x []float64) float64 {
		p := profileAt(x)
		errs, err := caseErrors(ctx, cases, &p)
		if err != nil {
			simErr = err
			return math.Inf(1)
		}
		return sumSq(errs)
	}}
	res, err := optimize.Minimize(prob, x0, &optimize.Settings{FuncEvaluations: maxEval}, &optimize.NelderMead{SimplexSize: 1})
	if simErr != nil {
		return nil, simErr
	}
	if err != nil && res == nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	best := profileAt(res.X)
	resid, err := caseErrors(ctx, cases, &best)
	if err != nil {
		return nil, err
	}
	f := &Fit{Profile: best, DefaultCost: sumSq(base), Cost: sumSq(resid), Evaluations: res.FuncEvaluations, Status: res.Status.String(), Residuals: resid}
	for _, c := range cases {
		f.Cases = append(f.Cases, c.name)
	}
	return f, nil
}

// Calibrate fits a calibration profile to the recorded runs of suite
// (results as written by "migsim validate suite --json", with their real
// runs): it rebuilds each run's achieved trace and simulates it again
// under candidate parameters. maxEval bounds the evaluations (each one
// simulates every case).
func Calibrate(ctx context.Context, s *Suite, res *SuiteResult, maxEval int) (*Fit, error) {
	cases, err := prepareCases(ctx, s, res)
	if err != nil {
		return nil, err
	}
	return calibrate(ctx, cases, maxEval)
}

// HeldOut is the k-fold evaluation of calibration: each fold is fitted on
// the other cases and its own cases' errors are measured, with the
// defaults and with the fold's profile.
type HeldOut struct {
	K int
	// Default and Calibrated hold, per metric of CalibratedMetrics, the
	// median |relative error| over every held-out case.
	Default, Calibrated []float64
	// DefaultCost and CalibratedCost are the held-out sums of squared
	// relative errors.
	DefaultCost, CalibratedCost float64
}

// CrossValidate runs k-fold held-out evaluation (case i is in fold i mod k).
func CrossValidate(ctx context.Context, s *Suite, res *SuiteResult, k, maxEval int) (*HeldOut, error) {
	cases, err := prepareCases(ctx, s, res)
	if err != nil {
		return nil, err
	}
	if k < 2 || k > len(cases) {
		return nil, fmt.Errorf("k-fold: k=%d with %d cases", k, len(cases))
	}
	var def, cal [][]float64
	for f := range k {
		var train, test []*calCase
		for i, c := range cases {
			if i%k == f {
				test = append(test, c)
			} else {
				train = append(train, c)
			}
		}
		fit, err := calibrate(ctx, train, maxEval)
		if err != nil {
			return nil, err
		}
		dp := defaultProfile(test[0])
		d, err := caseErrors(ctx, test, &dp)
		if err != nil {
			return nil, err
		}
		c, err := caseErrors(ctx, test, &fit.Profile)
		if err != nil {
			return nil, err
		}
		def, cal = append(def, d...), append(cal, c...)
	}
	h := &HeldOut{K: k, DefaultCost: sumSq(def), CalibratedCost: sumSq(cal)}
	for j := range calMetrics {
		var a, b []float64
		for i := range def {
			a, b = append(a, math.Abs(def[i][j])), append(b, math.Abs(cal[i][j]))
		}
		h.Default, h.Calibrated = append(h.Default, median(a)), append(h.Calibrated, median(b))
	}
	return h, nil
}

// WriteTable prints the fitted profile's residuals.
func (f *Fit) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\t")
	for _, m := range calMetrics {
		fmt.Fprintf(tw, "%s\t", m)
	}
	fmt.Fprintln(tw)
	for i, c := range f.Cases {
		fmt.Fprintf(tw, "%s\t", c)
		for _, e := range f.Residuals[i] {
			fmt.Fprintf(tw, "%+.1f%%\t", 100*e)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "sum of squared relative errors: %.4g with defaults, %.4g calibrated (%d evaluations, %s)\n", f.DefaultCost, f.Cost, f.Evaluations, f.Status)
	return err
}

// WriteTable prints the held-out medians, defaults against calibrated.
func (h *HeldOut) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "held-out (%d-fold)\tmedian |err| defaults\tmedian |err| calibrated\t\n", h.K)
	for j, m := range calMetrics {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t\n", m, 100*h.Default[j], 100*h.Calibrated[j])
	}
	fmt.Fprintf(tw, "sum of squares\t%.4g\t%.4g\t\n", h.DefaultCost, h.CalibratedCost)
	return tw.Flush()
}
