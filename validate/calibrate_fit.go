package validate

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

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
	// Weights are the metrics' weights in the objective (Cost and
	// DefaultCost are weighted by them).
	Weights Weights
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
// errors of CalibratedMetrics, each weighted by w. maxEval bounds the
// simulations of the set. The search runs on logistic-transformed
// variables (bounds by transformation), so the initial simplex of size 1
// spans a good part of each parameter's range. The objective is piecewise constant in places
// (whole rounds, convergence or not), where Nelder-Mead's simplex
// collapses early and then crawls: the search runs in legs of at most
// restartEvery evaluations, each restarting from the best point so far
// with a fresh simplex, until the budget is spent or a leg no longer
// improves the objective. With a budget of at least twice gridSize, the
// search first evaluates a coarse grid (each parameter at its start and
// at 18 % and 82 % of its transformed range) and also starts from the
// two best grid points; the best of the searches wins.
func calibrate(ctx context.Context, cases []*calCase, maxEval int, w Weights) (*Fit, error) {
	if len(cases) == 0 {
		return nil, fmt.Errorf("calibrate: no cases")
	}
	if err := w.Check(); err != nil {
		return nil, err
	}
	wv := w.vector()
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
		return weightedSumSq(errs, wv)
	}}
	evals := 0
	starts := [][]float64{x0}
	if maxEval >= 2*gridSize(len(x0)) {
		grid := gridStarts(x0, prob.Func, 2)
		evals += gridSize(len(x0))
		starts = append(starts, grid...)
	}
	x, bestF, status := x0, math.Inf(1), ""
	for i, s := range starts {
		budget := (maxEval - evals) / (len(starts) - i)
		lx, lf, n, st, err := nelderMeadLegs(prob, s, budget)
		if simErr != nil {
			return nil, simErr
		}
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		evals += n
		if lf < bestF {
			x, bestF, status = lx, lf, st
		}
	}
	best := profileAt(x)
	resid, err := caseErrors(ctx, cases, &best)
	if err != nil {
		return nil, err
	}
	f := &Fit{Profile: best, DefaultCost: weightedSumSq(base, wv), Cost: weightedSumSq(resid, wv), Evaluations: evals, Status: status, Residuals: resid, Weights: w}
	for _, c := range cases {
		f.Cases = append(f.Cases, c.name)
	}
	return f, nil
}

// Calibrate fits a calibration profile to the recorded runs of suite
// (results as written by "migsim validate suite --json", with their real
// runs): it rebuilds each run's achieved trace and simulates it again
// under candidate parameters. maxEval bounds the evaluations (each one
// simulates every case); w weighs the metrics (nil: equally).
func Calibrate(ctx context.Context, s *Suite, res *SuiteResult, maxEval int, w Weights) (*Fit, error) {
	cases, err := prepareCases(ctx, s, res)
	if err != nil {
		return nil, err
	}
	return calibrate(ctx, cases, maxEval, w)
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
	// Folds are the folds' profiles and held-out errors, fold by fold.
	Folds []Fold
}

// Fold is one fold of [HeldOut]: the profile fitted without its cases and
// their relative errors under it, per case and metric of
// CalibratedMetrics.
type Fold struct {
	Profile Profile
	Cases   []string
	Errors  [][]float64
}

// CrossValidate runs k-fold held-out evaluation (case i is in fold i mod
// k), each fold fitted with weights w. The held-out costs are unweighted.
func CrossValidate(ctx context.Context, s *Suite, res *SuiteResult, k, maxEval int, w Weights) (*HeldOut, error) {
	cases, err := prepareCases(ctx, s, res)
	if err != nil {
		return nil, err
	}
	if k < 2 || k > len(cases) {
		return nil, fmt.Errorf("k-fold: k=%d with %d cases", k, len(cases))
	}
	var def, cal [][]float64
	var folds []Fold
	for f := range k {
		var train, test []*calCase
		for i, c := range cases {
			if i%k == f {
				test = append(test, c)
			} else {
				train = append(train, c)
			}
		}
		fit, err := calibrate(ctx, train, maxEval, w)
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
		fold := Fold{Profile: fit.Profile, Errors: c}
		for _, tc := range test {
			fold.Cases = append(fold.Cases, tc.name)
		}
		folds = append(folds, fold)
	}
	h := &HeldOut{K: k, DefaultCost: sumSq(def), CalibratedCost: sumSq(cal), Folds: folds}
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
	_, err := fmt.Fprintf(w, "sum of squared relative errors (weights: %s): %.4g with defaults, %.4g calibrated (%d evaluations, %s)\n", f.Weights, f.DefaultCost, f.Cost, f.Evaluations, f.Status)
	return err
}

