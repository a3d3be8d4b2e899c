package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

const compPages = 1 << 15 // 128 MiB of 4 KiB pages

// compSpec is a uniform workload over the anon memory of a guest whose
// composition the fractions give.
func compSpec(free, pagecache float64) traces.GeneratorSpec {
	s := genSpec("uniform", 2000, 2000, 0, 0)
	s.FreeFraction, s.PagecacheFraction = free, pagecache
	return s
}

func compInput(trace traces.Opener, bw units.BitRate) Input {
	in := pcInput(trace, compPages, bw, 0)
	in.Path = sim.Path{Bandwidth: bw}
	return in
}

func header(t *testing.T, open traces.Opener) *traces.Header {
	t.Helper()
	src, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = traces.Close(src) }()
	h := *src.Header()
	return &h
}

// With half of memory free and hinting on, pre-copy and post-copy send
// about half the bytes: round 1 (all of post-copy) leaves out exactly the
// free pages, and later rounds are the same small dirty sets.
func TestFreePageHintHalvesBytes(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	trace := genTrace(compSpec(0.5, 0), mem, 1)
	in := compInput(trace, units.Gbit)
	free := header(t, trace).ClassPages(traces.ClassFree)
	if free != compPages/2 {
		t.Fatalf("free pages %d, want %d", free, compPages/2)
	}
	pre, post := passPrecopyParams(), DefaultPostcopyParams()
	basePre, basePost := run(t, pre, in), runPostcopyModel(t, post, in)
	pre.FreePageHint, post.FreePageHint = true, true
	hintPre, hintPost := run(t, pre, in), runPostcopyModel(t, post, in)

	if got, want := hintPre.RoundsDetail[0].Pages, uint64(compPages-free); got != want {
		t.Errorf("pre-copy round 1 sent %d pages, want %d", got, want)
	}
	if hintPre.SkippedFreePages != free || hintPost.SkippedFreePages != free {
		t.Errorf("skipped_free_pages %d (pre) %d (post), want %d", hintPre.SkippedFreePages, hintPost.SkippedFreePages, free)
	}
	dev := float64(in.VM.DeviceState)
	wantPost := float64(compPages-free)*4104 + dev
	if math.Abs(float64(hintPost.TransferredBytes)-wantPost) > 1 {
		t.Errorf("post-copy with hinting sent %d bytes, want %v", hintPost.TransferredBytes, wantPost)
	}
	for _, c := range []struct {
		name       string
		base, hint *Result
	}{{"precopy", basePre, hintPre}, {"postcopy", basePost, hintPost}} {
		ratio := float64(c.hint.TransferredBytes) / float64(c.base.TransferredBytes)
		if math.Abs(ratio-0.5) > 0.02 {
			t.Errorf("%s: hinting sent %.3f of the bytes, want about 0.5", c.name, ratio)
		}
		if c.hint.TotalTimeS >= c.base.TotalTimeS {
			t.Errorf("%s: hinting took %v s, without %v s", c.name, c.hint.TotalTimeS, c.base.TotalTimeS)
		}
	}
	// Options off: no composition fields at all in the JSON.
	if basePre.SkippedFreePages != 0 || basePost.BalloonReclaimedPages != 0 {
		t.Errorf("options off but composition fields set: %+v", basePre)
	}
}

// DSB: the balloon reclaims its efficiency's share of the free pages,
// limited by reclaim_rate × interval, and those are never sent.
func TestBalloonReclaimsWithinEfficiency(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	trace := genTrace(compSpec(0.5, 0), mem, 1)
	in := compInput(trace, units.Gbit)
	free := uint64(compPages / 2)
	for _, tc := range []struct {
		name string
		set  func(*BalloonParams)
		want uint64
	}{
		{"default", func(*BalloonParams) {}, uint64(math.Floor(0.95 * float64(free)))},
		{"min_free", func(b *BalloonParams) { b.MinFree = 16 * units.MiB }, uint64(math.Floor(0.95 * float64(free-4096)))},
		{"rate-limited", func(b *BalloonParams) { b.ReclaimRate = 1000 }, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pre, post := passPrecopyParams(), DefaultPostcopyParams()
			pre.Balloon.Enabled, post.Balloon.Enabled = true, true
			tc.set(&pre.Balloon)
			tc.set(&post.Balloon)
			rp, rq := run(t, pre, in), runPostcopyModel(t, post, in)
			if rp.BalloonReclaimedPages != tc.want || rq.BalloonReclaimedPages != tc.want {
				t.Errorf("balloon_reclaimed_pages %d (pre) %d (post), want %d", rp.BalloonReclaimedPages, rq.BalloonReclaimedPages, tc.want)
			}
			if got, want := rp.RoundsDetail[0].Pages, compPages-tc.want; got != want {
				t.Errorf("pre-copy round 1 sent %d pages, want %d", got, want)
			}
			wantPost := float64(compPages-tc.want)*4104 + float64(in.VM.DeviceState)
			if math.Abs(float64(rq.TransferredBytes)-wantPost) > 1 {
				t.Errorf("post-copy sent %d bytes, want %v", rq.TransferredBytes, wantPost)
			}
		})
	}
}

