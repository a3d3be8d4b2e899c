package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCalibrateCmdUsage checks flag parsing of "calibrate" (built alone
// until the lead registers it); the fit itself is tested in validate.
func TestCalibrateCmdUsage(t *testing.T) {
	for _, args := range [][]string{
		{"results.json"},                      // no --suite, no -o
		{"results.json", "--suite", "s.yaml"}, // no -o
		{"--suite", "s.yaml", "-o", "p.yaml"}, // no results
	} {
		var out, errb bytes.Buffer
		cmd := newCalibrateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if code := exitCodeOf(cmd.ExecuteContext(context.Background())); code != exitUsage {
			t.Errorf("calibrate %q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
