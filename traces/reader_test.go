package traces

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// fileReadAll reads a whole trace and returns its header and epochs; the
// error is nil only if the trace ends with a valid end record.
func fileReadAll(r io.Reader, name string) (*Header, []Epoch, error) {
	tr, err := NewReader(r, name)
	if err != nil {
		return nil, nil, err
	}
	var es []Epoch
	for {
		var e Epoch
		err := tr.Next(&e)
		if err == io.EOF {
			return tr.Header(), es, nil
		}
		if err != nil {
			return tr.Header(), es, err
		}
		es = append(es, e)
	}
}

// fileSameSet reports whether a and b hold the same pages; nil is empty.
func fileSameSet(a, b *roaring.Bitmap) bool {
	if a == nil {
		a = roaring.New()
	}
	if b == nil {
		b = roaring.New()
	}
	return a.Equals(b)
}

// fileCheckTrace fails t unless the header and epochs read match those
// written.
func fileCheckTrace(t *testing.T, wantH, gotH *Header, want, got []Epoch) {
	t.Helper()
	if gotH.PageSize != wantH.PageSize || gotH.PageCount != wantH.PageCount ||
		gotH.Epoch != wantH.Epoch || gotH.Provenance != wantH.Provenance {
		t.Errorf("header = %+v, want %+v", *gotH, *wantH)
	}
	for _, s := range []struct {
		name      string
		want, got *roaring.Bitmap
	}{{"zero", wantH.Zero, gotH.Zero}, {"free", wantH.Free, gotH.Free}, {"pagecache", wantH.PageCache, gotH.PageCache}} {
		if s.got == nil {
			t.Errorf("header %s set is nil; the reader always fills it", s.name)
		}
		if !fileSameSet(s.want, s.got) {
			t.Errorf("header %s set differs", s.name)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d epochs, wrote %d", len(got), len(want))
	}
	for i := range want {
		wc, gc := want[i].Change.Sets(), got[i].Change.Sets()
		for k := range wc {
			if !fileSameSet(*wc[k], *gc[k]) {
				t.Fatalf("epoch %d: composition change %s set differs: got %v, want %v", i, changeNames[k], *gc[k], *wc[k])
			}
		}
		if got[i].Index != want[i].Index || !fileSameSet(got[i].Written, want[i].Written) || !fileSameSet(got[i].Read, want[i].Read) {
			t.Fatalf("epoch %d differs: got index %d, %d written, %d read; want index %d, %d written, %d read", i,
				got[i].Index, got[i].Written.GetCardinality(), got[i].Read.GetCardinality(),
				want[i].Index, pagesIn(want[i].Written), pagesIn(want[i].Read))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		h      *Header
		epochs []Epoch
	}{
		{"no epochs", fileHeader(100), nil},
		{"one page, nil sets", &Header{PageSize: 512, PageCount: 1, Epoch: 1}, []Epoch{{Index: 0}}},
		{"one page written", &Header{PageSize: 512, PageCount: 1, Epoch: 1, Provenance: "π ≈ 3"},
			[]Epoch{{Index: 0, Written: roaring.BitmapOf(0)}, {Index: 1, Read: roaring.BitmapOf(0)}}},
		{"small random", fileHeader(1000), fileEpochs(1, 1000, 50)},
		{"every set case", fileHeader(MaxPages), func() []Epoch {
			var es []Epoch
			for i, c := range fileSetCases() {
				es = append(es, Epoch{Index: uint64(i), Written: c.set, Read: roaring.BitmapOf(0xFFFFFFFF)})
				es[i].Read.AndNot(c.set)
			}
			return es
		}()},
		{"composition changes", fileHeader(1000), func() []Epoch {
			es := fileEpochs(2, 1000, 6)
			es[0].Change = ClassChange{ToAnon: fileRangeSet(900, 950), ToFree: roaring.BitmapOf(3, 5)}
			es[2].Change = ClassChange{ToZero: roaring.BitmapOf(999), ToPageCache: fileRangeSet(0, 1000)}
			es[2].Change.ToPageCache.Remove(999)
			es[5].Change = ClassChange{ToFree: fileRangeSet(10, 20, 500, 700)}
			return es
		}()},
		{"last page everywhere", &Header{PageSize: 1 << 21, PageCount: 1 << 20, Epoch: 5e9,
			Zero: roaring.BitmapOf(1<<20 - 1), Free: fileRangeSet(0, 1<<19), PageCache: fileRangeSet(600_000, 600_100, 700_000, 700_001)},
			[]Epoch{{Index: 0, Written: roaring.BitmapOf(1<<20 - 1), Read: roaring.BitmapOf(1<<20 - 2)},
				{Index: 1, Written: fileRangeSet(1<<19, 1<<20), Read: fileRangeSet(0, 1<<19)}}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"OneByteReader", iotest.OneByteReader},
		{"HalfReader", iotest.HalfReader},
		{"DataErrReader", iotest.DataErrReader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := fileWrite(t, c.h, c.epochs)
			for _, rd := range readers {
				t.Run(rd.name, func(t *testing.T) {
					h, es, err := fileReadAll(rd.wrap(bytes.NewReader(b)), "t.mgt")
					if err != nil {
						t.Fatal(err)
					}
					fileCheckTrace(t, c.h, h, c.epochs, es)
				})
			}
		})
	}
}

// TestReaderReusesBitmaps checks that Next fills the caller's bitmaps and
// that what it fills does not share storage with the reader: an epoch read
// earlier keeps its pages while later ones are read.
func TestReaderReusesBitmaps(t *testing.T) {
	es := fileEpochs(5, 1<<16, 20)
	b := fileWrite(t, fileHeader(1<<16), es)
	tr, err := NewReader(bytes.NewReader(b), "t")
	if err != nil {
		t.Fatal(err)
	}
	var first Epoch
	if err := tr.Next(&first); err != nil {
		t.Fatal(err)
	}
	var e Epoch
	e.Reset()
	w, r := e.Written, e.Read
	for i := 1; i < len(es); i++ {
		if err := tr.Next(&e); err != nil {
			t.Fatal(err)
		}
		if e.Written != w || e.Read != r {
			t.Fatal("Next replaced the caller's bitmaps")
		}
		if !fileSameSet(e.Written, es[i].Written) || !fileSameSet(e.Read, es[i].Read) {
			t.Fatalf("epoch %d differs", i)
		}
		// Changing a filled set must not disturb the reader.
		e.Written.Add(0)
		e.Written.Flip(0, 1<<16)
	}
	if !fileSameSet(first.Written, es[0].Written) || !fileSameSet(first.Read, es[0].Read) {
		t.Error("epoch 0 changed while later epochs were read")
	}
	if err := tr.Next(&e); err != io.EOF {
		t.Fatalf("after the last epoch: %v, want io.EOF", err)
	}
	if err := tr.Next(&e); err != io.EOF {
		t.Fatalf("after io.EOF: %v, want io.EOF again", err)
	}
}

// fileRecord returns one record: type, length, payload and CRC-32C.
func fileRecord(typ byte, payload []byte) []byte {
	b := binary.AppendUvarint([]byte{typ}, uint64(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// fileHeaderBlock returns magic, version and a header block around payload.
func fileHeaderBlock(version byte, payload []byte) []byte {
	b := append([]byte(magic), version)
	b = binary.AppendUvarint(b, uint64(len(payload)))
	b = append(b, payload...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// fileHeaderPayload returns a header payload with empty class sets.
func fileHeaderPayload(pageSize, pages, epochNs uint64, prov string) []byte {
	p := binary.AppendUvarint(nil, pageSize)
	p = binary.AppendUvarint(p, pages)
	p = binary.AppendUvarint(p, epochNs)
	p = binary.AppendUvarint(p, uint64(len(prov)))
	p = append(p, prov...)
	return append(p, encEmpty, encEmpty, encEmpty)
}

// fileEnd returns an end record.
func fileEnd(epochs, written, read, index uint64) []byte {
	var p []byte
	for _, v := range []uint64{epochs, written, read, index} {
		p = binary.BigEndian.AppendUint64(p, v)
	}
	return fileRecord(recEnd, p)
}

// fileEpochPayload returns an epoch payload with the sets given as page
// lists (nil for empty), delta-encoded.
func fileEpochPayload(index uint64, written, read []uint32) []byte {
	p := binary.AppendUvarint(nil, index)
	for _, s := range [][]uint32{written, read} {
		if len(s) == 0 {
			p = append(p, encEmpty)
			continue
		}
		p = append(p, fileDeltaEncode(roaring.BitmapOf(s...))...)
	}
	return p
}

// fileChangePayload returns a composition-change payload with the sets
// to_anon, to_zero, to_free, to_pagecache given as page lists (missing or
// nil for empty), delta-encoded.
func fileChangePayload(index uint64, sets ...[]uint32) []byte {
	p := binary.AppendUvarint(nil, index)
	for i := range 4 {
		if i >= len(sets) || len(sets[i]) == 0 {
			p = append(p, encEmpty)
			continue
		}
		p = append(p, fileDeltaEncode(roaring.BitmapOf(sets[i]...))...)
	}
	return p
}

// fileCat concatenates byte slices.
func fileCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// fileFlip returns a copy of b with byte i inverted.
func fileFlip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xFF
	return c
}

func TestReaderRejects(t *testing.T) {
	hdr := fileHeaderBlock(FormatVersion, fileHeaderPayload(4096, 100, 1e6, "x"))
	ep0 := fileRecord(recEpoch, fileEpochPayload(0, []uint32{1, 2}, []uint32{3}))
	ep1 := fileRecord(recEpoch, fileEpochPayload(1, nil, []uint32{99}))
	end := fileEnd(2, 2, 2, 0)
	good := fileCat(hdr, ep0, ep1, end)
	hdrLen := len(hdr)
	ch0 := fileRecord(recComposition, fileChangePayload(0, []uint32{1}, nil, []uint32{7}))
	fields := fileHeaderPayload(4096, 100, 1, "")
	fields = fields[:len(fields)-3] // without the class sets

	cases := []struct {
		name  string
		file  []byte
		is    error  // errors.Is target
		epoch int64  // epoch in the FileError
		off   int    // offset in the FileError
		msg   string // in the message
	}{
		{"empty file", nil, io.ErrUnexpectedEOF, -1, 0, "header cut short"},
		{"wrong magic", fileCat([]byte("\x7fELF\x02\x01\x01"), good[7:]), ErrFormat, -1, 0, `not a migsim trace: magic "\x7fELF"`},
		{"text file", []byte("epoch,page\n"), ErrFormat, -1, 0, "not a migsim trace"},
		{"short wrong magic", []byte("M"), ErrFormat, -1, 0, "not a migsim trace"},
		{"future version", fileHeaderBlock(2, fileHeaderPayload(4096, 100, 1e6, "x")), ErrVersion, -1, 0, "file has version 2, this reader reads version 1"},
		{"version 254", fileFlip(good, 4), ErrVersion, -1, 0, "version 254"},
		{"flipped header byte", fileFlip(good, 8), ErrChecksum, -1, 0, "header: checksum mismatch"},
		{"flipped header CRC", fileFlip(good, hdrLen-1), ErrChecksum, -1, 0, "header: checksum mismatch"},
		{"flipped epoch byte", fileFlip(good, hdrLen+len(ep0)+3), ErrChecksum, 1, hdrLen + len(ep0), "epoch 1 at offset 0x" + fmt.Sprintf("%x", hdrLen+len(ep0)) + ": checksum mismatch"},
		{"flipped epoch CRC", fileFlip(good, hdrLen+len(ep0)-2), ErrChecksum, 0, hdrLen, "checksum mismatch"},
		{"flipped end byte", fileFlip(good, len(good)-10), ErrChecksum, -1, len(good) - len(end), "end record: checksum mismatch"},
		{"header page size", fileHeaderBlock(1, fileHeaderPayload(4000, 100, 1e6, "")), ErrFormat, -1, 0, "not a power of two"},
		{"header page size > 32 bits", fileHeaderBlock(1, fileHeaderPayload(1<<33, 100, 1e6, "")), ErrFormat, -1, 0, "does not fit 32 bits"},
		{"header page count 0", fileHeaderBlock(1, fileHeaderPayload(4096, 0, 1e6, "")), ErrFormat, -1, 0, "page count 0"},
		{"header page count > 2^32", fileHeaderBlock(1, fileHeaderPayload(4096, 1<<32+1, 1e6, "")), ErrFormat, -1, 0, "page count 4294967297"},
		{"header epoch 0", fileHeaderBlock(1, fileHeaderPayload(4096, 100, 0, "")), ErrFormat, -1, 0, "epoch length"},
		{"header epoch > int64", fileHeaderBlock(1, fileHeaderPayload(4096, 100, 1<<63, "")), ErrFormat, -1, 0, "does not fit an int64"},
		{"header provenance not UTF-8", fileHeaderBlock(1, fileHeaderPayload(4096, 100, 1, "\xff")), ErrFormat, -1, 0, "not UTF-8"},
		{"header provenance too long", fileHeaderBlock(1, fileHeaderPayload(4096, 100, 1, strings.Repeat("x", MaxProvenance+1))), ErrFormat, -1, 0, "provenance length 65537"},
		{"header trailing byte", fileHeaderBlock(1, append(fileHeaderPayload(4096, 100, 1, ""), 0)), ErrFormat, -1, 0, "1 bytes after the pagecache set"},
		{"header sets overlap", fileHeaderBlock(1, fileCat(fields,
			fileDeltaEncode(roaring.BitmapOf(5)), fileDeltaEncode(roaring.BitmapOf(5)), []byte{encEmpty})), ErrFormat, -1, 0, "zero and free sets overlap"},
		{"header set beyond count", fileHeaderBlock(1, fileCat(fields,
			fileDeltaEncode(roaring.BitmapOf(100)), []byte{encEmpty, encEmpty})), ErrFormat, -1, 0, "zero set (delta): page 100 is beyond"},
		{"header cut", good[:hdrLen-1], io.ErrUnexpectedEOF, -1, 0, "header cut short"},
		{"no end record", fileCat(hdr, ep0, ep1), io.ErrUnexpectedEOF, -1, len(good) - len(end), "file ends after 2 epochs without an end record"},
		{"epoch cut", fileCat(hdr, ep0, ep1[:4]), io.ErrUnexpectedEOF, 1, hdrLen + len(ep0), "epoch record cut short"},
		{"epoch index skips", fileCat(hdr, ep0, fileRecord(recEpoch, fileEpochPayload(2, nil, nil)), end), ErrFormat, 1, hdrLen + len(ep0), "record holds epoch 2 where epoch 1 is due"},
		{"written beyond count", fileCat(hdr, fileRecord(recEpoch, fileEpochPayload(0, []uint32{100}, nil)), end), ErrFormat, 0, hdrLen, "written set (delta): page 100 is beyond the page count 100"},
		{"read beyond count", fileCat(hdr, fileRecord(recEpoch, fileEpochPayload(0, nil, []uint32{7, 1000})), end), ErrFormat, 0, hdrLen, "read set (delta): page 1000 is beyond the page count 100"},
		{"written and read overlap", fileCat(hdr, fileRecord(recEpoch, fileEpochPayload(0, []uint32{1, 5}, []uint32{5})), end), ErrFormat, 0, hdrLen, "written and read sets overlap"},
		{"epoch trailing byte", fileCat(hdr, fileRecord(recEpoch, append(fileEpochPayload(0, nil, nil), 0)), end), ErrFormat, 0, hdrLen, "1 bytes after the read set"},
		{"epoch missing read set", fileCat(hdr, fileRecord(recEpoch, fileEpochPayload(0, nil, nil)[:2]), end), ErrFormat, 0, hdrLen, "read set: record ends before the encoding byte"},
		{"epoch too long for page count", fileCat(hdr, []byte{recEpoch}, binary.AppendUvarint(nil, maxEpochPayload(100)+1)), ErrFormat, 0, hdrLen, "larger than the"},
		{"unknown mandatory record", fileCat(hdr, ep0, fileRecord(0x05, []byte("future")), ep1, end), ErrVersion, -1, hdrLen + len(ep0), "mandatory record type 0x05 is unknown"},
		{"composition change empty payload", fileCat(hdr, fileRecord(recComposition, nil), ep0, ep1, end), ErrFormat, 0, hdrLen, "epoch 0 at offset 0x" + fmt.Sprintf("%x", hdrLen) + ": malformed trace: bad epoch index in composition change"},
		{"composition change for another epoch", fileCat(hdr, ep0, fileRecord(recComposition, fileChangePayload(0, []uint32{1})), ep1, end), ErrFormat, 1, hdrLen + len(ep0), "composition change for epoch 0 where epoch 1 is due"},
		{"composition change twice", fileCat(hdr, ch0, ch0, ep0, ep1, end), ErrFormat, 0, hdrLen + len(ch0), "second composition change for epoch 0 (the first is at offset 0x" + fmt.Sprintf("%x", hdrLen)},
		{"composition change before the end", fileCat(hdr, ep0, ep1, fileRecord(recComposition, fileChangePayload(2, []uint32{1})), end), ErrFormat, 2, hdrLen + len(ep0) + len(ep1), "composition change for epoch 2 is not followed by its epoch record"},
		{"composition change cut", fileCat(hdr, ch0[:len(ch0)-3]), io.ErrUnexpectedEOF, 0, hdrLen, "composition change cut short"},
		{"composition change flipped byte", fileCat(hdr, fileFlip(ch0, 3), ep0, ep1, end), ErrChecksum, 0, hdrLen, "epoch 0 at offset 0x" + fmt.Sprintf("%x", hdrLen) + ": composition change: checksum mismatch"},
		{"composition change beyond count", fileCat(hdr, fileRecord(recComposition, fileChangePayload(0, nil, nil, []uint32{100})), ep0, ep1, end), ErrFormat, 0, hdrLen, "to_free set (delta): page 100 is beyond the page count 100"},
		{"composition change sets overlap", fileCat(hdr, fileRecord(recComposition, fileChangePayload(0, []uint32{4, 5}, nil, nil, []uint32{5})), ep0, ep1, end), ErrFormat, 0, hdrLen, "to_anon and to_pagecache sets overlap"},
		{"composition change trailing byte", fileCat(hdr, fileRecord(recComposition, append(fileChangePayload(0, []uint32{1}), 0)), ep0, ep1, end), ErrFormat, 0, hdrLen, "1 bytes after the to_pagecache set"},
		{"composition change missing set", fileCat(hdr, fileRecord(recComposition, fileChangePayload(0, []uint32{1})[:4]), ep0, ep1, end), ErrFormat, 0, hdrLen, "to_zero set: record ends before the encoding byte"},
		{"composition change too long", fileCat(hdr, []byte{recComposition}, binary.AppendUvarint(nil, maxChangePayload(100)+1)), ErrFormat, 0, hdrLen, "composition change of"},
		{"optional record with bad CRC", fileCat(hdr, fileFlip(fileRecord(0x91, []byte("note")), 3), ep0, ep1, end), ErrChecksum, -1, hdrLen, "record type 0x91: checksum mismatch"},
		{"optional record cut", fileCat(hdr, fileRecord(0x91, []byte("note"))[:5]), io.ErrUnexpectedEOF, -1, hdrLen, "record type 0x91 cut short"},
		{"end counts epochs wrong", fileCat(hdr, ep0, ep1, fileEnd(3, 2, 2, 0)), ErrFormat, -1, len(good) - len(end), "end record counts 3 epochs, the file holds 2"},
		{"end counts written wrong", fileCat(hdr, ep0, ep1, fileEnd(2, 1, 2, 0)), ErrFormat, -1, len(good) - len(end), "1 written-page events, the epochs hold 2"},
		{"end counts read wrong", fileCat(hdr, ep0, ep1, fileEnd(2, 2, 3, 0)), ErrFormat, -1, len(good) - len(end), "3 read-page events, the epochs hold 2"},
		{"end index points nowhere", fileCat(hdr, ep0, ep1, fileEnd(2, 2, 2, 12)), ErrFormat, -1, len(good) - len(end), "epoch index at offset 0xc"},
		{"end record too long", fileCat(hdr, ep0, ep1, fileRecord(recEnd, make([]byte, 33))), ErrFormat, -1, len(good) - len(end), "end record of 33 bytes, not 32"},
		{"end record too short", fileCat(hdr, ep0, ep1, fileRecord(recEnd, make([]byte, 31))), ErrFormat, -1, len(good) - len(end), "end record of 31 bytes, not 32"},
		{"data after end", fileCat(good, []byte{0}), ErrFormat, -1, len(good) - len(end), "data after the end record"},
		{"two traces back to back", fileCat(good, good), ErrFormat, -1, len(good) - len(end), "data after the end record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := fileReadAll(bytes.NewReader(c.file), "bad.mgt")
			if !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, c.is)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *FileError", err, err)
			}
			if fe.Name != "bad.mgt" || fe.Epoch != c.epoch || fe.Offset != int64(c.off) {
				t.Errorf("FileError{Name %q, Epoch %d, Offset %#x}, want {%q, %d, %#x}", fe.Name, fe.Epoch, fe.Offset, "bad.mgt", c.epoch, c.off)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "bad.mgt: ") || !strings.Contains(msg, c.msg) {
				t.Errorf("message %q, want it to start with the name and mention %q", msg, c.msg)
			}
		})
	}
	if _, _, err := fileReadAll(bytes.NewReader(good), "good.mgt"); err != nil {
		t.Fatalf("the uncorrupted file fails: %v", err)
	}
}

// TestReaderSkipsOptionalRecords checks that records of types 0x80 and up
// are checked and skipped wherever they appear, and that the end record may
// point at an epoch-index record.
func TestReaderSkipsOptionalRecords(t *testing.T) {
	hdr := fileHeaderBlock(FormatVersion, fileHeaderPayload(4096, 100, 1e6, ""))
	ep0 := fileRecord(recEpoch, fileEpochPayload(0, []uint32{1}, nil))
	opt := fileRecord(0xC3, bytes.Repeat([]byte{0xEE}, 100_000))
	idx := fileRecord(recEpochIndex, []byte{1, 2, 3})
	idxOff := len(hdr) + len(opt) + len(ep0) + len(opt)
	file := fileCat(hdr, opt, ep0, opt, idx, fileEnd(1, 1, 0, uint64(idxOff)))
	for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
		_, es, err := fileReadAll(wrap(bytes.NewReader(file)), "opt.mgt")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || !es[0].Written.Equals(roaring.BitmapOf(1)) {
			t.Fatalf("read %d epochs", len(es))
		}
	}
}

// TestReaderEveryTruncation cuts a small trace at every byte offset: each
// prefix must fail with io.ErrUnexpectedEOF, never succeed or panic.
func TestReaderEveryTruncation(t *testing.T) {
	file := fileWrite(t, fileHeader(200), fileEpochs(3, 200, 8))
	for n := 0; n < len(file); n++ {
		_, es, err := fileReadAll(bytes.NewReader(file[:n]), "cut.mgt")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d of %d: err = %v (after %d epochs), want io.ErrUnexpectedEOF", n, len(file), err, len(es))
		}
		if !strings.HasPrefix(err.Error(), "cut.mgt: ") {
			t.Fatalf("cut at %d: message %q does not name the file", n, err)
		}
	}
}

