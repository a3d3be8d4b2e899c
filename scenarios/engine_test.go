package scenarios

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
)

// engineScenario writes text as a scenario file and returns its path.
func engineScenario(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEngineKeyErrors: a bad model.engine, or fluid on what the fluid
// engine does not cover, is an error at file:line: model.engine naming
// the feature and why.
func TestEngineKeyErrors(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "t.mgt")
	f, err := os.Create(trace)
	if err != nil {
		t.Fatal(err)
	}
	w, err := traces.NewWriter(f, &traces.Header{PageSize: 4096, PageCount: 1024, Epoch: 10e6})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	const gen = "workload: {generator: {kind: uniform, dirty_rate: 1000}}\n"
	for _, c := range []struct {
		name, text, want string
	}{
		{"unknown", "vm: {memory: 64MiB}\n" + gen + "model:\n  name: precopy\n  engine: warp\n",
			`s.yaml:5: model.engine: "warp" is not page, fluid or auto`},
		{"xbzrle", "vm: {memory: 64MiB}\nworkload: {generator: {kind: zipf, dirty_rate: 1000}}\nmodel:\n  name: precopy\n  engine: fluid\n  xbzrle: {enabled: true, cache_size: 32MiB}\n",
			"s.yaml:5: model.engine: fluid does not cover model.xbzrle.cache_size: 8192 pages, fewer than the 16384 a zipf workload can write"},
		{"pagecache-background", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000, pagecache_fraction: 0.2}, background_pages: 100}\nmodel: {name: hybrid, engine: fluid, pagecache: {mode: skip}}\n",
			"s.yaml:3: model.engine: fluid does not cover model.pagecache: with workload.background_pages in a hybrid"},
		{"background-writes-postcopy", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000}, background_pages: 100, background_write_rate: 5000}\nmodel: {name: postcopy, engine: fluid}\n",
			"s.yaml:3: model.engine: fluid does not cover workload.background_write_rate: the fluid engine follows the guest OS's writes in pre-copy only"},
		{"background-writes-alone", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000}, background_write_rate: 5000}\n",
			"s.yaml:2: workload.background_write_rate: 5000 pages/s needs workload.background_pages"},
		{"background-writes-negative", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000}, background_pages: 10, background_write_rate: -3}\n",
			"s.yaml:2: workload.background_write_rate: -3 must be a finite number of pages/s, 0 or more"},
		{"hybrid-zipf2", "vm: {memory: 64MiB}\nworkload: {generator: {kind: phases, phases: [{kind: zipf, dirty_rate: 1000, duration: 1s}, {kind: zipf, dirty_rate: 1000, duration: 1s}]}}\nmodel: {name: hybrid, engine: fluid}\n",
			"s.yaml:3: model.engine: fluid does not cover workload.generator.phases[1].kind: a second zipf phase in a hybrid: "},
		{"postcopy-ascending", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000}, access_order: ascending}\nmodel: {name: postcopy, engine: fluid}\n",
			"s.yaml:3: model.engine: fluid does not cover workload.access_order: ascending"},
		{"access-order", "vm: {memory: 64MiB}\nworkload: {generator: {kind: uniform, dirty_rate: 1000}, access_order: downward}\n",
			`s.yaml:2: workload.access_order: unknown access order "downward" (want random or ascending)`},
		{"trace", "workload: {trace: " + trace + "}\nmodel: {engine: fluid}\n",
			"s.yaml:2: model.engine: fluid does not cover workload.trace: a trace file has no closed form"},
		{"zipf65", "vm: {memory: 64MiB}\nworkload: {generator: {kind: phases, phases: [" + strings.Repeat("{kind: zipf, dirty_rate: 1000, duration: 1s}, ", 64) + "{kind: zipf, dirty_rate: 1000, duration: 1s}]}}\nmodel: {engine: fluid}\n",
			"s.yaml:3: model.engine: fluid does not cover workload.generator.phases[64].kind: zipf phase number 65"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := engineScenario(t, c.text)
			_, err := Load(path, nil)
			if err == nil {
				t.Fatalf("loaded; want an error starting %q", c.want)
			}
			got := strings.ReplaceAll(err.Error(), path, "s.yaml")
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("error\n  %s\nwant it to start\n  %s", got, c.want)
			}
		})
	}
	// --set names the flag.
	_, err = LoadDefault([]string{"model.engine=fluid", "model.xbzrle.enabled=true", "model.xbzrle.cache_size=4KiB", "workload.generator.kind=zipf"})
	if err == nil || !strings.Contains(err.Error(), "--set model.engine: fluid does not cover model.xbzrle.cache_size") {
		t.Errorf("--set: %v", err)
	}
}

