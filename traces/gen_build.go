package traces

import (
	"encoding/binary"
	"io"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// This file builds the generators' page sets. The random kinds produce
// each epoch's pages sorted and distinct; adding them to a bitmap one by
// one (AddMany) grows every container from empty, value by value, since
// Epoch.Reset clears the bitmap. setBuilder instead collects the epoch's
// pages and builds the whole bitmap at once: it writes the pages in
// roaring's portable serialization format (the roaring* constants of
// format.go) into a reused buffer and has the bitmap read it, with every
// container sized once.

// pageSink is where the samplers put pages: a *roaring.Bitmap, or a
// *setBuilder that builds one faster. They give AddMany sorted, distinct
// pages that are not in the set yet.
type pageSink interface {
	AddMany(pages []uint32)
	AddRange(lo, hi uint64)
	AndNot(x *roaring.Bitmap)
}

// setBuilder builds one page set (an epoch's Written or Read bitmap) as a
// pageSink. Batches of pages that come in increasing order, the samplers'
// way, are collected and built in one pass by flush; anything else goes to
// the bitmap directly, so every sequence of calls gives the set that the
// same calls on the bitmap would. Its buffers are reused from epoch to
// epoch; the bitmap never shares them.
type setBuilder struct {
	bm      *roaring.Bitmap
	pending []uint32 // sorted, distinct, not yet in bm
	ser     []byte   // serialization scratch
	ends    []int    // scratch: end index in pending of each container
	in      serialInput
}

// reset starts a set in bm, which must be empty.
func (b *setBuilder) reset(bm *roaring.Bitmap) {
	b.bm = bm
	b.pending = b.pending[:0]
}

// AddMany adds pages. A batch that is strictly increasing and starts above
// the pages pending is only collected.
func (b *setBuilder) AddMany(pages []uint32) {
	if len(pages) == 0 {
		return
	}
	if !strictlyIncreasing(pages) {
		b.flush()
		b.bm.AddMany(pages)
		return
	}
	if n := len(b.pending); n > 0 && b.pending[n-1] >= pages[0] {
		b.flush()
	}
	b.pending = append(b.pending, pages...)
}

func strictlyIncreasing(a []uint32) bool {
	for i := 1; i < len(a); i++ {
		if a[i-1] >= a[i] {
			return false
		}
	}
	return true
}

// AddRange adds the pages [lo, hi).
func (b *setBuilder) AddRange(lo, hi uint64) {
	b.flush()
	b.bm.AddRange(lo, hi)
}

// AndNot removes the pages of x from the set.
func (b *setBuilder) AndNot(x *roaring.Bitmap) {
	b.flush()
	b.bm.AndNot(x)
}

// flush puts the pending pages into the bitmap and returns it. While the
// bitmap is empty it builds it from their serialization; otherwise it adds
// them with AddMany.
func (b *setBuilder) flush() *roaring.Bitmap {
	if len(b.pending) == 0 {
		return b.bm
	}
	if b.bm.IsEmpty() {
		slabWords := b.serialize(b.pending)
		b.in.reset(b.ser, slabWords)
		if _, err := b.bm.ReadFrom(&b.in); err != nil {
			// The serialization is ours: failing to read it back is a bug.
			panic("traces: reading back a page set's serialization: " + err.Error())
		}
		b.in.reset(nil, 0)
	} else {
		b.bm.AddMany(b.pending)
	}
	b.pending = b.pending[:0]
	return b.bm
}

// serialize writes the portable serialization of pages (sorted, distinct,
// not empty) to b.ser, with array containers of up to 4096 pages and
// bitmap containers above, as AddMany would make them. It returns the
// number of 8-byte words serialInput needs to copy out the header and the
// containers.
func (b *setBuilder) serialize(pages []uint32) (slabWords int) {
	// Find the containers: pages with the same high 16 bits.
	ends := b.ends[:0]
	for i := 1; i < len(pages); i++ {
		if pages[i]>>16 != pages[i-1]>>16 {
			ends = append(ends, i)
		}
	}
	ends = append(ends, len(pages))
	b.ends = ends
	nc := len(ends)

	// Cookie, count, (key, cardinality−1) and offset per container, then
	// the payloads.
	header := 8 + 8*nc
	size := header
	slabWords = (4*nc + 7) / 8 // the (key, cardinality−1) table
	start := 0
	for _, end := range ends {
		n := roaringBitmapBytes
		if card := end - start; card <= roaringArrayMax {
			n = 2 * card
		}
		size += n
		slabWords += (n + 7) / 8
		start = end
	}
	if cap(b.ser) < size {
		b.ser = make([]byte, size, size+size/4)
	}
	ser := b.ser[:size]
	le := binary.LittleEndian
	le.PutUint32(ser[0:], roaringCookieNoRun)
	le.PutUint32(ser[4:], uint32(nc))
	off, start := header, 0
	for i, end := range ends {
		card := end - start
		le.PutUint16(ser[8+4*i:], uint16(pages[start]>>16))
		le.PutUint16(ser[10+4*i:], uint16(card-1))
		le.PutUint32(ser[8+4*nc+4*i:], uint32(off))
		if card <= roaringArrayMax {
			out := ser[off : off+2*card]
			for j, p := range pages[start:end] {
				le.PutUint16(out[2*j:], uint16(p))
			}
			off += 2 * card
		} else {
			out := ser[off : off+roaringBitmapBytes]
			clear(out)
			for _, p := range pages[start:end] {
				lo := uint16(p)
				out[lo/8] |= 1 << (lo % 8)
			}
			off += roaringBitmapBytes
		}
		start = end
	}
	b.ser = ser
	return slabWords
}

// serialInput reads a serialization to a roaring bitmap. It implements,
// besides io.Reader, the methods of roaring's internal ByteInput interface,
// which ReadFrom uses when its reader has them: the bitmap's containers
// then take the slices Next returns as their storage, without a copy of
// their own. Next copies each slice out of the (reused) serialization into
// a slab allocated for this read alone and never written again, so the
// bitmap shares nothing with the next epoch; each slice starts on an 8-byte
// boundary, as the words of a bitmap container need, and has no spare
// capacity, so that a container growing by append moves out. Should a
// later roaring stop recognizing these methods, ReadFrom falls back to
// Read, and to copies of its own.
type serialInput struct {
	data []byte
	off  int
	slab []byte
}

// reset starts reading data, with a fresh slab of slabWords 8-byte words.
func (r *serialInput) reset(data []byte, slabWords int) {
	r.data, r.off = data, 0
	r.slab = newSlab(slabWords)
}

// newSlab returns a new zeroed slice of words 8-byte words, as bytes.
func newSlab(words int) []byte {
	if words == 0 {
		return nil
	}
	w := make([]uint64, words)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*words)
}

