package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
	"github.com/migsim/migsim/validate"
)

// newValidateCmd returns "migsim validate": the validation lab, which runs
// scenarios as real QEMU migrations beside the simulator.
func newValidateCmd(s streams) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "validate",
		Short: "Run scenarios as real QEMU migrations and compare them with the simulator",
		Long: `The validation lab boots two QEMU processes on this machine (KVM when /dev/kvm
is usable, TCG otherwise), a source whose guest replays the scenario's trace
and a destination waiting for it, migrates the guest over loopback TCP with the
scenario's migration settings, verifies the destination's memory against the
source's, and runs the simulator on the trace the guest really achieved.
With --hosts hosts.yaml the two QEMUs run on the hosts the file names,
reached over SSH (see validate/hosts.example.yaml and validate/README.md).

It needs qemu-system-x86_64 and a kernel in /boot (Debian: qemu-system-x86
and linux-image-amd64; validate/ci-install.sh installs both), and the go tool
to build the guest replayer unless --guest names a built one.`,
	})
	cmd.AddCommand(newValidateRunCmd(s), newValidateSuiteCmd(s), newValidateImageCmd(s), newValidateGateCmd(s), newValidateImportCmd(s), newValidateFleetCmd(s), newValidateThresholdsCmd(s))
	return cmd
}

// labFlags are the flags every lab command shares.
type labFlags struct {
	cacheDir string
	cacheMax cacheLimit
	kernel   string
	guest    string
	workDir  string
	timeout  time.Duration
	jsonOut  string
	csvOut   string
	shaping  string
	hosts    string
}

// register adds every lab flag to cmd.
func (f *labFlags) register(cmd *cobra.Command) {
	f.registerBoot(cmd, "parent of each run's temporary folder (default /dev/shm)", "longest a migration may take before it is cancelled and the run fails")
	fl := cmd.Flags()
	fl.StringVar(&f.jsonOut, "json", "", "also write the full result (series, epochs, both results) as JSON to this file (- for stdout)")
	fl.StringVar(&f.csvOut, "csv", "", "also write the per-metric comparison (case, model, metric, real, sim, rel_err) as CSV to this file (- for stdout)")
	fl.StringVar(&f.hosts, "hosts", lab.HostsLocal, "where the two QEMUs run: local (this machine) or a hosts file naming a source and a destination host reached over SSH (see validate/hosts.example.yaml)")
	fl.StringVar(&f.shaping, "shaping", "", "how the path is shaped: qemu (QEMU's max-bandwidth over loopback, the default) or netns (network namespaces, tbf at network.bandwidth, a relay adding network.rtt with network.tcp_window; needs root and iproute2); for a suite it overrides the file's shaping")
}

// registerBoot adds the flags that boot and time local guests (the boot
// kit's, --work-dir and --timeout, with the help given) to cmd.
func (f *labFlags) registerBoot(cmd *cobra.Command, workDirHelp, timeoutHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where boot kits are cached (default $XDG_CACHE_HOME/migsim or ~/.cache/migsim)")
	fl.Var(&f.cacheMax, "cache-max", "prune least recently used boot kits to this size after a build, or off")
	fl.StringVar(&f.kernel, "kernel", "", "kernel to boot (default the newest /boot/vmlinuz-*)")
	fl.StringVar(&f.guest, "guest", "", "built migsim-guest binary (default: build it with the go tool)")
	fl.StringVar(&f.workDir, "work-dir", "", workDirHelp)
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, timeoutHelp)
}

// imageOptions are the boot-kit options the flags give.
func (f *labFlags) imageOptions() lab.ImageOptions {
	return lab.ImageOptions{CacheDir: f.cacheDir, Kernel: f.kernel, Guest: f.guest, CacheMax: units.Bytes(f.cacheMax)}
}

// localOptions are the local lab's options the flags give.
func (f *labFlags) localOptions() lab.LocalOptions {
	return lab.LocalOptions{Options: lab.Options{MigrationTimeout: f.timeout}, WorkDir: f.workDir, Shaping: lab.Shaping(f.shaping)}
}

