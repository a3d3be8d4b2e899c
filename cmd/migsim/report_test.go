package main

import (
	"encoding/csv"
	"strings"
	"testing"
)

// What does not apply reads n/a in the table and is an empty cell in CSV,
// never a 0 that reads as a measurement.
func TestNotApplicableOutputs(t *testing.T) {
	timedOut := []string{examples + "nonconverging.yaml", "--set", "model.max_time=5s"}
	out, _, _ := migsim(t, append([]string{"run"}, timedOut...)...)
	if !strings.Contains(out, "downtime     n/a (the guest was never stopped)") {
		t.Errorf("table of a migration that did not complete:\n%s", out)
	}
	out, _, _ = migsim(t, append([]string{"run", "-o", "csv"}, timedOut...)...)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head, total := rows[0], rows[len(rows)-1]
	for i, h := range head {
		if h == "downtime_s" && total[i] != "" {
			t.Errorf("total row's downtime_s = %q, want empty", total[i])
		}
		if h == "stop_reason" && total[i] != "max_time" {
			t.Errorf("total row's stop_reason = %q", total[i])
		}
	}
	post := []string{"run", examples + "postcopy.yaml", "--set", "vm.memory=256MiB", "--set", "workload.generator.working_set=128MiB"}
	out, stderr, code := migsim(t, post...)
	if code != exitOK || !strings.Contains(out, "dirty rate   n/a (no pre-copy round)") || !strings.Contains(out, "result       completed (postcopy)") {
		t.Errorf("post-copy table: exit %d, %s\n%s", code, stderr, out)
	}
}
