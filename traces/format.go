package traces

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
)

// This file holds what the trace Writer and Reader share: the constants of
// the file format, its errors, and the two page-set encodings. FORMAT.md is
// the specification; keep the two in step.

// FormatVersion is the version of the trace file format that this package
// writes and reads (FORMAT.md, "Version history").
const FormatVersion = 1

// MaxProvenance is the longest provenance text, in bytes, that a trace file
// may hold.
const MaxProvenance = 1 << 16

// magic opens every trace file. The first byte is not ASCII, so that a file
// passed through a 7-bit or text-mode channel is caught at once.
const magic = "\x89MGT"

// Record types. Types below recOptional are mandatory: a reader that does not
// know one must stop. Types at or above it are optional: a reader that does
// not know one checks its CRC and skips it.
const (
	recEpoch       = 0x01 // one epoch: index, written set, read set
	recComposition = 0x02 // change of composition at an epoch's start: index, four class sets
	recEnd         = 0x7E // end of trace: epoch count and page-event totals
	recOptional    = 0x80 // first optional type
	recEpochIndex  = 0x80 // reserved: epoch index footer for seeking
)

// endPayloadLen is the fixed payload length of the end record: four
// big-endian uint64 (epochs, written events, read events, index offset).
const endPayloadLen = 32

// Page-set encodings, the first byte of every encoded page set.
const (
	encEmpty   = 0 // no pages; nothing follows
	encDelta   = 1 // count, first page, then gap-1 per page, all uvarint
	encRoaring = 2 // length uvarint, then roaring portable serialization
)

// Roaring portable serialization constants
// (https://github.com/RoaringBitmap/RoaringFormatSpec).
const (
	roaringCookieNoRun = 12346 // uint32: no run containers; uint32 size follows
	roaringCookieRun   = 12347 // uint16: run containers; size-1 in the high half
	roaringNoOffsetMax = 4     // with runs, offsets are present iff size >= this
	roaringArrayMax    = 4096  // largest array container
	roaringBitmapBytes = 8192  // bytes of a bitmap container
)

// castagnoli is the CRC-32C table, built once; it is never written after
// initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors that reading a trace file can wrap. Test for them with errors.Is;
// the error itself is a [*FileError] that names the file, the epoch and the
// byte offset. A file cut short gives a wrapped [io.ErrUnexpectedEOF].
var (
	// ErrFormat reports a malformed file: wrong magic, a field out of range,
	// a page set that breaks an invariant, counts that do not add up.
	ErrFormat = errors.New("malformed trace")
	// ErrChecksum reports a header or record whose CRC-32C does not match.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrVersion reports a format version, or a mandatory record type, that
	// this package does not know: the file needs a newer reader.
	ErrVersion = errors.New("unsupported trace version")
)

// FileError is the error type of the Reader. It says where in which file
// reading failed; Err holds the cause, which wraps ErrFormat, ErrChecksum,
// ErrVersion, io.ErrUnexpectedEOF or the underlying I/O error.
type FileError struct {
	Name   string // the name given to NewReader or the path given to Open
	Epoch  int64  // the epoch being read, or -1 outside epoch records
	Offset int64  // byte offset of the start of the header or record at fault
	Err    error  // the cause
}