// mergeSource adds b's written and read pages to a's epochs; the header and
// the length are a's.
type mergeSource struct {
	a, b traces.Source
	e    traces.Epoch
}

func merge(a, b traces.Opener) traces.Opener {
	return func() (traces.Source, error) {
		sa, err := a()
		if err != nil {
			return nil, err
		}
		sb, err := b()
		if err != nil {
			return nil, err
		}
		m := &mergeSource{a: sa, b: sb}
		m.e.Reset()
		return m, nil
	}
}

func (m *mergeSource) Header() *traces.Header { return m.a.Header() }

func (m *mergeSource) Next(e *traces.Epoch) error {
	if err := m.a.Next(e); err != nil {
		return err
	}
	if err := m.b.Next(&m.e); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	e.Written.Or(m.e.Written)
	e.Read.Or(m.e.Read)
	e.Read.AndNot(e.Written)
	return nil
}

// runPrecopySets runs pre-copy as Run does and returns the result, the
// set of pages it sent in full or as a zero header, and the composition
// with, in written, every page the syncs saw written.
func runPrecopySets(t *testing.T, p PrecopyParams, in Input) (*Result, *roaring.Bitmap, *composition, *roaring.Bitmap) {
	t.Helper()
	eng := sim.New(in.Seed)
	g, err := newGuest(eng, in.Trace, in.AtEnd)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	r := newPrecopyRun(p, in, &runEnv{eng: eng, halt: eng.Stop}, g)
	r.comp = newComposition(p.memory(), g.hdr)
	r.comp.attach(g)
	var syncs []*roaring.Bitmap
	written := roaring.New()
	g.onSync = func(d *dirtyLog) {
		written.Or(d.bitmap())
		r.comp.observe(d) // takes the skipped pages out of d
		syncs = append(syncs, d.bitmap())
	}
	r.start()
	if err := eng.Run(context.Background(), sim.Never); err != nil && !errors.Is(err, sim.ErrStopped) {
		t.Fatal(err)
	}
	if !r.res.Completed {
		t.Fatalf("migration did not complete: %v", r.res.StopReason)
	}
	// Round 1 sends every page but the skipped ones; each later pass
	// sends the pages of a sync after the setup one.
	sent := allPages(g.hdr.PageCount)
	sent.AndNot(r.comp.skip0)
	for _, s := range syncs[1:] {
		sent.Or(s)
	}
	if !sent.Equals(r.comp.sent) {
		t.Fatalf("the composition counts %d pages sent, the passes sent %d", r.comp.sent.GetCardinality(), sent.GetCardinality())
	}
	return r.res, sent, r.comp, written
}

