package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/scenarios"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSweep(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sweep.yaml")
	writeFile(t, path, text)
	return path
}

func loadSweep(t *testing.T, text string, sets ...string) *Spec {
	t.Helper()
	sw, err := Load(writeSweep(t, text), sets)
	if err != nil {
		t.Fatal(err)
	}
	return sw
}

// small is an inline base that loads fast.
const small = `base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 1000, working_set: 16MiB, duration: 1s}
`

// TestSweepExpansion checks the order of points (grid keys first, the
// first slowest; then zip; repeat fastest), the overrides and the typed
// columns.
func TestSweepExpansion(t *testing.T) {
	sw := loadSweep(t, small+`seed: 1
grid:
  model.name: [precopy, postcopy]
  network.bandwidth: [1Gbit, 10Gbit, 25Gbit]
zip:
  vm.memory: [64MiB, 128MiB]
  network.rtt: [1ms, 0.5ms]
repeat: 2
`)
	if n := len(sw.Points); n != 2*3*2*2 {
		t.Fatalf("%d points, want 24", n)
	}
	var cols []string
	for _, a := range sw.Axes {
		cols = append(cols, a.Column+":"+string(a.Type)+":"+a.Kind)
	}
	want := []string{"model.name:string:grid", "network.bandwidth_bps:float:grid", "vm.memory_bytes:int:zip",
		"network.rtt_s:float:zip", "seed:int:repeat"}
	if !slices.Equal(cols, want) {
		t.Errorf("axes %v, want %v", cols, want)
	}
	p := sw.Points[7] // precopy, 10Gbit, zip step 1, seed 2
	wantSets := []string{"model.name=precopy", "network.bandwidth=10Gbit", "vm.memory=128MiB", "network.rtt=0.5ms", "seed=2"}
	if !slices.Equal(p.Sets, wantSets) {
		t.Errorf("point 7 sets %v, want %v", p.Sets, wantSets)
	}
	wantCols := []any{"precopy", 1e10, int64(128 << 20), 0.0005, int64(2)}
	if fmt.Sprint(p.Columns) != fmt.Sprint(wantCols) {
		t.Errorf("point 7 columns %v, want %v", p.Columns, wantCols)
	}
	if p.Spec.Seed != 2 || p.Spec.VM.Memory != 128<<20 || p.Spec.Network.RTT != 500*time.Microsecond || p.Spec.Name != "sweep" {
		t.Errorf("point 7 spec %+v", p.Spec)
	}
	if last := sw.Points[23]; last.Spec.Model.Name != "postcopy" || last.Columns[1] != 25e9 {
		t.Errorf("last point %v", last.Sets)
	}
	ids := map[string]int{}
	for i, p := range sw.Points {
		if p.Index != i || len(p.ID) != 16 {
			t.Errorf("point %d: index %d, id %q", i, p.Index, p.ID)
		}
		if j, dup := ids[p.ID]; dup {
			t.Errorf("points %d and %d share ID %s", j, i, p.ID)
		}
		ids[p.ID] = i
	}

	// The same file gives the same points; a reformatted one too.
	again := loadSweep(t, small+"\n# a comment\nseed: 1\ngrid: {model.name: [precopy, postcopy], network.bandwidth: [1Gbit, 10Gbit, 25Gbit]}\n"+
		"zip: {vm.memory: [64MiB, 128MiB], network.rtt: [1ms, 0.5ms]}\nrepeat: 2\n")
	if again.Fingerprint != sw.Fingerprint || again.Points[7].ID != p.ID {
		t.Errorf("reformatted sweep has fingerprint %s, want %s", again.Fingerprint, sw.Fingerprint)
	}
}

