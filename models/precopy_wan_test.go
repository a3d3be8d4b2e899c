package models

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// At zero RTT the TCP stream model is the fluid link: a default window,
// segment size, one stream or many, the same pre-copy result field for
// field.
func TestPrecopyZeroRTTIsFluid(t *testing.T) {
	const pages = 1 << 18
	fluid := input(pages, pages, 0, 9000, units.Gbit)
	want := run(t, bareParams(), fluid)
	wantJSON, _ := json.Marshal(want)
	for _, p := range []sim.Path{
		{Bandwidth: units.Gbit, Window: sim.DefaultWindow, MSS: sim.DefaultMSS, Streams: 1},
		{Bandwidth: units.Gbit, Window: 64 * units.KiB, Streams: 4},
	} {
		in := input(pages, pages, 0, 9000, units.Gbit)
		in.Path = p
		got, _ := json.Marshal(run(t, bareParams(), in))
		if !bytes.Equal(got, wantJSON) {
			t.Errorf("path %+v at zero RTT:\n got %s\nwant %s", p, got, wantJSON)
		}
	}
	if want.NetworkRTTS != 0 || math.Abs(want.EffectiveBandwidthBps-1e9) > 1 {
		t.Errorf("network_rtt_s %v, effective_bandwidth_bps %v; want 0 and the link's 1e9", want.NetworkRTTS, want.EffectiveBandwidthBps)
	}
}

// Over 80 ms a single stream is held to window/RTT in every pass, and
// the stop decision sees that rate; parallel streams fill the link.
func TestPrecopyWindowLimited(t *testing.T) {
	const pages = 1 << 18 // 1 GiB
	p := bareParams()
	p.MaxTime = 10 * time.Minute
	one := input(pages, pages/4, 0, 1000, 10*units.Gbit)
	one.Path.RTT = 80 * time.Millisecond
	one.Path.Window = sim.DefaultWindow
	limit := float64(sim.DefaultWindow) * 8 / 0.080
	res := run(t, p, one)
	if !res.Converged {
		t.Fatalf("1000 pages/s over a %v bit/s stream: %v, want converged", limit, res.StopReason)
	}
	if res.NetworkRTTS != 0.080 {
		t.Errorf("network_rtt_s %v, want 0.08", res.NetworkRTTS)
	}
	r1 := res.RoundsDetail[0]
	if rel(r1.EffectiveBandwidthBps, limit) > 0.05 || rel(r1.BandwidthBps, limit) > 0.05 {
		t.Errorf("round 1: effective %v, measured %v bit/s; want window/RTT %v within 5%%", r1.EffectiveBandwidthBps, r1.BandwidthBps, limit)
	}
	if rel(res.EffectiveBandwidthBps, limit) > 0.05 {
		t.Errorf("effective_bandwidth_bps %v, want window/RTT %v within 5%%", res.EffectiveBandwidthBps, limit)
	}
	last := res.RoundsDetail[len(res.RoundsDetail)-1]
	if !last.StopAndCopy || last.EffectiveBandwidthBps > limit*(1+1e-9) {
		t.Errorf("stop-and-copy pass %+v: want at most window/RTT", last)
	}

	many := one
	many.Trace = newSeqTrace(pages, pages/4, 0, 1000, 10*time.Millisecond, 0)
	many.Path.Streams = 40
	res40 := run(t, p, many)
	// Past the slow-start ramp (8 round trips, most of this short pass),
	// the rate QEMU measures at the pass's end is the link's.
	if got := res40.RoundsDetail[0].BandwidthBps; rel(got, 10e9) > 0.05 {
		t.Errorf("40 streams, round 1: %v bit/s measured, want the link's 10 Gbit/s within 5%%", got)
	}
	if res40.TotalTimeS >= res.TotalTimeS/5 {
		t.Errorf("40 streams: %v s, one stream %v s; want far faster", res40.TotalTimeS, res.TotalTimeS)
	}
}
