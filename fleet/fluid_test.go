package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/scenarios"
)

// TestOneVMFleetIsAFluidRun: on the fluid engine too, a fleet of one VM
// gives the numbers 'migsim run' gives, exactly: its passes go through
// the shared network's Send and re-plans like the page engine's.
func TestOneVMFleetIsAFluidRun(t *testing.T) {
	for _, model := range []string{
		"{name: precopy, engine: fluid}",
		"{name: precopy, engine: fluid, sync_policy: qemu, max_bandwidth: 2Gbit}",
		"{name: precopy, engine: fluid, multifd: {channels: 4}}",
		"{name: precopy, engine: auto, auto_converge: true}",
	} {
		t.Run(model, func(t *testing.T) {
			vm := "vm: {memory: 1GiB}\n    workload: {generator: {kind: hotcold, dirty_rate: 20000, working_set: 256MiB, duration: 20s}}\n    model: " + model
			f := writeFleet(t, "name: one\nseed: 7\nnetwork: {profile: metro}\nvms:\n  - name: db\n    "+vm+"\n")
			got := runFleet(t, f, Options{})
			scen := filepath.Join(t.TempDir(), "db.yaml")
			text := "name: db\nseed: 7\nnetwork: {profile: metro}\n" + strings.ReplaceAll(vm, "\n    ", "\n")
			if err := os.WriteFile(scen, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			spec, err := scenarios.Load(scen, nil)
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
			if want.Engine != "fluid" {
				t.Fatalf("the run used engine %q, want fluid", want.Engine)
			}
			v := got.VMs[0]
			if v.TotalTimeS != want.TotalTimeS || v.DowntimeS != want.DowntimeS || v.TransferredBytes != want.TransferredBytes || v.StopReason != want.StopReason.String() {
				t.Errorf("fleet of one: total %v s, downtime %v s, %d bytes, %s; run: %v s, %v s, %d bytes, %s",
					v.TotalTimeS, v.DowntimeS, v.TransferredBytes, v.StopReason, want.TotalTimeS, want.DowntimeS, want.TransferredBytes, want.StopReason)
			}
		})
	}
}

// TestFluidFleetMatchesPage: eight VMs sharing a 10 Gbit host link four
// at a time (their shares change at every start and end) give, on the
// fluid engine, the page engine's makespan, bytes and worst downtime
// within 1 %, and the same VMs converge.
func TestFluidFleetMatchesPage(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: eight\nseed: 3\nnetwork: {profile: lan-10g}\nhosts: [{name: s, nic: 10Gbit}, {name: d, nic: 10Gbit}]\nplan: {max_concurrent: 4}\nvms:\n")
	kinds := []string{"hotcold", "uniform", "zipf", "sequential"}
	for i := range 8 {
		fmt.Fprintf(&b, "  - {name: vm%d, from: s, to: d, vm: {memory: %dMiB}, workload: {generator: {kind: %s, dirty_rate: %d, working_set: 128MiB}}}\n",
			i, 256*(1+i%3), kinds[i%len(kinds)], 15000+5000*(i%4))
	}
	page := runFleet(t, writeFleet(t, b.String()), Options{})
	fluid := runFleet(t, writeFleet(t, b.String(), "vms.vm0.model.engine=fluid", "vms.vm1.model.engine=fluid",
		"vms.vm2.model.engine=fluid", "vms.vm3.model.engine=fluid", "vms.vm4.model.engine=fluid",
		"vms.vm5.model.engine=fluid", "vms.vm6.model.engine=fluid", "vms.vm7.model.engine=fluid"), Options{})
	t.Logf("makespan page %.4f s, fluid %.4f s; bytes %d, %d; worst downtime %.2f ms, %.2f ms",
		page.MakespanS, fluid.MakespanS, page.TransferredBytes, fluid.TransferredBytes, 1e3*page.WorstDowntimeS, 1e3*fluid.WorstDowntimeS)
	if !relClose(page.MakespanS, fluid.MakespanS, 0.01) || !relClose(float64(page.TransferredBytes), float64(fluid.TransferredBytes), 0.01) ||
		!relClose(page.WorstDowntimeS, fluid.WorstDowntimeS, 0.02) {
		t.Errorf("fluid fleet differs from the page fleet by more than 1 %% (2 %% for downtime)")
	}
	if fmt.Sprint(page.VMsNotConverged) != fmt.Sprint(fluid.VMsNotConverged) {
		t.Errorf("not converged: page %v, fluid %v", page.VMsNotConverged, fluid.VMsNotConverged)
	}
}

// TestFluidPostcopyFleetMatchesPage: four post-copy VMs, two hybrid and
// two pre-copy ones sharing a 10 Gbit host link four at a time, the
// post-copy pushes following their share as it changes, give on the
// fluid engine the page engine's makespan, bytes and each VM's total time
// within 1 % and downtime within 2 %.
func TestFluidPostcopyFleetMatchesPage(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: eight\nseed: 3\nnetwork: {profile: lan-10g}\nhosts: [{name: s, nic: 10Gbit}, {name: d, nic: 10Gbit}]\nplan: {max_concurrent: 4}\nvms:\n")
	kinds := []string{"hotcold", "uniform", "zipf"}
	orders := []string{"none", "forward", "bubbling"}
	for i := range 8 {
		model := fmt.Sprintf("{name: postcopy, prepaging: %s}", orders[i%len(orders)])
		kind := kinds[i%len(kinds)]
		switch i % 4 {
		case 2:
			model = "{name: hybrid, downtime_limit: 10ms}"
			kind = "hotcold" // the fluid engine does not cover a zipf hybrid
		case 3:
			model = "{name: precopy}"
		}
		fmt.Fprintf(&b, "  - {name: vm%d, from: s, to: d, vm: {memory: %dMiB}, workload: {generator: {kind: %s, dirty_rate: %d, working_set: 128MiB}}, model: %s}\n",
			i, 256*(1+i%3), kind, 15000+5000*(i%4), model)
	}
	checkFleetEngines(t, b.String(), 8)
}

// checkFleetEngines runs the fleet text describes, whose VMs are vm0 ...
// vm<n-1>, with every VM on the page engine and then on the fluid one:
// the fleet's makespan and bytes, and each VM's total time, within 1 %,
// its downtime within 2 %, the same model and completion, and every VM
// on fluid.
func checkFleetEngines(t *testing.T, text string, n int) {
	t.Helper()
	var page, fluid []string
	for i := range n {
		page = append(page, fmt.Sprintf("vms.vm%d.model.engine=page", i))
		fluid = append(fluid, fmt.Sprintf("vms.vm%d.model.engine=fluid", i))
	}
	p := runFleet(t, writeFleet(t, text, page...), Options{})
	f := runFleet(t, writeFleet(t, text, fluid...), Options{})
	t.Logf("makespan page %.4f s, fluid %.4f s; bytes %d, %d", p.MakespanS, f.MakespanS, p.TransferredBytes, f.TransferredBytes)
	if !relClose(p.MakespanS, f.MakespanS, 0.01) || !relClose(float64(p.TransferredBytes), float64(f.TransferredBytes), 0.01) {
		t.Errorf("fluid fleet differs from the page fleet by more than 1 %%")
	}
	for i := range p.VMs {
		pv, fv := p.VMs[i], f.VMs[i]
		t.Logf("%s: page %.4f s, %.2f ms; fluid %.4f s, %.2f ms", pv.Name, pv.TotalTimeS, 1e3*pv.DowntimeS, fv.TotalTimeS, 1e3*fv.DowntimeS)
		if fv.Engine != "fluid" || pv.Model != fv.Model || !relClose(pv.TotalTimeS, fv.TotalTimeS, 0.01) || !relClose(pv.DowntimeS, fv.DowntimeS, 0.02) || pv.Completed != fv.Completed {
			t.Errorf("%s (%s): page %.4f s, downtime %.2f ms; fluid (%s) %.4f s, %.2f ms", pv.Name, pv.Model, pv.TotalTimeS, 1e3*pv.DowntimeS, fv.Engine, fv.TotalTimeS, 1e3*fv.DowntimeS)
		}
	}
}

// TestFluidPostcopyOptionsFleetMatchesPage runs six post-copy VMs whose
// push has what the fluid post-copy gained last (multifd channels,
// postcopy_preempt, a cap whose rate-limit windows requests wait for,
// cpu_bound, the balloon and the page cache left to the SAN) three at a
// time on one 10 Gbit/s link, on each engine: the fleet's makespan and
// bytes, and each VM's time and downtime, within 1 % (2 %) of the page
// engine's, and every VM on fluid.
func TestFluidPostcopyOptionsFleetMatchesPage(t *testing.T) {
	models := []string{
		"{name: postcopy, prepaging: forward, multifd: {channels: 2}}",
		"{name: postcopy, postcopy_preempt: true}",
		"{name: postcopy, max_postcopy_bandwidth: 2Gbit}",
		"{name: postcopy, cpu_bound: true, costs: {copy: 10us}}",
		"{name: postcopy, prepaging: bubbling, balloon: {enabled: true}}",
		"{name: hybrid, downtime_limit: 10ms, pagecache: {mode: skip}}",
	}
	var b strings.Builder
	b.WriteString("name: six\nseed: 5\nnetwork: {profile: lan-10g}\nhosts: [{name: s, nic: 10Gbit}, {name: d, nic: 10Gbit}]\nplan: {max_concurrent: 3}\nvms:\n")
	for i, m := range models {
		fmt.Fprintf(&b, "  - {name: vm%d, from: s, to: d, vm: {memory: %dMiB}, workload: {generator: {kind: hotcold, dirty_rate: %d, free_fraction: 0.2, pagecache_fraction: 0.1}}, model: %s}\n",
			i, 256*(1+i%2), 20000+5000*(i%3), m)
	}
	checkFleetEngines(t, b.String(), len(models))
}

// engineDrain writes a fleet of vms VMs like BenchmarkDrain200's (mixed
// 4-32 GiB, hotcold, zipf and idle, lan-25g, conc at once from one host)
// whose models run on engine, and loads it.
func engineDrain(tb testing.TB, vms, conc int, engine string) *Spec {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: drain-%d\nseed: 1\nnetwork: {profile: lan-25g}\nplan: {max_concurrent: %d}\nhosts: [{name: s, nic: 25Gbit}, {name: d, nic: 25Gbit}]\nvms:\n", vms, conc)
	sizes := []int{4, 8, 16, 32}
	kinds := []string{
		"{kind: hotcold, dirty_rate: 20000, working_set: %dGiB, duration: 120s}",
		"{kind: zipf, dirty_rate: 40000, working_set: %dGiB, duration: 120s}",
		"{kind: idle}",
	}
	for i := range vms {
		gib := sizes[i%len(sizes)]
		gen := kinds[i%len(kinds)]
		if strings.Contains(gen, "%d") {
			gen = fmt.Sprintf(gen, max(1, gib/4))
		}
		fmt.Fprintf(&b, "  - {name: vm%d, from: s, to: d, vm: {memory: %dGiB}, workload: {generator: %s}, model: {engine: %s}}\n", i, gib, gen, engine)
	}
	path := filepath.Join(tb.TempDir(), "drain.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := Load(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// BenchmarkDrain200Engines is BenchmarkDrain200's host drain on each
// engine: page, and auto (every VM here runs fluid).
func BenchmarkDrain200Engines(b *testing.B) {
	for _, engine := range []string{"page", "auto"} {
		b.Run(engine, func(b *testing.B) {
			f := engineDrain(b, 200, 8, engine)
			for b.Loop() {
				res, err := Run(context.Background(), f, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.MakespanS, "makespan_s")
			}
		})
	}
}

// TestDrainEnginesAgree: the drain's makespan, bytes and worst downtime
// on auto (fluid) are the page engine's within 1 % (2 % for downtime),
// on a 24-VM version of it.
func TestDrainEnginesAgree(t *testing.T) {
	page := runFleet(t, engineDrain(t, 24, 8, "page"), Options{})
	auto := runFleet(t, engineDrain(t, 24, 8, "auto"), Options{})
	t.Logf("makespan page %.3f s, auto %.3f s; bytes %d, %d; worst downtime %.2f ms, %.2f ms",
		page.MakespanS, auto.MakespanS, page.TransferredBytes, auto.TransferredBytes, 1e3*page.WorstDowntimeS, 1e3*auto.WorstDowntimeS)
	if !relClose(page.MakespanS, auto.MakespanS, 0.01) || !relClose(float64(page.TransferredBytes), float64(auto.TransferredBytes), 0.01) ||
		!relClose(page.WorstDowntimeS, auto.WorstDowntimeS, 0.02) {
		t.Errorf("auto differs from page by more than 1 %% (2 %% for downtime)")
	}
}
