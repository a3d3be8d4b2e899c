package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/units"
)

// The fleet lab: several real migrations at once over one shaped link
// ([lab.RunFleet], whose notes in lab/fleet.go say how), beside
// [fleet.Run] on the same fleet.
//
// Every VM of the fleet is a lab guest of its own (its scenario's trace,
// its boot kit). The link is the lesser of network.bandwidth and the two
// hosts' NICs, which in fleet.Run are the three resources every migration
// crosses; each migration's relay adds network.rtt and bounds its window.
// The migrate commands are given as the fleet's plan says (its order on
// the nominal workloads, order optimize included, and max_concurrent),
// and every destination is verified once every migration has ended.
//
// The simulator then runs fleet.Run on the same fleet, in the start order
// the lab used, each VM on the trace its guest achieved (as [Run] does
// for one), and each metric is compared per VM.

// FleetComparison is a fleet run for real and in the simulator.
type FleetComparison struct {
	// Fleet names the fleet (its name key).
	Fleet string `json:"fleet"`
	// From and To are the fleet's two hosts.
	From string `json:"from"`
	To   string `json:"to"`
	// Order is the VMs' start order (the plan's, as the simulator on the
	// nominal workloads gives it; order optimize included) and
	// MaxConcurrent the migrations in flight at most.
	Order         []string `json:"order"`
	MaxConcurrent int      `json:"max_concurrent"`
	// Network is the shared path the lab emulated: Bandwidth the link
	// (tbf), RTT and Window each migration's relay.
	Network lab.NetShape `json:"network"`
	// Makespan is the first migrate command to the last migration's end,
	// seconds, real and simulated.
	Makespan MetricError `json:"makespan"`
	// VMs holds one comparison per VM, in file order.
	VMs []*FleetVMComparison `json:"vms"`
	// Summary has, per metric, the median and worst absolute relative
	// error over the VMs.
	Summary []MetricSummary `json:"summary"`
	// Sim is the simulator's fleet result on the achieved traces.
	Sim *fleet.Result `json:"sim"`
	// WallS is the lab's wall time, from the first boot to the last
	// verification, seconds.
	WallS float64 `json:"wall_s"`
	// LoadAvg is the host's 1-minute load average when the guests
	// booted and when the last migration ended (0 where /proc/loadavg is
	// unreadable).
	LoadAvg [2]float64 `json:"load_avg"`
}

// FleetVMComparison is one VM of a [FleetComparison].
type FleetVMComparison struct {
	// Name is the VM's name in the fleet; Model its migration model.
	Name  string `json:"name"`
	Model string `json:"model"`
	// RealStartS and SimStartS are when its migration started, seconds
	// after the fleet's first migrate command and in the simulator.
	RealStartS float64 `json:"real_start_s"`
	SimStartS  float64 `json:"sim_start_s"`
	// NominalDirtyRate and AchievedDirtyRate are the page writes per
	// second the trace asks for and the guest achieved during its
	// migration; BehindS how far behind its schedule the guest was at
	// the end (see [Comparison]).
	NominalDirtyRate  float64 `json:"nominal_dirty_rate"`
	AchievedDirtyRate float64 `json:"achieved_dirty_rate"`
	BehindS           float64 `json:"behind_s"`
	// Metrics compares total_time_s, downtime_s, transferred_bytes (the
	// RAM stream: the simulator's device state left out, as QEMU's
	// ram.transferred leaves it out) and mean_bandwidth_bps (those bytes
	// over the total time).
	Metrics []MetricError `json:"metrics"`
	// AloneTotalTimeS is the simulator's total time for the same
	// achieved trace migrated alone over the whole link ([Run]'s figure):
	// what a one-VM simulation predicts when it ignores the others.
	AloneTotalTimeS float64 `json:"alone_total_time_s"`
	// Real is the real migration; Sim the VM's simulated result.
	Real *lab.RealRun   `json:"real"`
	Sim  fleet.VMResult `json:"sim"`
}

