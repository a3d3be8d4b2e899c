package models_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/migsim/migsim/models"
)

// TestThrottleEnginesAgree: the page and fluid engines step the
// auto-converge throttle to the same percentages at the same syncs, under
// both sync policies and with tailslow: the step times within 1 % of the
// run (both engines' rounds end at the same syncs give or take a
// page-level wobble), the same sequence of percentages.
func TestThrottleEnginesAgree(t *testing.T) {
	dir := t.TempDir()
	// A 64 MiB guest writing 60,000 pages/s uniformly over its memory
	// behind a 100 Mbit/s link (~3,000 pages/s): auto-converge must take
	// the throttle to 90 % and more before it converges.
	file := filepath.Join(dir, "ac.yaml")
	yaml := "vm: {memory: 64MiB}\nnetwork: {bandwidth: 1Gbit}\nworkload: {generator: {kind: uniform, dirty_rate: 60000}}\n" +
		"model: {max_time: 200s, downtime_limit: 300ms, max_bandwidth: 100Mbit, auto_converge: true}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]string{
		nil,
		{"model.sync_policy=qemu"},
		{"model.cpu_throttle_tailslow=true"},
		{"model.sync_policy=qemu", "model.cpu_throttle_tailslow=true"},
		{"workload.cpu_demand=0.2"},
	} {
		c := fluidCase{kind: "uniform", variant: fmt.Sprint(v), network: "1g", file: file, sets: v}
		page := fluidRunCase(t, c, models.EnginePage, 1)
		fluid := fluidRunCase(t, c, models.EngineFluid, 1)
		if page == nil || fluid == nil {
			continue
		}
		ps, fs := page.ThrottleSteps(), fluid.ThrottleSteps()
		t.Logf("%v: page %d steps to %v %%, converged %v at %.1f s; fluid %d to %v %%, %v at %.1f s",
			v, len(ps), page.ThrottlePct, page.Converged, page.TotalTimeS, len(fs), fluid.ThrottlePct, fluid.Converged, fluid.TotalTimeS)
		if len(ps) < 5 {
			t.Errorf("%v: page engine stepped %d times: %v; the case needs several", v, len(ps), ps)
		}
		if len(ps) != len(fs) {
			t.Errorf("%v: page steps %v, fluid %v", v, ps, fs)
			continue
		}
		for i := range ps {
			if ps[i].Pct != fs[i].Pct || math.Abs(ps[i].TimeS-fs[i].TimeS) > 0.01*page.TotalTimeS {
				t.Errorf("%v: step %d page %+v, fluid %+v", v, i, ps[i], fs[i])
			}
		}
	}
}

// TestPacedGuestUnderThrottle: a paced guest (workload.cpu_demand below 1)
// keeps its pace while the throttle leaves it its demand, so auto-converge
// must throttle harder and longer than for a CPU-bound guest of the same
// rate: the throttle it ends at and the migration's time grow as the
// demand falls, on both engines.
func TestPacedGuestUnderThrottle(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ac.yaml")
	yaml := "vm: {memory: 1GiB}\nnetwork: {profile: lan-1g}\nworkload: {generator: {kind: uniform, dirty_rate: 40000, working_set: 512MiB}}\n" +
		"model: {auto_converge: true, max_time: 300s}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range []models.Engine{models.EnginePage, models.EngineFluid} {
		var prev *models.Result
		for _, d := range []string{"1", "0.5", "0.1"} {
			c := fluidCase{kind: "uniform", variant: "cpu_demand " + d, network: "lan-1g", file: file, sets: []string{"workload.cpu_demand=" + d}}
			r := fluidRunCase(t, c, e, 1)
			if r == nil {
				return
			}
			if !r.Converged {
				t.Errorf("%s, cpu_demand %s: %s, want it to converge", e, d, r.StopReason)
			}
			if prev != nil && (r.ThrottlePct <= prev.ThrottlePct || r.TotalTimeS <= prev.TotalTimeS) {
				t.Errorf("%s, cpu_demand %s: throttle %v %%, %.2f s; want more than at the higher demand (%v %%, %.2f s)", e, d, r.ThrottlePct, r.TotalTimeS, prev.ThrottlePct, prev.TotalTimeS)
			}
			prev = r
		}
	}
}
