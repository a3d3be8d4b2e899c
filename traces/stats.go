package traces

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

// Windows over which [Stats] measures the writable working set.
const (
	StatsWindowShort  = time.Second
	StatsWindowMedium = 10 * time.Second
	StatsWindowLong   = 100 * time.Second
)

// TraceStats summarizes a trace. Every JSON name carries its unit (pages,
// seconds, pages per second); no field is NaN or infinite.
//
// "Page-epochs" count a page once for every epoch that writes (or reads)
// it, so WrittenPages / DurationS is the mean dirty rate.
type TraceStats struct {
	// Provenance is the header's provenance text.
	Provenance string `json:"provenance"`
	// PageSizeBytes is the page size.
	PageSizeBytes uint32 `json:"page_size_bytes"`
	// MemoryPages is the guest memory in pages.
	MemoryPages uint64 `json:"memory_pages"`
	// Epochs is the number of epochs in the trace.
	Epochs uint64 `json:"epochs"`
	// EpochS is the length of an epoch in seconds.
	EpochS float64 `json:"epoch_s"`
	// DurationS is the guest time the trace covers: Epochs × EpochS.
	DurationS float64 `json:"duration_s"`
	// WrittenPages is the total of pages written over all epochs, in
	// page-epochs.
	WrittenPages uint64 `json:"written_pages"`
	// ReadPages is the total of pages read and not written, in page-epochs.
	ReadPages uint64 `json:"read_pages"`
	// MeanDirtyRate is WrittenPages / DurationS, in pages/s (0 for an empty
	// trace).
	MeanDirtyRate float64 `json:"mean_dirty_rate_pages_per_s"`
	// PeakDirtyRate is the largest number of pages one epoch writes, over
	// EpochS, in pages/s.
	PeakDirtyRate float64 `json:"peak_dirty_rate_pages_per_s"`
	// PeakEpoch is the index of the first epoch with the peak dirty rate.
	PeakEpoch uint64 `json:"peak_epoch"`
	// MeanReadRate is ReadPages / DurationS, in pages/s.
	MeanReadRate float64 `json:"mean_read_rate_pages_per_s"`
	// DistinctWrittenPages is the number of distinct pages written at least
	// once in the whole trace.
	DistinctWrittenPages uint64 `json:"distinct_written_pages"`
	// WrittenZeroPages is how many of those the header has in the zero
	// class.
	WrittenZeroPages uint64 `json:"written_zero_pages"`
	// WorkingSets is the writable working set (distinct pages written)
	// over windows of about 1 s, 10 s and 100 s of guest time (see Stats
	// for their exact lengths); windows shorter than an epoch are left out.
	WorkingSets []WindowStats `json:"working_sets"`
	// Composition is the number of pages of each class in the header.
	Composition Composition `json:"composition"`
	// CompositionChanges is the number of epochs that change the
	// composition (trace record 0x02).
	CompositionChanges uint64 `json:"composition_changes,omitempty"`
	// CompositionOverTime is the composition at the end of each interval
	// of StatsCompositionInterval of guest time (rounded to whole epochs;
	// the last interval may be shorter), with the pages moved in it; empty
	// when the trace has no composition changes.
	CompositionOverTime []CompositionSample `json:"composition_over_time,omitempty"`
}

// StatsCompositionInterval is the interval over which [Stats] reports the
// composition over time.
const StatsCompositionInterval = 10 * time.Second

// CompositionSample is the composition at the end of one interval of a
// trace, and the pages the interval moved between classes.
type CompositionSample struct {
	// EndS is the guest time at the end of the interval, in seconds.
	EndS float64 `json:"end_s"`
	Composition
	// ToAnonPages, ToZeroPages, ToFreePages and ToPageCachePages count the
	// pages the interval's changes moved into each class (allocations are
	// to_anon, frees to_free), in pages.
	ToAnonPages      uint64 `json:"to_anon_pages"`
	ToZeroPages      uint64 `json:"to_zero_pages"`
	ToFreePages      uint64 `json:"to_free_pages"`
	ToPageCachePages uint64 `json:"to_pagecache_pages"`
}

