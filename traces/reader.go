package traces

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
)

// Reader reads a trace file written by [Writer], in the format of
// FORMAT.md, one epoch at a time: it never holds more than one record in
// memory, so a trace of any length streams. It implements [Source].
//
// Every record is checked as it is read: its CRC-32C, then every invariant of
// its contents (pages below the page count, written and read sets disjoint,
// epochs in order, composition changes followed by their epoch). An
// epoch's composition change (record 0x02) is returned in e.Change; e.Change
// is emptied for an epoch without one. Next returns io.EOF only after an end record whose
// counts match the epochs read, so a truncated file is always reported.
// Errors are [*FileError] values that wrap [ErrFormat], [ErrChecksum],
// [ErrVersion], [io.ErrUnexpectedEOF] or the I/O error; after an error every
// later call to Next returns it again. A Reader is not safe for concurrent
// use.
type Reader struct {
	name   string
	br     *bufio.Reader
	closer io.Closer // the file opened by Open, or nil
	hdr    Header

	off        int64  // offset of the next unread byte
	next       uint64 // index of the next epoch
	written    uint64 // written-page events so far
	read       uint64 // read-page events so far
	maxPayload uint64 // largest valid epoch payload
	lastIndex  int64  // offset of the last epoch-index record seen, or 0
	changeAt   int64  // offset of the composition change of epoch next, or -1

	buf []byte // payload of the current record
	dec setDecoder
	lay [2]setLayout // of the written and read sets being decoded
	err error        // sticky: io.EOF after the end, or the first error
}

var _ Source = (*Reader)(nil)

// readerBufferSize is the buffer NewReader puts in front of readers that are
// not a *bufio.Reader already.
const readerBufferSize = 256 << 10

// NewReader reads and checks the header of a trace from r and returns a
// Reader positioned at the first epoch. name identifies the trace in error
// messages (a file name, usually). NewReader buffers r unless it is a
// *bufio.Reader, so it may read past the end of the trace.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, readerBufferSize)
	}
	tr := &Reader{name: name, br: br, changeAt: -1}
	if err := tr.readHeader(); err != nil {
		return nil, err
	}
	return tr, nil
}

// Open opens the trace file at path and reads its header. Close the Reader
// to close the file. Errors name the file by path.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	tr, err := NewReader(bufio.NewReaderSize(f, readerBufferSize), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	tr.closer = f
	return tr, nil
}

// OpenFile returns an Opener that opens the trace file at path afresh on
// every call.
func OpenFile(path string) Opener {
	return func() (Source, error) {
		tr, err := Open(path)
		if err != nil {
			return nil, err
		}
		return tr, nil
	}
}

// Close closes the file opened by Open; for a Reader from NewReader it only
// stops the Reader. Later calls to Next return an error.
func (tr *Reader) Close() error {
	tr.err = fmt.Errorf("%s: %w", tr.name, os.ErrClosed)
	if tr.closer == nil {
		return nil
	}
	c := tr.closer
	tr.closer = nil
	return c.Close()
}

// Header returns the trace's header. The caller must not change it.
func (tr *Reader) Header() *Header { return &tr.hdr }

// fail returns a FileError for the header or record at offset off; epoch is
// -1 outside epoch records.
func (tr *Reader) fail(epoch int64, off int64, err error) error {
	return &FileError{Name: tr.name, Epoch: epoch, Offset: off, Err: err}
}

// readError describes a failure to read the header or record named what:
// the end of the input becomes a wrapped io.ErrUnexpectedEOF, a malformed
// varint stays ErrFormat, anything else is an I/O error.
func (tr *Reader) readError(what string, err error) error {
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s cut short: file ends at offset %#x: %w", what, tr.off, io.ErrUnexpectedEOF)
	case errors.Is(err, ErrFormat):
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// readFull reads exactly len(p) bytes.
func (tr *Reader) readFull(p []byte) error {
	n, err := io.ReadFull(tr.br, p)
	tr.off += int64(n)
	return err
}

// readUvarint reads a uvarint and appends its bytes to raw, for the CRC.
func (tr *Reader) readUvarint(raw []byte) (uint64, []byte, error) {
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		c, err := tr.br.ReadByte()
		if err != nil {
			return 0, raw, err
		}
		tr.off++
		raw = append(raw, c)
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, raw, nil
		}
	}
	return 0, raw, formatError("uvarint overflows 64 bits")
}

