package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Options configure [Run].
type Options struct {
	// Local configures the real migration. Run fills in Image,
	// TraceMemory, AtEnd and Migration from the scenario; the rest
	// (GuestMemory, timeouts, WorkDir, Log) is used as given.
	Local lab.LocalOptions
	// Image says where the boot kit's inputs are and where it is cached.
	Image lab.ImageOptions
	// Log, when not nil, receives progress lines (also used as Local.Log
	// when that is nil).
	Log io.Writer
	// Hosts, when not nil, runs the real migration between the hosts of a
	// hosts file (see [lab.RunRemote]); nil runs it on this machine.
	Hosts *lab.Hosts
	// LinkBps is the loopback path's rate, bits per second, that a local
	// unshaped case is simulated over (network.bandwidth): 0 measures it
	// with [ProbeLink] first; negative keeps the scenario's own.
	LinkBps float64
}

// Comparison is a scenario run twice, as a real migration and in the
// simulator on the trace the guest really replayed, with the error of the
// simulator per metric.
type Comparison struct {
	// Scenario and Model name what ran.
	Scenario string `json:"scenario"`
	Model    string `json:"model"`
	// NominalDirtyRate is the mean page writes per second the trace asks
	// for; AchievedDirtyRate is what the guest wrote during the migration
	// (both distinct pages per epoch, summed, per second).
	NominalDirtyRate  float64 `json:"nominal_dirty_rate"`
	AchievedDirtyRate float64 `json:"achieved_dirty_rate"`
	// BehindS is how far behind the trace's schedule the guest was at the
	// end of the migration, seconds.
	BehindS float64 `json:"behind_s"`
	// LinkBps is the rate, bits per second, of the path the simulator
	// ran the case over (network.bandwidth): on loopback, what the link
	// probe measured (see [ProbeLink]); 0 in results recorded before the
	// probe existed, which ran over the scenario's own.
	LinkBps float64 `json:"link_bps,omitempty"`
	// Metrics holds one entry per compared metric, in a fixed order.
	Metrics []MetricError `json:"metrics"`
	// Real is the real migration, Sim the simulator's result.
	Real *lab.RealRun   `json:"real"`
	Sim  *models.Result `json:"sim"`
	// Field, for a field record ("migsim validate import", importrec.go),
	// says which record and how its scenario was built; nil for a lab run.
	Field *FieldInfo `json:"field,omitempty"`
	// Throttle compares the auto-converge throttle's timelines; nil
	// without auto-converge.
	Throttle *ThrottleComparison `json:"throttle,omitempty"`
	// NominalMargin is, for a pre-copy case, the verdict margin of the
	// case's own scenario: the share of 10 page-level seeds that reach
	// the most common verdict (see [Verdict], nominalMargin); nil when
	// they do not run.
	NominalMargin *float64 `json:"nominal_verdict_margin,omitempty"`
}

// ThrottleComparison compares the auto-converge throttle step by step:
// QEMU's cpu-throttle-percentage as the lab polled it (every 100 ms, so a
// real step's time is late by up to a poll) against the simulator's steps
// (the syncs that decided them, [models.Result.ThrottleSteps]). Times are
// seconds since the migrate command (the simulator's since its start).
type ThrottleComparison struct {
	// RealSteps are the polls that first saw each new throttle; SimSteps
	// the simulator's steps.
	RealSteps []lab.ThrottlePoint `json:"real_steps"`
	SimSteps  []lab.ThrottlePoint `json:"sim_steps"`
	// RealMaxPct and SimMaxPct are the highest throttle each reached,
	// percent; RealStepCount and SimStepCount how many steps each took.
	RealMaxPct    float64 `json:"real_max_pct"`
	SimMaxPct     float64 `json:"sim_max_pct"`
	RealStepCount int     `json:"real_step_count"`
	SimStepCount  int     `json:"sim_step_count"`
	// StepTimeErrS is, for each step both took (the k-th of each), the
	// simulator's time less the real one, seconds.
	StepTimeErrS []float64 `json:"step_time_err_s"`
	// MedianAbsStepErrS is the median of |StepTimeErrS|, seconds (0
	// when no step is shared).
	MedianAbsStepErrS float64 `json:"median_abs_step_err_s"`
}

