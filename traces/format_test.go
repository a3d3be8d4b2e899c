package traces

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Page sets used across the file-format tests. Each takes an explicit
// random source so that every run sees the same sets.

// fileSparseSet returns n pages drawn uniformly from [0, pages).
func fileSparseSet(r *rand.Rand, pages uint64, n int) *roaring.Bitmap {
	b := roaring.New()
	for range n {
		b.Add(uint32(r.Uint64N(pages)))
	}
	return b
}

// fileRangeSet returns the pages of the half-open ranges [lo, hi) given in
// pairs.
func fileRangeSet(bounds ...uint64) *roaring.Bitmap {
	b := roaring.New()
	for i := 0; i+1 < len(bounds); i += 2 {
		b.AddRange(bounds[i], bounds[i+1])
	}
	return b
}

// fileHotColdSet returns hotFrac of the pages of the hot region [lo, hi),
// drawn at random, plus cold pages drawn from all of [0, pages).
func fileHotColdSet(r *rand.Rand, pages, lo, hi uint64, hotFrac float64, cold int) *roaring.Bitmap {
	b := roaring.New()
	for range int(float64(hi-lo) * hotFrac) {
		b.Add(uint32(lo + r.Uint64N(hi-lo)))
	}
	for range cold {
		b.Add(uint32(r.Uint64N(pages)))
	}
	return b
}

// fileSetCase is a page set and the page count it lives in.
type fileSetCase struct {
	name  string
	pages uint64
	set   *roaring.Bitmap
}

// fileSetCases returns a corpus of page sets covering both encodings, every
// roaring container kind and the edges of the page range.
func fileSetCases() []fileSetCase {
	r := rand.New(rand.NewPCG(1, 1))
	const p = 1 << 22
	return []fileSetCase{
		{"empty", p, roaring.New()},
		{"page 0", p, roaring.BitmapOf(0)},
		{"last page", p, roaring.BitmapOf(p - 1)},
		{"last page, odd count", 100_003, roaring.BitmapOf(0, 65535, 65536, 100_002)},
		{"last page of 2^32", MaxPages, roaring.BitmapOf(0, 1<<31, MaxPages-1)},
		{"every page of a small guest", 1000, fileRangeSet(0, 1000)},
		{"chunk edges", p, roaring.BitmapOf(65535, 65536, 131071, 131072)},
		{"sparse 1%", p, fileSparseSet(r, p, p/100)},
		{"sparse 0.01%", p, fileSparseSet(r, p, p/10000)},
		{"dense ranges", p, fileRangeSet(100_000, 100_000+p/8, p/2, p/2+p/8, p-5000, p)},
		{"hot/cold", p, fileHotColdSet(r, p, p/4, p/4+p/20, 0.9, p/1000)},
		{"8% uniform (delta with bitmap containers)", 1 << 20, fileSparseSet(r, 1<<20, 1<<20/12)},
		{"50% uniform (roaring bitmap containers)", 1 << 20, fileSparseSet(r, 1<<20, 1<<20*7/10)},
		{"huge gaps", MaxPages, roaring.BitmapOf(1, 1<<20, 1<<28, 1<<30, 1<<32-2)},
		{"gaps of one to five bytes, mixed", MaxPages, func() *roaring.Bitmap {
			b := roaring.New()
			gaps := []uint32{0, 200, 5, 20_000, 3, 3_000_000, 1, 150, 127, 128, 16383, 16384, 300_000_000}
			v := uint32(0)
			for i := range 3000 {
				v += gaps[(i*7)%len(gaps)] + 1
				b.Add(v)
			}
			return b
		}()},
		{"alternating (run containers lose)", 1 << 18, func() *roaring.Bitmap {
			b := roaring.New()
			for i := uint32(0); i < 1<<18; i += 2 {
				b.Add(i)
			}
			return b
		}()},
	}
}

