package models

import (
	"math"
	"math/bits"

	"github.com/migsim/migsim/units"
)

// Xbzrle is pre-copy's model.xbzrle section: QEMU's XBZRLE delta
// compression of re-sent pages (reference: QEMU migration/ram.c
// save_xbzrle_page and find_dirty_block, migration/page_cache.c,
// migration/xbzrle.c; docs/devel/migration/xbzrle.rst). It is off unless
// Enabled.
//
// # Semantics
//
//   - The source keeps a cache of cache_size / page size slots (a power of
//     two), direct-mapped by page number: page p goes to slot p mod slots.
//     Each slot holds one page's last sent contents and an age, the
//     dirty-sync count when it was inserted or last hit.
//   - As in QEMU, XBZRLE starts only once the first round has walked all
//     of memory: round 1 sends every page in full and fills no cache. In
//     every later pass, the stop-and-copy pass included, each dirty page
//     is looked up in ascending page order:
//   - a hit (its slot holds it) is encoded against the cached copy. The
//     encoding's size follows changed_fraction and run_bytes (below); it
//     goes out as the page header plus 3 bytes (encoding flag and length)
//     plus the encoding, and the cache takes the new contents. If the
//     encoding would exceed the page size (overflow) the full page goes
//     out instead; an encoding of 0 bytes (nothing changed) sends nothing.
//   - a miss sends the full page and, except in the stop-and-copy pass,
//     inserts it, unless the slot holds another page that is still fresh
//     (inserted or hit within the last 2 syncs, QEMU's
//     CACHED_PAGE_LIFETIME), in which case the cache is left alone.
//   - The stop condition is QEMU's: remaining dirty pages × full page
//     size against measured bandwidth × downtime limit, so XBZRLE helps
//     convergence by shortening rounds (fewer pages dirtied meanwhile) and
//     the stop-and-copy pass, not by changing the threshold.
//   - XBZRLE and multifd do not combine (QEMU refuses the pair).
//
// # Encoded size
//
// A page that hits the cache has changed_fraction × page size bytes that
// differ from its cached copy, in runs of run_bytes, k = round(changed ×
// page / run_bytes) runs (at least 1) spread evenly. XBZRLE writes each
// unchanged run's length and each changed run's length as ULEB128 (1 byte
// below 128, 2 below 16384) followed by the changed bytes, and drops the
// trailing unchanged run: encoded = k × (uleb(z) + uleb(run_bytes) +
// run_bytes), z = (page − k × run_bytes) / k.
//
// The default, 5 % changed in 16-byte runs, stands for writes that touch
// a few words of a page between syncs, which Svärd et al. (VEE'11,
// "Evaluation of delta compression techniques for efficient live
// migration of large virtual machines") found common; it encodes a 4 KiB
// page in 247 bytes. Set it from the workload: a page rewritten wholesale
// has changed_fraction near 1 and overflows.
type Xbzrle struct {
	// Enabled turns XBZRLE on (QEMU's xbzrle capability; default false).
	Enabled bool `mapstructure:"enabled"`
	// CacheSize is the source's page cache, bytes: a power of two number
	// of pages (QEMU xbzrle-cache-size, default 64MiB).
	CacheSize units.Bytes `mapstructure:"cache_size"`
	// ChangedFraction is the share of a re-sent page's bytes that differ
	// from its cached copy, in [0, 1] (default 0.05).
	ChangedFraction float64 `mapstructure:"changed_fraction"`
	// RunBytes is the mean length of a run of changed bytes, bytes of at
	// least 1 (default 16: a couple of words).
	RunBytes units.Bytes `mapstructure:"run_bytes"`
}

// DefaultXbzrle returns XBZRLE off with QEMU's 64 MiB cache and the
// default change pattern.
func DefaultXbzrle() Xbzrle {
	return Xbzrle{CacheSize: DefaultXbzrleCacheSize, ChangedFraction: DefaultXbzrleChangedFraction, RunBytes: DefaultXbzrleRunBytes}
}

// Defaults of the xbzrle section.
const (
	// DefaultXbzrleCacheSize is QEMU's xbzrle-cache-size.
	DefaultXbzrleCacheSize = 64 * units.MiB
	// DefaultXbzrleChangedFraction is the share of a re-sent page's bytes
	// that changed.
	DefaultXbzrleChangedFraction = 0.05
	// DefaultXbzrleRunBytes is the length of a run of changed bytes.
	DefaultXbzrleRunBytes units.Bytes = 16
)