// compareThrottle compares the throttle timelines of an auto-converge run;
// nil when auto-converge was off.
func compareThrottle(real *lab.RealRun, sim *models.Result, mig lab.MigrationParams) *ThrottleComparison {
	if !mig.AutoConverge {
		return nil
	}
	tl := real.ThrottleTimeline
	if tl == nil { // a run recorded before the timeline: its series has it
		tl = lab.ThrottleTimelineOf(real.Series)
	}
	c := &ThrottleComparison{RealSteps: lab.ThrottleSteps(tl), SimSteps: []lab.ThrottlePoint{}, StepTimeErrS: []float64{}}
	if c.RealSteps == nil {
		c.RealSteps = []lab.ThrottlePoint{}
	}
	for _, s := range sim.ThrottleSteps() {
		c.SimSteps = append(c.SimSteps, lab.ThrottlePoint{T: s.TimeS, Pct: s.Pct})
	}
	for _, p := range c.RealSteps {
		c.RealMaxPct = max(c.RealMaxPct, p.Pct)
	}
	for _, p := range c.SimSteps {
		c.SimMaxPct = max(c.SimMaxPct, p.Pct)
	}
	c.RealStepCount, c.SimStepCount = len(c.RealSteps), len(c.SimSteps)
	var abs []float64
	for i := range min(len(c.RealSteps), len(c.SimSteps)) {
		d := c.SimSteps[i].T - c.RealSteps[i].T
		c.StepTimeErrS = append(c.StepTimeErrS, d)
		abs = append(abs, math.Abs(d))
	}
	if len(abs) > 0 {
		slices.Sort(abs)
		n := len(abs)
		c.MedianAbsStepErrS = (abs[(n-1)/2] + abs[n/2]) / 2
	}
	return c
}

// MetricError compares one metric.
type MetricError struct {
	// Name is the metric's JSON key in migsim results, e.g. "downtime_s".
	Name string `json:"name"`
	// Real and Sim are the two values.
	Real float64 `json:"real"`
	Sim  float64 `json:"sim"`
	// RelErr is (Sim − Real) / Real; 0 when both are 0. When Real is 0 and
	// Sim is not, RelErr is 1 and Undefined is true.
	RelErr    float64 `json:"rel_err"`
	Undefined bool    `json:"undefined,omitempty"`
}

func metricError(name string, real, sim float64) MetricError {
	m := MetricError{Name: name, Real: real, Sim: sim}
	switch {
	case real != 0:
		m.RelErr = (sim - real) / math.Abs(real)
	case sim != 0:
		m.RelErr, m.Undefined = 1, true
	}
	return m
}

// compareMetrics lists the compared metrics. Transferred bytes are the RAM
// stream on both sides: QEMU's ram.transferred leaves the device state
// out, so the simulator's device state is taken out too. bandwidth_bps is
// the mean throughput of the live phase (see [RealMetrics.MeanBandwidthBps]):
// where it differs, the path or the host's CPU, not the model, is off.
func compareMetrics(real lab.RealMetrics, sim *models.Result) []MetricError {
	return []MetricError{
		metricError("total_time_s", real.TotalTimeS, sim.TotalTimeS),
		metricError("downtime_s", real.DowntimeS, sim.DowntimeS),
		metricError("setup_time_s", real.SetupTimeS, sim.SetupTimeS),
		metricError("transferred_bytes", float64(real.TransferredBytes), float64(sim.TransferredBytes-sim.DeviceStateBytes)),
		metricError("bandwidth_bps", real.MeanBandwidthBps(), sim.BandwidthBps),
		metricError("rounds", float64(real.Rounds), float64(sim.Rounds)),
		metricError("dirty_sync_count", float64(real.DirtySyncCount), float64(sim.DirtySyncCount)),
		metricError("pages.zero", float64(real.Pages.Zero), float64(sim.Pages.Zero)),
		metricError("pages.normal", float64(real.Pages.Normal), float64(sim.Pages.Normal)),
	}
}

