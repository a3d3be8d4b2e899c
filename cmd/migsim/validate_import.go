package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/validate"
)

// validateImportOptions are the options of "migsim validate import".
type validateImportOptions struct {
	streams
	output         string
	format         string
	mapping        string
	sets           []string
	gateFrom       string
	skipIncomplete bool
	name           string
	outDir         *outFlag
	records        []string // the record files
}

// newValidateImportCmd builds "migsim validate import": field records of
// real migrations made into recorded runs (validate/importrec.go).
func newValidateImportCmd(s streams) *cobra.Command {
	o := &validateImportOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "import RECORD... --out DIR",
		Short: "Turn records of real migrations (QMP, virsh, KubeVirt) into recorded runs for 'validate gate' and 'calibrate'",
		Long: `Read records of completed migrations from a fleet, build a scenario for
each, simulate it, and compare the simulator with what the record measured.
DIR receives suite.yaml (a case per record), base.yaml and results.json,
which 'migsim validate gate DIR/suite.yaml DIR/results.json' and
'migsim calibrate DIR/results.json --suite DIR/suite.yaml' read as they read
the lab's; the comparison table and each record's verdict (converged or
not, real and simulated) go to stdout.

Record formats (--format auto detects each file's):
  qmp       QMP query-migrate replies: the final one of a completed
            migration, or polled ones ending with it (JSON lines or an array),
            optionally with query-migrate-parameters and -capabilities
            replies; also a lab run from 'validate run --json' (its "real")
  virsh     'virsh domjobinfo DOMAIN --completed' (with --rawstats for exact
            sizes), one or more per file
  kubevirt  VirtualMachineInstanceMigration objects with
            status.migrationState (kubectl get vmim -o yaml), or
            VirtualMachineInstances, as YAML or JSON, lists included

A scenario takes from its record what the record holds (memory, zero pages,
post-copy or not, the caps and capabilities the format shows, the dirty
rate where QEMU reported one: fitted so that the scenario, simulated,
reports QEMU's last dirty-pages-rate, which counts only pages not already
waiting to be sent) and every other fact it needs from the
mapping file (--map) or --set: never from a guess. A record missing a
fact is an error naming the record and the fact, and why the record lacks
it. Precedence: --set, then the mapping's vms: entries, then the record,
then the mapping's defaults:. Each key's source is written beside it in
suite.yaml.

Only the metrics a record measured are compared. --gate-from copies a
suite file's gate: thresholds into suite.yaml, leaving out those on metrics
no record measured (named on stderr).`,
		Example: `  migsim validate import records/*.json --map fleet.yaml --out field
  migsim validate import jobinfo/*.txt --map fleet.yaml --set network.bandwidth=25Gbit --out field
  migsim validate import vmims.yaml --map fleet.yaml --gate-from validate/suites/ci.yaml --out field
  migsim validate gate field/suite.yaml field/results.json
  migsim calibrate field/results.json --suite field/suite.yaml --out fleet.yaml --name fleet --kfold 3`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.records = args
			return validateImportRun(cmd, o)
		},
	}
	fl := cmd.Flags()
	o.outDir = registerOut(cmd, "folder for suite.yaml, base.yaml and results.json (created if needed; -o DIR is its deprecated spelling)", nil, "")
	fl.StringVar(&o.format, "format", "auto", "record format: auto, qmp, virsh or kubevirt")
	fl.StringVar(&o.mapping, "map", "", "mapping file giving the facts records lack (defaults: and vms:, see README)")
	fl.StringArrayVar(&o.sets, "set", nil, "key=value scenario override for every record, over records and mapping (repeatable)")
	fl.StringVar(&o.gateFrom, "gate-from", "", "copy the gate: thresholds of this suite file into suite.yaml")
	fl.BoolVar(&o.skipIncomplete, "skip-incomplete", false, "skip records of failed, cancelled or unfinished migrations (named on stderr) instead of failing")
	fl.StringVar(&o.name, "name", "field", "suite name")
	return cmd
}

// validateImportRun runs "migsim validate import" with its options.
func validateImportRun(cmd *cobra.Command, o *validateImportOptions) error {
	if err := o.outDir.resolve(cmd, o.err); err != nil {
		return err
	}
	if o.output = o.outDir.path; o.output == "" {
		return usageErrorf("import: --out DIR is required (where suite.yaml and results.json go)")
	}
	format, err := validate.ParseFieldFormat(o.format)
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	for _, s := range o.sets {
		if k, _, ok := strings.Cut(s, "="); !ok || strings.TrimSpace(k) == "" {
			return usageErrorf("--set %q: want key=value, e.g. network.bandwidth=25Gbit", s)
		}
	}
	opts := validate.ImportOptions{Format: format, Set: o.sets, SkipIncomplete: o.skipIncomplete, Suite: o.name, Log: o.err}
	if o.mapping != "" {
		if opts.Mapping, err = validate.LoadFieldMapping(o.mapping); err != nil {
			return err
		}
	}
	var gate []validate.Threshold
	if o.gateFrom != "" {
		if gate, err = validate.LoadGate(o.gateFrom); err != nil {
			return err
		}
	}
	fi, err := validate.ImportRecords(cmd.Context(), o.records, opts)
	if err != nil {
		return err
	}
	if len(gate) > 0 {
		var drop []validate.Threshold
		gate, drop = validate.FieldThresholds(gate, fi.Result)
		for _, t := range drop {
			switch {
			case t.Shaping == lab.ShapingNetns:
				fmt.Fprintf(o.err, "gate: left out %s (shaping netns): field records are not of a shaped path\n", t.Metric)
			case t.Model != "":
				fmt.Fprintf(o.err, "gate: left out %s (%s): no %s record measures it\n", t.Metric, t.Model, t.Model)
			default:
				fmt.Fprintf(o.err, "gate: left out %s: no record measures it\n", t.Metric)
			}
		}
	}
	if err := fi.Write(o.output, gate); err != nil {
		return err
	}
	if err := fi.Result.WriteTable(o.out); err != nil {
		return err
	}
	if err := fi.WriteVerdicts(o.out); err != nil {
		return err
	}
	fmt.Fprintf(o.err, "imported %d records (%d skipped): %s, %s\n", len(fi.Result.Comparisons), len(fi.Skipped),
		filepath.Join(o.output, "suite.yaml"), filepath.Join(o.output, "results.json"))
	return nil
}
