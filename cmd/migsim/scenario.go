package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/scenarios"
)

func newScenarioCmd(s streams) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "scenario",
		Short: "Check scenario files and explain their keys",
	})
	cmd.AddCommand(newScenarioCheckCmd(s), newScenarioExplainCmd(s))
	return cmd
}

// scenarioCheckOptions are the options of "migsim scenario check".
type scenarioCheckOptions struct {
	streams
	scenarioFlags
	files []string
}

func newScenarioCheckCmd(s streams) *cobra.Command {
	o := &scenarioCheckOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "check file.yaml...",
		Short: "Load and validate scenario files without running them",
		Long: `Load each scenario file as 'migsim run' would (with the same --set and
--seed flags), validate every key and build its model, without simulating.
Prints "FILE: ok" for each good file; every problem found is printed to
stderr as FILE:LINE: KEY: MESSAGE, and the exit status is 1.`,
		Example: `  migsim scenario check scenarios/examples/*.yaml`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return scenarioCheckRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	return cmd
}

func scenarioCheckRun(cmd *cobra.Command, o *scenarioCheckOptions) error {
	var errs []error
	for _, f := range o.files {
		spec, err := o.load(cmd, f)
		if err == nil {
			_, _, err = spec.Build()
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.out, "%s: ok\n", f)
	}
	return errors.Join(errs...)
}

// scenarioExplainOptions are the options of "migsim scenario explain".
type scenarioExplainOptions struct {
	streams
	scenarioFlags
	output string // table or json, with a file
	file   string // the scenario file; "" for none
}

func newScenarioExplainCmd(s streams) *cobra.Command {
	o := &scenarioExplainOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "explain [file.yaml]",
		Short: "List every scenario key with its default, unit and meaning, or a file's resolved values",
		Long: `With no file and no --set, list every scenario key with its built-in
default, its unit and its meaning, the parameters of every model included.

With a file (or --set flags, which apply to the built-in scenario without
one), load it as 'migsim run' would and print the value every key resolved
to, with its unit and where it came from: --set, the file's line, the
calibration profile, the network profile, the trace's header or the
default. Only the chosen model's parameters are listed. -o json prints the
resolved scenario as one JSON object (sizes, rates and durations as text
in scenario syntax), the object 'migsim run -o json --resolved' carries.`,
		Example: `  migsim scenario explain
  migsim scenario explain scenarios/examples/wan.yaml
  migsim scenario explain demo.yaml --set model.name=postcopy -o json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.file = args[0]
			}
			return scenarioExplainRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json (the resolved scenario)")
	return cmd
}

// scenarioExplainRun runs "migsim scenario explain" with its options.
func scenarioExplainRun(cmd *cobra.Command, o *scenarioExplainOptions) error {
	if err := oneOf("output", o.output, "table", "json"); err != nil {
		return err
	}
	if o.file == "" && len(o.sets) == 0 && !cmd.Flags().Changed("seed") {
		if o.output == "json" {
			spec, err := o.load(cmd, "")
			if err != nil {
				return err
			}
			return writeResolved(o.out, spec)
		}
		if err := scenarios.Explain(o.out); err != nil {
			return err
		}
		return fleet.Explain(o.out)
	}
	spec, err := o.load(cmd, o.file)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return writeResolved(o.out, spec)
	}
	return spec.WriteSettings(o.out, o.allSets(cmd))
}

// writeResolved writes the resolved scenario as indented JSON.
func writeResolved(w io.Writer, spec *scenarios.Spec) error {
	raw, err := spec.ResolvedJSON()
	if err != nil {
		return err
	}
	return writeJSON(w, raw)
}
