package fit

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/validate"
	"gonum.org/v1/gonum/optimize"
)

// Result is the outcome of [Calibrate]: the fitted profile and how well it fits.
type Result struct {
	Profile calibration.Profile `json:"profile"`
	// Cost is the sum of squared relative errors over the fitted cases and
	// metrics, before (Default) and after calibration.
	DefaultCost, Cost float64
	// Evaluations counts the simulations of the whole case set.
	Evaluations int
	// Status says how the search ended: the method that found the best
	// point and its termination status.
	Status string
	// Residuals are the relative errors after calibration, per case and
	// metric (see CalibratedMetrics); NaN where the case lacks the metric.
	Residuals [][]float64
	Cases     []string
	// Weights are the metrics' weights in the objective (Cost and
	// DefaultCost are weighted by them).
	Weights calibration.Weights
	// Estimates are the fitted parameters with their standard errors.
	Estimates []Estimate
	// Unidentified names the parameters (of the fit's table, e.g.
	// "cost_factor") that no trial value moved on these runs: they are
	// left out of Profile.
	Unidentified []string
	// Fixed holds the parameters held at a given value, not fitted.
	Fixed Fixed
}

// CalibratedMetrics names the metrics calibration fits, in the order of
// [Result.Residuals]' rows.
func CalibratedMetrics() []string { return slices.Clone(calMetrics) }

// startProfile is where the search starts: for every parameter, the
// uncalibrated value of the first case whose scenario has one (see
// [scenarios.Spec.ProfileOf]).
func startProfile(cases []*validate.Recording) calibration.Profile {
	var start calibration.Profile
	for _, c := range cases {
		p := c.Spec.ProfileOf()
		for _, cp := range calParams {
			if cp.get(&start) == 0 {
				cp.set(&start, cp.get(&p))
			}
		}
	}
	return start
}

// residualVector flattens per-case errors into the residuals of the
// weighted least-squares problem: √w × error, 0 for NaN (a metric the
// case lacks, the same for every candidate).
func residualVector(errs [][]float64, wv []float64, cases int) []float64 {
	out := make([]float64, 0, cases*len(wv))
	for i := range cases {
		for j := range wv {
			e := math.Inf(1) // a failed simulation
			if errs != nil {
				e = errs[i][j]
			}
			if math.IsNaN(e) {
				e = 0
			}
			out = append(out, math.Sqrt(wv[j])*e)
		}
	}
	return out
}

// sumSq is the sum of the squared errors, NaN (a metric a case lacks)
// left out.
func sumSq(errs [][]float64) float64 { return weightedSumSq(errs, calibration.Weights{}.Vector()) }

