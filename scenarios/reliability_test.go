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