// WindowStats is the writable working set over consecutive, disjoint
// windows of one length. Only whole windows count: a trace shorter than the
// window has Windows = 0 and zero statistics.
type WindowStats struct {
	// WindowS is the window length in seconds: WindowEpochs × the epoch
	// length, the nearest whole number of epochs to the nominal window.
	WindowS float64 `json:"window_s"`
	// WindowEpochs is the window length in epochs.
	WindowEpochs uint64 `json:"window_epochs"`
	// Windows is the number of whole windows in the trace.
	Windows uint64 `json:"windows"`
	// MeanPages is the mean over the windows of the distinct pages written
	// in a window.
	MeanPages float64 `json:"mean_pages"`
	// MaxPages is the largest number of distinct pages written in a window.
	MaxPages uint64 `json:"max_pages"`
}

// Composition counts the pages of each class at the start of a trace.
type Composition struct {
	AnonPages      uint64 `json:"anon_pages"`
	ZeroPages      uint64 `json:"zero_pages"`
	FreePages      uint64 `json:"free_pages"`
	PageCachePages uint64 `json:"pagecache_pages"`
}

// windowLevel accumulates one window length.
type windowLevel struct {
	stats WindowStats
	set   pageCounter // pages written in the current window, merged up from the level below
	n     uint64      // epochs in the current window
	sum   uint64      // of the distinct counts of whole windows
}

// pageCounter is a set of pages that counts its members: a dense bitmap in
// chunks of 2^16 pages (8 KiB), each allocated when first written. Adding
// a page costs a bit test, where a roaring union would merge whole
// containers every epoch; the price is 8 KiB per chunk touched (32 MiB for
// a 1 TiB guest fully touched).
type pageCounter struct {
	chunks [][]uint64 // by page >> 16
	used   []int      // indexes of allocated chunks
	n      uint64     // members
}

func (c *pageCounter) chunk(hi int) []uint64 {
	if hi >= len(c.chunks) {
		c.chunks = append(c.chunks, make([][]uint64, hi+1-len(c.chunks))...)
	}
	ch := c.chunks[hi]
	if ch == nil {
		ch = make([]uint64, 1<<16/64)
		c.chunks[hi] = ch
		c.used = append(c.used, hi)
	}
	return ch
}

// add adds the pages in vals.
func (c *pageCounter) add(vals []uint32) {
	hi, ch := -1, []uint64(nil)
	for _, p := range vals {
		if int(p>>16) != hi {
			hi = int(p >> 16)
			ch = c.chunk(hi)
		}
		w, bit := (p&0xFFFF)/64, uint64(1)<<(p%64)
		if ch[w]&bit == 0 {
			ch[w] |= bit
			c.n++
		}
	}
}

// merge adds the members of src, word by word.
func (c *pageCounter) merge(src *pageCounter) {
	for _, hi := range src.used {
		s, d := src.chunks[hi], c.chunk(hi)
		for w, x := range s {
			if fresh := x &^ d[w]; fresh != 0 {
				d[w] |= fresh
				c.n += uint64(bits.OnesCount64(fresh))
			}
		}
	}
}

// clear empties the set, keeping its chunks.
func (c *pageCounter) clear() {
	for _, hi := range c.used {
		clear(c.chunks[hi])
	}
	c.n = 0
}

// intersection returns how many members are in b.
func (c *pageCounter) intersection(b *roaring.Bitmap) uint64 {
	var n uint64
	b.Iterate(func(p uint32) bool {
		if hi := int(p >> 16); hi < len(c.chunks) && c.chunks[hi] != nil && c.chunks[hi][(p&0xFFFF)/64]&(1<<(p%64)) != 0 {
			n++
		}
		return true
	})
	return n
}

