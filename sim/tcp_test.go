package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// wan80 is a 10 Gbit path with an 80 ms RTT and Linux's default window.
func wan80() Path {
	return Path{Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond, Window: DefaultWindow}
}

// One stream over 80 ms with the default window is held to window/RTT,
// far below 10 Gbit/s; enough parallel streams fill the link. Checked on
// the steady rate and on a 20 GB transfer, slow start included.
func TestWindowLimitSingleVsParallel(t *testing.T) {
	p := wan80()
	want1 := float64(DefaultWindow) * 8 / 0.080 // window/RTT, bits/s
	if got := p.SteadyBps(1, 0, 0); relErr(got, want1) > 0.05 || got >= 10e9 {
		t.Errorf("one stream: %v bit/s, want window/RTT = %v (< 10 Gbit/s)", got, want1)
	}
	const n = 20e9 // bytes
	x, _ := p.Send(p.Open(1), 0, n, 0)
	if got := x.Bps(); relErr(got, want1) > 0.05 {
		t.Errorf("one stream, 20 GB: %v bit/s effective, want window/RTT = %v within 5%%", got, want1)
	}

	k := p.StreamsToFill(0)
	if want := int(math.Ceil(10e9 / want1)); k != want {
		t.Errorf("streams to fill = %d, want ⌈10 Gbit/s ÷ window/RTT⌉ = %d", k, want)
	}
	if got := p.SteadyBps(k, 0, 0); relErr(got, 10e9) > 1e-9 {
		t.Errorf("%d streams: %v bit/s, want the link's 10 Gbit/s", k, got)
	}
	if got := p.SteadyBps(k-1, 0, 0); relErr(got, float64(k-1)*want1) > 1e-9 {
		t.Errorf("%d streams: %v bit/s, want %d × window/RTT = %v (streams add up)", k-1, got, k-1, float64(k-1)*want1)
	}
	x, _ = p.Send(p.Open(k), 0, n, 0)
	if got := x.Bps(); relErr(got, 10e9) > 0.05 {
		t.Errorf("%d streams, 20 GB: %v bit/s effective, want 10 Gbit/s within 5%%", k, got)
	}
	// More streams than needed share the link: still 10 Gbit/s, not more.
	if got := p.SteadyBps(4*k, 0, 0); got != 10e9 {
		t.Errorf("%d streams: %v bit/s, want the link's 10 Gbit/s", 4*k, got)
	}
}

// With loss and no window limit, a stream follows Mathis's law
// MSS/(RTT·√p)·√(3/2), and k streams carry k times that.
func TestMathisLimit(t *testing.T) {
	for _, c := range []struct {
		rtt  time.Duration
		loss float64
		mss  units.Bytes
	}{
		{80 * time.Millisecond, 1e-6, 0},
		{30 * time.Millisecond, 1e-5, 0},
		{10 * time.Millisecond, 1e-4, 8948},
	} {
		p := Path{Bandwidth: 100 * units.Gbit, RTT: c.rtt, Loss: c.loss, MSS: c.mss}
		mss := 1448.0
		if c.mss > 0 {
			mss = float64(c.mss)
		}
		want := mss * 8 / (c.rtt.Seconds() * math.Sqrt(c.loss)) * math.Sqrt(1.5)
		if got := p.SteadyBps(1, 0, 0); relErr(got, want) > 0.05 {
			t.Errorf("rtt %v loss %g: %v bit/s, Mathis %v", c.rtt, c.loss, got, want)
		}
		x, _ := p.Send(p.Open(1), 0, 200*want/8, 0) // 200 s worth
		if got := x.Bps(); relErr(got, want) > 0.05 {
			t.Errorf("rtt %v loss %g: %v bit/s effective over 200 s, Mathis %v", c.rtt, c.loss, got, want)
		}
		if got := p.SteadyBps(3, 0, 0); relErr(got, 3*want) > 1e-9 {
			t.Errorf("rtt %v loss %g: 3 streams %v bit/s, want 3 × Mathis %v", c.rtt, c.loss, got, 3*want)
		}
	}
	// Window and loss together: the lower limit wins.
	p := wan80()
	p.Loss = 1e-7
	if got, want := p.StreamCeilingBps(), math.Min(p.WindowLimitBps(), p.MathisBps()); got != want {
		t.Errorf("ceiling %v, want min(window %v, Mathis %v)", got, p.WindowLimitBps(), p.MathisBps())
	}
}

