// Package fit fits calibration profiles (package calibration) to recorded
// real migrations: "migsim calibrate". It simulates every recorded run of
// a validation suite again ([validate.Recordings]: the trace each guest
// really achieved, or a field record's own workload) under candidate
// profiles and minimises the weighted sum of squared relative errors of
// the metrics [calibration.Metrics] names ([calibration.Weights]).
//
// # The fit
//
// [Calibrate] goes in three steps (fit.go): parameters no trial value
// moves on these runs are left out of the profile; the parameters one
// measured quantity pins down (setup time, resume time, page header, the
// bandwidth factors) are set from closed forms (estimate.go); the others
// are searched on logistic-transformed variables, bounds by
// transformation, alternating Levenberg-Marquardt (lm.go, which also
// gives each parameter's standard error), CMA-ES and Nelder-Mead (gonum
// optimize). The free parameters, their ranges and how each is applied
// are the table in params.go; [LoadProfile] checks a profile against it.
//
// [CrossValidate] measures the fit on held-out runs, k-fold.
package fit
