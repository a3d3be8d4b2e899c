package models_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

var fluidLong = flag.Bool("fluid.long", false, "run the fluid engine's matrix with more seeds, larger guests and more variants")

// fluidCase is one cell of the fluid engine's matrix: a workload, a
// pre-copy variant and a network, as --set overrides of the default
// scenario.
type fluidCase struct {
	kind, variant, network string
	file                   string // the scenario: vm, workload, network
	sets                   []string
}

func (c fluidCase) String() string { return c.kind + "/" + c.variant + "/" + c.network }

// fluidMatrix returns the matrix's cases: every generator kind × every
// pre-copy variant × every network profile.
func fluidMatrix(t *testing.T, long bool) []fluidCase {
	mem := "256MiB"
	if long {
		mem = "1GiB"
	}
	variants := []fluidVariant{
		{"pass", nil, 1},
		{"qemu", []string{"model.sync_policy=qemu"}, 1},
		{"tight", []string{"model.downtime_limit=3ms"}, 1},
		{"autoconverge", []string{"model.auto_converge=true"}, 2.5},
		{"max_rounds", []string{"model.max_rounds=3"}, 2},
		{"max_bytes", []string{"model.max_bytes_factor=1.5"}, 3},
		{"max_time", nil, 4},
		{"multifd", []string{"model.multifd={channels: 4, compression: zstd}"}, 1},
		{"capped", []string{"model.max_bandwidth=200Mbit", "model.sync_policy=qemu"}, 0.1},
		{"zero_hint", []string{"model.free_page_hint=true"}, 1},
		// The DSB balloon, inflating 4,000 pages every 250 ms up to 95 %
		// of the free class (about 12,450 pages), so that it grows during
		// the migration; alone, and with the hint, where its late
		// inflations count as its own.
		{"balloon", []string{"model.balloon={enabled: true, interval: 250ms, reclaim_rate: 16000}"}, 1},
		{"balloon_hint", []string{"model.balloon={enabled: true, interval: 250ms, reclaim_rate: 16000}", "model.free_page_hint=true"}, 1},
		// XBZRLE with a cache that holds every page the workload writes
		// (the fluid form's condition), under both sync policies.
		{"xbzrle", []string{"model.xbzrle={enabled: true, cache_size: 256MiB}"}, 1.5},
		{"xbzrle_qemu", []string{"model.xbzrle={enabled: true, cache_size: 256MiB}", "model.sync_policy=qemu"}, 1.5},
		// On a CPU-bound stream, whose CPU model takes each pass's
		// expected hits and misses.
		{"xbzrle_cpu", []string{"model.xbzrle={enabled: true, cache_size: 256MiB}", "model.sync_policy=qemu", "model.cpu_bound=true"}, 1.5},
	}
	// Whole-pass syncs unless the variant sets qemu: the variants were
	// tuned on pass, and qemu, the default, has variants of its own (qemu,
	// capped).
	return fluidCases(t, mem, "sync_policy: pass", variants)
}

// fluidVariant is a model variant of the fluid matrix: --set overrides
// and a factor on the kind's dirty rate.
type fluidVariant struct {
	name  string
	sets  []string
	scale float64 // multiplies the kind's dirty rate
}

// fluidNetworks are the fluid matrix's network profiles. Dirty rates are
// a share of the link's pages per second, so that every network sees
// converging, slow and non-converging runs; downtime limits make
// bandwidth × limit about 9000 pages on every network, a seventh of the
// guest; time limits allow a few dozen rounds.
var fluidNetworks = []struct {
	name              string
	pps               float64 // 4 KiB pages per second one stream carries
	downtime, maxTime string
	shortTime         string // the max_time variant's
}{
	{"lan-1g", 30500, "300ms", "12s", "4s"},
	{"lan-10g", 305000, "30ms", "3s", "1s"},
	{"metro", 305000, "30ms", "3s", "1s"},
	{"continental", 25000, "300ms", "12s", "4s"}, // one stream's window over 30 ms
}

// fluidKinds are the fluid matrix's generator kinds, each with its dirty
// rate as a share of the link's pages per second.
var fluidKinds = []struct {
	name  string
	gen   func(rate float64) string
	share float64 // dirty rate / link pages per second
}{
	{"uniform", func(r float64) string { return fmt.Sprintf("{kind: uniform, dirty_rate: %.0f}", r) }, 0.35},
	{"hotcold", func(r float64) string { return fmt.Sprintf("{kind: hotcold, dirty_rate: %.0f}", r) }, 0.5},
	{"zipf", func(r float64) string { return fmt.Sprintf("{kind: zipf, dirty_rate: %.0f}", r) }, 0.5},
	{"sequential", func(r float64) string {
		return fmt.Sprintf("{kind: sequential, dirty_rate: %.0f, working_set: 128MiB}", r)
	}, 0.3},
	{"phases", func(r float64) string {
		return fmt.Sprintf("{kind: phases, phases: [{kind: uniform, dirty_rate: %.0f, duration: 2s}, {kind: hotcold, dirty_rate: %.0f, duration: 3s}]}", r, r*1.5)
	}, 0.3},
	// Two zipf phases, each with its own law and permutation, the second
	// on half the memory, alternating (the trace loops) about every 20,000
	// and 30,000 pages written, so that every network sees both.
	{"zipf2", func(r float64) string {
		return fmt.Sprintf("{kind: phases, phases: [{kind: zipf, dirty_rate: %.0f, duration: %.3fs}, {kind: zipf, zipf_s: 1.6, working_set: 128MiB, dirty_rate: %.0f, duration: %.3fs}]}",
			r, 20000/r, r*1.2, 30000/r)
	}, 0.4},
	// Allocation and freeing at a third of the dirty rate each: the
	// allocated pages, above the working set, are written as they are
	// allocated and freeing returns them, so the same pages cycle.
	{"churn", func(r float64) string {
		return fmt.Sprintf("{kind: uniform, dirty_rate: %.0f, working_set: 128MiB, free_fraction: 0.25, alloc_rate: %.0f, free_rate: %.0f}", r, r/3, r/3)
	}, 0.3},
}

// fluidCases writes the scenario of every kind × variant × network, with
// model keys in the model section beside the limits.
func fluidCases(t *testing.T, mem, model string, variants []fluidVariant) []fluidCase {
	networks, kinds := fluidNetworks, fluidKinds
	var out []fluidCase
	dir := t.TempDir()
	for _, k := range kinds {
		for _, v := range variants {
			// A free class: hinting and the balloon have pages to leave out.
			freeClass := v.name == "zero_hint" || strings.HasPrefix(v.name, "balloon")
			for _, n := range networks {
				rate := k.share * v.scale * n.pps
				if v.name == "capped" {
					rate = k.share * 6100 // of 200 Mbit
				}
				gen := k.gen(rate)
				switch {
				case freeClass && strings.Contains(gen, "free_fraction"):
					gen = strings.TrimSuffix(gen, "}") + ", zero_fraction: 0.2}"
				case freeClass:
					gen = strings.Replace(gen, "working_set: 128MiB", "working_set: 96MiB", 1)
					gen = strings.TrimSuffix(gen, "}") + ", zero_fraction: 0.25, free_fraction: 0.2}"
				}
				file := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.yaml", k.name, v.name, n.name))
				maxTime := n.maxTime
				if v.name == "max_time" {
					maxTime = n.shortTime
				}
				yaml := fmt.Sprintf("vm: {memory: %s}\nnetwork: {profile: %s}\nworkload: {generator: %s}\nmodel: {max_time: %s, downtime_limit: %s, %s}\n", mem, n.name, gen, maxTime, n.downtime, model)
				if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				out = append(out, fluidCase{kind: k.name, variant: v.name, network: n.name, file: file, sets: v.sets})
			}
		}
	}
	return out
}

// fluidRunCase runs the case's scenario on engine e at seed; nil after
// reporting an error.
func fluidRunCase(t testing.TB, c fluidCase, e models.Engine, seed uint64) *models.Result {
	t.Helper()
	all := append(slices.Clone(c.sets), fmt.Sprintf("seed=%d", seed), "model.engine="+string(e))
	spec, err := scenarios.Load(c.file, all)
	if err != nil {
		t.Errorf("%s: %v", c, err)
		return nil
	}
	m, in, err := spec.Build()
	if err != nil {
		t.Errorf("%s: %v", c, err)
		return nil
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		t.Errorf("%s: %v", c, err)
		return nil
	}
	return res
}

// fluidOutcome compares one case's fluid result with its page seeds.
type fluidOutcome struct {
	c                    fluidCase
	timeErr, bytesErr    float64 // relative
	downErr              float64 // relative
	downAbs              float64 // seconds
	agree                float64 // share of seeds with the fluid run's stop reason and rounds
	majority             string
	fluidVerdict         string
	margin               float64
	boundary             bool
	meanTime, fluidTimeS float64
	// XBZRLE: relative error of the pages sent encoded and of the cache
	// misses, 0 where the page seeds' mean is under 100 pages or the
	// fluid value within 4 standard errors of it (few hits vary from seed
	// to seed by several percent).
	xbPagesErr, xbMissErr float64
	// The memory options' counts: relative error of the balloon's pages
	// and of the hinted free pages never sent, 0 where the seeds' mean
	// is under 100 pages or fluid is within 4 standard errors of it.
	balloonErr, hintErr float64
	// cpuErr is the relative error of the source's CPU seconds, where a
	// CPU model runs.
	cpuErr float64
	// downSplit is the spread of the page seeds' downtimes when they
	// split on a step (see fluidCompare), else 0.
	downSplit float64
}

