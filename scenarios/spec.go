package scenarios

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Spec is a scenario: one guest, one workload, one network and one
// migration model. Its mapstructure tags are the scenario file's keys; the
// comment of each field gives its unit and is what `migsim scenario
// explain` prints. Build a Spec with [Load] or [LoadDefault]; a Spec from
// [DefaultSpec] is the built-in scenario before any file or flag.
type Spec struct {
	// Name names the scenario in results; text. Defaults to the file's base
	// name without its extension ("default" for the built-in scenario).
	Name string `mapstructure:"name"`
	// Seed seeds the workload generator and the simulation engine, an
	// unsigned integer; the same scenario and seed give the same result.
	Seed uint64 `mapstructure:"seed"`
	// Calibration selects a calibration profile (see `migsim calibrate`),
	// text: a built-in profile's name (local-tcg, fitted on the TCG
	// validation lab) or, ending in .yaml or .yml, a profile file relative
	// to the scenario file (to the working directory when given with
	// --set). The profile sets network.bandwidth (its link_bandwidth),
	// vm.device_state and model.setup_time, model.resume_time,
	// model.sync_time_per_gib, model.page_header and
	// model.fault_service_time, for the models that have them, unless the
	// scenario gives the key itself: --set > scenario file > calibration >
	// network.profile > default. Its bandwidth_factor (with multifd
	// channels, its multifd_bandwidth_factor) multiplies
	// model.max_bandwidth (0, no cap, stays so), explicit or not: it is the
	// share of the cap the migration really achieves. Its cost_factor
	// multiplies the per-page CPU costs (model.costs, model.multifd.costs)
	// the scenario does not give. A profile key absent or 0 changes
	// nothing. Empty (the default) means no calibration.
	Calibration string `mapstructure:"calibration"`
	// VM describes the migrating guest.
	VM VMSpec `mapstructure:"vm"`
	// Workload is what the guest does while it migrates.
	Workload WorkloadSpec `mapstructure:"workload"`
	// Network is the path between source and destination.
	Network NetworkSpec `mapstructure:"network"`
	// Model is the migration algorithm and its parameters.
	Model ModelSpec `mapstructure:"model"`

	// file is the scenario file as given to Load, "" for LoadDefault.
	file string
	// traceFromFlag is true when workload.trace came from --set, so that a
	// relative path is taken from the working directory, not the file's.
	traceFromFlag bool
	// calib is the profile Calibration names, applied by Load; nil without.
	calib *calibration.Profile
	// uncal holds the model parameters and link rate as they were before
	// calib was applied; nil without calib.
	uncal *uncalibrated
}

// uncalibrated is what a calibration profile changed in a Spec.
type uncalibrated struct {
	params      any
	bandwidth   units.BitRate
	deviceState units.Bytes
}

// VMSpec is the scenario's vm section.
type VMSpec struct {
	// Memory is the guest's memory size in bytes (e.g. 4GiB), a multiple of
	// page_size. With a trace file and no vm.memory key, the trace's size.
	Memory units.Bytes `mapstructure:"memory"`
	// PageSize is the guest page size in bytes (e.g. 4KiB), a power of two
	// of at least 512. With a trace file and no vm.page_size key, the
	// trace's.
	PageSize units.Bytes `mapstructure:"page_size"`
	// VCPUs is the number of virtual CPUs, a count of at least 1.
	VCPUs int `mapstructure:"vcpus"`
	// DeviceState is the size of CPU and device state sent at stop time,
	// in bytes (e.g. 512KiB).
	DeviceState units.Bytes `mapstructure:"device_state"`
}

