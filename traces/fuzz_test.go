package traces

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// FuzzReader feeds arbitrary bytes to the Reader. Seeds are the traces of
// fileFuzzSeeds and the corpus in testdata/fuzz/FuzzReader. Each input is
// read twice: as given, and with every CRC that its framing allows
// recomputed, so that the fuzzer also reaches the payload decoders, which
// the checksums would otherwise guard.
//
// The Reader must never panic. When it fails, the error must be one it
// documents. When it succeeds, every invariant must hold, and writing what
// it read and reading that back must give the same trace.
func FuzzReader(f *testing.F) {
	for _, seed := range fileFuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fileFuzzRead(t, data)
		if sealed := fileReseal(data); !bytes.Equal(sealed, data) {
			fileFuzzRead(t, sealed)
		}
	})
}

// fileFuzzSeeds returns small valid traces that between them use every
// record type, page-set encoding and container kind.
func fileFuzzSeeds(tb testing.TB) [][]byte {
	small := fileHeader(64)
	mixed := fileRangeSet(0, 1<<16)
	mixed.Add(65541)
	mixed.Add(70000)
	bitmapSet := roaring.New()
	for i := uint32(0); i < 1<<16; i += 3 {
		bitmapSet.Add(i) // a bitmap container, whichever encoding wins
	}
	big := &Header{PageSize: 4096, PageCount: 1 << 17, Epoch: time.Second, Provenance: "fuzz seed",
		Zero: fileRangeSet(100, 200), Free: roaring.BitmapOf(5, 7, 1<<17-1), PageCache: fileRangeSet(70000, 80000)}
	withOptional := fileWrite(tb, small, fileEpochs(1, 64, 2))
	end := len(withOptional) - 38 // the end record
	withOptional = fileCat(withOptional[:end], fileRecord(0x9A, []byte("optional")), withOptional[end:])
	changes := fileEpochs(4, 64, 3)
	changes[1].Change = ClassChange{ToAnon: fileRangeSet(40, 50), ToFree: roaring.BitmapOf(2, 3), ToZero: roaring.BitmapOf(63)}
	changes[2].Change = ClassChange{ToPageCache: fileRangeSet(0, 30)}
	return [][]byte{
		fileWrite(tb, small, changes),
		fileWrite(tb, small, nil),
		fileWrite(tb, small, fileEpochs(1, 64, 3)),
		fileWrite(tb, &Header{PageSize: 512, PageCount: 1, Epoch: 1}, []Epoch{{Index: 0, Written: roaring.BitmapOf(0)}}),
		fileWrite(tb, big, []Epoch{
			{Index: 0, Written: mixed, Read: fileRangeSet(90000, 90010)},
			{Index: 1, Written: roaring.BitmapOf(3, 300, 70000)},
		}),
		fileWrite(tb, big, []Epoch{{Index: 0, Written: bitmapSet}}),
		withOptional,
	}
}

// fileFuzzRead reads data as a trace and checks what the Reader promises.
func fileFuzzRead(t *testing.T, data []byte) {
	h, es, err := fileReadAll(bytes.NewReader(data), "fuzz.mgt")
	if err != nil {
		if !fileKnownError(err) {
			t.Fatalf("undocumented error: %v", err)
		}
		return
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("header read without error is invalid: %v", err)
	}
	for i, e := range es {
		if e.Index != uint64(i) {
			t.Fatalf("epoch %d has index %d", i, e.Index)
		}
		for _, s := range []*roaring.Bitmap{e.Written, e.Read} {
			if err := s.Validate(); err != nil {
				t.Fatalf("epoch %d: invalid bitmap: %v", i, err)
			}
			if !s.IsEmpty() && uint64(s.Maximum()) >= h.PageCount {
				t.Fatalf("epoch %d: page %d beyond page count %d", i, s.Maximum(), h.PageCount)
			}
		}
		if e.Written.Intersects(e.Read) {
			t.Fatalf("epoch %d: written and read overlap", i)
		}
		sets := e.Change.Sets()
		for a, s := range sets {
			if *s == nil {
				continue
			}
			if !(*s).IsEmpty() && uint64((*s).Maximum()) >= h.PageCount {
				t.Fatalf("epoch %d: %s page %d beyond page count %d", i, changeNames[a], (*s).Maximum(), h.PageCount)
			}
			for _, o := range sets[a+1:] {
				if *o != nil && (*s).Intersects(*o) {
					t.Fatalf("epoch %d: composition change sets overlap", i)
				}
			}
		}
	}
	again := fileWrite(t, h, es)
	h2, es2, err := fileReadAll(bytes.NewReader(again), "again.mgt")
	if err != nil {
		t.Fatalf("rewritten trace does not read: %v", err)
	}
	fileCheckTrace(t, h, h2, es, es2)
}

// fileReseal returns a copy of b in which the CRC of the header block and
// of every record is recomputed, as far as the framing can be followed.
func fileReseal(b []byte) []byte {
	b = bytes.Clone(b)
	seal := func(start, lenAt int) int {
		size, k := binary.Uvarint(b[min(lenAt, len(b)):])
		if k <= 0 || size > uint64(len(b)) {
			return -1
		}
		end := lenAt + k + int(size)
		if end+4 > len(b) {
			return -1
		}
		binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[start:end], castagnoli))
		return end + 4
	}
	if len(b) < len(magic)+1 || string(b[:len(magic)]) != magic {
		return b
	}
	for p := seal(0, len(magic)+1); p > 0 && p < len(b); {
		p = seal(p, p+1)
	}
	return b
}

// TestReseal checks the fuzz helper: resealing a valid trace changes
// nothing, and resealing a trace with a changed payload makes it read.
func TestReseal(t *testing.T) {
	for _, seed := range fileFuzzSeeds(t) {
		if !bytes.Equal(fileReseal(seed), seed) {
			t.Fatal("resealing a valid trace changed it")
		}
	}
	hdr := fileHeaderBlock(FormatVersion, fileHeaderPayload(4096, 100, 1e6, "x"))
	file := fileCat(hdr, fileRecord(recEpoch, fileEpochPayload(0, []uint32{1, 2}, nil)), fileEnd(1, 2, 0, 0))
	file[len(hdr)+6] = 7 // the gap after page 1 grows: page 2 becomes page 9
	if _, _, err := fileReadAll(bytes.NewReader(file), "t"); err == nil {
		t.Fatal("changed trace reads without error")
	}
	_, es, err := fileReadAll(bytes.NewReader(fileReseal(file)), "t")
	if err != nil || !es[0].Written.Equals(roaring.BitmapOf(1, 9)) {
		t.Fatalf("resealed trace: %v", err)
	}
}
