package calibration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestBuiltin: every embedded profile parses and sets every fitted
// parameter; an unknown name is an error listing the built-in names.
func TestBuiltin(t *testing.T) {
	names := Names()
	if len(names) == 0 {
		t.Fatal("no built-in profile")
	}
	for _, n := range names {
		p, err := Builtin(n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != n {
			t.Errorf("profiles/%s.yaml is named %q", n, p.Name)
		}
		keys := p.ModelKeys()
		if p.BandwidthFactor <= 0 || p.LinkBandwidth <= 0 || keys["setup_time"] == nil || keys["resume_time"] == nil || keys["sync_time_per_gib"] == nil {
			t.Errorf("%s: not a full profile: %+v", n, p)
		}
	}
	_, err := Builtin("no-such-profile")
	if err == nil {
		t.Fatal("an unknown name resolved")
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %s", err, n)
		}
	}
}

// TestResolvePath: a value ending in .yaml is a file relative to dir; a
// bad file is an error naming it.
func TestResolvePath(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cal")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(sub, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mine.yaml", "name: mine\nsetup_time: 250ms\nlink_bandwidth: 5Gbit\n")
	p, err := Resolve("cal/mine.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mine" || p.SetupTime != 250*time.Millisecond || p.LinkBandwidth != 5*units.Gbit {
		t.Errorf("mine.yaml read as %+v", p)
	}
	if got := p.ModelKeys(); len(got) != 1 || got["setup_time"] != 250*time.Millisecond {
		t.Errorf("ModelKeys = %v, want only setup_time (the others are 0)", got)
	}
	if p.ScaleMaxBandwidth(100*units.Mbit, false) != 100*units.Mbit {
		t.Error("a profile without a factor scaled max_bandwidth")
	}
	write("typo.yml", "name: x\nsetup_tme: 1s\n")
	write("neg.yaml", "name: x\nresume_time: -1ms\n")
	for _, f := range []string{"typo.yml", "neg.yaml", "missing.yaml"} {
		if _, err := Resolve("cal/"+f, dir); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %v does not name the file", f, err)
		}
	}
}

func TestScaleMaxBandwidth(t *testing.T) {
	p := Profile{BandwidthFactor: 0.5}
	if got := p.ScaleMaxBandwidth(200*units.Mbit, false); got != 100*units.Mbit {
		t.Errorf("0.5 × 200 Mbit = %v", got)
	}
	if got := p.ScaleMaxBandwidth(200*units.Mbit, true); got != 100*units.Mbit {
		t.Errorf("multifd without its own factor: 0.5 × 200 Mbit = %v", got)
	}
	if got := p.ScaleMaxBandwidth(0, false); got != 0 {
		t.Errorf("no cap became %v", got)
	}
	p.MultifdBandwidthFactor = 1.25
	if got := p.ScaleMaxBandwidth(200*units.Mbit, true); got != 250*units.Mbit {
		t.Errorf("multifd: 1.25 × 200 Mbit = %v", got)
	}
	if got := p.ScaleMaxBandwidth(200*units.Mbit, false); got != 100*units.Mbit {
		t.Errorf("single stream with a multifd factor: 0.5 × 200 Mbit = %v", got)
	}
}