// options checks --shaping and --hosts and returns the lab's options.
func (f *labFlags) options(s streams) (validate.Options, error) {
	if _, err := lab.ParseShaping(f.shaping); err != nil {
		return validate.Options{}, usageErrorf("--%v", err)
	}
	hosts, err := lab.ParseHostsFlag(f.hosts)
	if err != nil {
		return validate.Options{}, err
	}
	if sh, _ := lab.ParseShaping(f.shaping); hosts != nil && sh == lab.ShapingNetns {
		return validate.Options{}, usageErrorf("%v", lab.ErrRemoteShaping)
	}
	return validate.Options{
		Image: f.imageOptions(),
		Local: f.localOptions(),
		Log:   s.err,
		Hosts: hosts,
	}, nil
}

// resultFormat is the --output (-o) flag of the lab commands that print a
// result: table or json.
type resultFormat struct {
	output string
}

func (f *resultFormat) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

func (f *resultFormat) check() error { return oneOf("output", f.output, "table", "json") }

// print writes v to w as JSON, or as table writes it.
func (f *resultFormat) print(w io.Writer, v any, table func(io.Writer) error) error {
	if f.output == "json" {
		return writeJSON(w, v)
	}
	return table(w)
}

// writeCSV writes the comparisons to --csv, if given.
func (f *labFlags) writeCSV(cs []*validate.Comparison) error {
	if f.csvOut == "" {
		return nil
	}
	return writeOutput(f.csvOut, os.Stdout, func(w io.Writer) error { return validate.WriteCSV(w, cs) })
}

func (f *labFlags) writeJSON(v any) error {
	if f.jsonOut == "" {
		return nil
	}
	return writeOutput(f.jsonOut, os.Stdout, func(w io.Writer) error { return writeJSON(w, v) })
}

// validateRunOptions are the options of "migsim validate run".
type validateRunOptions struct {
	streams
	scenarioFlags
	labFlags
	resultFormat
	scenario string
}

func newValidateRunCmd(s streams) *cobra.Command {
	o := &validateRunOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "run scenario.yaml",
		Short: "Migrate one scenario for real and in the simulator, and print both",
		Long: `Run the scenario as a real local migration and in the simulator on the trace
the guest achieved, and print each metric's real and simulated values with
the simulator's relative error. A run whose destination memory differs from
the source's fails (exit 1); it is never reported as a data point.
The precopy (multifd included), postcopy and hybrid models can be validated
so far; post-copy needs userfaultfd and a work dir on tmpfs.`,
		Example: `  migsim validate run validate/suites/lab-base.yaml
  migsim validate run validate/suites/lab-base.yaml --set workload.generator.dirty_rate=4000 --json run.json
  migsim validate run validate/suites/lab-base.yaml --hosts hosts.yaml`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.scenario = args[0]
			return validateRunRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	o.labFlags.register(cmd)
	o.resultFormat.register(cmd)
	return cmd
}

// validateRunRun runs "migsim validate run" with its options.
func validateRunRun(cmd *cobra.Command, o *validateRunOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	opts, err := o.options(o.streams)
	if err != nil {
		return err
	}
	spec, err := o.load(cmd, o.scenario)
	if err != nil {
		return err
	}
	c, err := validate.Run(cmd.Context(), spec, opts)
	if err != nil {
		return err
	}
	if err := o.writeJSON(c); err != nil {
		return err
	}
	if err := o.writeCSV([]*validate.Comparison{c}); err != nil {
		return err
	}
	return o.print(o.out, c, c.WriteTable)
}

// validateSuiteOptions are the options of "migsim validate suite".
type validateSuiteOptions struct {
	streams
	labFlags
	resultFormat
	gateFlags
	retry bool
	suite string // the suite file
}

func newValidateSuiteCmd(s streams) *cobra.Command {
	o := &validateSuiteOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "suite suite.yaml",
		Short: "Run a matrix of lab cases and summarise the simulator's error",
		Long: `Run every case of a suite file (a base scenario and per-case --set
overrides, see validate/suites/ci.yaml) as 'migsim validate run' does, then
print each case side by side and the median and worst error per metric.
The suite goes on past a failed case; the command exits 1 if any failed.

With --gate, check the suite's gate: thresholds (median and worst relative
error per metric and model); a crossed threshold is printed and the command
exits 3. With --history FILE, append the run's errors as one JSON line.`,
		Example: `  migsim validate suite validate/suites/ci.yaml --json ci-results.json
  migsim validate suite validate/suites/ci.yaml --gate --history validate/history/ci.jsonl`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.suite = args[0]
			return validateSuiteRun(cmd, o)
		},
	}
	o.labFlags.register(cmd)
	o.gateFlags.register(cmd)
	o.resultFormat.register(cmd)
	cmd.Flags().BoolVar(&o.retry, "retry", true, "with --gate, run a case that crosses a threshold once more before failing (the first attempt is kept in the JSON's retried)")
	return cmd
}