// Stats reads src to the end and summarizes it.
//
// The working-set windows nest: the shortest is k = round(W/epoch)
// epochs for the first W of 1 s, 10 s, 100 s that is at least one epoch,
// and each longer one is ten times the one before (10k, 100k epochs), so
// with epochs that do not divide a second the windows are slightly off
// their nominal length (WindowS says by how much).
//
// Stats streams. Besides the epoch being read it holds one page set per
// window length and the set of all pages written, each at most one bit per
// page of memory (32 MiB for a 1 TiB guest of 4 KiB pages). A written page
// costs one bit operation in the shortest window's set; a finished window
// is merged word by word into the next longer one.
//
// An error from src is returned as is, with the statistics so far left
// out.
func Stats(src Source) (*TraceStats, error) {
	h := src.Header()
	if h == nil {
		return nil, errors.New("traces: stats: source has no header")
	}
	st := &TraceStats{
		Provenance:    h.Provenance,
		PageSizeBytes: h.PageSize,
		MemoryPages:   h.PageCount,
		EpochS:        h.Epoch.Seconds(),
		Composition: Composition{
			AnonPages:      h.ClassPages(ClassAnon),
			ZeroPages:      h.ClassPages(ClassZero),
			FreePages:      h.ClassPages(ClassFree),
			PageCachePages: h.ClassPages(ClassPageCache),
		},
	}
	var levels []*windowLevel
	for _, w := range []time.Duration{StatsWindowShort, StatsWindowMedium, StatsWindowLong} {
		if h.Epoch <= 0 || w < h.Epoch {
			continue
		}
		k := uint64(math.Round(float64(w) / float64(h.Epoch)))
		if len(levels) > 0 {
			k = levels[len(levels)-1].stats.WindowEpochs * 10
		}
		levels = append(levels, &windowLevel{stats: WindowStats{WindowEpochs: k, WindowS: float64(k) * h.Epoch.Seconds()}})
	}
	var all pageCounter
	first := &all // the set every written page goes into
	if len(levels) > 0 {
		first = &levels[0].set
	}
	var e Epoch
	var peak uint64
	vals := make([]uint32, 4096)
	comp := newCompositionTracker(h)
	for {
		err := src.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		st.Epochs++
		comp.epoch(st, &e)
		n := e.Written.GetCardinality()
		st.WrittenPages += n
		st.ReadPages += e.Read.GetCardinality()
		if n > peak {
			peak, st.PeakEpoch = n, e.Index
		}
		it := e.Written.ManyIterator()
		for got := it.NextMany(vals); got > 0; got = it.NextMany(vals) {
			first.add(vals[:got])
		}
		for i, l := range levels {
			l.n++
			if i > 0 {
				l.n += levels[i-1].stats.WindowEpochs - 1 // one window of the level below
			}
			if l.n < l.stats.WindowEpochs {
				break
			}
			w := l.set.n
			l.sum += w
			l.stats.MaxPages = max(l.stats.MaxPages, w)
			l.stats.Windows++
			up := &all
			if i+1 < len(levels) {
				up = &levels[i+1].set
			}
			up.merge(&l.set)
			l.set.clear()
			l.n = 0
		}
	}
	for _, l := range levels { // pages of unfinished windows
		all.merge(&l.set)
	}
	comp.finish(st)
	st.DurationS = float64(st.Epochs) * st.EpochS
	if st.DurationS > 0 {
		st.MeanDirtyRate = float64(st.WrittenPages) / st.DurationS
		st.MeanReadRate = float64(st.ReadPages) / st.DurationS
	}
	if st.EpochS > 0 {
		st.PeakDirtyRate = float64(peak) / st.EpochS
	}
	st.DistinctWrittenPages = all.n
	if h.Zero != nil {
		st.WrittenZeroPages = all.intersection(h.Zero)
	}
	st.WorkingSets = []WindowStats{}
	for _, l := range levels {
		if l.stats.Windows > 0 {
			l.stats.MeanPages = float64(l.sum) / float64(l.stats.Windows)
		}
		st.WorkingSets = append(st.WorkingSets, l.stats)
	}
	return st, nil
}

