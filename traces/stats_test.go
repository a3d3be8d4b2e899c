package traces

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// genSliceSource is a Source over epochs held in memory; after them it
// returns err, or io.EOF if err is nil.
type genSliceSource struct {
	hdr    Header
	epochs []Epoch
	next   int
	err    error
}

func (s *genSliceSource) Header() *Header { return &s.hdr }

func (s *genSliceSource) Next(e *Epoch) error {
	if s.next == len(s.epochs) {
		if s.err != nil {
			return s.err
		}
		return io.EOF
	}
	src := s.epochs[s.next]
	e.Reset()
	e.Index = uint64(s.next)
	if src.Written != nil {
		e.Written.Or(src.Written)
	}
	if src.Read != nil {
		e.Read.Or(src.Read)
	}
	s.next++
	return nil
}

func genRanges(rs ...[2]uint64) *roaring.Bitmap {
	b := roaring.New()
	for _, r := range rs {
		b.AddRange(r[0], r[1])
	}
	return b
}

// TestStatsHandComputed checks every statistic on a trace small enough to
// work out by hand: 100 pages, 500ms epochs, so a 1 s window is 2 epochs.
func TestStatsHandComputed(t *testing.T) {
	src := &genSliceSource{
		hdr: Header{
			PageSize: 4096, PageCount: 100, Epoch: 500 * time.Millisecond,
			Zero:       genRanges([2]uint64{15, 20}, [2]uint64{50, 100}),
			Free:       genRanges([2]uint64{20, 30}),
			PageCache:  genRanges([2]uint64{30, 40}),
			Provenance: "by hand",
		},
		epochs: []Epoch{
			{Written: roaring.BitmapOf(1, 2, 3), Read: roaring.BitmapOf(4)},
			{Written: roaring.BitmapOf(3, 4)},
			{Read: roaring.BitmapOf(1, 2)},
			{Written: genRanges([2]uint64{10, 20})},
			{Written: roaring.BitmapOf(1)},
		},
	}
	got, err := Stats(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &TraceStats{
		Provenance:    "by hand",
		PageSizeBytes: 4096,
		MemoryPages:   100,
		Epochs:        5,
		EpochS:        0.5,
		DurationS:     2.5,
		WrittenPages:  16,  // 3+2+0+10+1
		ReadPages:     3,   // 1+0+2+0+0
		MeanDirtyRate: 6.4, // 16 / 2.5 s
		PeakDirtyRate: 20,  // 10 pages in 0.5 s
		PeakEpoch:     3,
		MeanReadRate:  1.2,
		// {1,2,3,4} ∪ [10,20)
		DistinctWrittenPages: 14,
		WrittenZeroPages:     5, // [15,20)
		WorkingSets: []WindowStats{
			// windows {0,1}: {1,2,3,4}; {2,3}: [10,20); epoch 4 is left over
			{WindowS: 1, WindowEpochs: 2, Windows: 2, MeanPages: 7, MaxPages: 10},
			{WindowS: 10, WindowEpochs: 20},
			{WindowS: 100, WindowEpochs: 200},
		},
		Composition: Composition{AnonPages: 25, ZeroPages: 55, FreePages: 10, PageCachePages: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stats:\n got %+v\nwant %+v", got, want)
	}
}

// TestStatsGenerator checks the statistics of generators whose numbers
// follow from their parameters.
func TestStatsGenerator(t *testing.T) {
	// 1000 pages/s scanning 10000 pages: 1000 distinct per second, the
	// whole working set per 10 s.
	spec := GeneratorSpec{Kind: GenSequential, DirtyRate: 1000, ReadRate: 100, WorkingSet: 10000 * genPage, Duration: 25 * time.Second, ZeroFraction: 0.5}
	src, err := NewGenerator(spec, 1<<15*genPage, genPage, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Stats(src)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epochs != 2500 || st.MeanDirtyRate != 1000 || st.PeakDirtyRate != 1000 || st.MeanReadRate != 100 {
		t.Errorf("epochs %d, dirty rate mean %v peak %v, read rate %v; want 2500, 1000, 1000, 100",
			st.Epochs, st.MeanDirtyRate, st.PeakDirtyRate, st.MeanReadRate)
	}
	if st.DistinctWrittenPages != 10000 || st.WrittenZeroPages != 0 || st.Composition.ZeroPages != 1<<14 {
		t.Errorf("distinct %d, zero written %d, zero pages %d; want 10000, 0, 16384", st.DistinctWrittenPages, st.WrittenZeroPages, st.Composition.ZeroPages)
	}
	ws := st.WorkingSets
	if len(ws) != 3 || ws[0].Windows != 25 || ws[0].MeanPages != 1000 || ws[0].MaxPages != 1000 ||
		ws[1].Windows != 2 || ws[1].MeanPages != 10000 || ws[2].Windows != 0 {
		t.Errorf("working sets %+v", ws)
	}
}

// TestStatsBruteForce checks the streamed statistics of random traces
// against unions computed directly from all the epochs.
func TestStatsBruteForce(t *testing.T) {
	for _, epoch := range []time.Duration{100 * time.Millisecond, 70 * time.Millisecond, 2 * time.Second} {
		spec := GeneratorSpec{Kind: GenHotCold, DirtyRate: 300, ReadRate: 50, Epoch: epoch, Duration: 250 * epoch, ZeroFraction: 0.25}
		src, err := NewGenerator(spec, 1<<17*genPage, genPage, 9) // two 64 Ki-page chunks
		if err != nil {
			t.Fatal(err)
		}
		epochs := genCollect(t, src)
		src, _ = NewGenerator(spec, 1<<17*genPage, genPage, 9)
		st, err := Stats(src)
		if err != nil {
			t.Fatal(err)
		}
		all := roaring.New()
		for _, e := range epochs {
			all.Or(e.Written)
		}
		if st.DistinctWrittenPages != all.GetCardinality() {
			t.Errorf("epoch %v: %d distinct pages, want %d", epoch, st.DistinctWrittenPages, all.GetCardinality())
		}
		for _, ws := range st.WorkingSets {
			k := int(ws.WindowEpochs)
			var windows, maxPages, sum uint64
			for start := 0; start+k <= len(epochs); start += k {
				u := roaring.New()
				for _, e := range epochs[start : start+k] {
					u.Or(e.Written)
				}
				c := u.GetCardinality()
				windows++
				sum += c
				maxPages = max(maxPages, c)
			}
			want := WindowStats{WindowS: ws.WindowS, WindowEpochs: ws.WindowEpochs, Windows: windows, MaxPages: maxPages}
			if windows > 0 {
				want.MeanPages = float64(sum) / float64(windows)
			}
			if ws != want {
				t.Errorf("epoch %v: window %+v, want %+v", epoch, ws, want)
			}
		}
	}
}

// TestStatsWindows checks window lengths that are not a whole number of
// epochs, and windows shorter than an epoch.
func TestStatsWindows(t *testing.T) {
	cases := []struct {
		epoch time.Duration
		want  []uint64 // window lengths in epochs
	}{
		{10 * time.Millisecond, []uint64{100, 1000, 10000}},
		{7 * time.Millisecond, []uint64{143, 1430, 14300}}, // nested: ×10
		{2 * time.Second, []uint64{5, 50}},                 // 1 s is shorter than an epoch
		{3 * time.Second, []uint64{3, 30}},                 // 9 s and 90 s
		{time.Second, []uint64{1, 10, 100}},
	}
	for _, c := range cases {
		st, err := Stats(&genSliceSource{hdr: Header{PageSize: 4096, PageCount: 1, Epoch: c.epoch}})
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, w := range st.WorkingSets {
			got = append(got, w.WindowEpochs)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("epoch %v: window lengths %v epochs, want %v", c.epoch, got, c.want)
		}
		if st.MeanDirtyRate != 0 || st.DurationS != 0 {
			t.Errorf("epoch %v: empty trace has rate %v duration %v", c.epoch, st.MeanDirtyRate, st.DurationS)
		}
	}
}

func TestStatsSourceError(t *testing.T) {
	boom := errors.New("boom")
	src := &genSliceSource{hdr: Header{PageSize: 4096, PageCount: 8, Epoch: time.Second}, epochs: []Epoch{{}}, err: boom}
	if _, err := Stats(src); !errors.Is(err, boom) {
		t.Errorf("Stats = %v, want the source's error", err)
	}
}

// TestStatsJSONNames checks that every JSON name carries a unit.
func TestStatsJSONNames(t *testing.T) {
	b, err := json.Marshal(&TraceStats{WorkingSets: []WindowStats{{}}})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	unit := regexp.MustCompile(`(_pages|_s|_pages_per_s|_bytes|^epochs|^windows|^window_epochs|^peak_epoch|^provenance)$`)
	var check func(prefix string, m map[string]any)
	check = func(prefix string, m map[string]any) {
		for k, v := range m {
			switch v := v.(type) {
			case map[string]any:
				check(prefix+k+".", v)
				continue
			case []any:
				for _, x := range v {
					check(prefix+k+"[].", x.(map[string]any))
				}
				continue
			}
			if !unit.MatchString(k) {
				t.Errorf("JSON field %s%s has no unit in its name", prefix, k)
			}
		}
	}
	check("", fields)
}

func TestStatsWriteText(t *testing.T) {
	st := &TraceStats{MemoryPages: 10, PageSizeBytes: 4096, EpochS: 0.01, WorkingSets: []WindowStats{{WindowS: 1, WindowEpochs: 100}}}
	var b strings.Builder
	if err := st.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "working set 1s     n/a: trace shorter than one window") {
		t.Errorf("report lacks the n/a window line:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "memory             10 pages of 4KiB (40KiB)\n") {
		t.Errorf("report lacks the memory line:\n%s", b.String())
	}
}

// TestStatsCompositionOverTime checks the composition table of a trace
// that allocates for 2 s and then frees: one sample per 10 s interval and
// one for the partial last interval, the classes adding up to memory, and
// each interval's free class moving by what it freed less what it
// allocated.
func TestStatsCompositionOverTime(t *testing.T) {
	spec := GeneratorSpec{Kind: GenPhases, Epoch: 100 * time.Millisecond, FreeFraction: 0.5, Phases: []GeneratorSpec{
		{Kind: GenUniform, DirtyRate: 100, WorkingSet: 100 * genPage, AllocRate: 50, Duration: 15 * time.Second},
		{Kind: GenUniform, DirtyRate: 100, WorkingSet: 100 * genPage, FreeRate: 20, Duration: 10 * time.Second},
	}}
	src, err := NewGenerator(spec, 4096*genPage, genPage, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Stats(src)
	if err != nil {
		t.Fatal(err)
	}
	got := st.CompositionOverTime
	if len(got) != 3 || got[0].EndS != 10 || got[1].EndS != 20 || got[2].EndS != 25 {
		t.Fatalf("samples %+v, want ends 10, 20, 25 s", got)
	}
	if st.CompositionChanges != 250 {
		t.Errorf("%d epochs with changes, want 250 (every epoch moves pages)", st.CompositionChanges)
	}
	prevFree := st.Composition.FreePages
	var alloc, freed uint64
	for _, c := range got {
		if c.AnonPages+c.ZeroPages+c.FreePages+c.PageCachePages != st.MemoryPages {
			t.Fatalf("sample at %v s: classes add up to %d, not %d", c.EndS, c.AnonPages+c.ZeroPages+c.FreePages+c.PageCachePages, st.MemoryPages)
		}
		if c.FreePages != prevFree+c.ToFreePages-c.ToAnonPages {
			t.Fatalf("sample at %v s: free %d, want %d + %d − %d", c.EndS, c.FreePages, prevFree, c.ToFreePages, c.ToAnonPages)
		}
		prevFree = c.FreePages
		alloc, freed = alloc+c.ToAnonPages, freed+c.ToFreePages
	}
	if alloc != 750 || freed != 200 {
		t.Fatalf("allocated %d and freed %d pages, want 750 and 200", alloc, freed)
	}
	var b strings.Builder
	if err := st.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "composition over time") || !strings.Contains(b.String(), "       25s") {
		t.Fatalf("text report lacks the composition table:\n%s", b.String())
	}

	// A trace without changes reports no table.
	plain := spec
	plain.Phases = []GeneratorSpec{{Kind: GenUniform, DirtyRate: 100, Duration: time.Second}}
	src, _ = NewGenerator(plain, 4096*genPage, genPage, 1)
	if st, err := Stats(src); err != nil || st.CompositionOverTime != nil || st.CompositionChanges != 0 {
		t.Fatalf("trace without changes: %v, %+v", err, st.CompositionOverTime)
	}
}
