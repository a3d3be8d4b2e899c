package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestValidateGateExitCodes: results recorded at load 4 pass the CI
// suite's gate (exit 0); the run recorded at load 10-15 crosses it
// (exit 3, each crossed threshold printed).
func TestValidateGateExitCodes(t *testing.T) {
	for _, tc := range []struct {
		results string
		want    exitCode
		say     string
	}{
		{"../../validate/testdata/ci-results-load4.json", exitOK, "gate passed"},
		{"../../validate/testdata/ci-results-load15.json", exitAccuracy, "GATE FAILED: total_time_s"},
	} {
		var out, errb bytes.Buffer
		code := execute(context.Background(), []string{"validate", "gate", "../../validate/suites/ci.yaml", tc.results}, streams{in: strings.NewReader(""), out: &out, err: &errb})
		if code != tc.want || !strings.Contains(errb.String(), tc.say) {
			t.Errorf("validate gate %s: exit %d, stderr:\n%s\nwant exit %d saying %q", tc.results, code, errb.String(), tc.want, tc.say)
		}
	}
}
