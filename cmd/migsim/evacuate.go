package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot/vg"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/plots"
)

// evacuateOptions are the options of "migsim evacuate".
type evacuateOptions struct {
	streams
	file     string
	sets     []string
	output   string
	plot     string
	budget   int
	progress bool
	asserts  []string
}

func newEvacuateCmd(s streams, runF func(*cobra.Command, *evacuateOptions) error) *cobra.Command {
	o := &evacuateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "evacuate FLEET.yaml",
		Short: "Simulate many migrations over shared links: drain a host, plan the order",
		Long: `Simulate the migrations a fleet file describes, all on one engine over a
shared network: each host's NIC (out and in) and the path between each pair
of hosts are shared max-min fairly by the migrations crossing them, each
held to its own TCP window and loss limits and caps. The plan starts the
migrations in its order under its caps (plan.max_concurrent, per-host caps,
bandwidth_per_migration); order optimize searches the order and the
concurrency for the shortest makespan with as few VMs unconverged as
possible (see 'Evacuating a host' in the README).

Fleet keys: name, seed, network (the scenario's network section, the path
between any two hosts), hosts [{name, nic}], vms [{name, count, from, to,
vm, workload, model}] (each entry takes a scenario's vm, workload and model
keys and defaults), plan {max_concurrent, max_outbound_per_host,
max_inbound_per_host, bandwidth_per_migration, order, on_timeout}. --set
takes any of them: --set plan.max_concurrent=4, --set vms.web.count=12,
--set vms.web.model.downtime_limit=1s, --set network.profile=lan-25g.

Engine: a VM whose model section names no model.engine runs on auto, the
fluid engine for pre-copy over a generator workload and the page engine
for the rest (trace files, post-copy, hybrid, parallel, XBZRLE, the
balloon); set model.engine: page in an entry, or --set
vms.NAME.model.engine=page, to replay its pages. Each VM's result says
which engine ran (engine).

Output formats (-o):
  table  the fleet's summary, then one row per VM
  json   the fleet's result: makespan_s, completed, vms_not_converged,
         vms_over_downtime_limit, worst_downtime_s, sum_downtime_s,
         transferred_bytes, peak_concurrency, and vms[] (name, from, to,
         start_s, end_s, total_time_s, downtime_s, transferred_bytes,
         converged, downtime_within_limit, completed, stop_reason,
         mean_bandwidth_bps, engine)
  csv    one row per VM

` + assertHelp,
		Example: `  migsim evacuate scenarios/fleets/nova.yaml
  migsim evacuate scenarios/fleets/kubevirt.yaml -o json
  migsim evacuate drain.yaml --set plan.order=optimize --plot timeline.png
  migsim evacuate drain.yaml --assert 'completed && worst_downtime_s <= 0.3'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if err := oneOf("output", o.output, "table", "json", "csv"); err != nil {
				return err
			}
			if o.budget < 0 {
				return usageErrorf("--budget %d: want 0 (the default, %d) or more", o.budget, fleet.DefaultBudget)
			}
			if runF != nil {
				return runF(cmd, o)
			}
			return runEvacuate(cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.sets, "set", nil, "set a fleet key, e.g. --set plan.max_concurrent=4 or --set vms.web.count=12 (repeatable; the value is YAML)")
	fl.StringVarP(&o.output, "output", "o", "table", "output format: table, json or csv")
	fl.StringVar(&o.plot, "plot", "", "also draw the timeline (a Gantt chart and the network's traffic) to this file (.png, .svg or .pdf)")
	fl.IntVar(&o.budget, "budget", 0, "with plan.order optimize: how many fleet simulations the search may run (0: the default)")
	fl.BoolVar(&o.progress, "progress", false, "print progress to stderr")
	assertFlag(cmd, &o.asserts, "the fleet's result")
	return cmd
}

func runEvacuate(cmd *cobra.Command, o *evacuateOptions) error {
	sample := jsonSample[fleet.Result]()
	asserts, err := compileAssertions(o.asserts, sample)
	if err != nil {
		return err
	}
	f, err := fleet.Load(o.file, o.sets)
	if err != nil {
		return err
	}
	var progress func(done, total int)
	if o.progress {
		what := "migrations ended"
		if f.Plan.Order == fleet.OrderOptimize {
			what = "plans evaluated"
		}
		progress = func(done, total int) { fmt.Fprintf(o.err, "%d/%d %s\n", done, total, what) }
	}
	res, err := fleet.Evacuate(cmd.Context(), f, o.budget, progress)
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	switch o.output {
	case "json":
		err = writeJSON(o.out, res)
	case "csv":
		err = writeFleetCSV(o.out, res)
	default:
		err = writeFleetTable(o.out, res)
	}
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := plotTimeline(o.plot, res); err != nil {
			return err
		}
	}
	if !res.Completed {
		fmt.Fprintf(o.err, "warning: %d of %d migrations did not complete\n", countNot(res, func(v fleet.VMResult) bool { return v.Completed }), len(res.VMs))
	}
	if len(asserts) == 0 {
		return nil
	}
	obj, err := jsonObject(res)
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

func countNot(res *fleet.Result, ok func(fleet.VMResult) bool) int {
	n := 0
	for _, v := range res.VMs {
		if !ok(v) {
			n++
		}
	}
	return n
}

// writeFleetTable prints the fleet's summary, the planner's comparison
// with order optimize, then one row per VM in start order.
func writeFleetTable(w io.Writer, res *fleet.Result) error {
	done := "every migration completed"
	if !res.Completed {
		done = fmt.Sprintf("%d of %d migrations did not complete", countNot(res, func(v fleet.VMResult) bool { return v.Completed }), len(res.VMs))
	}
	names := func(list []string) string {
		if len(list) == 0 {
			return "none"
		}
		s := strings.Join(first(list, 8), ", ")
		if len(list) > 8 {
			s += fmt.Sprintf(" and %d more", len(list)-8)
		}
		return s
	}
	nc, over := names(res.VMsNotConverged), names(res.VMsOverDowntimeLimit)
	fmt.Fprintf(w, "fleet          %s (%d VMs, seed %d)\n", res.Scenario, len(res.VMs), res.Seed)
	fmt.Fprintf(w, "result         %s\n", done)
	fmt.Fprintf(w, "makespan       %s\n", seconds(res.MakespanS))
	fmt.Fprintf(w, "not converged  %s\n", nc)
	fmt.Fprintf(w, "over limit     %s\n", over)
	fmt.Fprintf(w, "downtime       worst %s, sum %s\n", seconds(res.WorstDowntimeS), seconds(res.SumDowntimeS))
	fmt.Fprintf(w, "transferred    %s\n", humanBytes(res.TransferredBytes))
	fmt.Fprintf(w, "concurrency    %d at most (plan: %d)\n", res.PeakConcurrency, res.MaxConcurrent)
	if p := res.Planner; p != nil {
		fmt.Fprintf(w, "planner        %d plans evaluated: makespan %s, %d not converged, %d over limit\n", p.Evaluations, seconds(p.MakespanS), p.NotConverged, p.OverDowntimeLimit)
		fmt.Fprintf(w, "  fifo         makespan %s, %d not converged, %d over limit\n", seconds(p.FIFO.MakespanS), p.FIFO.NotConverged, p.FIFO.OverDowntimeLimit)
		fmt.Fprintf(w, "  one at a time makespan %s, %d not converged, %d over limit\n", seconds(p.OneAtATime.MakespanS), p.OneAtATime.NotConverged, p.OneAtATime.OverDowntimeLimit)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "vm\tfrom\tto\tmodel\tengine\tstart\tend\ttotal\tdowntime\tbytes\tGbit/s\tresult\t")
	for _, v := range startOrder(res) {
		state := v.StopReason
		if !v.Completed {
			state = "NOT COMPLETED (" + v.StopReason + ")"
		} else if !v.Converged {
			state = "not converged (" + v.StopReason + ")"
		}
		if v.Completed && !v.DowntimeWithinLimit {
			state += fmt.Sprintf(", over the %s limit", seconds(v.DowntimeLimitS))
		}
		down := seconds(v.DowntimeS)
		if !v.Completed {
			down = "-"
		}
		engine := v.Engine
		if engine == "" {
			engine = "page"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.3f\t%s\t\n", v.Name, v.From, v.To, v.Model, engine,
			v.StartS, v.EndS, v.TotalTimeS, down, humanBytes(v.TransferredBytes), v.MeanBandwidthBps/1e9, state)
	}
	return tw.Flush()
}

// startOrder returns the VMs in the order they started.
func startOrder(res *fleet.Result) []fleet.VMResult {
	byName := map[string]fleet.VMResult{}
	for _, v := range res.VMs {
		byName[v.Name] = v
	}
	out := make([]fleet.VMResult, 0, len(res.VMs))
	for _, n := range res.Order {
		out = append(out, byName[n])
	}
	return out
}

// writeFleetCSV writes one row per VM, in file order.
func writeFleetCSV(w io.Writer, res *fleet.Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"fleet", "vm", "from", "to", "model", "start_s", "end_s", "total_time_s", "downtime_s",
		"transferred_bytes", "converged", "completed", "stop_reason", "mean_bandwidth_bps", "engine"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, v := range res.VMs {
		down := f(v.DowntimeS)
		if !v.Completed {
			down = "" // not applicable: the guest never stopped for good
		}
		_ = cw.Write([]string{res.Scenario, v.Name, v.From, v.To, v.Model, f(v.StartS), f(v.EndS), f(v.TotalTimeS), down,
			strconv.FormatUint(v.TransferredBytes, 10), strconv.FormatBool(v.Converged), strconv.FormatBool(v.Completed),
			v.StopReason, f(v.MeanBandwidthBps), v.Engine})
	}
	cw.Flush()
	return cw.Error()
}

// plotTimeline draws the fleet's timeline to path.
func plotTimeline(path string, res *fleet.Result) error {
	var bars []plots.TimelineBar
	for _, v := range startOrder(res) {
		bars = append(bars, plots.TimelineBar{Name: v.Name, StartS: v.StartS, EndS: v.EndS, DowntimeS: v.DowntimeS, Completed: v.Completed, Converged: v.Converged})
	}
	var util []plots.TimelinePoint
	for _, u := range res.Utilisation {
		util = append(util, plots.TimelinePoint{T: u.T, Bps: u.Bps})
	}
	fig, err := plots.Timeline(res.Scenario, bars, util)
	if err != nil {
		return err
	}
	size := plots.DefaultSize
	size.Height = max(size.Height, min(size.Height*3, size.Height*vg.Length(len(bars))/15))
	return plots.Save(path, fig, size)
}
