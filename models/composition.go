package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// Memory composition options of [Precopy], [Postcopy], [Hybrid] and
// [Parallel]: free-page hinting, dynamic self-ballooning and page-cache
// skip over shared storage. They use the trace header's class sets (zero,
// free, page cache) as the composition when the migration starts, and
// follow its changes over time (composition_time.go).
//
// # Semantics
//
// At the skip point — the setup sync for pre-copy (round 1's work is
// decided there), the stop for post-copy — the source leaves out of the
// migration, among the pages not in the zero class and not allocated
// (written, or moved to anon by the trace) since the trace's start:
//
//   - balloon pages (model.balloon.enabled): the pages the balloon holds.
//     It inflates when the migration is requested and every interval
//     after, each time by at most reclaim_rate × interval pages, up to
//     floor(efficiency × max(0, free pages − min_free/page size)), the
//     lowest free pages first (composition_time.go). With the default
//     efficiency of 0.95 and min_free 0 the balloon holds 95 % of the free
//     pages, what Hines and Gopalan (VEE'09, DSB) report for balloon
//     intervals of 4-10 s;
//   - the other free-class pages when model.free_page_hint is on (QEMU's
//     virtio-balloon free-page-hint without delay: its upper bound);
//   - page-cache-class pages when model.pagecache.mode is skip or drop.
//
// A skipped page the guest later writes is dirty like any other: pre-copy
// sends it in the next round (a free page written is allocated, and
// deflates the balloon if the balloon held it). After the skip point,
// pre-copy's later passes leave out the dirty pages the balloon holds, or
// that are free when hinting is on: pages freed during the migration are
// not resent. On the post-copy destination a skipped free page is backed
// by a fresh page, so touching it moves nothing. The counts reported are
// the pages skipped at some time and never sent: skipped_free_pages
// (hinting), balloon_reclaimed_pages (balloon) and
// skipped_pagecache_pages.
//
// Page cache, mode skip (Akiyama et al., CLOUD'14): the destination
// restores the skipped pages from the SAN, in parallel with the migration,
// from the skip point at san_bandwidth; san_bytes is their size, and the
// migration completes when both the migration and the restore are done
// (total_time_s rises when the SAN is the slower). The restore goes in
// ascending page order; a post-copy guest that touches a page it has not
// reached yet stalls for a demand read, san_read_latency + page /
// san_bandwidth, or until the restore gets there if sooner. Mode drop: the page
// cache is discarded at the skip point and never restored; each distinct
// dropped page the guest touches (reads or writes) within penalty_horizon
// of guest time from the migration's start is a miss costing
// san_read_latency + page size / san_bandwidth, summed in io_penalty_s,
// and read from the SAN (san_bytes).
//
// # Known differences
//
// Pre-copy's round 1 is decided at the setup sync: later inflations and
// frees save on the later passes only (composition_time.go). Pre-copy's
// guest resumes on the destination without waiting for the SAN, and its
// accesses there are not simulated; post-copy's SAN stalls are simulated
// until the last network page lands. Demand reads do not slow the
// restore. Page cache the trace adds during the migration
// (to_pagecache) is sent when dirty and not skipped.

// BalloonParams is the scenario key model.balloon: dynamic
// self-ballooning (Hines and Gopalan, VEE'09).
type BalloonParams struct {
	// Enabled turns DSB on (default false).
	Enabled bool `mapstructure:"enabled"`
	// Interval is the time between balloon inflations, a duration
	// (default 5s, within Hines's 4-10 s).
	Interval time.Duration `mapstructure:"interval"`
	// ReclaimRate is how fast the balloon inflates, pages/s; one
	// inflation reclaims at most reclaim_rate × interval pages (default
	// 262144, 1 GiB/s of 4 KiB pages).
	ReclaimRate float64 `mapstructure:"reclaim_rate"`
	// MinFree is the free memory the balloon leaves to the guest, bytes
	// (default 0).
	MinFree units.Bytes `mapstructure:"min_free"`
	// Efficiency is the share of the free pages above min_free an
	// inflation reclaims, in (0, 1] (default 0.95, Hines's ~95 %).
	Efficiency float64 `mapstructure:"efficiency"`
}