// At zero RTT (and so infinite window/RTT and Mathis rates) the stream
// model is the foundation's fluid link, to the nanosecond.
func TestSendZeroRTTIsFluid(t *testing.T) {
	for _, p := range []Path{
		{Bandwidth: units.Gbit},
		{Bandwidth: 10 * units.Gbit, Loss: 0.01},
		{Bandwidth: 25 * units.Gbit, Window: DefaultWindow, Streams: 4},
	} {
		for _, n := range []float64{1, 4104, 1 << 30, 3.3e9 + 0.5} {
			for _, capBps := range []float64{0, 1e8, 1e12} {
				c := p.Open(0)
				x, c2 := p.Send(c, 0, n, capBps)
				if want := p.TransferTime(n, capBps); x.Duration != want {
					t.Errorf("%+v n=%v cap=%v: %v, fluid %v", p, n, capBps, x.Duration, want)
				}
				// A second, warm transfer is fluid too.
				if x2, _ := p.Send(c2, c2.LastSend, n, capBps); x2.Duration != p.TransferTime(n, capBps) {
					t.Errorf("%+v n=%v cap=%v: warm %v, fluid %v", p, n, capBps, x2.Duration, p.TransferTime(n, capBps))
				}
			}
		}
	}
}

// Slow start: from the initial window each round trip sends the window
// and doubles it, so IW × (2^m − 1) bytes take m round trips; past the
// ramp the rest goes at the link's rate.
func TestSlowStartClosedForm(t *testing.T) {
	p := Path{Bandwidth: units.Gbit, RTT: 10 * time.Millisecond}
	iw := float64(InitialWindow) * 1448
	rtt := 0.010
	for m := 1; m <= 6; m++ {
		n := iw * (math.Exp2(float64(m)) - 1)
		x, c := p.Send(p.Open(1), 0, n, 0)
		if got := x.Duration.Seconds(); math.Abs(got-float64(m)*rtt) > 2e-9 {
			t.Errorf("%v bytes from IW: %v s, want %d RTTs", n, got, m)
		}
		if want := iw * math.Exp2(float64(m)); relErr(c.Cwnd, want) > 1e-9 {
			t.Errorf("after %d RTTs cwnd %v, want %v", m, c.Cwnd, want)
		}
	}
	// Target window: 1 Gbit/s × 10 ms = 1.25 MB, reached after 7 round
	// trips (IW × 2^6 < 1.25 MB ≤ IW × 2^7).
	const n = 1e9
	ramp := iw * (math.Exp2(7) - 1)
	want := 7*rtt + (n-ramp)*8/1e9
	x, c := p.Send(p.Open(1), 0, n, 0)
	if got := x.Duration.Seconds(); math.Abs(got-want) > 2e-9 { // rounded up to the ns
		t.Errorf("1 GB: %v s, want 7 RTTs of ramp + the rest at 1 Gbit/s = %v s", got, want)
	}
	if relErr(c.Cwnd, 1.25e6) > 1e-9 {
		t.Errorf("cwnd after the ramp %v, want the BDP 1.25 MB", c.Cwnd)
	}
	// k streams ramp together: k times the bytes in the same round trips.
	x4, _ := p.Send(p.Open(4), 0, 4*iw*(math.Exp2(3)-1), 0)
	if got := x4.Duration.Seconds(); math.Abs(got-3*rtt) > 2e-9 {
		t.Errorf("4 streams: %v s, want 3 RTTs", got)
	}
	// The spans carry every byte, in order, and end with the transfer.
	var sum float64
	var prev time.Duration
	for _, s := range x.Spans {
		if s.Start < prev || s.End <= s.Start {
			t.Fatalf("spans out of order: %+v", x.Spans)
		}
		prev = s.End
		sum += s.Bytes
	}
	if relErr(sum, n) > 1e-12 || prev != x.Duration || len(x.Spans) != 8 {
		t.Errorf("spans: %d carrying %v bytes to %v, want 7 ramp + 1 steady carrying %v to %v", len(x.Spans), sum, prev, n, x.Duration)
	}
}