// fleetLab is what a fleet needs of the lab, checked before anything
// boots.
type fleetLab struct {
	from, to string
	shape    lab.NetShape
	migs     []lab.MigrationParams
}

// checkFleetLab checks that the lab can run f: one host pair, the models
// the lab validates, 4 KiB pages, a network it can emulate, and a plan
// without the keys it does not emulate. Errors name the fleet file's key.
func checkFleetLab(f *fleet.Spec) (*fleetLab, error) {
	if len(f.VMs) == 0 {
		return nil, fmt.Errorf("fleet %s: vms: no VM to migrate", f.Name)
	}
	fl := &fleetLab{from: f.VMs[0].From, to: f.VMs[0].To}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("fleet %s: "+format, append([]any{f.Name}, args...)...))
	}
	seen := map[string]bool{}
	for _, vm := range f.VMs {
		if vm.From != fl.from || vm.To != fl.to {
			bad("vms.%s.from/to: %s to %s, but %s goes from %s to %s: the lab runs one host pair (every source in one namespace, every destination in another)",
				vm.Group, vm.From, vm.To, f.VMs[0].Name, fl.from, fl.to)
		}
		spec := vm.Spec
		mig, err := labMigrationParams(spec.WithoutCalibration())
		if err != nil {
			if !seen[vm.Group] {
				bad("vms.%s.%v", vm.Group, err)
			}
			seen[vm.Group] = true
			continue
		}
		fl.migs = append(fl.migs, mig)
		if spec.Network.Bandwidth != spec.WithoutCalibration().Network.Bandwidth && !seen[vm.Group] {
			// The lab runs uncalibrated, the simulator calibrated (as
			// Run does); the link must be the same on both sides.
			bad("vms.%s.calibration %q replaces network.bandwidth (%v) with its link rate (%v) on the simulator's side, but the lab's link is the tbf: give network.bandwidth in the fleet",
				vm.Group, spec.Calibration, spec.WithoutCalibration().Network.Bandwidth, spec.Network.Bandwidth)
			seen[vm.Group] = true
		}
		if spec.VM.PageSize != 4*units.KiB && !seen[vm.Group] {
			bad("vms.%s.vm.page_size %v: the lab needs 4KiB, QEMU's x86 page size", vm.Group, spec.VM.PageSize)
			seen[vm.Group] = true
		}
	}
	if f.Plan.BandwidthPerMigration > 0 {
		bad("plan.bandwidth_per_migration %v: the lab does not emulate a per-migration cap (QEMU's max-bandwidth would lift it for the stop-and-copy pass); set 0, or each VM's model.max_bandwidth", f.Plan.BandwidthPerMigration)
	}
	if f.Plan.OnTimeout != fleet.TimeoutAbort {
		bad("plan.on_timeout %q: the lab does not switch a migration to post-copy at its max_time (a lab migration that outlasts --timeout fails the run); set abort", f.Plan.OnTimeout)
	}
	network := f.VMs[0].Spec.WithoutCalibration().Network
	if network.Loss > 0 {
		bad("network.loss %g: the lab's shared link does not emulate loss (no netem on this kernel); set 0", network.Loss)
		network.Loss = 0
	}
	shape, err := NetShapeFromSpec(network)
	if err != nil {
		bad("%v", err)
	}
	for _, h := range f.Hosts {
		if (h.Name == fl.from || h.Name == fl.to) && h.NIC > 0 && h.NIC < shape.Bandwidth {
			shape.Bandwidth = h.NIC
		}
	}
	fl.shape = shape
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fl, nil
}