// calibrate fits the free parameters to cases, starting from the
// scenarios' defaults, minimising the sum of squared relative errors of
// CalibratedMetrics, each weighted by w, within about maxEval
// simulations of the case set. It goes in three steps:
//
//  1. Identification: a parameter whose every trial value (the start and
//     two far points of its range) gives the same objective does not act
//     on these runs (fault_service_time without a post-copy run,
//     cost_factor where no run is CPU-bound); it is left out of the
//     profile (0: not set) and named in [Result.Unidentified].
//  2. Closed forms (initialEstimate): the parameters one measured
//     quantity pins down are set to match it, and stay so.
//  3. The others (link bandwidth, resume time, dirty-sync cost, device
//     state, fault service time, CPU cost) are searched with those held. Searching all
//     together lets the noisy metric (downtime, which jumps with the
//     pages left for the stop) pull the well-determined parameters away:
//     on synthetic runs it traded a 60 % error in the page header for a
//     fraction of a percent of downtime.
//
// A search (see search) runs on logistic-transformed variables, bounds by
// transformation, alternating Levenberg-Marquardt, CMA-ES and
// Nelder-Mead.
func calibrate(ctx context.Context, cases []*validate.Recording, maxEval int, w calibration.Weights, fixed Fixed) (*Result, error) {
	if len(cases) == 0 {
		return nil, fmt.Errorf("calibrate: no cases")
	}
	if err := w.Check(); err != nil {
		return nil, err
	}
	if err := fixed.check(); err != nil {
		return nil, err
	}
	ft := &fitter{ctx: ctx, cases: cases, wv: w.Vector()}
	base, err := caseErrors(ctx, cases, nil)
	if err != nil {
		return nil, err
	}
	start := startProfile(cases)
	fixed.apply(&start)
	// 1. Which parameters act on these cases (a fixed one is neither
	// searched nor set by the closed forms).
	var active []calParam
	var unidentified []string
	f0 := ft.objective(&start)
	for _, c := range calParams {
		if _, ok := fixed[c.name]; ok {
			continue
		}
		acts := false
		for _, x := range gridLevels {
			p := start
			c.set(&p, c.fromFree(x))
			if ft.objective(&p) != f0 {
				acts = true
				break
			}
		}
		if acts {
			active = append(active, c)
		} else {
			unidentified = append(unidentified, c.name)
			c.set(&start, 0)
		}
	}
	if ft.err != nil {
		return nil, ft.err
	}
	// 2. Closed forms, iterated: each pass starts from the last, since a
	// parameter's effect is not exactly the closed form's (a faster live
	// phase also syncs fewer pages).
	for range closedFormPasses {
		init, err := initialEstimate(ctx, cases, start, active)
		if err != nil {
			return nil, err
		}
		ft.evals++
		fi := ft.objective(&init)
		if fi >= f0 {
			break
		}
		start, f0 = init, fi
	}
	// 3. The others.
	var rest []calParam
	for _, c := range active {
		if !slices.Contains(closedForm, c.name) {
			rest = append(rest, c)
		}
	}
	best, status := start, "closed forms only"
	if len(rest) > 0 {
		best, status = ft.search(rest, best, maxEval)
	}
	if ft.err != nil {
		return nil, ft.err
	}
	resid, err := caseErrors(ctx, cases, &best)
	if err != nil {
		return nil, err
	}
	f := &Result{Profile: best, DefaultCost: weightedSumSq(base, ft.wv), Cost: weightedSumSq(resid, ft.wv), Status: status, Residuals: resid, Weights: w, Unidentified: unidentified, Fixed: fixed}
	if len(active) > 0 {
		x := make([]float64, len(active))
		for i, c := range active {
			x[i] = c.toFree(c.get(&best))
		}
		lm := ft.lm(active, best)
		r := residualVector(resid, ft.wv, len(cases))
		f.Estimates = estimates(active, x, lm.jacobian(x, r), r)
		if ft.err != nil {
			return nil, ft.err
		}
	}
	f.Evaluations = ft.evals
	for _, c := range cases {
		f.Cases = append(f.Cases, c.Name)
	}
	return f, nil
}

// closedFormPasses bounds the passes of calibrate's closed forms.
const closedFormPasses = 4

// closedForm names the parameters initialEstimate sets from one measured
// quantity each; calibrate searches the others first with these held.
var closedForm = []string{"setup_time_s", "page_header_bytes", "bandwidth_factor", "multifd_bandwidth_factor"}

// fitter evaluates candidate profiles on a case set: the objective, the
// residuals, and the count of evaluations (simulations of the whole
// set). The first simulation error is kept in err; candidates after it
// score +Inf.
type fitter struct {
	ctx   context.Context
	cases []*validate.Recording
	wv    []float64
	evals int
	err   error
}

func (ft *fitter) errors(p *calibration.Profile) [][]float64 {
	ft.evals++
	if ft.err != nil {
		return nil
	}
	errs, err := caseErrors(ft.ctx, ft.cases, p)
	if err != nil {
		ft.err = err
		return nil
	}
	return errs
}

// objective is the weighted sum of squared relative errors under p.
func (ft *fitter) objective(p *calibration.Profile) float64 {
	errs := ft.errors(p)
	if errs == nil {
		return math.Inf(1)
	}
	return weightedSumSq(errs, ft.wv)
}

// at returns start with the params set from the free variables x.
func at(params []calParam, start calibration.Profile, x []float64) calibration.Profile {
	p := start
	for i, c := range params {
		c.set(&p, c.fromFree(x[i]))
	}
	return p
}

// lm is the least-squares problem over params, the others held at start.
func (ft *fitter) lm(params []calParam, start calibration.Profile) lmProblem {
	return lmProblem{
		residuals: func(x []float64) []float64 {
			p := at(params, start, x)
			return residualVector(ft.errors(&p), ft.wv, len(ft.cases))
		},
		step: func(i int, x []float64) float64 { return params[i].fdStep(x[i]) },
	}
}