// TestFluidMatrix holds the fluid engine to the page engine over the
// matrix of generator kinds × pre-copy variants × network profiles (420
// cases, 10 page seeds each, 256 MiB guests; -fluid.long: 1 GiB, 16
// seeds). The fluid result must match the page seeds' mean within 1 %
// for total time and transferred bytes, within 2 % or 1 ms for downtime,
// and give the majority's stop reason. A case is at the convergence
// boundary when the page seeds disagree among themselves on the stop
// reason or the round count, or differ from the fluid run's while its
// verdict_margin is below 0.9, or split on when a sync comes (their
// downtimes more than 10 % and 1 ms apart: the mean of two clusters): it
// is reported, with verdict_margin and the seeds' agreement, instead of
// failing. The worst cases are logged.
func TestFluidMatrix(t *testing.T) {
	cases := fluidMatrix(t, *fluidLong)
	seeds := 10
	if *fluidLong {
		seeds = 16
	}
	if len(cases) < 200 {
		t.Fatalf("%d cases, want at least 200", len(cases))
	}
	checkFluidOutcomes(t, compareParallel(t, cases, seeds))
}

// compareParallel runs fluidCompare on every case over seeds page seeds,
// as many cases at a time as there are cores.
func compareParallel(t *testing.T, cases []fluidCase, seeds int) []fluidOutcome {
	outs := make([]fluidOutcome, len(cases))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			outs[i] = fluidCompare(t, c, seeds)
		}()
	}
	wg.Wait()
	return outs
}

// TestFluidMatrixParallel holds the parallel model's fluid form to its
// page engine as [TestFluidMatrix] does pre-copy's, over every generator
// kind × three parallel variants × every network profile (84 cases):
// PMigrate's defaults (4 workers, range lock, pipeline); one source core
// under a global lock, CPU-bound on the fast links, where each pass's
// work splits by the dirty pages of each worker's range; and 8 workers
// compressing with zstd.
func TestFluidMatrixParallel(t *testing.T) {
	mem := "256MiB"
	if *fluidLong {
		mem = "1GiB"
	}
	cases := fluidCases(t, mem, "name: parallel", []fluidVariant{
		{"parallel", nil, 2.5},
		{"parallel-1core", []string{"model.source_cores=1", "model.lock=global", "model.vcpu_busy=0"}, 1},
		{"parallel-zstd", []string{"model.workers=8", "model.compression=zstd"}, 2},
	})
	outs := make([]fluidOutcome, len(cases))
	for i, c := range cases {
		outs[i] = fluidCompare(t, c, 10)
	}
	checkFluidOutcomes(t, outs)
}

// TestFluidManyZipfPhases holds the fluid pre-copy to the page engine's
// mean over 10 seeds, as TestFluidMatrix does, on a workload of twelve
// zipf phases (the closed forms followed at most eight until 2026-12-07),
// each with its own permutation, alternating all of memory at s 1.2 and
// half of it at s 1.6, each writing about 8,000 pages, looping: both sync
// policies × the network profiles (8 cases).
func TestFluidManyZipfPhases(t *testing.T) {
	dir := t.TempDir()
	var cases []fluidCase
	for _, pol := range []string{"pass", "qemu"} {
		for _, n := range fluidNetworks {
			rate := 0.4 * n.pps
			var phases []string
			for i := range 12 {
				ph := fmt.Sprintf("{kind: zipf, dirty_rate: %.0f, duration: %.4fs", rate*(1+0.05*float64(i)), 8000/(rate*(1+0.05*float64(i))))
				if i%2 == 1 {
					ph += ", zipf_s: 1.6, working_set: 128MiB"
				}
				phases = append(phases, ph+"}")
			}
			file := filepath.Join(dir, fmt.Sprintf("zipf12-%s-%s.yaml", pol, n.name))
			yaml := fmt.Sprintf("vm: {memory: 256MiB}\nnetwork: {profile: %s}\nworkload: {generator: {kind: phases, phases: [%s]}}\nmodel: {max_time: %s, downtime_limit: %s, sync_policy: %s}\n",
				n.name, strings.Join(phases, ", "), n.maxTime, n.downtime, pol)
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cases = append(cases, fluidCase{kind: "zipf12", variant: pol, network: n.name, file: file})
		}
	}
	outs := make([]fluidOutcome, len(cases))
	for i, c := range cases {
		outs[i] = fluidCompare(t, c, 10)
	}
	checkFluidOutcomes(t, outs)
}

// TestFluidXbzrleSmallCache holds the fluid engine's model of XBZRLE's
// slots (fluid_xbzrle_slots.go), a cache smaller than what the workload
// writes, to the page engine's mean over 10 seeds as TestFluidMatrix
// does (the pages sent encoded and the cache misses within 2 %): every
// generator kind but zipf × caches of 16 MiB and 64 MiB (a sixteenth and
// a quarter of the 256 MiB guest) × both sync policies, and the 16 MiB
// cache with guests that cannot converge, with the hint, the balloon,
// auto-converge and a CPU-bound stream, × the network profiles (200
// cases).
func TestFluidXbzrleSmallCache(t *testing.T) {
	var variants []fluidVariant
	for _, size := range []string{"16MiB", "64MiB"} {
		for _, pol := range []string{"pass", "qemu"} {
			variants = append(variants, fluidVariant{"xbzrle" + size + "_" + pol,
				[]string{"model.xbzrle={enabled: true, cache_size: " + size + "}", "model.sync_policy=" + pol}, 1.5})
		}
	}
	// With the 16 MiB cache: guests that cannot converge, stopped for no
	// progress (which waits for XBZRLE's first passes, xbzrleCache.warm,
	// as the page engine's does: without, the fluid run stopped rounds
	// early, 11-24 % short), and the options that ride along.
	xb := "model.xbzrle={enabled: true, cache_size: 16MiB}"
	variants = append(variants,
		fluidVariant{"xbzrle16MiB_noprogress_pass", []string{xb}, 4},
		fluidVariant{"xbzrle16MiB_noprogress_qemu", []string{xb, "model.sync_policy=qemu"}, 4},
		fluidVariant{"xbzrle16MiB_hint", []string{xb, "model.free_page_hint=true"}, 1.5},
		fluidVariant{"xbzrle16MiB_balloon", []string{xb, "model.balloon={enabled: true, interval: 250ms, reclaim_rate: 16000}", "model.sync_policy=qemu"}, 1.5},
		fluidVariant{"xbzrle16MiB_autoconverge", []string{xb, "model.auto_converge=true", "model.sync_policy=qemu"}, 2.5},
		fluidVariant{"xbzrle16MiB_cpu", []string{xb, "model.sync_policy=qemu", "model.cpu_bound=true"}, 1.5},
	)
	cases := slices.DeleteFunc(fluidCases(t, "256MiB", "sync_policy: pass", variants), func(c fluidCase) bool {
		return strings.HasPrefix(c.kind, "zipf")
	})
	checkFluidOutcomes(t, compareParallel(t, cases, 10))
}

// checkFluidOutcomes fails the cases whose fluid result is off (see
// [TestFluidMatrix]) and logs the boundary and worst ones.
func checkFluidOutcomes(t *testing.T, outs []fluidOutcome) {
	var boundary, failed int
	for _, o := range outs {
		if o.boundary {
			boundary++
			split := ""
			if o.downSplit > 0 {
				split = fmt.Sprintf(", seeds' downtimes %.1f ms apart, fluid %+.2f ms from their mean", 1e3*o.downSplit, 1e3*o.downAbs)
			}
			t.Logf("boundary %-32s fluid %-12s margin %.2f, page majority %-12s agreement %.2f (time %+.2f %%, bytes %+.2f %%%s)",
				o.c, o.fluidVerdict, o.margin, o.majority, o.agree, 100*o.timeErr, 100*o.bytesErr, split)
			continue
		}
		var why []string
		if o.fluidVerdict != o.majority {
			why = append(why, fmt.Sprintf("verdict %s, page majority %s", o.fluidVerdict, o.majority))
		}
		if math.Abs(o.timeErr) > 0.01 {
			why = append(why, fmt.Sprintf("total time off by %+.2f %%", 100*o.timeErr))
		}
		if math.Abs(o.bytesErr) > 0.01 {
			why = append(why, fmt.Sprintf("bytes off by %+.2f %%", 100*o.bytesErr))
		}
		if math.Abs(o.cpuErr) > 0.01 {
			why = append(why, fmt.Sprintf("source CPU seconds off by %+.2f %%", 100*o.cpuErr))
		}
		if e := max(math.Abs(o.balloonErr), math.Abs(o.hintErr)); e > 0.01 {
			why = append(why, fmt.Sprintf("balloon pages off by %+.2f %%, hinted pages by %+.2f %%", 100*o.balloonErr, 100*o.hintErr))
		}
		if e := max(math.Abs(o.xbPagesErr), math.Abs(o.xbMissErr)); e > 0.02 {
			why = append(why, fmt.Sprintf("XBZRLE pages off by %+.2f %%, misses by %+.2f %%", 100*o.xbPagesErr, 100*o.xbMissErr))
		}
		if math.Abs(o.downErr) > 0.02 && math.Abs(o.downAbs) > 1e-3 {
			why = append(why, fmt.Sprintf("downtime off by %+.2f %% (%+.2f ms)", 100*o.downErr, 1e3*o.downAbs))
		}
		if len(why) > 0 {
			failed++
			t.Errorf("%s: %s (margin %.2f, seeds agreeing %.2f)", o.c, strings.Join(why, "; "), o.margin, o.agree)
		}
	}
	t.Logf("%d cases, %d at the convergence boundary, %d failed", len(outs), boundary, failed)
	verdicts := map[string]int{}
	for _, o := range outs {
		verdicts[o.fluidVerdict]++
	}
	t.Logf("fluid verdicts: %v", verdicts)
	worst := func(name string, key func(o fluidOutcome) float64) {
		strict := slices.DeleteFunc(slices.Clone(outs), func(o fluidOutcome) bool { return o.boundary })
		sort.Slice(strict, func(i, j int) bool { return math.Abs(key(strict[i])) > math.Abs(key(strict[j])) })
		for _, o := range strict[:min(3, len(strict))] {
			t.Logf("worst %-9s %+.3f %%  %s (%s, margin %.2f)", name, 100*key(o), o.c, o.fluidVerdict, o.margin)
		}
	}
	worst("time", func(o fluidOutcome) float64 { return o.timeErr })
	worst("bytes", func(o fluidOutcome) float64 { return o.bytesErr })
	worst("downtime", func(o fluidOutcome) float64 { return o.downErr })
	worst("xbzrle", func(o fluidOutcome) float64 { return o.xbPagesErr })
	worst("xb-miss", func(o fluidOutcome) float64 { return o.xbMissErr })
	worst("cpu", func(o fluidOutcome) float64 { return o.cpuErr })
	worst("balloon", func(o fluidOutcome) float64 { return o.balloonErr })
	worst("hinted", func(o fluidOutcome) float64 { return o.hintErr })
}