// xbzrleCachedPageLifetime is QEMU's CACHED_PAGE_LIFETIME: a slot
// inserted or hit at sync count a is not replaced by another page before
// sync count a + 2.
const xbzrleCachedPageLifetime = 2

// xbzrleFlagBytes is what an XBZRLE page adds to its page header: the
// encoding flag (1 byte) and the encoded length (2 bytes).
const xbzrleFlagBytes = 3

// Validate checks the section, one [FieldError] per bad key; off, it
// has none. That it does not combine with multifd is checked with the
// model's parts.
func (x *Xbzrle) Validate() error {
	if !x.Enabled {
		return nil
	}
	var c checks
	pages := uint64(x.CacheSize) / 4096
	c.check(x.CacheSize >= 4096 && x.CacheSize%4096 == 0 && bits.OnesCount64(pages) == 1, "model.xbzrle.cache_size", "%v must be a power of two number of 4 KiB pages (QEMU refuses others)", x.CacheSize)
	c.check(x.ChangedFraction >= 0 && x.ChangedFraction <= 1, "model.xbzrle.changed_fraction", "%v must be in [0, 1]", x.ChangedFraction)
	c.check(x.RunBytes >= 1, "model.xbzrle.run_bytes", "%v must be at least 1", x.RunBytes)
	return c.err()
}

