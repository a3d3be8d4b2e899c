package main

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/validate"
)

// gateFlags are the accuracy-gate flags of "validate suite" and
// "validate gate".
type gateFlags struct {
	gate        bool
	history     string
	commit      string
	host        string
	calibration string
}

func (f *gateFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.gate, "gate", false, "check the suite's gate thresholds; exit 3 when one is crossed")
	fl.StringVar(&f.history, "history", "", "append the run's errors as a JSON line to this file (e.g. validate/history/ci.jsonl)")
	fl.StringVar(&f.commit, "commit", "", "commit recorded in --history (default: git rev-parse --short HEAD, if it works)")
	fl.StringVar(&f.host, "host", "", "machine and load recorded in --history, e.g. \"TCG 2 cores, load 0.5\"")
	fl.StringVar(&f.calibration, "calibration-name", "", "calibration profile recorded in --history (default: the one the simulated results name)")
}

// gateOutput says how a gate's verdict is written: as text on stderr
// (format "table") or a JSON report on stdout ("json"), and as JUnit XML
// to the file junit when not "".
type gateOutput struct {
	format string
	junit  string
}

// write writes the verdict on ths, report, as o says; text goes to text.
func (o gateOutput) write(s streams, text io.Writer, ths []validate.Threshold, report *validate.GateReport) error {
	if o.format == "json" {
		if err := writeJSON(s.out, report); err != nil {
			return err
		}
	} else if err := validate.WriteGate(text, ths, report.Violations()); err != nil {
		return err
	}
	if o.junit != "" {
		if err := writeOutput(o.junit, s.out, report.WriteJUnit); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	return nil
}

// apply records history and checks the gate, writing the verdict as text
// on stderr; it returns an accuracyError when a threshold is crossed.
func (f *gateFlags) apply(s streams, suite *validate.Suite, res *validate.SuiteResult) error {
	return f.applyOut(s, suite, res, gateOutput{format: "table"})
}

// applyOut is apply with the verdict written as out says.
func (f *gateFlags) applyOut(s streams, suite *validate.Suite, res *validate.SuiteResult, out gateOutput) error {
	var vs []validate.Violation
	if f.gate {
		if len(suite.Gate) == 0 {
			return usageErrorf("--gate: suite %s has no gate: thresholds", suite.Name)
		}
		ths := validate.ThresholdsFor(suite.Gate, res.Calibration())
		report := validate.NewGateReport(res, ths)
		vs = report.Violations()
		if err := out.write(s, s.err, ths, report); err != nil {
			return err
		}
	}
	if f.history != "" {
		commit := f.commit
		if commit == "" {
			if b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
				commit = strings.TrimSpace(string(b))
			}
		}
		cal := f.calibration
		for _, c := range res.Comparisons {
			if cal == "" && c.Sim != nil {
				cal = c.Sim.Calibration
			}
		}
		e := validate.HistoryEntry{
			Date: time.Now().UTC().Truncate(time.Second), Commit: commit, Suite: res.Suite,
			Calibration: cal, Host: f.host,
			Cases: len(res.Comparisons), Failed: len(res.Failed), Errors: res.Summary,
			Checks: res.Check(validate.ThresholdsFor(suite.Gate, cal)),
		}
		for _, v := range vs {
			e.Gate = append(e.Gate, v.String())
		}
		if err := validate.AppendHistory(f.history, e); err != nil {
			return fmt.Errorf("--history: %w", err)
		}
	}
	if len(vs) > 0 {
		return &accuracyError{err: fmt.Errorf("suite %s: accuracy gate failed: %d thresholds crossed", suite.Name, len(vs))}
	}
	return nil
}

// validateGateOptions are the options of "migsim validate gate".
type validateGateOptions struct {
	streams
	gateFlags
	out     gateOutput
	suite   string // the suite file
	results string // the results file
}

// newValidateGateCmd builds "migsim validate gate", the gate over
// recorded results (no QEMU).
func newValidateGateCmd(s streams) *cobra.Command {
	o := &validateGateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "gate suite.yaml results.json",
		Short: "Check recorded suite results against the suite's accuracy gate",
		Long: `Read results written by 'migsim validate suite --json' and check them
against the gate: thresholds of the suite file, as 'validate suite --gate'
does, without running anything. Exits 3 when a threshold is crossed.

The verdict goes to stderr as text, or with -o json to stdout as one
object: suite, calibration, passed, checks (one per threshold: the
threshold, status pass, fail or missing, the cases it covered, median and
worst |relative error|, the worst case and the bounds crossed), summary
and failed_cases. A threshold no case in the results measured is
"missing" (and fails the gate), never a NaN. --junit FILE also writes the
verdict as JUnit XML, one test case per threshold, for CI test reports.`,
		Example: `  migsim validate gate validate/suites/ci.yaml ci-results.json --history validate/history/ci.jsonl
  migsim validate gate validate/suites/ci.yaml ci-results.json -o json --junit gate.xml`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.suite, o.results = args[0], args[1]
			return validateGateRun(o)
		},
	}
	o.gateFlags.register(cmd)
	cmd.Flags().Lookup("gate").Hidden = true
	registerGateOutput(cmd, &o.out)
	return cmd
}

// validateGateRun runs "migsim validate gate" with its options.
func validateGateRun(o *validateGateOptions) error {
	if err := oneOf("output", o.out.format, "table", "json"); err != nil {
		return err
	}
	suite, res, err := readSuiteResult(o.suite, o.results)
	if err != nil {
		return err
	}
	o.gate = true
	return o.applyOut(o.streams, suite, res, o.out)
}

// registerGateOutput registers -o/--output FORMAT and --junit FILE.
func registerGateOutput(cmd *cobra.Command, o *gateOutput) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "verdict format: table (text on stderr) or json (on stdout)")
	registerJUnit(cmd, &o.junit)
}

// registerJUnit registers --junit FILE.
func registerJUnit(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "junit", "", "also write the gate's verdict as JUnit XML to this file (- for stdout)")
}

// readSuiteResult reads a suite file and the results a run of it
// recorded ('migsim validate suite --json').
func readSuiteResult(suitePath, resultsPath string) (*validate.Suite, *validate.SuiteResult, error) {
	suite, err := validate.LoadSuite(suitePath)
	if err != nil {
		return nil, nil, err
	}
	res, err := validate.ReadSuiteResult(resultsPath)
	if err != nil {
		return nil, nil, err
	}
	return suite, res, nil
}