// seedsErr returns the relative error of fluid against the mean of the
// page seeds' values, 0 when the mean is under 100 or fluid is within 4
// standard errors of it.
func seedsErr(fluid float64, seeds []float64) float64 {
	var sum, sq float64
	for _, v := range seeds {
		sum += v
		sq += v * v
	}
	n := float64(len(seeds))
	mean := sum / n
	se := math.Sqrt(math.Max(0, sq/n-mean*mean) / n)
	if mean < 100 || math.Abs(fluid-mean) <= 4*se {
		return 0
	}
	return fluid/mean - 1
}

// fluidCompare runs one case on both engines.
func fluidCompare(t *testing.T, c fluidCase, seeds int) fluidOutcome {
	f := fluidRunCase(t, c, models.EngineFluid, 1)
	if f == nil {
		return fluidOutcome{c: c, boundary: true}
	}
	if f.Engine != "fluid" {
		t.Errorf("%s: engine %q, want fluid", c, f.Engine)
	}
	o := fluidOutcome{c: c, margin: f.VerdictMargin, fluidVerdict: f.StopReason.String()}
	var sumT, sumB, sumD, sumCPU float64
	minD, maxD := math.Inf(1), math.Inf(-1)
	var xbPages, xbMisses, balloon, hinted []float64
	votes := map[string]int{}
	paths := map[string]int{}
	fluidPath := fmt.Sprintf("%s/%d", f.StopReason, f.Rounds)
	for s := range seeds {
		p := fluidRunCase(t, c, models.EnginePage, uint64(s)+1)
		if p == nil {
			return fluidOutcome{c: c, boundary: true}
		}
		sumT += p.TotalTimeS
		sumB += float64(p.TransferredBytes)
		sumD += p.DowntimeS
		sumCPU += p.CPUSecondsSource
		minD, maxD = min(minD, p.DowntimeS), max(maxD, p.DowntimeS)
		xbPages = append(xbPages, float64(p.XbzrlePages))
		xbMisses = append(xbMisses, float64(p.XbzrleCacheMisses))
		balloon = append(balloon, float64(p.BalloonReclaimedPages))
		hinted = append(hinted, float64(p.SkippedFreePages))
		votes[p.StopReason.String()]++
		paths[fmt.Sprintf("%s/%d", p.StopReason, p.Rounds)]++
	}
	n := float64(seeds)
	mt, mb, md := sumT/n, sumB/n, sumD/n
	o.meanTime, o.fluidTimeS = mt, f.TotalTimeS
	o.timeErr = f.TotalTimeS/mt - 1
	o.bytesErr = float64(f.TransferredBytes)/mb - 1
	o.downAbs = f.DowntimeS - md
	o.xbPagesErr = seedsErr(float64(f.XbzrlePages), xbPages)
	o.xbMissErr = seedsErr(float64(f.XbzrleCacheMisses), xbMisses)
	o.balloonErr = seedsErr(float64(f.BalloonReclaimedPages), balloon)
	o.hintErr = seedsErr(float64(f.SkippedFreePages), hinted)
	if md > 0 {
		o.downErr = f.DowntimeS/md - 1
	}
	if mc := sumCPU / n; mc > 0 {
		o.cpuErr = f.CPUSecondsSource/mc - 1
	}
	best := 0
	for v, k := range votes {
		if k > best || k == best && v < o.majority {
			o.majority, best = v, k
		}
	}
	o.agree = float64(paths[fluidPath]) / n
	o.boundary = len(paths) > 1 || (paths[fluidPath] == 0 && f.VerdictMargin < 0.9)
	// Seeds that split on when a sync comes (under sync_policy qemu, one
	// more 50 ms step before it or not) keep their rounds but not their
	// last pass: their downtimes cluster apart, and their mean is a
	// mixture no single run has.
	if spread := maxD - minD; spread > math.Max(0.1*md, 1e-3) {
		o.boundary, o.downSplit = true, spread
	}
	return o
}

// TestFluidBalloonTiming holds the fluid balloon to the page engine's
// where the order of events decides: a setup sync at the very time of an
// inflation (which comes after it, except the one at time 0), with and
// without the hint, whose count then follows the inflations up to the
// stop. The sequential scan is deterministic, so the counts must match
// exactly and the bytes closely.
func TestFluidBalloonTiming(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "balloon.yaml")
	yaml := "vm: {memory: 256MiB}\nnetwork: {profile: lan-1g}\n" +
		"workload: {generator: {kind: sequential, dirty_rate: 9000, working_set: 96MiB, zero_fraction: 0.25, free_fraction: 0.2}}\n" +
		"model: {sync_policy: pass, balloon: {enabled: true, interval: 250ms, reclaim_rate: 16000}}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, setup := range []string{"0s", "250ms", "500ms", "600ms"} {
		for _, hint := range []string{"false", "true"} {
			c := fluidCase{kind: "sequential", variant: "setup " + setup + " hint " + hint, network: "lan-1g", file: file,
				sets: []string{"model.setup_time=" + setup, "model.free_page_hint=" + hint}}
			p, f := fluidRunCase(t, c, models.EnginePage, 1), fluidRunCase(t, c, models.EngineFluid, 1)
			if p == nil || f == nil {
				continue
			}
			if p.BalloonReclaimedPages == 0 || f.BalloonReclaimedPages != p.BalloonReclaimedPages || f.SkippedFreePages != p.SkippedFreePages {
				t.Errorf("%s: fluid balloon %d, hinted %d; page %d, %d", c, f.BalloonReclaimedPages, f.SkippedFreePages, p.BalloonReclaimedPages, p.SkippedFreePages)
			}
			if d := float64(f.TransferredBytes)/float64(p.TransferredBytes) - 1; math.Abs(d) > 1e-3 {
				t.Errorf("%s: fluid sends %d bytes, page %d (%+.3f %%)", c, f.TransferredBytes, p.TransferredBytes, 100*d)
			}
		}
	}
}

// TestFluidPostcopyMatrix holds the fluid post-copy to the page engine's
// mean over 10 seeds: every generator kind with random access (uniform,
// hotcold, zipf, uniform with reads, and uniform with background pages
// and an open-loop guest) × every pre-paging order × every network
// profile and a 1 Gbit/s path with no RTT, 256 MiB guests at 60 % of the
// link's page rate: 100 cases. Total time, bytes and downtime do not
// depend on the faults and must match within 0.1 %; the fault figures,
// a fluid model of the guest racing the push, within the bounds of
// postcopyFamilyMatrix.
func TestFluidPostcopyMatrix(t *testing.T) {
	var variants []postcopyVariant
	for _, o := range []string{"none", "forward", "bubbling", "multi-pivot"} {
		variants = append(variants, postcopyVariant{o, "{name: postcopy, prepaging: " + o + "}"})
	}
	kinds := append(postcopyKinds[:2:2], postcopyKind{"zipf", "{kind: zipf, dirty_rate: %.0f}", ""})
	kinds = append(kinds, postcopyKinds[2:]...)
	postcopyFamilyMatrix(t, kinds, variants, 0.6, faultTolerance{1e-3, 1e-3, 0.06, 0.05, 0.02, 0})
}

// TestFluidHybridMatrix holds the fluid hybrid to the page engine's mean
// over 10 seeds: uniform, hotcold, uniform with reads and uniform with
// background pages and catch_up × one and two pre-copy rounds × both sync
// policies × pre-paging none and forward × the network profiles and a
// path with no RTT, 256 MiB guests dirtying 80 % of the link's page rate
// under a 10 ms downtime limit, so that every case switches: 160 cases.
// Time and bytes, which now depend on the pre-copy rounds' expected
// counts, within 1 %, downtime within 2 % (or 1 ms), the same stop
// reason; requests within 6 % (or 3), stall within 5 % (or 1 ms) and
// guest time within 4 % of the time on the destination (worst 3.8, 4.0
// and 2.9 %). A hybrid leaves few pages to post-copy and its phase lasts
// a few round trips: until the fluid push moved by each expected fault
// with the chance of one (arrivedFaults), hotcold with forward over metro
// and continental, 6-24 requests, got up to 3 fewer and 14 % less stall,
// and the test allowed 25 % and 15 %.
func TestFluidHybridMatrix(t *testing.T) {
	postcopyFamilyMatrix(t, postcopyKinds, hybridVariants(), 0.8, faultTolerance{0.01, 0.02, 0.06, 0.05, 0.04, 0})
	// Background pages without catch_up: those the workload wrote since
	// the last sync are missing, and the guest reads them all early
	// (replayAccesses; until 2026-12-07 the fluid hybrid took them as at
	// the destination, up to 44 % fewer requests).
	bg := []postcopyKind{
		{"uniform-bg2000", "{kind: uniform, dirty_rate: %.0f}", ", background_pages: 2000"},
		{"uniform-bg8000", "{kind: uniform, dirty_rate: %.0f}", ", background_pages: 8000"},
	}
	postcopyFamilyMatrix(t, bg, hybridVariants(), 0.8, faultTolerance{0.01, 0.02, 0.06, 0.05, 0.04, 0})
	// A hotcold guest with them is held to 45 % (requests, stall) and 25 %
	// (guest time): over lan-10g its post-copy phase lasts 15-33 ms, and
	// the fluid engine makes up to 43 % more requests (88 against 61.5);
	// over the slower paths up to 7.5 % more. The epoch under way at the
	// switch differs: the page engine's destination skips the lowest
	// accesses of the epoch's union of writes and reads, the source wrote
	// the lowest of its writes, and with the writes crowded into the hot
	// part and the background pages spread evenly the two splits fall at
	// different pages; the fluid engine splits each set by its own rank.
	hot := []postcopyKind{{"hotcold-bg2000", "{kind: hotcold, dirty_rate: %.0f}", ", background_pages: 2000"}}
	postcopyFamilyMatrix(t, hot, hybridVariants(), 0.8, faultTolerance{0.01, 0.02, 0.45, 0.45, 0.25, 0})
}

