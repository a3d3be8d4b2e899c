package models

import (
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Over an 80 ms path with a 4 MiB window, one stream carries at most
// window/RTT; multifd's channels multiply the push up to the link, so the
// post-copy phase ends sooner, by the closed form pages × wire / rate.
// Page requests stay on the main channel: a requested page arrives one
// RTT + its time on one stream after the request leaves, with or without
// multifd, and multifd's push backlog does not delay it.
func TestPostcopyMultifdPush(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	trace := genTrace(genSpec("uniform", 2000, 20000, mem, 0), mem, 1)
	in := pcInput(trace, pages, 10*units.Gbit, 80*time.Millisecond)
	in.Path.Window = 4 * units.MiB
	single := runPostcopyModel(t, DefaultPostcopyParams(), in)
	p := DefaultPostcopyParams()
	p.Multifd.Channels = 8
	multi := runPostcopyModel(t, p, in)

	one := in.Path.SteadyBps(1, 0, 0)
	eight := in.Path.SteadyBps(8, 0, 0)
	if eight < 4*one {
		t.Fatalf("the path is not window-limited: one stream %.3g, eight %.3g bit/s", one, eight)
	}
	hdr := 320.0 / 128
	dev := in.Path.TransferTime(float64(in.VM.DeviceState), 0).Seconds()
	for _, c := range []struct {
		name string
		res  *Result
		wire float64
		rate float64
	}{{"single", single, 4104, one}, {"multifd", multi, 4104 + hdr, eight}} {
		post := c.res.TotalTimeS - c.res.SetupTimeS
		// Device state on the main stream, every page over the push
		// rate, the last one landing half an RTT after it leaves.
		want := dev + float64(c.res.Pages.Normal)*c.wire*8/c.rate + in.Path.RTT.Seconds()/2
		if math.Abs(post-want) > 1e-3*want {
			t.Errorf("%s: post-copy phase %.4fs, closed form %.4fs", c.name, post, want)
		}
		// Every request stalls at least half an RTT: the page was
		// missing when the guest touched it, so it leaves the source
		// after that, by the request or by the push while the request
		// travels, and crosses the path.
		if min := float64(c.res.PostcopyRequests) * in.Path.RTT.Seconds() / 2; c.res.StallTimeS < min {
			t.Errorf("%s: stall %.4fs below requests × RTT/2 %.4fs", c.name, c.res.StallTimeS, min)
		}
	}
	if single.PostcopyRequests == 0 {
		t.Error("single stream: no network faults")
	}
	if multi.TotalTimeS >= single.TotalTimeS/3 {
		t.Errorf("multifd total %.2fs, single stream %.2fs: want at least 3× shorter", multi.TotalTimeS, single.TotalTimeS)
	}
	if len(multi.WorkerBytes) != 8 || multi.Bottleneck != "link" || single.Bottleneck != "" {
		t.Errorf("multifd reports %d channels, bottleneck %q; single %q", len(multi.WorkerBytes), multi.Bottleneck, single.Bottleneck)
	}
	t.Logf("single: %.2fs, %d requests, %d minor, stall %.2fs; 8 channels: %.2fs, %d requests, %d minor, stall %.2fs",
		single.TotalTimeS, single.PostcopyRequests, single.MinorFaults, single.StallTimeS,
		multi.TotalTimeS, multi.PostcopyRequests, multi.MinorFaults, multi.StallTimeS)

	// The request path itself, on an idle link and behind a backlog.
	runOf := func(p PostcopyParams) *postcopyRun {
		eng := sim.New(1)
		g, err := newGuest(eng, in.Trace, in.AtEnd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.close)
		return newPostcopyRun(p.config(), in, &runEnv{eng: eng, halt: eng.Stop}, g, &Result{})
	}
	rs, rm := runOf(DefaultPostcopyParams()), runOf(p)
	const req = 1e9
	idle := rs.requestArrival(7, req, req+rs.tauNormal)
	if got := rm.requestArrival(7, req, req+rm.tauNormal); got != idle {
		t.Errorf("idle link: a requested page arrives at %.0fns with multifd, %.0fns without", got, idle)
	}
	if got := rm.requestArrival(7, req, req+1e8); got != idle {
		t.Errorf("a 100 ms push backlog delays a multifd request to %.0fns (idle %.0fns)", got, idle)
	}
	if want := req + 4104*8e9/one + float64(in.Path.RTT)/2; math.Abs(idle-want) > 1 {
		t.Errorf("requested page arrives at %.0fns, want request + page on one stream + RTT/2 = %.0fns", idle, want)
	}

	bad := DefaultPostcopyParams()
	bad.Multifd.Channels, bad.Multifd.Compression = 2, "zstd"
	if err := bad.Validate(); err == nil {
		t.Error("post-copy accepted multifd compression")
	}
}

// On a 100 Gbit/s link one migration thread per host cannot keep up: with
// cpu_bound the stream runs at the CPU's rate, 1 / max(source stage sum,
// destination stage sum) pages per second, and the bottleneck is the
// destination's receive; on 1 Gbit/s the link binds and the result is the
// same as without the CPU model. Pre-copy and post-copy alike.
func TestSingleStreamCPUBound(t *testing.T) {
	const pages = 1 << 18
	c := singleStreamCosts()
	tab := c.table(Codec{Ratio: 1})
	perPage := math.Max(tab.SourceSeconds(), tab.DestinationSeconds())
	for _, bw := range []units.BitRate{100 * units.Gbit, units.Gbit} {
		in := input(pages, 1<<12, 0, 1000, bw)
		p := bareParams()
		plain := run(t, p, in)
		p.CPUBound = true
		res := run(t, p, in)
		r1 := res.RoundsDetail[0]
		linkS := float64(r1.Bytes) * 8 / float64(bw)
		want := math.Max(linkS, float64(pages)*perPage)
		if math.Abs(r1.DurationS-want) > 1e-6*want {
			t.Errorf("%v: round 1 %.4fs, want %.4fs (link %.4fs, CPU %.4fs)", bw, r1.DurationS, want, linkS, float64(pages)*perPage)
		}
		wantB := "receive"
		if linkS > float64(pages)*perPage {
			wantB = "link"
			if math.Abs(res.TotalTimeS-plain.TotalTimeS) > 1e-9 {
				t.Errorf("%v: link-bound run took %.4fs with the CPU model, %.4fs without", bw, res.TotalTimeS, plain.TotalTimeS)
			}
		}
		if res.Bottleneck != wantB || plain.Bottleneck != "" {
			t.Errorf("%v: bottleneck %q, want %q (without cpu_bound %q)", bw, res.Bottleneck, wantB, plain.Bottleneck)
		}
		if want := float64(res.Pages.Normal) * tab.DestinationSeconds(); math.Abs(res.CPUSecondsDestination-want) > 1e-9 {
			t.Errorf("%v: destination CPU %.4fs, want %.4fs", bw, res.CPUSecondsDestination, want)
		}
		t.Logf("pre-copy %v: total %.3fs, bottleneck %s, CPU src %.3fs dst %.3fs", bw, res.TotalTimeS, res.Bottleneck, res.CPUSecondsSource, res.CPUSecondsDestination)

		pin := pcInput(genTrace(genSpec("uniform", 1000, 1000, 16*units.MiB, 0), units.Bytes(pages*4096), 1), pages, bw, 0)
		pp := DefaultPostcopyParams()
		pp.CPUBound = true
		post := runPostcopyModel(t, pp, pin)
		rate := math.Min(pin.Path.SteadyBps(0, 0, 0), 4104*8/perPage)
		if math.Abs(post.EffectiveBandwidthBps-rate) > 1e-6*rate || post.Bottleneck != wantB {
			t.Errorf("post-copy %v: push %.4g bit/s, bottleneck %q; want %.4g, %q", bw, post.EffectiveBandwidthBps, post.Bottleneck, rate, wantB)
		}
		t.Logf("post-copy %v: total %.3fs, bottleneck %s", bw, post.TotalTimeS, post.Bottleneck)
	}
}

// A hybrid migration with multifd runs its pre-copy round over the
// channels, as QEMU does, and pushes the rest over them too: over a
// window-limited path both phases are faster than on one stream, the
// channels' bytes add up to the pages sent, and the CPU seconds cover
// both phases' pages.
func TestHybridMultifd(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("uniform", 20000, 20000, mem/2, 0), mem, 1), pages, 10*units.Gbit, 80*time.Millisecond)
	in.Path.Window = 4 * units.MiB
	p := DefaultHybridParams()
	p.DowntimeLimit = 30 * time.Millisecond
	single := runHybrid(t, p, in)
	p.Multifd.Channels = 8
	multi := runHybrid(t, p, in)
	if single.StopReason != StopPostcopy || multi.StopReason != StopPostcopy {
		t.Fatalf("want a switch to post-copy: %v, %v", single.StopReason, multi.StopReason)
	}
	if multi.RoundsDetail[0].DurationS >= single.RoundsDetail[0].DurationS/3 || multi.TotalTimeS >= single.TotalTimeS/3 {
		t.Errorf("multifd: round 1 %.2fs, total %.2fs; single stream %.2fs, %.2fs", multi.RoundsDetail[0].DurationS, multi.TotalTimeS,
			single.RoundsDetail[0].DurationS, single.TotalTimeS)
	}
	var sum uint64
	for _, w := range multi.WorkerBytes {
		sum += w
	}
	pageBytes := multi.TransferredBytes - multi.DeviceStateBytes
	if len(multi.WorkerBytes) != 8 || math.Abs(float64(sum)-float64(pageBytes)) > 16 {
		t.Errorf("worker bytes %v sum to %d, pages sent %d", multi.WorkerBytes, sum, pageBytes)
	}
	c := DefaultMultifd().Costs.table(Codec{Ratio: 1})
	want := float64(multi.Pages.Normal) * c.DestinationSeconds()
	if math.Abs(multi.CPUSecondsDestination-want) > 1e-9*want {
		t.Errorf("destination CPU %.4fs, want normal pages × stages %.4fs", multi.CPUSecondsDestination, want)
	}
	t.Logf("single: %.2fs; 8 channels: %.2fs, bottleneck %s", single.TotalTimeS, multi.TotalTimeS, multi.Bottleneck)
}
