package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
)

// Result is a fleet's outcome. Its JSON keys are a contract.
type Result struct {
	// Scenario is the fleet's name; Seed its seed.
	Scenario string `json:"scenario"`
	Seed     uint64 `json:"seed"`
	// MakespanS is the time from the first migration's start to the last
	// one's end, seconds.
	MakespanS float64 `json:"makespan_s"`
	// Completed is true when every migration completed.
	Completed bool `json:"completed"`
	// VMsNotConverged names the VMs that did not converge (see
	// [VMResult.Converged]), in start order; empty, never null.
	VMsNotConverged []string `json:"vms_not_converged"`
	// VMsOverDowntimeLimit names the completed VMs whose downtime
	// exceeded their model's downtime_limit (see
	// [VMResult.DowntimeWithinLimit]), in start order; empty, never null.
	VMsOverDowntimeLimit []string `json:"vms_over_downtime_limit"`
	// WorstDowntimeS and SumDowntimeS are over the completed migrations,
	// seconds.
	WorstDowntimeS float64 `json:"worst_downtime_s"`
	SumDowntimeS   float64 `json:"sum_downtime_s"`
	// TransferredBytes is what every migration sent, bytes.
	TransferredBytes uint64 `json:"transferred_bytes"`
	// PeakConcurrency is the most migrations in flight at once.
	PeakConcurrency int `json:"peak_concurrency"`
	// Order is the order the plan started the VMs in, and
	// MaxConcurrent the concurrency it ran at.
	Order         []string `json:"order"`
	MaxConcurrent int      `json:"max_concurrent"`
	// Planner, with order optimize, compares the plan found with the
	// plain orders.
	Planner *PlannerReport `json:"planner,omitempty"`
	// VMs holds one entry per VM, in file order.
	VMs []VMResult `json:"vms"`

	// Utilisation is the network's use over time, for the timeline
	// figure.
	Utilisation []UtilSample `json:"-"`
}

// VMResult is one migration of a fleet. Its JSON keys are a contract.
type VMResult struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
	// Model is the migration model that ran.
	Model string `json:"model"`
	// StartS and EndS are when the migration started and ended, seconds
	// since the fleet's start; TotalTimeS = EndS − StartS.
	StartS     float64 `json:"start_s"`
	EndS       float64 `json:"end_s"`
	TotalTimeS float64 `json:"total_time_s"`
	// DowntimeS is the guest's downtime, seconds (0 if not completed).
	DowntimeS float64 `json:"downtime_s"`
	// TransferredBytes is what the migration sent, bytes.
	TransferredBytes uint64 `json:"transferred_bytes"`
	// Converged is true when the migration completed within its model's
	// own terms, as 'migsim run' says it: a pre-copy (precopy, parallel,
	// a hybrid that did not switch) reached its stop condition
	// (stop_reason downtime_met, not a round or byte cap); a post-copy
	// (postcopy, enlightened, a hybrid that switched) completed. Whether
	// the downtime met the limit is DowntimeWithinLimit: under QEMU's
	// iteration (sync_policy qemu) the guest stops once what is left fits
	// the measured bandwidth × downtime_limit, and the device state and
	// page headers may take it a little over, as in QEMU.
	Converged bool `json:"converged"`
	// DowntimeWithinLimit is true when the migration completed with a
	// downtime at most its model's downtime_limit (always, for a model
	// without one); false when it did not complete.
	DowntimeWithinLimit bool `json:"downtime_within_limit"`
	// Completed is true when the VM runs on its destination at the end.
	Completed bool `json:"completed"`
	// StopReason is the model's stop reason.
	StopReason string `json:"stop_reason"`
	// MeanBandwidthBps is TransferredBytes × 8 / TotalTimeS.
	MeanBandwidthBps float64 `json:"mean_bandwidth_bps"`
	// DowntimeLimitS is the model's downtime_limit, seconds; 0 for models
	// without one.
	DowntimeLimitS float64 `json:"downtime_limit_s,omitempty"`
	// Engine is the engine the migration ran on, fluid or page (see
	// [DefaultEngine]); omitted when the VM's model.engine is page.
	Engine string `json:"engine,omitempty"`
}

// UtilSample is the fleet network's total migration traffic from T on,
// bits per second, and the migrations in flight.
type UtilSample struct {
	T       float64
	Bps     float64
	Running int
}

// Options configure one fleet run.
type Options struct {
	// Order is the VMs' start order, indices into Spec.VMs; nil: the
	// plan's order (optimize falls back to fifo; see Plan).
	Order []int
	// MaxConcurrent overrides the plan's; 0 keeps it.
	MaxConcurrent int
	// Observer, when not nil, is told each VM's result as it ends.
	Observer func(done, total int)
}

