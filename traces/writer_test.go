package traces

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// fileHeader returns a valid header for pages pages with small class sets.
func fileHeader(pages uint64) *Header {
	h := &Header{PageSize: 4096, PageCount: pages, Epoch: 100 * time.Millisecond, Provenance: "traces test"}
	if pages >= 8 {
		h.Zero = roaring.BitmapOf(0, 1)
		h.Free = fileRangeSet(2, 4)
		h.PageCache = roaring.BitmapOf(uint32(pages - 1))
	}
	return h
}

// fileEpochs returns n epochs of random sparse sets over pages pages, with
// empty sets and the last page mixed in.
func fileEpochs(seed uint64, pages uint64, n int) []Epoch {
	r := rand.New(rand.NewPCG(seed, 7))
	es := make([]Epoch, n)
	for i := range es {
		w := fileSparseSet(r, pages, r.IntN(int(pages/4)+1))
		rd := fileSparseSet(r, pages, r.IntN(int(pages/8)+1))
		switch i % 5 {
		case 1:
			w.Clear()
		case 2:
			rd.Clear()
		case 3:
			w.Clear()
			rd.Clear()
		case 4:
			w.Add(uint32(pages - 1))
		}
		rd.AndNot(w)
		es[i] = Epoch{Index: uint64(i), Written: w, Read: rd}
	}
	return es
}

// fileWrite writes a trace of h and es and returns its bytes.
func fileWrite(t testing.TB, h *Header, es []Epoch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if err := w.WriteEpoch(&es[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterRejectsHeader(t *testing.T) {
	cases := []struct {
		name string
		edit func(h *Header)
		want string
	}{
		{"page size", func(h *Header) { h.PageSize = 3000 }, "power of two"},
		{"page count", func(h *Header) { h.PageCount = 0 }, "page count is 0"},
		{"epoch", func(h *Header) { h.Epoch = 0 }, "epoch length"},
		{"set beyond count", func(h *Header) { h.Zero = roaring.BitmapOf(100) }, "beyond page count"},
		{"sets overlap", func(h *Header) { h.Free = roaring.BitmapOf(1) }, "overlap"},
		{"provenance too long", func(h *Header) { h.Provenance = strings.Repeat("x", MaxProvenance+1) }, "provenance is 65537 bytes"},
		{"provenance not UTF-8", func(h *Header) { h.Provenance = "\xff" }, "not UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := fileHeader(100)
			c.edit(h)
			var buf bytes.Buffer
			_, err := NewWriter(&buf, h)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes for an invalid header", buf.Len())
			}
		})
	}
}

func TestWriterRejectsEpoch(t *testing.T) {
	cases := []struct {
		name string
		e    Epoch
		want string
	}{
		{"skips an epoch", Epoch{Index: 2}, "epoch 2 written where epoch 1 is due"},
		{"repeats an epoch", Epoch{Index: 0}, "epoch 0 written where epoch 1 is due"},
		{"written beyond", Epoch{Index: 1, Written: roaring.BitmapOf(5, 100)}, "written page 100 is beyond the page count 100"},
		{"read beyond", Epoch{Index: 1, Read: roaring.BitmapOf(1000)}, "read page 1000 is beyond"},
		{"overlap", Epoch{Index: 1, Written: roaring.BitmapOf(5, 6), Read: roaring.BitmapOf(6, 7)}, "overlap"},
		{"change beyond", Epoch{Index: 1, Change: ClassChange{ToFree: roaring.BitmapOf(100)}}, "epoch 1: composition change: to_free page 100 is beyond the page count 100"},
		{"change overlap", Epoch{Index: 1, Change: ClassChange{ToAnon: roaring.BitmapOf(3), ToZero: roaring.BitmapOf(3)}}, "epoch 1: composition change: to_anon and to_zero sets overlap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, fileHeader(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteEpoch(&Epoch{Index: 0}); err != nil {
				t.Fatal(err)
			}
			n := buf.Len()
			err = w.WriteEpoch(&c.e)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if buf.Len() != n {
				t.Errorf("wrote %d bytes for an invalid epoch", buf.Len()-n)
			}
			// A rejected epoch leaves the writer usable.
			if err := w.WriteEpoch(&Epoch{Index: 1, Written: roaring.BitmapOf(99)}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, es, err := fileReadAll(bytes.NewReader(buf.Bytes()), "t")
			if err != nil || len(es) != 2 {
				t.Fatalf("read back %d epochs, err %v", len(es), err)
			}
		})
	}
}

// fileFailWriter fails every write after the first n bytes.
type fileFailWriter struct {
	n   int
	err error
}