// hybridVariants are the hybrid matrix's: one and two pre-copy rounds ×
// both sync policies × pre-paging none and forward, under a 10 ms
// downtime limit, so that every case switches.
func hybridVariants() []postcopyVariant {
	var variants []postcopyVariant
	for _, rounds := range []int{1, 2} {
		for _, pol := range []string{"pass", "qemu"} {
			for _, o := range []string{"none", "forward"} {
				variants = append(variants, postcopyVariant{fmt.Sprintf("%d-%s-%s", rounds, pol, o),
					fmt.Sprintf("{name: hybrid, precopy_rounds: %d, sync_policy: %s, prepaging: %s, downtime_limit: 10ms}", rounds, pol, o)})
			}
		}
	}
	return variants
}

// TestFluidHybridZipf holds the fluid hybrid with a zipf guest to the
// page engine's mean over 10 seeds, within the hybrid matrix's bounds:
// zipf and zipf with reads × the hybrid matrix's variants × the network
// profiles and a path with no RTT (80 cases). The pages a zipf guest's
// rounds leave to post-copy are its popular ranks, which it touches
// first after the resume: the fluid post-copy follows them by rank
// bucket within each block (fluid_strata.go). Counts per block alone
// made up to 85 % fewer requests than the page engine.
func TestFluidHybridZipf(t *testing.T) {
	variants := hybridVariants()
	kinds := []postcopyKind{
		{"zipf", "{kind: zipf, dirty_rate: %.0f}", ""},
		{"zipf-reads", "{kind: zipf, dirty_rate: %.0f, read_rate: 20000}", ""},
	}
	postcopyFamilyMatrix(t, kinds, variants, 0.8, faultTolerance{0.01, 0.02, 0.06, 0.05, 0.04, 0})
}

// TestFluidHybridLoopedTrace holds the fluid hybrid to the page engine's
// mean over 10 seeds on traces shorter than its pre-copy rounds (at_end
// loop), which replay the same pages: what the guest touches after the
// resume it wrote before the switch too (fluid_replay.go, and by rank
// bucket fluid_strata.go). Traces of two 150 ms phases (uniform, then
// hotcold or zipf), a 200 ms uniform trace with reads and a 200 ms zipf
// trace × the hybrid matrix's variants × the network profiles and a path
// with no RTT: 160 cases, time and bytes within 0.06 %, requests within
// 6.7 % (or 3); stall within 5 % and guest time within 4.5 % of the time
// on the destination but for the zipf traces over continental under
// sync_policy qemu (up to 8.8 %, 5 ms, and 8.4 %); held to the hybrid
// matrix's bounds but 8 %, 10 % and 10 %. Counts per block alone made up
// to 91 % fewer requests, over lan-1g and the path with no RTT, where one
// round outlasts several passes of the trace.
func TestFluidHybridLoopedTrace(t *testing.T) {
	kinds := []postcopyKind{
		{"phases-300ms", "{kind: phases, phases: [{kind: uniform, dirty_rate: %.0f, duration: 150ms}, {kind: hotcold, dirty_rate: 20000, duration: 150ms}]}", ""},
		{"uniform-200ms-reads", "{kind: uniform, dirty_rate: %.0f, duration: 200ms, read_rate: 20000}", ""},
		{"zipf-200ms", "{kind: zipf, dirty_rate: %.0f, duration: 200ms}", ""},
		{"phases-300ms-zipf", "{kind: phases, phases: [{kind: uniform, dirty_rate: %.0f, duration: 150ms}, {kind: zipf, dirty_rate: 20000, duration: 150ms}]}", ""},
	}
	postcopyFamilyMatrix(t, kinds, hybridVariants(), 0.8, faultTolerance{0.01, 0.02, 0.08, 0.10, 0.10, 0})
}

// TestFluidHybridXbzrle holds the fluid hybrid with XBZRLE in its live
// rounds ([FluidPrecopy]'s XBZRLE) to the page engine's mean over 10
// seeds: a cache that holds the working set with two and three pre-copy
// rounds (the cache's first lookups come in round 2, its first hits in
// round 3), and a cache of a quarter of the guest with three (pages share
// slots: fluid_xbzrle_slots.go), × both sync policies × uniform and
// hotcold × the network profiles and a path with no RTT: 60 cases within
// the hybrid matrix's bounds but
// stall, held to 30 % (or 1 ms), and guest time, 15 % of the time on the
// destination; the pages sent encoded and the cache misses within 2 %
// (or 20). After three rounds a hotcold guest over continental leaves a
// post-copy phase of 15 ms with no request, only waits for pages on the
// wire (8-9 ms of them), and the fluid guest waits 2 ms longer (up to
// 25 %).
func TestFluidHybridXbzrle(t *testing.T) {
	var variants []postcopyVariant
	for _, pol := range []string{"pass", "qemu"} {
		for _, r := range []int{2, 3} {
			variants = append(variants, postcopyVariant{fmt.Sprintf("xbzrle-%s-%d", pol, r),
				fmt.Sprintf("{name: hybrid, precopy_rounds: %d, sync_policy: %s, downtime_limit: 10ms, xbzrle: {enabled: true, cache_size: 256MiB}}", r, pol)})
		}
		// A cache of a quarter of the guest: pages share slots
		// (fluid_xbzrle_slots.go).
		variants = append(variants, postcopyVariant{"xbzrle64MiB-" + pol + "-3",
			"{name: hybrid, precopy_rounds: 3, sync_policy: " + pol + ", downtime_limit: 10ms, xbzrle: {enabled: true, cache_size: 64MiB}}"})
	}
	postcopyFamilyMatrix(t, postcopyKinds[:2], variants, 0.8, faultTolerance{0.01, 0.02, 0.06, 0.30, 0.15, 0})
}

// TestFluidPostcopyStreamMatrix holds the fluid post-copy's streams and
// rate limiter to the page engine's mean over 10 seeds: postcopy_preempt
// (alone and under a 400 Mbit/s cap, whose windows preempt bypasses), a
// 400 Mbit/s cap whose windows requests wait for (pre-paging none and
// forward), multifd with 2 and 4 channels, cpu_bound with a copy cost
// that binds the push over lan-10g and metro, × uniform and hotcold;
// the cap with a guest dirtying 2 % of the link's page rate × the four
// post-copy kinds; and a hybrid over 2 channels and one under the cap ×
// uniform and hotcold; each × the network profiles and a path with no
// RTT: 110 cases, within pure post-copy's bounds (the hybrids the hybrid
// matrix's) but where said.
func TestFluidPostcopyStreamMatrix(t *testing.T) {
	variants := []postcopyVariant{
		{"preempt", "{name: postcopy, prepaging: forward, postcopy_preempt: true}"},
		{"preempt-capped", "{name: postcopy, postcopy_preempt: true, max_postcopy_bandwidth: 400Mbit}"},
		{"capped", "{name: postcopy, max_postcopy_bandwidth: 400Mbit}"},
		{"capped-forward", "{name: postcopy, prepaging: forward, max_postcopy_bandwidth: 400Mbit}"},
		{"multifd-2", "{name: postcopy, prepaging: forward, multifd: {channels: 2}}"},
		{"multifd-4", "{name: postcopy, multifd: {channels: 4}}"},
		{"cpu-bound", "{name: postcopy, prepaging: bubbling, cpu_bound: true, costs: {copy: 20us}}"}, // the CPU's 1.6 Gbit/s
	}
	postcopyFamilyMatrix(t, postcopyKinds[:2], variants, 0.6, faultTolerance{1e-3, 1e-3, 0.06, 0.05, 0.02, 0})
	// A guest that runs between its faults under the windows: the wait
	// depends on where its requests land in them, which the fluid engine
	// takes from the guest's mean run between faults. A hotcold guest's
	// runs are a mixture (its hot part faults early and soon stops): over
	// 1 Gbit/s it makes up to 8 % fewer requests than the page seeds
	// (77 against 84), its stall within 1 %; held to 10 %.
	capped := []postcopyVariant{{"capped-slow-guest", "{name: postcopy, prepaging: bubbling, max_postcopy_bandwidth: 400Mbit}"}}
	postcopyFamilyMatrix(t, postcopyKinds, capped, 0.02, faultTolerance{1e-3, 1e-3, 0.10, 0.05, 0.02, 0})
	hybrid := []postcopyVariant{{"hybrid-multifd-2", "{name: hybrid, precopy_rounds: 1, downtime_limit: 10ms, multifd: {channels: 2}}"},
		{"hybrid-capped", "{name: hybrid, precopy_rounds: 1, downtime_limit: 10ms, max_postcopy_bandwidth: 400Mbit}"}}
	// The hybrid under the cap over lan-10g and metro: its requests land
	// in bursts of 4 ms of each 100 ms window, and the fluid engine makes
	// up to 18 % more of them (a few tens), its stall within 1 %; held to
	// 25 %, the rest to the hybrid matrix's bounds.
	postcopyFamilyMatrix(t, postcopyKinds[:2], hybrid, 0.8, faultTolerance{0.01, 0.02, 0.25, 0.05, 0.04, 0})
}

