package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/internal/buildinfo"
	"github.com/migsim/migsim/scenarios"
)

// streams are a command's standard streams. Results go to out; warnings,
// progress and errors to err. Tests pass buffers.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// execute runs the migsim command line args and returns the exit code.
// It prints errors to s.err and never panics on bad input.
func execute(ctx context.Context, args []string, s streams) exitCode {
	root := newRootCmd(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(s.err, strings.TrimRight(err.Error(), "\n"))
	code := exitCodeOf(err)
	if code == exitUsage {
		fmt.Fprintf(s.err, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// newRootCmd builds the migsim command tree. Nothing is global: each call
// returns new commands with their own options and flags.
func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "migsim",
		Short: "Simulate live VM migration",
		Long: `migsim is a discrete-event simulator of live virtual-machine migration. It
replays dirty-page traces (recorded or generated) against migration models
over network profiles and reports total time, downtime, bytes and rounds.

Scenario values come from, in order of precedence: --set key=value flags
(and dedicated flags such as --seed), the scenario file, the built-in
defaults (see 'migsim scenario explain').

-o (--output) names the output format of what a command prints (table,
json, csv); --out names a file or directory a command writes. -o PATH, the
old spelling in sweep, merge, plot, calibrate, trace gen, trace import,
trace capture and validate import, still works until the next release,
with a warning on stderr.

Exit status: 0 ok, 1 error, 2 usage error, 3 accuracy gate failed, 4 an
--assert expression failed (the output is written first).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSubcommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	// --version prints what "migsim version" prints.
	var version strings.Builder
	_ = writeVersion(&version)
	root.Version = buildinfo.Version()
	root.SetVersionTemplate(version.String())
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetIn(s.in)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	root.AddCommand(
		newRunCmd(s, nil),
		newTraceCmd(s),
		newScenarioCmd(s),
		newProfilesCmd(s),
		newModelsCmd(s),
		newVersionCmd(s),
		newSweepCmd(s, nil),
		newMergeCmd(s),
		newPlotCmd(s, nil),
		newValidateCmd(s),
		newCalibrateCmd(s),
		newEvacuateCmd(s, nil),
		newAdviseCmd(s, nil),
	)
	return root
}

// group makes cmd a group of subcommands: run alone it prints its help,
// and an unknown subcommand is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = noSubcommand
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	return cmd
}

// noSubcommand rejects arguments to a command that only has subcommands.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	return usageErrorf("%s", msg)
}

// usageArgs turns the errors of a positional-argument validator into
// usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err: err}
		}
		return nil
	}
}

// oneOf checks that the value of flag name is one of allowed.
func oneOf(name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return usageErrorf("invalid value %q for --%s: want %s", value, name, strings.Join(allowed, ", "))
}

// scenarioFlags are the flags of every command that loads a scenario.
type scenarioFlags struct {
	sets []string
	seed uint64
}

func (f *scenarioFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.sets, "set", nil, "set a scenario key, e.g. --set model.downtime_limit=30ms (repeatable; the value is YAML)")
	fl.Uint64Var(&f.seed, "seed", 0, "shortcut for --set seed=N, applied after every --set")
}

// allSets returns the overrides the flags give: --set, then --seed.
func (f *scenarioFlags) allSets(cmd *cobra.Command) []string {
	sets := f.sets
	if cmd.Flags().Changed("seed") {
		sets = append(sets[:len(sets):len(sets)], fmt.Sprintf("seed=%d", f.seed))
	}
	return sets
}

// load loads the scenario at path ("" for the built-in default) with the
// flags applied on top.
func (f *scenarioFlags) load(cmd *cobra.Command, path string) (*scenarios.Spec, error) {
	sets := f.allSets(cmd)
	if path == "" {
		return scenarios.LoadDefault(sets)
	}
	return scenarios.Load(path, sets)
}