// ulebLen is the length of n in ULEB128, bytes.
func ulebLen(n uint64) uint64 {
	l := uint64(1)
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// xbzrleEncoded returns the encoded size of a page of pageSize bytes with
// the given changed fraction and run length, and whether it overflows
// (exceeds the page). See [Xbzrle].
func xbzrleEncoded(pageSize uint64, changed float64, run uint64) (uint64, bool) {
	if changed <= 0 {
		return 0, false
	}
	run = min(run, pageSize)
	k := uint64(math.Max(1, math.Round(changed*float64(pageSize)/float64(run))))
	k = min(k, pageSize/run)
	z := (pageSize - k*run) / k
	enc := k * (ulebLen(z) + ulebLen(run) + run)
	return enc, enc > pageSize
}

// xbzrleCache is the source's XBZRLE state during one pre-copy run.
type xbzrleCache struct {
	mask       uint64
	pageSize   uint64
	addr       []uint32 // page + 1 held by each slot; 0: empty
	age        []uint64 // sync count of the slot's insert or last hit
	encoded    uint64   // encoding bytes of a hit page
	overflow   bool     // a hit page overflows
	wireHit    float64  // wire bytes of a hit page
	pageHeader float64  // the page header within wireHit, bytes
	wireFull   float64  // wire bytes of a full page

	// The pass planned last, and how much of it was sent (timeUp may cut
	// it short).
	pass  xbzrleCounts
	scale float64
	// Every pass planned so far, the last one included.
	total xbzrleCounts
	// passes counts the live passes planned so far.
	passes int
}

// xbzrleTally counts one or more passes' lookups: whole pages on the page
// engine (xbzrleCounts), expectations on the fluid one
// (fluidXbzrleCounts).
type xbzrleTally[T uint64 | float64] struct {
	pages     T // dirty pages looked up
	hits      T // sent as XBZRLE pages
	skipped   T // hits that encoded to nothing: not sent
	misses    T
	overflows T
}

func (c *xbzrleTally[T]) add(o xbzrleTally[T]) {
	c.pages += o.pages
	c.hits += o.hits
	c.skipped += o.skipped
	c.misses += o.misses
	c.overflows += o.overflows
}

// xbzrleCounts counts the page engine's lookups.
type xbzrleCounts = xbzrleTally[uint64]

// useXbzrle turns XBZRLE on for the run when x.Enabled. x has been
// validated.
func (r *precopyRun) useXbzrle(x Xbzrle) {
	if !x.Enabled {
		return
	}
	ps := r.g.hdr.PageSize
	slots := max(uint64(x.CacheSize)/uint64(ps), 1)
	slots = 1 << (63 - bits.LeadingZeros64(slots)) // a power of two
	enc, over := xbzrleEncoded(uint64(ps), x.ChangedFraction, uint64(x.RunBytes))
	r.xb = &xbzrleCache{
		mask: slots - 1, pageSize: uint64(ps), addr: make([]uint32, slots), age: make([]uint64, slots),
		encoded: enc, overflow: over,
		wireHit:    float64(r.p.PageHeader) + xbzrleFlagBytes + float64(enc),
		pageHeader: float64(r.p.PageHeader),
		wireFull:   r.wireNormal,
		scale:      1,
	}
}

// plan looks up every page of the coming pass's dirty set in the cache,
// in ascending order, at sync count gen, and updates the cache as QEMU's
// save_xbzrle_page does (last: the stop-and-copy pass, which inserts
// nothing). Round 1 is never planned: XBZRLE starts with round 2. cpu,
// when not nil, gets the pass's encoding and decoding CPU time. Cost:
// O(dirty pages + words).
func (x *xbzrleCache) plan(set *dirtyLog, gen uint64, last bool, cpu *cpuPipeline, costs Costs) {
	if x == nil {
		return
	}
	x.pass, x.scale = xbzrleCounts{}, 1
	c := &x.pass
	for w := set.lo; w < set.hi; w++ {
		for word := set.words[w]; word != 0; word &= word - 1 {
			p := uint64(w)<<6 | uint64(bits.TrailingZeros64(word))
			s := p & x.mask
			c.pages++
			if x.addr[s] == uint32(p+1) {
				x.age[s] = gen // a hit refreshes the slot
				switch {
				case x.overflow:
					c.overflows++
				case x.encoded == 0:
					c.skipped++
				default:
					c.hits++
				}
				continue
			}
			c.misses++
			if !last && (x.addr[s] == 0 || x.age[s]+xbzrleCachedPageLifetime <= gen) {
				x.addr[s], x.age[s] = uint32(p+1), gen
			}
		}
	}
	x.total.add(x.pass)
	if !last {
		x.passes++
	}
	if cpu != nil {
		// A hit is encoded (overflows too: the encoder runs before it
		// gives up); a miss is copied into the cache; the destination
		// decodes what was sent encoded.
		copyS := costs.Copy.Seconds()
		if costs.Copy == 0 {
			copyS = DefaultCosts().Copy.Seconds()
		}
		cpu.passSrc = float64(c.hits+c.skipped+c.overflows)*costs.XbzrleEncode.Seconds() + float64(c.misses)*copyS
		cpu.passDst = float64(c.hits) * costs.XbzrleDecode.Seconds()
		if last {
			cpu.passSrc -= float64(c.misses) * copyS
		}
		cpu.extraSrc += cpu.passSrc
		cpu.extraDst += cpu.passDst
	}
}

// saved returns the bytes the planned pass saves over sending all of its
// pages in full, for the share of it sent: normal of its full-page count.
func (x *xbzrleCache) saved(normal uint64) float64 {
	if x == nil || x.pass.pages == 0 {
		return 0
	}
	x.scale = math.Min(1, float64(normal)/float64(x.pass.pages))
	return x.scale * (float64(x.pass.hits)*(x.wireFull-x.wireHit) + float64(x.pass.skipped)*x.wireFull)
}

// fill writes the XBZRLE counters into res, QEMU's query-migrate
// xbzrle-cache section. Pages sent as XBZRLE or skipped leave the count
// of full pages (QEMU counts them apart from ram.normal).
func (x *xbzrleCache) fill(res *Result) {
	if x == nil {
		return
	}
	t := x.total
	if x.scale < 1 { // the last pass was cut short
		cut := func(v uint64) uint64 { return uint64(math.Floor(x.scale * float64(v))) }
		p := x.pass
		t.pages -= p.pages - cut(p.pages)
		t.hits -= p.hits - cut(p.hits)
		t.skipped -= p.skipped - cut(p.skipped)
		t.misses -= p.misses - cut(p.misses)
		t.overflows -= p.overflows - cut(p.overflows)
	}
	res.XbzrleCacheSizeBytes = uint64(len(x.addr)) * x.pageSize
	res.XbzrlePages = t.hits
	// As QEMU's xbzrle-cache.bytes (since 5.0): the encoding and its
	// 3-byte header, not the 8-byte page header every page carries.
	res.XbzrleBytes = uint64(math.Round(float64(t.hits) * (x.wireHit - x.pageHeader)))
	res.XbzrleCacheMisses = t.misses
	res.XbzrleOverflow = t.overflows
	if t.pages > 0 {
		res.XbzrleCacheMissRate = float64(t.misses) / float64(t.pages)
	}
	if res.XbzrleBytes > 0 {
		res.XbzrleEncodingRate = float64(t.hits) * float64(x.pageSize) / float64(res.XbzrleBytes)
	}
	if n := t.hits + t.skipped; res.Pages.Normal >= n {
		res.Pages.Normal -= n
	}
}
