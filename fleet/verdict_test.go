package fleet

import (
	"slices"
	"strings"
	"testing"
)

// TestNoProgressInFleet: pre-copy's early verdict (stop reason
// no_progress) ends a stuck migration in a fleet only once it is the
// fleet's last: while another runs or waits to start, the share it gets
// may still change. Alone, it stops as `migsim run` does.
func TestNoProgressInFleet(t *testing.T) {
	text := `name: stuck-and-web
network: {bandwidth: 1Gbit, rtt: 0.2ms}
vms:
  - name: db
    vm: {memory: 1GiB}
    workload: {generator: {kind: uniform, dirty_rate: 40000}}
    model: {name: precopy, max_time: 20m}
  - name: web
    vm: {memory: 1GiB}
    workload: {generator: {kind: uniform, dirty_rate: 1000}}
    model: {name: precopy}
`
	// One at a time, db first: web waits for it, so db runs to max_time.
	queued := runFleet(t, writeFleet(t, text), Options{})
	if db := queued.VMs[0]; db.StopReason != "max_time" || db.TotalTimeS != 1200 {
		t.Errorf("db before a waiting VM: %s after %.1f s, want max_time after 1200 s", db.StopReason, db.TotalTimeS)
	}
	// Both at once: web completes, then db is alone and stops early.
	both := runFleet(t, writeFleet(t, text, "plan.max_concurrent=2"), Options{})
	db, web := both.VMs[0], both.VMs[1]
	if !web.Completed {
		t.Fatalf("web: %s, want completed", web.StopReason)
	}
	if db.StopReason != "no_progress" || db.Completed || db.Converged || !(db.EndS > web.EndS) || !(db.TotalTimeS < 1200) {
		t.Errorf("db beside web: %s, completed %v, ends at %.1f s (web at %.1f s), want no_progress after web's end and before max_time",
			db.StopReason, db.Completed, db.EndS, web.EndS)
	}
	if both.Completed || len(both.VMsNotConverged) != 1 || both.VMsNotConverged[0] != "db" {
		t.Errorf("fleet completed %v, not converged %v, want not completed, db", both.Completed, both.VMsNotConverged)
	}
	// web converged as 'migsim run' says it (stop_reason downtime_met);
	// whether its downtime met the limit is a verdict of its own, and the
	// fleet's list says the same as the VM.
	if !web.Converged || web.StopReason != "downtime_met" {
		t.Errorf("web: converged %v (%s), want converged (downtime_met)", web.Converged, web.StopReason)
	}
	for _, v := range both.VMs {
		within := v.Completed && v.DowntimeS <= v.DowntimeLimitS
		listed := slices.Contains(both.VMsOverDowntimeLimit, v.Name)
		if v.DowntimeWithinLimit != within || listed != (v.Completed && !within) {
			t.Errorf("%s: downtime %.4f s, limit %.3f s, completed %v: downtime_within_limit %v, in vms_over_downtime_limit %v",
				v.Name, v.DowntimeS, v.DowntimeLimitS, v.Completed, v.DowntimeWithinLimit, listed)
		}
	}
	// Alone.
	alone := runFleet(t, writeFleet(t, text[:strings.Index(text, "  - name: web")]), Options{})
	if alone.VMs[0].StopReason != "no_progress" {
		t.Errorf("db alone: %s, want no_progress", alone.VMs[0].StopReason)
	}
}
