package models

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// bareParams returns pre-copy parameters without fixed costs, so that runs
// can be compared with the closed form.
// bareParams returns pre-copy's defaults without fixed costs and with
// whole-pass syncs (sync_policy pass), whose rounds the closed forms of
// these tests describe; tests of QEMU's own iteration set SyncQEMU.
func bareParams() PrecopyParams {
	p := DefaultPrecopyParams()
	p.SetupTime, p.SyncTimePerGiB, p.ResumeTime = 0, 0, 0
	p.SyncPolicy = SyncPass
	return p
}

// passPrecopyParams returns pre-copy's defaults with whole-pass syncs
// (sync_policy pass): round 1 sends every page, round i+1 what round i
// saw dirtied, as the tests that use it count.
func passPrecopyParams() PrecopyParams {
	p := DefaultPrecopyParams()
	p.SyncPolicy = SyncPass
	return p
}

// passHybridParams is [passPrecopyParams] for hybrid.
func passHybridParams() HybridParams {
	p := DefaultHybridParams()
	p.SyncPolicy = SyncPass
	return p
}

func input(pages, ws, zero uint64, rate float64, bw units.BitRate) Input {
	return Input{
		Scenario: "test", Seed: 1,
		VM:    VM{Memory: units.Bytes(pages * 4096), PageSize: 4096, VCPUs: 1, DeviceState: 0},
		Trace: newSeqTrace(pages, ws, zero, rate, 10*time.Millisecond, 0),
		Path:  sim.Path{Bandwidth: bw},
	}
}