// readPayload reads an n-byte payload into tr.buf. The buffer grows only as
// data arrives, so a corrupt length on a short file cannot allocate much
// more than the file holds.
func (tr *Reader) readPayload(n uint64) ([]byte, error) {
	if uint64(cap(tr.buf)) >= n {
		b := tr.buf[:n]
		return b, tr.readFull(b)
	}
	b := tr.buf[:0]
	for uint64(len(b)) < n {
		chunk := min(n-uint64(len(b)), uint64(max(len(b), 1<<20)))
		have := len(b)
		if uint64(cap(b)-have) < chunk {
			nb := make([]byte, have, have+int(chunk))
			copy(nb, b)
			b = nb
		}
		b = b[:have+int(chunk)]
		tr.buf = b
		if err := tr.readFull(b[have:]); err != nil {
			return nil, err
		}
	}
	tr.buf = b
	return b, nil
}

// checkCRC reads the 4-byte big-endian CRC-32C that ends a block and
// compares it with sum.
func (tr *Reader) checkCRC(what string, sum uint32) error {
	var stored [4]byte
	if err := tr.readFull(stored[:]); err != nil {
		return tr.readError(what, err)
	}
	if s := binary.BigEndian.Uint32(stored[:]); s != sum {
		err := fmt.Errorf("%w: stored %#08x, computed %#08x", ErrChecksum, s, sum)
		if what != "epoch record" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return err
	}
	return nil
}

// readHeader reads magic, version and header block, and fills tr.hdr.
func (tr *Reader) readHeader() error {
	var head [len(magic) + 1]byte
	n, err := io.ReadFull(tr.br, head[:])
	tr.off += int64(n)
	if string(head[:min(n, len(magic))]) != magic[:min(n, len(magic))] {
		return tr.fail(-1, 0, formatError("not a migsim trace: magic %q, want %q", head[:min(n, len(magic))], magic))
	}
	if err != nil {
		return tr.fail(-1, 0, tr.readError("header", err))
	}
	if v := head[len(magic)]; v != FormatVersion {
		return tr.fail(-1, 0, fmt.Errorf("%w: file has version %d, this reader reads version %d", ErrVersion, v, FormatVersion))
	}
	size, raw, err := tr.readUvarint(head[:])
	if err != nil {
		return tr.fail(-1, 0, tr.readError("header", err))
	}
	p, err := tr.readPayload(size)
	if err != nil {
		return tr.fail(-1, 0, tr.readError("header", err))
	}
	sum := crc32.Update(crc32.Update(0, castagnoli, raw), castagnoli, p)
	if err := tr.checkCRC("header", sum); err != nil {
		return tr.fail(-1, 0, err)
	}
	if err := tr.decodeHeader(p); err != nil {
		return tr.fail(-1, 0, fmt.Errorf("header: %w", err))
	}
	tr.maxPayload = maxEpochPayload(tr.hdr.PageCount)
	tr.buf = tr.buf[:0]
	return nil
}

// decodeHeader decodes the header payload p into tr.hdr.
func (tr *Reader) decodeHeader(p []byte) error {
	var fields [4]uint64 // page size, page count, epoch ns, provenance length
	names := [...]string{"page size", "page count", "epoch length", "provenance length"}
	i := 0
	for f := range fields {
		v, k := binary.Uvarint(p[i:])
		if k <= 0 {
			return formatError("bad %s", names[f])
		}
		fields[f] = v
		i += k
	}
	h := &tr.hdr
	if fields[0] > math.MaxUint32 {
		return formatError("page size %d does not fit 32 bits", fields[0])
	}
	h.PageSize = uint32(fields[0])
	h.PageCount = fields[1]
	if fields[2] > math.MaxInt64 {
		return formatError("epoch length %d ns does not fit an int64", fields[2])
	}
	h.Epoch = time.Duration(fields[2])
	if fields[3] > MaxProvenance || fields[3] > uint64(len(p)-i) {
		return formatError("provenance length %d exceeds %d or the %d bytes left", fields[3], MaxProvenance, len(p)-i)
	}
	prov := p[i : i+int(fields[3])]
	if !utf8.Valid(prov) {
		return formatError("provenance is not UTF-8")
	}
	h.Provenance = string(prov)
	i += len(prov)
	if h.PageCount == 0 || h.PageCount > MaxPages {
		// Checked again by Validate, but the page sets need it first.
		return formatError("page count %d is not in 1..%d", h.PageCount, uint64(MaxPages))
	}
	for _, s := range [...]struct {
		name string
		bm   **roaring.Bitmap
	}{{"zero", &h.Zero}, {"free", &h.Free}, {"pagecache", &h.PageCache}} {
		*s.bm = roaring.New()
		n, _, err := tr.dec.decodeSet(p[i:], h.PageCount, *s.bm, s.name, &tr.lay[0])
		if err != nil {
			return err
		}
		i += n
	}
	if i != len(p) {
		return formatError("%d bytes after the pagecache set", len(p)-i)
	}
	if err := h.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return nil
}