// WorkloadSpec is the scenario's workload section: exactly one of Trace
// and Generator.
type WorkloadSpec struct {
	// Trace is a trace file (.mgt) to replay, a path relative to the
	// scenario file's directory (to the working directory when given with
	// --set). Empty when a generator is used.
	Trace string `mapstructure:"trace"`
	// Generator is a synthetic workload, seeded from seed; nil when a trace
	// file is used.
	Generator *traces.GeneratorSpec `mapstructure:"generator"`
	// AtEnd is what the guest does when the trace ends before the
	// migration does: loop (replay it from the start) or idle (write and
	// read nothing more).
	AtEnd models.TraceEnd `mapstructure:"at_end"`
	// CatchUp, true or false (default false), says the guest keeps a
	// wall-clock schedule (an open-loop workload, such as requests
	// arriving at a fixed rate, or the validation lab's replayer): after
	// a post-copy stall it runs its overdue accesses at once until it is
	// back on the schedule it held when the source stopped it, downtime
	// included, so stalls bunch its faults. False: a stall delays
	// everything after it, the guest keeping its pace (a closed loop).
	// Only post-copy stalls are affected (postcopy, hybrid, enlightened).
	CatchUp bool `mapstructure:"catch_up"`
	// AccessOrder is the order of each epoch's accesses on the
	// destination after a post-copy switch, where it decides which
	// accesses find their page already pushed: random (a permutation drawn
	// from the seed; the default) or ascending (page order: a guest that
	// scans memory upwards; the default for a generator whose every phase
	// is sequential). Traces and generators record which pages an epoch
	// touches, not in what order. Only post-copy is affected (postcopy,
	// hybrid, enlightened); the fluid engine runs random order only.
	AccessOrder models.AccessOrder `mapstructure:"access_order"`
	// BackgroundPages is the guest OS's own working set beside the
	// workload, a count of pages (default 0): pages spread evenly over
	// memory that the guest reads every epoch (its kernel and runtimes:
	// timers, scheduler, stacks). Unless background_write_rate is set they
	// are never dirtied, so pre-copy is unchanged, but after a post-copy
	// switch each is a page fault until it arrives: an idle lab guest
	// makes about 100 post-copy requests (validate/README.md).
	BackgroundPages int `mapstructure:"background_pages"`
	// BackgroundWriteRate is how many of the background pages the guest
	// OS writes per second, pages/s (default 0: it only reads them). Each
	// epoch writes the next rate × epoch of them in turn (all of them when
	// that is more), so pre-copy re-sends them; post-copy faults on the
	// same pages as before. An idle lab guest under TCG rewrites more than
	// 100 pages every 100 ms (validate/ACCURACY.md), which decides whether
	// a small hot working set converges. Needs background_pages. The fluid
	// engine follows it in pre-copy (either sync policy, auto-converge,
	// multifd, parallel); with a post-copy phase, XBZRLE or the memory
	// options auto falls back to page.
	BackgroundWriteRate float64 `mapstructure:"background_write_rate"`
	// CPUDemand is the share of its vCPUs' time the workload needs to keep
	// its pace, in (0, 1] (default 1: a CPU-bound guest, which any
	// auto-converge throttle slows by the throttle). A paced guest
	// (requests arriving at a fixed rate, the validation lab's replayer)
	// that needs u keeps its pace while the throttle leaves it at least u
	// and then runs at (1 − throttle)/u of it: at 0.1, a throttle of 90 %
	// does not slow it and 95 % halves it.
	CPUDemand float64 `mapstructure:"cpu_demand"`
}

// NetworkSpec is the scenario's network section. Profile names a base
// path; the other keys override its values when given.
type NetworkSpec struct {
	// Profile names a built-in network profile (see `migsim profiles`);
	// keys given beside it override its values. "custom" means none:
	// bandwidth and rtt must then be given.
	Profile string `mapstructure:"profile"`
	// Bandwidth is the link's capacity in bits per second (e.g. 10Gbit,
	// 1.25GB/s); the profile's unless given.
	Bandwidth units.BitRate `mapstructure:"bandwidth"`
	// RTT is the round-trip time, a duration (e.g. 0.2ms); the profile's
	// unless given.
	RTT time.Duration `mapstructure:"rtt"`
	// Loss is the packet loss probability, a fraction in [0, 1); the
	// profile's unless given. It lowers goodput to bandwidth × (1 − loss)
	// and holds each TCP stream to Mathis's MSS/(RTT·√loss)·√(3/2).
	Loss float64 `mapstructure:"loss"`
	// Jitter is the mean queueing delay cross traffic adds to the RTT, a
	// duration; TCP sees rtt + jitter on average. The profile's unless
	// given, else 0.
	Jitter time.Duration `mapstructure:"jitter"`
	// TCPWindow is the largest window one TCP stream reaches, bytes (e.g.
	// 16MiB): a stream carries at most tcp_window per round trip. 0 means
	// no limit. The profile's unless given, else Linux's default
	// autotuning limit, 3MiB (half of tcp_rmem's 6 MiB maximum).
	TCPWindow units.Bytes `mapstructure:"tcp_window"`
	// MSS is the TCP maximum segment size, bytes (1448 on a 1500-byte MTU
	// with timestamps, 8948 with 9000-byte jumbo frames); the profile's
	// unless given, else 1448.
	MSS units.Bytes `mapstructure:"mss"`
	// Streams is the number of parallel TCP streams the migration's bulk
	// transfer uses, a count of at least 1 (default 1: QEMU's single
	// migration channel). They share the link fairly and add up to it.
	Streams int `mapstructure:"streams"`
	// BandwidthSchedule changes the link during the migration: a list of
	// {at, bandwidth, cross_traffic} steps in increasing at order, each
	// saying that from at (a duration since the start) the link is
	// bandwidth (bits/s; 0 means network.bandwidth), of which other
	// traffic takes the share cross_traffic (a fraction in [0, 1)), e.g.
	// [{at: 0s, bandwidth: 10Gbit}, {at: 60s, bandwidth: 2Gbit}]. Empty
	// (the default) keeps the link at bandwidth throughout.
	BandwidthSchedule []BandwidthStep `mapstructure:"bandwidth_schedule"`
}

