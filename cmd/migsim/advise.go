package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/advise"
	"github.com/migsim/migsim/internal/buildinfo"
)

// adviseOptions are the options of "migsim advise".
type adviseOptions struct {
	streams
	scenarioFlags
	file        string
	maxDowntime time.Duration
	maxTime     time.Duration
	output      string
	rank        string
	workers     int
	asserts     []string
}

// newAdviseCmd returns "migsim advise". runF, when not nil, replaces the
// search so that tests can check flag parsing alone.
func newAdviseCmd(s streams, runF func(*cobra.Command, *adviseOptions) error) *cobra.Command {
	o := &adviseOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "advise FILE --max-downtime DURATION [--max-time DURATION]",
		Short: "Find the settings that make a migration meet a downtime and time limit",
		Long: `Search the settings a user can change for the migration a scenario
describes, and list the options that meet the limits, ranked, with their
predicted total time, downtime, bytes on the wire and guest slowdown; then
say what none of them can do.

The candidates are a documented set, not a grid (see package advise):
  as-is               the scenario's own model and settings
  downtime-limit      pre-copy with downtime_limit set to the limit less the
                      stop's fixed costs (sync, device state, resume, RTT)
  auto-converge       downtime-limit and QEMU's auto-converge throttle
  multifd-4, -8       downtime-limit over 4 or 8 multifd channels
  multifd-8-zstd      downtime-limit over 8 channels compressing with zstd
  auto-converge+zstd  both of the above
  xbzrle              downtime-limit and XBZRLE, a cache of 1/8 of memory
  max-bandwidth       downtime-limit with the scenario's max_bandwidth lifted
                      (when it sets one)
  postcopy            post-copy with QEMU's defaults
  hybrid              one pre-copy pass, then post-copy
Each runs on model.engine auto (the fluid engine where it covers the
candidate, page elsewhere; the output says which) with model.max_time set
to --max-time (default: the scenario's), on every core at once (--workers).
An option meets the limits when it completes within --max-time with a
downtime of at most --max-downtime. Progress goes to stderr; the report to
stdout, the same for the same scenario, seed and limits.

Output formats (-o):
  table  the limits, the options that meet them ranked, the others with
         why not, and what none of them can do
  json   the report: scenario, max_downtime_s, max_time_s, rank_by,
         meeting, options[] (name, description, settings, model, engine,
         engine_fallback, meets, rank, why_not, completed, stop_reason,
         total_time_s, downtime_s, transferred_bytes, guest_slowdown,
         throttle_pct, vm_at_risk_s), none_can, migsim_version

` + assertHelp,
		Example: `  migsim advise db.yaml --max-downtime 300ms --max-time 10m
  migsim advise db.yaml --max-downtime 50ms --rank slowdown -o json
  migsim advise db.yaml --max-downtime 300ms --assert 'meeting > 0'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if err := oneOf("output", o.output, "table", "json"); err != nil {
				return err
			}
			if err := oneOf("rank", o.rank, advise.RankOrders...); err != nil {
				return err
			}
			if !cmd.Flags().Changed("max-downtime") {
				return usageErrorf("--max-downtime is required, e.g. --max-downtime 300ms")
			}
			if o.maxDowntime <= 0 {
				return usageErrorf("--max-downtime %v: want a positive duration, e.g. 300ms", o.maxDowntime)
			}
			if cmd.Flags().Changed("max-time") && o.maxTime <= 0 {
				return usageErrorf("--max-time %v: want a positive duration, e.g. 10m", o.maxTime)
			}
			if o.workers < 0 {
				return usageErrorf("--workers %d: want 0 (every core) or more", o.workers)
			}
			if runF != nil {
				return runF(cmd, o)
			}
			return adviseRun(cmd, o)
		},
	}
	o.scenarioFlags.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&o.maxDowntime, "max-downtime", 0, "the longest acceptable downtime, e.g. 300ms (required)")
	fl.DurationVar(&o.maxTime, "max-time", 0, "the longest acceptable total time, e.g. 10m (default: the scenario's model.max_time)")
	fl.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	fl.StringVar(&o.rank, "rank", advise.RankTime, "order of the options that meet the limits: time, downtime, bytes or slowdown")
	fl.IntVar(&o.workers, "workers", 0, "candidates run at once (0: every core)")
	assertFlag(cmd, &o.asserts, "the report")
	return cmd
}

func adviseRun(cmd *cobra.Command, o *adviseOptions) error {
	sample := jsonSample[advise.Report]()
	asserts, err := compileAssertions(o.asserts, sample)
	if err != nil {
		return err
	}
	spec, err := o.load(cmd, o.file)
	if err != nil {
		return err
	}
	rep, err := advise.Advise(cmd.Context(), spec, advise.Limits{MaxDowntime: o.maxDowntime, MaxTime: o.maxTime},
		advise.Options{Workers: o.workers, RankBy: o.rank, Progress: func(done, total int, op *advise.Option) {
			fmt.Fprintf(o.err, "advise: %d/%d %s (%s): %s after %s\n", done, total, op.Name, op.Engine, op.StopReason, seconds(op.TotalTimeS))
		}})
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	rep.MigsimVersion = buildinfo.Version()
	if o.output == "json" {
		err = writeJSON(o.out, rep)
	} else {
		err = writeAdviceTable(o.out, rep)
	}
	if err != nil {
		return err
	}
	if rep.Meeting == 0 {
		fmt.Fprintf(o.err, "warning: no option meets the limits\n")
	}
	if len(asserts) == 0 {
		return nil
	}
	obj, err := jsonObject(rep)
	if err != nil {
		return err
	}
	failed := asserts.check(obj, sample)
	for _, fa := range failed {
		fmt.Fprintf(o.err, "assertion failed: %s\n", fa)
	}
	if len(failed) > 0 {
		return &assertionError{err: fmt.Errorf("%d of %d assertions failed", len(failed), len(asserts))}
	}
	return nil
}

// writeAdviceTable prints the report for people.
func writeAdviceTable(w io.Writer, rep *advise.Report) error {
	fmt.Fprintf(w, "scenario  %s\n", rep.Scenario)
	fmt.Fprintf(w, "limits    downtime at most %s, total time at most %s\n", seconds(rep.MaxDowntimeS), seconds(rep.MaxTimeS))
	fmt.Fprintf(w, "meets     %d of %d options (ranked by %s)\n\n", rep.Meeting, len(rep.Options), rep.RankBy)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rank\toption\tmodel\tengine\ttotal\tdowntime\ttransferred\tslowdown\tsettings")
	for _, op := range rep.Options {
		r := "-"
		if op.Meets {
			r = fmt.Sprint(op.Rank)
		}
		down := "-"
		if op.DowntimeS != nil {
			down = seconds(*op.DowntimeS)
		}
		settings := strings.Join(op.Settings, " ")
		if settings == "" {
			settings = "(as the scenario)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f%%\t%s\n", r, op.Name, op.Model, op.Engine,
			seconds(op.TotalTimeS), down, humanBytes(op.TransferredBytes), 100*op.GuestSlowdown, settings)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var not []advise.Option
	for _, op := range rep.Options {
		if !op.Meets {
			not = append(not, op)
		}
	}
	if len(not) > 0 {
		fmt.Fprintln(w, "\nwhy the others do not meet the limits:")
		for _, op := range not {
			fmt.Fprintf(w, "  %s: %s\n", op.Name, op.WhyNot)
		}
	}
	if len(rep.NoneCan) > 0 {
		fmt.Fprintln(w, "\nwhat none of them can do:")
		for _, s := range rep.NoneCan {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