func TestSetRoundTrip(t *testing.T) {
	var enc setEncoder
	var dec setDecoder
	for _, c := range fileSetCases() {
		t.Run(c.name, func(t *testing.T) {
			b, err := enc.appendSet([]byte{0xAA}, c.set)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, 0xBB) // what follows a set must not be read
			got := roaring.BitmapOf(7, 8, 9)
			n, card, err := dec.decodeSet(b[1:], c.pages, got, "test", &setLayout{})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b)-2 {
				t.Errorf("consumed %d bytes, encoding is %d", n, len(b)-2)
			}
			if card != c.set.GetCardinality() || !got.Equals(c.set) {
				t.Errorf("decoded %d pages, want %d; equal=%v", card, c.set.GetCardinality(), got.Equals(c.set))
			}
			if uint64(n) > 1+maxSetBytes(c.pages) {
				t.Errorf("encoding is %d bytes, above the bound %d", n, 1+maxSetBytes(c.pages))
			}
			if err := got.Validate(); err != nil {
				t.Errorf("decoded bitmap fails roaring's own check: %v", err)
			}
			// The same, with the set ending exactly at the end of the buffer.
			exact := roaring.New()
			if n, _, err := dec.decodeSet(b[1:len(b)-1], c.pages, exact, "test", &setLayout{}); err != nil || n != len(b)-2 || !exact.Equals(c.set) {
				t.Errorf("set at the end of its buffer: consumed %d of %d, err %v, equal %v", n, len(b)-2, err, exact.Equals(c.set))
			}
		})
	}
}

// TestDeltaRoundTripRandom decodes delta encodings of random sets whose
// gaps mix every varint length, in proportions that push the decoder onto
// each of its paths, and compares them with the sets encoded.
func TestDeltaRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	var dec setDecoder
	for n := range 300 {
		// Gap lengths: up to 1, 2, 3 or 5 bytes, mixed in random shares.
		limits := []uint64{1 << 7, 1 << 14, 1 << 21, 1 << 32}
		weights := []int{r.IntN(10), r.IntN(10), r.IntN(3), r.IntN(2)}
		weights[0]++
		s := roaring.New()
		var v uint64
		for range r.IntN(5000) + 1 {
			k := 0
			for x := r.IntN(weights[0] + weights[1] + weights[2] + weights[3]); x >= weights[k]; k++ {
				x -= weights[k]
			}
			v += r.Uint64N(limits[k])
			if v >= MaxPages {
				break
			}
			s.Add(uint32(v))
			v++
		}
		if s.IsEmpty() {
			continue
		}
		pages := uint64(s.Maximum()) + 1 + r.Uint64N(3)
		b := fileDeltaEncode(s)
		got := roaring.New()
		m, card, err := dec.decodeSet(b, pages, got, "t", &setLayout{})
		if err != nil || m != len(b) || card != s.GetCardinality() || !got.Equals(s) {
			t.Fatalf("set %d (%d pages, weights %v): consumed %d of %d, err %v, equal %v", n, s.GetCardinality(), weights, m, len(b), err, got.Equals(s))
		}
		// One page fewer and the last page is out of range.
		if _, _, err := dec.decodeSet(b, uint64(s.Maximum()), roaring.New(), "t", &setLayout{}); !errors.Is(err, ErrFormat) {
			t.Fatalf("set %d: page count below the last page: err %v", n, err)
		}
	}
}

// TestSetEncodingChoice checks that the writer picks the smaller encoding.
func TestSetEncodingChoice(t *testing.T) {
	var enc setEncoder
	for _, c := range fileSetCases() {
		t.Run(c.name, func(t *testing.T) {
			b, err := enc.appendSet(nil, c.set)
			if err != nil {
				t.Fatal(err)
			}
			if c.set.IsEmpty() {
				if !bytes.Equal(b, []byte{encEmpty}) {
					t.Fatalf("empty set encoded as % x", b)
				}
				return
			}
			opt := c.set.Clone()
			opt.RunOptimize()
			rsize := opt.GetSerializedSizeInBytes()
			roaringLen := 1 + uvarintLen(rsize) + int(rsize)
			deltaLen := len(fileDeltaEncode(c.set))
			want := byte(encDelta)
			if deltaLen >= roaringLen {
				want = encRoaring
			}
			if b[0] != want {
				t.Errorf("encoding %d, want %d (delta %d bytes, roaring %d)", b[0], want, deltaLen, roaringLen)
			}
			if len(b) != min(deltaLen, roaringLen) {
				t.Errorf("encoded %d bytes, want %d", len(b), min(deltaLen, roaringLen))
			}
		})
	}
}

// fileDeltaEncode is a plain, independent delta-uvarint encoder.
func fileDeltaEncode(s *roaring.Bitmap) []byte {
	b := binary.AppendUvarint([]byte{encDelta}, s.GetCardinality())
	prev := int64(-1)
	for v := range roaring.Values(s) {
		b = binary.AppendUvarint(b, uint64(int64(v)-prev-1))
		prev = int64(v)
	}
	return b
}