// Evacuate runs the fleet under its plan: [Optimize] within budget
// simulations for order optimize, else [Run] in the plan's order.
// progress, when not nil, is told the work done (VMs ended, or plans
// evaluated).
func Evacuate(ctx context.Context, f *Spec, budget int, progress func(done, total int)) (*Result, error) {
	if f.Plan.Order == OrderOptimize {
		return Optimize(ctx, f, budget, progress)
	}
	return Run(ctx, f, Options{Observer: progress})
}

// Run simulates the fleet's migrations on one engine over its shared
// network, in opts.Order (or the plan's) under the plan's caps: a
// migration starts as soon as it is the first in order whose hosts are
// below their caps while fewer than max_concurrent run.
func Run(ctx context.Context, f *Spec, opts Options) (*Result, error) {
	order := opts.Order
	if order == nil {
		order = f.orderBy(f.Plan.Order)
	}
	conc := f.Plan.MaxConcurrent
	if opts.MaxConcurrent > 0 {
		conc = opts.MaxConcurrent
	}
	r := &run{f: f, order: order, conc: conc, opts: opts, root: sim.New(f.Seed)}
	r.setup()
	return r.run(ctx)
}

// run is the state of one fleet run.
type run struct {
	f     *Spec
	order []int
	conc  int
	opts  Options
	root  *sim.Engine
	net   sim.FlowNetwork

	out, in   map[string]*sim.Resource
	paths     map[[2]string]*sim.Resource
	outN, inN map[string]int
	started   []bool
	running   int
	peak      int
	done      int
	results   []VMResult
	starts    []string
	err       error

	// link is the network's step now (its bandwidth and cross traffic):
	// the paths' capacity is its bandwidth × (1 − cross traffic), and the
	// NICs' of the hosts that follow the network; it changes with
	// network.bandwidth_schedule.
	link     sim.RateChange
	schedule []sim.RateChange // network.bandwidth_schedule, times from the fleet's start

	rates map[int]float64
	total float64
	util  []UtilSample
}

func (r *run) setup() {
	f := r.f
	r.out, r.in = map[string]*sim.Resource{}, map[string]*sim.Resource{}
	r.paths = map[[2]string]*sim.Resource{}
	r.outN, r.inN = map[string]int{}, map[string]int{}
	for _, h := range f.Hosts {
		r.out[h.Name] = &sim.Resource{Name: h.Name + "/out", CapacityBps: float64(h.NIC)}
		r.in[h.Name] = &sim.Resource{Name: h.Name + "/in", CapacityBps: float64(h.NIC)}
	}
	// Every VM has the fleet's network: the first one's is everyone's.
	netw := f.VMs[0].Spec.Network
	r.link = sim.RateChange{Bandwidth: netw.Bandwidth}
	for _, st := range netw.BandwidthSchedule {
		c := sim.RateChange{At: st.At, Bandwidth: st.Bandwidth, CrossTraffic: st.CrossTraffic}
		if c.Bandwidth == 0 { // 0: the network's bandwidth
			c.Bandwidth = netw.Bandwidth
		}
		r.schedule = append(r.schedule, c)
		r.root.Schedule(sim.Time(c.At), sim.PhaseClock, func() { r.setLink(c) })
	}
	r.started = make([]bool, len(f.VMs))
	r.results = make([]VMResult, len(f.VMs))
	r.rates = map[int]float64{}
	r.util = []UtilSample{{T: 0}}
}

// path returns the resource of the path between two hosts, one per
// ordered pair: the fabric does not block, two migrations share a path
// only when they go between the same hosts.
func (r *run) path(vm *VM) *sim.Resource {
	k := [2]string{vm.From, vm.To}
	p := r.paths[k]
	if p == nil {
		p = &sim.Resource{Name: vm.From + "->" + vm.To, CapacityBps: r.linkCapacity()}
		r.paths[k] = p
	}
	return p
}

// linkCapacity is what the network carries now for migrations, bits
// per second: its bandwidth less the cross traffic's share.
func (r *run) linkCapacity() float64 {
	return float64(r.link.Bandwidth) * (1 - r.link.CrossTraffic)
}

// setLink changes the network to step c of network.bandwidth_schedule:
// every path's capacity, and the NICs of the hosts that follow the
// network (cross traffic crosses the paths, not the NICs). The flows
// re-share the new capacities at once, and each migration re-plans its
// pass in flight.
func (r *run) setLink(c sim.RateChange) {
	r.link = c
	var changes []sim.CapacityChange
	for _, h := range r.f.Hosts {
		if h.FollowsNetwork {
			nic := float64(c.Bandwidth)
			changes = append(changes, sim.CapacityChange{Resource: r.out[h.Name], CapacityBps: nic}, sim.CapacityChange{Resource: r.in[h.Name], CapacityBps: nic})
		}
	}
	for _, p := range r.paths {
		changes = append(changes, sim.CapacityChange{Resource: p, CapacityBps: r.linkCapacity()})
	}
	r.net.SetCapacity(changes...)
}