// A guest that writes into free memory during the migration allocates it:
// those pages are sent when dirty, so transferred bytes rise by them, and
// nothing is lost — every page the guest reads afterwards is on the
// destination or on the SAN, and every page it wrote was sent.
func TestWritesIntoFreePagesAreSent(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	base := genTrace(compSpec(0.5, 0.125), mem, 1)
	h := header(t, base)
	lo := h.Free.Minimum()
	// The guest allocates free memory at 4000 pages/s for two seconds,
	// longer than the migration.
	alloc := newScanTrace(compPages, false, scanRegion{uint64(lo), uint64(lo) + compPages/8, 4000})
	alloc = withEpochs(alloc, 205)
	trace := merge(base, alloc)
	in := compInput(trace, units.Gbit)
	in.AtEnd = AtEndIdle
	for _, mode := range []string{"hint", "balloon"} {
		t.Run(mode, func(t *testing.T) {
			p := passPrecopyParams()
			p.Pagecache.Mode = PagecacheSkip
			if mode == "hint" {
				p.FreePageHint = true
			} else {
				p.Balloon.Enabled = true
			}
			quiet, _, _, _ := runPrecopySets(t, p, compInput(base, units.Gbit))
			res, sent, comp, written := runPrecopySets(t, p, in)

			allocated := roaring.And(written, h.Free)
			if allocated.GetCardinality() < 1000 {
				t.Fatalf("only %d free pages written during the migration", allocated.GetCardinality())
			}
			if n := allocated.GetCardinality() - allocated.AndCardinality(sent); n != 0 {
				t.Errorf("%d free pages written during the migration were never sent", n)
			}
			// The allocated pages cost about their size on the wire (the
			// extra writes also shift the later rounds a little).
			extra := float64(res.TransferredBytes) - float64(quiet.TransferredBytes)
			if want := float64(allocated.GetCardinality()) * 4104; rel(extra, want) > 0.1 {
				t.Errorf("transferred bytes rose by %v, want about %v for %d allocated pages", extra, want, allocated.GetCardinality())
			}
			skippedFree := res.SkippedFreePages + res.BalloonReclaimedPages
			skippedSets := roaring.New()
			for _, b := range []*roaring.Bitmap{comp.hinted, comp.everBalloon} {
				if b != nil {
					skippedSets.Or(b)
				}
			}
			if want := skippedSets.GetCardinality() - skippedSets.AndCardinality(sent); skippedFree != want {
				t.Errorf("skipped free pages %d, want %d", skippedFree, want)
			}
			// Every page the guest reads from now on: sent, zero, on
			// the SAN, or free and never written (a fresh page).
			onDest := sent.Clone()
			if h.Zero != nil {
				onDest.Or(h.Zero)
			}
			onDest.Or(comp.pagecache)
			readLater := roaring.New()
			src, _ := in.Trace()
			var e traces.Epoch
			e.Reset()
			for src.Next(&e) == nil {
				readLater.Or(e.Read)
			}
			lost := roaring.AndNot(readLater, onDest)
			if !lost.IsEmpty() {
				t.Errorf("%d pages the guest reads are neither on the destination nor on the SAN (first %d)", lost.GetCardinality(), lost.Minimum())
			}
			if res.SkippedPagecachePages != h.ClassPages(traces.ClassPageCache) {
				t.Errorf("skipped_pagecache_pages %d, want %d", res.SkippedPagecachePages, h.ClassPages(traces.ClassPageCache))
			}
		})
	}
}

// withEpochs cuts a scan trace to n epochs.
func withEpochs(open traces.Opener, n uint64) traces.Opener {
	return func() (traces.Source, error) {
		src, err := open()
		if err != nil {
			return nil, err
		}
		src.(*scanTrace).epochs = n
		return src, nil
	}
}

// Page-cache skip moves the page cache from the network to the SAN; a SAN
// slower than the network sets the total time.
func TestPagecacheSkip(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	trace := genTrace(compSpec(0, 0.25), mem, 1)
	in := compInput(trace, units.Gbit)
	pc := uint64(compPages / 4)
	pre, post := passPrecopyParams(), DefaultPostcopyParams()
	basePre, basePost := run(t, pre, in), runPostcopyModel(t, post, in)
	for _, san := range []units.BitRate{10 * units.Gbit, 100 * units.Mbit} {
		pre.Pagecache = PagecacheParams{Mode: PagecacheSkip, SANBandwidth: san}
		post.Pagecache = pre.Pagecache
		rp, rq := run(t, pre, in), runPostcopyModel(t, post, in)
		for _, c := range []struct {
			name       string
			base, skip *Result
		}{{"precopy", basePre, rp}, {"postcopy", basePost, rq}} {
			if c.skip.SkippedPagecachePages != pc || c.skip.SANBytes != pc*4096 {
				t.Errorf("%s san %v: skipped %d pages, san_bytes %d; want %d pages, %d bytes", c.name, san, c.skip.SkippedPagecachePages, c.skip.SANBytes, pc, pc*4096)
			}
			// Pre-copy also saves on later rounds: a shorter round 1
			// leaves fewer pages dirty.
			saved := float64(c.base.TransferredBytes) - float64(c.skip.TransferredBytes)
			if want := float64(pc) * 4104; saved < want-1 || rel(saved, want) > 0.1 {
				t.Errorf("%s san %v: network bytes fell by %v, want about %v", c.name, san, saved, want)
			}
			if got, want := c.base.RoundsDetail[0].Pages-c.skip.RoundsDetail[0].Pages, pc; c.name == "precopy" && got != want {
				t.Errorf("precopy san %v: round 1 sent %d pages fewer, want %d", san, got, want)
			}
			sanDone := 0.010 + float64(pc*4096)*8/float64(san)
			switch {
			case san < units.Gbit && math.Abs(c.skip.TotalTimeS-sanDone) > 1e-6:
				t.Errorf("%s san %v: total %v s, want the SAN's %v s", c.name, san, c.skip.TotalTimeS, sanDone)
			case san > units.Gbit && c.skip.TotalTimeS >= c.base.TotalTimeS:
				t.Errorf("%s san %v: total %v s, not below sending everything (%v s)", c.name, san, c.skip.TotalTimeS, c.base.TotalTimeS)
			}
		}
	}
}

