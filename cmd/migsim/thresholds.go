package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/validate"
)

// validateThresholdsOptions are the options of "migsim validate thresholds".
type validateThresholdsOptions struct {
	streams
	margin  float64
	since   string
	minRuns int
	format  string
	suite   string // the suite file
	history string // the history file
}

// newValidateThresholdsCmd builds "migsim validate thresholds", which sets
// a suite's gate from its recorded runs.
func newValidateThresholdsCmd(s streams) *cobra.Command {
	o := &validateThresholdsOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "thresholds suite.yaml history.jsonl",
		Short: "Derive a suite's gate thresholds from its recorded runs",
		Long: `Read a suite's history (lines appended by 'migsim validate gate --history')
and, for each threshold of the suite's gate, report how many recorded runs
measured it, the largest median and worst |relative error| they saw, and a
bound of --margin times that, rounded up (to 0.01 below 1, 0.05 below 5).
A threshold with a bound of 0 keeps it unset. Runs recorded before the
history kept per-threshold errors (its "checks") are not counted.

-o table marks with * a threshold some recorded run crossed, and says
which suggested bounds are tighter or looser; -o yaml prints the gate
entries to paste into the suite; -o json one object per threshold. Exits 3
when fewer than --min-runs runs measured some threshold: a bound set from
one run is a guess.`,
		Example: `  migsim validate thresholds validate/suites/ci.yaml validate/history/ci.jsonl
  migsim validate thresholds validate/suites/ci.yaml validate/history/ci.jsonl --since 2026-12-06 -o yaml`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.suite, o.history = args[0], args[1]
			return validateThresholdsRun(o)
		},
	}
	fl := cmd.Flags()
	fl.Float64Var(&o.margin, "margin", 1.5, "bounds are this many times the largest error seen (at least 1)")
	fl.StringVar(&o.since, "since", "", "count only runs recorded on or after this date (2006-01-02 or RFC 3339)")
	fl.IntVar(&o.minRuns, "min-runs", 3, "exit 3 when fewer runs than this measured a threshold")
	fl.StringVarP(&o.format, "output", "o", "table", "table, yaml or json")
	return cmd
}

// validateThresholdsRun is the body of "migsim validate thresholds".
func validateThresholdsRun(o *validateThresholdsOptions) error {
	if err := oneOf("output", o.format, "table", "yaml", "json"); err != nil {
		return err
	}
	if !(o.margin >= 1) {
		return usageErrorf("--margin %v: want at least 1", o.margin)
	}
	var since time.Time
	if o.since != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, o.since); err != nil {
			if since, err = time.Parse(time.DateOnly, o.since); err != nil {
				return usageErrorf("--since %q: want a date (2006-01-02) or an RFC 3339 time", o.since)
			}
		}
	}
	suite, err := validate.LoadSuite(o.suite)
	if err != nil {
		return err
	}
	if len(suite.Gate) == 0 {
		return usageErrorf("suite %s has no gate: thresholds", suite.Name)
	}
	history, err := validate.ReadHistory(o.history)
	if err != nil {
		return err
	}
	ds := validate.DeriveThresholds(history, suite.Name, since, suite.Gate, o.margin)
	switch o.format {
	case "json":
		err = writeJSON(o.out, ds)
	case "yaml":
		err = writeThresholdsYAML(o.out, ds)
	default:
		err = writeThresholdsTable(o.out, ds, o.margin)
	}
	if err != nil {
		return err
	}
	few := 0
	for _, d := range ds {
		if d.Runs < o.minRuns {
			few++
		}
	}
	if few > 0 {
		return &accuracyError{err: fmt.Errorf("suite %s: %d of %d thresholds measured by fewer than %d recorded runs", suite.Name, few, len(ds), o.minRuns)}
	}
	return nil
}

// writeThresholdsTable prints each threshold: now, seen, suggested.
func writeThresholdsTable(w io.Writer, ds []validate.DerivedThreshold, margin float64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tscope\truns\tabs\tmedian now\tseen\tsuggested\tworst now\tseen\tsuggested\t\n")
	for _, d := range ds {
		t, s := d.Current, d.Suggested
		mark := ""
		if d.Crossed {
			mark = " *"
		}
		seenMed, seenWorst := "-", "-"
		if d.SeenMedian != nil {
			seenMed, seenWorst = pct(*d.SeenMedian), pct(*d.SeenWorst)
		}
		change := ""
		switch {
		case d.Tighter && d.Looser:
			change = "tighter and looser"
		case d.Tighter:
			change = "tighter"
		case d.Looser:
			change = "looser"
		}
		abs := "-" // a tolerance in the metric's unit, kept in the suggestion
		if t.Abs > 0 {
			abs = strconv.FormatFloat(t.Abs, 'g', -1, 64)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Metric, mark, t.Scope(), d.Runs, abs,
			bound(t.Median), seenMed, bound(s.Median), bound(t.Worst), seenWorst, bound(s.Worst), change)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "suggested: %.2g x the largest error seen, rounded up; * a recorded run crossed the threshold now set; abs: errors within it count as 0 (the metric's unit)\n", margin)
	return err
}

// writeThresholdsYAML prints the suggested thresholds as gate entries.
func writeThresholdsYAML(w io.Writer, ds []validate.DerivedThreshold) error {
	if _, err := fmt.Fprintln(w, "gate:"); err != nil {
		return err
	}
	for _, d := range ds {
		t := d.Suggested
		var kv []string
		kv = append(kv, "metric: "+t.Metric)
		if t.Model != "" {
			kv = append(kv, "model: "+t.Model)
		}
		if t.Shaping != "" {
			kv = append(kv, "shaping: "+string(t.Shaping))
		}
		if t.Calibration != "" {
			kv = append(kv, "calibration: "+t.Calibration)
		}
		if t.Median > 0 {
			kv = append(kv, fmt.Sprintf("median: %.2f", t.Median))
		}
		if t.Worst > 0 {
			kv = append(kv, fmt.Sprintf("worst: %.2f", t.Worst))
		}
		note := fmt.Sprintf("%d runs", d.Runs)
		if d.Runs == 0 {
			note = "no recorded run: unchanged"
		}
		if _, err := fmt.Fprintf(w, "  - {%s}  # %s\n", strings.Join(kv, ", "), note); err != nil {
			return err
		}
	}
	return nil
}

// bound prints a threshold's bound; "-" when unset.
func bound(x float64) string {
	if x <= 0 {
		return "-"
	}
	return pct(x)
}

// pct prints a fraction as a percentage.
func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