// fileRoaringEncode is the roaring encoding of s as the writer emits it.
func fileRoaringEncode(s *roaring.Bitmap) []byte {
	opt := s.Clone()
	opt.RunOptimize()
	ser, err := opt.ToBytes()
	if err != nil {
		panic(err)
	}
	b := binary.AppendUvarint([]byte{encRoaring}, uint64(len(ser)))
	return append(b, ser...)
}

// fileLE16 returns little-endian uint16 values as bytes.
func fileLE16(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// fileRoaringSet frames a hand-made roaring serialization as an encoded set.
func fileRoaringSet(parts ...[]byte) []byte {
	ser := bytes.Join(parts, nil)
	b := binary.AppendUvarint([]byte{encRoaring}, uint64(len(ser)))
	return append(b, ser...)
}

func TestSetDecodeRejects(t *testing.T) {
	cookieNoRun := binary.LittleEndian.AppendUint32(nil, roaringCookieNoRun)
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	fullBitmap := bytes.Repeat([]byte{0xFF}, roaringBitmapBytes)
	cases := []struct {
		name  string
		pages uint64
		enc   []byte
		want  string // in the error message
	}{
		{"no encoding byte", 10, nil, "before the encoding byte"},
		{"unknown encoding", 10, []byte{3}, "unknown encoding 3"},
		{"delta: no count", 10, []byte{encDelta}, "bad count"},
		{"delta: count beyond bytes", 1000, []byte{encDelta, 5, 1, 0}, "exceeds the 2 bytes left"},
		{"delta: count beyond pages", 2, []byte{encDelta, 3, 0, 0, 0}, "exceeds the page count 2"},
		{"delta: first page beyond", 10, []byte{encDelta, 1, 10}, "page 10 is beyond"},
		{"delta: last page beyond", 10, []byte{encDelta, 2, 5, 4}, "page 10 is beyond"},
		{"delta: gap beyond 2^32", MaxPages, []byte{encDelta, 2, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F}, "gap"},
		{"delta: gap runs out", 1000, []byte{encDelta, 2, 0, 0x80}, "bad gap"},
		{"delta: page passes 2^32 in one chunk", MaxPages, []byte{encDelta, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, "beyond"},
		{"roaring: no length", 10, []byte{encRoaring}, "bad length"},
		{"roaring: length beyond record", 10, []byte{encRoaring, 40, 1, 2}, "runs past"},
		{"roaring: bad cookie", 10, fileRoaringSet(u32(12345), u32(0)), "unknown cookie"},
		{"roaring: too many containers", 10, fileRoaringSet(cookieNoRun, u32(1<<16+1)), "more than 65536"},
		{"roaring: header cut", 1 << 20, fileRoaringSet(cookieNoRun, u32(2), fileLE16(0, 0)), "descriptive header"},
		{"roaring: keys out of order", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(2), fileLE16(1, 0, 0, 0), u32(24), u32(26), fileLE16(5, 5)), "does not follow"},
		{"roaring: bad offset", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 0), u32(99), fileLE16(5)), "offset 99"},
		{"roaring: array not sorted", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 1), u32(16), fileLE16(6, 5)), "not strictly increasing"},
		{"roaring: array repeats", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 1), u32(16), fileLE16(5, 5)), "not strictly increasing"},
		{"roaring: bitmap cardinality wrong", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 5000), u32(16), fullBitmap), "bitmap holds 65536 values, header says 5001"},
		{"roaring: run count zero", 1 << 20,
			fileRoaringSet(fileLE16(roaringCookieRun, 0), []byte{1}, fileLE16(0, 0), fileLE16(0)), "no runs"},
		{"roaring: runs overlap", 1 << 20,
			fileRoaringSet(fileLE16(roaringCookieRun, 0), []byte{1}, fileLE16(0, 9), fileLE16(2, 0, 4, 2, 4)), "overlaps"},
		{"roaring: runs touch", 1 << 20,
			fileRoaringSet(fileLE16(roaringCookieRun, 0), []byte{1}, fileLE16(0, 9), fileLE16(2, 0, 4, 5, 4)), "touches"},
		{"roaring: run past chunk", 1 << 20,
			fileRoaringSet(fileLE16(roaringCookieRun, 0), []byte{1}, fileLE16(0, 9), fileLE16(1, 65530, 9)), "passes the end"},
		{"roaring: run cardinality wrong", 1 << 20,
			fileRoaringSet(fileLE16(roaringCookieRun, 0), []byte{1}, fileLE16(0, 8), fileLE16(1, 0, 9)), "header says 9"},
		{"roaring: trailing bytes", 1 << 20,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 0), u32(16), fileLE16(5), []byte{0}), "after the last container"},
		{"roaring: page beyond count", 5,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(0, 0), u32(16), fileLE16(5)), "page 5 is beyond"},
		{"roaring: chunk beyond count", 1 << 16,
			fileRoaringSet(cookieNoRun, u32(1), fileLE16(1, 0), u32(16), fileLE16(0)), "page 65536 is beyond"},
	}
	var dec setDecoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := dec.decodeSet(c.enc, c.pages, roaring.New(), "test", &setLayout{})
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestCheckRoaringAcceptsRoaring checks the linear validator against the
// library's own serializations, including unoptimised ones.
func TestCheckRoaringAcceptsRoaring(t *testing.T) {
	for _, c := range fileSetCases() {
		for _, optimise := range []bool{false, true} {
			s := c.set.Clone()
			if optimise {
				s.RunOptimize()
			}
			ser, err := s.ToBytes()
			if err != nil {
				t.Fatal(err)
			}
			card, err := checkRoaring(ser, c.pages, &setLayout{})
			if err != nil || card != s.GetCardinality() {
				t.Errorf("%s (optimised %v): card %d, err %v; want %d, nil", c.name, optimise, card, err, s.GetCardinality())
			}
		}
	}
}

