package models

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// windowRun returns a post-copy run of the rate limiter's tests: the given
// cap and window over a path of bw, without preempt.
func windowRun(bw, capBps units.BitRate, window time.Duration, preempt bool) *postcopyRun {
	p := DefaultPostcopyParams()
	p.MaxPostcopyBandwidth, p.RateLimitWindow, p.Preempt = capBps, window, preempt
	r := &postcopyRun{cfg: p.config(), in: Input{Path: sim.Path{Bandwidth: bw}}}
	r.useWindow()
	return r
}

// A request that reaches the source during a window's burst (the first
// cap/rate of the window) goes out when the burst has drained; one that
// reaches it later waits for the next window's start.
func TestWindowWaitClosedForm(t *testing.T) {
	const w = float64(100 * time.Millisecond)
	r := windowRun(units.Gbit, 250*units.Mbit, 100*time.Millisecond, false)
	if r.burstFrac != 0.25 {
		t.Fatalf("burst share %v, want 0.25 (250 Mbit of 1 Gbit)", r.burstFrac)
	}
	for _, c := range []struct{ req, want float64 }{
		{0, 0.25 * w},
		{0.1 * w, 0.25 * w},
		{0.2499 * w, 0.25 * w},
		{0.25 * w, w},
		{0.9 * w, w},
		{3.1 * w, 3.25 * w},
		{3.6 * w, 4 * w},
	} {
		if got := r.windowWait(c.req); got != c.want {
			t.Errorf("request at %v ns: served at %v ns, want %v", c.req, got, c.want)
		}
	}
	// No wait without a cap, with a cap at or above the path's rate, with
	// the window off, or with requests on their own channel.
	for name, r := range map[string]*postcopyRun{
		"no cap":     windowRun(units.Gbit, 0, 100*time.Millisecond, false),
		"cap ≥ path": windowRun(units.Gbit, 2*units.Gbit, 100*time.Millisecond, false),
		"window 0":   windowRun(units.Gbit, 250*units.Mbit, 0, false),
		"preempt":    windowRun(units.Gbit, 250*units.Mbit, 100*time.Millisecond, true),
	} {
		if got := r.windowWait(0.9 * w); got != 0.9*w {
			t.Errorf("%s: request at %v ns served at %v ns, want at once", name, 0.9*w, got)
		}
	}
}

// The window moves requests in time, not bytes: total time, bytes and
// pages are those of the steady push (the closed form of
// TestPostcopyEachPageCrossesOnce), while the mean stall per request grows
// by at most the longer of a window's burst and its sleep. With postcopy_preempt a network
// fault costs exactly RTT + the page's transfer + fault_service_time.
func TestRateLimitWindowStalls(t *testing.T) {
	const pages = 1 << 16
	bw, capBps := units.Gbit, 200*units.Mbit
	rtt := 200 * time.Microsecond
	in := pcInput(newScanTrace(pages, true, scanRegion{pages * 3 / 4, pages, 2000}), pages, bw, rtt)
	run := func(window time.Duration, preempt bool) *Result {
		p := postcopyWith(PrepagingNone)
		p.MinorFaultTime = 0
		p.MaxPostcopyBandwidth, p.RateLimitWindow, p.Preempt = capBps, window, preempt
		return runPostcopyModel(t, p, in)
	}
	off, on, pre := run(0, false), run(100*time.Millisecond, false), run(100*time.Millisecond, true)
	for _, r := range []*Result{on, pre} {
		if r.TotalTimeS != off.TotalTimeS || r.TransferredBytes != off.TransferredBytes || r.Pages != off.Pages {
			t.Fatalf("total %v s, %d bytes, %+v pages; without the window %v s, %d bytes, %+v",
				r.TotalTimeS, r.TransferredBytes, r.Pages, off.TotalTimeS, off.TransferredBytes, off.Pages)
		}
	}
	per := func(r *Result) float64 { return r.StallTimeS / float64(r.PostcopyRequests) }
	f := float64(capBps) / float64(bw)
	wait := 0.1 * max(f, 1-f) // s: the longest wait for the stream
	if per(on) <= per(off) || per(on) > per(off)+wait {
		t.Errorf("mean stall per request %v s with the window, %v s without: want more, by at most %v s", per(on), per(off), wait)
	}
	if on.PostcopyRequests >= off.PostcopyRequests {
		t.Errorf("%d requests with the window, %d without: a guest that stalls longer should fault less", on.PostcopyRequests, off.PostcopyRequests)
	}
	if pre.PostcopyRequests < 100 || pre.MinorFaults*100 > pre.PostcopyRequests {
		t.Fatalf("preempt: %d requests, %d minor faults: want many requests, few minor faults", pre.PostcopyRequests, pre.MinorFaults)
	}
	// Each request: exactly RTT + transfer + service; a minor fault waits
	// at most for one page and half an RTT.
	tau := 4104 * 8 / float64(capBps)
	lo := rtt.Seconds() + tau + DefaultFaultServiceTime.Seconds()
	hi := lo + float64(pre.MinorFaults)*(tau+rtt.Seconds()/2)/float64(pre.PostcopyRequests)
	if p := per(pre); p < lo*(1-1e-6) || p > hi*(1+1e-6) {
		t.Errorf("preempt: mean stall per request %v s, want RTT + transfer + service = %v s (up to %v s with minor faults)", p, lo, hi)
	}
}

// Without a cap the window changes nothing: byte-identical results.
func TestRateLimitWindowNeedsCap(t *testing.T) {
	const pages = 1 << 14
	in := pcInput(genTrace(genSpec("uniform", 5000, 0, pages*4096/2, 0.25), pages*4096, 1), pages, units.Gbit, time.Millisecond)
	var out [2][]byte
	for i, w := range []time.Duration{0, 100 * time.Millisecond} {
		p := DefaultPostcopyParams()
		p.RateLimitWindow = w
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(runPostcopyModel(t, p, in)); err != nil {
			t.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Error("rate_limit_window changed a run without max_postcopy_bandwidth")
	}
}

func TestRateLimitWindowValidate(t *testing.T) {
	p := DefaultPostcopyParams()
	p.RateLimitWindow = -time.Millisecond
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "model.rate_limit_window") {
		t.Errorf("negative window: error %v, want one naming model.rate_limit_window", err)
	}
	h := DefaultHybridParams()
	h.RateLimitWindow = -time.Millisecond
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "model.rate_limit_window") {
		t.Errorf("hybrid: error %v, want one naming model.rate_limit_window", err)
	}
}