// WriteText writes st as an aligned plain-text report, one quantity a line.
func (st *TraceStats) WriteText(w io.Writer) error {
	pageSize := units.Bytes(st.PageSizeBytes)
	epoch := time.Duration(math.Round(st.EpochS * 1e9))
	pct := func(n uint64) float64 {
		if st.MemoryPages == 0 {
			return 0
		}
		return 100 * float64(n) / float64(st.MemoryPages)
	}
	provenance := strings.ReplaceAll(st.Provenance, "\n", "; ")
	if provenance == "" {
		provenance = "(none)"
	}
	lines := []struct{ label, value string }{
		{"provenance", provenance},
		{"memory", fmt.Sprintf("%d pages of %v (%v)", st.MemoryPages, pageSize, units.Bytes(st.MemoryPages)*pageSize)},
		{"composition", fmt.Sprintf("anon %d, zero %d, free %d, pagecache %d pages",
			st.Composition.AnonPages, st.Composition.ZeroPages, st.Composition.FreePages, st.Composition.PageCachePages)},
		{"epochs", fmt.Sprintf("%d of %v (%v)", st.Epochs, epoch, time.Duration(st.Epochs)*epoch)},
		{"dirty rate", fmt.Sprintf("mean %.1f pages/s, peak %.1f pages/s (epoch %d)", st.MeanDirtyRate, st.PeakDirtyRate, st.PeakEpoch)},
		{"read rate", fmt.Sprintf("mean %.1f pages/s", st.MeanReadRate)},
		{"written", fmt.Sprintf("%d page-epochs, %d distinct pages (%.1f%% of memory, %d of them zero)",
			st.WrittenPages, st.DistinctWrittenPages, pct(st.DistinctWrittenPages), st.WrittenZeroPages)},
		{"read", fmt.Sprintf("%d page-epochs", st.ReadPages)},
	}
	for _, ws := range st.WorkingSets {
		label := fmt.Sprintf("working set %v", time.Duration(math.Round(ws.WindowS*1e9)))
		value := "n/a: trace shorter than one window"
		if ws.Windows > 0 {
			value = fmt.Sprintf("mean %.1f, max %d pages over %d windows", ws.MeanPages, ws.MaxPages, ws.Windows)
		}
		lines = append(lines, struct{ label, value string }{label, value})
	}
	if st.CompositionChanges > 0 {
		lines = append(lines, struct{ label, value string }{"class changes", fmt.Sprintf("%d epochs change the composition", st.CompositionChanges)})
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%-18s %s\n", l.label, l.value); err != nil {
			return err
		}
	}
	if len(st.CompositionOverTime) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "composition over time (pages at the end of each %v interval that moves pages, and the last; pages moved in it)\n%10s %12s %12s %12s %12s %10s %10s %10s %12s\n",
		StatsCompositionInterval, "end", "anon", "zero", "free", "pagecache", "to_anon", "to_zero", "to_free", "to_pagecache"); err != nil {
		return err
	}
	for i, c := range st.CompositionOverTime {
		if c.ToAnonPages+c.ToZeroPages+c.ToFreePages+c.ToPageCachePages == 0 && i < len(st.CompositionOverTime)-1 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%10v %12d %12d %12d %12d %10d %10d %10d %12d\n",
			time.Duration(math.Round(c.EndS*1e9)), c.AnonPages, c.ZeroPages, c.FreePages, c.PageCachePages,
			c.ToAnonPages, c.ToZeroPages, c.ToFreePages, c.ToPageCachePages); err != nil {
			return err
		}
	}
	return nil
}

// compositionTracker follows a trace's composition changes for Stats.
type compositionTracker struct {
	pages          uint64
	epochLen       float64 // s
	every          uint64  // epochs per interval
	zero, free, pc *roaring.Bitmap
	moved          [4]uint64 // pages moved into each class in the interval
	n              uint64    // epochs in the interval
	samples        []CompositionSample
	changed        bool
}

func newCompositionTracker(h *Header) *compositionTracker {
	c := &compositionTracker{pages: h.PageCount, epochLen: h.Epoch.Seconds(), every: 1,
		zero: roaring.New(), free: roaring.New(), pc: roaring.New()}
	if h.Epoch > 0 {
		c.every = max(1, uint64(math.Round(float64(StatsCompositionInterval)/float64(h.Epoch))))
	}
	for _, p := range [...]struct{ dst, src *roaring.Bitmap }{{c.zero, h.Zero}, {c.free, h.Free}, {c.pc, h.PageCache}} {
		if p.src != nil {
			p.dst.Or(p.src)
		}
	}
	return c
}

// epoch applies e's change and closes an interval every c.every epochs.
func (c *compositionTracker) epoch(st *TraceStats, e *Epoch) {
	if !e.Change.Empty() {
		st.CompositionChanges++
		c.changed = true
		for i, s := range e.Change.Sets() {
			c.moved[i] += pagesIn(*s)
		}
		e.Change.Apply(c.zero, c.free, c.pc)
	}
	c.n++
	if c.n == c.every {
		c.sample(st)
	}
}

func (c *compositionTracker) sample(st *TraceStats) {
	z, f, p := c.zero.GetCardinality(), c.free.GetCardinality(), c.pc.GetCardinality()
	c.samples = append(c.samples, CompositionSample{
		EndS:        float64(st.Epochs) * c.epochLen,
		Composition: Composition{AnonPages: c.pages - z - f - p, ZeroPages: z, FreePages: f, PageCachePages: p},
		ToAnonPages: c.moved[0], ToZeroPages: c.moved[1], ToFreePages: c.moved[2], ToPageCachePages: c.moved[3],
	})
	c.moved, c.n = [4]uint64{}, 0
}

// finish closes the last, partial interval and hands the samples to st
// when the trace changed its composition.
func (c *compositionTracker) finish(st *TraceStats) {
	if !c.changed {
		return
	}
	if c.n > 0 {
		c.sample(st)
	}
	st.CompositionOverTime = c.samples
}
