package fleet

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/scenarios"
)

// writeFleet writes a fleet file into a temporary directory and loads it
// with overrides.
func writeFleet(t *testing.T, text string, overrides ...string) *Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, overrides)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func runFleet(t *testing.T, f *Spec, opts Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func relClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b)) }

// TestOneVMFleetIsARun: a fleet of one VM gives the numbers 'migsim run'
// gives for the same scenario under the same engine, exactly: with
// model.engine page on both sides, and with the fleet's default (auto,
// fluid for the pre-copy entries, page for the others) against a run with
// model.engine auto.
func TestOneVMFleetIsARun(t *testing.T) {
	for _, engine := range []string{"page", "default"} {
		for _, model := range []string{
			"{name: precopy, downtime_limit: 300ms}",
			"{name: precopy, sync_policy: qemu, max_bandwidth: 2Gbit}",
			"{name: precopy, multifd: {channels: 4}}",
			"{name: postcopy}",
			"{name: hybrid, precopy_rounds: 1}",
			"{name: parallel, workers: 4}",
		} {
			t.Run(engine+" "+model, func(t *testing.T) {
				oneVMFleetIsARun(t, engine, model, "{profile: metro}")
			})
			// The network changes under the migration: its bandwidth
			// drops in the first pass, then comes back with cross
			// traffic taking half of it.
			t.Run(engine+" "+model+" schedule", func(t *testing.T) {
				oneVMFleetIsARun(t, engine, model, "{profile: metro, bandwidth_schedule: [{at: 300ms, bandwidth: 2Gbit}, {at: 1500ms, bandwidth: 0, cross_traffic: 0.5}]}")
			})
		}
	}
}

