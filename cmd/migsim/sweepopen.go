package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/sweep"
)

// dryRunKeep is the most points --dry-run holds in memory (a few KB each)
// so that the estimate can lay every point out; a larger sweep is
// checked a batch at a time, holding none, and its estimate is
// extrapolated from sample points.
const dryRunKeep = 20_000

// openSweep loads and checks every point of the sweep. To run them it
// keeps 12 bytes of each (its ID and workload) and loads each point again
// when it runs, so that memory does not grow with the points; --dry-run
// holds a sweep of up to dryRunKeep points, and streams a larger one. A
// check that takes a while reports its progress on stderr; Ctrl-C stops
// it.
func openSweep(cmd *cobra.Command, o *sweepOptions) (*sweep.Spec, error) {
	lo := sweep.LoadOptions{Sets: o.sets, Index: !o.dryRun, Progress: checkProgress(o.err, o.progress != "none")}
	if o.dryRun {
		lo.KeepMax = dryRunKeep
	}
	return sweep.Open(cmd.Context(), o.file, lo)
}

// checkProgress returns a progress function for the check of a sweep's
// points that writes a line to w every 10 s once the check has taken 5 s
// (nil when off).
func checkProgress(w io.Writer, on bool) func(checked, total int) {
	if !on {
		return nil
	}
	start := time.Now()
	next := start.Add(5 * time.Second)
	return func(checked, total int) {
		if now := time.Now(); now.After(next) && checked < total {
			rate := float64(checked) / now.Sub(start).Seconds()
			left := time.Duration(float64(total-checked) / rate * float64(time.Second))
			fmt.Fprintf(w, "checking points: %d of %d (%.0f%%), about %s left\n",
				checked, total, 100*float64(checked)/float64(total), left.Round(time.Second))
			next = now.Add(10 * time.Second)
		}
	}
}

// estimateSweep estimates the time of the shard's points: over every
// point when the sweep holds them, else from up to samples points spread
// evenly over the shard, extrapolated to all of them (extrapolated true).
func estimateSweep(ctx context.Context, sw *sweep.Spec, opts sweep.Options, samples int, budget time.Duration) (est sweep.TimeEstimate, extrapolated bool, err error) {
	count := opts.Shard.Count(sw.Len())
	if sw.Points != nil {
		est, err = sweep.EstimateWith(ctx, sw, opts.Shard.Points(sw.Len()), estimateOptions(opts, samples, budget))
		return est, false, err
	}
	m := min(count, samples)
	mini := &sweep.Spec{Name: sw.Name, File: sw.File, Seed: sw.Seed, Axes: sw.Axes, Fingerprint: sw.Fingerprint}
	points := make([]int, m)
	for k := range m {
		p, err := sw.Point(opts.Shard.Index(k * count / m))
		if err != nil {
			return est, true, err
		}
		q := *p
		q.Index = k // the sample sweep's own numbering
		mini.Points = append(mini.Points, q)
		points[k] = k
	}
	est, err = sweep.EstimateWith(ctx, mini, points, estimateOptions(opts, samples, budget))
	if err != nil || m == 0 {
		return est, true, err
	}
	workers := est.Workers
	if workers <= 0 {
		workers = 1
	}
	est.Total = time.Duration(float64(est.PerPoint) * float64(count) / float64(min(workers, count)))
	return est, true, nil
}

// estimateOptions are the options of an estimate of a run under opts.
func estimateOptions(opts sweep.Options, samples int, budget time.Duration) sweep.EstimateOptions {
	return sweep.EstimateOptions{Workers: opts.Workers, Samples: samples, Budget: budget,
		Formats: opts.Formats, TraceCache: sweep.DefaultTraceCache, Detail: opts.Detail}
}

// axisValues describes how many values axis a of sw takes.
func axisValues(sw *sweep.Spec, a int) string {
	n, sampled := sw.AxisValues(a)
	switch {
	case sampled:
		return fmt.Sprintf("%d samples", n)
	case n == 1:
		return "1 value"
	}
	return fmt.Sprintf("%d values", n)
}
