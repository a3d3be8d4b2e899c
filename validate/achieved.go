package validate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
)

// memTrace is a trace held in memory, a [traces.Source] over shared,
// read-only epochs.
type memTrace struct {
	hdr    traces.Header
	epochs []memEpoch
	next   int
}

type memEpoch struct {
	written, read *roaring.Bitmap
}

func (m *memTrace) Header() *traces.Header { return &m.hdr }

func (m *memTrace) Next(e *traces.Epoch) error {
	if m.next >= len(m.epochs) {
		return io.EOF
	}
	e.Reset()
	e.Index = uint64(m.next)
	if ep := m.epochs[m.next]; ep.written != nil {
		e.Written.Or(ep.written)
		if ep.read != nil {
			e.Read.Or(ep.read)
			e.Read.AndNot(e.Written)
		}
	}
	m.next++
	return nil
}

// opener returns an Opener that replays m from its start each time.
func (m *memTrace) opener() traces.Opener {
	return func() (traces.Source, error) {
		c := *m
		c.next = 0
		return &c, nil
	}
}

// loadTrace reads every epoch of the trace file at path into memory. The
// lab's traces are small (a guest that TCG can migrate in a minute).
func loadTrace(path string) (*memTrace, error) {
	r, err := traces.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	m := &memTrace{hdr: *r.Header()}
	var e traces.Epoch
	for {
		err := r.Next(&e)
		if err == io.EOF {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		m.epochs = append(m.epochs, memEpoch{written: e.Written.Clone(), read: e.Read.Clone()})
	}
}

// achievedTrace is the trace the guest really replayed during a real
// migration, for the simulator.
type achievedTrace struct {
	trace *memTrace
	// DirtyRate is the mean rate of page writes (distinct pages per epoch,
	// summed) over the migration, pages per second of wall time.
	DirtyRate float64
	// Epochs is the number of trace epochs the guest finished during the
	// migration; Behind is how far behind schedule the last of them
	// finished, seconds.
	Epochs int
	Behind float64
	// RecordedS is when the last source report taken from the run
	// arrived, seconds since the migrate command: the trace up to it is
	// what the guest did, after it a made-up pace (0 when none arrived
	// after the command).
	RecordedS float64
}

// minPaceEpochs is the fewest source epochs during the migration from
// which buildAchieved takes the guest's pace; with fewer (post-copy that
// switched at once) it takes the warm-up's too.
const minPaceEpochs = 20

// buildAchieved rebuilds, from the replayer's reports, the trace the guest
// really replayed during run, laid out over the whole guest RAM so that the
// simulator migrates what QEMU migrated:
//
//   - pages [0, trace pages) are the replayer's region, page for page;
//     the rest stand for the guest kernel and the replayer's own memory;
//   - the zero set is the trace's own zero pages plus, at the top of RAM,
//     as many more as the source RAM held all-zero pages when the
//     migration started, counted from the RAM itself; in a free-page-hint
//     run, the free set is every page the guest kernel held free and the
//     zero set the all-zero pages beyond them (see hintedLayout);
//   - each epoch the source reported during the migration lands, with the
//     trace's written and read sets, in the epoch of the host time the
//     report arrived (epochs a slow guest stretched are spread out; epochs
//     that arrive together are merged);
//   - past the last source report the guest goes on at the pace it held
//     during the migration (warm-up included when a post-copy run
//     switched within minPaceEpochs), for horizon of wall time (or until
//     the trace ends when atEnd is idle): after a post-copy switch the
//     simulator, not the trace, slows the guest down on the destination.
//
// It needs the trace's page size to be 4 KiB, QEMU's page size.
func buildAchieved(orig *memTrace, run *lab.RealRun, atEnd models.TraceEnd, horizon time.Duration) (*achievedTrace, error) {
	h := orig.hdr
	if h.PageSize != 4096 {
		return nil, fmt.Errorf("trace page size %d: the lab needs 4096, QEMU's x86 page size", h.PageSize)
	}
	if len(orig.epochs) == 0 {
		return nil, errors.New("trace has no epochs")
	}
	guestPages := run.GuestMemoryBytes / 4096
	if guestPages < h.PageCount {
		return nil, fmt.Errorf("guest has %d pages, fewer than the trace's %d", guestPages, h.PageCount)
	}
	zero := roaring.New()
	var free *roaring.Bitmap
	if run.MemFreeAtReady > 0 {
		// A DSB run: every page free in the guest kernel is free to the
		// simulator, whose balloon reclaims its share of them.
		zero, free = hintedLayout(guestPages, h.PageCount, h.Zero, h.Free, run.MemFreeAtReady, 0, run.ZeroPagesAtStart)
	} else if run.FreePagesAtReady > 0 {
		// A free-page-hint run: every page free in the guest kernel is
		// free to the simulator (see hintedLayout).
		zero, free = hintedLayout(guestPages, h.PageCount, h.Zero, h.Free, run.FreePagesAtReady, run.PagesHinted, run.ZeroPagesAtStart)
	} else {
		if h.Zero != nil {
			zero.Or(h.Zero)
		}
		if extra := int64(run.ZeroPagesAtStart) - int64(zero.GetCardinality()); extra > 0 {
			extra = min(extra, int64(guestPages-h.PageCount))
			zero.AddRange(guestPages-uint64(extra), guestPages)
		}
	}
	out := &memTrace{hdr: traces.Header{
		PageSize:  4096,
		PageCount: guestPages,
		Epoch:     h.Epoch,
		Zero:      zero,
		Free:      free,
		Provenance: fmt.Sprintf("migsim validate: achieved replay of a %d-page trace in a %d-page %s guest (QEMU %s)",
			h.PageCount, guestPages, run.Accel, run.QEMUVersion),
	}}
	epochS := h.Epoch.Seconds()
	n := uint64(len(orig.epochs))
	place := func(at float64, global uint64) {
		k := int(math.Floor(at / epochS))
		for len(out.epochs) <= k {
			out.epochs = append(out.epochs, memEpoch{written: roaring.New(), read: roaring.New()})
		}
		src := orig.epochs[global%n]
		out.epochs[k].written.Or(src.written)
		out.epochs[k].read.Or(src.read)
	}

	a := &achievedTrace{trace: out}
	end := run.Metrics.TotalTimeS
	var last, first lab.EpochReport
	var writes uint64
	warm := 0 // source reports up to the end, warm-up included
	for _, r := range run.Epochs {
		if r.At > end {
			continue
		}
		if r.Side == "destination" && r.At >= 0 {
			// Post-copy: the guest ran on the destination before the
			// end; the simulator models that part itself.
			writes += r.Wrote
			continue
		}
		if r.Side != "source" {
			continue
		}
		if warm == 0 {
			first = r
		}
		warm++
		last = r
		if r.At < 0 {
			continue
		}
		place(r.At, r.Index)
		writes += r.Wrote
		a.Epochs++
	}
	if warm == 0 || (a.Epochs == 0 && run.Metrics.PostcopyBytes == 0) {
		return nil, errors.New("the source guest reported no epoch during the migration: it replayed nothing")
	}
	a.DirtyRate = float64(writes) / end
	a.Behind = float64(last.LateNs) / 1e9
	a.RecordedS = max(0, last.At)

	// Past the migration: the same pace, from where the guest was.
	pace := float64(a.Epochs) / last.At // epochs per second
	switch {
	case a.Epochs < minPaceEpochs && last.At > first.At:
		// A post-copy run that switched within a few epochs: the pace
		// the guest held on the source, warm-up included.
		pace = float64(warm-1) / (last.At - first.At)
	case last.At <= 0:
		pace = 1 / epochS
	}
	for j := uint64(1); ; j++ {
		g := last.Index + j
		if atEnd == models.AtEndIdle && g >= n {
			break
		}
		t := last.At + float64(j)/pace
		if t > horizon.Seconds() {
			break
		}
		if t < 0 {
			continue // before the migrate command (post-copy at once)
		}
		place(t, g)
	}
	for i := range out.epochs {
		out.epochs[i].read.AndNot(out.epochs[i].written)
	}
	return a, nil
}

// hintedLayout lays out, for the simulator, the composition of a hinting
// run's guest RAM of guestPages pages whose first tracePages are the
// replayer's region. The free set holds freePages pages, the ones the
// guest's balloon driver can hint (see hintablePages): the region's
// untouched pages (its zero and free classes, never faulted in, so free in
// the guest kernel) first, then the rest at the top of RAM. Only the count
// matters to the simulator: guest-physical placement is the kernel's. The
// zero set is the region's untouched pages left out of the free set, then
// as many more just below the free range as the source's RAM held all-zero
// pages beyond those: zeroPages counts the free set's zero pages too, all
// but hintedNonzero of them (the hinted pages found non-zero on the source
// after the run, see compareRAMHinted).
func hintedLayout(guestPages, tracePages uint64, traceZero, traceFree *roaring.Bitmap, freePages, hintedNonzero, zeroPages uint64) (zero, free *roaring.Bitmap) {
	untouched := roaring.New()
	if traceZero != nil {
		untouched.Or(traceZero)
	}
	if traceFree != nil {
		untouched.Or(traceFree)
	}
	free = roaring.New()
	top := guestPages
	if n := untouched.GetCardinality(); freePages <= n {
		if freePages > 0 {
			last, _ := untouched.Select(uint32(freePages - 1))
			free.Or(untouched)
			free.RemoveRange(uint64(last)+1, guestPages)
		}
	} else {
		free.Or(untouched)
		extra := min(freePages-n, guestPages-tracePages)
		free.AddRange(guestPages-extra, guestPages)
		top -= extra
	}
	zero = roaring.AndNot(untouched, free)
	freeZero := free.GetCardinality() - min(hintedNonzero, free.GetCardinality())
	if have := freeZero + zero.GetCardinality(); zeroPages > have {
		extra := min(zeroPages-have, top-tracePages)
		zero.AddRange(top-extra, top)
	}
	return zero, free
}