// validateSuiteRun runs "migsim validate suite" with its options.
func validateSuiteRun(cmd *cobra.Command, o *validateSuiteOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	opts, err := o.options(o.streams)
	if err != nil {
		return err
	}
	suite, err := validate.LoadSuite(o.suite)
	if err != nil {
		return err
	}
	res, err := validate.RunSuite(cmd.Context(), suite, opts)
	if err != nil {
		return err
	}
	if o.gate && o.retry && len(suite.Gate) > 0 {
		// A case behind a crossed threshold runs once more before
		// the gate decides (validate.SuiteResult.Retry).
		if vs := res.Gate(validate.ThresholdsFor(suite.Gate, res.Calibration())); len(vs) > 0 {
			fmt.Fprintf(o.err, "%d gate thresholds crossed: running the cases behind them once more\n", len(vs))
			if _, err := res.Retry(cmd.Context(), suite, vs, opts); err != nil {
				return err
			}
		}
	}
	if err := o.writeJSON(res); err != nil {
		return err
	}
	if err := o.writeCSV(res.Comparisons); err != nil {
		return err
	}
	if err := o.print(o.out, res, res.WriteTable); err != nil {
		return err
	}
	gateErr := o.gateFlags.apply(o.streams, suite, res)
	if len(res.Failed) > 0 {
		return errors.Join(fmt.Errorf("suite %s: %d of %d cases failed", suite.Name, len(res.Failed), len(suite.Cases)), gateErr)
	}
	return gateErr
}

// validateImageOptions are the options of "migsim validate image".
type validateImageOptions struct {
	streams
	scenarioFlags
	labFlags
	scenario string
}

func newValidateImageCmd(s streams) *cobra.Command {
	o := &validateImageOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "image [scenario.yaml]",
		Short: "Build (or find in the cache) the boot kit for a scenario's trace",
		Long: `Build the kernel and initramfs a lab guest boots for the scenario's trace
(the replayer as /init and the trace), reproducibly, and cache them under a
hash of their inputs. Prints the kernel path, the initramfs path and the key.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.scenario = args[0]
			}
			return validateImageRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	o.labFlags.register(cmd)
	return cmd
}

// validateImageRun runs "migsim validate image" with its options.
func validateImageRun(cmd *cobra.Command, o *validateImageOptions) error {
	spec, err := o.load(cmd, o.scenario)
	if err != nil {
		return err
	}
	trace := spec.TracePath()
	if trace == "" {
		tmp, err := os.MkdirTemp("", "migsim-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		trace = filepath.Join(tmp, "trace.mgt")
		if err := writeScenarioTrace(cmd.Context(), spec.Opener(), trace); err != nil {
			return err
		}
	}
	img, err := lab.BuildImage(cmd.Context(), trace, o.imageOptions())
	if err != nil {
		return err
	}
	state := "built"
	if img.Cached {
		state = "cached"
	}
	if _, err := fmt.Fprintf(o.out, "kernel: %s\ninitramfs: %s\nkey: %s (%s)\n", img.Kernel, img.Initramfs, img.Key, state); err != nil {
		return err
	}
	for _, k := range img.Pruned {
		fmt.Fprintf(o.err, "pruned boot kit %s (%v, last used %s)\n", k.Key, k.Bytes, k.Used.Format(time.RFC3339))
	}
	return nil
}

// writeScenarioTrace writes the trace opened by open to path.
func writeScenarioTrace(ctx context.Context, open traces.Opener, path string) error {
	src, err := open()
	if err != nil {
		return err
	}
	defer traces.Close(src)
	return lab.WriteTraceFile(ctx, path, src)
}