// TestFluidPostcopyMemoryMatrix holds the fluid post-copy with
// free_page_hint and the DSB balloon to the page engine's mean over 10
// seeds: neither (the free class sent), the hint, a balloon that has
// taken all it can by the stop, one that has taken part of it (4,000
// pages every 4 ms: three inflations before the 10 ms stop), and both,
// with pre-paging none and forward, × uniform and hotcold guests with a
// free class of 30 % and a zero class of 10 % × the network profiles and
// a path with no RTT: 100 cases, the pages left out exactly the page
// engine's, within pure post-copy's bounds but requests, held to 8 %
// (or 3), and guest time, 3 % of the time on the destination: with
// forward over continental, a free class sent above the working set
// (none, or the part a partial balloon leaves) gives up to 6 % fewer
// requests and 2.6 % more guest time (a few tens of requests over two
// seconds, each moving the push). And hybrids with the hint (one
// pre-copy round), the balloon (two) and the partial balloon (one), and
// with neither (two), 40 cases, within the hybrid matrix's bounds but
// guest time, held to 6 % of the time on the destination: a hotcold
// guest's post-copy phase over metro lasts 8 ms, and the fluid one's
// guest gets 0.5 ms (5.8 %) less far. And the page cache: skip, skip
// with a SAN slower than the migration (with the hint and forward), drop,
// and a hybrid under skip, on a guest with 20 % page cache, × the paths:
// 20 cases within pure post-copy's bounds, the page cache's counts, SAN
// bytes and penalty exactly the page engine's. And pure post-copy under
// skip (a 4 Gbit/s SAN, a 200 Mbit/s one with none and with forward and
// the hint) and drop on guests with background pages (2,000; 500 with
// catch_up), some of them in the page cache: 40 cases within the same
// bounds, the penalty exactly the page engine's.
func TestFluidPostcopyMemoryMatrix(t *testing.T) {
	variants := memoryVariants(memoryHint, memorySent, memoryBalloon, memoryBalloonPartial,
		memoryOption{"hint-balloon-partial", "free_page_hint: true, " + memoryBalloonPartial.keys})
	kinds := []postcopyKind{
		{"uniform-free", "{kind: uniform, dirty_rate: %.0f, free_fraction: 0.3, zero_fraction: 0.1}", ""},
		{"hotcold-free", "{kind: hotcold, dirty_rate: %.0f, free_fraction: 0.3, zero_fraction: 0.1}", ""},
	}
	postcopyFamilyMatrix(t, kinds, variants, 0.6, faultTolerance{1e-3, 1e-3, 0.08, 0.05, 0.03, 0})
	// The page cache, left out and restored from the SAN (skip, also
	// slower than the migration, with the hint and forward) or dropped.
	pc := []postcopyKind{{"uniform-pagecache", "{kind: uniform, dirty_rate: %.0f, free_fraction: 0.2, pagecache_fraction: 0.2, zero_fraction: 0.1}", ""}}
	pcVariants := []postcopyVariant{{"pagecache-skip", "{name: postcopy, pagecache: {mode: skip}}"},
		{"pagecache-skip-slow-san-hint", "{name: postcopy, prepaging: forward, free_page_hint: true, pagecache: {mode: skip, san_bandwidth: 200Mbit}}"},
		{"pagecache-drop", "{name: postcopy, pagecache: {mode: drop}}"},
		{"hybrid-pagecache-skip", "{name: hybrid, precopy_rounds: 1, downtime_limit: 10ms, pagecache: {mode: skip, san_bandwidth: 200Mbit}}"}}
	postcopyFamilyMatrix(t, pc, pcVariants, 0.6, faultTolerance{1e-3, 1e-3, 0.06, 0.05, 0.03, 0})
	// With background pages, some of which lie in the page cache: the
	// SAN's restore races their first touches (skip), or each is a miss
	// (drop): pure post-copy (fluid_san.go).
	pcBg := []postcopyKind{
		{"uniform-pagecache-bg", "{kind: uniform, dirty_rate: %.0f, free_fraction: 0.2, pagecache_fraction: 0.2, zero_fraction: 0.1}", ", background_pages: 2000"},
		{"uniform-pagecache-bg-catchup", "{kind: uniform, dirty_rate: %.0f, pagecache_fraction: 0.4}", ", background_pages: 500, catch_up: true"},
	}
	pcBgVariants := []postcopyVariant{pcVariants[0], pcVariants[1], pcVariants[2],
		{"pagecache-skip-slow-san-none", "{name: postcopy, pagecache: {mode: skip, san_bandwidth: 200Mbit}}"}}
	postcopyFamilyMatrix(t, pcBg, pcBgVariants, 0.6, faultTolerance{1e-3, 1e-3, 0.06, 0.05, 0.03, 0})
	// Hybrids: the pre-copy rounds leave the skipped pages out, and so
	// does the post-copy after the switch.
	hyb := append(slices.Clone(memoryHybrids),
		postcopyVariant{"hybrid-balloon-partial", "{name: hybrid, precopy_rounds: 1, downtime_limit: 10ms, " + memoryBalloonPartial.keys + "}"})
	postcopyFamilyMatrix(t, kinds, hyb, 0.8, faultTolerance{0.01, 0.02, 0.06, 0.05, 0.06, 0})
}

// TestFluidPostcopyChurnMatrix holds the fluid post-copy of a guest that
// allocates and frees pages (alloc_rate, free_rate) to the page engine's
// mean over 10 seeds, with the free class sent, free_page_hint, a full
// and a partial balloon × pre-paging none and forward, and hybrids with
// the hint, the balloon, the partial balloon and neither, × a uniform
// guest (128 MiB working set, 30 % free, allocating 20,000 pages/s and
// freeing 5,000) and a hotcold one (30 % free, 10 % zero, allocating
// 10,000 pages/s) × the paths: 120 cases. After the stop the guest
// allocates the lowest free pages: those the options left out (fresh at
// the destination, touching them moves nothing) and those freed since
// (sent like any other), so each epoch's allocations get blocks of their
// own (fluidPostcopyRun.churnCuts); without them the fluid engine made
// 51 % fewer requests than the page engine with the free class sent
// over lan-1g.
//
// Time, bytes and downtime are exact (hybrids within 0.03 %). Post-copy
// is held to requests 10 % (or 3), stall 10 % (or 1 ms) and guest time
// 7.5 % of the time on the destination: with forward over continental
// (46-58 requests over two seconds, each moving the push) the fluid
// engine makes up to 9.3 % fewer requests, 9 % less stall and 7.1 %
// more guest time under the hint and the balloon, and 5.7 % more
// requests with the free class sent; elsewhere requests are within 3 %.
// Hybrids are held to requests 14 % (or 3), stall 19 % and guest time 7
// %: a hotcold guest's hybrid over continental makes 11 requests, and
// the fluid engine 1.5 more, 60 ms more stall (+18.7 %).
// time_to_full_speed_s follows the stall: within 20 % in post-copy
// (forward over continental), 9.8 % in hybrids.
func TestFluidPostcopyChurnMatrix(t *testing.T) {
	variants := memoryVariants(memorySent, memoryHint, memoryBalloon, memoryBalloonPartial)
	kinds := []postcopyKind{
		{"uniform-churn", "{kind: uniform, dirty_rate: %.0f, working_set: 128MiB, free_fraction: 0.3, alloc_rate: 20000, free_rate: 5000}", ""},
		{"hotcold-alloc", "{kind: hotcold, dirty_rate: %.0f, free_fraction: 0.3, zero_fraction: 0.1, alloc_rate: 10000}", ""},
	}
	postcopyFamilyMatrix(t, kinds, variants, 0.6, faultTolerance{1e-3, 1e-3, 0.10, 0.10, 0.075, 0.21})
	hyb := append(slices.Clone(memoryHybrids),
		postcopyVariant{"hybrid-balloon-partial-forward", "{name: hybrid, precopy_rounds: 1, prepaging: forward, downtime_limit: 10ms, " + memoryBalloonPartial.keys + "}"})
	postcopyFamilyMatrix(t, kinds, hyb, 0.8, faultTolerance{0.01, 0.02, 0.14, 0.19, 0.07, 0.11})
}

// TestFluidPagecacheDropBackground: under pagecache drop the background
// pages that lie in the page cache are misses, counted in io_penalty_s
// and san_bytes on both engines, pre-copy and post-copy (the page engine
// left them out before 2026-12-07), and the same on both.
func TestFluidPagecacheDropBackground(t *testing.T) {
	dir := t.TempDir()
	for _, model := range []string{"precopy", "postcopy"} {
		file := filepath.Join(dir, model+".yaml")
		yaml := "vm: {memory: 64MiB}\nnetwork: {profile: lan-1g}\nworkload: {generator: {kind: uniform, dirty_rate: 2000, pagecache_fraction: 0.25}, background_pages: 1000}\nmodel: {name: " + model + ", pagecache: {mode: drop}}\n"
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		c := fluidCase{kind: "drop-bg", variant: model, network: "lan-1g", file: file}
		f, p := fluidRunCase(t, c, models.EngineFluid, 1), fluidRunCase(t, c, models.EnginePage, 1)
		if f == nil || p == nil {
			return
		}
		if f.Engine != string(models.EngineFluid) {
			t.Fatalf("%s: engine %q, want fluid", model, f.Engine)
		}
		// 1,000 background pages evenly over 16,384: a quarter of them
		// lie in the page cache, 4 MiB of the 64.
		if p.IOPenaltyS <= 0 || p.SANBytes != 250*4096 {
			t.Errorf("%s: page engine io_penalty_s %v, san_bytes %d; want the 250 background pages in the page cache", model, p.IOPenaltyS, p.SANBytes)
		}
		if f.IOPenaltyS != p.IOPenaltyS || f.SANBytes != p.SANBytes {
			t.Errorf("%s: fluid io_penalty_s %v, san_bytes %d; page engine %v, %d", model, f.IOPenaltyS, f.SANBytes, p.IOPenaltyS, p.SANBytes)
		}
	}
}

