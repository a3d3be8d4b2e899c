package models

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/units"
)

// TestDirtyLogTake checks the bitmap scan of sync_policy qemu: pages leave
// in ascending order from the cursor, wrap to page 0, and are conserved.
func TestDirtyLogTake(t *testing.T) {
	const pages = 200
	set := []uint32{3, 10, 64, 65, 130, 199}
	d := bitmapLog(roaring.BitmapOf(set...), pages)
	z := bitmapLog(roaring.BitmapOf(10, 130), pages)
	out := newDirtyLog(pages)

	n, zero, next, wrapped := d.take(64, 3, z, out)
	if got := out.bitmap().ToArray(); n != 3 || zero != 1 || next != 131 || wrapped || !slices.Equal(got, []uint32{64, 65, 130}) {
		t.Fatalf("take(64, 3) = n %d zero %d next %d wrapped %v pages %v, want 3 1 131 false [64 65 130]", n, zero, next, wrapped, got)
	}
	out.clear()
	n, zero, next, wrapped = d.take(next, 3, z, out)
	if got := out.bitmap().ToArray(); n != 3 || zero != 1 || next != 11 || !wrapped || !slices.Equal(got, []uint32{3, 10, 199}) {
		t.Fatalf("take(131, 3) = n %d zero %d next %d wrapped %v pages %v, want 3 1 11 true [3 10 199]", n, zero, next, wrapped, got)
	}
	if d.count != 0 || out.count != 3 {
		t.Fatalf("after taking all: log holds %d, out %d, want 0 and 3", d.count, out.count)
	}
	if n, _, _, _ := d.take(11, 5, z, out); n != 0 {
		t.Fatalf("take from an empty log moved %d pages", n)
	}
}

// TestQEMUSyncIdleGuest: a guest that writes nothing sends each page once
// under either policy; under qemu the first sync comes when the pages
// left fall below the threshold, and those (here the zero pages, which
// sit at the top of memory) go in stop-and-copy, still as zero pages.
func TestQEMUSyncIdleGuest(t *testing.T) {
	const pages, zero = 1 << 15, 1 << 12
	bw := 200 * units.Mbit
	in := input(pages, pages-zero, zero, 0, bw)
	p := bareParams()
	p.SyncPolicy = SyncPass
	pass := run(t, p, in)
	p.SyncPolicy = SyncQEMU
	q := run(t, p, in)
	if q.Pages != pass.Pages || q.TransferredBytes != pass.TransferredBytes {
		t.Errorf("qemu sent %+v, %d bytes; pass %+v, %d bytes: want each page once under both", q.Pages, q.TransferredBytes, pass.Pages, pass.TransferredBytes)
	}
	if q.Pages.Normal != pages-zero || q.Pages.Zero != zero {
		t.Errorf("qemu pages %+v, want normal %d zero %d", q.Pages, pages-zero, zero)
	}
	last := q.RoundsDetail[len(q.RoundsDetail)-1]
	threshold := float64(bw) / 8 * p.DowntimeLimit.Seconds()
	if !last.StopAndCopy || last.Pages == 0 || float64(last.Pages)*4104 >= threshold {
		t.Errorf("qemu stop-and-copy %+v: want the pages left below the threshold %.0f bytes", last, threshold)
	}
	if q.Rounds != 2 || q.DirtySyncCount != 3 {
		t.Errorf("qemu rounds %d syncs %d, want 2 and 3 (setup, pending, final)", q.Rounds, q.DirtySyncCount)
	}
}

