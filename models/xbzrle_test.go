package models

import (
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

func xbzrleParams(cache units.Bytes) PrecopyParams {
	p := bareParams()
	p.MaxTime = 30 * time.Second
	p.Xbzrle.Enabled = true
	p.Xbzrle.CacheSize = cache
	return p
}

// The encoded size follows the documented formula.
func TestXbzrleEncodedSize(t *testing.T) {
	for _, c := range []struct {
		changed float64
		run     uint64
		want    uint64
		over    bool
	}{
		{0, 16, 0, false},
		// 13 runs of 16 changed bytes, 299 unchanged between: 2+1+16 each.
		{0.05, 16, 13 * 19, false},
		// One run of 64: zero run 4032 (2 bytes), run length 1 byte.
		{64.0 / 4096, 64, 2 + 1 + 64, false},
		// Every byte changed: one 4096-byte run, 0 before it: 1+2+4096.
		{1, 4096, 4099, true},
		// Half the bytes in single-byte runs: 2048 × 3 bytes.
		{0.5, 1, 2048 * 3, true},
	} {
		got, over := xbzrleEncoded(4096, c.changed, c.run)
		if got != c.want || over != c.over {
			t.Errorf("changed %v run %d: %d bytes overflow %v, want %d %v", c.changed, c.run, got, over, c.want, c.over)
		}
	}
}

// A hot working set that a 1 Gbit/s link cannot keep up with (the guest
// re-dirties all of it during every pass): plain pre-copy never
// converges. With a cache larger than the working set, round 2 sends it
// in full and fills the cache (XBZRLE starts after round 1, as in QEMU)
// and round 3 sends every page as a delta of the modelled size, so the
// passes shrink by the encoding's ratio and the migration converges.
func TestXbzrleClosedForm(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	in := input(pages, ws, 0, 60000, units.Gbit)
	p := xbzrleParams(128 * units.MiB)
	plainP := p
	plainP.Xbzrle.Enabled = false
	plain := run(t, plainP, in)
	if plain.Converged {
		t.Fatalf("plain pre-copy converged; the workload is meant not to: %+v", plain.RoundsDetail)
	}
	res := run(t, p, in)
	if !res.Converged {
		t.Fatalf("xbzrle did not converge: stop %v after %d rounds", res.StopReason, res.Rounds)
	}
	enc, _ := xbzrleEncoded(4096, p.Xbzrle.ChangedFraction, uint64(p.Xbzrle.RunBytes))
	wireHit := 8 + 3 + float64(enc)
	rd := res.RoundsDetail
	if len(rd) < 3 {
		t.Fatalf("only %d passes", len(rd))
	}
	if rd[1].Pages != ws || rd[1].Bytes != ws*4104 {
		t.Errorf("round 2: %d pages %d bytes, want %d full pages (%d bytes)", rd[1].Pages, rd[1].Bytes, ws, ws*4104)
	}
	if want := uint64(math.Round(ws * wireHit)); rd[2].Pages != ws || rd[2].Bytes != want {
		t.Errorf("round 3: %d pages %d bytes, want %d deltas (%d bytes)", rd[2].Pages, rd[2].Bytes, ws, want)
	}
	ratio := float64(rd[2].Bytes) / float64(rd[1].Bytes)
	t.Logf("plain: %v after %d rounds, %.0f MiB; xbzrle: %v in %.3fs, %d rounds, downtime %.1fms, round 3/round 2 bytes %.4f (%.0f/4104), encoding rate %.2f, miss rate %.3f",
		plain.StopReason, plain.Rounds, float64(plain.TransferredBytes)/(1<<20), res.StopReason, res.TotalTimeS, res.Rounds, res.DowntimeS*1e3,
		ratio, wireHit, res.XbzrleEncodingRate, res.XbzrleCacheMissRate)
	// Every lookup after round 2 hits; round 2's are all misses.
	lookups := uint64(0)
	for _, r := range rd[1:] {
		lookups += r.Pages
	}
	if res.XbzrleCacheMisses != ws || res.XbzrlePages != lookups-ws || res.XbzrleOverflow != 0 {
		t.Errorf("misses %d pages %d overflow %d; want %d misses, %d pages, 0 overflow", res.XbzrleCacheMisses, res.XbzrlePages, res.XbzrleOverflow, ws, lookups-ws)
	}
	// QEMU's encoding rate and xbzrle bytes leave the 8-byte page header out.
	if math.Abs(res.XbzrleEncodingRate-4096/(wireHit-8)) > 1e-3 {
		t.Errorf("encoding rate %v, want %v", res.XbzrleEncodingRate, 4096/(wireHit-8))
	}
	if res.XbzrleCacheSizeBytes != 128<<20 {
		t.Errorf("cache size %d", res.XbzrleCacheSizeBytes)
	}
}

// A one-page cache holds one page at a time and QEMU does not replace a
// fresh entry: nearly every lookup misses and the run sends about what
// plain pre-copy sends.
func TestXbzrleTinyCache(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	in := input(pages, ws, 0, 60000, units.Gbit)
	p := xbzrleParams(4 * units.KiB)
	res := run(t, p, in)
	p.Xbzrle.Enabled = false
	plain := run(t, p, in)
	if res.XbzrleCacheMissRate < 0.999 {
		t.Errorf("miss rate %v, want about 1", res.XbzrleCacheMissRate)
	}
	if d := math.Abs(float64(res.TransferredBytes)-float64(plain.TransferredBytes)) / float64(plain.TransferredBytes); d > 0.01 {
		t.Errorf("transferred %d bytes, plain %d: differ by %.2f%%", res.TransferredBytes, plain.TransferredBytes, 100*d)
	}
	if res.Converged {
		t.Errorf("a one-page cache made the run converge")
	}
}

// Conservation over a random workload with a cache smaller than the
// working set: every byte is a full page, a zero page, a delta or device
// state; deltas are never larger than the modelled encoding; and a
// change pattern that overflows sends exactly what plain pre-copy sends.
func TestXbzrleConservation(t *testing.T) {
	const pages = 1 << 16
	mem := units.Bytes(pages * 4096)
	in := pcInput(genTrace(genSpec("uniform", 60000, 0, mem/2, 0.2), mem, 1), pages, units.Gbit, 0)
	p := xbzrleParams(32 * units.MiB)
	p.MaxTime = 20 * time.Second
	res := run(t, p, in)
	if res.XbzrlePages == 0 || res.XbzrleCacheMisses == 0 {
		t.Fatalf("want both hits and misses: %d pages, %d misses; rounds %+v", res.XbzrlePages, res.XbzrleCacheMisses, res.RoundsDetail)
	}
	enc, _ := xbzrleEncoded(4096, p.Xbzrle.ChangedFraction, uint64(p.Xbzrle.RunBytes))
	if min := res.XbzrlePages * (3 + enc); res.XbzrleBytes < min {
		t.Errorf("xbzrle bytes %d below pages × (encoding header + encoding) %d", res.XbzrleBytes, min)
	}
	// Each delta page also carries its 8-byte page header on the wire.
	want := float64(res.Pages.Normal)*4104 + float64(res.Pages.Zero)*9 + float64(res.XbzrleBytes) + 8*float64(res.XbzrlePages)
	if res.Completed {
		want += float64(in.VM.DeviceState)
	}
	tol := 2.0
	if !res.Completed {
		tol = 4104 // the pass cut at max_time counts whole pages of a prorated byte count
	}
	if d := math.Abs(float64(res.TransferredBytes) - want); d > tol {
		t.Errorf("transferred %d bytes, pages account for %.0f", res.TransferredBytes, want)
	}
	t.Logf("%v in %.2fs: %d xbzrle pages, %d misses (rate %.3f), normal %d", res.StopReason, res.TotalTimeS, res.XbzrlePages, res.XbzrleCacheMisses, res.XbzrleCacheMissRate, res.Pages.Normal)

	p.Xbzrle.ChangedFraction, p.Xbzrle.RunBytes = 0.5, 1
	over := run(t, p, in)
	p.Xbzrle.Enabled = false
	plain := run(t, p, in)
	if over.XbzrleOverflow == 0 || over.XbzrlePages != 0 || over.TransferredBytes != plain.TransferredBytes {
		t.Errorf("overflowing deltas: %d overflows, %d pages, %d bytes; plain sends %d", over.XbzrleOverflow, over.XbzrlePages, over.TransferredBytes, plain.TransferredBytes)
	}
}

// XBZRLE off leaves pre-copy's results untouched, and the section is
// validated.
func TestXbzrleValidate(t *testing.T) {
	for _, bad := range []func(*PrecopyParams){
		func(p *PrecopyParams) { p.Xbzrle.CacheSize = 100 * units.MiB },
		func(p *PrecopyParams) { p.Xbzrle.CacheSize = 0 },
		func(p *PrecopyParams) { p.Xbzrle.ChangedFraction = 1.5 },
		func(p *PrecopyParams) { p.Xbzrle.RunBytes = 0 },
		func(p *PrecopyParams) { p.Multifd.Channels = 2 },
		func(p *PrecopyParams) { p.Costs.XbzrleEncode = -1 },
	} {
		p := DefaultPrecopyParams()
		p.Xbzrle.Enabled = true
		bad(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("accepted %+v", p.Xbzrle)
		}
	}
	p := DefaultPrecopyParams()
	p.Xbzrle.CacheSize = 0 // ignored while off
	if err := p.Validate(); err != nil {
		t.Errorf("xbzrle off: %v", err)
	}
}

// With the single-stream CPU model, XBZRLE's work is counted: each hit
// costs costs.xbzrle_encode on the source and xbzrle_decode on the
// destination, each miss a page copy into the cache, on top of every
// sent page's stages.
func TestXbzrleCPU(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	in := input(pages, ws, 0, 60000, units.Gbit)
	p := xbzrleParams(128 * units.MiB)
	p.CPUBound = true
	res := run(t, p, in)
	if !res.Converged || res.XbzrlePages == 0 {
		t.Fatalf("stop %v, %d xbzrle pages", res.StopReason, res.XbzrlePages)
	}
	tab := p.Costs.table(Codec{Ratio: 1})
	sent := float64(res.Pages.Normal + res.XbzrlePages)
	src := sent*tab.SourceSeconds() + float64(res.XbzrlePages)*p.Costs.XbzrleEncode.Seconds() + float64(res.XbzrleCacheMisses)*DefaultCosts().Copy.Seconds()
	dst := sent*tab.DestinationSeconds() + float64(res.XbzrlePages)*p.Costs.XbzrleDecode.Seconds()
	if math.Abs(res.CPUSecondsSource-src) > 1e-9 || math.Abs(res.CPUSecondsDestination-dst) > 1e-9 {
		t.Errorf("CPU %.6fs source, %.6fs destination; want %.6fs, %.6fs", res.CPUSecondsSource, res.CPUSecondsDestination, src, dst)
	}
	if res.Bottleneck != "link" {
		t.Errorf("bottleneck %q on 1 Gbit/s, want link", res.Bottleneck)
	}
}

// Hybrid with XBZRLE: the pre-copy rounds before the switch encode
// re-sent pages exactly as pre-copy's do (round 3 of TestXbzrleClosedForm's
// workload is all deltas), the switch reports the XBZRLE figures, and the
// post-copy phase sends full pages only (4104 bytes each: the workload has
// no zero pages and no device state).
func TestHybridXbzrle(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	in := input(pages, ws, 0, 60000, units.Gbit)
	p := DefaultHybridParams()
	p.SetupTime, p.SyncTimePerGiB, p.ResumeTime = 0, 0, 0
	p.PrecopyRounds = 3
	p.MaxTime = 30 * time.Second
	// Too tight to stop in pre-copy, so both runs switch after round 3.
	p.DowntimeLimit = time.Microsecond
	plainP := p
	p.Xbzrle.Enabled = true
	p.Xbzrle.CacheSize = 128 * units.MiB
	plain := runHybrid(t, plainP, in)
	res := runHybrid(t, p, in)
	if res.StopReason != StopPostcopy || plain.StopReason != StopPostcopy {
		t.Fatalf("stop %v with xbzrle and %v without, want both to switch to post-copy", res.StopReason, plain.StopReason)
	}
	enc, _ := xbzrleEncoded(4096, p.Xbzrle.ChangedFraction, uint64(p.Xbzrle.RunBytes))
	want := uint64(math.Round(ws * (8 + 3 + float64(enc))))
	if rd := res.RoundsDetail; len(rd) < 3 || rd[2].Pages != ws || rd[2].Bytes != want {
		t.Fatalf("round 3: %+v, want %d deltas in %d bytes", res.RoundsDetail, ws, want)
	}
	if res.XbzrlePages != ws || res.XbzrleCacheMisses == 0 {
		t.Errorf("xbzrle pages %d misses %d, want %d deltas (round 3) after round 2's misses", res.XbzrlePages, res.XbzrleCacheMisses, ws)
	}
	if plain.XbzrlePages != 0 {
		t.Errorf("plain hybrid reports %d xbzrle pages", plain.XbzrlePages)
	}
	if res.PostcopyBytes == 0 || res.PostcopyBytes%4104 != 0 {
		t.Errorf("post-copy phase sent %d bytes, want whole 4104-byte pages (XBZRLE ends at the switch)", res.PostcopyBytes)
	}
	if res.PrecopyBytes >= plain.PrecopyBytes {
		t.Errorf("pre-copy phase %d bytes with xbzrle, %d without: want fewer", res.PrecopyBytes, plain.PrecopyBytes)
	}
}

// Under sync_policy qemu a round is a sync period and XBZRLE starts where
// QEMU's scan first wraps to page 0, usually inside a chunk: every normal
// page sent after that point is looked up in the cache, so the full pages
// sent beyond the first pass are exactly the misses (the hot set once),
// and every later send of a hot page is a delta.
func TestXbzrleQEMUSyncStartsAtWrap(t *testing.T) {
	const pages, ws = 1 << 16, 1 << 14
	in := input(pages, ws, 0, 60000, units.Gbit)
	p := xbzrleParams(128 * units.MiB)
	p.SyncPolicy = SyncQEMU
	res := run(t, p, in)
	if !res.Converged {
		t.Fatalf("did not converge: stop %v after %d rounds", res.StopReason, res.Rounds)
	}
	if res.XbzrleCacheMisses != ws {
		t.Errorf("%d misses, want the hot set once (%d)", res.XbzrleCacheMisses, ws)
	}
	if full := res.Pages.Normal - pages; full != res.XbzrleCacheMisses {
		t.Errorf("%d full pages sent beyond the first pass, %d misses: pages past the wrap went out without a lookup", full, res.XbzrleCacheMisses)
	}
	if res.XbzrlePages == 0 {
		t.Error("no page was sent as a delta")
	}
	t.Logf("%d rounds, %d syncs, %.3fs; %d deltas, %d misses", res.Rounds, res.DirtySyncCount, res.TotalTimeS, res.XbzrlePages, res.XbzrleCacheMisses)
}