// TestReaderEveryFlip inverts each byte of a small trace in turn: each
// result must fail with one of the documented errors.
func TestReaderEveryFlip(t *testing.T) {
	file := fileWrite(t, fileHeader(200), fileEpochs(4, 200, 8))
	for i := range file {
		_, _, err := fileReadAll(bytes.NewReader(fileFlip(file, i)), "flip.mgt")
		if !fileKnownError(err) {
			t.Fatalf("flip at %d: err = %v, want ErrChecksum, ErrFormat, ErrVersion or io.ErrUnexpectedEOF", i, err)
		}
	}
}

// fileKnownError reports whether err is one of the failures a Reader
// documents for bad input.
func fileKnownError(err error) bool {
	var fe *FileError
	return errors.As(err, &fe) && (errors.Is(err, ErrChecksum) || errors.Is(err, ErrFormat) ||
		errors.Is(err, ErrVersion) || errors.Is(err, io.ErrUnexpectedEOF))
}

// TestReaderIOError checks that an I/O error is reported, wrapped, with the
// offset where it struck, and is returned again by later calls.
func TestReaderIOError(t *testing.T) {
	file := fileWrite(t, fileHeader(200), fileEpochs(5, 200, 8))
	boom := errors.New("device gone")
	for _, n := range []int{0, 3, 20, len(file) / 2, len(file) - 1} {
		r := io.MultiReader(bytes.NewReader(file[:n]), iotest.ErrReader(boom))
		_, _, err := fileReadAll(r, "io.mgt")
		if !errors.Is(err, boom) {
			t.Fatalf("n=%d: err = %v, want it to wrap %v", n, err, boom)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("n=%d: an I/O error reported as truncation: %v", n, err)
		}
	}
	tr, err := NewReader(io.MultiReader(bytes.NewReader(file[:len(file)-3]), iotest.ErrReader(boom)), "io.mgt")
	if err != nil {
		t.Fatal(err)
	}
	var e Epoch
	for err == nil {
		err = tr.Next(&e)
	}
	if again := tr.Next(&e); again != err {
		t.Fatalf("second call returned %v, first %v", again, err)
	}
}