// TestDisjoint checks the decoder's overlap test against roaring's
// Intersects on pairs of sets of every container kind, in both encodings,
// disjoint and overlapping.
func TestDisjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const p = 1 << 20
	sets := []*roaring.Bitmap{
		roaring.New(),
		roaring.BitmapOf(0),
		roaring.BitmapOf(p - 1),
		fileSparseSet(r, p, 100),             // arrays
		fileSparseSet(r, p, p/10),            // arrays near the bitmap limit
		fileSparseSet(r, p, p/2),             // bitmaps
		fileRangeSet(0, 64, 65530, 65600),    // runs over a word and a chunk edge
		fileRangeSet(1000, 1063, 200_000, p), // runs
		fileHotColdSet(r, p, 5000, 90000, 0.9, 50),
	}
	// Variants of each set: itself complemented within [0, p), which is
	// disjoint from it, and a second variant sharing one page.
	var dec setDecoder
	layout := func(s *roaring.Bitmap, roaringEnc bool) *setLayout {
		var b []byte
		if roaringEnc {
			b = fileRoaringEncode(s)
		} else {
			b = fileDeltaEncode(s)
		}
		lay := &setLayout{}
		if _, _, err := dec.decodeSet(b, p, roaring.New(), "t", lay); err != nil {
			t.Fatal(err)
		}
		return lay
	}
	n := 0
	for i, a := range sets {
		comp := roaring.Flip(a, 0, p)
		for j, b := range append(sets, comp, roaring.And(comp, sets[(i+3)%len(sets)])) {
			for _, ea := range []bool{false, true} {
				for _, eb := range []bool{false, true} {
					want := !a.Intersects(b)
					if got := dec.disjoint(layout(a, ea), layout(b, eb)); got != want {
						t.Fatalf("sets %d and %d (roaring %v, %v): disjoint %v, want %v", i, j, ea, eb, got, want)
					}
					n++
				}
			}
		}
		for _, pg := range []uint32{0, 63, 64, 65535, p - 1} {
			// Complement plus one page of a: overlapping at exactly pg if a has it.
			c := comp.Clone()
			c.Add(pg)
			want := !a.Intersects(c)
			if got := dec.disjoint(layout(a, true), layout(c, true)); got != want {
				t.Fatalf("set %d vs complement+%d: disjoint %v, want %v", i, pg, got, want)
			}
		}
	}
	for k, w := range dec.probe {
		if w != 0 {
			t.Fatalf("probe bitmap left dirty at word %d", k)
		}
	}
	t.Logf("%d pairs", n)
}

