package traces

import (
	"encoding/binary"
	"io"
	"slices"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// This file builds the generators' page sets. The random kinds produce
// each epoch's pages sorted and distinct; adding them to a bitmap with
// AddMany grows every container from empty, value by value, since
// Epoch.Reset clears the bitmap. setBuilder instead collects the epoch's
// pages, split into containers as they come, and builds the whole bitmap
// at once: it writes them in roaring's portable serialization format (the
// roaring* constants of format.go), and the bitmap reads that, each
// container sized once and taking its storage from the serialization
// itself.

// pageSink is where the samplers put pages: a *roaring.Bitmap, or a
// *setBuilder that builds one faster. They give AddMany sorted, distinct
// pages that are not in the set yet.
type pageSink interface {
	AddMany(pages []uint32)
	AddRange(lo, hi uint64)
	AndNot(x *roaring.Bitmap)
}

// setBuilder builds one page set (an epoch's Written or Read bitmap) as a
// pageSink. It collects pages as they come, already split into runs of
// pages with the same high 16 bits: the containers, when the pages
// increase (the samplers' way). flush then builds the bitmap in one go if
// it is empty and the pages increased, and otherwise adds them with
// AddMany; so every sequence of calls gives the set that the same calls on
// the bitmap would. The bitmap shares no storage with the builder: what it
// holds was allocated for it alone.
type setBuilder struct {
	bm *roaring.Bitmap

	// The pending pages, in the order they came: run i has the high 16
	// bits keys[i] and the low 16 bits of pages [ends[i-1], ends[i]), in
	// low (little-endian, two bytes a page).
	keys       []uint16
	ends       []int32
	low        []byte
	n          int    // pending pages
	last       uint32 // the last of them
	increasing bool   // each came above the one before

	in    serialInput
	pages []uint32 // scratch: the pending pages, for AddMany
}

// reset starts a set in bm, which must be empty.
func (b *setBuilder) reset(bm *roaring.Bitmap) {
	b.bm = bm
	b.clearPending()
}

func (b *setBuilder) clearPending() {
	b.keys, b.ends, b.low = b.keys[:0], b.ends[:0], b.low[:0]
	b.n, b.increasing = 0, true
}

// AddMany adds pages. They are only collected, in one pass.
func (b *setBuilder) AddMany(pages []uint32) {
	if len(pages) == 0 {
		return
	}
	n0 := b.n
	r := len(b.keys) - 1 // the run of the previous page
	prev, prevKey := int64(b.last), b.last>>16
	if n0 == 0 { // the first page opens run 0
		r, prev, prevKey = 0, int64(pages[0])-1, pages[0]>>16
	}
	// Room for a new run at each page, to write them without a branch.
	keys := slices.Grow(b.keys, len(pages)+1)[:r+1+len(pages)]
	ends := slices.Grow(b.ends, len(pages)+1)[:r+1+len(pages)]
	low := slices.Grow(b.low, 2*len(pages))[:2*(n0+len(pages))]
	out, end := low[2*n0:], int32(n0)
	increasing := b.increasing
	for i, p := range pages {
		if int64(p) <= prev {
			increasing = false
		}
		key := p >> 16
		next := 0 // branch-free: container boundaries are unpredictable
		if key != prevKey {
			next = 1
		}
		r += next
		end++
		keys[r], ends[r] = uint16(key), end
		binary.LittleEndian.PutUint16(out[2*i:], uint16(p))
		prev, prevKey = int64(p), key
	}
	b.keys, b.ends, b.low = keys[:r+1], ends[:r+1], low
	b.n, b.last, b.increasing = n0+len(pages), uint32(prev), increasing
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

// flush puts the pending pages into the bitmap and returns it.
func (b *setBuilder) flush() *roaring.Bitmap {
	if b.n == 0 {
		return b.bm
	}
	if b.increasing && b.bm.IsEmpty() {
		b.in.reset(b.serialize())
		if _, err := b.bm.ReadFrom(&b.in); err != nil {
			// The serialization is ours: failing to read it back is a bug.
			panic("traces: reading back a page set's serialization: " + err.Error())
		}
		b.in.reset(nil) // the bitmap owns it now
	} else {
		b.bm.AddMany(b.pendingPages())
	}
	b.clearPending()
	return b.bm
}

// pendingPages returns the pending pages in the order they came.
func (b *setBuilder) pendingPages() []uint32 {
	pages := slices.Grow(b.pages[:0], b.n)[:b.n]
	b.pages = pages
	start := int32(0)
	for i, end := range b.ends {
		hi := uint32(b.keys[i]) << 16
		for j := start; j < end; j++ {
			pages[j] = hi | uint32(binary.LittleEndian.Uint16(b.low[2*j:]))
		}
		start = end
	}
	return pages
}

// serialize returns the portable serialization of the pending pages
// (increasing) in a new buffer, with array containers of up to 4096 pages
// and bitmap containers above, as AddMany would make them.
func (b *setBuilder) serialize() []byte {
	// Cookie, count, (key, cardinality−1) and offset per container, then
	// the payloads.
	nc := len(b.keys)
	header := 8 + 8*nc
	size, start, arrays := header, int32(0), true
	for _, end := range b.ends {
		if end-start <= roaringArrayMax {
			size += 2 * int(end-start)
		} else {
			size += roaringBitmapBytes
			arrays = false
		}
		start = end
	}
	ser := newSlab((size + 7) / 8)[:size]
	le := binary.LittleEndian
	le.PutUint32(ser[0:], roaringCookieNoRun)
	le.PutUint32(ser[4:], uint32(nc))
	off, start := header, int32(0)
	for i, end := range b.ends {
		card := int(end - start)
		le.PutUint16(ser[8+4*i:], b.keys[i])
		le.PutUint16(ser[10+4*i:], uint16(card-1))
		le.PutUint32(ser[8+4*nc+4*i:], uint32(off))
		switch {
		case arrays: // the payloads are low, copied below
			off += 2 * card
		case card <= roaringArrayMax:
			off += copy(ser[off:], b.low[2*start:2*end])
		default:
			out := ser[off : off+roaringBitmapBytes] // zeroed by newSlab
			for j := start; j < end; j++ {
				lo := le.Uint16(b.low[2*j:])
				out[lo/8] |= 1 << (lo % 8)
			}
			off += roaringBitmapBytes
		}
		start = end
	}
	if arrays {
		copy(ser[header:], b.low)
	}
	return ser
}

// newSlab returns a new zeroed slice of words 8-byte words, as bytes: its
// start is 8-byte aligned.
func newSlab(words int) []byte {
	if words == 0 {
		return nil
	}
	w := make([]uint64, words)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*words)
}

// serialInput reads a serialization to a roaring bitmap. It implements,
// besides io.Reader, the methods of roaring's internal ByteInput interface,
// which ReadFrom uses when its reader has them: the bitmap's containers
// then take the slices Next returns as their storage, without a copy of
// their own. Next hands out pieces of the serialization, which was
// allocated for this bitmap alone, each without spare capacity (a container
// that grows by append moves out); a piece of whole 8-byte words that is
// not 8-byte aligned (a bitmap container after an odd-sized array
// container) is copied to aligned storage first. Should a later roaring
// stop recognizing these methods, ReadFrom falls back to Read and to
// copies of its own.
type serialInput struct {
	data []byte
	off  int
}

// reset starts reading data, which the bitmap being read will own.
func (r *serialInput) reset(data []byte) { r.data, r.off = data, 0 }

// Next returns the next n bytes.
func (r *serialInput) Next(n int) ([]byte, error) {
	if n > len(r.data)-r.off {
		return nil, io.ErrUnexpectedEOF
	}
	out := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	if n%8 == 0 && n > 0 && uintptr(unsafe.Pointer(&out[0]))%8 != 0 {
		out = append(newSlab(n / 8)[:0], out...)
	}
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