// TestEngineChoice: page (the default) leaves the result as it was, with
// no engine key; fluid says fluid; auto runs fluid where it can and page
// elsewhere, saying why.
func TestEngineChoice(t *testing.T) {
	run := func(sets ...string) (*models.Result, map[string]any) {
		t.Helper()
		spec, err := LoadDefault(append([]string{"vm.memory=256MiB", "workload.generator.working_set=64MiB"}, sets...))
		if err != nil {
			t.Fatal(err)
		}
		m, in, err := spec.Build()
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatal(err)
		}
		return res, obj
	}
	page, obj := run()
	for _, k := range []string{"engine", "engine_fallback", "verdict_margin"} {
		if _, ok := obj[k]; ok {
			t.Errorf("default engine: JSON has %q; the page engine's results must stay as they were", k)
		}
	}
	fluid, obj := run("model.engine=fluid")
	// Same scenario, same bytes.
	again, _ := run("model.engine=fluid")
	b1, _ := json.Marshal(fluid)
	b2, _ := json.Marshal(again)
	if string(b1) != string(b2) {
		t.Errorf("two fluid runs of one scenario differ:\n%s\n%s", b1, b2)
	}
	if obj["engine"] != "fluid" || fluid.VerdictMargin <= 0 || fluid.VerdictMargin > 1 {
		t.Errorf("fluid: engine %v, verdict_margin %v; want fluid and a margin in (0, 1]", obj["engine"], fluid.VerdictMargin)
	}
	// The sequential scan is deterministic: both engines agree closely.
	if d := fluid.TotalTimeS/page.TotalTimeS - 1; d > 1e-3 || d < -1e-3 {
		t.Errorf("fluid total %v s, page %v s", fluid.TotalTimeS, page.TotalTimeS)
	}
	auto, _ := run("model.engine=auto")
	if auto.Engine != "fluid" || auto.EngineFallback != "" {
		t.Errorf("auto on pre-copy: engine %q (%q), want fluid", auto.Engine, auto.EngineFallback)
	}
	// Post-copy of this sequential scan (ascending accesses) races the
	// push page by page: page engine, naming the key; in random order,
	// fluid.
	post, _ := run("model.engine=auto", "model.name=postcopy")
	if post.Engine != "page" || !strings.Contains(post.EngineFallback, "workload.access_order") {
		t.Errorf("auto on post-copy: engine %q, fallback %q; want page, naming workload.access_order", post.Engine, post.EngineFallback)
	}
	rnd, _ := run("model.engine=auto", "model.name=postcopy", "workload.access_order=random")
	if rnd.Engine != "fluid" {
		t.Errorf("auto on post-copy in random order: engine %q (%q), want fluid", rnd.Engine, rnd.EngineFallback)
	}
	hyb, _ := run("model.engine=auto", "model.name=hybrid", "workload.access_order=random")
	if hyb.Engine != "fluid" {
		t.Errorf("auto on hybrid in random order: engine %q (%q), want fluid", hyb.Engine, hyb.EngineFallback)
	}
	enl, _ := run("model.engine=auto", "model.name=enlightened", "workload.access_order=random")
	if enl.Engine != "fluid" {
		t.Errorf("auto on enlightened in random order: engine %q (%q), want fluid", enl.Engine, enl.EngineFallback)
	}
	// XBZRLE runs fluid with its cache holding the working set (64 MiB
	// here, QEMU's default cache) and with a smaller one (the slots'
	// model), but for a zipf workload whose pages share slots.
	xb, _ := run("model.engine=auto", "model.xbzrle.enabled=true")
	if xb.Engine != "fluid" || xb.XbzrleCacheSizeBytes != 64<<20 {
		t.Errorf("auto with XBZRLE, a 64 MiB cache over a 64 MiB working set: engine %q (%q), cache %d; want fluid", xb.Engine, xb.EngineFallback, xb.XbzrleCacheSizeBytes)
	}
	small, _ := run("model.engine=auto", "model.xbzrle.enabled=true", "model.xbzrle.cache_size=32MiB")
	if small.Engine != "fluid" || small.XbzrleCacheSizeBytes != 32<<20 {
		t.Errorf("auto with a 32 MiB XBZRLE cache: engine %q (%q), cache %d; want fluid", small.Engine, small.EngineFallback, small.XbzrleCacheSizeBytes)
	}
	zipf, _ := run("model.engine=auto", "model.xbzrle.enabled=true", "model.xbzrle.cache_size=32MiB", "workload.generator.kind=zipf")
	if zipf.Engine != "page" || !strings.HasPrefix(zipf.EngineFallback, "model.xbzrle.cache_size:") {
		t.Errorf("auto with a 32 MiB XBZRLE cache and zipf writes: engine %q, fallback %q; want page, naming model.xbzrle.cache_size", zipf.Engine, zipf.EngineFallback)
	}
	// Allocation and freeing run fluid (deterministic, like the scan:
	// both engines agree closely).
	churn := []string{"workload.generator.free_fraction=0.25", "workload.generator.alloc_rate=3000", "workload.generator.free_rate=2000"}
	cPage, _ := run(churn...)
	c, _ := run(append(churn, "model.engine=auto")...)
	if c.Engine != "fluid" || c.EngineFallback != "" {
		t.Errorf("auto with alloc_rate and free_rate: engine %q (%q), want fluid", c.Engine, c.EngineFallback)
	}
	if d := c.TotalTimeS/cPage.TotalTimeS - 1; d > 1e-3 || d < -1e-3 || c.TransferredBytes <= fluid.TransferredBytes {
		t.Errorf("alloc_rate and free_rate: fluid %v s and %d bytes, page %v s; without them fluid sends %d bytes", c.TotalTimeS, c.TransferredBytes, cPage.TotalTimeS, fluid.TransferredBytes)
	}
	// Allocation writes free pages beyond the working set: a 64 MiB
	// XBZRLE cache no longer gives each page a slot of its own, and the
	// slots' model runs.
	if xc, _ := run(append(churn, "model.engine=auto", "model.xbzrle.enabled=true")...); xc.Engine != "fluid" {
		t.Errorf("auto with alloc_rate and a 64 MiB XBZRLE cache: engine %q (%q), want fluid", xc.Engine, xc.EngineFallback)
	}
	// The hint and the balloon, alone and together, whose counts follow
	// the free class as the churn changes it: the same pages as the page
	// engine's.
	balloon := "model.balloon={enabled: true, interval: 100ms, reclaim_rate: 30000}"
	for _, opts := range [][]string{{"model.free_page_hint=true"}, {balloon}, {balloon, "model.free_page_hint=true"}} {
		p, _ := run(append(churn, opts...)...)
		f, _ := run(append(append(churn, opts...), "model.engine=auto")...)
		if f.Engine != "fluid" || f.SkippedFreePages != p.SkippedFreePages || f.BalloonReclaimedPages != p.BalloonReclaimedPages || p.SkippedFreePages+p.BalloonReclaimedPages == 0 {
			t.Errorf("auto with alloc_rate and %v: engine %q (%q), %d free pages and %d balloon pages never sent; page %d and %d", opts, f.Engine, f.EngineFallback, f.SkippedFreePages, f.BalloonReclaimedPages, p.SkippedFreePages, p.BalloonReclaimedPages)
		}
		if d := float64(f.TransferredBytes)/float64(p.TransferredBytes) - 1; d > 1e-3 || d < -1e-3 {
			t.Errorf("alloc_rate and %v: fluid sends %d bytes, page %d", opts, f.TransferredBytes, p.TransferredBytes)
		}
	}
}

// TestEngineListed: scenario explain lists model.engine once, for every
// model, and a resolved scenario carries it.
func TestEngineListed(t *testing.T) {
	n := 0
	for _, k := range Keys() {
		if k.Key == "model.engine" {
			n++
			if k.Model != "" || k.Default != "page" || !strings.Contains(k.Doc, "auto") {
				t.Errorf("model.engine: model %q, default %q, doc %q", k.Model, k.Default, k.Doc)
			}
		}
	}
	if n != 1 {
		t.Errorf("model.engine listed %d times, want once", n)
	}
	spec, err := LoadDefault([]string{"model.engine=auto"})
	if err != nil {
		t.Fatal(err)
	}
	if v := resolvedValue(spec, "model.engine"); v != "auto" {
		t.Errorf("resolved model.engine %v, want auto", v)
	}
}
