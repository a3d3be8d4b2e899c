package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sweep"
	"github.com/migsim/migsim/units"
)

// sweepOptions are the options of "migsim sweep".
type sweepOptions struct {
	streams
	file       string
	sets       []string
	dir        string
	workers    int
	shard      string
	resume     bool
	force      bool
	formats    string
	dryRun     bool
	progress   string
	traceCache string
	interval   time.Duration
	outDir     *outFlag
	asserts    []string
	detail     bool
	// loadTime is how long loading and checking the sweep took, for
	// the dry run's estimate.
	loadTime time.Duration
}

// newSweepCmd returns "migsim sweep". runF, when not nil, replaces the run
// so that tests can check flag parsing alone.
func newSweepCmd(s streams, runF func(*cobra.Command, *sweepOptions) error) *cobra.Command {
	o := &sweepOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "sweep sweep.yaml",
		Short: "Run every point of a parameter sweep, resumably, on all cores",
		Long: `Expand a sweep file (a base scenario and axes over its keys: grid, zip,
random, latin, repeat) and simulate every point on all local cores. Every
point is loaded and checked before anything runs. Points run
model.engine auto (the fluid engine where it applies, the page engine
elsewhere) unless the base, a --set or an axis names the engine.

The base may be a fleet file (see 'migsim evacuate --help'): a base with
a vms key is one, or say so with 'kind: fleet' in the sweep file. Axes
then go over fleet keys (plan.max_concurrent, plan.order, vms.NAME.count,
vms.NAME.model.downtime_limit, network.bandwidth, ...), each point
evacuates its fleet as migsim evacuate does, and writes one row with the
fleet's summary: makespan_s, completed, vm_count, vms_not_converged
(names; the table separates them with spaces) and
vms_not_converged_count, worst_downtime_s, sum_downtime_s,
transferred_bytes, peak_concurrency, max_concurrent, and with order
optimize the planner's figures (planner_makespan_s,
planner_fifo_makespan_s, planner_one_at_a_time_makespan_s, ...).

Results go to the output directory (--out): sweep.json (what it holds:
the sweep, its axes, the base scenario as written with the --set flags,
and the migsim version), results.jsonl (one line per point: its result
as 'migsim run -o json' prints it, with migsim_version; rounds_detail
only with --detail), results.csv and results.parquet (one row per point:
point, the axes, then the metrics, units in the names; a metric that does
not apply to a point is an empty cell, see 'migsim run --help'). Each
point's line is appended and fsynced as soon as it finishes, so a sweep
stopped at any moment (Ctrl-C, SIGTERM, even kill -9) continues with
--resume, losing and repeating nothing. The tables are written when every
point is done, in point order, a line at a time: the same sweep gives the
same bytes whatever the workers, the interruptions or the shards, and a
sweep's memory does not grow with its points (each is loaded when it
runs).

--detail keeps each point's per-pass detail (rounds_detail) in
results.jsonl, as earlier versions always did: ten times the bytes and
more time writing them, and no table column; for fleets, the start order
and every VM's result (order, vms). A resumed run keeps the choice its
directory was started with.

--shard k/n runs only the points i with i mod n = k-1, for batch systems
(see deploy/); 'migsim merge' joins the shards' directories into
what an unsharded run writes.

A run holds its output directory (an advisory lock on its .migsim.lock,
released when the process ends, even by kill -9): a second sweep or merge
on it is refused, naming the pid that holds it. Temporary files a killed
run left there are removed. A directory without sweep.json that holds
results.csv, results.parquet or results.jsonl (which migsim did not write)
is refused unless --force; 'migsim merge' refuses a DIR that holds any
sweep's outputs unless --force.

Progress goes to stderr: a bar on a terminal, else a line every
--progress-interval. The summary goes to stdout.

--assert EXPR checks every point's result once the sweep is done (exit
status 4 when one fails, naming the failing points and their axes on
stderr); see 'migsim run --help' for the expressions.

-o DIR is the deprecated spelling of --out DIR (it will name the output
format, as in every command).`,
		Example: `  migsim sweep scenarios/papers/hines2009/sweep.yaml --out hines
  migsim sweep big.yaml --dry-run
  migsim sweep big.yaml --out big --resume
  migsim sweep big.yaml --out big-3 --shard 3/8 && migsim merge --out big big-*
  migsim sweep ci.yaml --out ci --assert 'completed && downtime_s <= 0.3'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			if err := oneOf("progress", o.progress, "auto", "bar", "lines", "none"); err != nil {
				return err
			}
			if err := o.outDir.resolve(cmd, o.err); err != nil {
				return err
			}
			o.dir = o.outDir.path
			if runF != nil {
				return runF(cmd, o)
			}
			return sweepRun(cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.sets, "set", nil, "set a key of the base scenario for every point, e.g. --set network.profile=metro (repeatable)")
	o.outDir = registerOut(cmd, "output directory (default: the sweep's name followed by -results)", nil, "")
	fl.IntVarP(&o.workers, "workers", "j", 0, "points simulated at once (default: one per CPU)")
	fl.StringVar(&o.shard, "shard", "", "run shard k of n only, as k/n with 1 <= k <= n")
	fl.BoolVar(&o.resume, "resume", false, "continue the run recorded in the output directory")
	fl.BoolVar(&o.force, "force", false, "replace results.csv, results.parquet or results.jsonl that migsim did not write in the output directory")
	fl.StringVar(&o.formats, "format", "csv,jsonl,parquet", "tables to write: csv, jsonl, parquet (jsonl is always written)")
	fl.BoolVarP(&o.dryRun, "dry-run", "n", false, "check the sweep, print its points and an estimate of the time, run nothing")
	fl.StringVar(&o.progress, "progress", "auto", "progress on stderr: auto (a bar on a terminal, else lines), bar, lines or none")
	fl.DurationVar(&o.interval, "progress-interval", 10*time.Second, "time between progress lines when not drawing a bar")
	fl.StringVar(&o.traceCache, "trace-cache", "1GiB", "memory for traces shared by points with one workload (0 disables)")
	fl.BoolVar(&o.detail, "detail", false, "keep each point's detail in results.jsonl: rounds_detail (one entry per pass), or a fleet's order and vms")
	assertFlag(cmd, &o.asserts, "each point's result")
	return cmd
}

// sweepRunOptions checks the flags that need no sweep file.
func (o *sweepOptions) runOptions() (sweep.Options, error) {
	opts := sweep.Options{Dir: o.dir, Workers: o.workers, Resume: o.resume, Force: o.force, Detail: o.detail}
	var err error
	if o.shard != "" {
		if opts.Shard, err = sweep.ParseShard(o.shard); err != nil {
			return opts, usageErrorf("invalid value for --shard: %v", err)
		}
	}
	if opts.Formats, err = sweep.ParseFormats(o.formats); err != nil {
		return opts, usageErrorf("invalid value for --format: %v", err)
	}
	if o.workers < 0 {
		return opts, usageErrorf("invalid value for --workers: %d is negative", o.workers)
	}
	size, err := units.ParseBytes(o.traceCache)
	if err != nil {
		return opts, usageErrorf("invalid value for --trace-cache: %v", err)
	}
	opts.TraceCache = int64(size)
	return opts, nil
}

func sweepRun(cmd *cobra.Command, o *sweepOptions) error {
	opts, err := o.runOptions()
	if err != nil {
		return err
	}
	opts.DetailSet = cmd.Flags().Changed("detail")
	// Assertions are over a scenario's result, or a fleet's summary for
	// a sweep over fleets: the sweep file says which before its points
	// load (a file that does not parse is reported by openSweep).
	kind, _ := sweep.KindOf(o.file)
	sample := jsonSample[models.Result]()
	if kind == sweep.KindFleet {
		sample = jsonSample[fleet.Summary]()
	}
	asserts, err := compileAssertions(o.asserts, sample)
	if err != nil {
		return err
	}
	loadStart := time.Now()
	sw, err := openSweep(cmd, o)
	if err != nil {
		return err
	}
	if opts.Dir == "" {
		opts.Dir = sw.Name + "-results"
	}
	if err := assertionsNeedDetail(asserts, opts, sw.Kind); err != nil {
		return err
	}
	if o.dryRun {
		o.loadTime = time.Since(loadStart)
		return dryRun(cmd, o, sw, opts)
	}
	if tty := isTerminal(o.err); o.progress == "bar" || (o.progress == "auto" && tty) {
		opts.Progress = sweep.NewProgress(o.err, true, 0)
	} else if o.progress != "none" {
		opts.Progress = sweep.NewProgress(o.err, false, o.interval)
	}
	if os.Getenv("GOGC") == "" {
		// Simulations allocate short-lived page sets at a high rate over a
		// small live heap: collecting less often saves about a tenth of
		// the CPU of a large sweep for a few hundred MB at most.
		debug.SetGCPercent(400)
	}
	// main stops the context on SIGTERM too (batch systems stop jobs so).
	sum, err := sweep.Run(cmd.Context(), sw, opts)
	if err != nil {
		return err
	}
	shard := ""
	if !opts.Shard.Whole() {
		shard = " shard " + opts.Shard.String() + ","
	}
	rate := float64(sum.Ran) / max(sum.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(o.out, "sweep %s:%s %d points (%d run, %d resumed) in %.1f s, %.1f points/s; results in %s\n",
		sw.Name, shard, sum.Points, sum.Ran, sum.Resumed, sum.Elapsed.Seconds(), rate, opts.Dir)
	if len(asserts) == 0 {
		return nil
	}
	return checkSweep(o.err, sw.Name, opts.Dir, asserts, sample)
}

// assertionsNeedDetail refuses assertions that read a point's detail
// (rounds_detail, or a fleet's vms and order) when the results will not
// hold it: --detail not given (or, resuming, the directory's results made
// without it).
func assertionsNeedDetail(asserts assertions, opts sweep.Options, kind string) error {
	detail := opts.Detail
	if opts.Resume && !opts.DetailSet {
		if m, err := sweep.ReadManifest(opts.Dir); err == nil {
			detail = m.Detail == nil || *m.Detail
		}
	}
	if detail {
		return nil
	}
	keys := []string{"rounds_detail"}
	if kind == sweep.KindFleet {
		keys = []string{"vms", "order"}
	}
	for _, a := range asserts {
		for _, k := range keys {
			if slices.Contains(a.idents, k) {
				return usageErrorf("--assert %q reads %s, which results.jsonl holds only with --detail", a.src, k)
			}
		}
	}
	return nil
}

// maxFailedPoints bounds the failing points named on stderr.
const maxFailedPoints = 20

// checkSweep checks the assertions on every result in dir's
// results.jsonl, naming each failing point (up to maxFailedPoints) with
// its axes' columns on w.
func checkSweep(w io.Writer, name, dir string, asserts assertions, sample map[string]any) error {
	m, err := sweep.ReadManifest(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, sweep.JournalFile)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	points, failedPoints := 0, 0
	for line := 1; sc.Scan(); line++ {
		var row struct {
			Point  int            `json:"point"`
			Axes   map[string]any `json:"axes"`
			Result map[string]any `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Result == nil {
			return fmt.Errorf("%s:%d: not a result line: %v", path, line, err)
		}
		points++
		failed := asserts.check(row.Result, sample)
		if len(failed) == 0 {
			continue
		}
		failedPoints++
		if failedPoints > maxFailedPoints {
			continue
		}
		point := fmt.Sprintf("point %d", row.Point)
		var axes []string
		for _, a := range m.Axes {
			if v, ok := row.Axes[a.Column]; ok {
				axes = append(axes, fmt.Sprintf("%s=%v", a.Column, v))
			}
		}
		if len(axes) > 0 {
			point += " (" + strings.Join(axes, " ") + ")"
		}
		for _, msg := range failed {
			fmt.Fprintf(w, "assertion failed: %s: %s\n", point, msg)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if failedPoints == 0 {
		return nil
	}
	if failedPoints > maxFailedPoints {
		fmt.Fprintf(w, "assertion failed: ... and %d more points (every point's result is in %s)\n", failedPoints-maxFailedPoints, path)
	}
	return &assertionError{err: fmt.Errorf("sweep %s: assertions failed on %d of %d points", name, failedPoints, points)}
}

// dryRun prints the sweep's points and an estimate of its time: the time
// loading and checking the sweep took (o.loadTime), then the run's.
func dryRun(cmd *cobra.Command, o *sweepOptions, sw *sweep.Spec, opts sweep.Options) error {
	load := o.loadTime
	count := opts.Shard.Count(sw.Len())
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "sweep\t%s (%s)\n", sw.Name, sw.File)
	if opts.Shard.Whole() {
		fmt.Fprintf(tw, "points\t%d\n", sw.Len())
	} else {
		fmt.Fprintf(tw, "points\t%d in shard %s of %d\n", count, opts.Shard, sw.Len())
	}
	for i, a := range sw.Axes {
		fmt.Fprintf(tw, "axis\t%s (%s): %s, column %s\n", a.Key, a.Kind, axisValues(sw, i), a.Column)
	}
	fmt.Fprintf(tw, "output\t%s\n", opts.Dir)
	if err := tw.Flush(); err != nil {
		return err
	}
	est, extrapolated, err := estimateSweep(cmd.Context(), sw, opts, 20, 3*time.Second)
	if err != nil {
		return err
	}
	if extrapolated {
		fmt.Fprintf(o.out, "(%d points, too many to hold: checked a batch at a time; the estimate is extrapolated from %d points spread over them)\n", count, est.Samples)
	}
	atLeast := ""
	if est.AtLeast {
		atLeast = "at least "
	}
	fmt.Fprintf(o.out, "estimate  %s%s on %d workers (%.2g s to load the sweep, %s%.2g s to run it): each point's cost predicted from %d sample points run as the sweep runs them (%.2g to %s%.2g s each)\n",
		atLeast, roughDuration(load+est.Total), est.Workers, load.Seconds(), atLeast, est.Total.Seconds(), est.Samples, est.MinPoint.Seconds(), atLeast, est.MaxPoint.Seconds())
	fmt.Fprintln(o.out, "first points:")
	for j := range min(count, 5) {
		p, err := sw.Point(opts.Shard.Index(j))
		if err != nil {
			return err
		}
		fmt.Fprintf(o.out, "  %d  %s\n", p.Index, strings.Join(p.Sets, " "))
	}
	return nil
}

func roughDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "under a second"
	case d < 2*time.Minute:
		return fmt.Sprintf("about %.0f s", d.Seconds())
	case d < 2*time.Hour:
		return fmt.Sprintf("about %.0f min", d.Minutes())
	}
	return fmt.Sprintf("about %.1f h", d.Hours())
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// mergeOptions are the options of "migsim merge".
type mergeOptions struct {
	streams
	outDir  *outFlag
	dir     string // the merged output directory
	formats string
	shards  []string
	force   bool
}

func newMergeCmd(s streams) *cobra.Command {
	o := &mergeOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "merge --out DIR SHARD_DIR...",
		Short: "Join the output directories of a sharded sweep",
		Long: `Join the output directories written by 'migsim sweep --shard k/n' into DIR,
which then holds byte for byte what an unsharded run of the sweep writes.
Every shard 1/n to n/n must be given once and be complete, and all must
come from the same sweep; otherwise nothing is written. -o DIR is the
deprecated spelling of --out DIR.`,
		Example: `  migsim merge --out results results-1 results-2 results-3 results-4`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.shards = args
			if err := o.outDir.resolve(cmd, o.err); err != nil {
				return err
			}
			if o.dir = o.outDir.path; o.dir == "" {
				return usageErrorf("merge: --out DIR is required")
			}
			return mergeRun(o)
		},
	}
	o.outDir = registerOut(cmd, "output directory (required)", nil, "")
	cmd.Flags().StringVar(&o.formats, "format", "csv,jsonl,parquet", "tables to write: csv, jsonl, parquet (jsonl is always written)")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace what DIR holds: another sweep's outputs, or results files migsim did not write")
	return cmd
}

// mergeRun runs "migsim merge" with its options.
func mergeRun(o *mergeOptions) error {
	formats, err := sweep.ParseFormats(o.formats)
	if err != nil {
		return usageErrorf("invalid value for --format: %v", err)
	}
	if err := sweep.Merge(o.dir, o.shards, sweep.MergeOptions{Formats: formats, Force: o.force}); err != nil {
		return err
	}
	m, err := sweep.ReadManifest(o.dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "merged %d shards of sweep %s: %d points in %s\n", len(o.shards), m.Sweep, m.Points, o.dir)
	return nil
}