// TestSweepSamples checks random and latin samples: in range, seeded,
// and for latin one value per stratum.
func TestSweepSamples(t *testing.T) {
	text := small + `seed: 9
random:
  n: 40
  keys:
    workload.generator.dirty_rate: {min: 100, max: 100000, log: true}
    model.name: {values: [precopy, hybrid]}
latin:
  n: 10
  keys:
    network.bandwidth: {min: 1Gbit, max: 11Gbit}
    model.downtime_limit: {min: 10ms, max: 1s}
    vm.vcpus: {min: 1, max: 8}
`
	sw := loadSweep(t, text)
	if len(sw.Points) != 400 {
		t.Fatalf("%d points, want 40 × 10", len(sw.Points))
	}
	names := map[any]int{}
	strata := map[int]bool{}
	for i, p := range sw.Points {
		rate := p.Columns[0].(float64)
		if rate < 100 || rate > 100000 {
			t.Errorf("point %d: dirty rate %v outside [100, 100000]", i, rate)
		}
		names[p.Columns[1]]++
		bw := p.Columns[2].(float64)
		if bw < 1e9 || bw > 11e9 {
			t.Errorf("point %d: bandwidth %v outside the range", i, bw)
		}
		if i < 10 {
			strata[int((bw-1e9)/1e9)] = true
		}
		if d := p.Spec.Model.Params; d == nil {
			t.Errorf("point %d has no model parameters", i)
		}
		if v := p.Columns[4].(int64); v < 1 || v > 8 {
			t.Errorf("point %d: vcpus %d outside [1, 8]", i, v)
		}
	}
	if len(strata) != 10 {
		t.Errorf("latin bandwidths of the first 10 points fall in %d of 10 strata", len(strata))
	}
	if names["precopy"] == 0 || names["hybrid"] == 0 {
		t.Errorf("random model names %v: want both", names)
	}
	other := loadSweep(t, strings.Replace(text, "seed: 9", "seed: 10", 1))
	again := loadSweep(t, text)
	if other.Fingerprint == sw.Fingerprint || again.Fingerprint != sw.Fingerprint {
		t.Errorf("fingerprints: seed 9 %s, again %s, seed 10 %s: want the seed, and only it, to change the samples",
			sw.Fingerprint, again.Fingerprint, other.Fingerprint)
	}
}

