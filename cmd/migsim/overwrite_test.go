package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/internal/flock"
)

// smallTrace is the --set flags of a trace that generates in a blink.
var smallTrace = []string{"--set", "workload.generator.duration=1s", "--set", "vm.memory=64MiB", "--set", "workload.generator.working_set=16MiB"}

// TestNoSilentOverwrite: trace gen -o, trace import -o, plot -o and run
// --plot refuse an existing file unless --force, and leave it untouched
// (issue 20, item 6).
func TestNoSilentOverwrite(t *testing.T) {
	dir := t.TempDir()
	mine := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	untouched := func(p string) {
		t.Helper()
		if b, _ := os.ReadFile(p); string(b) != "mine" {
			t.Errorf("%s was replaced", p)
		}
	}
	mgt := mine("x.mgt")
	_, stderr, code := migsim(t, append([]string{"trace", "gen", "-o", mgt}, smallTrace...)...)
	if code != exitError || !strings.Contains(stderr, "trace gen: "+mgt+" exists: refusing to replace it (pass --force to overwrite it)") {
		t.Errorf("trace gen over a file: exit %d, %s", code, stderr)
	}
	untouched(mgt)
	if _, stderr, code := migsim(t, append([]string{"trace", "gen", "-o", mgt, "--force"}, smallTrace...)...); code != exitOK {
		t.Fatalf("trace gen --force: exit %d, %s", code, stderr)
	}
	if b, _ := os.ReadFile(mgt); string(b) == "mine" {
		t.Errorf("trace gen --force did not replace %s", mgt)
	}

	txt := writeFile(t, dir, "in.txt", "version: 1\npage_size: 4096\nmemory: 64KiB\nepoch: 10ms\n0,w,1-3\n")
	out := mine("imported.mgt")
	if _, stderr, code := migsim(t, "trace", "import", txt, "-o", out); code != exitError || !strings.Contains(stderr, "exists: refusing to replace it") {
		t.Errorf("trace import over a file: exit %d, %s", code, stderr)
	}
	untouched(out)

	png := mine("rounds.png")
	_, stderr, code = migsim(t, "run", "--plot", png)
	if code != exitError || !strings.Contains(stderr, png+" exists: refusing to replace it") {
		t.Errorf("run --plot over a file: exit %d, %s", code, stderr)
	}
	untouched(png)
	if _, stderr, code := migsim(t, "run", "--plot", png, "--force"); code != exitOK {
		t.Errorf("run --plot --force: exit %d, %s", code, stderr)
	}

	res := filepath.Join(dir, "res.json")
	stdout, _, _ := migsim(t, "run", "-o", "json")
	os.WriteFile(res, []byte(stdout), 0o644)
	fig := mine("fig.svg")
	if _, stderr, code := migsim(t, "plot", res, "-o", fig); code != exitError || !strings.Contains(stderr, fig+" exists: refusing to replace it") {
		t.Errorf("plot over a file: exit %d, %s", code, stderr)
	}
	untouched(fig)
	if _, stderr, code := migsim(t, "plot", res, "-o", fig, "--force"); code != exitOK {
		t.Errorf("plot --force: exit %d, %s", code, stderr)
	}
}

// TestStaleOutputTempsRemoved: the temporary file a trace gen killed
// while writing left behind (".x.mgt.123.tmp") is removed by the next
// write of the same file (issue 20, item 9); one another process is still
// writing (locked) is not.
func TestStaleOutputTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	mgt := filepath.Join(dir, "x.mgt")
	stale := writeFile(t, dir, ".x.mgt.123456.tmp", "left by kill -9")
	live := writeFile(t, dir, ".x.mgt.777.tmp", "being written")
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ok, err := flock.TryLock(f); !ok || err != nil {
		t.Fatalf("locking %s: %v %v", live, ok, err)
	}
	other := writeFile(t, dir, ".y.mgt.1.tmp", "another file's")
	if _, stderr, code := migsim(t, append([]string{"trace", "gen", "-o", mgt}, smallTrace...)...); code != exitOK {
		t.Fatalf("trace gen: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s is still there", stale)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".x.mgt.*.tmp"))
	if len(left) != 1 {
		t.Errorf("temporary files left: %v, want only %s", left, live)
	}
}
