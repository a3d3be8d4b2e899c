package scenarios

import (
	"strings"
	"testing"
)

// TestSweepAliasInAxisValue: a YAML alias inside an axis value (issue 20,
// item 1) is expanded to its target, not sized from the alias node, which
// panicked.
func TestSweepAliasInAxisValue(t *testing.T) {
	sw := loadSweep(t, `name: a
grid:
  network.bandwidth_schedule:
    - [&s {at: 0s, bandwidth: 1Gbit}]
    - [*s, {at: 1s, bandwidth: 2Gbit}]
`)
	want := []string{
		"network.bandwidth_schedule=[{at: 0s, bandwidth: 1Gbit}]",
		"network.bandwidth_schedule=[{at: 0s, bandwidth: 1Gbit}, {at: 1s, bandwidth: 2Gbit}]",
	}
	for i, w := range want {
		if got := strings.Join(sw.Points[i].Sets, " "); got != w {
			t.Errorf("point %d sets %q, want %q", i, got, w)
		}
	}
	if n := len(sw.Points[1].Spec.Network.BandwidthSchedule); n != 2 {
		t.Errorf("point 1 has %d schedule steps, want 2", n)
	}
}

// TestSweepFlowBase: a sweep written as one YAML flow mapping honours its
// base (issue 20, item 4), wherever base stands among the keys and over
// several lines, and errors in the base keep their lines.
func TestSweepFlowBase(t *testing.T) {
	for _, text := range []string{
		`{name: f, base: {seed: 3, vm: {memory: 1GiB}}, grid: {model.downtime_limit: [100ms, 200ms]}}`,
		`{name: f, grid: {model.downtime_limit: [100ms, 200ms]}, base: {seed: 3, vm: {memory: 1GiB}}}`,
		`{name: f, grid: {model.downtime_limit: [100ms, 200ms]}, base: {seed: 3, vm: {memory: 1GiB}}} # a comment`,
		"{name: f,\n base: {seed: 3,\n   vm: {memory: 1GiB}}, grid: {model.downtime_limit: [100ms, 200ms]}}",
		"name: f\nbase: {seed: 3, vm: {memory: 1GiB}}\ngrid: {model.downtime_limit: [100ms, 200ms]}",
	} {
		sw := loadSweep(t, text)
		for _, p := range sw.Points {
			if p.Spec.Seed != 3 || p.Spec.VM.Memory != 1<<30 || p.Spec.Name != "f" {
				t.Errorf("%q: point %d runs seed %d, memory %v, name %q; want the base's seed 3, 1GiB, f",
					text, p.Index, p.Spec.Seed, p.Spec.VM.Memory, p.Spec.Name)
			}
		}
	}
	_, err := LoadSweep(writeSweep(t, "{name: f,\n base: {seed: 3,\n   vm: {memory: 1GiB, vcpus: x}}, grid: {model.downtime_limit: [1s]}}"), nil)
	if err == nil || !strings.Contains(err.Error(), "sweep.yaml:3: vm.vcpus: want an integer") {
		t.Errorf("error %v, want it at line 3, vm.vcpus", err)
	}
}