func (e *FileError) Error() string {
	if e.Epoch >= 0 {
		return fmt.Sprintf("%s: epoch %d at offset %#x: %v", e.Name, e.Epoch, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: offset %#x: %v", e.Name, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// formatError returns an error wrapping ErrFormat with a description.
func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// maxSetBytes returns the largest encoded size, in bytes and without the
// encoding byte, of a page set over pageCount pages: the roaring
// serialization with every 64 Ki-page chunk as a full bitmap container,
// plus slack for the length prefix and the cookie. The writer never picks
// an encoding larger than the roaring one, so a longer record is malformed.
func maxSetBytes(pageCount uint64) uint64 {
	chunks := (pageCount + 0xFFFF) >> 16
	return 16 + chunks*(roaringBitmapBytes+9)
}

// maxEpochPayload returns the largest valid epoch-record payload for
// pageCount pages: the index and two page sets.
func maxEpochPayload(pageCount uint64) uint64 {
	return 32 + 2*maxSetBytes(pageCount)
}

// maxChangePayload is the largest valid composition-change payload for
// pageCount pages: the index and four sets.
func maxChangePayload(pageCount uint64) uint64 {
	return 32 + 4*maxSetBytes(pageCount)
}

// uvarintLen returns the length of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// setEncoder encodes page sets for the Writer. Its scratch storage is
// reused from call to call.
type setEncoder struct {
	opt  *roaring.Bitmap // run-optimised copy of the set being encoded
	vals []uint32        // batch for ManyIterator
	out  appendWriter
}

// appendSet appends the encoding of s (nil is the empty set) to dst and
// returns the extended slice. It uses the delta encoding when that is
// strictly smaller than the run-optimised roaring serialization, roaring
// otherwise. s is not changed.
func (enc *setEncoder) appendSet(dst []byte, s *roaring.Bitmap) ([]byte, error) {
	if s == nil || s.IsEmpty() {
		return append(dst, encEmpty), nil
	}
	if enc.opt == nil {
		enc.opt = roaring.New()
		enc.vals = make([]uint32, 1024)
	}
	enc.opt.Clear()
	enc.opt.Or(s)
	enc.opt.RunOptimize()
	rsize := enc.opt.GetSerializedSizeInBytes()
	rtotal := 1 + uint64(uvarintLen(rsize)) + rsize
	card := s.GetCardinality()
	start := len(dst)
	// Delta needs at least the encoding byte, the count and one byte a page.
	if 1+uint64(uvarintLen(card))+card < rtotal {
		dst = append(dst, encDelta)
		dst = binary.AppendUvarint(dst, card)
		it := s.ManyIterator()
		var prev uint32
		first := true
		for {
			n := it.NextMany(enc.vals)
			if n == 0 {
				break
			}
			for _, v := range enc.vals[:n] {
				if first {
					dst = binary.AppendUvarint(dst, uint64(v))
					first = false
				} else {
					dst = binary.AppendUvarint(dst, uint64(v-prev-1))
				}
				prev = v
			}
			if uint64(len(dst)-start) >= rtotal {
				break
			}
		}
		if uint64(len(dst)-start) < rtotal {
			return dst, nil
		}
		dst = dst[:start]
	}
	dst = append(dst, encRoaring)
	dst = binary.AppendUvarint(dst, rsize)
	enc.out.b = dst
	n, err := enc.opt.WriteTo(&enc.out)
	dst, enc.out.b = enc.out.b, nil
	if err != nil {
		return dst, err
	}
	if uint64(n) != rsize {
		// Roaring's size and its serialization disagree: a broken invariant
		// of the library, not bad input.
		panic(fmt.Sprintf("traces: roaring wrote %d bytes, announced %d", n, rsize))
	}
	return dst, nil
}

// setDecoder decodes page sets for the Reader. Its scratch storage is reused
// from call to call; the bitmaps it fills never alias it.
type setDecoder struct {
	desc  []uint32                       // per container: key<<16 | cardinality-1
	offs  []uint32                       // per container: offset of its values after the header
	bm    [roaringBitmapBytes / 8]uint64 // scratch of closeContainer
	probe [roaringBitmapBytes / 8]uint64 // all zero between calls to intersect
}

// Container kinds of the roaring portable serialization.
const (
	kindArray  = iota // sorted uint16 values
	kindBitmap        // 65536 bits, little-endian uint64 words
	kindRun           // (start, length-1) uint16 pairs
)

// serialContainer locates one container in a roaring serialization.
type serialContainer struct {
	key  uint16 // high 16 bits of the container's pages
	kind uint8  // kindArray, kindBitmap or kindRun
	n    int32  // values (array) or runs (run)
	off  int32  // offset of the values, bitmap words or runs
}

// setLayout is the roaring serialization of a decoded set and the place of
// each of its containers. The Reader keeps the written set's layout to test
// the read set against it: roaring's own Intersects is a branchy merge that
// cost more than decoding the sets.
type setLayout struct {
	ser   []byte
	conts []serialContainer
}

// decodeSet decodes one encoded page set from the start of b into bm,
// checking that every page is below pageCount, and describes it in lay. It
// returns the number of bytes consumed and the set's cardinality. Errors
// wrap ErrFormat and name the set with what.
func (d *setDecoder) decodeSet(b []byte, pageCount uint64, bm *roaring.Bitmap, what string, lay *setLayout) (int, uint64, error) {
	lay.ser, lay.conts = nil, lay.conts[:0]
	if len(b) == 0 {
		return 0, 0, formatError("%s set: record ends before the encoding byte", what)
	}
	switch b[0] {
	case encEmpty:
		bm.Clear()
		return 1, 0, nil
	case encDelta:
		n, card, err := d.decodeDelta(b[1:], pageCount, bm, lay)
		if err != nil {
			return 0, 0, formatError("%s set (delta): %v", what, err)
		}
		return 1 + n, card, nil
	case encRoaring:
		size, k := binary.Uvarint(b[1:])
		if k <= 0 {
			return 0, 0, formatError("%s set (roaring): bad length", what)
		}
		rest := b[1+k:]
		if size > uint64(len(rest)) {
			return 0, 0, formatError("%s set (roaring): length %d runs past the record's %d remaining bytes", what, size, len(rest))
		}
		ser := rest[:size]
		card, err := checkRoaring(ser, pageCount, lay)
		if err != nil {
			return 0, 0, formatError("%s set (roaring): %v", what, err)
		}
		// The bitmap keeps its buffer: give it its own copy.
		own := make([]byte, len(ser))
		copy(own, ser)
		lay.ser = own
		if card == 0 {
			bm.Clear()
		} else if p, err := bm.FromBuffer(own); err != nil || p != int64(len(own)) {
			return 0, 0, formatError("%s set (roaring): serialization rejected (%d of %d bytes read): %v", what, p, len(own), err)
		}
		return 1 + k + int(size), card, nil
	}
	return 0, 0, formatError("%s set: unknown encoding %d", what, b[0])
}

// decodeDelta decodes a delta-uvarint body (count, first, gap-1...) from b
// into bm. Rather than adding pages one by one, it lays out the roaring
// portable serialization of the set (array and bitmap containers) and loads
// it with FromBuffer, which is several times faster.
func (d *setDecoder) decodeDelta(b []byte, pageCount uint64, bm *roaring.Bitmap, lay *setLayout) (int, uint64, error) {
	count, i := binary.Uvarint(b)
	if i <= 0 {
		return 0, 0, errors.New("bad count")
	}
	if count == 0 {
		bm.Clear()
		return i, 0, nil
	}
	// Every page takes at least one byte: this bounds the allocation below
	// by the record's own size.
	if count > uint64(len(b)-i) {
		return 0, 0, fmt.Errorf("count %d exceeds the %d bytes left in the record", count, len(b)-i)
	}
	if count > pageCount {
		return 0, 0, fmt.Errorf("count %d exceeds the page count %d", count, pageCount)
	}
	cur, k := binary.Uvarint(b[i:])
	if k <= 0 {
		return 0, 0, errors.New("bad first page")
	}
	i += k
	if cur >= pageCount {
		return 0, 0, fmt.Errorf("page %d is beyond the page count %d", cur, pageCount)
	}
	// The values go straight into the buffer that the bitmap will keep,
	// after room for the largest header they can need.
	maxHdr := 8 + 8*int(min(count, (pageCount+0xFFFF)>>16))
	buf := make([]byte, maxHdr+2*int(count))
	data := buf[maxHdr:]
	d.desc = d.desc[:0]
	d.offs = d.offs[:0]
	key := uint32(cur >> 16)
	start := 0
	binary.LittleEndian.PutUint16(data, uint16(cur))
	w := 2
	// Gaps of one byte branch well; a mix of one- and two-byte gaps (a
	// random set of 0.1% to 1.5% of memory) makes the length branch a coin
	// toss, so such sets, recognised from a sample, take a branch-free path
	// for gaps of up to two bytes. The fast loops make no calls, so that
	// their variables stay in registers; they stop at a longer gap, at the
	// start of a new chunk and at the end of the data, which the slow step
	// after them handles, one page at a time.
	mixed := mixedGaps(b[i:min(len(b), i+256)])
	for j := uint64(1); j < count; j++ {
		w0, end := w, w+2*int(count-j) // end stays within data: w <= 2*j
		if mixed {
			i, cur, w = deltaRunMixed(b, i, cur, key, data, w, end)
		} else {
			i, cur, w = deltaRunShort(b, i, cur, key, data, w, end)
		}
		j += uint64(w-w0) / 2
		if j == count {
			break
		}
		gap, k := gapUvarint(b[i:])
		if k <= 0 {
			return 0, 0, fmt.Errorf("bad gap after %d of %d pages", j, count)
		}
		i += k
		// cur stays below 2^33: a gap is below 2^32, and cur is checked
		// against the page count whenever it enters a new chunk.
		cur += gap + 1
		if hi := uint32(cur >> 16); hi != key {
			if cur >= pageCount {
				return 0, 0, fmt.Errorf("page %d is beyond the page count %d", cur, pageCount)
			}
			w = d.closeContainer(data, start, w, key)
			key, start = hi, w
		}
		binary.LittleEndian.PutUint16(data[w:], uint16(cur))
		w += 2
	}
	// Pages increase, so checking the last one checks them all.
	if cur >= pageCount {
		return 0, 0, fmt.Errorf("page %d is beyond the page count %d", cur, pageCount)
	}
	w = d.closeContainer(data, start, w, key)

	nc := len(d.desc)
	hdr := 8 + 8*nc
	ser := buf[maxHdr-hdr : maxHdr+w]
	binary.LittleEndian.PutUint32(ser, roaringCookieNoRun)
	binary.LittleEndian.PutUint32(ser[4:], uint32(nc))
	for c, desc := range d.desc {
		binary.LittleEndian.PutUint16(ser[8+4*c:], uint16(desc>>16))
		binary.LittleEndian.PutUint16(ser[8+4*c+2:], uint16(desc))
		binary.LittleEndian.PutUint32(ser[8+4*nc+4*c:], uint32(hdr)+d.offs[c])
	}
	lay.ser = ser
	for c, desc := range d.desc {
		sc := serialContainer{key: uint16(desc >> 16), kind: kindArray, n: int32(desc&0xFFFF) + 1, off: int32(hdr) + int32(d.offs[c])}
		if sc.n > roaringArrayMax {
			sc.kind = kindBitmap
		}
		lay.conts = append(lay.conts, sc)
	}
	if p, err := bm.FromBuffer(ser); err != nil || p != int64(len(ser)) {
		// Only reachable if this function lays out a wrong serialization.
		panic(fmt.Sprintf("traces: delta decoder built a serialization roaring rejects (%d of %d bytes read): %v", p, len(ser), err))
	}
	return i, count, nil
}

// deltaRunShort decodes one-byte gaps from b[i:] into pages, appending them
// to data[w:end] as uint16 values, for as long as they stay in chunk key.
// cur is the last page. It returns the new i, cur and w. It is kept apart,
// and free of calls, so that its loop runs in registers: inlined into its
// caller, it would not.
//
//go:noinline
func deltaRunShort(b []byte, i int, cur uint64, key uint32, data []byte, w, end int) (int, uint64, int) {
	for w < end && i < len(b) && b[i] < 0x80 {
		next := cur + uint64(b[i]) + 1
		if uint32(next>>16) != key {
			break
		}
		cur = next
		i++
		data[w], data[w+1] = byte(cur), byte(cur>>8)
		w += 2
	}
	return i, cur, w
}

// deltaRunMixed is deltaRunShort for gaps of one or two bytes, decoded
// without a branch on their length.
func deltaRunMixed(b []byte, i int, cur uint64, key uint32, data []byte, w, end int) (int, uint64, int) {
	for w < end && i+1 < len(b) {
		x := uint64(b[i]) | uint64(b[i+1])<<8
		if x&0x8080 == 0x8080 {
			break // three bytes or more
		}
		long := (x >> 7) & 1 // 1 if the gap takes two bytes
		next := cur + (x&0x7f | (x>>1)&(0x7f<<7)&-long) + 1
		if uint32(next>>16) != key {
			break
		}
		cur = next
		i += 1 + int(long)
		data[w], data[w+1] = byte(cur), byte(cur>>8)
		w += 2
	}
	return i, cur, w
}

// mixedGaps reports whether the varints in sample have continuation bytes
// often enough (more than one byte in 12: roughly one gap in 10 longer than
// a byte) for the branch on gap length to mispredict often.
func mixedGaps(sample []byte) bool {
	cont := 0
	for _, c := range sample {
		cont += int(c >> 7)
	}
	return cont*12 > len(sample)
}

// gapUvarint decodes a uvarint below 2^32 from the start of b and returns it
// and its length, or a length of 0 or less if b does not start with one.
func gapUvarint(b []byte) (uint64, int) {
	if len(b) >= 8 {
		// Two to four bytes, decoded without a loop.
		x := binary.LittleEndian.Uint64(b)
		if stop := ^x & 0x80808080; stop != 0 {
			t := bits.TrailingZeros64(stop)
			x &= 1<<(t+1) - 1
			return x&0x7f | (x>>1)&(0x7f<<7) | (x>>2)&(0x7f<<14) | (x>>3)&(0x7f<<21), (t + 1) >> 3
		}
	}
	v, k := binary.Uvarint(b)
	if v >= MaxPages {
		return 0, -1
	}
	return v, k
}

// closeContainer ends the container of chunk key whose uint16 values are
// data[start:w]: it records the container's descriptor and, when the
// container holds more than roaringArrayMax values, rewrites them in place as
// a bitmap container (which is then smaller). It returns the new end of data.
func (d *setDecoder) closeContainer(data []byte, start, w int, key uint32) int {
	card := (w - start) / 2
	d.desc = append(d.desc, key<<16|uint32(card-1)&0xFFFF)
	d.offs = append(d.offs, uint32(start))
	if card <= roaringArrayMax {
		return w
	}
	clear(d.bm[:])
	for p := start; p < w; p += 2 {
		lo := binary.LittleEndian.Uint16(data[p:])
		d.bm[lo>>6] |= 1 << (lo & 63)
	}
	for k, word := range d.bm {
		binary.LittleEndian.PutUint64(data[start+8*k:], word)
	}
	return start + roaringBitmapBytes
}

// checkRoaring checks that b is exactly one valid roaring portable
// serialization of a set of pages below pageCount, and returns the set's
// cardinality. It appends the place of each container to lay.conts. It
// does in linear time what Bitmap.Validate does after
// loading (whose run-container check is quadratic in the number of runs),
// and more: exact length, container offsets, stated cardinalities, and the
// page bound.
func checkRoaring(b []byte, pageCount uint64, lay *setLayout) (uint64, error) {
	if len(b) < 4 {
		return 0, errors.New("shorter than a cookie")
	}
	cookie := binary.LittleEndian.Uint32(b)
	var size int
	var isRun []byte
	p := 4
	switch {
	case cookie&0xFFFF == roaringCookieRun:
		size = int(cookie>>16) + 1
		n := (size + 7) / 8
		if len(b)-p < n {
			return 0, errors.New("run bitmap runs past the end")
		}
		isRun = b[p : p+n]
		p += n
	case cookie == roaringCookieNoRun:
		if len(b) < 8 {
			return 0, errors.New("container count runs past the end")
		}
		s := binary.LittleEndian.Uint32(b[4:])
		if s > 1<<16 {
			return 0, fmt.Errorf("%d containers, more than 65536", s)
		}
		size = int(s)
		p = 8
	default:
		return 0, fmt.Errorf("unknown cookie %#x", cookie)
	}
	if len(b)-p < 4*size {
		return 0, errors.New("descriptive header runs past the end")
	}
	desc := b[p : p+4*size]
	p += 4 * size
	var offs []byte
	if isRun == nil || size >= roaringNoOffsetMax {
		if len(b)-p < 4*size {
			return 0, errors.New("offset header runs past the end")
		}
		offs = b[p : p+4*size]
		p += 4 * size
	}
	var card, last uint64
	prevKey := -1
	for c := 0; c < size; c++ {
		key := int(binary.LittleEndian.Uint16(desc[4*c:]))
		n := int(binary.LittleEndian.Uint16(desc[4*c+2:])) + 1
		if key <= prevKey {
			return 0, fmt.Errorf("container %d: key %d does not follow key %d", c, key, prevKey)
		}
		prevKey = key
		if offs != nil && int(binary.LittleEndian.Uint32(offs[4*c:])) != p {
			return 0, fmt.Errorf("container %d: offset %d, but it starts at %d", c, binary.LittleEndian.Uint32(offs[4*c:]), p)
		}
		var hi int // largest value in the container
		sc := serialContainer{key: uint16(key), kind: kindArray, n: int32(n), off: int32(p)}
		switch {
		case isRun != nil && isRun[c/8]&(1<<(c%8)) != 0:
			if len(b)-p < 2 {
				return 0, fmt.Errorf("container %d: run count runs past the end", c)
			}
			nr := int(binary.LittleEndian.Uint16(b[p:]))
			p += 2
			sc.kind, sc.n, sc.off = kindRun, int32(nr), int32(p)
			if nr == 0 {
				return 0, fmt.Errorf("container %d: no runs", c)
			}
			if len(b)-p < 4*nr {
				return 0, fmt.Errorf("container %d: runs run past the end", c)
			}
			sum, end := 0, -2
			for r := 0; r < nr; r++ {
				s := int(binary.LittleEndian.Uint16(b[p:]))
				l := int(binary.LittleEndian.Uint16(b[p+2:]))
				p += 4
				if s+l > 0xFFFF {
					return 0, fmt.Errorf("container %d: run %d passes the end of the chunk", c, r)
				}
				if s <= end+1 {
					return 0, fmt.Errorf("container %d: run %d overlaps or touches the one before", c, r)
				}
				end = s + l
				sum += l + 1
			}
			if sum != n {
				return 0, fmt.Errorf("container %d: runs hold %d values, header says %d", c, sum, n)
			}
			hi = end
		case n > roaringArrayMax:
			sc.kind = kindBitmap
			if len(b)-p < roaringBitmapBytes {
				return 0, fmt.Errorf("container %d: bitmap runs past the end", c)
			}
			ones := 0
			hi = -1
			for k := 0; k < roaringBitmapBytes/8; k++ {
				word := binary.LittleEndian.Uint64(b[p+8*k:])
				ones += bits.OnesCount64(word)
				if word != 0 {
					hi = 64*k + 63 - bits.LeadingZeros64(word)
				}
			}
			p += roaringBitmapBytes
			if ones != n {
				return 0, fmt.Errorf("container %d: bitmap holds %d values, header says %d", c, ones, n)
			}
		default:
			if len(b)-p < 2*n {
				return 0, fmt.Errorf("container %d: array runs past the end", c)
			}
			prev := -1
			for k := 0; k < n; k++ {
				v := int(binary.LittleEndian.Uint16(b[p+2*k:]))
				if v <= prev {
					return 0, fmt.Errorf("container %d: array not strictly increasing", c)
				}
				prev = v
			}
			p += 2 * n
			hi = prev
		}
		card += uint64(n)
		last = uint64(key)<<16 | uint64(hi)
		lay.conts = append(lay.conts, sc)
	}
	if p != len(b) {
		return 0, fmt.Errorf("%d bytes after the last container", len(b)-p)
	}
	if card > 0 && last >= pageCount {
		return 0, fmt.Errorf("page %d is beyond the page count %d", last, pageCount)
	}
	return card, nil
}

// disjoint reports whether the sets laid out in a and b have no page in
// common. It compares the containers of chunks present in both; its cost is
// linear in their sizes.
func (d *setDecoder) disjoint(a, b *setLayout) bool {
	i, j := 0, 0
	for i < len(a.conts) && j < len(b.conts) {
		ca, cb := a.conts[i], b.conts[j]
		switch {
		case ca.key < cb.key:
			i++
		case ca.key > cb.key:
			j++
		default:
			if d.intersect(a.ser, ca, b.ser, cb) {
				return false
			}
			i++
			j++
		}
	}
	return true
}

// intersect reports whether two containers of the same chunk share a value.
// It sets the bits of one in d.probe, tests the other against them, and
// clears d.probe again.
func (d *setDecoder) intersect(sa []byte, ca serialContainer, sb []byte, cb serialContainer) bool {
	// Load the container that is cheaper to load and to clear: an array
	// (the smaller one if both are arrays), else a run container.
	if cb.kind < ca.kind || (cb.kind == ca.kind && cb.kind == kindArray && cb.n < ca.n) {
		sa, ca, sb, cb = sb, cb, sa, ca
	}
	bm := &d.probe
	a := containerBytes(sa, ca)
	switch ca.kind {
	case kindArray:
		setArrayBits(bm, a)
	case kindBitmap:
		for k := range bm {
			bm[k] = binary.LittleEndian.Uint64(a[8*k:])
		}
	case kindRun:
		for k := 0; k+3 < len(a); k += 4 {
			s := int(binary.LittleEndian.Uint16(a[k:]))
			l := int(binary.LittleEndian.Uint16(a[k+2:]))
			setBits(bm, s, s+l)
		}
	}
	hit := false
	bb := containerBytes(sb, cb)
	switch cb.kind {
	case kindArray:
		hit = anyArrayBit(bm, bb)
	case kindBitmap:
		var and uint64
		for k := range bm {
			and |= bm[k] & binary.LittleEndian.Uint64(bb[8*k:])
		}
		hit = and != 0
	case kindRun:
		for k := 0; k+3 < len(bb) && !hit; k += 4 {
			s := int(binary.LittleEndian.Uint16(bb[k:]))
			l := int(binary.LittleEndian.Uint16(bb[k+2:]))
			hit = anyBits(bm, s, s+l)
		}
	}
	if ca.kind == kindArray {
		clearArrayBits(bm, a)
	} else {
		clear(bm[:])
	}
	return hit
}

// containerBytes returns the bytes of container c in the serialization ser:
// its values, bitmap words or runs.
func containerBytes(ser []byte, c serialContainer) []byte {
	size := int(c.n) * 2 // array
	switch c.kind {
	case kindBitmap:
		size = roaringBitmapBytes
	case kindRun:
		size = int(c.n) * 4
	}
	return ser[c.off : int(c.off)+size]
}

// setArrayBits sets in bm the bit of each little-endian uint16 in a.
func setArrayBits(bm *[roaringBitmapBytes / 8]uint64, a []byte) {
	for k := 0; k+1 < len(a); k += 2 {
		v := uint16(a[k]) | uint16(a[k+1])<<8
		bm[v>>6] |= 1 << (v & 63)
	}
}

// clearArrayBits clears the words of bm that setArrayBits(bm, a) touched.
func clearArrayBits(bm *[roaringBitmapBytes / 8]uint64, a []byte) {
	for k := 0; k+1 < len(a); k += 2 {
		v := uint16(a[k]) | uint16(a[k+1])<<8
		bm[v>>6] = 0
	}
}

// anyArrayBit reports whether bm has the bit of any little-endian uint16
// in a set. It does not branch on the bits.
func anyArrayBit(bm *[roaringBitmapBytes / 8]uint64, a []byte) bool {
	var hit uint64
	for k := 0; k+1 < len(a); k += 2 {
		v := uint16(a[k]) | uint16(a[k+1])<<8
		hit |= bm[v>>6] >> (v & 63)
	}
	return hit&1 != 0
}

// setBits sets bits lo through hi, inclusive, of bm.
func setBits(bm *[roaringBitmapBytes / 8]uint64, lo, hi int) {
	for w := lo >> 6; w <= hi>>6; w++ {
		bm[w] |= wordMask(w, lo, hi)
	}
}

// anyBits reports whether any of bits lo through hi, inclusive, of bm is set.
func anyBits(bm *[roaringBitmapBytes / 8]uint64, lo, hi int) bool {
	for w := lo >> 6; w <= hi>>6; w++ {
		if bm[w]&wordMask(w, lo, hi) != 0 {
			return true
		}
	}
	return false
}

// wordMask returns the bits of word w that lie in [lo, hi], inclusive.
func wordMask(w, lo, hi int) uint64 {
	m := ^uint64(0)
	if lo > w<<6 {
		m <<= uint(lo & 63)
	}
	if hi < w<<6+63 {
		m &= ^uint64(0) >> uint(63-hi&63)
	}
	return m
}