// oneVMFleetIsARun is one case of TestOneVMFleetIsARun.
func oneVMFleetIsARun(t *testing.T, engine, model, network string) {
	var runSets []string
	wantEngine := "" // page: results name no engine
	if engine == "page" {
		model = strings.Replace(model, "{", "{engine: page, ", 1)
	} else {
		runSets = []string{"model.engine=auto"}
		wantEngine = "page"
		if strings.HasPrefix(model, "{name: precopy") || strings.HasPrefix(model, "{name: parallel") || strings.HasPrefix(model, "{name: postcopy") || strings.HasPrefix(model, "{name: hybrid") {
			wantEngine = "fluid"
		}
	}
	vm := "vm: {memory: 1GiB}\n    workload: {generator: {kind: hotcold, dirty_rate: 20000, working_set: 256MiB, duration: 20s}}\n    model: " + model
	f := writeFleet(t, "name: one\nseed: 7\nnetwork: "+network+"\nvms:\n  - name: db\n    "+vm+"\n")
	got := runFleet(t, f, Options{})
	scen := filepath.Join(t.TempDir(), "db.yaml")
	text := "name: db\nseed: 7\nnetwork: " + network + "\n" + strings.ReplaceAll(vm, "\n    ", "\n")
	if err := os.WriteFile(scen, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := scenarios.Load(scen, runSets)
	if err != nil {
		t.Fatal(err)
	}
	m, in, err := spec.Build()
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	v := got.VMs[0]
	if v.TotalTimeS != want.TotalTimeS || v.DowntimeS != want.DowntimeS || v.TransferredBytes != want.TransferredBytes || v.StopReason != want.StopReason.String() {
		t.Errorf("fleet of one: total %v s, downtime %v s, %d bytes, %s; run: %v s, %v s, %d bytes, %s",
			v.TotalTimeS, v.DowntimeS, v.TransferredBytes, v.StopReason, want.TotalTimeS, want.DowntimeS, want.TransferredBytes, want.StopReason)
	}
	if got.MakespanS != want.TotalTimeS || got.PeakConcurrency != 1 {
		t.Errorf("makespan %v s, peak %d; want %v s, 1", got.MakespanS, got.PeakConcurrency, want.TotalTimeS)
	}
	if v.Engine != want.Engine || want.Engine != wantEngine {
		t.Errorf("engines: fleet %q, run %q; want %q", v.Engine, want.Engine, wantEngine)
	}
}

const idleVMs = `name: idle
seed: 1
network: {bandwidth: 10Gbit, rtt: 0}
vms:
  - name: vm
    count: 4
    vm: {memory: 1GiB}
    workload: {generator: {kind: idle}}
    model: {name: precopy}
`

// TestSharedLinkClosedForm: N identical idle VMs sharing one link each
// take N times as long as one alone; one at a time, the makespan is N
// times one.
func TestSharedLinkClosedForm(t *testing.T) {
	one := writeFleet(t, idleVMs, "vms.vm.count=1")
	alone := runFleet(t, one, Options{}).VMs[0].TotalTimeS
	setup := 0.010 // model.setup_time: the VMs set up side by side

	together := runFleet(t, writeFleet(t, idleVMs, "plan.max_concurrent=4"), Options{})
	if together.PeakConcurrency != 4 {
		t.Fatalf("peak concurrency %d, want 4", together.PeakConcurrency)
	}
	for _, v := range together.VMs {
		if want := setup + 4*(alone-setup); !relClose(v.TotalTimeS, want, 0.01) {
			t.Errorf("%s shared by 4: %.4f s, want 4 × the transfer alone + setup = %.4f s", v.Name, v.TotalTimeS, want)
		}
	}
	serial := runFleet(t, writeFleet(t, idleVMs), Options{})
	if !relClose(serial.MakespanS, 4*alone, 1e-9) || serial.PeakConcurrency != 1 {
		t.Errorf("one at a time: makespan %.4f s (peak %d), want 4 × %.4f s", serial.MakespanS, serial.PeakConcurrency, alone)
	}
	for i, v := range serial.VMs {
		if !relClose(v.StartS, float64(i)*alone, 1e-9) || !relClose(v.TotalTimeS, alone, 1e-9) {
			t.Errorf("%s: start %.4f s, %.4f s long; want %.4f s and %.4f s", v.Name, v.StartS, v.TotalTimeS, float64(i)*alone, alone)
		}
	}
}

// TestFabric: migrations between different hosts do not slow each other
// (a non-blocking fabric); two leaving one host share its NIC.
func TestFabric(t *testing.T) {
	base := `name: fabric
network: {bandwidth: 100Gbit, rtt: 0}
hosts: [{name: a, nic: 10Gbit}, {name: b, nic: 10Gbit}, {name: c, nic: 10Gbit}, {name: d, nic: 10Gbit}]
plan: {max_concurrent: 2}
vms:
  - {name: x, from: a, to: b, vm: {memory: 1GiB}, workload: {generator: {kind: idle}}}
  - {name: y, from: FROM, to: d, vm: {memory: 1GiB}, workload: {generator: {kind: idle}}}
`
	apart := runFleet(t, writeFleet(t, strings.Replace(base, "FROM", "c", 1)), Options{})
	shared := runFleet(t, writeFleet(t, strings.Replace(base, "FROM", "a", 1)), Options{})
	one := runFleet(t, writeFleet(t, strings.Replace(base, "FROM", "c", 1), "plan.max_concurrent=1"), Options{})
	alone := one.VMs[0].TotalTimeS
	for i := range 2 {
		if !relClose(apart.VMs[i].TotalTimeS, alone, 1e-9) {
			t.Errorf("different hosts: %s took %.4f s, want %.4f s as alone", apart.VMs[i].Name, apart.VMs[i].TotalTimeS, alone)
		}
		if want := 0.010 + 2*(alone-0.010); !relClose(shared.VMs[i].TotalTimeS, want, 0.01) {
			t.Errorf("one source NIC: %s took %.4f s, want about %.4f s (half the NIC)", shared.VMs[i].Name, shared.VMs[i].TotalTimeS, want)
		}
	}
}

// TestConcurrentDirtyVMsTakeLonger: with VMs that dirty memory, all at
// once has a longer makespan than one by one (Cerroni, JISA 2015): each
// migration gets a smaller share, so more is dirtied and re-sent.
func TestConcurrentDirtyVMsTakeLonger(t *testing.T) {
	text := `name: dirty
network: {bandwidth: 10Gbit, rtt: 0.1ms}
vms:
  - name: vm
    count: 4
    vm: {memory: 2GiB}
    workload: {generator: {kind: uniform, dirty_rate: 40000, working_set: 1GiB, duration: 60s}}
    model: {name: precopy}
`
	serial := runFleet(t, writeFleet(t, text), Options{})
	parallel := runFleet(t, writeFleet(t, text, "plan.max_concurrent=4"), Options{})
	if !(parallel.MakespanS > serial.MakespanS) {
		t.Errorf("all at once: makespan %.3f s, one by one %.3f s: want all at once longer", parallel.MakespanS, serial.MakespanS)
	}
	if !(parallel.TransferredBytes > serial.TransferredBytes) {
		t.Errorf("all at once sent %d bytes, one by one %d: want more", parallel.TransferredBytes, serial.TransferredBytes)
	}
	for _, r := range []*Result{serial, parallel} {
		var sum uint64
		for _, v := range r.VMs {
			sum += v.TransferredBytes
			if v.TransferredBytes < 2<<30*3/4 { // every non-zero page at least once
				t.Errorf("%s sent %d bytes, less than its memory", v.Name, v.TransferredBytes)
			}
		}
		if sum != r.TransferredBytes {
			t.Errorf("VMs sent %d bytes in all, the fleet says %d", sum, r.TransferredBytes)
		}
	}
}

// TestBadFleets: each mistake is an error naming file:line and the key,
// never a panic.
func TestBadFleets(t *testing.T) {
	base := `name: bad
hosts: [{name: a, nic: 10Gbit}, {name: b, nic: 10Gbit}]
network: {profile: lan-10g}
plan: {max_concurrent: 2}
vms:
  - name: web
    from: a
    to: b
    vm: {memory: 1GiB}
    model: {name: precopy}
`
	for _, c := range []struct {
		name, old, new string
		sets           []string
		want           string
	}{
		{"unknown host", "from: a", "from: c", nil, `fleet.yaml:7: vms.web.from: unknown host "c"`},
		{"count 0", "    from: a", "    count: 0\n    from: a", nil, `fleet.yaml:7: vms.web.count: "0": want a whole number of VMs from 1`},
		{"from is to", "to: b", "to: a", nil, `fleet.yaml:8: vms.web.to: the VM would migrate from "a" to itself`},
		{"key of another model", "model: {name: precopy}", "model: {name: postcopy, downtime_limit: 1s}", nil, `fleet.yaml:10: vms.web.model.downtime_limit: unknown key for model postcopy`},
		{"unknown order", "plan: {max_concurrent: 2}", "plan: {max_concurrent: 2, order: random}", nil, `fleet.yaml:4: plan.order: unknown order "random"`},
		{"cap below 1", "plan: {max_concurrent: 2}", "plan: {max_concurrent: 0}", nil, `fleet.yaml:4: plan.max_concurrent: "0": want a whole number, at least 1`},
		{"flag cap below 1", "", "", []string{"plan.max_concurrent=0"}, `--set plan.max_concurrent: "0": want a whole number, at least 1`},
		{"flag count 0", "", "", []string{"vms.web.count=0"}, `--set vms.web.count: "0"`},
		{"flag unknown entry", "", "", []string{"vms.db.count=2"}, `--set vms.db.count: no vms entry is named "db"`},
		{"bad VM value", "vm: {memory: 1GiB}", "vm: {memory: lots}", nil, `fleet.yaml:9: vms.web.vm.memory:`},
		{"unknown fleet key", "name: bad", "name: bad\nplna: {}", nil, `fleet.yaml:2: plna: unknown fleet key (did you mean plan?)`},
		{"unknown VM key", "    from: a", "    form: a\n    from: a", nil, `fleet.yaml:7: vms.web.form: unknown VM key (did you mean from?)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fleet.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(base, c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, c.sets)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if got := strings.ReplaceAll(err.Error(), filepath.Dir(path)+"/", ""); !strings.Contains(got, c.want) {
				t.Errorf("error %q, want it to contain %q", got, c.want)
			}
		})
	}
}

// TestOverrides: --set reaches fleet keys and each entry's VMs.
func TestOverrides(t *testing.T) {
	f := writeFleet(t, idleVMs, "vms.vm.count=12", "plan.max_concurrent=4", "vms.vm.model.downtime_limit=1s", "vms.vm.vm.memory=2GiB", "network.bandwidth=25Gbit")
	if len(f.VMs) != 12 || f.Plan.MaxConcurrent != 4 {
		t.Fatalf("%d VMs, max_concurrent %d; want 12 and 4", len(f.VMs), f.Plan.MaxConcurrent)
	}
	v := f.VMs[11]
	if v.Name != "vm-12" || v.Spec.Seed != 12 || v.Spec.VM.Memory != 2<<30 || float64(v.Spec.Network.Bandwidth) != 25e9 {
		t.Errorf("last VM %s seed %d memory %v bandwidth %v", v.Name, v.Spec.Seed, v.Spec.VM.Memory, v.Spec.Network.Bandwidth)
	}
	if v.From != DefaultSource || v.To != DefaultDestination || len(f.Hosts) != 2 {
		t.Errorf("hosts %v, VM from %s to %s", f.Hosts, v.From, v.To)
	}
}

// mixed is a small host drain where the order matters: VMs of different
// sizes and dirty rates.
const mixed = `name: mixed
seed: 3
network: {profile: lan-10g}
plan: {max_concurrent: 3, order: optimize}
vms:
  - {name: big, vm: {memory: 4GiB}, workload: {generator: {kind: uniform, dirty_rate: 60000, working_set: 1GiB, duration: 60s}}}
  - {name: small, count: 3, vm: {memory: 1GiB}, workload: {generator: {kind: hotcold, dirty_rate: 20000, working_set: 256MiB, duration: 60s}}}
  - {name: idle, count: 2, vm: {memory: 2GiB}, workload: {generator: {kind: idle}}}
`

// TestOptimizeNeverWorse: the planner's plan is never worse than fifo or
// smallest_first on the same fleet, and the same seed gives the same
// plan.
func TestOptimizeNeverWorse(t *testing.T) {
	f := writeFleet(t, mixed)
	ctx := context.Background()
	res, err := Optimize(ctx, f, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{OrderFIFO, OrderSmallestFirst} {
		plain := runFleet(t, f, Options{Order: f.orderBy(o)})
		if len(res.VMsNotConverged) > len(plain.VMsNotConverged) ||
			(len(res.VMsNotConverged) == len(plain.VMsNotConverged) && res.MakespanS > plain.MakespanS) {
			t.Errorf("optimize: makespan %.3f s, %d unconverged; %s: %.3f s, %d", res.MakespanS, len(res.VMsNotConverged), o, plain.MakespanS, len(plain.VMsNotConverged))
		}
	}
	p := res.Planner
	if p == nil || p.Evaluations == 0 || p.Evaluations > 60 || p.MakespanS != res.MakespanS {
		t.Fatalf("planner report %+v", p)
	}
	// A baseline may be shorter only by leaving more VMs that miss (not
	// converged, or over their downtime limit).
	missed := func(notConverged, over int) int { return notConverged + over }
	plan := missed(p.NotConverged, p.OverDowntimeLimit)
	for name, b := range map[string]Baseline{"fifo": p.FIFO, "one at a time": p.OneAtATime} {
		if m := missed(b.NotConverged, b.OverDowntimeLimit); m < plan || (m == plan && b.MakespanS < p.MakespanS) {
			t.Errorf("report: plan %.3f s with %d missed; %s %.3f s with %d", p.MakespanS, plan, name, b.MakespanS, m)
		}
	}
	again, err := Optimize(ctx, f, 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Order, again.MaxConcurrent, again.MakespanS) != fmt.Sprint(res.Order, res.MaxConcurrent, res.MakespanS) {
		t.Errorf("not deterministic: %v at %d (%.6f s), then %v at %d (%.6f s)", res.Order, res.MaxConcurrent, res.MakespanS, again.Order, again.MaxConcurrent, again.MakespanS)
	}
}

// TestHostCaps: per-host caps hold, and a cap that lets nothing start is
// not a hang.
func TestHostCaps(t *testing.T) {
	text := `name: caps
network: {bandwidth: 10Gbit, rtt: 0}
hosts: [{name: a, nic: 10Gbit}, {name: b, nic: 10Gbit}, {name: c, nic: 10Gbit}]
plan: {max_concurrent: 4, max_outbound_per_host: 1, max_inbound_per_host: 2}
vms:
  - {name: x, count: 3, from: a, to: c, vm: {memory: 512MiB}, workload: {generator: {kind: idle}}}
  - {name: y, count: 3, from: b, to: c, vm: {memory: 512MiB}, workload: {generator: {kind: idle}}}
`
	res := runFleet(t, writeFleet(t, text), Options{})
	if res.PeakConcurrency != 2 {
		t.Errorf("peak concurrency %d, want 2 (one out of each source)", res.PeakConcurrency)
	}
	for i, a := range res.VMs {
		for _, b := range res.VMs[i+1:] {
			overlap := a.StartS < b.EndS && b.StartS < a.EndS
			if overlap && a.From == b.From {
				t.Errorf("%s and %s leave %s at once", a.Name, b.Name, a.From)
			}
		}
	}
}

// TestShippedFleets loads and runs every fleet under scenarios/fleets.
func TestShippedFleets(t *testing.T) {
	files, err := filepath.Glob("../scenarios/fleets/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("found %v (%v), want the shipped fleets", files, err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.VMs) != len(f.VMs) || res.MakespanS <= 0 {
				t.Errorf("%d results for %d VMs, makespan %v", len(res.VMs), len(f.VMs), res.MakespanS)
			}
		})
	}
}

// TestOnTimeoutPostcopy: a pre-copy that cannot converge is aborted at
// its max_time under on_timeout abort, and switched to post-copy there
// (and completes) under on_timeout postcopy.
func TestOnTimeoutPostcopy(t *testing.T) {
	text := `name: stuck
network: {bandwidth: 1Gbit, rtt: 0.2ms}
vms:
  - name: db
    vm: {memory: 2GiB}
    workload: {generator: {kind: uniform, dirty_rate: 100000, working_set: 1GiB, duration: 600s}}
    model: {name: precopy, max_time: 30s}
`
	aborted := runFleet(t, writeFleet(t, text), Options{}).VMs[0]
	if aborted.Completed || aborted.StopReason != "max_time" || aborted.TotalTimeS != 30 || aborted.Converged {
		t.Errorf("abort: %+v, want not completed at max_time after 30 s", aborted)
	}
	switched := runFleet(t, writeFleet(t, text, "plan.on_timeout=postcopy"), Options{}).VMs[0]
	if !switched.Completed || switched.StopReason != "postcopy" || !(switched.TotalTimeS > 30) || !switched.Converged {
		t.Errorf("postcopy: %+v, want completed by post-copy after the 30 s switch", switched)
	}
	if !(switched.TransferredBytes > aborted.TransferredBytes) {
		t.Errorf("the switched migration sent %d bytes, the aborted one %d", switched.TransferredBytes, aborted.TransferredBytes)
	}
}

// TestKeysDocumented: every key the loader takes is in Keys.
func TestKeysDocumented(t *testing.T) {
	doc := map[string]bool{}
	for _, k := range Keys() {
		doc[k.Key] = true
		if k.Doc == "" || k.Unit == "" {
			t.Errorf("key %s has no doc or unit", k.Key)
		}
	}
	var want []string
	want = append(want, fleetKeys...)
	for _, k := range vmEntryKeys {
		if k != "vm" && k != "workload" && k != "model" && k != "calibration" {
			want = append(want, "vms[]."+k)
		}
	}
	for _, k := range planKeys {
		want = append(want, "plan."+k)
	}
	for _, k := range want {
		if !doc[k] && k != "plan" {
			t.Errorf("key %s is not documented in Keys", k)
		}
	}
}

// TestScheduleClosedForm: when the network's bandwidth halves under two
// idle VMs sharing one path, each goes at half the first rate until the
// change and half the new one after it; a VM that starts later sees the
// bandwidth of its start, the schedule counting from the fleet's start;
// a listed host's NIC does not follow the schedule, a host only named
// does.
func TestScheduleClosedForm(t *testing.T) {
	const change = 0.5 // s
	sched := "network: {bandwidth: 10Gbit, rtt: 0, bandwidth_schedule: [{at: 500ms, bandwidth: 5Gbit}]}"
	fleet := strings.Replace(idleVMs, "network: {bandwidth: 10Gbit, rtt: 0}", sched, 1)
	one := writeFleet(t, idleVMs, "vms.vm.count=1")
	alone := runFleet(t, one, Options{}).VMs[0].TotalTimeS
	setup := 0.010
	wire := (alone - setup) * 10e9 // bits a VM puts on the wire

	together := runFleet(t, writeFleet(t, fleet, "vms.vm.count=2", "plan.max_concurrent=2"), Options{})
	want := change + (wire-5e9*(change-setup))/2.5e9
	for _, v := range together.VMs {
		if !relClose(v.TotalTimeS, want, 0.01) {
			t.Errorf("%s: %.4f s, want %.4f s (5 Gbit each to %.1f s, then 2.5)", v.Name, v.TotalTimeS, want, change)
		}
	}
	// One at a time: the first crosses the change, the second starts
	// after it and runs at 5 Gbit throughout.
	serial := runFleet(t, writeFleet(t, fleet, "vms.vm.count=2"), Options{})
	first := change + (wire-10e9*(change-setup))/5e9
	second := setup + wire/5e9
	if v := serial.VMs; !relClose(v[0].TotalTimeS, first, 0.01) || !relClose(v[1].TotalTimeS, second, 0.01) {
		t.Errorf("one at a time: %.4f s and %.4f s, want %.4f s and %.4f s", v[0].TotalTimeS, v[1].TotalTimeS, first, second)
	}
	// The network doubles: listed 10 Gbit NICs hold the VM to 10 Gbit,
	// hosts only named follow the network to 20.
	up := strings.Replace(idleVMs, "network: {bandwidth: 10Gbit, rtt: 0}", "network: {bandwidth: 10Gbit, rtt: 0, bandwidth_schedule: [{at: 1ms, bandwidth: 20Gbit}]}", 1)
	named := runFleet(t, writeFleet(t, up, "vms.vm.count=1"), Options{}).VMs[0].TotalTimeS
	listed := runFleet(t, writeFleet(t, strings.Replace(up, "vms:", "hosts: [{name: source, nic: 10Gbit}, {name: destination, nic: 10Gbit}]\nvms:", 1), "vms.vm.count=1", "vms.vm.from=source", "vms.vm.to=destination"), Options{}).VMs[0].TotalTimeS
	if !relClose(listed, alone, 1e-9) || !relClose(named, setup+wire/20e9, 0.01) {
		t.Errorf("network doubled: listed NICs %.4f s (want %.4f s as before), named hosts %.4f s (want %.4f s)", listed, alone, named, setup+wire/20e9)
	}
}