// memoryOption is a memory option of the post-copy matrices: its name
// and its model keys.
type memoryOption struct{ name, keys string }

// The memory options the post-copy matrices vary.
var (
	memoryHint           = memoryOption{"hint", "free_page_hint: true"}
	memorySent           = memoryOption{"sent", "free_page_hint: false"} // the free class sent, as without the options
	memoryBalloon        = memoryOption{"balloon", "balloon: {enabled: true}"}
	memoryBalloonPartial = memoryOption{"balloon-partial", "balloon: {enabled: true, interval: 4ms, reclaim_rate: 1000000}"}
)

// memoryHybrids are hybrids of the memory matrices: the hint after one
// round, the balloon and neither after two.
var memoryHybrids = []postcopyVariant{
	{"hybrid-hint", "{name: hybrid, precopy_rounds: 1, downtime_limit: 10ms, " + memoryHint.keys + "}"},
	{"hybrid-balloon", "{name: hybrid, precopy_rounds: 2, downtime_limit: 10ms, " + memoryBalloon.keys + "}"},
	{"hybrid-sent-2", "{name: hybrid, precopy_rounds: 2, downtime_limit: 10ms}"},
}

// memoryVariants returns pure post-copy with each of opts under
// pre-paging none, then each under forward.
func memoryVariants(opts ...memoryOption) []postcopyVariant {
	var out []postcopyVariant
	for _, o := range []string{"none", "forward"} {
		for _, m := range opts {
			out = append(out, postcopyVariant{m.name + "-" + o, "{name: postcopy, prepaging: " + o + ", " + m.keys + "}"})
		}
	}
	return out
}

// faultTolerance bounds a post-copy matrix's relative errors: total time
// and bytes; downtime (or 1 ms); requests (or 3); stall (or 1 ms); guest
// time as a share of the time the guest ran on the destination;
// time_to_full_speed_s (or 10 ms; 0: 5 %).
type faultTolerance struct {
	time, downtime, requests, stall, guest, full float64
}

// TestFluidEnlightenedMatrix holds the fluid enlightened post-copy to
// the page engine's mean over 10 seeds: uniform, hotcold (with a free and
// a zero class), uniform with reads and uniform with background pages and
// catch_up × ws_horizon 0, 100 ms, 2 s and 20 s × the network profiles
// and a path with no RTT, 256 MiB guests at 60 % of the link's page rate:
// 80 cases, within the bounds of pure post-copy but stall, held to 10 %
// (or 1 ms): with background pages and catch_up the fluid guest, riding
// the list's front, stalls up to 8.5 % (2 ms) less. And guests that
// allocate pages (TestFluidPostcopyChurnMatrix's two) × ws_horizon 0,
// 100 ms and 2 s × the paths: 30 cases, time, bytes and downtime exact,
// requests within 3.4 % or 3 but a hotcold guest with a 100 ms horizon
// over lan-10g, 9.1 % (33 against 36.3), held to 10 %; stall within
// 3.2 % (or 1 ms).
func TestFluidEnlightenedMatrix(t *testing.T) {
	var variants []postcopyVariant
	for _, h := range []string{"0s", "100ms", "2s", "20s"} {
		variants = append(variants, postcopyVariant{h, "{name: enlightened, ws_horizon: " + h + "}"})
	}
	kinds := []postcopyKind{postcopyKinds[0],
		{"hotcold-free", "{kind: hotcold, dirty_rate: %.0f, free_fraction: 0.2, zero_fraction: 0.1}", ""},
		postcopyKinds[2], postcopyKinds[3]}
	postcopyFamilyMatrix(t, kinds, variants, 0.6, faultTolerance{1e-3, 1e-3, 0.06, 0.10, 0.02, 0})
	// A churning guest: its free pages at the stop are the header's it
	// has not allocated, and those it allocates after the resume, on the
	// list, cost nothing (FluidEnlightened).
	churn := []postcopyKind{
		{"uniform-churn", "{kind: uniform, dirty_rate: %.0f, working_set: 128MiB, free_fraction: 0.3, alloc_rate: 20000, free_rate: 5000}", ""},
		{"hotcold-alloc", "{kind: hotcold, dirty_rate: %.0f, free_fraction: 0.3, zero_fraction: 0.1, alloc_rate: 10000}", ""},
	}
	postcopyFamilyMatrix(t, churn, variants[:3], 0.6, faultTolerance{1e-3, 1e-3, 0.10, 0.05, 0.02, 0.09})
}

// postcopyKind is a workload of the post-copy matrices: gen takes the
// dirty rate; extra adds workload keys.
type postcopyKind struct{ name, gen, extra string }

// postcopyKinds are the post-copy matrices' workloads but zipf.
var postcopyKinds = []postcopyKind{
	{"uniform", "{kind: uniform, dirty_rate: %.0f}", ""},
	{"hotcold", "{kind: hotcold, dirty_rate: %.0f}", ""},
	{"uniform-reads", "{kind: uniform, dirty_rate: %.0f, read_rate: 20000}", ""},
	{"uniform-bg-catchup", "{kind: uniform, dirty_rate: %.0f}", ", background_pages: 300, catch_up: true"},
}

// postcopyVariant is a model section of the post-copy matrices.
type postcopyVariant struct{ name, model string }