// After an idle time longer than the RTO the window is halved per RTO
// elapsed (down to the initial window); shorter pauses keep it.
func TestIdleRestart(t *testing.T) {
	p := Path{Bandwidth: units.Gbit, RTT: 10 * time.Millisecond}
	_, warm := p.Send(p.Open(1), 0, 1e9, 0) // cwnd at the BDP, 1.25 MB
	rate := 1e9
	rto := p.RTO()
	if rto != 210*time.Millisecond {
		t.Fatalf("RTO %v, want RTT + 200ms", rto)
	}
	const n = 1e8
	fluid := n * 8 / rate
	x, _ := p.Send(warm, warm.LastSend.Add(rto), n, 0)
	if got := x.Duration.Seconds(); math.Abs(got-fluid) > 2e-9 {
		t.Errorf("after an idle RTO: %v s, want no ramp, %v s", got, fluid)
	}
	// 3 RTOs idle: halved twice, to 312.5 kB; two round trips of ramp
	// (sending 312.5 kB, then 625 kB) before the full rate.
	x, _ = p.Send(warm, warm.LastSend.Add(3*rto), n, 0)
	want := 2*0.010 + (n-(312.5e3+625e3))*8/rate
	if got := x.Duration.Seconds(); math.Abs(got-want) > 2e-9 {
		t.Errorf("after 3 idle RTOs: %v s, want %v s", got, want)
	}
	// A long pause: back to the initial window, as a new connection.
	x, _ = p.Send(warm, warm.LastSend.Add(time.Hour), n, 0)
	fresh, _ := p.Send(p.Open(1), 0, n, 0)
	if x.Duration != fresh.Duration {
		t.Errorf("after an hour idle: %v, want a new connection's %v", x.Duration, fresh.Duration)
	}
}

// Jitter adds to the RTT TCP sees: window/(RTT + jitter), and a longer RTO.
func TestJitterMeanEffect(t *testing.T) {
	p := wan80()
	p.Jitter = 5 * time.Millisecond
	if got, want := p.WindowLimitBps(), float64(DefaultWindow)*8/0.085; relErr(got, want) > 1e-12 {
		t.Errorf("window limit with jitter %v, want %v", got, want)
	}
	p.Jitter = 100 * time.Millisecond
	if got := p.RTO(); got != 580*time.Millisecond {
		t.Errorf("RTO %v, want mean RTT 180ms + 4 × jitter", got)
	}
}

