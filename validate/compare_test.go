package validate

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// TestRunComparesOneCase runs the first case of the CI suite end to end:
// the real migration (checked as such: figures, verification, series), the
// achieved trace and the simulator. It is the package's one full run; the
// other lab test cancels a run midway.
func TestRunComparesOneCase(t *testing.T) {
	needLab(t)
	s, err := LoadSuite("suites/ci.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := s.Scenario(0)
	if err != nil {
		t.Fatal(err)
	}
	c := runCaseLink(t, spec, lab.LocalOptions{WorkDir: t.TempDir()}, 0)
	t.Logf("real: %+v; boot %.1fs, migration %.1fs, verify %.1fs, %d epoch reports",
		c.Real.Metrics, c.Real.BootS, c.Real.MigrationWallS, c.Real.VerifyS, len(c.Real.Epochs))
	checkCompared(t, c.Real, spec.VM.Memory, spec.Model.Params.(*models.PrecopyParams).MaxBandwidth)
	// The nine pre-copy metrics and dirty_pages_rate: a run of seconds
	// has QEMU measure sync periods.
	if c.Scenario != s.Cases[0].Name || len(c.Metrics) != 10 || c.Metrics[9].Name != DirtyRateMetric {
		t.Errorf("comparison of %q with %d metrics, want %q with 10, the last %s", c.Scenario, len(c.Metrics), s.Cases[0].Name, DirtyRateMetric)
	}
	if !c.Sim.Completed || c.Sim.Pages.Total != c.Real.GuestMemoryBytes/4096 {
		t.Errorf("simulated run: completed %v over %d pages, want a completed run over the guest's %d pages",
			c.Sim.Completed, c.Sim.Pages.Total, c.Real.GuestMemoryBytes/4096)
	}
	if c.AchievedDirtyRate <= 0 || c.AchievedDirtyRate > 1.5*c.NominalDirtyRate {
		t.Errorf("achieved dirty rate %.0f pages/s, want positive and at most 1.5 × the nominal %.0f", c.AchievedDirtyRate, c.NominalDirtyRate)
	}
	// The case ran over loopback: the simulator went over the rate the
	// link probe measured, faster than the live rounds' cap, and the
	// real downtime is the guest's (STOP to loaded), QEMU's own kept
	// apart. The guest's is usually 2-15 ms longer (it counts the bytes
	// still in the socket and the destination's loading), but QEMU's
	// clock starts before it stops the vCPUs and counts whole
	// milliseconds: on a loaded machine the guest's came out 0.6 ms
	// shorter (35.4 against 36 ms). So it is held to at least 80 % of
	// QEMU's less 2 ms; QEMU's figure kept apart (QEMUDowntimeS > 0)
	// shows that the guest's replaced it.
	if maxBw := float64(spec.Model.Params.(*models.PrecopyParams).MaxBandwidth); !(c.LinkBps > maxBw) {
		t.Errorf("simulated over a link of %v bit/s, want the probe's rate, above the live cap %v", c.LinkBps, maxBw)
	}
	if m := c.Real.Metrics; m.QEMUDowntimeS <= 0 || m.DowntimeS <= 0 || m.DowntimeS < 0.8*m.QEMUDowntimeS-0.002 {
		t.Errorf("real downtime %v s (QEMU's %v s): want the guest's STOP-to-loaded time beside QEMU's, not much shorter", m.DowntimeS, m.QEMUDowntimeS)
	}
}

func TestLoadSuiteRejectsUnknownKey(t *testing.T) {
	path := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(path, []byte("name: x\nbase: lab-base.yaml\ncases: [{name: a, sett: []}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSuite(path); err == nil || !strings.Contains(err.Error(), "sett") {
		t.Errorf("LoadSuite with a misspelt key: %v, want an error naming it", err)
	}
}

func TestSuiteCasesLoad(t *testing.T) {
	for _, f := range []string{"suites/ci.yaml", "suites/full.yaml", "suites/wide.yaml", "suites/threshold.yaml"} {
		s, err := LoadSuite(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.Cases {
			spec, err := s.Scenario(i)
			if err != nil {
				t.Errorf("%s case %s: %v", f, s.Cases[i].Name, err)
				continue
			}
			var _ *scenarios.Spec = spec
			if _, _, err := spec.Build(); err != nil {
				t.Errorf("%s case %s: %v", f, s.Cases[i].Name, err)
			}
			if _, err := labMigrationParams(spec); err != nil {
				t.Errorf("%s case %s: the lab cannot run it: %v", f, s.Cases[i].Name, err)
			}
		}
	}
}

// runCase runs spec for real and in the simulator with the lab options
// local (five minutes at most), logs the lab's progress and the table, and
// fails the test if the run fails.
func runCase(t *testing.T, spec *scenarios.Spec, local lab.LocalOptions) *Comparison {
	t.Helper()
	return runCaseLink(t, spec, local, -1)
}

// runCaseLink is runCase with the lab's link rate: 0 measures it with the
// link probe first (one more real migration), negative keeps the
// scenario's own (the tests that do not look at downtime).
func runCaseLink(t *testing.T, spec *scenarios.Spec, local lab.LocalOptions, linkBps float64) *Comparison {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	c, err := Run(ctx, spec, Options{Log: &log, Local: local, LinkBps: linkBps})
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	var tab strings.Builder
	if err := c.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + tab.String())
	return c
}

// migParamsOf returns the QEMU settings of model parameters p.
func migParamsOf[P any](t testing.TB, p P) lab.MigrationParams {
	t.Helper()
	m, err := MigrationParamsOf(&p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDirtyRateCompared: dirty_pages_rate compares QEMU's last reported
// period (a completed migration's final query-migrate says 0) with the
// simulator's, and is left out where QEMU measured no period.
func TestDirtyRateCompared(t *testing.T) {
	sim := &models.Result{DirtyPagesRate: 5800}
	find := func(ms []MetricError) *MetricError {
		for i := range ms {
			if ms[i].Name == DirtyRateMetric {
				return &ms[i]
			}
		}
		return nil
	}
	real := &lab.RealRun{Series: []lab.MigrateSample{{DirtyPagesRate: 0}, {DirtyPagesRate: 5331}, {DirtyPagesRate: 6014}, {Status: "completed"}}}
	m := find(compareRun(real, sim, lab.MigrationParams{}))
	if m == nil || m.Real != 6014 || m.Sim != 5800 || math.Abs(m.RelErr-(5800.0/6014-1)) > 1e-12 {
		t.Errorf("dirty_pages_rate %+v, want real 6014 (the last period's), sim 5800", m)
	}
	if m := find(compareRun(&lab.RealRun{Series: []lab.MigrateSample{{}, {}}}, sim, lab.MigrationParams{})); m != nil {
		t.Errorf("dirty_pages_rate %+v compared where QEMU measured no period", m)
	}
	if err := checkThresholds([]Threshold{{Metric: DirtyRateMetric, Median: 0.1}}); err != nil {
		t.Errorf("a gate on dirty_pages_rate: %v", err)
	}
}
