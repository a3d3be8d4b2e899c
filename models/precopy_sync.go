package models

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
)

// SyncPolicy says when the pre-copy rounds sync the dirty log.
type SyncPolicy string

// Sync policies.
const (
	// SyncQEMU syncs as QEMU 7.2 does (migration/ram.c ram_save_pending,
	// called from migration_iteration_run between iteration steps): the
	// migration bitmap holds the pages still to send; between steps, when
	// the bytes it holds fall below threshold = measured bandwidth ×
	// downtime_limit, the dirty log is synced into it, and the migration
	// completes if the bitmap is still below the threshold, or goes on
	// sending. A round is one sync period: the pages sent between two
	// syncs, not a whole pass over the bitmap.
	SyncQEMU SyncPolicy = "qemu"
	// SyncPass syncs only when every page of the previous sync's set has
	// been sent: a round is a whole pass over that set (the model before
	// QEMU's policy was added; the closed form of [Precopy] holds exactly).
	SyncPass SyncPolicy = "pass"
)

// validate checks the policy's name.
func (s SyncPolicy) validate() error {
	switch s {
	case SyncQEMU, SyncPass:
		return nil
	}
	return &FieldError{Key: "model.sync_policy", Err: fmt.Errorf("%q is not qemu or pass", string(s))}
}

// qemuSync is the state of the qemu sync policy: QEMU's migration bitmap
// and its scan.
type qemuSync struct {
	bm       *dirtyLog // the migration bitmap: pages still to send
	zeroLeft *dirtyLog // pages whose content is still all zero (sent as a header)
	chunk    *dirtyLog // the pages the current chunk sends
	pastWrap *dirtyLog // the chunk's pages past the scan's first wrap (XBZRLE's first lookups); nil without XBZRLE
	cursor   uint64    // the scan's next page (ascending, wrapping to 0)
	wrapped  bool      // the scan has gone once around memory (XBZRLE starts)
	maxWait  time.Duration
}

// newQEMUSync builds the bitmap at setup: every page except those the
// composition leaves out (QEMU sets every bit at setup).
func (r *precopyRun) newQEMUSync() *qemuSync {
	pages := r.pages
	q := &qemuSync{bm: newDirtyLog(pages), zeroLeft: newDirtyLog(pages), chunk: newDirtyLog(pages), maxWait: r.p.IterateMaxWait}
	if r.xb != nil {
		q.pastWrap = newDirtyLog(pages)
	}
	q.bm.fill(pages)
	if r.comp != nil && r.comp.skip0 != nil {
		q.bm.andNot(bitmapLog(r.comp.skip0, pages))
	}
	if z := r.g.hdr.Zero; z != nil {
		q.zeroLeft.add(z)
	}
	return q
}

// startPeriod starts a sync period (a round) after a sync or setup.
func (r *precopyRun) startPeriod() {
	r.round = Round{Round: len(r.res.RoundsDetail) + 1, StartS: r.eng.Now().Seconds(), ThrottlePct: r.throttlePct}
	r.roundSendS = 0
	r.sendChunk()
}

// stepPages is how many pages one iteration step sends: QEMU checks the
// pending bytes between steps, each of which sends until max_bandwidth's
// quota for the bandwidth window is used (rate-limited) or for at most
// iterate_max_wait (QEMU's MAX_WAIT) at the path's rate.
func (r *precopyRun) stepPages() float64 {
	link := r.steadyBps(r.conn.Streams, r.eng.Now(), r.steadyCap(0))
	step := r.q.maxWait
	rate := link
	if r.capBps > 0 && (link <= 0 || r.capBps <= link) {
		step, rate = r.p.BandwidthWindow, r.capBps
	}
	return math.Max(1, rate/8*step.Seconds()/r.wireNormal)
}

// threshold returns QEMU's threshold_size in bytes from the throughput
// measured over the last bandwidth window, and that throughput.
func (r *precopyRun) threshold(now sim.Time) (bytes, bps float64) {
	bw := r.meter.rate(now, r.bpsLimit())
	return bw / 8 * r.p.DowntimeLimit.Seconds(), bw
}

