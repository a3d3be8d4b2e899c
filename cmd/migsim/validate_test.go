package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/validate"
)

func TestValidateUsage(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"suite"}, {"run", "a.yaml", "-o", "csv"}, {"nope"}} {
		var out, errb bytes.Buffer
		cmd := newValidateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.Execute()
		if exitCodeOf(err) != exitUsage {
			t.Errorf("validate %v: %v (exit %d), want a usage error", args, err, exitCodeOf(err))
		}
	}
}

// TestValidateImage builds the boot kit of the lab's base scenario, which
// needs a kernel in /boot and builds the replayer with the go tool.
func TestValidateImage(t *testing.T) {
	if _, err := validate.FindKernel(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	var out, errb bytes.Buffer
	cmd := newValidateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
	cmd.SetArgs([]string{"image", "../../validate/suites/lab-base.yaml", "--cache-dir", t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "initramfs: ") || !strings.Contains(s, "(built)") {
		t.Errorf("output %q, want the paths of a built image", s)
	}
}