// DefaultBalloonParams returns DSB off with Hines's settings.
func DefaultBalloonParams() BalloonParams {
	return BalloonParams{Interval: DefaultBalloonInterval, ReclaimRate: DefaultBalloonReclaimRate, Efficiency: DefaultBalloonEfficiency}
}

// Defaults of the balloon section (Hines and Gopalan, VEE'09).
const (
	// DefaultBalloonInterval is the time between inflations, within
	// Hines's 4-10 s.
	DefaultBalloonInterval = 5 * time.Second
	// DefaultBalloonReclaimRate is 1 GiB/s of 4 KiB pages, pages/s.
	DefaultBalloonReclaimRate = 262144
	// DefaultBalloonEfficiency is Hines's ~95 % of the free pages.
	DefaultBalloonEfficiency = 0.95
)

// PagecacheMode is the scenario key model.pagecache.mode.
type PagecacheMode string

// Page-cache modes.
const (
	// PagecacheSend sends page-cache pages like any other (the default).
	PagecacheSend PagecacheMode = "send"
	// PagecacheSkip restores them on the destination from the SAN.
	PagecacheSkip PagecacheMode = "skip"
	// PagecacheDrop discards them; the guest reads them back on misses.
	PagecacheDrop PagecacheMode = "drop"
)

// PagecacheParams is the scenario key model.pagecache (Akiyama et al.,
// CLOUD'14).
type PagecacheParams struct {
	// Mode is send, skip or drop (default send).
	Mode PagecacheMode `mapstructure:"mode"`
	// SANBandwidth is the shared storage's rate to the destination, bits
	// per second (default 4Gbit).
	SANBandwidth units.BitRate `mapstructure:"san_bandwidth"`
	// SANReadLatency is the latency of one demand read of a page from the
	// SAN (a miss in mode drop, a post-copy touch ahead of the restore in
	// mode skip), a duration (default 100µs).
	SANReadLatency time.Duration `mapstructure:"san_read_latency"`
	// PenaltyHorizon is the guest time, from the migration's start, over
	// which mode drop counts misses, a duration (default 60s).
	PenaltyHorizon time.Duration `mapstructure:"penalty_horizon"`
}

// DefaultPagecacheParams returns mode send and a 4 Gbit SAN.
func DefaultPagecacheParams() PagecacheParams {
	return PagecacheParams{Mode: PagecacheSend, SANBandwidth: DefaultSANBandwidth,
		SANReadLatency: DefaultSANReadLatency, PenaltyHorizon: DefaultPenaltyHorizon}
}

// Defaults of the pagecache section (Akiyama et al., CLOUD'14).
const (
	// DefaultSANBandwidth is the shared storage's rate to the
	// destination.
	DefaultSANBandwidth = 4 * units.Gbit
	// DefaultSANReadLatency is one demand read of a page from the SAN.
	DefaultSANReadLatency = 100 * time.Microsecond
	// DefaultPenaltyHorizon is the guest time over which mode drop counts
	// misses.
	DefaultPenaltyHorizon = time.Minute
)

// memoryOptions are the composition options of one run.
type memoryOptions struct {
	hint      bool
	balloon   BalloonParams
	pagecache PagecacheParams
}

func (o memoryOptions) pagecacheOn() bool {
	return o.pagecache.Mode == PagecacheSkip || o.pagecache.Mode == PagecacheDrop
}

func (o memoryOptions) active() bool { return o.hint || o.balloon.Enabled || o.pagecacheOn() }

// validate names the key of every bad option.
func (o memoryOptions) validate() []error {
	var errs checks
	check := func(ok bool, key, format string, args ...any) { errs.check(ok, "model."+key, format, args...) }
	b := o.balloon
	if b.Enabled {
		check(b.Interval > 0, "balloon.interval", "%v must be positive", b.Interval)
		check(b.ReclaimRate > 0 && !math.IsInf(b.ReclaimRate, 0), "balloon.reclaim_rate", "%v must be a positive number of pages/s", b.ReclaimRate)
		check(b.MinFree >= 0, "balloon.min_free", "must not be negative")
		check(b.Efficiency > 0 && b.Efficiency <= 1, "balloon.efficiency", "%v must be in (0, 1]", b.Efficiency)
	}
	pc := o.pagecache
	switch pc.Mode {
	case PagecacheSend, PagecacheSkip, PagecacheDrop, "":
	default:
		check(false, "pagecache.mode", "%q is not one of send, skip, drop", string(pc.Mode))
	}
	if o.pagecacheOn() {
		check(pc.SANBandwidth > 0, "pagecache.san_bandwidth", "%v must be positive", float64(pc.SANBandwidth))
		check(pc.SANReadLatency >= 0, "pagecache.san_read_latency", "must not be negative")
		check(pc.PenaltyHorizon >= 0, "pagecache.penalty_horizon", "must not be negative")
	}
	return errs
}