// WriteTable prints the held-out medians, defaults against calibrated.
func (h *HeldOut) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "held-out (%d-fold)\tmedian |err| defaults\tmedian |err| calibrated\t\n", h.K)
	for j, m := range calMetrics {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t\n", m, 100*h.Default[j], 100*h.Calibrated[j])
	}
	fmt.Fprintf(tw, "sum of squares (unweighted)\t%.4g\t%.4g\t\n", h.DefaultCost, h.CalibratedCost)
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, f := range h.Folds {
		p := f.Profile
		fmt.Fprintf(w, "fold %d: bandwidth_factor %.3f, link %v, setup %v, resume %v, sync %v/GiB\n", i+1,
			p.BandwidthFactor, p.LinkBandwidth, p.SetupTime.Round(time.Microsecond), p.ResumeTime.Round(time.Microsecond), p.SyncTimePerGiB.Round(time.Microsecond))
		for j, c := range f.Cases {
			fmt.Fprintf(w, "  held out %s:", c)
			for m, e := range f.Errors[j] {
				fmt.Fprintf(w, " %s %+.1f%%", calMetrics[m], 100*e)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// Resimulate simulates every recorded run of res that calibration fits
// (see prepareCases) again, on the trace its guest achieved, under
// profile p (nil: the suite's uncalibrated scenarios), and returns the comparisons with the real runs as a suite
// result, ready for [SuiteResult.Gate]: the offline check of how a
// profile would fare on recorded runs.
func Resimulate(ctx context.Context, s *Suite, res *SuiteResult, p *Profile) (*SuiteResult, error) {
	cases, err := prepareCases(ctx, s, res)
	if err != nil {
		return nil, err
	}
	out := &SuiteResult{Suite: res.Suite}
	for _, c := range cases {
		q := p
		if q == nil {
			d := defaultProfile(c)
			q = &d
		}
		r, err := c.simulate(ctx, q)
		if err != nil {
			return nil, err
		}
		if p != nil {
			r.Calibration = p.Name
		}
		rec := *c.rec
		rec.Metrics, rec.Sim = compareMetrics(c.real, r), r
		out.Comparisons = append(out.Comparisons, &rec)
	}
	out.Summary = summarise(out.Comparisons)
	return out, nil
}

// restartEvery bounds one Nelder-Mead leg of calibrate, evaluations.
const restartEvery = 100

// nelderMeadLegs minimises prob from x within budget evaluations, in legs
// of at most restartEvery, each from the best point so far with a fresh
// simplex of size 1, until a leg improves the objective by less than a
// millionth. It returns the best point, its value, the evaluations spent
// and gonum's last status.
func nelderMeadLegs(prob optimize.Problem, x []float64, budget int) ([]float64, float64, int, string, error) {
	bestF, evals, status := math.Inf(1), 0, ""
	for evals < budget {
		res, err := optimize.Minimize(prob, x, &optimize.Settings{FuncEvaluations: min(budget-evals, restartEvery)}, &optimize.NelderMead{SimplexSize: 1})
		if err != nil && res == nil {
			return nil, 0, evals, "", err
		}
		evals += max(res.FuncEvaluations, 1)
		improved := math.IsInf(bestF, 1) || res.F < bestF-1e-6*math.Abs(bestF)
		if res.F < bestF {
			x, bestF, status = res.X, res.F, res.Status.String()
		}
		if !improved {
			break
		}
	}
	return x, bestF, evals, status, nil
}

// gridLevels are the free-variable values of the coarse grid besides
// the start: 18 % and 82 % of each parameter's range.
var gridLevels = []float64{-1.5, 1.5}

// gridSize is the number of points of the coarse grid over n parameters.
func gridSize(n int) int {
	s := 1
	for range n {
		s *= 1 + len(gridLevels)
	}
	return s
}

// gridStarts evaluates f on the coarse grid around x0 (each coordinate at
// x0's value or a gridLevel) and returns the best k points, best first,
// ties in grid order.
func gridStarts(x0 []float64, f func([]float64) float64, k int) [][]float64 {
	type pt struct {
		x []float64
		f float64
	}
	var pts []pt
	for idx := range gridSize(len(x0)) {
		x := slices.Clone(x0)
		for i, r := 0, idx; i < len(x0); i, r = i+1, r/(1+len(gridLevels)) {
			if l := r % (1 + len(gridLevels)); l > 0 {
				x[i] = gridLevels[l-1]
			}
		}
		if idx == 0 {
			continue // x0, searched anyway
		}
		pts = append(pts, pt{x, f(x)})
	}
	slices.SortStableFunc(pts, func(a, b pt) int { return cmp.Compare(a.f, b.f) })
	var out [][]float64
	for _, p := range pts[:min(k, len(pts))] {
		out = append(out, p.x)
	}
	return out
}

// ResimulatedThresholds returns the thresholds of ths that apply to the
// runs [Resimulate] simulates again (pre-copy over the lab's loopback):
// those for every model or for precopy, not restricted to a shaped path.
func ResimulatedThresholds(ths []Threshold) []Threshold {
	var out []Threshold
	for _, t := range ths {
		if (t.Model == "" || t.Model == "precopy") && (t.Shaping == "" || t.Shaping == ShapingQEMU) {
			out = append(out, t)
		}
	}
	return out
}
