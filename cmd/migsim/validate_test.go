package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/lab"
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

// TestValidateHostsFlag checks --hosts before anything runs: a missing
// hosts file is named, and --shaping netns with remote hosts is a usage
// error.
func TestValidateHostsFlag(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts.yaml")
	text := "source:\n  ssh: a\n  user: u\n  identity_file: k\ndestination:\n  ssh: b\n  user: u\n  identity_file: k\n  migration_address: 10.0.0.2\n"
	if err := os.WriteFile(hosts, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"run", "a.yaml", "--hosts", hosts, "--shaping", "netns"}, true, "--hosts local only"},
		{[]string{"suite", "s.yaml", "--hosts", hosts, "--shaping", "netns"}, true, "--hosts local only"},
		{[]string{"run", "a.yaml", "--hosts", hosts + ".missing"}, false, "hosts file"},
	} {
		var out, errb bytes.Buffer
		cmd := newValidateCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
		cmd.SetArgs(tc.args)
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.Execute()
		if err == nil || (exitCodeOf(err) == exitUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate %v: %v (exit %d), want usage error %v saying %q", tc.args, err, exitCodeOf(err), tc.usage, tc.want)
		}
	}
}

// TestValidateImage builds the boot kit of the lab's base scenario, which
// needs a kernel in /boot and builds the replayer with the go tool.
func TestValidateImage(t *testing.T) {
	if _, err := lab.FindKernel(); err != nil {
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