// TestQEMUSyncRounds checks sync_policy qemu on a guest dirtying a large
// share of the path: conservation of pages and bytes over the rounds, one
// sync per round plus setup's, a stop-and-copy set below the threshold
// measured at the last sync, and more syncs than whole passes take, the
// more so the faster the guest writes.
func TestQEMUSyncRounds(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	bw := 200 * units.Mbit
	prev := 0
	for _, frac := range []float64{0.2, 0.5, 0.8} {
		rate := frac * float64(bw) / 8 / 4104 // pages per second
		in := input(pages, ws, 0, rate, bw)
		p := DefaultPrecopyParams()
		p.MaxBandwidth = bw
		p.SyncPolicy = SyncPass
		pass := run(t, p, in)
		p.SyncPolicy = SyncQEMU
		q := run(t, p, in)
		if !q.Converged {
			t.Fatalf("d/b %.1f: qemu did not converge: %v", frac, q.StopReason)
		}
		var sumPages, sumBytes uint64
		for _, r := range q.RoundsDetail {
			sumPages += r.Pages
			sumBytes += r.Bytes
		}
		if sumPages != q.Pages.Normal+q.Pages.Zero {
			t.Errorf("d/b %.1f: rounds sent %d pages, totals %+v", frac, sumPages, q.Pages)
		}
		if d := math.Abs(float64(sumBytes) - float64(q.TransferredBytes)); d > float64(len(q.RoundsDetail)) {
			t.Errorf("d/b %.1f: rounds sent %d bytes, transferred %d", frac, sumBytes, q.TransferredBytes)
		}
		if q.DirtySyncCount != q.Rounds+1 {
			t.Errorf("d/b %.1f: %d syncs for %d rounds, want rounds + 1 (setup)", frac, q.DirtySyncCount, q.Rounds)
		}
		n := len(q.RoundsDetail)
		last, sync := q.RoundsDetail[n-1], q.RoundsDetail[n-2]
		if th := sync.BandwidthBps / 8 * p.DowntimeLimit.Seconds(); float64(last.Pages)*4104 >= th {
			t.Errorf("d/b %.1f: stop-and-copy of %d pages, threshold %.0f bytes", frac, last.Pages, th)
		}
		if q.DirtySyncCount < pass.DirtySyncCount || q.DirtySyncCount < prev {
			t.Errorf("d/b %.1f: qemu %d syncs, pass %d, previous rate %d: want at least as many", frac, q.DirtySyncCount, pass.DirtySyncCount, prev)
		}
		t.Logf("d/b %.1f: qemu %d syncs, %d bytes; pass %d syncs, %d bytes", frac, q.DirtySyncCount, q.TransferredBytes, pass.DirtySyncCount, pass.TransferredBytes)
		prev = q.DirtySyncCount
	}
	if prev < 10 {
		t.Errorf("d/b 0.8: %d syncs: want the one-step periods of a near-saturated link", prev)
	}
}

// TestHybridQEMUSyncSwitch: under sync_policy qemu, hybrid's precopy_rounds
// counts syncs after setup's, so the switch comes at dirty-sync-count
// precopy_rounds + 1 (then the final sync), with the pages left unsent in
// the bitmap among those the destination lacks.
func TestHybridQEMUSyncSwitch(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	bw := 200 * units.Mbit
	in := input(pages, ws, 0, 0.8*float64(bw)/8/4104, bw)
	for _, rounds := range []int{1, 3} {
		p := DefaultHybridParams()
		p.MaxBandwidth, p.PrecopyRounds, p.SyncPolicy = bw, rounds, SyncQEMU
		res := runHybrid(t, p, in)
		if res.StopReason != StopPostcopy || res.DirtySyncCount != rounds+2 {
			t.Errorf("precopy_rounds %d: stop %v after %d syncs, want postcopy after %d", rounds, res.StopReason, res.DirtySyncCount, rounds+2)
		}
		if res.Pages.Normal+res.Pages.Zero < pages {
			t.Errorf("precopy_rounds %d: %+v pages sent, want every page at least once", rounds, res.Pages)
		}
	}
}

func TestSyncPolicyValidate(t *testing.T) {
	p := DefaultPrecopyParams()
	p.SyncPolicy = "round"
	p.IterateMaxWait = 0
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "model.sync_policy") || !strings.Contains(err.Error(), "model.iterate_max_wait") {
		t.Fatalf("Validate() = %v, want errors naming model.sync_policy and model.iterate_max_wait", err)
	}
	p = DefaultPrecopyParams()
	p.IterateMaxWait = time.Millisecond
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestQEMUSyncTimeUp: a guest faster than the link never converges under
// sync_policy qemu; the time limit ends the run mid-chunk and the round in
// progress counts what it sent up to then, so pages and bytes are still
// conserved over the rounds.
func TestQEMUSyncTimeUp(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	bw := 200 * units.Mbit
	in := input(pages, ws, 0, 1.5*float64(bw)/8/4104, bw)
	p := DefaultPrecopyParams()
	p.SyncPolicy, p.MaxTime = SyncQEMU, 5*time.Second
	res := run(t, p, in)
	if res.StopReason != StopMaxTime || res.Completed || res.TotalTimeS != 5 {
		t.Fatalf("stop %v completed %v at %.3fs, want max_time at 5s", res.StopReason, res.Completed, res.TotalTimeS)
	}
	var sumPages, sumBytes uint64
	for _, r := range res.RoundsDetail {
		sumPages += r.Pages
		sumBytes += r.Bytes
	}
	if sumPages != res.Pages.Normal+res.Pages.Zero {
		t.Errorf("rounds sent %d pages, totals %+v", sumPages, res.Pages)
	}
	if d := math.Abs(float64(sumBytes) - float64(res.TransferredBytes)); d > 2*float64(len(res.RoundsDetail)) {
		t.Errorf("rounds sent %d bytes, transferred %d", sumBytes, res.TransferredBytes)
	}
	// 5 s of a 200 Mbit/s path, less setup: the path never idles.
	if want := float64(bw) / 8 * (5 - p.SetupTime.Seconds()); math.Abs(float64(res.TransferredBytes)-want) > 0.01*want {
		t.Errorf("transferred %d bytes in 5 s, want about %.0f", res.TransferredBytes, want)
	}
}