// composition applies the options to one run. A nil *composition (all
// options off) does nothing, so runs without them are unchanged.
type composition struct {
	opts     memoryOptions
	hdr      *traces.Header
	pageSize float64
	eng      *sim.Engine
	g        *guest

	// The composition now, as far as the guest has run
	// (composition_time.go): the zero, free and page-cache classes.
	zero, free, cache *roaring.Bitmap
	// freedSinceSync holds the pages trace changes freed since the last
	// dirty-log sync.
	freedSinceSync *roaring.Bitmap
	// live is true while the balloon inflates.
	live bool

	// The skip point (pastSkip turns true at skipAt) and the skip sets:
	// hinted holds every page the free-page hint left out, balloon the
	// pages the balloon holds now (nil when off), everBalloon every page
	// it held from the skip point on, pagecache the page-cache pages left
	// out, sent every page sent since the skip point or never skipped.
	skipAt          sim.Time
	pastSkip        bool
	hinted, balloon *roaring.Bitmap
	everBalloon     *roaring.Bitmap
	pagecache       *roaring.Bitmap
	sent            *roaring.Bitmap
	skip0           *roaring.Bitmap // the skip sets' union at the skip point
	misses          uint64          // mode drop: dropped pages the guest touches
}

// newComposition returns the run's composition, nil when every option is
// off.
func newComposition(o memoryOptions, hdr *traces.Header) *composition {
	if !o.active() {
		return nil
	}
	c := &composition{opts: o, hdr: hdr, pageSize: float64(hdr.PageSize),
		zero: roaring.New(), free: roaring.New(), cache: roaring.New(), freedSinceSync: roaring.New()}
	for _, p := range [...]struct{ dst, src *roaring.Bitmap }{{c.zero, hdr.Zero}, {c.free, hdr.Free}, {c.cache, hdr.PageCache}} {
		if p.src != nil {
			p.dst.Or(p.src)
		}
	}
	if o.balloon.Enabled {
		c.balloon = roaring.New()
	}
	return c
}

// skip fixes the skip sets at time at and returns how many pages leave the
// migration. Call it once, after the pages written so far are observed.
// For mode drop it reads in's trace ahead to count the misses.
func (c *composition) skip(at sim.Time, in Input) (uint64, error) {
	if c == nil {
		return 0, nil
	}
	c.skipAt, c.pastSkip = at, true
	// The syncs so far have taken the written pages out of the classes
	// and the balloon, and the balloon has inflated (composition_time.go).
	zero := roaring.New()
	if c.hdr.Zero != nil {
		zero = c.hdr.Zero
	}
	free := roaring.AndNot(c.free, zero)
	if c.balloon != nil {
		c.balloon.And(free)
		c.everBalloon = c.balloon.Clone()
	}
	if c.opts.hint {
		c.hinted = free
		if c.balloon != nil {
			c.hinted = roaring.AndNot(free, c.balloon)
		}
	}
	if c.opts.pagecacheOn() && !c.cache.IsEmpty() {
		c.pagecache = roaring.AndNot(c.cache, zero)
	}
	c.skip0 = c.skipped()
	c.sent = allPages(c.hdr.PageCount)
	c.sent.AndNot(c.skip0)
	if c.opts.pagecache.Mode == PagecacheDrop {
		var err error
		if c.misses, err = c.countMisses(in); err != nil {
			return 0, fmt.Errorf("pagecache drop: reading the trace ahead: %w", err)
		}
	}
	return card(c.hinted) + card(c.balloon) + card(c.pagecache), nil
}

// skipped returns the union of the skip sets.
func (c *composition) skipped() *roaring.Bitmap {
	s := roaring.New()
	for _, b := range []*roaring.Bitmap{c.hinted, c.balloon, c.pagecache} {
		if b != nil {
			s.Or(b)
		}
	}
	return s
}