// pathFrom returns the network's path for a migration that starts at
// now: the network's step then, and the rest of network.bandwidth_schedule
// in the migration's own time (from its start), as `migsim run` sees a
// schedule; a fleet's schedule counts from the fleet's start.
func (r *run) pathFrom(p sim.Path, now sim.Time) sim.Path {
	if len(r.schedule) == 0 {
		return p
	}
	p.Bandwidth, p.Schedule = r.link.Bandwidth, nil
	if r.link.CrossTraffic > 0 {
		p.Schedule = append(p.Schedule, sim.RateChange{Bandwidth: r.link.Bandwidth, CrossTraffic: r.link.CrossTraffic})
	}
	for _, c := range r.schedule {
		if at := sim.Time(c.At); at > now {
			c.At = at.Sub(now)
			p.Schedule = append(p.Schedule, c)
		}
	}
	return p
}

func (r *run) run(ctx context.Context) (*Result, error) {
	r.root.Schedule(0, sim.PhaseDecide, r.fill)
	if err := r.root.Run(ctx, sim.Never); err != nil && !errors.Is(err, sim.ErrStopped) {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.done != len(r.f.VMs) {
		return nil, fmt.Errorf("fleet %s: %d of %d migrations ran: the plan's caps leave the rest no way to start", r.f.Name, r.done, len(r.f.VMs))
	}
	return r.result(), nil
}

// fill starts every VM the caps allow, first in order first.
func (r *run) fill() {
	p := r.f.Plan
	for _, i := range r.order {
		if r.err != nil || r.running >= r.conc {
			return
		}
		if r.started[i] {
			continue
		}
		vm := &r.f.VMs[i]
		if p.MaxOutboundPerHost > 0 && r.outN[vm.From] >= p.MaxOutboundPerHost {
			continue
		}
		if p.MaxInboundPerHost > 0 && r.inN[vm.To] >= p.MaxInboundPerHost {
			continue
		}
		r.start(i)
	}
}

// start launches VM i now.
func (r *run) start(i int) {
	vm := &r.f.VMs[i]
	model, in, err := vm.Spec.Build()
	if err != nil {
		r.fail(fmt.Errorf("vm %s: %w", vm.Name, err))
		return
	}
	l, ok := model.(models.Launcher)
	if !ok {
		r.fail(fmt.Errorf("vm %s: model %s cannot run beside others", vm.Name, model.Name()))
		return
	}
	if r.f.Plan.OnTimeout == TimeoutPostcopy {
		// A pre-copy still running at its max_time switches to
		// post-copy there (Nova's force-complete).
		// A pre-copy: live rounds and no post-copy phase of its own.
		if p, _ := models.PartsOf(vm.Spec.Model.Params); p.Rounds != nil && p.Faults == nil && p.Stream != nil {
			in.ForcePostcopyAt = p.Stream.MaxTime
		}
	}
	r.started[i] = true
	r.running++
	r.peak = max(r.peak, r.running)
	r.outN[vm.From]++
	r.inN[vm.To]++
	r.starts = append(r.starts, vm.Name)
	in.Path = r.pathFrom(in.Path, r.root.Now())
	sub := r.root.Sub(vm.Spec.Seed)
	vn := &vmNet{
		net: &r.net, eng: sub, path: in.Path,
		resources: []*sim.Resource{r.out[vm.From], r.path(vm), r.in[vm.To]},
		capBps:    float64(r.f.Plan.BandwidthPerMigration),
	}
	vn.onRate = func(_ sim.Time, bps float64) { r.rate(i, bps) }
	vn.alone = func() bool { return r.done == len(r.f.VMs)-1 }
	start := sub.Origin()
	err = l.Launch(sub, vn, in, func(res *models.Result, err error) {
		vn.finish()
		if err != nil {
			r.fail(fmt.Errorf("vm %s: %w", vm.Name, err))
			return
		}
		r.finish(i, start, res)
	})
	if err != nil {
		r.fail(fmt.Errorf("vm %s: %w", vm.Name, err))
	}
}

// finish records VM i's result and starts whom the freed room allows.
func (r *run) finish(i int, start sim.Time, res *models.Result) {
	vm := &r.f.VMs[i]
	r.running--
	r.outN[vm.From]--
	r.inN[vm.To]--
	r.done++
	v := VMResult{
		Name: vm.Name, From: vm.From, To: vm.To, Model: res.Model,
		StartS: start.Seconds(), TotalTimeS: res.TotalTimeS,
		DowntimeS: res.DowntimeS, TransferredBytes: res.TransferredBytes,
		Completed: res.Completed, StopReason: res.StopReason.String(),
		DowntimeLimitS: downtimeLimit(vm).Seconds(), Engine: res.Engine,
	}
	// The engine's clock, not StartS + TotalTimeS: the next VM starts at
	// this instant, and a sum rounded differently would overlap it.
	v.EndS = r.root.Now().Seconds()
	if v.TotalTimeS > 0 {
		v.MeanBandwidthBps = float64(v.TransferredBytes) * 8 / v.TotalTimeS
	}
	v.Converged = converged(res)
	v.DowntimeWithinLimit = res.Completed && (v.DowntimeLimitS <= 0 || res.DowntimeS <= v.DowntimeLimitS)
	r.results[i] = v
	if r.opts.Observer != nil {
		r.opts.Observer(r.done, len(r.f.VMs))
	}
	r.fill()
}

// converged says whether a migration converged in its model's terms
// (see VMResult.Converged).
func converged(res *models.Result) bool {
	if !res.Completed {
		return false
	}
	return res.StopReason == models.StopPostcopy || res.StopReason == models.StopDowntimeMet
}

// downtimeLimit is vm's model's downtime_limit; 0 when it has none.
func downtimeLimit(vm *VM) time.Duration {
	if p, _ := models.PartsOf(vm.Spec.Model.Params); p.Rounds != nil {
		return p.Rounds.DowntimeLimit
	}
	return 0
}

// rate notes VM i's new rate for the utilisation series.
func (r *run) rate(i int, bps float64) {
	r.total += bps - r.rates[i]
	if bps == 0 {
		delete(r.rates, i)
	} else {
		r.rates[i] = bps
	}
	t := r.root.Now().Seconds()
	s := UtilSample{T: t, Bps: math.Max(0, r.total), Running: r.running}
	if n := len(r.util); n > 0 && r.util[n-1].T == t {
		r.util[n-1] = s
	} else {
		r.util = append(r.util, s)
	}
}

func (r *run) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.root.Stop()
}