// BandwidthStep is one entry of network.bandwidth_schedule: the link's
// state from At on, until the next entry.
type BandwidthStep struct {
	// At is when the step begins, a duration since the migration started
	// (e.g. 60s).
	At time.Duration `mapstructure:"at"`
	// Bandwidth is the link's capacity from At on, bits per second; 0
	// means network.bandwidth.
	Bandwidth units.BitRate `mapstructure:"bandwidth"`
	// CrossTraffic is the share of that capacity other traffic takes from
	// At on, a fraction in [0, 1); the migration's streams share the rest.
	CrossTraffic float64 `mapstructure:"cross_traffic"`
}

// ModelSpec is the scenario's model section: the model's name and its
// parameters, which depend on the model (see `migsim scenario explain`).
type ModelSpec struct {
	// Name is a registered model (see `migsim models`); the section's
	// other keys are that model's parameters.
	Name string `mapstructure:"name"`
	// Engine says how the model computes its result, for every model:
	// page (the default) replays the workload page by page, every
	// epoch, for any model and workload; fluid runs the model on the
	// expectation of a generator workload, its closed forms (exact in
	// expectation over seeds, at a cost per round rather than per page:
	// precopy and parallel, with XBZRLE only where its cache holds the
	// pages the workload can write, and with the balloon only under a
	// generator without alloc_rate and free_rate; anything else is an
	// error naming the feature); auto runs fluid where it can and page
	// elsewhere. Under fluid and auto the result's engine says which
	// ran (engine_fallback why not fluid) and the fluid engine's
	// verdict_margin how close its verdict is.
	Engine models.Engine `mapstructure:"engine"`
	// Params points to the model's parameter struct, as returned by its
	// models.Info.Params and decoded from the section's other keys.
	Params any `mapstructure:"-"`
}

// Default scenario values, named so that docs and tests can refer to them.
const (
	// DefaultName is the name of the built-in scenario.
	DefaultName = "default"
	// DefaultModel is the model of the built-in scenario.
	DefaultModel = "precopy"
	// DefaultDirtyRate is the built-in workload's write rate, pages/s
	// (200 MB/s of 4 KiB pages, a busy database or JVM heap).
	DefaultDirtyRate = 50000
	// DefaultWorkingSet is the built-in workload's working set.
	DefaultWorkingSet = 1 * units.GiB
)

// DefaultSpec returns the built-in default scenario, the base every file
// and flag is applied to:
//
//	name: default
//	seed: 1
//	vm: {memory: 4GiB, page_size: 4KiB, vcpus: 2, device_state: 512KiB}
//	workload:
//	  generator: {kind: sequential, dirty_rate: 50000, working_set: 1GiB, duration: 600s, epoch: 10ms}
//	  at_end: loop
//	network: {profile: lan-10g}   # 10 Gbit, 0.1 ms RTT, one TCP stream, 3 MiB window
//	model: {name: precopy}        # QEMU defaults: downtime_limit 300ms, no caps
//
// It converges in four rounds under QEMU's iteration (sync_policy qemu,
// the default), a round being the pages sent between two dirty-log
// syncs: the first sends all of the 4 GiB but a threshold's worth (10
// Gbit × 300 ms, about 91,000 pages) in about 3.2 s, while the guest
// dirties about 160,000 pages; the second (0.55 s) and third (one 100 ms
// step) bring what is left below the threshold again, and at the sync
// after the third it still fits: the guest stops, and the stop-and-copy
// sends about 81,000 pages in about 0.27 s, near the limit, as in QEMU.
// With whole-pass syncs (sync_policy pass) it converges in three passes
// with about 0.1 s of downtime. Simulating it takes a few hundred epochs
// of 10 ms.
func DefaultSpec() *Spec {
	gen := traces.DefaultGeneratorSpec()
	gen.Kind = traces.GenSequential
	gen.DirtyRate = DefaultDirtyRate
	gen.WorkingSet = DefaultWorkingSet
	params := models.DefaultPrecopyParams()
	prof, err := LookupProfile(DefaultProfile)
	if err != nil {
		panic("scenarios: default profile missing: " + err.Error()) // broken invariant
	}
	return &Spec{
		Name: DefaultName,
		Seed: 1,
		VM: VMSpec{
			Memory:      4 * units.GiB,
			PageSize:    4 * units.KiB,
			VCPUs:       2,
			DeviceState: 512 * units.KiB,
		},
		Workload: WorkloadSpec{
			Generator: &gen,
			AtEnd:     models.AtEndLoop,
			CPUDemand: 1,
		},
		Network: NetworkSpec{
			Profile:   prof.Name,
			Bandwidth: prof.Bandwidth,
			RTT:       prof.RTT,
			Loss:      prof.Loss,
			Jitter:    prof.Jitter,
			TCPWindow: prof.Window,
			MSS:       prof.MSS,
			Streams:   1,
		},
		Model: ModelSpec{Name: DefaultModel, Engine: models.EnginePage, Params: &params},
	}
}