func card(b *roaring.Bitmap) uint64 {
	if b == nil {
		return 0
	}
	return b.GetCardinality()
}

// sanDone returns when the SAN has restored the skipped page cache (mode
// skip), or the skip point.
func (c *composition) sanDone() sim.Time {
	if c == nil || c.opts.pagecache.Mode != PagecacheSkip {
		return 0
	}
	return sanRestoreEnd(c.opts.pagecache, float64(card(c.pagecache))*c.pageSize, c.skipAt)
}

// sanRestoreEnd returns when the SAN, restoring bytes of page cache at
// pc's san_bandwidth from from, is done (both engines).
func sanRestoreEnd(pc PagecacheParams, bytes float64, from sim.Time) sim.Time {
	return from.Add(time.Duration(math.Ceil(bytes * 8 / float64(pc.SANBandwidth) * 1e9)))
}

// finish fills the result's composition fields. For a completed migration
// with mode skip, total_time_s becomes the later of the migration's end
// and the SAN restore's.
func (c *composition) finish(res *Result) {
	if c == nil {
		return
	}
	c.live = false
	unsent := func(b *roaring.Bitmap) uint64 {
		if b == nil || c.sent == nil {
			return 0
		}
		return b.GetCardinality() - b.AndCardinality(c.sent)
	}
	hinted := c.hinted
	if hinted != nil && c.everBalloon != nil {
		hinted = roaring.AndNot(hinted, c.everBalloon) // counted as the balloon's
	}
	res.SkippedFreePages = unsent(hinted)
	res.BalloonReclaimedPages = unsent(c.everBalloon)
	res.SkippedPagecachePages = unsent(c.pagecache)
	switch c.opts.pagecache.Mode {
	case PagecacheSkip:
		res.SANBytes = uint64(math.Round(float64(card(c.pagecache)) * c.pageSize))
		if res.Completed {
			res.TotalTimeS = math.Max(res.TotalTimeS, c.sanDone().Seconds())
		}
	case PagecacheDrop:
		fillDropMisses(res, c.opts.pagecache, c.pageSize, c.misses)
	}
}

// fillDropMisses fills the fields of mode drop's misses, distinct
// page-cache pages of pageSize bytes the guest touched within the
// penalty horizon: each a demand read from the SAN (both engines).
func fillDropMisses(res *Result, pc PagecacheParams, pageSize float64, misses uint64) {
	per := pc.SANReadLatency.Seconds() + pageSize*8/float64(pc.SANBandwidth)
	res.IOPenaltyS = float64(misses) * per
	res.SANBytes = uint64(math.Round(float64(misses) * pageSize))
}

// sanPageNs returns, in ns, the SAN's restore of one page of pageSize
// bytes at pc's san_bandwidth and a demand read of one (san_read_latency
// more), as a post-copy guest meets them (both engines).
func sanPageNs(pc PagecacheParams, pageSize float64) (perPage, read float64) {
	perPage = pageSize * 8 / float64(pc.SANBandwidth) * 1e9
	return perPage, float64(pc.SANReadLatency) + perPage
}

// countMisses counts the distinct dropped pages the guest touches within
// the penalty horizon of guest time from the trace's start, its
// background pages included (reads like the others: before 2026-12-07
// they were left out).
func (c *composition) countMisses(in Input) (uint64, error) {
	if card(c.pagecache) == 0 || c.opts.pagecache.PenaltyHorizon <= 0 {
		return 0, nil
	}
	open := withBackground(in.Trace, in)
	src, err := open()
	if err != nil {
		return 0, err
	}
	defer func() { _ = traces.Close(src) }()
	epoch := src.Header().Epoch
	epochs := int((c.opts.pagecache.PenaltyHorizon + epoch - 1) / epoch)
	touched := roaring.New()
	var e traces.Epoch
	e.Reset()
	for range epochs {
		err := src.Next(&e)
		if errors.Is(err, io.EOF) {
			break // a looped trace touches the same pages again
		}
		if err != nil {
			return 0, err
		}
		touched.Or(roaring.And(e.Written, c.pagecache))
		touched.Or(roaring.And(e.Read, c.pagecache))
	}
	return touched.GetCardinality(), nil
}

