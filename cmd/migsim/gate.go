package main

import (
	"fmt"
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

// apply records history and checks the gate; it returns an accuracyError
// when a threshold is crossed.
func (f *gateFlags) apply(s streams, suite *validate.Suite, res *validate.SuiteResult) error {
	var vs []validate.Violation
	if f.gate {
		if len(suite.Gate) == 0 {
			return usageErrorf("--gate: suite %s has no gate: thresholds", suite.Name)
		}
		ths := validate.ThresholdsFor(suite.Gate, res.Calibration())
		vs = res.Gate(ths)
		if err := validate.WriteGate(s.err, ths, vs); err != nil {
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
does, without running anything. Exits 3 when a threshold is crossed.`,
		Example: `  migsim validate gate validate/suites/ci.yaml ci-results.json --history validate/history/ci.jsonl`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			suite, err := validate.LoadSuite(args[0])
			if err != nil {
				return err
			}
			res, err := validate.ReadSuiteResult(args[1])
			if err != nil {
				return err
			}
			o.gate = true
			return o.apply(o.streams, suite, res)
		},
	}
	o.gateFlags.register(cmd)
	cmd.Flags().Lookup("gate").Hidden = true
	return cmd
}
