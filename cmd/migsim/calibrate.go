package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/calibration/fit"
	"github.com/migsim/migsim/validate"
)

// calibrateOptions are the options of "migsim calibrate".
type calibrateOptions struct {
	streams
	suite   string
	profile *outFlag // --out, the profile to write
	format  string   // -o: table or json (--evaluate)
	junit   string
	output  string
	name    string
	kfold   int
	maxEval int
	weights []string
	fix     []string
	eval    string
	json    string
	results string // the suite results file
}

// newCalibrateCmd builds "migsim calibrate". The lead registers it on the
// root command.
func newCalibrateCmd(s streams) *cobra.Command {
	o := &calibrateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "calibrate suite-results.json --suite suite.yaml --out profile.yaml",
		Short: "Fit a calibration profile to recorded lab runs",
		Long: `Fit the parameters the models leave free to the real runs in suite
results written by 'migsim validate suite --json' (every loopback run:
pre-copy, multifd, XBZRLE, post-copy, hybrid): live-round bandwidth
factors (single stream and multifd), link bandwidth of stop-and-copy,
setup time, resume time, dirty-sync cost, per-page header, device state,
post-copy fault service time and a CPU cost factor. Each run is simulated
again on the trace its guest achieved (rebuilt from the suite's scenario
and the run's epoch reports). The objective is the sum of squared relative
errors of total time, downtime, setup time, transferred bytes, normal
pages, post-copy requests and stall time, each weighted (--weight
metric=w, repeatable, over the suite file's calibration_weights; 1 by
default, 0 leaves a metric out). Parameters the runs do not move are left
out of the profile and named; those one measurement pins down come from
closed forms; the rest are searched (Levenberg-Marquardt, CMA-ES,
Nelder-Mead). --fix name=value (repeatable) holds a parameter at a value
you measured instead of fitting it, e.g. --fix link_bandwidth_bps=1.2e10
for the rate a probe measured (values in the units the name says:
seconds for _s, bytes for _bytes, bits/s for _bps). Prints the residuals
and each parameter's standard error; with --kfold K also the held-out
error of K-fold cross-validation against the defaults.

With --evaluate PROFILE (a built-in name or a profile file) it fits
nothing: it simulates the recorded runs again under that profile ("none":
uncalibrated), prints the comparison table as 'migsim validate suite'
does and checks the suite's gate thresholds for the runs it re-simulated
(exit 3 when one is crossed); --json writes the re-simulated results for
'migsim validate gate'. With -o json it prints, instead of the table, the
gate's verdict as 'migsim validate gate -o json' does (a threshold no
re-simulated case measured is "missing"); --junit FILE also writes it as
JUnit XML.

--out PROFILE is the profile to write (- for stdout); -o PROFILE, its
spelling before, still works for one release with a warning (-o now
names the output format).`,
		Example: `  migsim calibrate ci-results.json --suite validate/suites/ci.yaml --out local-tcg.yaml --name local-tcg --kfold 3
  migsim calibrate ci-results.json --suite validate/suites/ci.yaml --out - --weight downtime_s=3
  migsim calibrate ci-results.json --suite validate/suites/ci.yaml --out - --fix link_bandwidth_bps=1.2e10
  migsim calibrate ci-results.json --suite validate/suites/ci.yaml --evaluate local-tcg
  migsim calibrate ci-results.json --suite validate/suites/ci.yaml --evaluate local-tcg -o json --junit gate.xml`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.results = args[0]
			return calibrateRun(cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.suite, "suite", "", "the suite file the results come from (its scenarios are regenerated)")
	o.profile = registerOut(cmd, "profile YAML to write (- for stdout)", &o.format, "table", "table", "json")
	registerJUnit(cmd, &o.junit)
	fl.StringVar(&o.name, "name", "local", "profile name")
	fl.IntVar(&o.kfold, "kfold", 0, "also report K-fold held-out error (0: no)")
	fl.IntVar(&o.maxEval, "max-eval", 400, "evaluations of the search (each simulates every case)")
	fl.StringVar(&o.eval, "evaluate", "", "fit nothing: re-simulate the runs under this profile (name, file, or none) and check the gate")
	fl.StringVar(&o.json, "json", "", "with --evaluate, write the re-simulated results as JSON to this file")
	fl.StringArrayVar(&o.weights, "weight", nil, "metric=weight in the objective, repeatable (metrics: "+strings.Join(calibration.Metrics(), ", ")+")")
	fl.StringArrayVar(&o.fix, "fix", nil, "name=value: hold a parameter at value instead of fitting it, repeatable (parameters: "+strings.Join(fit.ParamNames(), ", ")+")")
	return cmd
}