// The bandwidth schedule and cross traffic change the rate mid-transfer.
func TestScheduleAndCrossTraffic(t *testing.T) {
	p := Path{Bandwidth: 10 * units.Gbit, Schedule: []RateChange{
		{At: 0, Bandwidth: 10 * units.Gbit},
		{At: 60 * time.Second, Bandwidth: 2 * units.Gbit},
		{At: 90 * time.Second, CrossTraffic: 0.5}, // 10 Gbit link, half taken
	}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 10e9}, {59 * time.Second, 10e9}, {60 * time.Second, 2e9}, {100 * time.Second, 5e9}} {
		if got := p.AvailableBps(Time(c.at)); got != c.want {
			t.Errorf("available at %v: %v, want %v", c.at, got, c.want)
		}
	}
	// 80 GB from t=0: 75 GB in the first 60 s, 5 GB at 2 Gbit/s (20 s).
	x, _ := p.Send(p.Open(1), 0, 80e9, 0)
	if got := x.Duration.Seconds(); math.Abs(got-80) > 1e-6 {
		t.Errorf("80 GB across the drop: %v s, want 80 s", got)
	}
	// 10 GB from t=85s: 1.25 GB by 90 s, then 8.75 GB at 5 Gbit/s (14 s).
	x, _ = p.Send(p.Open(1), Time(85*time.Second), 10e9, 0)
	if got := x.Duration.Seconds(); math.Abs(got-19) > 1e-6 {
		t.Errorf("10 GB across the cross traffic: %v s, want 19 s", got)
	}
	// A window-limited stream does not notice a drop above its ceiling.
	w := wan80()
	w.Schedule = []RateChange{{At: time.Second, Bandwidth: 5 * units.Gbit}}
	if w.SteadyBps(1, Time(2*time.Second), 0) != w.WindowLimitBps() {
		t.Error("one window-limited stream should keep its rate when the link drops to 5 Gbit/s")
	}
}

func TestPathValidate(t *testing.T) {
	good := wan80()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Path)
		want string
	}{
		{func(p *Path) { p.Jitter = -1 }, "jitter"},
		{func(p *Path) { p.Window = 100 }, "less than one segment"},
		{func(p *Path) { p.MSS = 100 }, "mss"},
		{func(p *Path) { p.Streams = -2 }, "streams"},
		{func(p *Path) { p.Schedule = []RateChange{{At: time.Second}, {At: time.Second}} }, "schedule[1]"},
		{func(p *Path) { p.Schedule = []RateChange{{CrossTraffic: 1}} }, "cross traffic"},
	} {
		p := good
		c.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want an error about %s", err, c.want)
		}
	}
}

// BenchmarkSend measures one closed-form transfer with a full ramp.
func BenchmarkSend(b *testing.B) {
	p := wan80()
	c := p.Open(4)
	for b.Loop() {
		_, _ = p.Send(c, 0, 4e9, 0)
	}
}

// When the schedule raises the link mid-transfer, the streams ramp up to
// their new share by doubling, from a fresh round trip.
func TestScheduleRaiseRamps(t *testing.T) {
	p := Path{Bandwidth: units.Gbit, RTT: 10 * time.Millisecond, Schedule: []RateChange{
		{At: time.Second, Bandwidth: 4 * units.Gbit},
	}}
	x, c := p.Send(p.Open(1), 0, 2e9, 0)
	// Before the raise: 7 round trips of ramp to 1.25 MB, then 1 Gbit/s.
	iw := float64(InitialWindow) * 1448
	by1s := iw*(math.Exp2(7)-1) + (1-0.07)*1e9/8
	// After: two doublings (1.25 → 2.5 → 5 MB) at 1 and 2 Gbit/s, then 4.
	rest := 2e9 - by1s - 0.010*1e9/8 - 0.010*2e9/8
	want := 1 + 0.020 + rest*8/4e9
	if got := x.Duration.Seconds(); math.Abs(got-want) > 1e-6 {
		t.Errorf("2 GB across a raise to 4 Gbit/s: %v s, want %v s", got, want)
	}
	if relErr(c.Cwnd, 5e6) > 1e-9 {
		t.Errorf("cwnd %v, want the new BDP 5 MB", c.Cwnd)
	}
	var sum float64
	for _, s := range x.Spans {
		if s.Bytes <= 0 || s.End <= s.Start {
			t.Fatalf("bad span %+v in %+v", s, x.Spans)
		}
		sum += s.Bytes
	}
	if relErr(sum, 2e9) > 1e-12 {
		t.Errorf("spans carry %v bytes, want 2e9", sum)
	}
}
