package advise

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// load writes a scenario and loads it with sets.
func load(t *testing.T, yaml string, sets ...string) (*scenarios.Spec, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := scenarios.Load(path, sets)
	if err != nil {
		t.Fatal(err)
	}
	return spec, path
}

// db64 is the capacity-planning case: a 64 GiB database that
// dirties 2 GB/s over 10 Gbit/s.
const db64 = `name: db64
vm: {memory: 64GiB, vcpus: 8}
workload: {generator: {kind: uniform, dirty_rate: 2GB/s}}
network: {profile: lan-10g}
model: {name: precopy}
`

func option(t *testing.T, rep *Report, name string) *Option {
	t.Helper()
	for i := range rep.Options {
		if rep.Options[i].Name == name {
			return &rep.Options[i]
		}
	}
	t.Fatalf("no option %s", name)
	return nil
}

// The database cannot converge by plain pre-copy; advice must
// find options that meet 300 ms within 10 minutes: auto-converge,
// multifd with zstd and post-copy among them, each on the engine auto
// picks, ranked by total time.
func TestAdviseDatabase(t *testing.T) {
	base, _ := load(t, db64)
	rep, err := Advise(context.Background(), base, Limits{MaxDowntime: 300 * time.Millisecond, MaxTime: 10 * time.Minute}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"as-is", "downtime-limit"} {
		if o := option(t, rep, name); o.Meets || o.StopReason != "no_progress" || o.WhyNot == "" {
			t.Errorf("%s: meets %v, stop %s, why not %q; want plain pre-copy to fail for no progress", name, o.Meets, o.StopReason, o.WhyNot)
		}
	}
	for _, name := range []string{"auto-converge", "multifd-8-zstd", "postcopy"} {
		o := option(t, rep, name)
		if !o.Meets || !o.Completed || o.DowntimeS == nil || *o.DowntimeS > 0.3 || o.TotalTimeS > 600 {
			t.Errorf("%s: meets %v (%s), want it to meet the limits", name, o.Meets, o.WhyNot)
		}
	}
	engines := map[string]string{"auto-converge": "fluid", "multifd-8-zstd": "fluid", "xbzrle": "fluid", "postcopy": "fluid", "hybrid": "fluid"}
	for name, want := range engines {
		o := option(t, rep, name)
		if o.Engine != want || (want == "page") != (o.EngineFallback != "") {
			t.Errorf("%s: engine %q (fallback %q), want %s", name, o.Engine, o.EngineFallback, want)
		}
	}
	if rep.Meeting < 3 {
		t.Fatalf("%d options meet the limits, want at least 3", rep.Meeting)
	}
	for i, o := range rep.Options {
		switch {
		case i < rep.Meeting && (!o.Meets || o.Rank != i+1):
			t.Errorf("option %d (%s): meets %v, rank %d", i, o.Name, o.Meets, o.Rank)
		case i >= rep.Meeting && (o.Meets || o.Rank != 0):
			t.Errorf("option %d (%s) after the %d that meet: meets %v, rank %d", i, o.Name, rep.Meeting, o.Meets, o.Rank)
		case i > 0 && i < rep.Meeting && o.TotalTimeS < rep.Options[i-1].TotalTimeS:
			t.Errorf("rank %d (%s, %.1f s) is faster than rank %d (%.1f s)", o.Rank, o.Name, o.TotalTimeS, i, rep.Options[i-1].TotalTimeS)
		}
	}
	if len(rep.NoneCan) == 0 || !strings.Contains(strings.Join(rep.NoneCan, "\n"), "pre-copy alone") {
		t.Errorf("none_can %q: want it to say that pre-copy alone does not meet the limits", rep.NoneCan)
	}
}

// small is a 1 GiB guest over 1 Gbit/s dirtying faster than the link:
// cheap on both engines.
const small = `name: small
vm: {memory: 1GiB}
workload: {generator: {kind: hotcold, dirty_rate: 40000}}
network: {profile: lan-1g}
model: {name: precopy}
`