// search minimises the objective over params from start (the others held)
// until ft has spent maxEval evaluations or a whole round no longer
// improves it, and returns the best profile and how the search ended. A
// round runs, each from the best point so far: Levenberg-Marquardt on the
// residuals (fast where the objective is smooth), CMA-ES (a population
// search that steps over the jumps where whole rounds come and go) and
// Nelder-Mead legs (which polish), each at most phaseBudget evaluations.
func (ft *fitter) search(params []calParam, start calibration.Profile, maxEval int) (calibration.Profile, string) {
	x := make([]float64, len(params))
	for i, c := range params {
		x[i] = c.toFree(c.get(&start))
	}
	prob := optimize.Problem{Func: func(x []float64) float64 {
		p := at(params, start, x)
		return ft.objective(&p)
	}}
	lm := ft.lm(params, start)
	bestF, status := prob.Func(x), "no step improved the start"
	type phase struct {
		name string
		run  func(x []float64, budget int) ([]float64, float64, string)
	}
	phases := []phase{
		{"Levenberg-Marquardt", func(x []float64, budget int) ([]float64, float64, string) {
			l := levenbergMarquardt(lm, x, budget)
			return l.x, l.f, l.status
		}},
		{"CMA-ES", func(x []float64, budget int) ([]float64, float64, string) { return cmaes(prob, x, budget) }},
		{"Nelder-Mead", func(x []float64, budget int) ([]float64, float64, string) { return nelderMeadLegs(prob, x, budget) }},
	}
	for ft.evals < maxEval && ft.err == nil {
		roundStart := bestF
		for _, ph := range phases {
			budget := min(maxEval-ft.evals, phaseBudget)
			if budget <= len(x)+1 || ft.err != nil {
				break
			}
			px, pf, st := ph.run(x, budget)
			// Trust no method's report of its best value: evaluate the
			// point it returns.
			if pf < bestF {
				pf = prob.Func(px)
			}
			if pf < bestF {
				x, bestF, status = px, pf, ph.name+": "+st
			}
		}
		if bestF >= roundStart*(1-1e-6) {
			break
		}
	}
	return at(params, start, x), status
}

// Calibrate fits a calibration profile to the recorded runs of suite
// (results as written by "migsim validate suite --json", with their real
// runs): it rebuilds each run's achieved trace and simulates it again
// under candidate parameters. maxEval bounds the evaluations (each one
// simulates every case); w weighs the metrics (nil: equally).
func Calibrate(ctx context.Context, s *validate.Suite, res *validate.SuiteResult, maxEval int, w calibration.Weights, fixed Fixed) (*Result, error) {
	cases, err := validate.Recordings(ctx, s, res)
	if err != nil {
		return nil, err
	}
	return calibrate(ctx, cases, maxEval, w, fixed)
}

// HeldOut is the k-fold evaluation of calibration: each fold is fitted on
// the other cases and its own cases' errors are measured, with the
// defaults and with the fold's profile.
type HeldOut struct {
	K int
	// Default and Calibrated hold, per metric of CalibratedMetrics, the
	// median |relative error| over every held-out case that has the
	// metric (NaN: none has).
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
	Profile calibration.Profile
	Cases   []string
	Errors  [][]float64
}

// CrossValidate runs k-fold held-out evaluation (case i is in fold i mod
// k), each fold fitted with weights w. The held-out costs are unweighted.
func CrossValidate(ctx context.Context, s *validate.Suite, res *validate.SuiteResult, k, maxEval int, w calibration.Weights, fixed Fixed) (*HeldOut, error) {
	cases, err := validate.Recordings(ctx, s, res)
	if err != nil {
		return nil, err
	}
	if k < 2 || k > len(cases) {
		return nil, fmt.Errorf("k-fold: k=%d with %d cases", k, len(cases))
	}
	var def, cal [][]float64
	var folds []Fold
	for f := range k {
		var train, test []*validate.Recording
		for i, c := range cases {
			if i%k == f {
				test = append(test, c)
			} else {
				train = append(train, c)
			}
		}
		fit, err := calibrate(ctx, train, maxEval, w, fixed)
		if err != nil {
			return nil, err
		}
		d, err := caseErrors(ctx, test, nil)
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
			fold.Cases = append(fold.Cases, tc.Name)
		}
		folds = append(folds, fold)
	}
	h := &HeldOut{K: k, DefaultCost: sumSq(def), CalibratedCost: sumSq(cal), Folds: folds}
	for j := range calMetrics {
		var a, b []float64
		for i := range def {
			if !math.IsNaN(def[i][j]) {
				a, b = append(a, math.Abs(def[i][j])), append(b, math.Abs(cal[i][j]))
			}
		}
		md, mc := math.NaN(), math.NaN()
		if len(a) > 0 {
			md, mc = median(a), median(b)
		}
		h.Default, h.Calibrated = append(h.Default, md), append(h.Calibrated, mc)
	}
	return h, nil
}