// Next reads the next epoch into e, reusing e's bitmaps, and returns nil;
// after the last epoch it checks the end record and returns io.EOF. On
// error, e's contents are unspecified. Bitmaps that Next fills do not share
// storage with the Reader.
func (tr *Reader) Next(e *Epoch) error {
	if tr.err != nil {
		return tr.err
	}
	e.Change.clear()
	for {
		done, err := tr.nextRecord(e)
		if err != nil {
			tr.err = err
			return err
		}
		if done {
			return nil
		}
	}
}

// nextRecord reads one record. It returns true after reading an epoch into e,
// false after skipping an optional record, and io.EOF after a valid end
// record.
func (tr *Reader) nextRecord(e *Epoch) (bool, error) {
	off := tr.off
	epoch := int64(-1)
	typ, err := tr.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("file ends after %d epochs without an end record: %w", tr.next, io.ErrUnexpectedEOF)
		} else {
			err = fmt.Errorf("reading record type: %w", err)
		}
		return false, tr.fail(epoch, off, err)
	}
	tr.off++
	if typ == recEpoch || typ == recComposition {
		epoch = int64(tr.next)
	}
	var what string // names the record in errors
	switch typ {
	case recEpoch:
		what = "epoch record"
	case recComposition:
		what = "composition change"
	case recEnd:
		what = "end record"
	default:
		what = fmt.Sprintf("record type 0x%02x", typ)
	}

	var rawBuf [1 + binary.MaxVarintLen64]byte
	raw := append(rawBuf[:0], typ)
	size, raw, err := tr.readUvarint(raw)
	if err != nil {
		return false, tr.fail(epoch, off, tr.readError(what, err))
	}
	sum := crc32.Update(0, castagnoli, raw)

	if typ != recEpoch && typ != recEnd && typ != recComposition {
		// Unknown: stream it through the CRC without holding it, then decide.
		h := crc32.New(castagnoli)
		h.Write(raw)
		n, err := io.CopyN(h, tr.br, int64(min(size, math.MaxInt64)))
		tr.off += n
		if err != nil {
			return false, tr.fail(epoch, off, tr.readError(what, err))
		}
		if err := tr.checkCRC(what, h.Sum32()); err != nil {
			return false, tr.fail(epoch, off, err)
		}
		if typ < recOptional {
			return false, tr.fail(epoch, off, fmt.Errorf("%w: mandatory record type 0x%02x is unknown to this reader (format version %d)", ErrVersion, typ, FormatVersion))
		}
		if typ == recEpochIndex {
			tr.lastIndex = off
		}
		return false, nil
	}

	if typ == recEnd && size != endPayloadLen {
		return false, tr.fail(epoch, off, formatError("end record of %d bytes, not %d", size, endPayloadLen))
	}
	if typ == recEpoch && size > tr.maxPayload {
		return false, tr.fail(epoch, off, formatError("epoch record of %d bytes, larger than the %d possible for %d pages", size, tr.maxPayload, tr.hdr.PageCount))
	}
	if typ == recComposition {
		if tr.changeAt >= 0 {
			return false, tr.fail(epoch, off, formatError("second composition change for epoch %d (the first is at offset %#x)", tr.next, tr.changeAt))
		}
		if m := maxChangePayload(tr.hdr.PageCount); size > m {
			return false, tr.fail(epoch, off, formatError("composition change of %d bytes, larger than the %d possible for %d pages", size, m, tr.hdr.PageCount))
		}
	}
	if typ == recEnd && tr.changeAt >= 0 {
		return false, tr.fail(int64(tr.next), tr.changeAt, formatError("composition change for epoch %d is not followed by its epoch record", tr.next))
	}
	p, err := tr.readPayload(size)
	if err != nil {
		return false, tr.fail(epoch, off, tr.readError(what, err))
	}
	if err := tr.checkCRC(what, crc32.Update(sum, castagnoli, p)); err != nil {
		return false, tr.fail(epoch, off, err)
	}
	if typ == recEnd {
		if err := tr.checkEnd(p); err != nil {
			return false, tr.fail(epoch, off, err)
		}
		return false, io.EOF
	}
	if typ == recComposition {
		if err := tr.decodeChange(p, e); err != nil {
			return false, tr.fail(epoch, off, err)
		}
		tr.changeAt = off
		return false, nil
	}
	if err := tr.decodeEpoch(p, e); err != nil {
		return false, tr.fail(epoch, off, err)
	}
	tr.changeAt = -1
	return true, nil
}