func run(t *testing.T, p PrecopyParams, in Input) *Result {
	t.Helper()
	m, err := NewPrecopy(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// closedForm computes the geometric pre-copy recurrence: round sizes in
// pages, live time and stop-and-copy pages, for a guest writing d distinct
// pages/s over all non-zero memory and b bytes/s of path.
func closedForm(v0, d, bBytes, wire, pageSize float64, limit time.Duration) (rounds []float64, live, final float64) {
	v := v0
	for {
		rounds = append(rounds, v)
		t := v * wire / bBytes
		live += t
		v = d * t
		if v*pageSize <= bBytes*limit.Seconds() {
			return rounds, live, v
		}
		if len(rounds) > 1000 {
			panic("closed form does not converge")
		}
	}
}

func TestPrecopyClosedForm(t *testing.T) {
	cases := []struct {
		name  string
		pages uint64
		zero  uint64
		rate  float64 // pages per second
		bw    units.BitRate
		limit time.Duration
	}{
		{"1GiB-1Gbit-d/b=0.3", 1 << 18, 0, 9000, units.Gbit, 300 * time.Millisecond},
		{"4GiB-10Gbit-d/b=0.5", 1 << 20, 0, 150000, 10 * units.Gbit, 100 * time.Millisecond},
		{"2GiB-1Gbit-d/b=0.8", 1 << 19, 0, 24000, units.Gbit, 300 * time.Millisecond},
		{"2GiB-25%zero", 1 << 19, 1 << 17, 12000, units.Gbit, 300 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := bareParams()
			p.DowntimeLimit = c.limit
			ws := c.pages - c.zero
			res := run(t, p, input(c.pages, ws, c.zero, c.rate, c.bw))
			bBytes := float64(c.bw) / 8
			wire := 4096.0 + float64(p.PageHeader)
			want, live, final := closedForm(float64(ws), c.rate, bBytes, wire, 4096, c.limit)
			// Round 1 also carries the zero pages' headers.
			zeroTime := float64(c.zero) * float64(p.ZeroPageBytes) / bBytes
			live += zeroTime

			if !res.Converged || res.StopReason != StopDowntimeMet {
				t.Fatalf("converged=%v stop=%v, want converged downtime_met", res.Converged, res.StopReason)
			}
			if res.Rounds != len(want)+1 {
				t.Fatalf("rounds = %d, want %d live + stop-and-copy (closed form %v)", res.Rounds, len(want), want)
			}
			for i, v := range want {
				got := float64(res.RoundsDetail[i].Pages - res.RoundsDetail[i].ZeroPages)
				if rel(got, v) > 0.01 {
					t.Errorf("round %d: %v normal pages, closed form %v", i+1, got, v)
				}
			}
			last := res.RoundsDetail[len(res.RoundsDetail)-1]
			if !last.StopAndCopy || rel(float64(last.Pages), final) > 0.01 {
				t.Errorf("stop-and-copy pass %+v, want %v pages", last, final)
			}
			wantDowntime := final * wire / bBytes
			if rel(res.DowntimeS, wantDowntime) > 0.01 {
				t.Errorf("downtime %v s, closed form %v s", res.DowntimeS, wantDowntime)
			}
			if rel(res.TotalTimeS, live+wantDowntime) > 0.01 {
				t.Errorf("total time %v s, closed form %v s", res.TotalTimeS, live+wantDowntime)
			}
			var sum float64
			for _, v := range want {
				sum += v
			}
			wantBytes := (sum+final)*wire + float64(c.zero)*float64(p.ZeroPageBytes)
			if rel(float64(res.TransferredBytes), wantBytes) > 0.01 {
				t.Errorf("transferred %d bytes, closed form %v", res.TransferredBytes, wantBytes)
			}
			if res.Pages.Zero != c.zero {
				t.Errorf("zero pages %d, want %d", res.Pages.Zero, c.zero)
			}
		})
	}
}

func rel(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestPrecopyZeroPagesCostOnlyHeaders(t *testing.T) {
	// An idle guest whose memory is 3/4 zero: one pass plus an empty
	// stop-and-copy; zero pages cost zero_page_bytes each.
	const pages, zero = 1 << 16, 3 << 14
	p := bareParams()
	res := run(t, p, input(pages, pages-zero, zero, 0, units.Gbit))
	want := uint64((pages-zero)*(4096+8) + zero*9)
	if res.TransferredBytes != want {
		t.Fatalf("transferred %d bytes, want %d", res.TransferredBytes, want)
	}
	if res.Rounds != 2 || res.Pages.Zero != zero || res.Pages.Normal != pages-zero {
		t.Fatalf("rounds %d pages %+v", res.Rounds, res.Pages)
	}
}

func TestPrecopyDoesNotConvergeAboveBandwidth(t *testing.T) {
	// 1 Gbit/s carries about 30 000 pages/s; the guest dirties 60 000.
	p := DefaultPrecopyParams()
	p.MaxTime = 10 * time.Minute
	res := run(t, p, input(1<<18, 1<<18, 0, 60000, units.Gbit))
	if res.Converged || res.Completed || res.StopReason != StopMaxTime {
		t.Fatalf("converged=%v completed=%v stop=%v, want max_time", res.Converged, res.Completed, res.StopReason)
	}
	if res.TotalTimeS != p.MaxTime.Seconds() || res.DowntimeS != 0 {
		t.Fatalf("total %v s downtime %v s", res.TotalTimeS, res.DowntimeS)
	}
	// Every pass resends nearly the whole working set.
	for _, r := range res.RoundsDetail[1 : len(res.RoundsDetail)-1] {
		if r.Pages < 1<<18*9/10 {
			t.Errorf("round %d sent %d pages; a non-converging guest should keep them all dirty", r.Round, r.Pages)
		}
	}
}

func TestPrecopyAutoConvergeRescues(t *testing.T) {
	p := DefaultPrecopyParams()
	p.MaxTime = 10 * time.Minute
	in := input(1<<18, 1<<18, 0, 60000, units.Gbit)
	off := run(t, p, in)
	p.AutoConverge = true
	on := run(t, p, in)
	if off.Converged {
		t.Fatal("without auto-converge the case should not converge")
	}
	if !on.Converged || on.ThrottlePct < p.CPUThrottleInitial {
		t.Fatalf("auto-converge: converged=%v throttle=%v", on.Converged, on.ThrottlePct)
	}
	// The guest ran slower than wall time.
	if on.GuestTimeS >= on.TotalTimeS-on.DowntimeS {
		t.Fatalf("guest time %v s not below live time %v s", on.GuestTimeS, on.TotalTimeS-on.DowntimeS)
	}
	// Throttle never falls and steps as QEMU's do.
	prev := 0.0
	for _, r := range on.RoundsDetail {
		if r.ThrottlePct < prev {
			t.Errorf("throttle fell from %v to %v", prev, r.ThrottlePct)
		}
		if r.ThrottlePct != 0 && math.Mod(r.ThrottlePct-p.CPUThrottleInitial, p.CPUThrottleIncrement) != 0 {
			t.Errorf("throttle %v is not initial + k × increment", r.ThrottlePct)
		}
		prev = r.ThrottlePct
	}
}

func TestPrecopyCaps(t *testing.T) {
	in := input(1<<18, 1<<18, 0, 60000, units.Gbit)
	p := DefaultPrecopyParams()
	p.MaxRounds = 5
	res := run(t, p, in)
	if res.StopReason != StopMaxRounds || res.Converged || !res.Completed || res.Rounds != 6 {
		t.Fatalf("max_rounds: %v converged=%v completed=%v rounds=%d", res.StopReason, res.Converged, res.Completed, res.Rounds)
	}
	p = DefaultPrecopyParams()
	p.MaxBytesFactor = 3
	res = run(t, p, in)
	if res.StopReason != StopMaxBytes || !res.Completed {
		t.Fatalf("max_bytes: %v", res.StopReason)
	}
	mem := float64(in.VM.Memory)
	live := float64(res.TransferredBytes) - float64(res.RoundsDetail[res.Rounds-1].Bytes)
	if live < 3*mem || live > 4.1*mem {
		t.Fatalf("live bytes %v, want between 3 and 4 × memory %v", live, mem)
	}
}

func TestPrecopyMaxBandwidthLiftedForStopAndCopy(t *testing.T) {
	in := input(1<<18, 1<<16, 0, 5000, 10*units.Gbit)
	p := bareParams()
	p.MaxBandwidth = units.Gbit
	res := run(t, p, in)
	r1 := res.RoundsDetail[0]
	if got := float64(r1.Bytes) * 8 / r1.DurationS; rel(got, 1e9) > 0.001 {
		t.Errorf("round 1 ran at %v bit/s, want the 1 Gbit cap", got)
	}
	last := res.RoundsDetail[res.Rounds-1]
	if got := float64(last.Bytes) * 8 / last.DurationS; rel(got, 10e9) > 0.001 {
		t.Errorf("stop-and-copy ran at %v bit/s, want the 10 Gbit link", got)
	}
}

func TestPrecopyConservation(t *testing.T) {
	for _, rate := range []float64{0, 1000, 20000, 60000} {
		p := DefaultPrecopyParams()
		p.MaxTime = 2 * time.Minute
		p.AutoConverge = rate > 30000
		res := run(t, p, input(1<<17, 1<<17, 1<<12, rate, units.Gbit))
		var bytes, pages uint64
		for _, r := range res.RoundsDetail {
			bytes += r.Bytes
			pages += r.Pages
		}
		if res.TransferredBytes < res.Pages.Normal*4096 {
			t.Errorf("rate %v: %d bytes < %d normal pages × 4096", rate, res.TransferredBytes, res.Pages.Normal)
		}
		if d := int64(bytes) - int64(res.TransferredBytes); d < -int64(res.Rounds) || d > int64(res.Rounds) {
			t.Errorf("rate %v: rounds sum to %d bytes, total %d", rate, bytes, res.TransferredBytes)
		}
		if pages != res.Pages.Zero+res.Pages.Normal {
			t.Errorf("rate %v: rounds sum to %d pages, counters %+v", rate, pages, res.Pages)
		}
	}
}

func TestPrecopyDowntimeGrowsWithDirtyRate(t *testing.T) {
	// Monotonicity: more dirtying, more rounds, never less downtime budget used.
	prevRounds := 0
	for _, rate := range []float64{1000, 5000, 10000, 20000} {
		res := run(t, bareParams(), input(1<<18, 1<<18, 0, rate, units.Gbit))
		if !res.Converged {
			t.Fatalf("rate %v did not converge", rate)
		}
		if res.Rounds < prevRounds {
			t.Errorf("rate %v: %d rounds, fewer than %d at a lower rate", rate, res.Rounds, prevRounds)
		}
		prevRounds = res.Rounds
		if res.DowntimeS > 0.3*1.01 {
			t.Errorf("rate %v: downtime %v s above the 300 ms limit without fixed costs", rate, res.DowntimeS)
		}
	}
}

func TestPrecopyDeterministic(t *testing.T) {
	p := DefaultPrecopyParams()
	p.AutoConverge = true
	p.MaxTime = 5 * time.Minute
	var outs [][]byte
	for range 2 {
		res := run(t, p, input(1<<17, 1<<17, 1<<10, 40000, units.Gbit))
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatalf("two runs differ:\n%s\n%s", outs[0], outs[1])
	}
}

func TestPrecopyRejectsMismatchedVM(t *testing.T) {
	in := input(1<<16, 1<<16, 0, 0, units.Gbit)
	in.VM.Memory *= 2
	m, _ := NewPrecopy(DefaultPrecopyParams())
	if _, err := m.Run(context.Background(), in); err == nil {
		t.Fatal("want an error for vm.memory differing from the trace")
	}
	in = input(1<<16, 1<<16, 0, 0, 0)
	if _, err := m.Run(context.Background(), in); err == nil {
		t.Fatal("want an error for zero bandwidth")
	}
}

func TestPrecopyParamsValidate(t *testing.T) {
	bad := []func(*PrecopyParams){
		func(p *PrecopyParams) { p.DowntimeLimit = 0 },
		func(p *PrecopyParams) { p.MaxRounds = -1 },
		func(p *PrecopyParams) { p.MaxBytesFactor = 0.5 },
		func(p *PrecopyParams) { p.MaxCPUThrottle = 100 },
		func(p *PrecopyParams) { p.CPUThrottleInitial = 120 },
		func(p *PrecopyParams) { p.BandwidthWindow = 0 },
	}
	for i, f := range bad {
		p := DefaultPrecopyParams()
		f(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("case %d: want a validation error", i)
		}
	}
	p := DefaultPrecopyParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}
