package models

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

var prepagings = []Prepaging{PrepagingNone, PrepagingForward, PrepagingBubbling, PrepagingMultiPivot}

// pcInput is the input of the post-copy tests: a guest of pages 4 KiB
// pages replaying trace, 512 KiB of device state.
func pcInput(trace traces.Opener, pages uint64, bw units.BitRate, rtt time.Duration) Input {
	return Input{
		Scenario: "test", Seed: 1,
		VM:    VM{Memory: units.Bytes(pages * 4096), PageSize: 4096, VCPUs: 2, DeviceState: 512 * units.KiB},
		Trace: trace,
		Path:  sim.Path{Bandwidth: bw, RTT: rtt},
	}
}

func postcopyWith(prepaging Prepaging) PostcopyParams {
	p := DefaultPostcopyParams()
	p.Prepaging = prepaging
	return p
}

func runModel(t testing.TB, m Model, err error, in Input) *Result {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runPostcopyModel(t testing.TB, p PostcopyParams, in Input) *Result {
	t.Helper()
	m, err := NewPostcopy(p)
	return runModel(t, m, err, in)
}

// genSpec returns a generator spec of kind with the given rates over a
// working set, 10 ms epochs, 60 s long.
func genSpec(kind string, dirty, read float64, ws units.Bytes, zero float64) traces.GeneratorSpec {
	s := traces.DefaultGeneratorSpec()
	s.Kind, s.DirtyRate, s.ReadRate, s.WorkingSet, s.ZeroFraction = kind, dirty, read, ws, zero
	s.Duration = 60 * time.Second
	return s
}

// The workloads the invariants are checked on: generated ones, and scans
// placed away from page 0 (which the generators cannot do).
func pcWorkloads(pages uint64) map[string]traces.Opener {
	mem := units.Bytes(pages * 4096)
	return map[string]traces.Opener{
		"uniform-rw":   genTrace(genSpec("uniform", 5000, 10000, mem/2, 0.25), mem, 1),
		"sequential-w": genTrace(genSpec("sequential", 20000, 0, mem/4, 0), mem, 1),
		"hotcold-rw":   genTrace(genSpec("hotcold", 20000, 20000, mem/2, 0.1), mem, 1),
		"scan-r":       newScanTrace(pages, true, scanRegion{pages / 2, pages, 20000}),
	}
}

// Pure post-copy sends each page once: transferred bytes are the pages ×
// their wire size + device state, and since the link never idles while
// pages are missing, the migration ends at setup + (device state + pages)
// over the path + RTT/2, whatever the push order and workload.
func TestPostcopyEachPageCrossesOnce(t *testing.T) {
	const pages = 1 << 16
	bw, rtt := units.Gbit, 200*time.Microsecond
	for _, name := range sortedKeys(pcWorkloads(pages)) {
		for _, pp := range prepagings {
			t.Run(name+"/"+string(pp), func(t *testing.T) {
				trace := pcWorkloads(pages)[name]
				in := pcInput(trace, pages, bw, rtt)
				p := postcopyWith(pp)
				res := runPostcopyModel(t, p, in)

				src, _ := trace()
				zero := src.Header().ClassPages(traces.ClassZero) // never written by these workloads
				nonzero := pages - zero
				wire := float64(nonzero)*(4096+8) + float64(zero)*9
				dev := float64(in.VM.DeviceState)
				if got, want := float64(res.TransferredBytes), wire+dev; math.Abs(got-want) > 1 {
					t.Errorf("transferred %v bytes, want %v: each page once", got, want)
				}
				if got, want := float64(res.TransferredBytes), float64(nonzero)*(4096+8)+dev; rel(got, want) > 0.005 {
					t.Errorf("transferred %v bytes, not within 0.5%% of non-zero pages × (page + header) + device state = %v", got, want)
				}
				if res.Pages.Normal != nonzero || res.Pages.Zero != zero || res.PostcopyBytes != uint64(math.Round(wire)) || res.PrecopyBytes != 0 {
					t.Errorf("pages %+v postcopy_bytes %d precopy_bytes %d", res.Pages, res.PostcopyBytes, res.PrecopyBytes)
				}

				bBytes := float64(bw) / 8
				devT := math.Ceil(dev/bBytes*1e9) / 1e9
				downtime := devT + p.ResumeTime.Seconds() + rtt.Seconds()
				total := p.SetupTime.Seconds() + devT + wire/bBytes + rtt.Seconds()/2
				if rel(res.DowntimeS, downtime) > 1e-9 {
					t.Errorf("downtime %v s, want device state + resume + RTT = %v s", res.DowntimeS, downtime)
				}
				if rel(res.TotalTimeS, total) > 1e-8 {
					t.Errorf("total %v s, want %v s", res.TotalTimeS, total)
				}
				if risk := total - p.SetupTime.Seconds() - downtime; rel(res.VMAtRiskS, risk) > 1e-6 {
					t.Errorf("vm at risk %v s, want resume to last page = %v s", res.VMAtRiskS, risk)
				}
				if res.StopReason != StopPostcopy || !res.Completed || res.Converged {
					t.Errorf("stop %v completed %v converged %v", res.StopReason, res.Completed, res.Converged)
				}

				// The guest runs during setup and after resuming, except
				// while it stalls; slowdown is what it lost.
				lost := res.DowntimeS + res.StallTimeS
				if math.Abs(res.GuestTimeS-(res.TotalTimeS-lost)) > 1e-6 {
					t.Errorf("guest time %v s, want total − downtime − stalls = %v s", res.GuestTimeS, res.TotalTimeS-lost)
				}
				if rel(res.GuestSlowdown, lost/res.TotalTimeS) > 1e-9 {
					t.Errorf("slowdown %v, want %v", res.GuestSlowdown, lost/res.TotalTimeS)
				}
				last := res.RoundsDetail[len(res.RoundsDetail)-1]
				if res.Rounds != 1 || !last.Postcopy || last.Bytes != res.TransferredBytes {
					t.Errorf("rounds %d, last %+v", res.Rounds, last)
				}
			})
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// A network fault on a link busy with the push costs RTT + the page's
// transfer + fault_service_time, plus at most one page's transfer while
// the link finishes the pushed page it is sending.
func TestPostcopyNetworkFaultCost(t *testing.T) {
	const pages = 1 << 16
	for _, c := range []struct {
		bw  units.BitRate
		rtt time.Duration
	}{{units.Gbit, 200 * time.Microsecond}, {10 * units.Gbit, 0}, {100 * units.Mbit, 30 * time.Millisecond}} {
		t.Run(fmt.Sprint(c.bw, "/", c.rtt), func(t *testing.T) {
			// A slow read scan at the top of memory: the push from page 0
			// never gets there before the guest does.
			in := pcInput(newScanTrace(pages, true, scanRegion{pages * 3 / 4, pages, 2000}), pages, c.bw, c.rtt)
			p := postcopyWith(PrepagingNone)
			p.MinorFaultTime = 0
			res := runPostcopyModel(t, p, in)
			if res.PostcopyRequests < 100 || res.MinorFaults*100 > res.PostcopyRequests {
				t.Fatalf("%d requests, %d minor faults: want many requests, few minor faults", res.PostcopyRequests, res.MinorFaults)
			}
			// A minor fault waits at most for one page and half an RTT.
			tau := 4104 * 8 / float64(c.bw)
			lo := c.rtt.Seconds() + tau + p.FaultServiceTime.Seconds()
			hi := lo + tau + float64(res.MinorFaults)*(tau+c.rtt.Seconds()/2)/float64(res.PostcopyRequests)
			per := res.StallTimeS / float64(res.PostcopyRequests)
			if per < lo*(1-1e-6) || per > hi {
				t.Errorf("mean stall %v s per request, want in [%v, %v]", per, lo, hi)
			}
		})
	}
}

// Post-copy's downtime does not depend on the dirty rate; pre-copy's does
// (here with a round cap, so that each run stops after the same rounds).
func TestPostcopyDowntimeFlatInDirtyRate(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	var post, pre []float64
	for _, rate := range []float64{1000, 5000, 15000, 25000} {
		in := pcInput(genTrace(genSpec("uniform", rate, 0, mem, 0), mem, 1), pages, units.Gbit, 200*time.Microsecond)
		post = append(post, runPostcopyModel(t, DefaultPostcopyParams(), in).DowntimeS)
		p := DefaultPrecopyParams()
		p.MaxRounds = 2
		p.DowntimeLimit = time.Millisecond
		m, err := NewPrecopy(p)
		pre = append(pre, runModel(t, m, err, in).DowntimeS)
	}
	for i := 1; i < len(post); i++ {
		if post[i] != post[0] {
			t.Errorf("post-copy downtime %v s at rate index %d, %v s at the lowest rate", post[i], i, post[0])
		}
		if pre[i] <= pre[i-1] {
			t.Errorf("pre-copy downtime %v s did not grow with the dirty rate (previous %v s)", pre[i], pre[i-1])
		}
	}
	if pre[len(pre)-1] < 10*post[0] {
		t.Errorf("pre-copy downtime at the highest rate %v s, post-copy %v s", pre[len(pre)-1], post[0])
	}
}

// Hines and Gopalan's comparison: for write-heavy work post-copy sends
// fewer bytes and finishes sooner than pre-copy (each page crosses once);
// for read-heavy work pre-copy disturbs the guest less (its few dirty
// pages converge fast, while post-copy faults on every read of a page not
// yet there).
func TestPostcopyVersusPrecopy(t *testing.T) {
	const pages = 1 << 17 // 512 MiB
	mem := units.Bytes(pages * 4096)
	run := func(spec traces.GeneratorSpec) (pre, post *Result) {
		in := pcInput(genTrace(spec, mem, 1), pages, units.Gbit, 200*time.Microsecond)
		m, err := NewPrecopy(DefaultPrecopyParams())
		pre = runModel(t, m, err, in)
		post = runPostcopyModel(t, DefaultPostcopyParams(), in)
		t.Logf("%s dirty %v read %v: pre-copy %d bytes %.2f s slowdown %.4f, post-copy %d bytes %.2f s slowdown %.4f (%d requests)",
			spec.Kind, spec.DirtyRate, spec.ReadRate, pre.TransferredBytes, pre.TotalTimeS, pre.GuestSlowdown,
			post.TransferredBytes, post.TotalTimeS, post.GuestSlowdown, post.PostcopyRequests)
		return pre, post
	}
	t.Run("write-heavy", func(t *testing.T) {
		pre, post := run(genSpec("uniform", 20000, 2000, mem/2, 0))
		if post.TransferredBytes >= pre.TransferredBytes || post.TotalTimeS >= pre.TotalTimeS {
			t.Errorf("post-copy %d bytes in %v s, pre-copy %d bytes in %v s: want post-copy lower on both",
				post.TransferredBytes, post.TotalTimeS, pre.TransferredBytes, pre.TotalTimeS)
		}
	})
	t.Run("read-heavy", func(t *testing.T) {
		pre, post := run(genSpec("uniform", 500, 20000, mem/2, 0))
		preLost, postLost := pre.GuestSlowdown*pre.TotalTimeS, post.GuestSlowdown*post.TotalTimeS
		if !pre.Converged || pre.GuestSlowdown >= post.GuestSlowdown || preLost >= postLost {
			t.Errorf("pre-copy lost %v s (slowdown %v), post-copy %v s (%v): want pre-copy to disturb less",
				preLost, pre.GuestSlowdown, postLost, post.GuestSlowdown)
		}
	})
}

// Pre-paging turns network faults into minor ones when accesses have
// spatial locality: on a sequential scan away from page 0, bubbling (and
// forward) follow the scan from its first fault, while demand paging with
// a push from page 0 faults on nearly every page until the push arrives.
func TestPrepagingCutsFaultsOnSequentialScan(t *testing.T) {
	const pages = 1 << 17
	for _, rtt := range []time.Duration{100 * time.Microsecond, 5 * time.Millisecond} {
		in := pcInput(newScanTrace(pages, false, scanRegion{pages / 2, pages, 10000}), pages, units.Gbit, rtt)
		got := map[Prepaging]*Result{}
		for _, pp := range prepagings {
			got[pp] = runPostcopyModel(t, postcopyWith(pp), in)
			t.Logf("rtt %v %-11s requests %6d minor %6d stall %.3f s full speed at %.2f s",
				rtt, pp, got[pp].PostcopyRequests, got[pp].MinorFaults, got[pp].StallTimeS, got[pp].TimeToFullSpeedS)
		}
		none, bub := got[PrepagingNone], got[PrepagingBubbling]
		if bub.PostcopyRequests*20 > none.PostcopyRequests {
			t.Errorf("rtt %v: bubbling %d network faults, demand paging with push %d: want at least 20× fewer",
				rtt, bub.PostcopyRequests, none.PostcopyRequests)
		}
		if bub.StallTimeS >= none.StallTimeS {
			t.Errorf("rtt %v: bubbling stalled %v s, demand paging %v s", rtt, bub.StallTimeS, none.StallTimeS)
		}
	}
}

// With several hot regions scanned at once, a single pivot keeps jumping
// between them and the regions it left stop growing, so their scans catch
// up with the push again; multi-pivot keeps a bubble growing in each
// (Hines and Gopalan, section 3.3). Four scans at 3000 pages/s each share
// 1 Gbit (30 000 pages/s): a bubble's forward edge, at 1/8 of the link,
// stays ahead of its scan. Epochs of 1 ms interleave the scans finely
// (within an epoch, accesses come in page order, one region after the
// other).
func TestMultiPivotBeatsSinglePivotOnHotRegions(t *testing.T) {
	const pages = 1 << 18
	var regions []scanRegion
	for k := range uint64(4) {
		lo := pages/8 + k*pages/4
		regions = append(regions, scanRegion{lo, lo + pages/16, 3000})
	}
	in := pcInput(newScanTraceEpoch(pages, time.Millisecond, false, regions...), pages, units.Gbit, 100*time.Microsecond)
	single := runPostcopyModel(t, postcopyWith(PrepagingBubbling), in)
	p := postcopyWith(PrepagingMultiPivot)
	p.Pivots = 4
	multi := runPostcopyModel(t, p, in)
	t.Logf("single pivot: %d requests %d minor %.4f s stalled; 4 pivots: %d requests %d minor %.4f s stalled",
		single.PostcopyRequests, single.MinorFaults, single.StallTimeS, multi.PostcopyRequests, multi.MinorFaults, multi.StallTimeS)
	if multi.PostcopyRequests*4 > single.PostcopyRequests || multi.StallTimeS >= single.StallTimeS {
		t.Errorf("multi-pivot %d network faults (%v s stalled), single pivot %d (%v s): want at least 4× fewer",
			multi.PostcopyRequests, multi.StallTimeS, single.PostcopyRequests, single.StallTimeS)
	}
}

// The same input gives the same result, byte for byte, for every model of
// the family; observers see the rounds the result holds.
func TestPostcopyFamilyDeterministic(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	spec := genSpec("zipf", 20000, 20000, mem/2, 0.2)
	newModels := func() []Model {
		post, _ := NewPostcopy(postcopyWith(PrepagingMultiPivot))
		hyb, _ := NewHybrid(DefaultHybridParams())
		enl, _ := NewEnlightened(DefaultEnlightenedParams())
		return []Model{post, hyb, enl}
	}
	for i, m := range newModels() {
		t.Run(m.Name(), func(t *testing.T) {
			var outs [][]byte
			for range 2 {
				in := pcInput(withFree(genTrace(spec, mem, 7), pages/2, pages*3/4), pages, units.Gbit, time.Millisecond)
				var seen []Round
				in.Observer = ObserverFunc(func(r Round) { seen = append(seen, r) })
				res := runModel(t, newModels()[i], nil, in)
				b, err := json.Marshal(res)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, b)
				if len(seen) != len(res.RoundsDetail) || seen[len(seen)-1] != res.RoundsDetail[len(seen)-1] {
					t.Errorf("observer saw %d rounds, result has %d", len(seen), len(res.RoundsDetail))
				}
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Fatalf("two runs differ:\n%s\n%s", outs[0], outs[1])
			}
		})
	}
}

// A guest whose trace ends (at_end idle) stops touching memory: post-copy
// still completes, and guest time stops at the trace's end.
func TestPostcopyIdleAtTraceEnd(t *testing.T) {
	const pages = 1 << 15
	mem := units.Bytes(pages * 4096)
	spec := genSpec("uniform", 5000, 5000, mem, 0)
	spec.Duration = 200 * time.Millisecond
	in := pcInput(genTrace(spec, mem, 1), pages, 100*units.Mbit, time.Millisecond)
	in.AtEnd = AtEndIdle
	res := runPostcopyModel(t, postcopyWith(PrepagingBubbling), in)
	if !res.Completed || math.Abs(res.GuestTimeS-0.2) > 1e-9 {
		t.Fatalf("completed %v guest time %v s, want the trace's 0.2 s", res.Completed, res.GuestTimeS)
	}
}

// A migration that cannot move every page by max_time ends there, not
// completed.
func TestPostcopyMaxTime(t *testing.T) {
	const pages = 1 << 16
	in := pcInput(newScanTrace(pages, true, scanRegion{0, pages, 1000}), pages, 10*units.Mbit, time.Millisecond)
	p := DefaultPostcopyParams()
	p.MaxTime = 20 * time.Second
	res := runPostcopyModel(t, p, in)
	if res.StopReason != StopMaxTime || res.Completed || res.TotalTimeS != 20 {
		t.Fatalf("stop %v completed %v total %v s", res.StopReason, res.Completed, res.TotalTimeS)
	}
	if sent := res.Pages.Normal; sent == 0 || sent >= pages {
		t.Fatalf("%d pages sent by the time limit, want some but not all", sent)
	}
}

func TestPostcopyParamsValidate(t *testing.T) {
	bad := []func(*PostcopyParams){
		func(p *PostcopyParams) { p.Prepaging = "sideways" },
		func(p *PostcopyParams) { p.Pivots = 0 },
		func(p *PostcopyParams) { p.FaultServiceTime = -1 },
		func(p *PostcopyParams) { p.FullSpeedThreshold = 0 },
		func(p *PostcopyParams) { p.FullSpeedThreshold = 1.5 },
		func(p *PostcopyParams) { p.FullSpeedWindow = 0 },
		func(p *PostcopyParams) { p.MaxTime = 0 },
		func(p *PostcopyParams) { p.MaxPostcopyBandwidth = -1 },
	}
	for i, f := range bad {
		p := DefaultPostcopyParams()
		f(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("case %d: want a validation error", i)
		}
	}
	for _, pp := range prepagings {
		p := postcopyWith(pp)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", pp, err)
		}
	}
	h := DefaultHybridParams()
	h.PrecopyRounds = -1
	if h.Validate() == nil {
		t.Error("hybrid: want an error for negative precopy_rounds")
	}
	e := DefaultEnlightenedParams()
	e.WSHorizon = -time.Second
	if e.Validate() == nil {
		t.Error("enlightened: want an error for a negative ws_horizon")
	}
}

// The registry builds every model of the family from its defaults.
func TestPostcopyFamilyRegistered(t *testing.T) {
	for _, name := range []string{"postcopy", "hybrid", "enlightened"} {
		info, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := info.New(info.Params())
		if err != nil || m.Name() != name {
			t.Fatalf("%s: %v, %v", name, m, err)
		}
	}
}

// The push follows the path's bandwidth schedule: the link drops to a
// quarter of its rate half-way through the push, so the pages left then
// take four times as long; the bytes do not change, and a change after the
// end changes nothing.
func TestPostcopyFollowsSchedule(t *testing.T) {
	const pages = 1 << 15
	mem := units.Bytes(pages * 4096)
	trace := genTrace(genSpec("uniform", 2000, 2000, mem/2, 0), mem, 1)
	flat := runPostcopyModel(t, postcopyWith(PrepagingBubbling), pcInput(trace, pages, units.Gbit, time.Millisecond))
	half := sim.Time(flat.TotalTimeS * 1e9 / 2)
	in := pcInput(trace, pages, units.Gbit, time.Millisecond)
	in.Path.Schedule = []sim.RateChange{{At: half.Sub(0), Bandwidth: units.Gbit / 4}}
	slow := runPostcopyModel(t, postcopyWith(PrepagingBubbling), in)
	// Up to the change the two runs are the same; what the flat run did
	// after it the slow one does at a quarter of the rate.
	want := half.Seconds() + 4*(flat.TotalTimeS-half.Seconds())
	if math.Abs(slow.TotalTimeS-want) > 0.02*want || slow.TransferredBytes != flat.TransferredBytes {
		t.Errorf("bandwidth quartered at %.3f s: %.4f s and %d bytes, want about %.4f s and the flat run's %d bytes",
			half.Seconds(), slow.TotalTimeS, slow.TransferredBytes, want, flat.TransferredBytes)
	}
	in.Path.Schedule = []sim.RateChange{{At: time.Duration(2 * flat.TotalTimeS * 1e9), Bandwidth: units.Gbit / 4}}
	if late := runPostcopyModel(t, postcopyWith(PrepagingBubbling), in); late.TotalTimeS != flat.TotalTimeS {
		t.Errorf("a change after the end: %v s, want the flat run's %v s", late.TotalTimeS, flat.TotalTimeS)
	}
}