// TestSweepBase checks a base file (relative to the sweep file), a base
// inline, no base, and --set applied to every point.
func TestSweepBase(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "base.yaml"), "name: mybase\nseed: 5\nvm: {memory: 64MiB}\nworkload:\n  generator: {kind: uniform, dirty_rate: 100, working_set: 16MiB, duration: 1s}\n")
	if err := os.Mkdir(filepath.Join(dir, "sweeps"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sweeps", "s.yaml")
	writeFile(t, path, "base: ../base.yaml\ngrid: {network.profile: [lan-1g, metro]}\nrepeat: 2\n")
	sw, err := Load(path, []string{"vm.vcpus=3"})
	if err != nil {
		t.Fatal(err)
	}
	p := sw.Points[3]
	if p.Spec.Name != "mybase" || p.Spec.Seed != 6 || p.Spec.VM.VCPUs != 3 || p.Spec.Network.Profile != "metro" || sw.Name != "s" {
		t.Errorf("point 3: %+v (sweep %s)", p.Spec, sw.Name)
	}
	if sw.Points[2].Columns[1] != int64(5) {
		t.Errorf("repeat seeds start at %v, want the base's 5", sw.Points[2].Columns[1])
	}

	none := loadSweep(t, "name: bare\ngrid: {model.downtime_limit: [100ms, 1s]}\n")
	if got := none.Points[1].Spec; got.Name != "bare" || got.VM.Memory != scenarios.DefaultSpec().VM.Memory {
		t.Errorf("sweep without a base: %+v", got)
	}
}

// TestSweepErrors checks that bad sweep files fail before anything runs,
// with the file, line, block and key.
func TestSweepErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		sets       []string
		want       []string // parts of the error, after the file name
	}{
		{"unknown key on an axis", small + "grid:\n  model.downtim_limit: [1s, 2s]\n",
			nil, []string{":6: grid model.downtim_limit: unknown key: no model has it (did you mean downtime_limit?)"}},
		{"unknown section on an axis", small + "grid:\n  netwrk.rtt: [1ms]\n",
			nil, []string{":6: grid netwrk.rtt: unknown key (did you mean network?)"}},
		{"key of another model", small + "grid:\n  model.name: [precopy, postcopy]\n  model.max_rounds: [5]\n",
			nil, []string{":7: grid model.max_rounds: unknown key for model postcopy", "(value 5 at point 1)"}},
		{"bad value", small + "zip:\n  model.downtime_limit: [30ms, 3]\n  network.rtt: [1ms, 2ms]\n",
			nil, []string{`:6: zip model.downtime_limit: duration "3" has no unit`, "(value 3 at point 1)"}},
		{"empty axis", small + "grid:\n  network.bandwidth: []\n",
			nil, []string{":6: grid network.bandwidth: empty axis"}},
		{"empty block", small + "grid: {}\n", nil, []string{":5: grid: empty block"}},
		{"duplicate key on an axis", small + "grid:\n  network.rtt: [1ms]\n  \"network.rtt \": [2ms]\n",
			nil, []string{":7: grid network.rtt: duplicate key (first at line 6)"}},
		{"duplicate key in a sample", small + "random:\n  n: 3\n  keys:\n    network.rtt: {min: 1ms, max: 2ms}\n    \"network.rtt \": {min: 1ms, max: 2ms}\n",
			nil, []string{":9: random network.rtt: duplicate key (first at line 8)"}},
		{"not a list", small + "grid:\n  network.bandwidth: 10Gbit\n",
			nil, []string{":6: grid network.bandwidth: want a list of values"}},
		{"zip lengths", small + "zip:\n  network.bandwidth: [1Gbit, 2Gbit]\n  network.rtt: [1ms]\n",
			nil, []string{":7: zip network.rtt: has 1 values but network.bandwidth has 2"}},
		{"key on two axes", small + "grid:\n  network.rtt: [1ms]\nzip:\n  network.rtt: [2ms]\n",
			nil, []string{":8: zip network.rtt: already swept by grid (line 6)"}},
		{"key inside a swept section", small + "grid:\n  network: [{profile: metro}]\n  network.rtt: [2ms]\n",
			nil, []string{":7: grid network.rtt: is inside network"}},
		{"seed axis and repeat", small + "grid:\n  seed: [1, 2]\nrepeat: 3\n",
			nil, []string{"repeat seed: already swept by grid"}},
		{"unknown sweep key", small + "grids:\n  seed: [1]\n", nil, []string{":5: grids: unknown key (did you mean grid?)"}},
		{"bad repeat", small + "repeat: 0\n", nil, []string{":5: repeat: want a count of at least 1"}},
		{"inline base error keeps its line", "name: x\nbase:\n  vm: {memroy: 1GiB}\n",
			nil, []string{":3: vm.memroy: unknown key (did you mean memory?)"}},
		{"missing base file", "base: nope.yaml\n", nil, []string{":1: base: open"}},
		{"set conflicts with an axis", small + "grid:\n  network.rtt: [1ms]\n",
			[]string{"network.rtt=2ms"}, []string{":6: grid network.rtt: --set network.rtt conflicts with this axis"}},
		{"sample without n", small + "random:\n  keys: {network.rtt: {min: 1ms, max: 2ms}}\n",
			nil, []string{":5: random n: missing"}},
		{"range on text", small + "latin:\n  n: 3\n  keys: {model.name: {min: 1, max: 2}}\n",
			nil, []string{"latin model.name: is text, not a number: sample it with values"}},
		{"min above max", small + "random:\n  n: 3\n  keys: {network.rtt: {min: 2ms, max: 1ms}}\n",
			nil, []string{"random network.rtt: min 2ms is above max 1ms"}},
		{"log from zero", small + "random:\n  n: 3\n  keys: {workload.generator.dirty_rate: {min: 0, max: 10, log: true}}\n",
			nil, []string{"log: true needs a positive min"}},
		{"not a mapping", "- 1\n", nil, []string{"a sweep is a mapping of keys"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeSweep(t, tc.text)
			_, err := Load(path, tc.sets)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path) {
				t.Errorf("error does not name the sweep file first:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestSweepErrorOncePerValue checks that a bad value is reported once
// however many points carry it, as a *Error.
func TestSweepErrorOncePerValue(t *testing.T) {
	path := writeSweep(t, small+"grid:\n  model.downtime_limit: [3, 5ms, 7]\n  network.rtt: [1ms, 2ms, 3ms]\nrepeat: 4\n")
	_, err := Load(path, nil)
	if err == nil {
		t.Fatal("no error")
	}
	parts := flatten(err)
	if len(parts) != 2 {
		t.Errorf("%d errors, want one per bad value (2):\n%v", len(parts), err)
	}
	var se *Error
	if !errors.As(err, &se) || se.File != path || se.Line != 6 || se.Block != BlockGrid || se.Key != "model.downtime_limit" || se.Value != "3" || se.Point != 0 {
		t.Errorf("first error %+v", se)
	}
}

// TestSweepKeepsQuotedText checks that a quoted value stays text and a
// mapping value replaces a section.
func TestSweepValues(t *testing.T) {
	sw := loadSweep(t, small+`grid:
  name: ["007", plain]
  model: [{name: precopy, max_rounds: 3}, {name: postcopy}]
`)
	if got := sw.Points[0].Spec.Name; got != "007" {
		t.Errorf("name %q, want \"007\"", got)
	}
	if got := sw.Points[0].Sets[1]; got != "model={name: precopy, max_rounds: 3}" {
		t.Errorf("section override %q", got)
	}
	if sw.Axes[1].Type != ColumnText || sw.Axes[1].Column != "model_spec" || sw.Points[1].Columns[1] != "{name: postcopy}" {
		t.Errorf("section column %v %v", sw.Axes[1], sw.Points[1].Columns[1])
	}
	if sw.Points[1].Spec.Model.Name != "postcopy" {
		t.Errorf("point 1 model %q", sw.Points[1].Spec.Model.Name)
	}
}

// TestSweepPapers loads every sweep shipped under papers/.
func TestSweepPapers(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/papers/*/sweep*.yaml")
	if len(files) == 0 {
		t.Skip("no paper sweeps")
	}
	for _, f := range files {
		sw, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(sw.Points) == 0 {
			t.Errorf("%s: no points", f)
		}
	}
}

func TestSweepWorkloadKey(t *testing.T) {
	sw := loadSweep(t, small+"grid:\n  network.rtt: [1ms, 2ms]\n  workload.generator.dirty_rate: [10, 20]\nrepeat: 2\n")
	keys := map[string]int{}
	for _, p := range sw.Points {
		keys[p.Spec.WorkloadKey()]++
	}
	if len(keys) != 4 {
		t.Errorf("%d workloads, want 4 (2 rates × 2 seeds, shared by both RTTs)", len(keys))
	}
	for k, n := range keys {
		if n != 2 {
			t.Errorf("workload %s: %d points, want 2", k, n)
		}
	}
}

// TestSweepAliasInAxisValue: a YAML alias inside an axis value (issue 20,
// item 1) is expanded to its target, not sized from the alias node, which
// panicked.
func TestSweepAliasInAxisValue(t *testing.T) {
	sw := loadSweep(t, `name: a
grid:
  network.bandwidth_schedule:
    - [&s {at: 0s, bandwidth: 1Gbit}]
    - [*s, {at: 1s, bandwidth: 2Gbit}]
`)
	want := []string{
		"network.bandwidth_schedule=[{at: 0s, bandwidth: 1Gbit}]",
		"network.bandwidth_schedule=[{at: 0s, bandwidth: 1Gbit}, {at: 1s, bandwidth: 2Gbit}]",
	}
	for i, w := range want {
		if got := strings.Join(sw.Points[i].Sets, " "); got != w {
			t.Errorf("point %d sets %q, want %q", i, got, w)
		}
	}
	if n := len(sw.Points[1].Spec.Network.BandwidthSchedule); n != 2 {
		t.Errorf("point 1 has %d schedule steps, want 2", n)
	}
}

// TestSweepFlowBase: a sweep written as one YAML flow mapping honours its
// base (issue 20, item 4), wherever base stands among the keys and over
// several lines, and errors in the base keep their lines.
func TestSweepFlowBase(t *testing.T) {
	for _, text := range []string{
		`{name: f, base: {seed: 3, vm: {memory: 1GiB}}, grid: {model.downtime_limit: [100ms, 200ms]}}`,
		`{name: f, grid: {model.downtime_limit: [100ms, 200ms]}, base: {seed: 3, vm: {memory: 1GiB}}}`,
		`{name: f, grid: {model.downtime_limit: [100ms, 200ms]}, base: {seed: 3, vm: {memory: 1GiB}}} # a comment`,
		"{name: f,\n base: {seed: 3,\n   vm: {memory: 1GiB}}, grid: {model.downtime_limit: [100ms, 200ms]}}",
		"name: f\nbase: {seed: 3, vm: {memory: 1GiB}}\ngrid: {model.downtime_limit: [100ms, 200ms]}",
	} {
		sw := loadSweep(t, text)
		for _, p := range sw.Points {
			if p.Spec.Seed != 3 || p.Spec.VM.Memory != 1<<30 || p.Spec.Name != "f" {
				t.Errorf("%q: point %d runs seed %d, memory %v, name %q; want the base's seed 3, 1GiB, f",
					text, p.Index, p.Spec.Seed, p.Spec.VM.Memory, p.Spec.Name)
			}
		}
	}
	_, err := Load(writeSweep(t, "{name: f,\n base: {seed: 3,\n   vm: {memory: 1GiB, vcpus: x}}, grid: {model.downtime_limit: [1s]}}"), nil)
	if err == nil || !strings.Contains(err.Error(), "sweep.yaml:3: vm.vcpus: want an integer") {
		t.Errorf("error %v, want it at line 3, vm.vcpus", err)
	}
}

// TestSweepSeedOverflow: a sweep's seed beyond 64 bits, and repeat seeds
// that would wrap past the largest seed, are errors (issue 20, item 5).
func TestSweepSeedOverflow(t *testing.T) {
	for text, want := range map[string]string{
		"seed: 18446744073709551616\n":                    "sweep.yaml:1: seed: 18446744073709551616 does not fit",
		"base: {seed: 18446744073709551615}\nrepeat: 2\n": "sweep.yaml:2: repeat: seeds 18446744073709551615 to 18446744073709551615+1 do not fit",
	} {
		_, err := Load(writeSweep(t, text), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
	sw := loadSweep(t, "base: {seed: 18446744073709551614}\nrepeat: 2\n")
	if got := sw.Points[1].Spec.Seed; got != 1<<64-1 {
		t.Errorf("second repeat has seed %d, want %d", got, uint64(1<<64-1))
	}
}

// TestOpenSweepStreams: OpenSweep checks every point and keeps none
// (issue 20, item 7: a 6000×6000 dry run ran out of memory), with the
// fingerprint, axes and points LoadSweep gives, and memory that does not
// grow with the points.
func TestOpenSweepStreams(t *testing.T) {
	rates := make([]string, 20)
	for i := range rates {
		rates[i] = strconv.Itoa(1000 + 10*i)
	}
	text := small + "grid:\n  workload.generator.dirty_rate: [" + strings.Join(rates, ", ") + "]\n" +
		"  model.downtime_limit: [100ms, 200ms, 300ms, 400ms, 500ms]\nrandom:\n  n: 7\n  keys:\n    network.bandwidth: {min: 1Gbit, max: 10Gbit}\nrepeat: 2\n"
	path := writeSweep(t, text)
	all, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	calls := 0
	sw, err := Open(t.Context(), path, LoadOptions{Progress: func(checked, total int) {
		calls++
		if total != 1400 || checked > total {
			t.Errorf("progress %d of %d", checked, total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if sw.Points != nil || sw.Len() != 1400 || calls == 0 {
		t.Fatalf("OpenSweep kept %d points, Len %d, %d progress calls; want none kept, 1400, some calls", len(sw.Points), sw.Len(), calls)
	}
	// The points LoadSweep holds take several KB each (over 5 MB here);
	// what OpenSweep keeps must not grow with them.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("OpenSweep retained %d KB for 1400 points", grew>>10)
	}
	if sw.Fingerprint != all.Fingerprint || fmt.Sprint(sw.Axes) != fmt.Sprint(all.Axes) {
		t.Errorf("fingerprint %s, axes %v; LoadSweep gives %s, %v", sw.Fingerprint, sw.Axes, all.Fingerprint, all.Axes)
	}
	for _, i := range []int{0, 1, 2, 21, 999, 1399} {
		p, err := sw.Point(i)
		if err != nil {
			t.Fatal(err)
		}
		q := all.Points[i]
		if p.Index != i || p.ID != q.ID || fmt.Sprint(p.Sets, p.Values, p.Columns) != fmt.Sprint(q.Sets, q.Values, q.Columns) {
			t.Errorf("point %d: %v %v %v %s; LoadSweep gives %v %v %v %s", i, p.Sets, p.Values, p.Columns, p.ID, q.Sets, q.Values, q.Columns, q.ID)
		}
	}
	if _, err := sw.Point(1400); err == nil {
		t.Errorf("Point(1400) of 1400: no error")
	}
	for a, want := range []struct {
		n       int
		sampled bool
	}{{20, false}, {5, false}, {7, true}, {2, false}} {
		if n, sampled := sw.AxisValues(a); n != want.n || sampled != want.sampled {
			t.Errorf("axis %d: %d values (sampled %v), want %d (%v)", a, n, sampled, want.n, want.sampled)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, path, LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled check: %v, want context.Canceled", err)
	}
}

// TestErrorListsCapped: a sweep's error lists show the first 20
// problems, then how many more (issue 20, item 7).
func TestErrorListsCapped(t *testing.T) {
	// A sweep whose 30 values each fail: 20 shown, the other 10 counted.
	vcpus := make([]string, 30)
	for i := range vcpus {
		vcpus[i] = strconv.Itoa(-i)
	}
	sp := writeSweep(t, "grid:\n  vm.vcpus: ["+strings.Join(vcpus, ", ")+"]\n  seed: [1, 2]\n")
	_, err := Load(sp, nil)
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != 21 || lines[20] != sp+": and 10 more problems not shown" {
		t.Errorf("sweep: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	// Sweep file errors too.
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "bad%d: 1\n", i)
	}
	sp = writeSweep(t, b.String())
	_, err = Load(sp, nil)
	if lines = strings.Split(fmt.Sprint(err), "\n"); len(lines) != 21 || lines[20] != sp+": and 5 more problems not shown" {
		t.Errorf("sweep file: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

// TestFileSizeLimit: a sweep file, or a sweep's base, over
// scenarios.MaxFileBytes is refused before it is parsed.
func TestFileSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	text := "name: big\n" + strings.Repeat("# padding\n", scenarios.MaxFileBytes/10)
	writeFile(t, path, text)
	want := path + ": " + strconv.Itoa(len(text)) + " bytes, larger than the 4 MiB"
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("sweep: %v, want %q", err, want)
	}
	sp := writeSweep(t, "base: "+path+"\n")
	if _, err := Load(sp, nil); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("sweep base: %v, want %q", err, want)
	}
}

// A sweep over a page rate names its column with the unit and holds
// pages per second, whether the axis gives numbers or byte rates.
func TestSweepPageRateColumn(t *testing.T) {
	sw := loadSweep(t, small+`grid:
  workload.generator.dirty_rate: [1000, 4MiB/s]
`)
	a := sw.Axes[0]
	if a.Column != "workload.generator.dirty_rate_pages_per_s" || a.Type != ColumnFloat {
		t.Errorf("column %s of type %s, want workload.generator.dirty_rate_pages_per_s, float", a.Column, a.Type)
	}
	if sw.Points[0].Columns[0] != 1000.0 || sw.Points[1].Columns[0] != 1024.0 {
		t.Errorf("columns %v and %v, want 1000 and 1024 pages/s", sw.Points[0].Columns[0], sw.Points[1].Columns[0])
	}
}

// The replication sweep expands to the paper's grid.
func TestBiswasSweep(t *testing.T) {
	sw, err := Load("../scenarios/papers/biswas2016/sweep.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sw.Points) != 72 {
		t.Errorf("%d points, want 4 flavours × 3 sites × 3 stress levels × 2 models = 72", len(sw.Points))
	}
}

// TestPointsAsSetText checks that a point, loaded from the base parsed
// once with its axes' decoded values, is the scenario that loading the
// base file with the point's --set text gives (as sweeps did before the
// base was parsed once), on DefaultEngine unless it names one: the same
// ID, and so the same resolved scenario.
func TestPointsAsSetText(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/papers/*/sweep*.yaml")
	dir := t.TempDir()
	synthetic := filepath.Join(dir, "synthetic.yaml")
	writeFile(t, synthetic, `name: syn
base:
  vm: {memory: 256MiB}
  workload:
    generator:
      kind: phases
      phases:
        - {kind: uniform, dirty_rate: 4MiB/s, working_set: 64MiB, duration: 1s}
        - {kind: idle, duration: 1s}
  network: {profile: metro}
grid:
  name: ["007", plain]
  model: [{name: precopy, max_rounds: 3}, {name: precopy, sync_policy: qemu, auto_converge: true}, &pc {name: postcopy}, *pc]
  network.bandwidth_schedule: [[&s {at: 0s, bandwidth: 1Gbit}], [*s, {at: 1s, cross_traffic: 0.5}]]
random:
  n: 3
  keys:
    vm.vcpus: {min: 1, max: 8}
    network.rtt: {min: 0.1ms, max: 30ms, log: true}
latin:
  n: 2
  keys:
    network.bandwidth: {min: 1Gbit, max: 25Gbit}
    vm.device_state: {min: 1KiB, max: 1MiB}
    network.loss: {min: 0, max: 0.001}
repeat: 2
`)
	noBase := filepath.Join(dir, "nobase.yaml")
	writeFile(t, noBase, "grid:\n  workload.generator.dirty_rate: [1000, 2MB/s]\n  model.engine: [page, auto]\n")
	files = append(files, synthetic, noBase)
	for _, f := range files {
		sw, err := Load(f, []string{"network.jitter=0.1ms"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sf := sw.sf
		base := ""
		if sf.baseFile != "" {
			base = filepath.Join(dir, "base.yaml")
			writeFile(t, base, string(sf.baseData))
		}
		for i := range sw.Points {
			p := &sw.Points[i]
			var sets []string
			if sf.nameSet != "" {
				sets = append(sets, sf.nameSet)
			}
			sets = append(append(sets, "network.jitter=0.1ms"), p.Sets...)
			var s *scenarios.Spec
			if base == "" {
				s, err = scenarios.LoadDefault(sets)
			} else {
				s, err = scenarios.Load(base, sets)
			}
			if err != nil {
				t.Fatalf("%s point %d by --set text: %v", f, i, err)
			}
			explicit := sf.engine
			for _, set := range p.Sets {
				explicit = explicit || strings.HasPrefix(set, "model.engine=") || (strings.HasPrefix(set, "model=") && strings.Contains(set, "engine:"))
			}
			if !explicit {
				s.Model.Engine = DefaultEngine
			}
			id, err := specID(s)
			if err != nil {
				t.Fatal(err)
			}
			if id != p.ID {
				t.Errorf("%s point %d (%v): ID %s, by --set text %s", f, i, p.Sets, p.ID, id)
			}
		}
	}
}

// TestDefaultEngine: a sweep's points run model.engine auto unless the
// base, a --set or an axis names the engine (a model section with an
// engine key too).
func TestDefaultEngine(t *testing.T) {
	engines := func(sw *Spec) string {
		var out []string
		for _, p := range sw.Points {
			out = append(out, string(p.Spec.Model.Engine))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name, text string
		sets       []string
		want       string
	}{
		{"none", small + "grid:\n  model.name: [precopy, postcopy]\n", nil, "auto auto"},
		{"base", strings.Replace(small, "base:\n", "base:\n  model: {engine: page}\n", 1) + "grid:\n  model.name: [precopy, postcopy]\n", nil, "page page"},
		{"set", small + "grid:\n  model.downtime_limit: [1s, 2s]\n", []string{"model.engine=fluid"}, "fluid fluid"},
		{"axis", small + "grid:\n  model.engine: [page, fluid, auto]\n", nil, "page fluid auto"},
		{"section", small + "grid:\n  model: [{name: precopy}, {name: precopy, engine: page}]\n", nil, "auto page"},
		{"no base", "grid:\n  model.downtime_limit: [1s]\n", nil, "auto"},
	} {
		sw := loadSweep(t, tc.text, tc.sets...)
		if got := engines(sw); got != tc.want {
			t.Errorf("%s: engines %q, want %q", tc.name, got, tc.want)
		}
	}
}
