package traces

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
)

// Writer writes a trace file in the format of FORMAT.md: the header, one
// record per epoch, and an end record. It streams: memory use does not grow
// with the number of epochs. Each page set is stored in whichever of the
// format's two encodings is smaller for it.
//
// A Writer issues three writes per epoch and does not buffer; when writing
// to a file, give it a *bufio.Writer and flush that after Close.
type Writer struct {
	w   io.Writer
	crc hash.Hash32 // CRC-32C of the bytes written since its last Reset
	mw  io.Writer   // w and crc together

	pageCount uint64
	next      uint64 // index of the next epoch
	written   uint64 // written-page events so far
	read      uint64 // read-page events so far

	buf []byte // record payload being built
	enc setEncoder
	err error // first write error, returned from then on
}

// NewWriter checks h and writes it as the header of a trace to w. It
// returns an error, and writes nothing, if h is invalid (see
// [Header.Validate]) or its provenance is not UTF-8 text of at most
// [MaxProvenance] bytes.
func NewWriter(w io.Writer, h *Header) (*Writer, error) {
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("traces: header: %w", err)
	}
	if len(h.Provenance) > MaxProvenance {
		return nil, fmt.Errorf("traces: header: provenance is %d bytes, more than %d", len(h.Provenance), MaxProvenance)
	}
	if !utf8.ValidString(h.Provenance) {
		return nil, errors.New("traces: header: provenance is not UTF-8")
	}
	crc := crc32.New(castagnoli)
	tw := &Writer{w: w, crc: crc, mw: io.MultiWriter(w, crc), pageCount: h.PageCount}

	p := binary.AppendUvarint(nil, uint64(h.PageSize))
	p = binary.AppendUvarint(p, h.PageCount)
	p = binary.AppendUvarint(p, uint64(h.Epoch.Nanoseconds()))
	p = binary.AppendUvarint(p, uint64(len(h.Provenance)))
	p = append(p, h.Provenance...)
	var err error
	if p, err = tw.enc.appendSet(p, h.Zero); err != nil {
		return nil, fmt.Errorf("traces: header: zero set: %w", err)
	}
	if p, err = tw.enc.appendSet(p, h.Free); err != nil {
		return nil, fmt.Errorf("traces: header: free set: %w", err)
	}
	if p, err = tw.enc.appendSet(p, h.PageCache); err != nil {
		return nil, fmt.Errorf("traces: header: pagecache set: %w", err)
	}

	head := append([]byte(magic), FormatVersion)
	head = binary.AppendUvarint(head, uint64(len(p)))
	tw.crc.Reset()
	if err := tw.writeCRCd(head, p); err != nil {
		return nil, fmt.Errorf("traces: writing header: %w", err)
	}
	tw.buf = p[:0]
	return tw, nil
}

// writeCRCd writes head and payload followed by the big-endian CRC-32C of
// everything written since the last crc.Reset.
func (tw *Writer) writeCRCd(head, payload []byte) error {
	if _, err := tw.mw.Write(head); err != nil {
		return err
	}
	if _, err := tw.mw.Write(payload); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], tw.crc.Sum32())
	_, err := tw.w.Write(sum[:])
	return err
}

// writeRecord writes one record: type, payload length, payload, CRC-32C.
func (tw *Writer) writeRecord(typ byte, payload []byte) error {
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = typ
	n := 1 + binary.PutUvarint(head[1:], uint64(len(payload)))
	tw.crc.Reset()
	return tw.writeCRCd(head[:n], payload)
}