func (w *fileFailWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	h := fileHeader(1000)
	es := fileEpochs(1, 1000, 10)
	full := fileWrite(t, h, es)
	boom := errors.New("disk full")
	for n := 0; n < len(full); n++ {
		fw := &fileFailWriter{n: n, err: boom}
		w, err := NewWriter(fw, h)
		if err != nil {
			if !errors.Is(err, boom) {
				t.Fatalf("n=%d: NewWriter err = %v, want it to wrap %v", n, err, boom)
			}
			continue
		}
		var first error
		for i := range es {
			if err := w.WriteEpoch(&es[i]); err != nil {
				first = err
				break
			}
		}
		if first == nil {
			first = w.Close()
		}
		if !errors.Is(first, boom) {
			t.Fatalf("n=%d: err = %v, want it to wrap %v", n, first, boom)
		}
		if err := w.Close(); !errors.Is(err, boom) {
			t.Fatalf("n=%d: Close after failure = %v, want the same error", n, err)
		}
		if err := w.WriteEpoch(&Epoch{Index: uint64(len(es))}); !errors.Is(err, boom) {
			t.Fatalf("n=%d: WriteEpoch after failure = %v, want the same error", n, err)
		}
	}
}

// TestWriterTruncateWriter writes through iotest.TruncateWriter, which
// silently drops everything past n bytes, as a full disk might: the reader
// must report every such file as cut short.
func TestWriterTruncateWriter(t *testing.T) {
	h := fileHeader(300)
	es := fileEpochs(2, 300, 6)
	full := fileWrite(t, h, es)
	for n := int64(0); n < int64(len(full)); n++ {
		var buf bytes.Buffer
		w, err := NewWriter(iotest.TruncateWriter(&buf, n), h)
		if err != nil {
			t.Fatal(err)
		}
		for i := range es {
			if err := w.WriteEpoch(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), full[:n]) {
			t.Fatalf("n=%d: output is not a prefix of the full trace", n)
		}
		_, _, err = fileReadAll(bytes.NewReader(buf.Bytes()), "cut.mgt")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("n=%d: err = %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

func TestWriterUseAfterClose(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, fileHeader(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	if err := w.WriteEpoch(&Epoch{Index: 0}); err == nil {
		t.Error("WriteEpoch after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if buf.Len() != n {
		t.Errorf("wrote %d bytes after Close", buf.Len()-n)
	}
}

// TestWriterDoesNotChangeSets checks that encoding leaves the caller's
// bitmaps alone (the writer run-optimises a copy).
func TestWriterDoesNotChangeSets(t *testing.T) {
	w := roaring.New()
	for i := uint32(0); i < 5000; i++ {
		w.Add(i) // a bitmap container, which RunOptimize would make a run
	}
	before, _ := w.ToBytes()
	fileWrite(t, fileHeader(10000), []Epoch{{Index: 0, Written: w}})
	if after, _ := w.ToBytes(); !bytes.Equal(before, after) {
		t.Error("the writer changed the caller's bitmap")
	}
}

// TestClassChangeApply moves pages between classes and checks the
// composition after each change, and that a change record's epoch reads
// back with its change while the next epoch, read into the same Epoch,
// has none.
func TestClassChangeApply(t *testing.T) {
	zero, free, pc := fileRangeSet(90, 100), fileRangeSet(50, 90), fileRangeSet(40, 50)
	allocate := ClassChange{ToAnon: fileRangeSet(50, 60)}
	allocate.Apply(zero, free, pc)
	if free.GetCardinality() != 30 || free.Contains(55) {
		t.Fatalf("after allocating 10 free pages: free = %v", free)
	}
	release := ClassChange{ToFree: fileRangeSet(0, 5, 45, 50), ToZero: roaring.BitmapOf(7)}
	release.Apply(zero, free, pc)
	if free.GetCardinality() != 40 || pc.GetCardinality() != 5 || !zero.Contains(7) || zero.GetCardinality() != 11 {
		t.Fatalf("after freeing: free %d, pagecache %d, zero %d pages", free.GetCardinality(), pc.GetCardinality(), zero.GetCardinality())
	}
	if n := release.Pages(); n != 11 {
		t.Errorf("release moves %d pages, want 11", n)
	}
	if free.Intersects(pc) || free.Intersects(zero) || pc.Intersects(zero) {
		t.Fatal("classes overlap after changes")
	}

	es := []Epoch{{Index: 0, Change: release}, {Index: 1, Written: roaring.BitmapOf(1)}}
	tr, err := NewReader(bytes.NewReader(fileWrite(t, fileHeader(100), es)), "t")
	if err != nil {
		t.Fatal(err)
	}
	var e Epoch
	if err := tr.Next(&e); err != nil || e.Change.Pages() != 11 {
		t.Fatalf("epoch 0: err %v, change of %d pages, want 11", err, e.Change.Pages())
	}
	if err := tr.Next(&e); err != nil || !e.Change.Empty() {
		t.Fatalf("epoch 1: err %v, change of %d pages, want none", err, e.Change.Pages())
	}
}
