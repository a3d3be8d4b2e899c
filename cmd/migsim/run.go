package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/internal/buildinfo"
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
	resolved bool   // -o json: include the resolved scenario
	asserts  []string
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

A value that does not apply to the run is null in JSON and an empty CSV
cell, never a 0 that reads as a measurement: converged without a pre-copy
round (pure post-copy), expected_downtime_s and dirty_pages_rate without a
sync after one, downtime_s when the guest was never stopped (a pre-copy
that did not complete). JSON
results carry migsim_version; with --resolved also resolved_scenario, every
scenario key resolved (see 'migsim scenario explain FILE').

` + assertHelp + `

The same scenario and seed give byte-identical output from one build.`,
		Example: `  migsim run
  migsim run scenarios/examples/wan.yaml -o json
  migsim run demo.yaml --set model.downtime_limit=30ms --set network.profile=lan-1g
  migsim run demo.yaml --seed 7 -o csv > rounds.csv
  migsim run demo.yaml -o json --resolved > result.json
  migsim run demo.yaml --assert 'completed && downtime_s <= 0.3'`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.scenario = args[0]
			}
			if err := oneOf("output", o.output, "table", "json", "csv"); err != nil {
				return err
			}
			if o.resolved && o.output != "json" {
				return usageErrorf("--resolved needs -o json")
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
	cmd.Flags().BoolVar(&o.resolved, "resolved", false, "with -o json, add resolved_scenario: every scenario key as resolved")
	assertFlag(cmd, &o.asserts, "the result")
	return cmd
}

func runRun(cmd *cobra.Command, o *runOptions) error {
	sample := jsonSample[models.Result]()
	asserts, err := compileAssertions(o.asserts, sample)
	if err != nil {
		return err
	}
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
	res.MigsimVersion = buildinfo.Version()
	if o.resolved {
		if res.ResolvedScenario, err = spec.ResolvedJSON(); err != nil {
			return err
		}
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
	return checkResult(o.err, asserts, sample, res, "")
}

// checkResult checks the assertions on res, printing each failure to w
// after prefix (naming a sweep point, say); it returns an
// *assertionError when one fails.
func checkResult(w io.Writer, asserts assertions, sample map[string]any, res *models.Result, prefix string) error {
	if len(asserts) == 0 {
		return nil
	}
	obj, err := jsonObject(res)
	if err != nil {
		return err
	}
	failed := asserts.check(obj, sample)
	for _, f := range failed {
		fmt.Fprintf(w, "assertion failed: %s%s\n", prefix, f)
	}
	if len(failed) > 0 {
		return &assertionError{err: fmt.Errorf("%d of %d assertions failed", len(failed), len(asserts))}
	}
	return nil
}
