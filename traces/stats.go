package traces

import (
	"errors"
	"fmt"
	"io"
	"math"
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
	// over windows of 1 s, 10 s and 100 s of guest time; windows shorter
	// than an epoch are left out.
	WorkingSets []WindowStats `json:"working_sets"`
	// Composition is the number of pages of each class in the header.
	Composition Composition `json:"composition"`
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

// windowTracker accumulates one window length.
type windowTracker struct {
	stats WindowStats
	union *roaring.Bitmap
	n     uint64 // epochs in the current window
	sum   uint64 // of the distinct counts of whole windows
}

// Stats reads src to the end and summarizes it. It streams: besides the
// epoch being read it holds one union bitmap per window length (the pages
// written so far in the current 1 s, 10 s and 100 s window) and the union
// of all pages written. Its cost is a few bitmap unions per epoch.
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
	var windows []*windowTracker
	for _, w := range []time.Duration{StatsWindowShort, StatsWindowMedium, StatsWindowLong} {
		if h.Epoch <= 0 || w < h.Epoch {
			continue
		}
		k := uint64(math.Round(float64(w) / float64(h.Epoch)))
		windows = append(windows, &windowTracker{
			stats: WindowStats{WindowEpochs: k, WindowS: float64(k) * h.Epoch.Seconds()},
			union: roaring.New(),
		})
	}
	all := roaring.New()
	var e Epoch
	var peak uint64
	for {
		err := src.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		st.Epochs++
		n := e.Written.GetCardinality()
		st.WrittenPages += n
		st.ReadPages += e.Read.GetCardinality()
		if n > peak {
			peak, st.PeakEpoch = n, e.Index
		}
		all.Or(e.Written)
		for _, w := range windows {
			w.union.Or(e.Written)
			w.n++
			if w.n == w.stats.WindowEpochs {
				c := w.union.GetCardinality()
				w.sum += c
				w.stats.MaxPages = max(w.stats.MaxPages, c)
				w.stats.Windows++
				w.union.Clear()
				w.n = 0
			}
		}
	}
	st.DurationS = float64(st.Epochs) * st.EpochS
	if st.DurationS > 0 {
		st.MeanDirtyRate = float64(st.WrittenPages) / st.DurationS
		st.MeanReadRate = float64(st.ReadPages) / st.DurationS
	}
	if st.EpochS > 0 {
		st.PeakDirtyRate = float64(peak) / st.EpochS
	}
	st.DistinctWrittenPages = all.GetCardinality()
	if h.Zero != nil {
		st.WrittenZeroPages = all.AndCardinality(h.Zero)
	}
	st.WorkingSets = []WindowStats{}
	for _, w := range windows {
		if w.stats.Windows > 0 {
			w.stats.MeanPages = float64(w.sum) / float64(w.stats.Windows)
		}
		st.WorkingSets = append(st.WorkingSets, w.stats)
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
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%-18s %s\n", l.label, l.value); err != nil {
			return err
		}
	}
	return nil
}