// Next returns the next n bytes, copied to storage of their own.
func (r *serialInput) Next(n int) ([]byte, error) {
	if n > len(r.data)-r.off {
		return nil, io.ErrUnexpectedEOF
	}
	aligned := (n + 7) &^ 7
	if aligned > len(r.slab) {
		// More than serialize planned for: never with today's roaring.
		r.slab = newSlab(aligned / 8)
	}
	out := r.slab[:n:n]
	r.slab = r.slab[aligned:]
	r.off += copy(out, r.data[r.off:])
	return out, nil
}

// NextReturnsSafeSlice reports that the slices of Next belong to the
// caller.
func (r *serialInput) NextReturnsSafeSlice() bool { return true }

// ReadUInt32 reads a little-endian uint32.
func (r *serialInput) ReadUInt32() (uint32, error) {
	if len(r.data)-r.off < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	v := binary.LittleEndian.Uint32(r.data[r.off:])
	r.off += 4
	return v, nil
}

// ReadUInt16 reads a little-endian uint16.
func (r *serialInput) ReadUInt16() (uint16, error) {
	if len(r.data)-r.off < 2 {
		return 0, io.ErrUnexpectedEOF
	}
	v := binary.LittleEndian.Uint16(r.data[r.off:])
	r.off += 2
	return v, nil
}

// GetReadBytes returns the number of bytes read so far.
func (r *serialInput) GetReadBytes() int64 { return int64(r.off) }

// SkipBytes skips n bytes.
func (r *serialInput) SkipBytes(n int) error {
	if n > len(r.data)-r.off {
		return io.ErrUnexpectedEOF
	}
	r.off += n
	return nil
}

// Read implements io.Reader.
func (r *serialInput) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}
