package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestValidateFleetBadInput: usage errors exit 2; a fleet the lab cannot
// run, or a bad fleet file, exits 1 naming the file and the key before
// anything boots.
func TestValidateFleetBadInput(t *testing.T) {
	const fleet = "../../validate/suites/fleet-2vm.yaml"
	for _, tc := range []struct {
		args  []string
		usage bool
		want  []string
	}{
		{[]string{"fleet"}, true, []string{"accepts 1 arg"}},
		{[]string{"fleet", fleet, "-o", "csv"}, true, []string{"table, json"}},
		{[]string{"fleet", fleet, "--set", "vms.vm.model.name=parallel"}, false, []string{"fleet-2vm.yaml", "vms.vm.model.name", "precopy, postcopy and hybrid"}},
		{[]string{"fleet", fleet, "--set", "plan.on_timeout=postcopy"}, false, []string{"fleet-2vm.yaml", "plan.on_timeout"}},
		{[]string{"fleet", fleet, "--set", "network.loss=0.01"}, false, []string{"fleet-2vm.yaml", "network.loss"}},
		{[]string{"fleet", fleet, "--set", "plan.max_concurrent=0"}, false, []string{"--set plan.max_concurrent", "at least 1"}},
		{[]string{"fleet", "no-such-fleet.yaml"}, false, []string{"no-such-fleet.yaml"}},
	} {
		var out, errb bytes.Buffer
		cmd := newValidateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(tc.args)
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.Execute()
		if err == nil || (exitCodeOf(err) == exitUsage) != tc.usage {
			t.Errorf("validate %v: %v (exit %d), want an error, usage %v", tc.args, err, exitCodeOf(err), tc.usage)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("validate %v: %v, want it to say %q", tc.args, err, w)
			}
		}
	}
}
