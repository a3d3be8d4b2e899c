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