// TestReaderHostileLength checks that a length field far beyond the data
// present does not allocate memory for the claimed length.
func TestReaderHostileLength(t *testing.T) {
	// The largest epoch record a 1 TiB guest allows, about 67 MB, claimed by
	// a record of 10 bytes.
	hdr := fileHeaderBlock(FormatVersion, fileHeaderPayload(4096, 1<<28, 1e6, ""))
	epoch := fileCat(hdr, []byte{recEpoch}, binary.AppendUvarint(nil, maxEpochPayload(1<<28)), make([]byte, 10))
	// A header claiming a terabyte.
	header := fileCat([]byte(magic), []byte{FormatVersion}, binary.AppendUvarint(nil, 1<<40), make([]byte, 10))
	for _, c := range []struct {
		name string
		file []byte
	}{{"epoch", epoch}, {"header", header}} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := fileReadAll(bytes.NewReader(c.file), "big.mgt")
			runtime.ReadMemStats(&after)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", alloc, len(c.file))
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.mgt")
	h := fileHeader(5000)
	es := fileEpochs(6, 5000, 30)
	if err := os.WriteFile(path, fileWrite(t, h, es), 0o644); err != nil {
		t.Fatal(err)
	}
	open := OpenFile(path)
	for pass := range 2 { // an Opener replays the trace from the start
		src, err := open()
		if err != nil {
			t.Fatal(err)
		}
		var got []Epoch
		for {
			var e Epoch
			err := src.Next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			got = append(got, e)
		}
		fileCheckTrace(t, h, src.Header(), es, got)
		if err := Close(src); err != nil {
			t.Fatalf("pass %d: Close: %v", pass, err)
		}
		if err := src.Next(&Epoch{}); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Next after Close: %v, want os.ErrClosed", err)
		}
	}

	if _, err := Open(filepath.Join(dir, "missing.mgt")); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.mgt") {
		t.Errorf("Open of a missing file: %v", err)
	}
	if src, err := OpenFile(filepath.Join(dir, "missing.mgt"))(); err == nil || src != nil {
		t.Errorf("Opener of a missing file: %v, %v; want a nil Source and an error", src, err)
	}
	bad := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(bad, []byte("not a trace at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("Open of a text file: %v", err)
	}
}