// WriteEpoch appends e to the trace. Epochs must come in order, with
// e.Index counting from 0 without gaps; nil sets are empty. A non-empty
// e.Change is written first, as a composition-change record. WriteEpoch
// returns an error, and writes nothing, if e.Index is out of order, a page is
// not below the header's page count, a page is both written and read, or
// two sets of e.Change overlap.
// After a write error every later call returns that error.
func (tw *Writer) WriteEpoch(e *Epoch) error {
	if tw.err != nil {
		return tw.err
	}
	if e.Index != tw.next {
		return fmt.Errorf("traces: epoch %d written where epoch %d is due", e.Index, tw.next)
	}
	for _, s := range [...]struct {
		name string
		set  *roaring.Bitmap
	}{{"written", e.Written}, {"read", e.Read}} {
		if noPages(s.set) {
			continue
		}
		if m := uint64(s.set.Maximum()); m >= tw.pageCount {
			return fmt.Errorf("traces: epoch %d: %s page %d is beyond the page count %d", e.Index, s.name, m, tw.pageCount)
		}
	}
	if !noPages(e.Written) && !noPages(e.Read) && e.Written.Intersects(e.Read) {
		return fmt.Errorf("traces: epoch %d: written and read sets overlap", e.Index)
	}
	if !e.Change.Empty() {
		if err := tw.writeChange(e); err != nil {
			return err
		}
	}

	p := binary.AppendUvarint(tw.buf[:0], e.Index)
	var err error
	if p, err = tw.enc.appendSet(p, e.Written); err == nil {
		p, err = tw.enc.appendSet(p, e.Read)
	}
	tw.buf = p
	if err != nil {
		tw.err = fmt.Errorf("traces: encoding epoch %d: %w", e.Index, err)
		return tw.err
	}
	if err := tw.writeRecord(recEpoch, p); err != nil {
		tw.err = fmt.Errorf("traces: writing epoch %d: %w", e.Index, err)
		return tw.err
	}
	tw.next++
	tw.written += pagesIn(e.Written)
	tw.read += pagesIn(e.Read)
	return nil
}

// writeChange checks e's composition change and writes it as a
// composition-change record (0x02), which precedes the epoch's record. It
// writes nothing when the change is invalid.
func (tw *Writer) writeChange(e *Epoch) error {
	sets := e.Change.Sets()
	for i, s := range sets {
		if noPages(*s) {
			continue
		}
		if m := uint64((*s).Maximum()); m >= tw.pageCount {
			return fmt.Errorf("traces: epoch %d: composition change: %s page %d is beyond the page count %d", e.Index, changeNames[i], m, tw.pageCount)
		}
		for j := i + 1; j < len(sets); j++ {
			if !noPages(*sets[j]) && (*s).Intersects(*sets[j]) {
				return fmt.Errorf("traces: epoch %d: composition change: %s and %s sets overlap", e.Index, changeNames[i], changeNames[j])
			}
		}
	}
	p := binary.AppendUvarint(tw.buf[:0], e.Index)
	var err error
	for i, s := range sets {
		if p, err = tw.enc.appendSet(p, *s); err != nil {
			tw.buf = p
			tw.err = fmt.Errorf("traces: encoding the composition change of epoch %d, %s set: %w", e.Index, changeNames[i], err)
			return tw.err
		}
	}
	tw.buf = p
	if err := tw.writeRecord(recComposition, p); err != nil {
		tw.err = fmt.Errorf("traces: writing the composition change of epoch %d: %w", e.Index, err)
		return tw.err
	}
	return nil
}

// errWriterClosed is returned by a Writer used after Close.
var errWriterClosed = errors.New("traces: Writer used after Close")

// Close writes the end record, which holds the number of epochs and the
// totals of written and read page events. It does not close the underlying
// io.Writer. A trace without its end record is reported as truncated by the
// Reader. Later calls to WriteEpoch or Close return an error.
func (tw *Writer) Close() error {
	if tw.err != nil {
		return tw.err
	}
	var p [endPayloadLen]byte
	binary.BigEndian.PutUint64(p[0:], tw.next)
	binary.BigEndian.PutUint64(p[8:], tw.written)
	binary.BigEndian.PutUint64(p[16:], tw.read)
	binary.BigEndian.PutUint64(p[24:], 0) // no epoch index footer
	if err := tw.writeRecord(recEnd, p[:]); err != nil {
		tw.err = fmt.Errorf("traces: writing end record: %w", err)
		return tw.err
	}
	tw.err = errWriterClosed
	return nil
}

// noPages reports whether s, which may be nil, is empty.
func noPages(s *roaring.Bitmap) bool { return s == nil || s.IsEmpty() }

// pagesIn returns the number of pages in s, which may be nil.
func pagesIn(s *roaring.Bitmap) uint64 {
	if s == nil {
		return 0
	}
	return s.GetCardinality()
}