// DirtyRateMetric is the metric that compares QEMU's dirty-pages-rate
// of its last sync period ([lab.RealRun.LastDirtyPagesRate]) with the
// simulator's dirty_pages_rate: the pages a sync newly adds to those
// waiting to be sent, per second. Compared where QEMU measured a period.
const DirtyRateMetric = "dirty_pages_rate"

// comparePostcopy lists the post-copy metrics, compared after
// compareMetrics' for the postcopy and hybrid models. postcopy_requests is
// QEMU ram.postcopy-requests (the source's count of the destination's page
// requests) against the simulator's network faults, its postcopy_requests
// (its minor faults, accesses to pages already on the wire, are no request
// in QEMU either); postcopy_bytes is ram.postcopy-bytes; stall_time_s is
// the destination's postcopy-blocktime.
func comparePostcopy(real lab.RealMetrics, sim *models.Result) []MetricError {
	return []MetricError{
		metricError("postcopy_requests", float64(real.PostcopyRequests), float64(sim.PostcopyRequests)),
		metricError("postcopy_bytes", float64(real.PostcopyBytes), float64(sim.PostcopyBytes)),
		metricError("stall_time_s", real.StallTimeS, sim.StallTimeS),
	}
}

// Run runs spec as a real local migration (see [lab.RunLocal]) and in the
// simulator, and compares them. The simulator replays the trace the guest
// really achieved (see buildAchieved in achieved.go) over the whole guest
// RAM, not the trace's wish: under TCG a guest can fall behind its trace.
// The precopy, postcopy and hybrid models can be validated so far (see
// lab/postcopy.go for how the lab runs post-copy).
func Run(ctx context.Context, spec *scenarios.Spec, opts Options) (*Comparison, error) {
	// The real migration runs the scenario as given; a calibration profile
	// changes only the simulator's side.
	labSpec := spec.WithoutCalibration()
	mig, err := labMigrationParams(labSpec)
	if err != nil {
		return nil, err
	}
	if opts.Hosts != nil && opts.Local.Shaping == lab.ShapingNetns {
		return nil, fmt.Errorf("scenario %s: %w", spec.Name, lab.ErrRemoteShaping)
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}

	orig, img, cleanup, err := bootKit(ctx, spec, opts, logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if opts.Hosts == nil && opts.Local.Shaping != lab.ShapingNetns {
		// Loopback: the stop-and-copy pass crosses the host's own
		// path, at the rate the link probe measured (lab/linkprobe.go).
		if opts.LinkBps == 0 {
			p, err := ProbeLink(ctx, spec, opts)
			if err != nil {
				return nil, fmt.Errorf("scenario %s: %w", spec.Name, err)
			}
			opts.LinkBps = p.Bps
		}
		if opts.LinkBps > 0 {
			spec = spec.WithLinkRate(units.BitRate(opts.LinkBps))
		}
	}

	lo := opts.Local
	lo.Image = img
	lo.TraceMemory = spec.VM.Memory
	lo.AtEnd = spec.Workload.AtEnd
	lo.Migration = mig
	if lo.Shaping == lab.ShapingNetns {
		if lo.Network, err = NetShapeFromSpec(labSpec.Network); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", spec.Name, err)
		}
	}
	if lo.Log == nil {
		lo.Log = opts.Log
	}
	var real *lab.RealRun
	if opts.Hosts != nil {
		real, err = lab.RunRemote(ctx, lo.Options, opts.Hosts)
	} else {
		real, err = lab.RunLocal(ctx, lo)
	}
	if err != nil {
		var nc *lab.NotCompletedError
		if errors.As(err, &nc) && nc.Run != nil && !mig.Postcopy {
			// Cancelled at the timeout: not converged by then. The
			// simulator replays the same guest for as long.
			v, verr := notConverged(ctx, spec, orig, nc)
			if verr != nil {
				return nil, fmt.Errorf("scenario %s: real migration: %w (replaying it: %v)", spec.Name, err, verr)
			}
			return nil, v
		}
		return nil, fmt.Errorf("scenario %s: real migration: %w", spec.Name, err)
	}

	ach, err := buildAchieved(orig, real, spec.Workload.AtEnd, achievedHorizon(real))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: rebuilding the achieved trace: %w", spec.Name, err)
	}
	sim, err := simulateAchieved(ctx, spec, ach, real.GuestMemoryBytes)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: simulation: %w", spec.Name, err)
	}
	c := &Comparison{
		Scenario:          spec.Name,
		Model:             sim.Model,
		LinkBps:           float64(spec.Network.Bandwidth),
		NominalDirtyRate:  nominalRate(orig),
		AchievedDirtyRate: ach.DirtyRate,
		BehindS:           ach.Behind,
		Metrics:           compareRun(real, sim, mig),
		Real:              real,
		Sim:               sim,
		Throttle:          compareThrottle(real, sim, mig),
	}
	if sim.Model == "precopy" {
		c.NominalMargin = nominalMargin(ctx, spec)
	}
	return c, nil
}