// When nothing meets the limits the report says so, and what came
// closest: here no option can stop the guest for under 1 ms, since
// resuming alone takes 5 ms.
func TestAdviseNothingWorks(t *testing.T) {
	base, _ := load(t, small)
	rep, err := Advise(context.Background(), base, Limits{MaxDowntime: time.Millisecond, MaxTime: 5 * time.Minute}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Meeting != 0 {
		t.Fatalf("%d options meet a 1 ms downtime", rep.Meeting)
	}
	for _, o := range rep.Options {
		if o.Meets || o.WhyNot == "" || o.Rank != 0 {
			t.Errorf("%s: meets %v, rank %d, why not %q", o.Name, o.Meets, o.Rank, o.WhyNot)
		}
	}
	if len(rep.NoneCan) != 2 || !strings.HasPrefix(rep.NoneCan[0], "meet the limits: no option completes") ||
		!strings.Contains(rep.NoneCan[1], "least downtime") {
		t.Errorf("none_can %q: want that nothing meets the limits and the least downtime reached", rep.NoneCan)
	}
}

// The report is the same whatever the number of workers.
func TestAdviseDeterministic(t *testing.T) {
	base, _ := load(t, small)
	lim := Limits{MaxDowntime: 300 * time.Millisecond, MaxTime: 5 * time.Minute}
	var outs [][]byte
	for _, w := range []int{1, 3} {
		rep, err := Advise(context.Background(), base, lim, Options{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rep)
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("1 worker and 3 workers give different reports:\n%s\n%s", outs[0], outs[1])
	}
}

// Each candidate's settings, given to the scenario with --set, resolve to
// the candidate's model section, so that the user can run it; the
// downtime-limit is the limit less the stop's fixed costs.
func TestCandidateSettingsReproduce(t *testing.T) {
	base, path := load(t, small)
	lim := Limits{MaxDowntime: 300 * time.Millisecond, MaxTime: 5 * time.Minute}
	cands, err := Candidates(base, lim)
	if err != nil {
		t.Fatal(err)
	}
	// One sync of 1 GiB (100 µs), resume 5 ms, RTT 0.2 ms, the device
	// state over 1 Gbit/s.
	dev := time.Duration(float64(base.VM.DeviceState) * 8 / 1e9 * 1e9)
	fixed := 100*time.Microsecond + 5*time.Millisecond + 200*time.Microsecond + dev
	if dev <= 0 {
		t.Fatalf("device state %v: the case should count it", base.VM.DeviceState)
	}
	wantDL := (300*time.Millisecond - fixed).Truncate(time.Millisecond)
	var names []string
	for _, c := range cands {
		names = append(names, c.Name)
		sets := append(slices.Clone(c.Settings), "model.engine=auto", "model.max_time=5m")
		spec, err := scenarios.Load(path, sets)
		if err != nil {
			t.Errorf("%s: --set %v: %v", c.Name, c.Settings, err)
			continue
		}
		got, _ := spec.ResolvedJSON()
		want, _ := c.Spec.ResolvedJSON()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: --set %v resolves to\n%s\nwant\n%s", c.Name, c.Settings, got, want)
		}
		if p, _ := models.PartsOf(c.Spec.Model.Params); c.Name != "as-is" && c.Name != "postcopy" && p.Rounds.DowntimeLimit != wantDL {
			t.Errorf("%s: downtime_limit %v, want %v", c.Name, p.Rounds.DowntimeLimit, wantDL)
		}
	}
	want := []string{"as-is", "downtime-limit", "auto-converge", "multifd-4", "multifd-8", "multifd-8-zstd", "auto-converge+zstd", "xbzrle", "postcopy", "hybrid"}
	if !slices.Equal(names, want) {
		t.Errorf("candidates %v, want %v (no max-bandwidth without a cap)", names, want)
	}
}

// A candidate that resolves to an earlier one's settings is left out,
// and max-bandwidth appears when the scenario caps the rounds.
func TestCandidateSet(t *testing.T) {
	base, _ := load(t, small, "model.auto_converge=true", "model.max_bandwidth=500Mbit", "model.downtime_limit=290ms")
	cands, err := Candidates(base, Limits{MaxDowntime: 300 * time.Millisecond, MaxTime: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cands {
		names = append(names, c.Name)
	}
	// downtime-limit and auto-converge are the scenario as it is (290 ms
	// is 300 ms less the stop's fixed costs), auto-converge+zstd is
	// multifd-8-zstd.
	want := []string{"as-is", "multifd-4", "multifd-8", "multifd-8-zstd", "xbzrle", "max-bandwidth", "postcopy", "hybrid"}
	if !slices.Equal(names, want) {
		t.Errorf("candidates %v, want %v", names, want)
	}
	if _, err := Candidates(base, Limits{}); err == nil {
		t.Error("no downtime limit: no error")
	}
}

// Ranking by slowdown puts the gentlest option first.
func TestAdviseRankBySlowdown(t *testing.T) {
	base, _ := load(t, small)
	rep, err := Advise(context.Background(), base, Limits{MaxDowntime: 300 * time.Millisecond, MaxTime: 5 * time.Minute}, Options{RankBy: RankSlowdown})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Meeting < 2 {
		t.Fatalf("%d options meet the limits, want at least 2", rep.Meeting)
	}
	for i := 1; i < rep.Meeting; i++ {
		if a, b := rep.Options[i-1], rep.Options[i]; a.GuestSlowdown > b.GuestSlowdown {
			t.Errorf("rank %d (%s) slows the guest by %.3f, rank %d (%s) by %.3f", a.Rank, a.Name, a.GuestSlowdown, b.Rank, b.Name, b.GuestSlowdown)
		}
	}
	if _, err := Advise(context.Background(), base, Limits{MaxDowntime: time.Second}, Options{RankBy: "speed"}); err == nil {
		t.Error("rank speed: no error")
	}
}