// launchPostcopyComposed is launchPostcopy with the composition options:
// the skipped pages leave plan's missing set at the stop, and the result
// gets the composition fields.
func launchPostcopyComposed(env *runEnv, in Input, model string, cfg postcopyConfig, o memoryOptions, plan postcopyPlanner) (func(error) (*Result, error), error) {
	if !o.active() {
		return launchPostcopy(env, in, model, cfg, plan)
	}
	wait, err := launchPostcopyComposition(env, in, model, cfg, o, plan)
	if err != nil {
		return nil, err
	}
	return func(runErr error) (*Result, error) {
		res, _, err := wait(runErr)
		return res, err
	}, nil
}

// runPostcopyComposition runs launchPostcopyComposition alone, and
// returns the run's composition too.
func runPostcopyComposition(ctx context.Context, in Input, model string, cfg postcopyConfig, o memoryOptions, plan postcopyPlanner) (*Result, *composition, error) {
	eng := sim.New(in.Seed)
	wait, err := launchPostcopyComposition(&runEnv{eng: eng, halt: eng.Stop}, in, model, cfg, o, plan)
	if err != nil {
		return nil, nil, err
	}
	return wait(eng.Run(ctx, sim.Never))
}

// launchPostcopyComposition is launchPostcopyComposed with options on;
// its wait returns the run's composition too.
func launchPostcopyComposition(env *runEnv, in Input, model string, cfg postcopyConfig, o memoryOptions, plan postcopyPlanner) (func(error) (*Result, *composition, error), error) {
	var comp *composition
	cfg.attach = func(g *guest) {
		comp = newComposition(o, g.hdr)
		comp.attach(g)
	}
	wait, err := launchPostcopy(env, in, model, cfg, func(cfg postcopyConfig, g *guest, written *roaring.Bitmap) (*postcopyPlan, error) {
		p, err := plan(cfg, g, written)
		if err != nil {
			return nil, err
		}
		// The stop's sync has shown comp the pages written; the balloon
		// stops inflating as the guest leaves the source.
		comp.live = false
		if _, err := comp.skip(sim.Time(cfg.setup), in); err != nil {
			return nil, err
		}
		p.missing.AndNot(comp.skipped())
		p.san = comp.restore()
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return func(runErr error) (*Result, *composition, error) {
		res, err := wait(runErr)
		if err != nil {
			return nil, nil, err
		}
		total := res.TotalTimeS
		comp.finish(res)
		if res.TotalTimeS > total {
			// The slowdown is a share of the total time, which the SAN
			// restore has stretched.
			res.GuestSlowdown *= total / res.TotalTimeS
		}
		return res, comp, nil
	}, nil
}

// sanRestore is the destination's restore of skipped page cache from the
// SAN (mode skip) as post-copy's guest sees it: the restore reads the
// pages in ascending order at san_bandwidth from the skip point, and a
// page the guest touches before the restore reaches it is read on demand,
// san_read_latency + page / san_bandwidth after the touch, whichever comes
// first. The guest stalls meanwhile, as on a network fault.
type sanRestore struct {
	pages   *roaring.Bitmap // skipped page-cache pages, in restore order
	touched *roaring.Bitmap // pages the guest has already waited for
	start   float64         // ns: the restore's start
	perPage float64         // ns: one page's restore time
	read    float64         // ns: one demand read
	done    sim.Time        // the restore's end
}

// restore returns the post-copy guest's view of the SAN restore, nil
// unless mode is skip with pages to restore.
func (c *composition) restore() *sanRestore {
	if c == nil || c.opts.pagecache.Mode != PagecacheSkip || card(c.pagecache) == 0 {
		return nil
	}
	per, read := sanPageNs(c.opts.pagecache, c.pageSize)
	return &sanRestore{
		pages: c.pagecache, touched: roaring.New(),
		start: float64(c.skipAt), perPage: per, read: read,
		done: c.sanDone(),
	}
}

// ready returns when page p, touched at ta, is on the destination: ta for
// a page the SAN does not hold or has restored.
func (s *sanRestore) ready(p uint32, ta sim.Time) sim.Time {
	if s == nil || ta >= s.done || !s.pages.Contains(p) || s.touched.Contains(p) {
		return ta
	}
	s.touched.Add(p)
	restored := s.start + float64(s.pages.Rank(p))*s.perPage
	return max(ta, sim.Time(math.Ceil(math.Min(restored, float64(ta)+s.read))))
}