// decodeChange decodes a composition-change payload into e.Change and
// checks it: it names the epoch due, its pages are below the page count
// and its four sets are disjoint.
func (tr *Reader) decodeChange(p []byte, e *Epoch) error {
	idx, i := binary.Uvarint(p)
	if i <= 0 {
		return formatError("bad epoch index in composition change")
	}
	if idx != tr.next {
		return formatError("composition change for epoch %d where epoch %d is due", idx, tr.next)
	}
	sets := e.Change.Sets()
	for k, s := range sets {
		if *s == nil {
			*s = roaring.New()
		}
		n, _, err := tr.dec.decodeSet(p[i:], tr.hdr.PageCount, *s, changeNames[k], &tr.lay[0])
		tr.lay[0].ser = nil
		if err != nil {
			return err
		}
		i += n
	}
	if i != len(p) {
		return formatError("%d bytes after the to_pagecache set", len(p)-i)
	}
	for a := range sets {
		for b := a + 1; b < len(sets); b++ {
			if !(*sets[a]).IsEmpty() && !(*sets[b]).IsEmpty() && (*sets[a]).Intersects(*sets[b]) {
				return formatError("composition change: %s and %s sets overlap", changeNames[a], changeNames[b])
			}
		}
	}
	return nil
}

// decodeEpoch decodes an epoch payload into e and checks it.
func (tr *Reader) decodeEpoch(p []byte, e *Epoch) error {
	idx, i := binary.Uvarint(p)
	if i <= 0 {
		return formatError("bad epoch index")
	}
	if idx != tr.next {
		return formatError("record holds epoch %d where epoch %d is due", idx, tr.next)
	}
	if e.Written == nil {
		e.Written = roaring.New()
	}
	if e.Read == nil {
		e.Read = roaring.New()
	}
	pc := tr.hdr.PageCount
	n, nw, err := tr.dec.decodeSet(p[i:], pc, e.Written, "written", &tr.lay[0])
	if err != nil {
		return err
	}
	i += n
	n, nr, err := tr.dec.decodeSet(p[i:], pc, e.Read, "read", &tr.lay[1])
	if err != nil {
		return err
	}
	i += n
	if i != len(p) {
		return formatError("%d bytes after the read set", len(p)-i)
	}
	overlap := nw > 0 && nr > 0 && !tr.dec.disjoint(&tr.lay[0], &tr.lay[1])
	// The layouts point into the bitmaps' buffers; drop them once used.
	tr.lay[0].ser, tr.lay[1].ser = nil, nil
	if overlap {
		return formatError("written and read sets overlap")
	}
	e.Index = idx
	tr.next++
	tr.written += nw
	tr.read += nr
	return nil
}

// checkEnd checks the end record's payload against what was read, and that
// nothing follows it.
func (tr *Reader) checkEnd(p []byte) error {
	epochs := binary.BigEndian.Uint64(p[0:])
	written := binary.BigEndian.Uint64(p[8:])
	read := binary.BigEndian.Uint64(p[16:])
	index := binary.BigEndian.Uint64(p[24:])
	switch {
	case epochs != tr.next:
		return formatError("end record counts %d epochs, the file holds %d", epochs, tr.next)
	case written != tr.written:
		return formatError("end record counts %d written-page events, the epochs hold %d", written, tr.written)
	case read != tr.read:
		return formatError("end record counts %d read-page events, the epochs hold %d", read, tr.read)
	case index != 0 && int64(index) != tr.lastIndex:
		return formatError("end record points to an epoch index at offset %#x, which is not one", index)
	}
	if _, err := tr.br.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("reading past the end record: %w", err)
		}
		return formatError("data after the end record at offset %#x", tr.off)
	}
	return nil
}
