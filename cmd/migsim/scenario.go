package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

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
			return runScenarioCheck(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	return cmd
}

func runScenarioCheck(cmd *cobra.Command, o *scenarioCheckOptions) error {
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

func newScenarioExplainCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "explain",
		Short: "List every scenario key with its default, unit and meaning",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return scenarios.Explain(s.out)
		},
	}
}