// TestReaderStreams checks that Next returns an epoch as soon as its record
// has arrived, without reading ahead: the writer holds epoch 1 back until
// the reader has epoch 0. The guest is 1 TiB (2^28 pages of 4 KiB).
func TestReaderStreams(t *testing.T) {
	const pages = 1 << 28
	h := &Header{PageSize: 4096, PageCount: pages, Epoch: 1e8, Zero: fileRangeSet(0, pages/2)}
	es := []Epoch{
		{Index: 0, Written: fileSparseSet(fileRand(1), pages, 10_000)},
		{Index: 1, Written: fileRangeSet(pages-1000, pages)},
	}
	pr, pw := io.Pipe()
	ack := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		werr <- func() error {
			w, err := NewWriter(pw, h)
			if err != nil {
				return err
			}
			if err := w.WriteEpoch(&es[0]); err != nil {
				return err
			}
			<-ack
			if err := w.WriteEpoch(&es[1]); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			return pw.Close()
		}()
	}()
	got := make(chan Epoch)
	rerr := make(chan error, 1)
	go func() {
		rerr <- func() error {
			tr, err := NewReader(pr, "pipe")
			if err != nil {
				return err
			}
			for {
				var e Epoch
				if err := tr.Next(&e); err != nil {
					if err == io.EOF {
						close(got)
						return nil
					}
					return err
				}
				got <- e
			}
		}()
	}()
	timeout := time.After(20 * time.Second)
	for i := range es {
		select {
		case e := <-got:
			if !fileSameSet(e.Written, es[i].Written) {
				t.Fatalf("epoch %d differs", i)
			}
		case err := <-rerr:
			t.Fatalf("reader stopped before epoch %d: %v", i, err)
		case <-timeout:
			t.Fatalf("epoch %d did not arrive: the reader waits for data beyond it", i)
		}
		if i == 0 {
			close(ack)
		}
	}
	if err := <-rerr; err != nil {
		t.Fatal(err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}

// fileRand returns a deterministic random source.
func fileRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 3)) }
