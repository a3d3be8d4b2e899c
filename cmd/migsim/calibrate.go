package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/validate"
)

// calibrateOptions are the options of "migsim calibrate".
type calibrateOptions struct {
	streams
	suite   string
	output  string
	name    string
	kfold   int
	maxEval int
}

// newCalibrateCmd builds "migsim calibrate". The lead registers it on the
// root command.
func newCalibrateCmd(s streams) *cobra.Command {
	o := &calibrateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "calibrate suite-results.json --suite suite.yaml -o profile.yaml",
		Short: "Fit a calibration profile to recorded lab runs",
		Long: `Fit the parameters the models leave free (live-round bandwidth factor,
link bandwidth of stop-and-copy, setup time, resume time, dirty-sync cost)
to the real runs in suite results written by 'migsim validate suite --json',
with Nelder-Mead over the sum of squared relative errors of total time,
downtime, setup time and transferred bytes. Each run is simulated again on
the trace its guest achieved (rebuilt from the suite's scenario and the
run's epoch reports). Prints the residuals; with --kfold K also the
held-out error of K-fold cross-validation against the defaults.`,
		Example: `  migsim calibrate ci-results.json --suite validate/suites/ci.yaml -o local-tcg.yaml --name local-tcg --kfold 3`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.suite == "" || o.output == "" {
				return usageErrorf("calibrate: --suite and -o are required")
			}
			suite, err := validate.LoadSuite(o.suite)
			if err != nil {
				return err
			}
			res, err := validate.ReadSuiteResult(args[0])
			if err != nil {
				return err
			}
			fit, err := validate.Calibrate(cmd.Context(), suite, res, o.maxEval)
			if err != nil {
				return fmt.Errorf("calibrate: %w", err)
			}
			fit.Profile.Name = o.name
			if err := fit.WriteTable(o.out); err != nil {
				return err
			}
			if o.kfold > 0 {
				h, err := validate.CrossValidate(cmd.Context(), suite, res, o.kfold, o.maxEval)
				if err != nil {
					return fmt.Errorf("calibrate: %w", err)
				}
				if err := h.WriteTable(o.out); err != nil {
					return err
				}
			}
			return writeOutput(o.output, o.out, func(w io.Writer) error {
				fmt.Fprintf(w, "# Calibration profile fitted by 'migsim calibrate %s --suite %s' to %d runs.\n", args[0], o.suite, len(fit.Cases))
				return yaml.NewEncoder(w).Encode(fit.Profile)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.suite, "suite", "", "the suite file the results come from (its scenarios are regenerated)")
	fl.StringVarP(&o.output, "output", "o", "", "profile YAML to write (- for stdout)")
	fl.StringVar(&o.name, "name", "local", "profile name")
	fl.IntVar(&o.kfold, "kfold", 0, "also report K-fold held-out error (0: no)")
	fl.IntVar(&o.maxEval, "max-eval", 200, "Nelder-Mead evaluations (each simulates every case)")
	return cmd
}