// The worked examples of FORMAT.md. Each fenced block whose info string
// is "hex NAME" lists bytes in hex, with "#" comments; the test checks that
// they are exactly what this package writes.
var fileDocExamples = map[string]func(t *testing.T) []byte{
	"empty": func(t *testing.T) []byte { return fileEncodeSet(t, roaring.New()) },
	"delta": func(t *testing.T) []byte { return fileEncodeSet(t, roaring.BitmapOf(5, 6, 7, 100)) },
	"delta-wide": func(t *testing.T) []byte {
		return fileEncodeSet(t, roaring.BitmapOf(3, 300, 70_000))
	},
	"roaring-run": func(t *testing.T) []byte { return fileEncodeSet(t, fileRangeSet(0, 10000)) },
	"roaring-mixed": func(t *testing.T) []byte {
		s := fileRangeSet(0, 1<<16)
		s.Add(65541)
		s.Add(65636)
		return fileEncodeSet(t, s)
	},
	"file":               func(t *testing.T) []byte { return fileExampleTrace(t) },
	"composition-change": func(t *testing.T) []byte { return fileExampleChange(t) },
}

// fileExampleChange is the composition-change record shown in FORMAT.md:
// the bytes the writer puts before epoch 3's record when epoch 3 allocates
// pages 5-7 and frees page 100.
func fileExampleChange(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, &Header{PageSize: 4096, PageCount: 128, Epoch: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(3) {
		if err := w.WriteEpoch(&Epoch{Index: i}); err != nil {
			t.Fatal(err)
		}
	}
	start := buf.Len()
	e := Epoch{Index: 3, Change: ClassChange{ToAnon: roaring.BitmapOf(5, 6, 7), ToFree: roaring.BitmapOf(100)}}
	if err := w.WriteEpoch(&e); err != nil {
		t.Fatal(err)
	}
	const epochRecord = 1 + 1 + 3 + 4 // type, len, index and two empty sets, CRC
	return buf.Bytes()[start : buf.Len()-epochRecord]
}

// fileEncodeSet returns the writer's encoding of s.
func fileEncodeSet(t *testing.T, s *roaring.Bitmap) []byte {
	var enc setEncoder
	b, err := enc.appendSet(nil, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fileExampleTrace is the complete trace shown in FORMAT.md.
func fileExampleTrace(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, &Header{
		PageSize:   4096,
		PageCount:  16,
		Epoch:      time.Millisecond,
		Provenance: "ex",
		Zero:       roaring.BitmapOf(0, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEpoch(&Epoch{Index: 0, Written: roaring.BitmapOf(3), Read: roaring.BitmapOf(4, 5)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFormatDocExamples(t *testing.T) {
	f, err := os.Open("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string][]byte{}
	var name string
	var cur []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case name == "" && strings.HasPrefix(line, "```hex "):
			name = strings.TrimPrefix(line, "```hex ")
			cur = nil
		case name != "" && strings.HasPrefix(line, "```"):
			if _, dup := blocks[name]; dup {
				t.Errorf("FORMAT.md: example %q appears twice", name)
			}
			blocks[name] = cur
			name = ""
		case name != "":
			if i := strings.Index(line, "#"); i >= 0 {
				line = line[:i]
			}
			b, err := hex.DecodeString(strings.Join(strings.Fields(line), ""))
			if err != nil {
				t.Fatalf("FORMAT.md: example %q: %v", name, err)
			}
			cur = append(cur, b...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for name, gen := range fileDocExamples {
		doc, ok := blocks[name]
		if !ok {
			t.Errorf("FORMAT.md has no example %q", name)
			continue
		}
		if want := gen(t); !bytes.Equal(doc, want) {
			t.Errorf("FORMAT.md example %q:\n doc % x\nwant % x", name, doc, want)
		}
	}
	for name := range blocks {
		if fileDocExamples[name] == nil {
			t.Errorf("FORMAT.md example %q is not checked by this test", name)
		}
	}
}

func TestUvarintLen(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1<<32 - 1, 1 << 63, 1<<64 - 1} {
		if got, want := uvarintLen(v), len(binary.AppendUvarint(nil, v)); got != want {
			t.Errorf("uvarintLen(%d) = %d, want %d", v, got, want)
		}
	}
}

// TestCRCIsCastagnoli pins the checksum: CRC-32C of "123456789" is
// 0xe3069283 (the standard check value).
func TestCRCIsCastagnoli(t *testing.T) {
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xe3069283 {
		t.Fatalf("check value %#x", got)
	}
}

func ExampleFileError() {
	err := &FileError{Name: "trace.mgt", Epoch: 1834, Offset: 0x3f2a10, Err: ErrChecksum}
	fmt.Println(err)
	fmt.Println(errors.Is(err, ErrChecksum))
	// Output:
	// trace.mgt: epoch 1834 at offset 0x3f2a10: checksum mismatch
	// true
}