// CalibrationProfile returns the calibration profile the scenario applied
// (its calibration key), or nil.
func (s *Spec) CalibrationProfile() *calibration.Profile { return s.calib }

// WithoutCalibration returns the scenario as it would be without its
// calibration key: the model parameters and network.bandwidth the scenario
// itself gives or defaults to. A real migration of the scenario (the
// validation lab) runs this, the simulator the calibrated one. It returns
// s itself when there is no calibration.
func (s *Spec) WithoutCalibration() *Spec {
	if s.uncal == nil {
		return s
	}
	c := *s
	c.Calibration, c.calib, c.uncal = "", nil, nil
	c.Model.Params = s.uncal.params
	c.Network.Bandwidth = s.uncal.bandwidth
	c.VM.DeviceState = s.uncal.deviceState
	return &c
}

// File returns the scenario file the spec was loaded from, or "" for the
// built-in scenario.
func (s *Spec) File() string { return s.file }

// TracePath returns the trace file to replay as a path usable from the
// working directory, or "" when the workload is a generator.
func (s *Spec) TracePath() string {
	t := s.Workload.Trace
	if t == "" || filepath.IsAbs(t) || s.traceFromFlag || s.file == "" {
		return t
	}
	return filepath.Join(filepath.Dir(s.file), t)
}

// Path returns the network path the scenario describes.
func (s *Spec) Path() sim.Path {
	n := s.Network
	p := sim.Path{
		Bandwidth: n.Bandwidth, RTT: n.RTT, Loss: n.Loss,
		Jitter: n.Jitter, Window: n.TCPWindow, MSS: n.MSS, Streams: n.Streams,
	}
	for _, st := range n.BandwidthSchedule {
		p.Schedule = append(p.Schedule, sim.RateChange{At: st.At, Bandwidth: st.Bandwidth, CrossTraffic: st.CrossTraffic})
	}
	return p
}

// Opener returns the opener of the scenario's trace: the trace file, or
// the generator seeded from Seed.
func (s *Spec) Opener() traces.Opener {
	if s.Workload.Generator == nil {
		return traces.OpenFile(s.TracePath())
	}
	gen, mem, ps, seed := *s.Workload.Generator, s.VM.Memory, s.VM.PageSize, s.Seed
	return func() (traces.Source, error) {
		return traces.NewGenerator(gen, mem, ps, seed)
	}
}

// Build returns the scenario's model and the input to run it on. The spec
// must come from [Load] or [LoadDefault], which validate it; Build checks
// only what they leave to the model's constructor.
func (s *Spec) Build() (models.Model, models.Input, error) {
	info, err := models.Lookup(s.Model.Name)
	if err != nil {
		return nil, models.Input{}, fmt.Errorf("model.name: %w", err)
	}
	m, err := models.NewEngine(info, s.Model.Params, s.Model.Engine)
	if err != nil {
		return nil, models.Input{}, err
	}
	in := models.Input{
		Scenario:    s.Name,
		Seed:        s.Seed,
		Calibration: s.Calibration,
		VM: models.VM{
			Memory:      s.VM.Memory,
			PageSize:    s.VM.PageSize,
			VCPUs:       s.VM.VCPUs,
			DeviceState: s.VM.DeviceState,
		},
		Trace: s.Opener(), Generator: s.Workload.Generator,
		AtEnd: s.Workload.AtEnd, CatchUp: s.Workload.CatchUp, AccessOrder: s.Workload.AccessOrder, BackgroundPages: s.Workload.BackgroundPages,
		BackgroundWriteRate: s.Workload.BackgroundWriteRate,
		CPUDemand:           s.Workload.CPUDemand,
		Path:                s.Path(),
	}
	return m, in, nil
}
