package scenarios

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// writeTrace writes a trace of memory bytes in pages of pageSize with two
// epochs to dir/name and returns its path.
func writeTrace(t *testing.T, dir, name string, memory, pageSize units.Bytes) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	h := &traces.Header{PageSize: uint32(pageSize), PageCount: uint64(memory / pageSize), Epoch: 10 * time.Millisecond}
	w, err := traces.NewWriter(bw, h)
	if err != nil {
		t.Fatal(err)
	}
	var e traces.Epoch
	for i := range 2 {
		e.Reset()
		e.Index = uint64(i)
		e.Written.AddRange(0, 100)
		if err := w.WriteEpoch(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadErrors checks that each class of mistake is reported with the
// file, line and key, and nothing else.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeTrace(t, dir, "2g.mgt", 2*units.GiB, 4*units.KiB)
	for _, tc := range []struct {
		name      string
		yaml      string
		overrides []string
		want      string // the whole error text, file as "demo.yaml"
	}{
		{
			name: "unknown key with line and suggestion",
			yaml: "name: demo\nseed: 1\nmodel:\n  name: precopy\n  downtim_limit: 30ms\n",
			want: "demo.yaml:5: model.downtim_limit: unknown key for model precopy (did you mean downtime_limit?)",
		},
		{
			name: "unknown top-level key lists the known ones",
			yaml: "name: demo\nfoo: 1\n",
			want: "demo.yaml:2: foo: unknown key (known: name, seed, calibration, vm, workload, network, model)",
		},
		{
			name: "unknown key in generator",
			yaml: "workload:\n  generator:\n    kind: uniform\n    dirtyrate: 5\n",
			want: "demo.yaml:4: workload.generator.dirtyrate: unknown key (did you mean dirty_rate?)",
		},
		{
			name: "unknown key in a generator phase",
			yaml: "workload:\n  generator:\n    kind: phases\n    phases:\n      - {kind: uniform, epohc: 1s}\n",
			want: "demo.yaml:5: workload.generator.phases[0].epohc: unknown key (did you mean epoch?)",
		},
		{
			name: "keys are case-sensitive",
			yaml: "VM: {memory: 4GiB}\n",
			want: "demo.yaml:1: VM: unknown key (did you mean vm?)",
		},
		{
			name: "duplicate key",
			yaml: "vm:\n  memory: 4GiB\n  memory: 2GiB\n",
			want: "demo.yaml:3: vm.memory: duplicate key (first at line 2)",
		},
		{
			name: "section given a scalar",
			yaml: "network: lan-10g\n",
			want: `demo.yaml:1: network: want a mapping of keys (profile, bandwidth, rtt, loss, jitter, tcp_window, mss, streams, bandwidth_schedule), got "lan-10g"`,
		},
		{
			name: "not a mapping",
			yaml: "- a\n- b\n",
			want: "demo.yaml:1: a scenario is a mapping of keys (name, seed, calibration, vm, workload, network, model), not a list",
		},
		{
			name: "YAML syntax",
			yaml: "vm: {memory: 4GiB\n",
			want: "demo.yaml:1: did not find expected ',' or '}'",
		},
		{
			name: "bad size unit",
			yaml: "vm:\n  memory: 4Gx\n",
			want: `demo.yaml:2: vm.memory: size "4Gx": unknown unit "Gx" (want B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)`,
		},
		{
			name: "negative size",
			yaml: "vm:\n  device_state: -1KiB\n",
			want: `demo.yaml:2: vm.device_state: size "-1KiB" is negative`,
		},
		{
			name: "negative bare size",
			yaml: "vm:\n  device_state: -1024\n",
			want: `demo.yaml:2: vm.device_state: size "-1024" is negative`,
		},
		{
			name: "bad rate unit",
			yaml: "network:\n  bandwidth: 10Gbitz\n",
			want: `demo.yaml:2: network.bandwidth: rate "10Gbitz": unknown unit "Gbitz" (want bit, Kbit, Mbit, Gbit, Mbps, Gbps, MB/s, MiB/s, GiB/s)`,
		},
		{
			name: "duration without unit",
			yaml: "model:\n  downtime_limit: 300\n",
			want: `demo.yaml:2: model.downtime_limit: duration "300" has no unit (want e.g. 300ms, 10s, 5m)`,
		},
		{
			name: "wrong type",
			yaml: "model:\n  auto_converge: yes\n",
			want: `demo.yaml:2: model.auto_converge: want true or false, got "yes"`,
		},
		{
			name: "fractional integer",
			yaml: "vm:\n  vcpus: 2.5\n",
			want: "demo.yaml:2: vm.vcpus: want an integer, got 2.5",
		},
		{
			name: "negative seed",
			yaml: "seed: -1\n",
			want: "demo.yaml:1: seed: want a non-negative integer, got -1",
		},
		{
			name: "every bad value at once",
			yaml: "seed: x\nvm:\n  memory: 1Q\n",
			want: "demo.yaml:1: seed: want a non-negative integer, got \"x\"\n" +
				`demo.yaml:3: vm.memory: size "1Q": unknown unit "Q" (want B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)`,
		},
		{
			name: "memory not a multiple of page size",
			yaml: "vm:\n  memory: 4000000\n",
			want: "demo.yaml:2: vm.memory: 4000000B (4000000 bytes) is not a whole number of 4KiB pages",
		},
		{
			name: "page size not a power of two",
			yaml: "vm:\n  page_size: 3KiB\n",
			want: "demo.yaml:2: vm.page_size: 3KiB must be a power of two of at least 512 bytes",
		},
		{
			name: "unknown profile",
			yaml: "network:\n  profile: lan-100g\n",
			want: `demo.yaml:2: network.profile: unknown profile "lan-100g" (known: lan-1g, lan-10g, lan-25g, metro, continental, transatlantic, biswas-ni-dublin, biswas-ni-halifax, or custom)`,
		},
		{
			name: "zero bandwidth",
			yaml: "network:\n  profile: metro\n  bandwidth: 0\n",
			want: "demo.yaml:3: network.bandwidth: 0bit must be positive",
		},
		{
			name: "no profile and no bandwidth",
			yaml: "network:\n  profile: \"\"\n  rtt: 1ms\n",
			want: "demo.yaml: network.bandwidth: required when network.profile is empty",
		},
		{
			name: "both trace and generator",
			yaml: "workload:\n  trace: 2g.mgt\n  generator: {kind: uniform}\n",
			want: "demo.yaml:2: workload.trace: give either workload.trace or workload.generator, not both (generator at line 3)",
		},
		{
			name: "missing trace file",
			yaml: "workload:\n  trace: nope.mgt\n",
			want: "demo.yaml:2: workload.trace: open " + filepath.Join(dir, "nope.mgt") + ": no such file or directory",
		},
		{
			name: "trace header does not match",
			yaml: "vm:\n  memory: 4GiB\nworkload:\n  trace: 2g.mgt\n",
			want: "demo.yaml:2: vm.memory: 4GiB does not match the trace (trace " + filepath.Join(dir, "2g.mgt") + " covers 2GiB: 524288 pages of 4KiB)",
		},
		{
			name: "cpu_demand out of range",
			yaml: "workload:\n  cpu_demand: 0\n",
			want: `demo.yaml:2: workload.cpu_demand: 0 must be in (0, 1]: the share of its vCPUs' time the workload needs`,
		},
		{
			name: "bad at_end",
			yaml: "workload:\n  at_end: stop\n",
			want: `demo.yaml:2: workload.at_end: unknown trace end "stop" (want loop or idle)`,
		},
		{
			name: "generator validation names the key",
			yaml: "workload:\n  generator:\n    kind: zigzag\n",
			want: `demo.yaml:3: workload.generator.kind: "zigzag" is not one of idle, sequential, uniform, hotcold, zipf, phases`,
		},
		{
			name: "unknown model",
			yaml: "model:\n  name: teleport\n  downtime_limit: 1s\n",
			want: `demo.yaml:2: model.name: unknown model "teleport" (known: ` + strings.Join(modelNames(), ", ") + ")",
		},
		{
			name: "model validation names every key",
			yaml: "model:\n  downtime_limit: 0s\n  max_cpu_throttle: 100\n",
			want: "demo.yaml:2: model.downtime_limit: 0s must be positive\n" +
				"demo.yaml:3: model.max_cpu_throttle: 100 must be below 100 (a fully stopped guest never converges)",
		},
		{
			name:      "override: unknown key",
			overrides: []string{"vm.memroy=4GiB"},
			want:      "--set vm.memroy: unknown key (did you mean memory?)",
		},
		{
			name:      "override: bad value",
			yaml:      "model:\n  downtime_limit: 1s\n",
			overrides: []string{"model.downtime_limit=3"},
			want:      `--set model.downtime_limit: duration "3" has no unit (want e.g. 300ms, 10s, 5m)`,
		},
		{
			name:      "override: no equals sign",
			overrides: []string{"seed"},
			want:      `--set "seed": want key=value, e.g. model.downtime_limit=30ms`,
		},
		{
			name:      "override: below a value",
			overrides: []string{"seed.x=1"},
			want:      "--set seed.x: seed is a value, not a section",
		},
		{
			name:      "override: unknown model",
			overrides: []string{"model.name=teleport", "model.downtime_limit=1s"},
			want:      `--set model.name: unknown model "teleport" (known: ` + strings.Join(modelNames(), ", ") + ")",
		},
		{
			name:      "override: unknown profile",
			overrides: []string{"network.profile=lan-100g"},
			want:      `--set network.profile: unknown profile "lan-100g" (known: lan-1g, lan-10g, lan-25g, metro, continental, transatlantic, biswas-ni-dublin, biswas-ni-halifax, or custom)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "demo.yaml")
			writeFile(t, path, tc.yaml)
			_, err := Load(path, tc.overrides)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			got := strings.ReplaceAll(err.Error(), path, "demo.yaml")
			if got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *scenarios.Error", err)
			}
		})
	}
}

func modelNames() []string {
	var out []string
	for _, m := range models.Registry() {
		out = append(out, m.Name)
	}
	return out
}

func TestErrorFields(t *testing.T) {
	_, err := load("demo.yaml", []byte("name: x\nmodel:\n  downtim_limit: 1s\n"), nil)
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *Error", err)
	}
	want := Error{File: "demo.yaml", Line: 3, Key: "model.downtim_limit"}
	if se.File != want.File || se.Line != want.Line || se.Key != want.Key || se.Flag {
		t.Errorf("got %+v, want %+v", *se, want)
	}
	_, err = LoadDefault([]string{"vm.memory=1x"})
	if !errors.As(err, &se) || !se.Flag || se.Key != "vm.memory" {
		t.Errorf("override error %v: want a flag error at vm.memory", err)
	}
}

// TestLayers checks flag > file > default, key by key.
func TestLayers(t *testing.T) {
	file := "seed: 5\nvm: {memory: 8GiB}\nmodel: {downtime_limit: 100ms, max_rounds: 30}\nnetwork: {profile: metro, rtt: 2ms}\n"
	s, err := load("dir/x.yaml", []byte(file), []string{"model.downtime_limit=30ms", "seed=7", "seed=9", "network.bandwidth=1Gbit"})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Model.Params.(*models.PrecopyParams)
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"name (from the file name)", s.Name, "x"},
		{"seed (last flag)", s.Seed, uint64(9)},
		{"vm.memory (file)", s.VM.Memory, 8 * units.GiB},
		{"vm.page_size (default)", s.VM.PageSize, 4 * units.KiB},
		{"model.downtime_limit (flag over file)", p.DowntimeLimit, 30 * time.Millisecond},
		{"model.max_rounds (file)", p.MaxRounds, 30},
		{"model.max_time (default)", p.MaxTime, time.Hour},
		{"network.profile (file)", s.Network.Profile, "metro"},
		{"network.bandwidth (flag over profile)", s.Network.Bandwidth, units.Gbit},
		{"network.rtt (file over profile)", s.Network.RTT, 2 * time.Millisecond},
		{"workload.generator.kind (default)", s.Workload.Generator.Kind, traces.GenSequential},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
	}
}

// TestOverrideSyntax checks that override values are YAML, so that a
// whole section can be set.
func TestOverrideSyntax(t *testing.T) {
	s, err := LoadDefault([]string{
		"network={profile: transatlantic}",
		"workload.generator={kind: zipf, dirty_rate: 1000}",
		"model.auto_converge=true",
		"name=123",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Network.Profile != "transatlantic" || s.Network.RTT != 80*time.Millisecond {
		t.Errorf("network = %+v, want transatlantic's", s.Network)
	}
	g := s.Workload.Generator
	if g.Kind != traces.GenZipf || g.DirtyRate != 1000 || g.WorkingSet != DefaultWorkingSet {
		t.Errorf("generator = %+v, want zipf at 1000 over the default working set", g)
	}
	if !s.Model.Params.(*models.PrecopyParams).AutoConverge {
		t.Error("model.auto_converge=true not applied")
	}
	if s.Name != "123" {
		t.Errorf("name = %q, want %q", s.Name, "123")
	}
}

func TestLoadDefault(t *testing.T) {
	s, err := LoadDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultSpec(); !reflect.DeepEqual(s, want) {
		t.Errorf("LoadDefault(nil) = %+v, want DefaultSpec() %+v", s, want)
	}
	empty, err := load("empty.yaml", []byte("# nothing\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	empty.file, empty.Name = "", DefaultName
	if !reflect.DeepEqual(empty, s) {
		t.Errorf("an empty file gives %+v, want the default %+v", empty, s)
	}
}

// TestDefaultConverges pins what DefaultSpec's doc promises: four rounds
// under QEMU's iteration, converged, in about 4 s with a downtime within
// the 300 ms limit; three passes and about 0.1 s of downtime with
// whole-pass syncs.
func TestDefaultConverges(t *testing.T) {
	for _, c := range []struct {
		sets     []string
		rounds   int
		downtime float64
	}{
		{nil, 4, 0.3},
		{[]string{"model.sync_policy=pass"}, 3, 0.15},
	} {
		s, err := LoadDefault(c.sets)
		if err != nil {
			t.Fatal(err)
		}
		m, in, err := s.Build()
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Run(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Converged || res.Rounds != c.rounds || res.TotalTimeS < 3.5 || res.TotalTimeS > 4.5 || res.DowntimeS > c.downtime {
			t.Errorf("default scenario %v: converged %v in %d rounds, %.3f s, downtime %.3f s; DefaultSpec's doc says %d rounds, ~4 s, at most %.2f s",
				c.sets, res.Converged, res.Rounds, res.TotalTimeS, res.DowntimeS, c.rounds, c.downtime)
		}
	}
}

func TestTraceWorkload(t *testing.T) {
	dir := t.TempDir()
	writeTrace(t, filepath.Join(dir), "t.mgt", 64*units.MiB, 4*units.KiB)
	path := filepath.Join(dir, "s.yaml")
	writeFile(t, path, "workload:\n  trace: t.mgt\n  at_end: idle\n")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Workload.Generator != nil {
		t.Error("a trace workload kept the default generator")
	}
	if s.VM.Memory != 64*units.MiB || s.VM.PageSize != 4*units.KiB {
		t.Errorf("vm = %+v, want the trace's 64MiB of 4KiB pages", s.VM)
	}
	if got, want := s.TracePath(), filepath.Join(dir, "t.mgt"); got != want {
		t.Errorf("TracePath() = %q, want %q (relative to the scenario file)", got, want)
	}
	m, in, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Completed {
		t.Errorf("trace scenario did not complete: %v", res.StopReason)
	}

	// A trace given with --set is relative to the working directory, and
	// replaces the file's generator.
	writeFile(t, path, "workload:\n  generator: {kind: uniform}\n")
	if _, err := Load(path, []string{"workload.trace=t.mgt"}); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("trace by flag over a file's generator: got %v, want a both-given error", err)
	}
	writeFile(t, path, "name: x\n")
	s, err = Load(path, []string{"workload.trace=" + filepath.Join(dir, "t.mgt")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Workload.Generator != nil || s.TracePath() != filepath.Join(dir, "t.mgt") {
		t.Errorf("--set workload.trace: generator %v, path %q", s.Workload.Generator, s.TracePath())
	}
}

// TestExamples loads and builds every example scenario.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d examples, want at least 5", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Build(); err != nil {
				t.Fatal(err)
			}
		})
	}
	demo, err := Load("examples/demo.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	demo.file, demo.Name = "", DefaultName
	if want := DefaultSpec(); !reflect.DeepEqual(demo, want) {
		t.Errorf("examples/demo.yaml is not the default scenario:\n got %+v\nwant %+v", demo, want)
	}
}

func TestProfiles(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles() {
		if seen[p.Name] {
			t.Errorf("profile %s listed twice", p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" || p.Source == "" {
			t.Errorf("profile %s lacks a description or source", p.Name)
		}
		if err := p.Path().Validate(); err != nil {
			t.Errorf("profile %s: %v", p.Name, err)
		}
		got, err := LookupProfile(p.Name)
		if err != nil || got != p {
			t.Errorf("LookupProfile(%q) = %+v, %v", p.Name, got, err)
		}
	}
	if !seen[DefaultProfile] {
		t.Errorf("default profile %s is not built in", DefaultProfile)
	}
}
