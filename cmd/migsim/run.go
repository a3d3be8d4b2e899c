package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/models"
)

// runOptions are the options of "migsim run".
type runOptions struct {
	streams
	scenarioFlags
	scenario string // scenario file; "" for the built-in default
	output   string // table, json or csv
	progress bool   // print each round to stderr as it ends
	plot     string // figure of the rounds to write (.png, .svg, .pdf); "" for none
	force    bool   // replace an existing plot file
}

// newRunCmd returns "migsim run". runF, when not nil, replaces the run so
// that tests can check flag parsing alone.
func newRunCmd(s streams, runF func(*cobra.Command, *runOptions) error) *cobra.Command {
	o := &runOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "run [scenario.yaml]",
		Short: "Simulate one migration and print its result",
		Long: `Simulate the migration a scenario describes and print the result to stdout.
With no file, run the built-in default scenario (see 'migsim scenario explain').

Output formats (-o):
  table  a summary, then one line per round (the stop-and-copy round marked *)
  json   the result object; keys as documented in package models (Result)
  csv    a header, one row per round, then a row with round "total": its
         duration_s is total_time_s, bytes is transferred_bytes, pages and
         zero_pages are sums, bandwidth_bps the live-phase mean, throttle_pct
         the final throttle, and downtime_s and stop_reason are filled in
         (they are empty on round rows)

The same scenario and seed give byte-identical output.`,
		Example: `  migsim run
  migsim run scenarios/examples/wan.yaml -o json
  migsim run demo.yaml --set model.downtime_limit=30ms --set network.profile=lan-1g
  migsim run demo.yaml --seed 7 -o csv > rounds.csv`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.scenario = args[0]
			}
			if err := oneOf("output", o.output, "table", "json", "csv"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd, o)
			}
			return runRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json or csv")
	cmd.Flags().BoolVar(&o.progress, "progress", false, "print each round to stderr as it ends")
	cmd.Flags().StringVar(&o.plot, "plot", "", "also draw the rounds as a bar chart to this file (.png, .svg or .pdf)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace the --plot file if it exists")
	return cmd
}

func runRun(cmd *cobra.Command, o *runOptions) error {
	if err := checkOverwrite(o.plot, o.force); err != nil {
		return err
	}
	spec, err := o.load(cmd, o.scenario)
	if err != nil {
		return err
	}
	model, in, err := spec.Build()
	if err != nil {
		return err
	}
	if o.progress {
		in.Observer = models.ObserverFunc(func(r models.Round) {
			fmt.Fprintf(o.err, "round %d: %d pages, %s, %.3f s\n", r.Round, r.Pages, humanBytes(r.Bytes), r.DurationS)
		})
	}
	res, err := model.Run(cmd.Context(), in)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	switch o.output {
	case "json":
		err = writeJSON(o.out, res)
	case "csv":
		err = writeCSV(o.out, res)
	default:
		err = writeTable(o.out, spec, res)
	}
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := plotRounds(o.plot, res); err != nil {
			return err
		}
	}
	switch {
	case !res.Completed:
		fmt.Fprintf(o.err, "warning: the migration did not complete: stop reason %s after %.3f s of simulated time\n", res.StopReason, res.TotalTimeS)
	case res.StopReason.Forced():
		fmt.Fprintf(o.err, "warning: the migration did not converge: stop-and-copy was forced (%s)\n", res.StopReason)
	}
	return nil
}