// sendChunk sends the steps that bring the bitmap below the threshold:
// whole steps, the last one ending early if the bitmap runs out.
func (r *precopyRun) sendChunk() {
	now := r.eng.Now()
	q := r.q
	th, _ := r.threshold(now)
	n := float64(q.bm.count)
	s := r.stepPages()
	j := math.Floor((n-th/r.wireNormal)/s) + 1
	k := uint64(math.Min(n, math.Max(1, math.Ceil(j*s))))
	q.chunk.clear()
	start := q.cursor
	taken, zero, next, wrapped := q.bm.take(q.cursor, k, q.zeroLeft, q.chunk)
	q.cursor = next
	normal := taken - zero
	r.cpu.plan(q.chunk)
	switch {
	case q.wrapped:
		r.xb.plan(q.chunk, uint64(r.res.DirtySyncCount), false, r.cpu, r.p.Costs)
	case wrapped && r.xb != nil:
		// XBZRLE starts at the wrap (QEMU's find_dirty_block sets
		// xbzrle_enabled there): the chunk's pages past it, those below
		// where the scan started, are its first lookups.
		q.pastWrap.copyBelow(q.chunk, start)
		r.xb.plan(q.pastWrap, uint64(r.res.DirtySyncCount), false, r.cpu, r.p.Costs)
	}
	q.wrapped = q.wrapped || wrapped
	bytes := float64(normal)*r.wireNormal + float64(zero)*r.wireZero - r.xb.saved(normal)
	r.round.Pages += taken
	r.round.ZeroPages += zero
	r.round.Bytes += uint64(math.Round(bytes))
	r.chunkStart, r.roundNormal, r.chunkZero, r.chunkBytes = now, normal, zero, bytes
	r.livePass(now, bytes, r.passCap(normal, zero, bytes, r.capBps), r.endChunk)
}

// endChunk accounts the chunk; if the bitmap is below the threshold (or
// empty) it syncs, else another chunk follows without a sync (the
// threshold fell while the chunk was sent).
func (r *precopyRun) endChunk() {
	now := r.eng.Now()
	r.roundEnd = nil
	r.account(r.chunkBytes, r.roundNormal, r.chunkZero)
	r.roundSendS += now.Sub(r.chunkStart).Seconds()
	th, _ := r.threshold(now)
	if q := r.q; q.bm.count > 0 && float64(q.bm.count)*r.wireNormal >= th && !r.sw.forced {
		r.sendChunk()
		return
	}
	r.syncQEMU()
}

// syncQEMU is ram_save_pending's sync and migration_iteration_run's
// decision: the dirty log joins the bitmap, and the migration completes
// when what the bitmap holds fits the threshold.
func (r *precopyRun) syncQEMU() {
	now := r.eng.Now()
	q := r.q
	r.liveRounds++
	dirty := r.g.sync()
	r.res.DirtySyncCount++
	found := dirty.count
	q.zeroLeft.andNot(dirty)
	before := q.bm.count
	q.bm.or(dirty)
	fresh := q.bm.count - before // QEMU's new_dirty_pages
	th, bw := r.threshold(now)
	r.round.DurationS = now.Seconds() - r.round.StartS
	r.sendS += r.round.DurationS
	r.round.DirtiedPages = found
	r.round.BandwidthBps = bw
	if r.roundSendS > 0 {
		r.round.EffectiveBandwidthBps = float64(r.round.Bytes) * 8 / r.roundSendS
	}
	r.emit(r.round)

	r.autoConverge(now, fresh)

	remaining := float64(q.bm.count) * r.wireNormal
	r.lastExpected = remaining * 8 / bw
	switch {
	case remaining < th || q.bm.count == 0:
		r.stopAndCopy(StopDowntimeMet, q.bm)
	case r.sw.due(r.liveRounds):
		r.sw.to(q.bm)
	case r.p.MaxRounds > 0 && r.liveRounds >= r.p.MaxRounds:
		r.stopAndCopy(StopMaxRounds, q.bm)
	case r.p.MaxBytesFactor > 0 && r.transferred >= r.p.MaxBytesFactor*float64(r.g.hdr.MemoryBytes()):
		r.stopAndCopy(StopMaxBytes, q.bm)
	case r.noProgress(q.bm.count, th):
		r.stopNoProgress(q.bm.count)
	default:
		r.eng.After(r.syncPause(), sim.PhaseDecide, r.startPeriod)
	}
}