// result assembles the fleet's result.
func (r *run) result() *Result {
	f := r.f
	res := &Result{
		Scenario: f.Name, Seed: f.Seed, Completed: true,
		VMsNotConverged: []string{}, VMsOverDowntimeLimit: []string{}, PeakConcurrency: r.peak,
		Order: r.starts, MaxConcurrent: r.conc, VMs: r.results, Utilisation: r.util,
	}
	first := math.Inf(1)
	for _, v := range r.results {
		first = math.Min(first, v.StartS)
		res.MakespanS = math.Max(res.MakespanS, v.EndS)
		res.TransferredBytes += v.TransferredBytes
		if !v.Completed {
			res.Completed = false
		} else {
			res.SumDowntimeS += v.DowntimeS
			res.WorstDowntimeS = math.Max(res.WorstDowntimeS, v.DowntimeS)
		}
	}
	if !math.IsInf(first, 1) {
		res.MakespanS -= first
	}
	for _, name := range r.starts {
		for _, v := range r.results {
			if v.Name != name {
				continue
			}
			if !v.Converged {
				res.VMsNotConverged = append(res.VMsNotConverged, name)
			}
			if v.Completed && !v.DowntimeWithinLimit {
				res.VMsOverDowntimeLimit = append(res.VMsOverDowntimeLimit, name)
			}
		}
	}
	return res
}

// orderBy returns the VMs' indices in the named order (optimize: fifo;
// the planner searches from there). Ties keep file order.
func (f *Spec) orderBy(order string) []int {
	idx := make([]int, len(f.VMs))
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) float64 { return 0 }
	switch order {
	case OrderSmallestFirst:
		key = func(i int) float64 { return float64(f.VMs[i].Spec.VM.Memory) }
	case OrderLargestFirst:
		key = func(i int) float64 { return -float64(f.VMs[i].Spec.VM.Memory) }
	case OrderLowestDirtyFirst:
		key = func(i int) float64 { return dirtyRate(&f.VMs[i]) }
	}
	sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) < key(idx[b]) })
	return idx
}

// dirtyRate is a VM's nominal page writes per second: its generator's
// dirty rate (the busiest phase's, with phases); +Inf for a trace, which
// lowest_dirty_first leaves for last.
func dirtyRate(vm *VM) float64 {
	g := vm.Spec.Workload.Generator
	if g == nil {
		return math.Inf(1)
	}
	rate := g.DirtyRate
	for _, ph := range g.Phases {
		rate = math.Max(rate, ph.DirtyRate)
	}
	return rate
}