// WriteTable prints the fitted profile's residuals.
func (f *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\t")
	for _, m := range calMetrics {
		fmt.Fprintf(tw, "%s\t", m)
	}
	fmt.Fprintln(tw)
	for i, c := range f.Cases {
		fmt.Fprintf(tw, "%s\t", c)
		for _, e := range f.Residuals[i] {
			fmt.Fprintf(tw, "%s\t", pct(e))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "sum of squared relative errors (weights: %s): %.4g with defaults, %.4g calibrated (%d evaluations, %s)\n", f.Weights, f.DefaultCost, f.Cost, f.Evaluations, f.Status); err != nil {
		return err
	}
	if len(f.Unidentified) > 0 {
		if _, err := fmt.Fprintf(w, "not identified by these runs (left out of the profile): %s\n", strings.Join(f.Unidentified, ", ")); err != nil {
			return err
		}
	}
	if len(f.Fixed) > 0 {
		if _, err := fmt.Fprintf(w, "held fixed (--fix): %s\n", f.Fixed); err != nil {
			return err
		}
	}
	if len(f.Estimates) == 0 {
		_, err := fmt.Fprintf(w, "fitted: %s\n", describeProfile(&f.Profile))
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "parameter\tfitted\tstd. error\t\n")
	for _, e := range f.Estimates {
		se := "not determined"
		if e.AtBound {
			se = "at a bound of its range"
		} else if !math.IsInf(e.StdErr, 0) {
			se = fmt.Sprintf("±%.3g (%.1f%%)", e.StdErr, 100*e.StdErr/math.Abs(e.Value))
			if e.StdErr > 10*math.Abs(e.Value) {
				se = fmt.Sprintf("not determined (±%.3g: the runs barely move it)", e.StdErr)
			}
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%s\t\n", e.Name, e.Value, se)
	}
	return tw.Flush()
}

// pct formats a relative error as a signed percentage, "-" for NaN.
func pct(e float64) string {
	if math.IsNaN(e) {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*e)
}

// describeProfile lists the parameters p sets, in calParams' order.
func describeProfile(p *calibration.Profile) string {
	var parts []string
	for _, c := range calParams {
		if v := c.get(p); v != 0 {
			parts = append(parts, fmt.Sprintf("%s %.4g", c.name, v))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// WriteTable prints the held-out medians, defaults against calibrated.
func (h *HeldOut) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "held-out (%d-fold)\tmedian |err| defaults\tmedian |err| calibrated\t\n", h.K)
	for j, m := range calMetrics {
		if math.IsNaN(h.Default[j]) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t\n", m, 100*h.Default[j], 100*h.Calibrated[j])
	}
	fmt.Fprintf(tw, "sum of squares (unweighted)\t%.4g\t%.4g\t\n", h.DefaultCost, h.CalibratedCost)
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, f := range h.Folds {
		fmt.Fprintf(w, "fold %d: %s\n", i+1, describeProfile(&f.Profile))
		for j, c := range f.Cases {
			fmt.Fprintf(w, "  held out %s:", c)
			for m, e := range f.Errors[j] {
				if !math.IsNaN(e) {
					fmt.Fprintf(w, " %s %s", calMetrics[m], pct(e))
				}
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// cmaes minimises prob from x with CMA-ES (gonum's CmaEsChol, initial
// step 1 in the free variables, four times the default population, a
// fixed seed: the fit is deterministic) within budget evaluations, and
// returns the best point, its value and gonum's status.
func cmaes(prob optimize.Problem, x []float64, budget int) ([]float64, float64, string) {
	m := &optimize.CmaEsChol{InitStepSize: 1, Population: 4 * (4 + int(3*math.Log(float64(len(x))))), Src: rand.NewPCG(1, 2)}
	res, err := optimize.Minimize(prob, x, &optimize.Settings{FuncEvaluations: budget}, m)
	if err != nil && res == nil {
		return x, math.Inf(1), err.Error()
	}
	return res.X, res.F, res.Status.String()
}

// restartEvery bounds one Nelder-Mead leg, evaluations.
const restartEvery = 100

// phaseBudget bounds one method's evaluations in a round of a search.
const phaseBudget = 300

// nelderMeadLegs minimises prob from x within budget evaluations, in legs
// of at most restartEvery, each from the best point so far with a fresh
// simplex of size 1, until a leg improves the objective by less than a
// millionth. It returns the best point, its value and gonum's last
// status.
func nelderMeadLegs(prob optimize.Problem, x []float64, budget int) ([]float64, float64, string) {
	bestF, evals, status := math.Inf(1), 0, ""
	for evals < budget {
		res, err := optimize.Minimize(prob, x, &optimize.Settings{FuncEvaluations: min(budget-evals, restartEvery)}, &optimize.NelderMead{SimplexSize: 1})
		if err != nil && res == nil {
			return x, bestF, err.Error()
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
	return x, bestF, status
}

// gridLevels are the free-variable values at which calibrate tries each
// parameter to see whether it acts: 18 % and 82 % of its range.
var gridLevels = []float64{-1.5, 1.5}