// postcopyFamilyMatrix runs every kind × variant × network (the profiles
// and a 1 Gbit/s path with no RTT, where a request's wait for the pushed
// page on the link has a phase: pushResidual) on a 256 MiB guest
// dirtying share of the link's page rate, fluid against the mean of 10
// page seeds, within tol; every seed must stop for the fluid run's
// reason (so that the means are over runs that ended alike), and
// time_to_full_speed_s be within 5 % (or 10 ms).
func postcopyFamilyMatrix(t *testing.T, kinds []postcopyKind, variants []postcopyVariant, share float64, tol faultTolerance) {
	timeTol, downTol := tol.time, tol.downtime
	type network struct {
		name, yaml string
		pps        float64
	}
	var networks []network
	for _, n := range fluidNetworks {
		networks = append(networks, network{n.name, "{profile: " + n.name + "}", n.pps})
	}
	networks = append(networks, network{"1g-no-rtt", "{bandwidth: 1Gbit, rtt: 0s, jitter: 0s}", 30500})
	dir := t.TempDir()
	const seeds = 10
	var cases, worstReq, worstStall int
	var maxReq, maxStall, maxGuest, maxFull, maxTime, maxDown float64
	for _, k := range kinds {
		for _, v := range variants {
			for _, n := range networks {
				name := k.name + "/" + v.name + "/" + n.name
				file := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".yaml")
				yaml := fmt.Sprintf("vm: {memory: 256MiB}\nnetwork: %s\nworkload: {generator: "+k.gen+k.extra+"}\nmodel: %s\n", n.yaml, share*n.pps, v.model)
				if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				c := fluidCase{kind: k.name, variant: v.name, network: n.name, file: file}
				f := fluidRunCase(t, c, models.EngineFluid, 1)
				if f == nil {
					return
				}
				if f.Engine != string(models.EngineFluid) {
					t.Fatalf("%s: engine %q, want fluid", name, f.Engine)
				}
				var mT, mB, mD, mR, mS, mG, mF, mC, mXP, mXM float64
				var fulls []float64
				stops := map[models.StopReason]int{}
				bottlenecks := map[string]int{}
				for s := range seeds {
					p := fluidRunCase(t, c, models.EnginePage, uint64(s)+1)
					if p == nil {
						return
					}
					stops[p.StopReason]++
					bottlenecks[p.Bottleneck]++
					// The memory options' counts are exact: the free class
					// and the balloon's timing have no randomness.
					if p.BalloonReclaimedPages != f.BalloonReclaimedPages || p.SkippedFreePages != f.SkippedFreePages {
						t.Errorf("%s: balloon %d and hinted %d pages, page seed %d %d and %d", name,
							f.BalloonReclaimedPages, f.SkippedFreePages, s+1, p.BalloonReclaimedPages, p.SkippedFreePages)
					}
					if p.SkippedPagecachePages != f.SkippedPagecachePages || p.SANBytes != f.SANBytes || p.IOPenaltyS != f.IOPenaltyS {
						t.Errorf("%s: page cache %d pages, SAN %d bytes, penalty %v s; page seed %d %d, %d, %v", name,
							f.SkippedPagecachePages, f.SANBytes, f.IOPenaltyS, s+1, p.SkippedPagecachePages, p.SANBytes, p.IOPenaltyS)
					}
					mC += (p.CPUSecondsSource + p.CPUSecondsDestination) / seeds
					mXP += float64(p.XbzrlePages) / seeds
					mXM += float64(p.XbzrleCacheMisses) / seeds
					mT += p.TotalTimeS / seeds
					mB += float64(p.TransferredBytes) / seeds
					mD += p.DowntimeS / seeds
					mR += float64(p.PostcopyRequests) / seeds
					mS += p.StallTimeS / seeds
					mG += p.GuestTimeS / seeds
					mF += p.TimeToFullSpeedS / seeds
					fulls = append(fulls, p.TimeToFullSpeedS)
				}
				cases++
				rel := func(a, b float64) float64 {
					if b == 0 {
						return a
					}
					return a/b - 1
				}
				dT, dB, dD := rel(f.TotalTimeS, mT), rel(float64(f.TransferredBytes), mB), rel(f.DowntimeS, mD)
				dR, dS, dF := rel(float64(f.PostcopyRequests), mR), rel(f.StallTimeS, mS), rel(f.TimeToFullSpeedS, mF)
				dG := 0.0
				if f.VMAtRiskS > 0 {
					dG = (f.GuestTimeS - mG) / f.VMAtRiskS
				}
				t.Logf("%-44s time %+6.3f %%  requests %+5.1f %% (page %5.0f)  stall %+5.1f %% (page %6.3f s)  guest time %+5.2f %% of %5.3f s  full speed %+5.1f %%",
					name, 100*dT, 100*dR, mR, 100*dS, mS, 100*dG, f.VMAtRiskS, 100*dF)
				// Every seed must stop as the fluid run does: the means
				// above are over runs that ended the same way.
				if stops[f.StopReason] != seeds {
					t.Errorf("%s: stop %s, page seeds %v", name, f.StopReason, stops)
				}
				// The CPU model's figures (cpu_bound, multifd): what bound
				// the push, and the CPU seconds, which follow the pages.
				if bottlenecks[f.Bottleneck] != seeds {
					t.Errorf("%s: bottleneck %q, page seeds %v", name, f.Bottleneck, bottlenecks)
				}
				if dC := rel(f.CPUSecondsSource+f.CPUSecondsDestination, mC); math.Abs(dC) > timeTol {
					t.Errorf("%s: CPU seconds %+.3f %% off the page engine's", name, 100*dC)
				}
				// XBZRLE in a hybrid's live rounds: its pages and misses.
				for _, x := range []struct {
					what        string
					fluid, mean float64
				}{{"XBZRLE pages", float64(f.XbzrlePages), mXP}, {"XBZRLE cache misses", float64(f.XbzrleCacheMisses), mXM}} {
					if math.Abs(x.fluid-x.mean) > max(0.02*x.mean, 20) {
						t.Errorf("%s: %s %.0f, page engine %.1f", name, x.what, x.fluid, x.mean)
					}
				}
				if math.Abs(dT) > timeTol || math.Abs(dB) > timeTol || (math.Abs(dD) > downTol && math.Abs(f.DowntimeS-mD) > 1e-3) {
					t.Errorf("%s: total time %+.3f %%, bytes %+.3f %%, downtime %+.3f %%: want the page engine's", name, 100*dT, 100*dB, 100*dD)
				}
				if math.Abs(dR) > tol.requests && math.Abs(float64(f.PostcopyRequests)-mR) > 3 {
					t.Errorf("%s: %d requests, page engine %.1f (%+.1f %%)", name, f.PostcopyRequests, mR, 100*dR)
				}
				if math.Abs(dS) > tol.stall && math.Abs(f.StallTimeS-mS) > 1e-3 {
					t.Errorf("%s: stall %.4f s, page engine %.4f s (%+.1f %%)", name, f.StallTimeS, mS, 100*dS)
				}
				if math.Abs(dG) > tol.guest {
					t.Errorf("%s: guest time %.4f s, page engine %.4f s (%+.2f %% of its %.3f s on the destination)", name, f.GuestTimeS, mG, 100*dG, f.VMAtRiskS)
				}
				// time_to_full_speed_s is a threshold's crossing: where the
				// seeds split between two values, fluid must give one of
				// them (the mean is neither).
				fullTol := tol.full
				if fullTol == 0 {
					fullTol = 0.05
				}
				near := func(a, b float64) bool { return math.Abs(a-b) <= max(fullTol*math.Abs(b), 0.01) }
				split := 0
				for _, v := range fulls {
					if near(f.TimeToFullSpeedS, v) {
						split++
					}
				}
				if !near(f.TimeToFullSpeedS, mF) {
					if split < seeds*3/10 {
						t.Errorf("%s: time to full speed %.4f s, page engine %.4f s (%+.1f %%), seeds %v", name, f.TimeToFullSpeedS, mF, 100*dF, fulls)
					} else {
						t.Logf("%s: seeds split on time to full speed %v; fluid %.4f s is %d of them", name, fulls, f.TimeToFullSpeedS, split)
						dF = 0
					}
				}
				if math.Abs(dR) > maxReq && math.Abs(float64(f.PostcopyRequests)-mR) > 3 {
					maxReq, worstReq = math.Abs(dR), cases
				}
				if math.Abs(dS) > maxStall && math.Abs(f.StallTimeS-mS) > 1e-3 {
					maxStall, worstStall = math.Abs(dS), cases
				}
				maxGuest, maxFull = max(maxGuest, math.Abs(dG)), max(maxFull, math.Abs(dF))
				maxTime, maxDown = max(maxTime, math.Abs(dT), math.Abs(dB)), max(maxDown, math.Abs(dD))
			}
		}
	}
	t.Logf("%d cases: worst time or bytes %.3f %%, downtime %.2f %%, requests %.1f %% (case %d), stall %.1f %% (case %d), guest time %.2f %%, full speed %.1f %%",
		cases, 100*maxTime, 100*maxDown, 100*maxReq, worstReq, 100*maxStall, worstStall, 100*maxGuest, 100*maxFull)
}