// calibrateRun runs "migsim calibrate" with its options.
func calibrateRun(cmd *cobra.Command, o *calibrateOptions) error {
	if err := o.profile.resolve(cmd, o.err); err != nil {
		return err
	}
	o.output = o.profile.path
	if err := oneOf("output", o.format, "table", "json"); err != nil {
		return err
	}
	if o.suite == "" || (o.output == "" && o.eval == "") {
		return usageErrorf("calibrate: --suite and --out (or --evaluate) are required")
	}
	if o.eval != "" && len(o.fix) > 0 {
		return usageErrorf("calibrate: --fix goes with a fit, not with --evaluate")
	}
	if o.eval == "" && (o.format != "table" || o.junit != "") {
		return usageErrorf("calibrate: -o json and --junit go with --evaluate")
	}
	suite, res, err := readSuiteResult(o.suite, o.results)
	if err != nil {
		return err
	}
	if o.eval != "" {
		return o.evaluate(cmd, suite, res)
	}
	weights := calibration.Weights{}
	for m, w := range suite.CalibrationWeights {
		weights[m] = w
	}
	for _, s := range o.weights {
		if err := weights.Set(s); err != nil {
			return usageErrorf("--weight: %v", err)
		}
	}
	if err := weights.Check(); err != nil {
		return usageErrorf("--weight: %v", err)
	}
	fixed := fit.Fixed{}
	for _, s := range o.fix {
		if err := fixed.Set(s); err != nil {
			return usageErrorf("--fix: %v", err)
		}
	}
	fitted, err := fit.Calibrate(cmd.Context(), suite, res, o.maxEval, weights, fixed)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	fitted.Profile.Name = o.name
	if err := fitted.WriteTable(o.out); err != nil {
		return err
	}
	if o.kfold > 0 {
		h, err := fit.CrossValidate(cmd.Context(), suite, res, o.kfold, o.maxEval, weights, fixed)
		if err != nil {
			return fmt.Errorf("calibrate: %w", err)
		}
		if err := h.WriteTable(o.out); err != nil {
			return err
		}
	}
	return writeOutput(o.output, o.out, func(w io.Writer) error {
		fmt.Fprintf(w, "# Calibration profile fitted by 'migsim calibrate %s --suite %s' to %d runs, weights %s.\n", o.results, o.suite, len(fitted.Cases), weights)
		if len(fixed) > 0 {
			fmt.Fprintf(w, "# Held fixed, not fitted: %s.\n", fixed)
		}
		return yaml.NewEncoder(w).Encode(fitted.Profile)
	})
}

// evaluate is --evaluate: the recorded runs simulated again under one
// profile, tabled and gated.
func (o *calibrateOptions) evaluate(cmd *cobra.Command, suite *validate.Suite, res *validate.SuiteResult) error {
	var p *calibration.Profile
	if o.eval != "none" {
		var err error
		if p, err = calibration.Resolve(o.eval, ""); err != nil {
			return usageErrorf("--evaluate: %v", err)
		}
	}
	re, err := validate.Resimulate(cmd.Context(), suite, res, p)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if o.format != "json" {
		if err := re.WriteTable(o.out); err != nil {
			return err
		}
	}
	if o.json != "" {
		if err := writeOutput(o.json, o.out, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(re)
		}); err != nil {
			return err
		}
	}
	ths := validate.ResimulatedThresholds(validate.ThresholdsFor(suite.Gate, re.Calibration()), re)
	if len(ths) == 0 && o.format != "json" && o.junit == "" {
		return nil
	}
	report := validate.NewGateReport(re, ths)
	vs := report.Violations()
	if err := (gateOutput{format: o.format, junit: o.junit}).write(o.streams, o.out, ths, report); err != nil {
		return err
	}
	if len(vs) > 0 {
		return &accuracyError{err: fmt.Errorf("suite %s under %s: accuracy gate failed: %d thresholds crossed", suite.Name, o.eval, len(vs))}
	}
	return nil
}