// bootKit writes spec's trace where the initramfs takes it (the
// scenario's file, or its generator written out) and builds the boot kit;
// it returns the trace as written, the kit and what removes the files.
func bootKit(ctx context.Context, spec *scenarios.Spec, opts Options, logf func(string, ...any)) (*memTrace, *lab.Image, func(), error) {
	cleanup := func() {}
	tracePath := spec.TracePath()
	if tracePath == "" {
		tmp, err := os.MkdirTemp("", "migsim-validate-")
		if err != nil {
			return nil, nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		tracePath = filepath.Join(tmp, "trace.mgt")
		src, err := spec.Opener()()
		if err == nil {
			err = lab.WriteTraceFile(ctx, tracePath, src)
			_ = traces.Close(src)
		}
		if err != nil {
			cleanup()
			return nil, nil, func() {}, err
		}
	}
	fail := func(err error) (*memTrace, *lab.Image, func(), error) {
		cleanup()
		return nil, nil, func() {}, err
	}
	orig, err := loadTrace(tracePath)
	if err != nil {
		return fail(err)
	}
	if orig.hdr.MemoryBytes() != uint64(spec.VM.Memory) {
		return fail(fmt.Errorf("vm.memory %v differs from the trace's %v", spec.VM.Memory, units.Bytes(orig.hdr.MemoryBytes())))
	}
	logf("building the boot kit")
	img, err := lab.BuildImage(ctx, tracePath, opts.Image)
	if err != nil {
		return fail(err)
	}
	return orig, img, cleanup, nil
}

// achievedHorizon is how long the achieved trace of real runs: three times
// the migration, at least a minute more.
func achievedHorizon(real *lab.RealRun) time.Duration {
	tt := real.Metrics.TotalTimeS
	return time.Duration(max(3*tt, tt+60) * float64(time.Second))
}

// simulateAchieved simulates spec on the trace its guest achieved, over
// the whole guest RAM (memBytes) in QEMU's 4 KiB pages.
func simulateAchieved(ctx context.Context, spec *scenarios.Spec, ach *achievedTrace, memBytes uint64) (*models.Result, error) {
	model, in, err := spec.Build()
	if err != nil {
		return nil, err
	}
	in.Trace = ach.trace.opener()
	// The achieved trace is not the scenario's generator: the early
	// no-progress verdict, which judges a stationary generator's future
	// from its rounds, must not judge a real guest's replay (a throttled
	// guest that keeps pace, then stalls, converges), and no engine may
	// take the generator's closed forms for it.
	in.Generator = nil
	in.AtEnd = models.AtEndLoop
	in.VM.Memory = units.Bytes(memBytes)
	in.VM.PageSize = 4 * units.KiB
	// The achieved trace is laid out in wall time: up to the last report
	// it already shows the guest as QEMU's throttle slowed it; the pace
	// made up after it does not.
	in.ThrottledTraceUntil = time.Duration(ach.RecordedS * float64(time.Second))
	return model.Run(ctx, in)
}

// compareRun compares every metric the real run of a migration with
// settings mig measured with the simulator's.
func compareRun(real *lab.RealRun, sim *models.Result, mig lab.MigrationParams) []MetricError {
	out := compareMetrics(real.Metrics, sim)
	if mig.Postcopy {
		out = append(out, comparePostcopy(real.Metrics, sim)...)
	}
	if mig.Xbzrle {
		out = append(out, compareXbzrle(real.Metrics, sim)...)
	}
	if q := real.LastDirtyPagesRate(); q > 0 {
		out = append(out, metricError(DirtyRateMetric, q, sim.DirtyPagesRate))
	}
	if mig.Balloon {
		// The pages the real balloon held against the model's DSB
		// reclaim (see lab/balloon.go).
		out = append(out, metricError("balloon_reclaimed_pages", float64(real.BalloonPages), float64(sim.BalloonReclaimedPages)))
	}
	return out
}

// nominalRate is the trace's mean page writes per second.
func nominalRate(t *memTrace) float64 {
	var w uint64
	for _, e := range t.epochs {
		w += e.written.GetCardinality()
	}
	return float64(w) / (float64(len(t.epochs)) * t.hdr.Epoch.Seconds())
}

// WriteTable prints the comparison as an aligned table: one row per metric
// with the real value, the simulated one and the relative error.
func (c *Comparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\treal\tsim\terror\t\n")
	for _, m := range c.Metrics {
		e := fmt.Sprintf("%+.1f%%", 100*m.RelErr)
		if m.Undefined {
			e = "n/a"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", m.Name, formatValue(m.Name, m.Real), formatValue(m.Name, m.Sim), e)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "dirty rate: %.0f pages/s nominal, %.0f achieved (%.2fs behind at the end); QEMU %s %s; memory verified (%d pages)\n",
		c.NominalDirtyRate, c.AchievedDirtyRate, c.BehindS, c.Real.QEMUVersion, c.Real.Accel, c.Real.PagesCompared)
	return err
}

func formatValue(name string, v float64) string {
	switch {
	case len(name) > 2 && name[len(name)-2:] == "_s":
		return fmt.Sprintf("%.3f", v)
	case name == "bandwidth_bps":
		return fmt.Sprintf("%.0fMbit", v/1e6)
	case name == "transferred_bytes":
		return fmt.Sprintf("%.1fMiB", v/float64(units.MiB))
	}
	return fmt.Sprintf("%.0f", v)
}

// compareXbzrle lists the XBZRLE metrics, compared after compareMetrics'
// when the scenario turns XBZRLE on.
func compareXbzrle(real lab.RealMetrics, sim *models.Result) []MetricError {
	var r lab.RealXbzrle
	if real.Xbzrle != nil {
		r = *real.Xbzrle
	}
	return []MetricError{
		metricError("xbzrle_pages", float64(r.Pages), float64(sim.XbzrlePages)),
		metricError("xbzrle_bytes", float64(r.Bytes), float64(sim.XbzrleBytes)),
		metricError("xbzrle_cache_misses", float64(r.CacheMisses), float64(sim.XbzrleCacheMisses)),
	}
}