// Page-cache drop: nothing goes over the network or the SAN up front, and
// the guest pays one SAN read per distinct dropped page it touches.
func TestPagecacheDropPenalty(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	base := genTrace(compSpec(0, 0.25), mem, 1)
	lo := uint64(header(t, base).PageCache.Minimum())
	// Reads 1000 pages/s over 2048 page-cache pages: all of them within
	// the 60 s horizon.
	trace := merge(base, newScanTrace(compPages, true, scanRegion{lo, lo + 2048, 1000}))
	in := compInput(trace, units.Gbit)
	p := passPrecopyParams()
	p.Pagecache.Mode = PagecacheDrop
	res := run(t, p, in)
	per := 100e-6 + 4096*8/4e9
	if math.Abs(res.IOPenaltyS-2048*per) > 1e-9 || res.SANBytes != 2048*4096 {
		t.Errorf("io_penalty_s %v, san_bytes %d; want %v, %d", res.IOPenaltyS, res.SANBytes, 2048*per, 2048*4096)
	}
	if res.SkippedPagecachePages != compPages/4 {
		t.Errorf("skipped_pagecache_pages %d, want %d", res.SkippedPagecachePages, compPages/4)
	}
}

func TestCompositionParamsValidate(t *testing.T) {
	p := passPrecopyParams()
	p.Balloon = BalloonParams{Enabled: true, Efficiency: 1.5}
	p.Pagecache.Mode = "keep"
	err := p.Validate()
	for _, want := range []string{"model.balloon.interval", "model.balloon.reclaim_rate", "model.balloon.efficiency", `model.pagecache.mode: "keep"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	q := DefaultPostcopyParams()
	q.Pagecache = PagecacheParams{Mode: PagecacheSkip}
	if err := q.Validate(); err == nil || !strings.Contains(err.Error(), "model.pagecache.san_bandwidth") {
		t.Errorf("error %v does not name model.pagecache.san_bandwidth", err)
	}
}

// Post-copy with page-cache skip: a page the guest touches before the SAN
// has restored it stalls the guest for a demand read, at most
// san_read_latency + page / san_bandwidth; a SAN that restores everything
// before the guest resumes costs nothing.
func TestPostcopySANStalls(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	base := genTrace(compSpec(0, 0.25), mem, 1)
	lo := uint64(header(t, base).PageCache.Minimum())
	trace := merge(base, newScanTrace(compPages, true, scanRegion{lo, lo + 2048, 1000}))
	in := compInput(trace, units.Gbit)
	p := DefaultPostcopyParams()
	p.Pagecache = PagecacheParams{Mode: PagecacheSkip, SANBandwidth: 100 * units.Gbit, SANReadLatency: 100 * time.Microsecond}
	fast := runPostcopyModel(t, p, in)
	p.Pagecache.SANBandwidth = 10 * units.Mbit
	slow := runPostcopyModel(t, p, in)
	read := 100e-6 + 4096*8/10e6
	extra := slow.StallTimeS - fast.StallTimeS
	// The guest reads about 1000 page-cache pages per second of guest
	// time until the last network page lands.
	if most := 2048 * read; extra <= 0.1 || extra > most {
		t.Errorf("a 10 Mbit SAN added %v s of stalls, want some, at most %v", extra, most)
	}
	if fast.TransferredBytes != slow.TransferredBytes || slow.SANBytes != compPages/4*4096 {
		t.Errorf("network bytes %d vs %d, san_bytes %d: the SAN's speed must not change what crosses", fast.TransferredBytes, slow.TransferredBytes, slow.SANBytes)
	}
}

// The same input gives the same result, field for field, with every
// composition option on.
func TestCompositionDeterministic(t *testing.T) {
	mem := units.Bytes(compPages * 4096)
	in := compInput(genTrace(compSpec(0.3, 0.2), mem, 3), units.Gbit)
	pre, post := passPrecopyParams(), DefaultPostcopyParams()
	pre.FreePageHint, pre.Balloon.Enabled, pre.Pagecache.Mode = true, true, PagecacheDrop
	post.FreePageHint, post.Balloon.Enabled, post.Pagecache.Mode = true, true, PagecacheSkip
	for name, runOnce := range map[string]func() *Result{
		"precopy":  func() *Result { return run(t, pre, in) },
		"postcopy": func() *Result { return runPostcopyModel(t, post, in) },
	} {
		a, b := runOnce(), runOnce()
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: two runs differ:\n%s\n%s", name, ja, jb)
		}
		if !strings.Contains(string(ja), `"skipped_free_pages"`) || !strings.Contains(string(ja), `"balloon_reclaimed_pages"`) {
			t.Errorf("%s: composition fields missing from %s", name, ja)
		}
	}
}