// RunFleet runs the fleet f for real, every VM a lab guest of its own
// and their migrations at once over one shaped link as the plan says (see
// the notes at the top of fleetlab.go), then simulates the fleet with
// [fleet.Run] on the traces the guests achieved and compares each VM.
// Every destination's memory is verified; a run that fails verification
// fails the whole fleet. It needs root and iproute2 (the shared link is
// the netns shaping's), opts.Hosts nil, and a fleet whose VMs run a
// model the lab validates (precopy, postcopy, hybrid) with 4 KiB pages,
// all from one host to one other. opts.LinkBps is not used: the link is
// shaped.
func RunFleet(ctx context.Context, f *fleet.Spec, opts Options) (*FleetComparison, error) {
	if opts.Hosts != nil {
		return nil, fmt.Errorf("fleet %s: %w", f.Name, lab.ErrRemoteShaping)
	}
	if sh := opts.Local.Shaping; sh != "" && sh != lab.ShapingNetns {
		return nil, fmt.Errorf("fleet %s: shaping %q: the fleet lab shapes its shared link with network namespaces (shaping %q)", f.Name, sh, lab.ShapingNetns)
	}
	fl, err := checkFleetLab(f)
	if err != nil {
		return nil, err
	}
	if err := lab.CheckShaping(); err != nil {
		return nil, fmt.Errorf("fleet %s: %w", f.Name, err)
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	// The plan on the nominal workloads gives the start order (a search,
	// with order optimize) and the concurrency.
	plan, err := fleet.Evacuate(ctx, f, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: planning: %w", f.Name, err)
	}
	n := len(f.VMs)
	index := map[string]int{}
	lp := lab.FleetPlan{Names: make([]string, n), From: make([]string, n), To: make([]string, n),
		MaxConcurrent: plan.MaxConcurrent, MaxOutboundPerHost: f.Plan.MaxOutboundPerHost, MaxInboundPerHost: f.Plan.MaxInboundPerHost}
	for i, vm := range f.VMs {
		index[vm.Name] = i
		lp.Names[i], lp.From[i], lp.To[i] = vm.Name, vm.From, vm.To
	}
	for _, name := range plan.Order {
		lp.Order = append(lp.Order, index[name])
	}

	if opts.Image.Guest == "" {
		// One replayer for every guest, built once.
		tmp, err := os.MkdirTemp("", "migsim-fleet-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		opts.Image.Guest = filepath.Join(tmp, "migsim-guest")
		if err := lab.BuildGuest(ctx, opts.Image.Guest); err != nil {
			return nil, err
		}
	}
	origs := make([]*memTrace, n)
	runs := make([]lab.LocalOptions, n)
	var log io.Writer
	if l := cmpOr(opts.Local.Log, opts.Log); l != nil {
		log = &lockedWriter{w: l}
	}
	for i, vm := range f.VMs {
		orig, img, cleanup, err := bootKit(ctx, vm.Spec, opts, func(format string, args ...any) { logf(vm.Name+": "+format, args...) })
		if err != nil {
			return nil, fmt.Errorf("fleet %s: vm %s: %w", f.Name, vm.Name, err)
		}
		defer cleanup()
		origs[i] = orig
		lo := opts.Local
		lo.Image = img
		lo.TraceMemory = vm.Spec.VM.Memory
		lo.AtEnd = vm.Spec.Workload.AtEnd
		lo.Migration = fl.migs[i]
		lo.Log = nil
		if log != nil {
			lo.Log = &prefixWriter{w: log, prefix: vm.Name + ": "}
		}
		runs[i] = lo
	}

	logf("fleet %s: from %s to %s", f.Name, fl.from, fl.to)
	out := &FleetComparison{Fleet: f.Name, From: fl.from, To: fl.to, Order: plan.Order, MaxConcurrent: plan.MaxConcurrent, Network: fl.shape}
	out.LoadAvg[0] = loadAvg()
	wall := time.Now()
	var fleetLog io.Writer
	if opts.Log != nil {
		fleetLog = &prefixWriter{w: opts.Log, prefix: "fleet " + f.Name + ": "}
	}
	real, err := lab.RunFleet(ctx, fl.shape, runs, lp, fleetLog)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: %w", f.Name, err)
	}
	out.WallS = time.Since(wall).Seconds()
	out.LoadAvg[1] = loadAvg()

	if err := out.simulate(ctx, f, origs, real, lp.Order); err != nil {
		return nil, fmt.Errorf("fleet %s: simulation: %w", f.Name, err)
	}
	return out, nil
}

// simulate runs fleet.Run on the achieved traces and fills in the
// comparison.
func (c *FleetComparison) simulate(ctx context.Context, f *fleet.Spec, origs []*memTrace, fr *lab.FleetRun, order []int) error {
	reals := fr.Runs
	tmp, err := os.MkdirTemp("", "migsim-fleet-sim-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sf := *f
	sf.VMs = make([]fleet.VM, len(f.VMs))
	achs := make([]*achievedTrace, len(f.VMs))
	for i, vm := range f.VMs {
		real := reals[i]
		ach, err := buildAchieved(origs[i], real, vm.Spec.Workload.AtEnd, achievedHorizon(real))
		if err != nil {
			return fmt.Errorf("vm %s: rebuilding the achieved trace: %w", vm.Name, err)
		}
		achs[i] = ach
		path := filepath.Join(tmp, strconv.Itoa(i)+".mgt")
		src, err := ach.trace.opener()()
		if err == nil {
			err = lab.WriteTraceFile(ctx, path, src)
		}
		if err != nil {
			return err
		}
		sf.VMs[i] = vm
		sf.VMs[i].Spec = achievedSpec(vm.Spec, path, real.GuestMemoryBytes)
	}
	sim, err := fleet.Run(ctx, &sf, fleet.Options{Order: order, MaxConcurrent: c.MaxConcurrent})
	if err != nil {
		return err
	}
	c.Sim = sim
	realEnd := 0.0
	for i, vm := range f.VMs {
		real, sv := reals[i], sim.VMs[i]
		alone, err := simulateAchieved(ctx, vm.Spec, achs[i], real.GuestMemoryBytes)
		if err != nil {
			return fmt.Errorf("vm %s alone: %w", vm.Name, err)
		}
		start := fr.StartS[i]
		realEnd = math.Max(realEnd, start+real.Metrics.TotalTimeS)
		c.VMs = append(c.VMs, &FleetVMComparison{
			Name: vm.Name, Model: sv.Model,
			RealStartS: start, SimStartS: sv.StartS,
			NominalDirtyRate: nominalRate(origs[i]), AchievedDirtyRate: achs[i].DirtyRate, BehindS: achs[i].Behind,
			Metrics:         fleetMetrics(real.Metrics, sv, uint64(vm.Spec.VM.DeviceState)),
			AloneTotalTimeS: alone.TotalTimeS,
			Real:            real, Sim: sv,
		})
	}
	c.Makespan = metricError("makespan_s", realEnd, sim.MakespanS)
	cs := make([]*Comparison, len(c.VMs))
	for i, v := range c.VMs {
		cs[i] = &Comparison{Scenario: v.Name, Metrics: v.Metrics}
	}
	c.Summary = summarise(cs)
	return nil
}

// achievedSpec is spec replaying the achieved trace at path over the
// whole guest RAM (memBytes) in 4 KiB pages, looping, as simulateAchieved
// runs it.
func achievedSpec(spec *scenarios.Spec, path string, memBytes uint64) *scenarios.Spec {
	s := *spec
	s.Workload.Trace, s.Workload.Generator, s.Workload.AtEnd = path, nil, models.AtEndLoop
	s.VM.Memory, s.VM.PageSize = units.Bytes(memBytes), 4*units.KiB
	return &s
}

// fleetMetrics compares one VM's real figures with its simulated ones.
// Bytes are the RAM stream on both sides (the device state, deviceState
// bytes, taken out of the simulator's, as [compareMetrics] does).
func fleetMetrics(real lab.RealMetrics, sim fleet.VMResult, deviceState uint64) []MetricError {
	simBytes := sim.TransferredBytes - min(sim.TransferredBytes, deviceState)
	mean := func(bytes uint64, s float64) float64 {
		if s <= 0 {
			return 0
		}
		return float64(bytes) * 8 / s
	}
	return []MetricError{
		metricError("total_time_s", real.TotalTimeS, sim.TotalTimeS),
		metricError("downtime_s", real.DowntimeS, sim.DowntimeS),
		metricError("transferred_bytes", float64(real.TransferredBytes), float64(simBytes)),
		metricError("mean_bandwidth_bps", mean(real.TransferredBytes, real.TotalTimeS), mean(simBytes, sim.TotalTimeS)),
	}
}

// WriteTable prints the fleet like a suite: per VM its start, each
// metric's real and simulated values with the error (and the total time
// the VM would take alone over the whole link, simulated), its dirty
// rate; then the makespan, the summary and the run's conditions.
func (c *FleetComparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "vm\tmetric\treal\tsim\terror\tsim alone\t\n")
	for _, v := range c.VMs {
		fmt.Fprintf(tw, "%s\tstart_s\t%.3f\t%.3f\t\t\t\n", v.Name, v.RealStartS, v.SimStartS)
		for _, m := range v.Metrics {
			alone := ""
			if m.Name == "total_time_s" {
				alone = fmt.Sprintf("%.3f", v.AloneTotalTimeS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", v.Name, m.Name, fleetValue(m.Name, m.Real), fleetValue(m.Name, m.Sim), relErrText(m), alone)
		}
		fmt.Fprintf(tw, "%s\tdirty rate (pages/s)\t%.0f\t%.0f nominal\t%.2fs behind\t\t\n", v.Name, v.AchievedDirtyRate, v.NominalDirtyRate, v.BehindS)
	}
	m := c.Makespan
	fmt.Fprintf(tw, "fleet\t%s\t%.3f\t%.3f\t%s\t\t\n", m.Name, m.Real, m.Sim, relErrText(m))
	fmt.Fprintf(tw, "\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "summary\tmetric\tmedian |err|\tworst |err|\tworst vm\t\t\n")
	for _, s := range c.Summary {
		fmt.Fprintf(tw, "\t%s\t%.1f%%\t%.1f%%\t%s\t\t\n", s.Name, 100*s.MedianAbsErr, 100*s.WorstAbsErr, s.Worst)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verified := make([]string, len(c.VMs))
	for i, v := range c.VMs {
		verified[i] = fmt.Sprintf("%s %d pages", v.Name, v.Real.PagesCompared)
	}
	qemu := ""
	if len(c.VMs) > 0 {
		qemu = fmt.Sprintf("QEMU %s %s; ", c.VMs[0].Real.QEMUVersion, c.VMs[0].Real.Accel)
	}
	_, err := fmt.Fprintf(w, "fleet %s: %s to %s over one link of %.0f Mbit/s (tbf), RTT %v; order %s, %d at once; %smemory verified (%s); %.0f s wall, load %.1f then %.1f\n",
		c.Fleet, c.From, c.To, float64(c.Network.Bandwidth)/1e6, c.Network.RTT, strings.Join(c.Order, " "), c.MaxConcurrent,
		qemu, strings.Join(verified, ", "), c.WallS, c.LoadAvg[0], c.LoadAvg[1])
	return err
}

// fleetValue formats a metric's value for the table.
func fleetValue(name string, v float64) string {
	if name == "mean_bandwidth_bps" {
		name = "bandwidth_bps"
	}
	return formatValue(name, v)
}

// relErrText prints a relative error as the suite table does.
func relErrText(m MetricError) string {
	if m.Undefined {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*m.RelErr)
}

// loadAvg returns the host's 1-minute load average, 0 if unreadable.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// cmpOr returns the first writer that is not nil.
func cmpOr(ws ...io.Writer) io.Writer {
	for _, w := range ws {
		if w != nil {
			return w
		}
	}
	return nil
}

// lockedWriter serialises writes to w, which several runs share.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// prefixWriter writes each whole line to w with prefix in front, in one
// Write, so that concurrent runs' logs do not mix within a line.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}
