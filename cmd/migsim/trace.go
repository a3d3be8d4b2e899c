package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

func newTraceCmd(s streams) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "trace",
		Short: "Generate, inspect and import dirty-page traces (.mgt files)",
	})
	cmd.AddCommand(newTraceGenCmd(s), newTraceStatsCmd(s), newTraceImportCmd(s), newCaptureCmd(s))
	return cmd
}

// traceGenOptions are the options of "migsim trace gen".
type traceGenOptions struct {
	streams
	scenarioFlags
	scenario string // "" for the built-in default
	output   string // trace file to write; "-" for stdout
	force    bool   // replace an existing output file
	outFile  *outFlag
}

func newTraceGenCmd(s streams) *cobra.Command {
	o := &traceGenOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "gen [scenario.yaml] --out out.mgt",
		Short: "Write a scenario's synthetic workload as a trace file",
		Long: `Run the scenario's workload.generator (seeded from its seed) for its whole
duration and write the epochs as a trace file. With no scenario file, use the
built-in default scenario. The file is written to a temporary name and
renamed when complete; an existing file is not replaced unless --force.`,
		Example: `  migsim trace gen --out default.mgt
  migsim trace gen wan.yaml --out wan.mgt --set workload.generator.duration=60s`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.scenario = args[0]
			}
			if err := o.outFile.resolve(cmd, o.err); err != nil {
				return err
			}
			if o.output = o.outFile.path; o.output == "" {
				return usageErrorf("trace gen: --out FILE is required (- for stdout)")
			}
			if err := checkOverwrite(o.output, o.force); err != nil {
				return fmt.Errorf("trace gen: %w", err)
			}
			return traceGenRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	o.outFile = registerOut(cmd, "trace file to write (- for stdout; -o FILE is its deprecated spelling)", nil, "")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace the output file if it exists")
	return cmd
}

func traceGenRun(cmd *cobra.Command, o *traceGenOptions) error {
	spec, err := o.load(cmd, o.scenario)
	if err != nil {
		return err
	}
	if spec.Workload.Generator == nil {
		return fmt.Errorf("trace gen: scenario %s replays the trace file %s; trace gen needs a workload.generator", spec.Name, spec.TracePath())
	}
	src, err := spec.Opener()()
	if err != nil {
		return fmt.Errorf("trace gen: %w", err)
	}
	var n uint64
	err = writeFileOutput(o.output, o.out, o.force, func(w io.Writer) error {
		var err error
		n, err = traces.Encode(w, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("trace gen: %w", err)
	}
	h := src.Header()
	fmt.Fprintf(o.err, "wrote %s: %d epochs of %v, %v in %d pages of %v\n",
		o.output, n, h.Epoch, units.Bytes(h.MemoryBytes()), h.PageCount, units.Bytes(h.PageSize))
	return nil
}

// writeOutput calls write with the file at path, or with stdout when path
// is "-". A file is written under a temporary name in the same directory
// and renamed to path only when write succeeds, so a failed or interrupted
// run leaves no partial file; it replaces path if it exists (commands that
// must not, call writeFileOutput). Temporary files a killed run left for
// path are removed.
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	return writeFileOutput(path, stdout, true, write)
}

// traceStatsOptions are the options of "migsim trace stats".
type traceStatsOptions struct {
	streams
	file   string
	output string // table or json
}

func newTraceStatsCmd(s streams) *cobra.Command {
	o := &traceStatsOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "stats file.mgt",
		Short: "Summarize a trace: dirty rates, working sets, composition",
		Long: `Read a trace file to its end, checking every checksum, and print its
statistics: size, epochs, mean and peak dirty rate, distinct pages written,
the writable working set over 1 s, 10 s and 100 s windows, and, for a
trace whose composition changes (record 0x02), the composition at the end
of every 10 s interval. The json output's keys carry their units.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if err := oneOf("output", o.output, "table", "json"); err != nil {
				return err
			}
			return traceStatsRun(o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

func traceStatsRun(o *traceStatsOptions) error {
	tr, err := traces.Open(o.file)
	if err != nil {
		return err
	}
	defer tr.Close()
	st, err := traces.Stats(tr)
	if err != nil {
		return err
	}
	if o.output == "json" {
		return writeJSON(o.out, st)
	}
	return st.WriteText(o.out)
}

// traceImportOptions are the options of "migsim trace import".
type traceImportOptions struct {
	streams
	input   string // text trace; "-" for stdin
	output  string // trace file to write
	force   bool   // replace an existing output file
	outFile *outFlag
}

func newTraceImportCmd(s streams) *cobra.Command {
	o := &traceImportOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "import in.txt --out out.mgt",
		Short: "Convert a text trace into a trace file",
		Long: `Read a trace in the text form documented in traces/IMPORT.md (a header
block, then one line per epoch and operation listing pages and page ranges)
and write it as a binary trace file. Use - as input to read stdin. Errors
name the input line and column. An existing output file is not replaced
unless --force.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.input = args[0]
			if err := o.outFile.resolve(cmd, o.err); err != nil {
				return err
			}
			if o.output = o.outFile.path; o.output == "" {
				return usageErrorf("trace import: --out FILE is required")
			}
			if err := checkOverwrite(o.output, o.force); err != nil {
				return fmt.Errorf("trace import: %w", err)
			}
			return traceImportRun(o)
		},
	}
	o.outFile = registerOut(cmd, "trace file to write (-o FILE is its deprecated spelling)", nil, "")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace the output file if it exists")
	return cmd
}

func traceImportRun(o *traceImportOptions) error {
	in, name := o.in, "stdin"
	if o.input != "-" {
		f, err := os.Open(o.input)
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, o.input
	}
	opts := traces.ImportOptions{Provenance: "imported from " + filepath.Base(name) + " by migsim trace import"}
	var n uint64
	err := writeFileOutput(o.output, o.out, o.force, func(w io.Writer) error {
		var err error
		n, err = traces.Import(w, in, name, opts)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.err, "wrote %s: %d epochs\n", o.output, n)
	return nil
}
