package validate

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/units"
)

// loadLabFleet loads suites/fleet-2vm.yaml with overrides.
func loadLabFleet(t *testing.T, sets ...string) *fleet.Spec {
	t.Helper()
	f, err := fleet.Load("suites/fleet-2vm.yaml", sets)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCheckFleetLab: the example fleet is runnable, its link is the
// lesser of the path and the two NICs, and every fleet the lab cannot run
// is refused before anything boots, with an error naming the key.
func TestCheckFleetLab(t *testing.T) {
	fl, err := checkFleetLab(loadLabFleet(t))
	if err != nil {
		t.Fatal(err)
	}
	if fl.from != "a" || fl.to != "b" || fl.shape.Bandwidth != 200*units.Mbit || fl.shape.RTT != time.Millisecond || len(fl.migs) != 2 {
		t.Errorf("fleet-2vm: %s to %s over %+v with %d migrations, want a to b over 200 Mbit/s, 1 ms, 2 migrations", fl.from, fl.to, fl.shape, len(fl.migs))
	}
	if fl.migs[0].MaxBandwidth != 0 || fl.migs[0].DowntimeLimit != 300*time.Millisecond {
		t.Errorf("migration settings %+v, want no max-bandwidth and a 300 ms downtime limit", fl.migs[0])
	}
	// A NIC slower than the path is the link.
	fl, err = checkFleetLab(loadLabFleet(t, "hosts=[{name: a, nic: 100Mbit}, {name: b, nic: 1Gbit}]"))
	if err != nil {
		t.Fatal(err)
	}
	if fl.shape.Bandwidth != 100*units.Mbit {
		t.Errorf("source NIC 100 Mbit/s: link %v, want 100Mbit", fl.shape.Bandwidth)
	}

	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"vms.vm.model.name=parallel"}, "vms.vm.model.name"},
		{[]string{"plan.bandwidth_per_migration=50Mbit"}, "plan.bandwidth_per_migration"},
		{[]string{"plan.on_timeout=postcopy"}, "plan.on_timeout"},
		{[]string{"network.loss=0.001"}, "network.loss"},
		{[]string{"vms.vm.vm.page_size=8KiB"}, "vms.vm.vm.page_size"},
		// The profile's link rate would replace the path's.
		{[]string{"vms.vm.calibration=local-tcg", "network={profile: lan-1g}"}, "vms.vm.calibration"},
	} {
		_, err := checkFleetLab(loadLabFleet(t, tc.sets...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.sets, err, tc.want)
		}
	}

	// A calibration that leaves the fleet's own network.bandwidth alone is
	// the simulator's business, as in a lone run.
	if _, err := checkFleetLab(loadLabFleet(t, "vms.vm.calibration=local-tcg")); err != nil {
		t.Errorf("calibrated fleet with its own network.bandwidth: %v", err)
	}

	// Two host pairs: the lab has one link.
	path := filepath.Join(t.TempDir(), "pairs.yaml")
	data := `name: pairs
network: {bandwidth: 200Mbit, rtt: 1ms}
vms:
  - {name: x, from: a, to: b, vm: {memory: 128MiB}, workload: {generator: {kind: idle}}, model: {name: precopy}}
  - {name: y, from: c, to: b, vm: {memory: 128MiB}, workload: {generator: {kind: idle}}, model: {name: precopy}}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkFleetLab(f); err == nil || !strings.Contains(err.Error(), "vms.y.from/to") {
		t.Errorf("two host pairs: error %v, want one naming vms.y.from/to", err)
	}
}

// TestFleetMetrics: bytes are the RAM stream on both sides, and the mean
// bandwidth is those bytes over the total time.
func TestFleetMetrics(t *testing.T) {
	real := lab.RealMetrics{TotalTimeS: 10, DowntimeS: 0.2, TransferredBytes: 100 << 20}
	sim := fleet.VMResult{TotalTimeS: 8, DowntimeS: 0.1, TransferredBytes: 100<<20 + 256<<10}
	got := map[string]MetricError{}
	for _, m := range fleetMetrics(real, sim, 256<<10) {
		got[m.Name] = m
	}
	want := map[string][2]float64{
		"total_time_s":       {10, 8},
		"downtime_s":         {0.2, 0.1},
		"transferred_bytes":  {100 << 20, 100 << 20},
		"mean_bandwidth_bps": {100 << 20 * 8 / 10.0, 100 << 20 * 8 / 8.0},
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want %d", got, len(want))
	}
	for name, w := range want {
		m := got[name]
		if math.Abs(m.Real-w[0]) > 1e-9*w[0] || math.Abs(m.Sim-w[1]) > 1e-9*w[1] {
			t.Errorf("%s: real %v sim %v, want %v %v", name, m.Real, m.Sim, w[0], w[1])
		}
	}
}

// TestSuiteFleetsLoad: every fleet case of the suites loads and is one
// the lab can run.
func TestSuiteFleetsLoad(t *testing.T) {
	for _, file := range []string{"suites/ci.yaml", "suites/full.yaml"} {
		s, err := LoadSuite(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range s.Fleets {
			f, err := s.Fleet(i)
			if err != nil {
				t.Errorf("%s fleet %s: %v", file, c.Name, err)
				continue
			}
			if f.Name != c.Name {
				t.Errorf("%s fleet %s: named %q", file, c.Name, f.Name)
			}
			if _, err := checkFleetLab(f); err != nil {
				t.Errorf("%s fleet %s: the lab cannot run it: %v", file, c.Name, err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte("name: x\nbase: lab-base.yaml\nfleets: [{name: f}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSuite(path); err == nil || !strings.Contains(err.Error(), "fleets[0].file") {
		t.Errorf("a fleet case without a file: %v, want an error naming fleets[0].file", err)
	}
}

// TestRunFleetAgreesWithSimulator migrates the two guests of
// suites/fleet-2vm.yaml for real, at once over one 200 Mbit/s link, and
// holds each VM's real total time to the fleet simulator's on the traces
// the guests achieved.
//
// Measured at load 14-19 on this 2-core TCG machine (5 runs, 10 VMs;
// validate/README.md, "Fleets"): real total time 25-36 s against the
// simulator's 23 s, errors −7 % to −36 %, always short: QEMU's TCG
// migration threads, starved of CPU, keep the link 80-95 % busy, and
// setup takes 0.6-1.8 s where the model spends 10 ms. Bytes −5 % to −15 %.
// Hence bounds of 45 % on total time and 25 % on bytes. They still catch
// a simulator that ignored the sharing: each VM alone over the link
// simulates in 8.8-9.2 s, −65 % to −75 % off; so the test also requires
// the real migrations to take at least twice their simulated time alone
// (measured 2.9-4.1 times; 2.6 simulated), and the tbf to have held the
// two together to the link.
func TestRunFleetAgreesWithSimulator(t *testing.T) {
	needLab(t)
	needRoot(t)
	f := loadLabFleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// A burst of the host's other work starves QEMU's migration threads,
	// which only ever slows them: a run whose times or bytes miss (or
	// whose migrate commands a starved test process sent late) runs once
	// more, as the gate re-runs a case. The checks that no load explains
	// are made on every run.
	labtest.Measure(t, 2, func(a *labtest.Attempt) {
		var log strings.Builder
		work := t.TempDir()
		c, err := RunFleet(ctx, f, Options{Log: &log, Local: lab.LocalOptions{WorkDir: work}})
		t.Log(log.String())
		if err != nil {
			t.Fatal(err)
		}
		var tab strings.Builder
		if err := c.WriteTable(&tab); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + tab.String())
		labtest.CheckNothingLeft(t, work)
		if ns := lab.OwnNamespaces(); len(ns) > 0 {
			t.Errorf("namespaces left after the fleet: %v", ns)
		}
		if len(c.VMs) != 2 || c.MaxConcurrent != 2 || c.Sim == nil || c.Sim.PeakConcurrency != 2 {
			t.Fatalf("%d VMs, %d at once (simulated peak %v), want 2 and 2", len(c.VMs), c.MaxConcurrent, c.Sim)
		}
		link := float64(c.Network.Bandwidth)
		sum := 0.0
		for _, v := range c.VMs {
			checkCompared(t, v.Real, 128*units.MiB, c.Network.Bandwidth)
			if v.RealStartS > 0.5 {
				a.Errorf("%s: migrate command %.3f s after the first, want both at once", v.Name, v.RealStartS)
			}
			m := map[string]MetricError{}
			for _, x := range v.Metrics {
				m[x.Name] = x
			}
			if e := m["total_time_s"]; math.Abs(e.RelErr) > 0.45 {
				a.Errorf("%s: total time real %.2f s, simulated %.2f s (%+.1f%%): want within 45 %%", v.Name, e.Real, e.Sim, 100*e.RelErr)
			}
			if e := m["transferred_bytes"]; math.Abs(e.RelErr) > 0.25 {
				a.Errorf("%s: bytes real %.0f, simulated %.0f (%+.1f%%): want within 25 %%", v.Name, e.Real, e.Sim, 100*e.RelErr)
			}
			if real := v.Real.Metrics.TotalTimeS; real < 2*v.AloneTotalTimeS {
				t.Errorf("%s: real total time %.2f s, under twice the %.2f s it simulates alone over the link: the link was not shared", v.Name, real, v.AloneTotalTimeS)
			}
			sum += m["mean_bandwidth_bps"].Real
		}
		if sum > 1.05*link {
			t.Errorf("the two migrations together averaged %.1f Mbit/s, above the %.0f Mbit/s link", sum/1e6, link/1e6)
		}
	})
}

// TestRunFleetCancelLeavesNothing cancels a fleet while both of its
// migrations cross an 8 Mbit/s link: no QEMU process, work-dir file or
// network namespace of the fleet is left.
func TestRunFleetCancelLeavesNothing(t *testing.T) {
	needLab(t)
	needRoot(t)
	f := loadLabFleet(t, "network.bandwidth=8Mbit", "vms.vm.vm.memory=64MiB", "vms.vm.workload.generator.working_set=16MiB")
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := labtest.StartUntilMigrating(t, func(log io.Writer) error {
		_, err := RunFleet(ctx, f, Options{Log: log, Local: lab.LocalOptions{Options: lab.Options{Warmup: 200 * time.Millisecond}, WorkDir: work}})
		return err
	})
	time.Sleep(time.Second)
	if ps := labtest.Processes(t, work); len(ps) != 4 {
		t.Errorf("mid-migration: want the fleet's 4 QEMU processes running, found %v", ps)
	}
	if ns := lab.OwnNamespaces(); len(ns) != 2 {
		t.Errorf("mid-migration: want the fleet's 2 namespaces, found %v", ns)
	}
	labtest.CancelAndWait(t, cancel, done, 60*time.Second)
	labtest.CheckNothingLeft(t, work)
	if ns := lab.OwnNamespaces(); len(ns) > 0 {
		t.Errorf("namespaces left after cancel: %v", ns)
	}
}