// TestFluidPostcopyRefuses checks what the fluid post-copy leaves to the
// page engine: under auto, a sequential generator (ascending access
// order) and the keys it does not follow run on the page engine, and
// under fluid they are errors naming the key.
func TestFluidPostcopyRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pc.yaml")
	yaml := "vm: {memory: 64MiB}\nnetwork: {profile: lan-1g}\nworkload: {generator: {kind: uniform, dirty_rate: 5000}}\nmodel: {name: postcopy}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// A hybrid after two zipf phases: a page's rank buckets under both.
	zipf2 := filepath.Join(dir, "zipf2.yaml")
	if err := os.WriteFile(zipf2, []byte(strings.Replace(yaml, "{kind: uniform, dirty_rate: 5000}",
		"{kind: phases, phases: [{kind: zipf, dirty_rate: 5000, duration: 1s}, {kind: zipf, zipf_s: 1.6, dirty_rate: 5000, duration: 1s}]}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sets []string
		key  string
	}{
		{[]string{"workload.generator.kind=sequential"}, "workload.access_order"},
		{[]string{"workload.access_order=ascending"}, "workload.access_order"},
		{[]string{"model.name=hybrid", "model.pagecache.mode=skip", "workload.background_pages=100"}, "model.pagecache"},
		{[]string{"model.name=enlightened", "workload.access_order=ascending"}, "workload.access_order"},
		{[]string{"model.name=hybrid", "file=" + zipf2}, "workload.generator.phases[1].kind"},                                                                    // a second zipf law
		{[]string{"model.name=hybrid", "model.xbzrle.enabled=true", "model.xbzrle.cache_size=16MiB", "workload.generator.kind=zipf"}, "model.xbzrle.cache_size"}, // smaller than a zipf working set
	} {
		f, sets := file, tc.sets
		if k := slices.IndexFunc(sets, func(s string) bool { return strings.HasPrefix(s, "file=") }); k >= 0 {
			f, sets = strings.TrimPrefix(sets[k], "file="), slices.Delete(slices.Clone(sets), k, k+1)
		}
		checkFluidRefuses(t, fluidCase{kind: "refuse", variant: strings.Join(tc.sets, ","), network: "lan-1g", file: f, sets: sets}, tc.key)
	}
}

// checkFluidRefuses runs the case under model.engine auto, which must
// fall back to the page engine saying why (naming key), and loads it under
// fluid, which must fail naming key.
func checkFluidRefuses(t *testing.T, c fluidCase, key string) {
	t.Helper()
	if p := fluidRunCase(t, c, models.EngineAuto, 1); p != nil && (p.Engine != string(models.EnginePage) || !strings.Contains(p.EngineFallback, key)) {
		t.Errorf("%s under auto: engine %q (%q), want page naming %s", c.variant, p.Engine, p.EngineFallback, key)
	}
	_, err := scenarios.Load(c.file, append(slices.Clone(c.sets), "model.engine=fluid"))
	if err == nil || !strings.Contains(err.Error(), key) {
		t.Errorf("%s under fluid: error %v, want one naming %s", c.variant, err, key)
	}
}

// TestFluidForcedSwitch holds the fluid engine's forced switch to
// post-copy (Input.ForcePostcopyAt, a fleet's plan.on_timeout postcopy)
// to the page engine's mean over 10 seeds: 64 MiB pre-copy (both sync
// policies) and parallel runs that cannot converge, and pre-copy with
// free_page_hint and with the balloon on a guest with a free class (and
// on one that allocates 3,000 pages/s and frees 1,000), switched at 1 s, over lan-1g, lan-10g and metro. The switch comes at
// the first decision after 1 s; where the seeds' rounds straddle it (3
// cases: 2 of 10 or 5 of 10 seeds switch a round later) the fluid run is
// held to the seeds that switched with it. Time, bytes and downtime
// within 1 % (2 % or 1 ms), the pages left out the page engine's. The
// faults are few (7-62 requests over a few round trips) and the fluid
// engine gives fewer: up to 24 % (33 % of 8) fewer requests and 23 % less
// stall under sync_policy pass, within 2 % under qemu on lan-10g; held to
// 35 % (or 4) and 30 % (or 1 ms). Under pass over lan-10g the seeds'
// post-copy sets differ by 5 % (4,056-4,264 pages) and their requests by
// 26 % (38-48): the requests grow faster than the set, and their mean
// over seeds is more than the requests of the mean set, which is what
// the fluid run gives (35 for 4,075 pages). verdict_margin must flag the
// splits on the round of the switch (see below).
func TestFluidForcedSwitch(t *testing.T) {
	dir := t.TempDir()
	// The memory options ride along: a guest with a free class, the pages
	// the hint or the balloon leaves out staying out after the switch.
	// With churn the guest allocates the left-out pages after the switch.
	memory := map[string]string{"precopy-hint": "free_page_hint: true", "precopy-balloon": "balloon: {enabled: true}",
		"precopy-hint-churn": "free_page_hint: true", "precopy-balloon-churn": "balloon: {enabled: true}"}
	for _, model := range []string{"precopy", "parallel", "precopy-hint", "precopy-balloon", "precopy-zipf", "precopy-hint-churn", "precopy-balloon-churn"} {
		for _, pol := range []string{"pass", "qemu"} {
			if (model == "parallel" || memory[model] != "") && pol == "qemu" {
				continue // parallel runs whole passes; the options once
			}
			for _, n := range fluidNetworks[:3] {
				name := model + "/" + pol + "/" + n.name
				file := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".yaml")
				yaml := fmt.Sprintf("vm: {memory: 64MiB, vcpus: 2}\nnetwork: {profile: %s}\nworkload: {generator: {kind: hotcold, dirty_rate: %.0f}}\nmodel: {name: %s, sync_policy: %s, downtime_limit: 5ms}\n",
					n.name, 1.2*n.pps, model, pol)
				if model == "parallel" {
					yaml = strings.Replace(yaml, ", sync_policy: "+pol, "", 1)
				}
				if model == "precopy-zipf" {
					// The pages the rounds leave are the popular ranks
					// (fluid_strata.go).
					yaml = strings.Replace(yaml, "name: "+model, "name: precopy", 1)
					yaml = strings.Replace(yaml, "kind: hotcold", "kind: zipf", 1)
				}
				if keys, ok := memory[model]; ok {
					yaml = strings.Replace(yaml, "name: "+model, "name: precopy, "+keys, 1)
					yaml = strings.Replace(yaml, "kind: hotcold", "kind: hotcold, free_fraction: 0.3", 1)
					if strings.HasSuffix(model, "-churn") {
						yaml = strings.Replace(yaml, "free_fraction: 0.3", "free_fraction: 0.3, alloc_rate: 3000, free_rate: 1000", 1)
					}
				}
				if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				run := func(e models.Engine, seed uint64) *models.Result {
					spec, err := scenarios.Load(file, []string{fmt.Sprintf("seed=%d", seed), "model.engine=" + string(e)})
					if err != nil {
						t.Fatal(err)
					}
					m, in, err := spec.Build()
					if err != nil {
						t.Fatal(err)
					}
					in.ForcePostcopyAt = time.Second
					res, err := m.Run(context.Background(), in)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					return res
				}
				f := run(models.EngineFluid, 1)
				var pages []*models.Result
				byRounds := map[int]int{}
				for s := range 10 {
					p := run(models.EnginePage, uint64(s)+1)
					if p.StopReason != models.StopPostcopy {
						t.Fatalf("%s: page seed %d stopped for %s, want a switch", name, s+1, p.StopReason)
					}
					pages = append(pages, p)
					byRounds[p.Rounds]++
				}
				// The switch comes at the first decision after 1 s: where
				// the seeds' rounds straddle it, some switch a round later,
				// and the fluid run, one of them, is held to the seeds
				// that switched with it (at least three).
				// verdict_margin says how close the switch is: below 0.8
				// where 2 or more of the 10 seeds switch at another
				// round (4 such cases, 0.51-0.67), at least 0.8 where
				// none does. (Two zipf cases split 9 to 1 with a margin
				// of 0.996: the seeds' spread there is larger than the
				// fluid estimate of it.)
				same := byRounds[f.Rounds]
				if other := len(pages) - same; other >= 2 && f.VerdictMargin >= 0.8 {
					t.Errorf("%s: %d seeds of %d switch at another round (%v), but verdict_margin %.3f", name, other, len(pages), byRounds, f.VerdictMargin)
				} else if other == 0 && f.VerdictMargin < 0.8 {
					t.Errorf("%s: every seed switches at the fluid run's round, but verdict_margin %.3f", name, f.VerdictMargin)
				}
				if same < len(pages) && same >= 3 {
					t.Logf("%s: seeds split on the round of the switch %v; fluid's %d rounds are %d of them", name, byRounds, f.Rounds, same)
					pages = slices.DeleteFunc(pages, func(p *models.Result) bool { return p.Rounds != f.Rounds })
				}
				seeds := float64(len(pages))
				var mT, mB, mD, mR, mS float64
				for _, p := range pages {
					mT += p.TotalTimeS / seeds
					mB += float64(p.TransferredBytes) / seeds
					mD += p.DowntimeS / seeds
					mR += float64(p.PostcopyRequests) / seeds
					mS += p.StallTimeS / seeds
				}
				rel := func(a, b float64) float64 { return a/b - 1 }
				t.Logf("%-28s time %+.3f %%  bytes %+.3f %%  downtime %+.2f %%  requests %+.1f %% (page %.0f)  stall %+.1f %%  margin %.3f",
					name, 100*rel(f.TotalTimeS, mT), 100*rel(float64(f.TransferredBytes), mB), 100*rel(f.DowntimeS, mD), 100*rel(float64(f.PostcopyRequests), mR), mR, 100*rel(f.StallTimeS, mS), f.VerdictMargin)
				if f.StopReason != models.StopPostcopy || f.Engine != "fluid" {
					t.Errorf("%s: fluid stopped for %s on %q, want a switch on fluid", name, f.StopReason, f.Engine)
				}
				if p := pages[0]; p.BalloonReclaimedPages != f.BalloonReclaimedPages || p.SkippedFreePages != f.SkippedFreePages {
					t.Errorf("%s: balloon %d and hinted %d pages, page engine %d and %d", name, f.BalloonReclaimedPages, f.SkippedFreePages, p.BalloonReclaimedPages, p.SkippedFreePages)
				}
				if math.Abs(rel(f.TotalTimeS, mT)) > 0.01 || math.Abs(rel(float64(f.TransferredBytes), mB)) > 0.01 ||
					(math.Abs(rel(f.DowntimeS, mD)) > 0.02 && math.Abs(f.DowntimeS-mD) > 1e-3) {
					t.Errorf("%s: time, bytes or downtime off the page engine's", name)
				}
				if math.Abs(rel(float64(f.PostcopyRequests), mR)) > 0.35 && math.Abs(float64(f.PostcopyRequests)-mR) > 4 {
					t.Errorf("%s: %d requests, page engine %.1f", name, f.PostcopyRequests, mR)
				}
				if math.Abs(rel(f.StallTimeS, mS)) > 0.30 && math.Abs(f.StallTimeS-mS) > 1e-3 {
					t.Errorf("%s: stall %.4f s, page engine %.4f s", name, f.StallTimeS, mS)
				}
			}
		}
	}
}

// TestFluidHybridManyRounds: a hybrid whose thirty pre-copy rounds
// cannot converge switches to post-copy after them on both engines, as
// noProgressOff says a run with a handover must: the early no-progress
// verdict does not end it first (the fluid engine did, before it told the
// verdict about the handover).
func TestFluidHybridManyRounds(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hybrid.yaml")
	yaml := "vm: {memory: 256MiB}\nnetwork: {profile: lan-10g}\nworkload: {generator: {kind: uniform, dirty_rate: 400000}}\nmodel: {name: hybrid, precopy_rounds: 30, downtime_limit: 10ms}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pol := range []string{"pass", "qemu"} {
		c := fluidCase{kind: "uniform", variant: "30 rounds " + pol, network: "lan-10g", file: file, sets: []string{"model.sync_policy=" + pol}}
		p, f := fluidRunCase(t, c, models.EnginePage, 1), fluidRunCase(t, c, models.EngineFluid, 1)
		if p == nil || f == nil {
			continue
		}
		if p.StopReason != models.StopPostcopy || f.StopReason != models.StopPostcopy || f.Rounds != p.Rounds {
			t.Errorf("%s: page stopped for %s after %d rounds, fluid for %s after %d; want both to switch after the same rounds", c, p.StopReason, p.Rounds, f.StopReason, f.Rounds)
		}
	}
}

// TestHybridMultifdSchedule: a hybrid over multifd channels whose link
// slows (bandwidth_schedule) before the switch pushes at the channels'
// rate at the switch on both engines. The page engine took the
// channels' rate at time 0 (10 Gbit/s where the link had 2) until
// 2026-12-07: this case took 1.58 s on it against 2.38 s (fluid, and the
// page engine since).
func TestHybridMultifdSchedule(t *testing.T) {
	file := filepath.Join(t.TempDir(), "h.yaml")
	yaml := "vm: {memory: 256MiB}\nnetwork: {profile: lan-10g, bandwidth_schedule: [{at: 0s, bandwidth: 10Gbit}, {at: 150ms, bandwidth: 2Gbit}]}\n" +
		"workload: {generator: {kind: uniform, dirty_rate: 200000}}\nmodel: {name: hybrid, precopy_rounds: 2, downtime_limit: 10ms, multifd: {channels: 2}}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fluidCase{kind: "uniform", variant: "hybrid-multifd-schedule", network: "lan-10g", file: file}
	f := fluidRunCase(t, c, models.EngineFluid, 1)
	if f == nil {
		return
	}
	// The switch comes after the link slowed.
	if n := len(f.RoundsDetail); f.StopReason != models.StopPostcopy || n == 0 || f.RoundsDetail[n-1].StartS+f.RoundsDetail[n-1].DurationS < 0.15 {
		t.Fatalf("fluid: stop %s, rounds %+v; want a switch after 150 ms", f.StopReason, f.RoundsDetail)
	}
	var mean float64
	for s := range 5 {
		p := fluidRunCase(t, c, models.EnginePage, uint64(s)+1)
		if p == nil {
			return
		}
		mean += p.TotalTimeS / 5
	}
	if d := f.TotalTimeS/mean - 1; math.Abs(d) > 0.01 {
		t.Errorf("total time: fluid %.4f s, page engine %.4f s (%+.1f %%)", f.TotalTimeS, mean, 100*d)
	}
}