// syncPause is how long a sync holds the next period back. Under a rate
// limit (max_bandwidth below the path's rate) QEMU sends each bandwidth
// window's quota at the path's rate and sleeps out the rest of the window
// (migration_rate_limit); a sync fits in that sleep, and only what
// exceeds it delays the sending.
func (r *precopyRun) syncPause() time.Duration {
	link := r.steadyBps(r.conn.Streams, r.eng.Now(), r.steadyCap(0))
	if r.capBps <= 0 || link <= r.capBps {
		return r.syncCost
	}
	idle := time.Duration(float64(r.p.BandwidthWindow) * (1 - r.capBps/link))
	return max(0, r.syncCost-idle)
}

// fill sets every page below pages.
func (d *dirtyLog) fill(pages uint64) {
	full := pages / 64
	for i := uint64(0); i < full; i++ {
		d.words[i] = ^uint64(0)
	}
	if rest := pages % 64; rest != 0 {
		d.words[full] = (uint64(1) << rest) - 1
	}
	d.count, d.lo, d.hi = pages, 0, len(d.words)
}

// copyBelow makes d hold the pages of src below page p.
func (d *dirtyLog) copyBelow(src *dirtyLog, p uint64) {
	d.clear()
	last := int(p >> 6) // the word holding p, partly below it
	for i := src.lo; i < min(src.hi, last+1); i++ {
		m := src.words[i]
		if i == last {
			m &= (uint64(1) << (p & 63)) - 1
		}
		if m == 0 {
			continue
		}
		d.words[i] = m
		d.count += uint64(bits.OnesCount64(m))
		d.lo, d.hi = min(d.lo, i), i+1
	}
}

// andNot clears every page of o.
func (d *dirtyLog) andNot(o *dirtyLog) {
	lo, hi := max(d.lo, o.lo), min(d.hi, o.hi)
	for i := lo; i < hi; i++ {
		if m := d.words[i] & o.words[i]; m != 0 {
			d.words[i] &^= m
			d.count -= uint64(bits.OnesCount64(m))
		}
	}
}

// andCount returns how many pages d and o both hold.
func (d *dirtyLog) andCount(o *dirtyLog) uint64 {
	var n uint64
	for i := max(d.lo, o.lo); i < min(d.hi, o.hi); i++ {
		n += uint64(bits.OnesCount64(d.words[i] & o.words[i]))
	}
	return n
}

// take moves up to k pages of d into out, in ascending page order from
// page from, wrapping to page 0 (QEMU's bitmap scan), and returns how many
// it moved, how many of those z holds (z may be nil), the page after the
// last one moved, and whether the scan reached the end of memory.
// Cost: O(words scanned + k).
func (d *dirtyLog) take(from, k uint64, z, out *dirtyLog) (n, zero, next uint64, wrapped bool) {
	words := uint64(len(d.words))
	next = from
	if words == 0 || k == 0 || d.count == 0 {
		return 0, 0, next, false
	}
	if from >= words*64 {
		from = 0
	}
	start, off := from>>6, from&63
	for t := uint64(0); t <= words && n < k; t++ {
		w := (start + t) % words
		if t > 0 && w == 0 {
			wrapped = true
		}
		mask := ^uint64(0)
		switch {
		case t == 0:
			mask <<= off
		case t == words:
			mask = (uint64(1) << off) - 1
		}
		m := d.words[w] & mask
		if m == 0 {
			continue
		}
		if uint64(bits.OnesCount64(m)) > k-n {
			m = lowestBits(m, k-n)
		}
		d.words[w] &^= m
		out.words[w] |= m
		if z != nil {
			zero += uint64(bits.OnesCount64(m & z.words[w]))
		}
		n += uint64(bits.OnesCount64(m))
		next = w*64 + 64 - uint64(bits.LeadingZeros64(m))
		out.lo, out.hi = min(out.lo, int(w)), max(out.hi, int(w)+1)
	}
	d.count -= n
	out.count += n
	if next >= words*64 {
		wrapped, next = true, 0
	}
	return n, zero, next, wrapped
}

// lowestBits returns the lowest c set bits of m.
func lowestBits(m, c uint64) uint64 {
	var out uint64
	for ; c > 0 && m != 0; c-- {
		b := m & -m
		out |= b
		m &^= b
	}
	return out
}

// bitmapLog returns a dirty log holding the pages of b.
func bitmapLog(b *roaring.Bitmap, pages uint64) *dirtyLog {
	d := newDirtyLog(pages)
	d.add(b)
	return d
}
