package traces

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

// TextVersion is the version of the text trace form that TextReader reads
// (IMPORT.md).
const TextVersion = 1

// DefaultMaxLineBytes is the default of [ImportOptions.MaxLineBytes].
const DefaultMaxLineBytes = 64 << 20

// ImportOptions tunes [NewTextReader] and [Import].
type ImportOptions struct {
	// MaxLineBytes bounds the length of one line in bytes, newline
	// excluded; 0 means DefaultMaxLineBytes. A longer line is an error.
	MaxLineBytes int
	// Provenance, if not empty, is added as the last line of the header's
	// provenance, e.g. "imported from run3.csv by migsim trace import".
	Provenance string
}

// ImportError is the error type of [TextReader]: it says where in which
// file the text is wrong and what was expected. An I/O error of the
// underlying reader is wrapped in an ImportError with Line 0.
type ImportError struct {
	Name   string // the name given to NewTextReader
	Line   int    // 1-based line number; 0 if the error is not tied to a line
	Column int    // 1-based byte column in the line; 0 for the whole line
	Err    error  // what is wrong
}

func (e *ImportError) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.Name, e.Line, e.Column, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// TextReader reads a trace in the text form of IMPORT.md and is a
// [Source]: NewTextReader parses the header block, and Next parses event
// lines one epoch at a time, so memory does not grow with the trace.
//
// Epochs without events are empty; the trace ends after the epochs header
// value, or else after the last epoch with an event. A page listed as both
// written and read in one epoch counts as written. Errors are
// [*ImportError] values; after an error Next returns it again.
type TextReader struct {
	name    string
	maxLine int
	sc      *bufio.Scanner
	line    int // number of the line in sc.Bytes()
	hdr     Header
	epochs  uint64 // from the epochs key; valid if hasEnd
	hasEnd  bool
	next    uint64 // index of the next epoch
	last    uint64 // epoch of the last event line read
	pending *textEvent
	eof     bool
	err     error
	pages   []uint32 // single pages of the line being parsed
}

// textEvent is a parsed event line waiting for its epoch.
type textEvent struct {
	line  int
	epoch uint64
	read  bool
	text  []byte // the pages field
	col   int    // its column
}

// NewTextReader reads the header block of a text trace from r and returns
// a TextReader positioned at the first epoch. name identifies the input in
// error messages.
func NewTextReader(r io.Reader, name string, opts ImportOptions) (*TextReader, error) {
	maxLine := opts.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, min(maxLine+1, 64<<10)), maxLine+1)
	t := &TextReader{name: name, maxLine: maxLine, sc: sc}
	if err := t.readHeader(opts); err != nil {
		return nil, err
	}
	return t, nil
}

// Header returns the trace's header. The caller must not change it.
func (t *TextReader) Header() *Header { return &t.hdr }

func (t *TextReader) errorf(line, col int, format string, args ...any) error {
	return &ImportError{Name: t.name, Line: line, Column: col, Err: fmt.Errorf(format, args...)}
}

// scan advances to the next line that is neither blank nor a comment and
// returns it without its line end and surrounding blanks, or nil at the
// end of input.
func (t *TextReader) scan() ([]byte, int, error) {
	for t.sc.Scan() {
		if t.sc.Err() != nil {
			break // the line was cut short by a read error: report that
		}
		t.line++
		raw := t.sc.Bytes()
		text := bytes.TrimRight(raw, " \t\r")
		trimmed := bytes.TrimLeft(text, " \t")
		if len(trimmed) == 0 || trimmed[0] == '#' {
			continue
		}
		return trimmed, len(text) - len(trimmed), nil
	}
	if err := t.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, 0, t.errorf(t.line+1, 0, "line longer than %d bytes (raise ImportOptions.MaxLineBytes)", t.maxLine)
		}
		return nil, 0, &ImportError{Name: t.name, Err: err}
	}
	return nil, 0, nil
}

// textHeaderKeys lists the header keys in documentation order.
var textHeaderKeys = []string{"version", "page_size", "page_count", "memory", "epoch", "epochs", "provenance", "zero", "free", "pagecache"}

func (t *TextReader) readHeader(opts ImportOptions) error {
	seen := map[string]int{} // key → line
	var provenance []string
	var pageSize units.Bytes = 4096
	var pageCount uint64
	var memory units.Bytes
	type setLine struct {
		class string
		text  []byte
		line  int
		col   int
	}
	var sets []setLine
	endLine := 0
	for {
		text, indent, err := t.scan()
		if err != nil {
			return err
		}
		if text == nil {
			endLine = t.line
			t.eof = true
			break
		}
		if text[0] >= '0' && text[0] <= '9' {
			ev, err := t.parseEvent(text, indent)
			if err != nil {
				return err
			}
			ev.text = bytes.Clone(ev.text)
			t.pending, t.last = ev, ev.epoch
			endLine = t.line
			break
		}
		colon := bytes.IndexByte(text, ':')
		if colon < 0 {
			return t.errorf(t.line, indent+1, "expected a header line \"key: value\" or an event line \"epoch,op,pages\"")
		}
		key := string(bytes.TrimSpace(text[:colon]))
		value := bytes.TrimSpace(text[colon+1:])
		vcol := indent + colon + 2 + (len(text[colon+1:]) - len(bytes.TrimLeft(text[colon+1:], " \t")))
		if !slices.Contains(textHeaderKeys, key) {
			return t.errorf(t.line, indent+1, "unknown header key %q (want one of %s)", key, strings.Join(textHeaderKeys, ", "))
		}
		repeatable := key == "provenance" || key == "zero" || key == "free" || key == "pagecache"
		if l, dup := seen[key]; dup && !repeatable {
			return t.errorf(t.line, indent+1, "header key %q repeated (first on line %d)", key, l)
		}
		seen[key] = t.line
		bad := func(format string, args ...any) error {
			return t.errorf(t.line, vcol, "%s: %s", key, fmt.Sprintf(format, args...))
		}
		switch key {
		case "version":
			v, err := strconv.ParseUint(string(value), 10, 32)
			if err != nil {
				return bad("%q is not a version number", value)
			}
			if v != TextVersion {
				return bad("version %d is not supported (this reader knows version %d)", v, TextVersion)
			}
		case "page_size":
			b, err := units.ParseBytes(string(value))
			if err != nil {
				return bad("%v", err)
			}
			if b < 512 || b > math.MaxUint32 || b&(b-1) != 0 {
				return bad("%v is not a power of two from 512B to 2GiB", b)
			}
			pageSize = b
		case "page_count":
			n, err := strconv.ParseUint(string(value), 10, 64)
			if err != nil || n == 0 || n > MaxPages {
				return bad("%q is not a page count from 1 to %d", value, uint64(MaxPages))
			}
			pageCount = n
		case "memory":
			b, err := units.ParseBytes(string(value))
			if err != nil {
				return bad("%v", err)
			}
			if b <= 0 {
				return bad("%v is not positive", b)
			}
			memory = b
		case "epoch":
			d, err := units.ParseDuration(string(value))
			if err != nil {
				return bad("%v", err)
			}
			if d <= 0 {
				return bad("%v is not positive", d)
			}
			t.hdr.Epoch = d
		case "epochs":
			n, err := strconv.ParseUint(string(value), 10, 64)
			if err != nil {
				return bad("%q is not a whole number of epochs", value)
			}
			t.epochs, t.hasEnd = n, true
		case "provenance":
			provenance = append(provenance, string(value))
		default: // zero, free, pagecache: parsed once the page count is known
			sets = append(sets, setLine{key, bytes.Clone(value), t.line, vcol})
		}
	}

	// Required keys, reported at the first event (or the end of input).
	_, hasCount := seen["page_count"]
	_, hasMemory := seen["memory"]
	switch {
	case hasCount && hasMemory:
		return t.errorf(seen["memory"], 0, "memory: set page_count or memory, not both")
	case hasMemory:
		if memory%pageSize != 0 {
			return t.errorf(seen["memory"], 0, "memory: %v is not a whole number of %v pages", memory, pageSize)
		}
		pageCount = uint64(memory / pageSize)
		if pageCount > MaxPages {
			return t.errorf(seen["memory"], 0, "memory: %v is %d pages, more than the maximum %d", memory, pageCount, uint64(MaxPages))
		}
	case !hasCount:
		return t.errorf(endLine, 0, "header has neither page_count nor memory (set one before the first event)")
	}
	if _, ok := seen["epoch"]; !ok {
		return t.errorf(endLine, 0, "header has no epoch (the epoch length, e.g. \"epoch: 10ms\", before the first event)")
	}
	t.hdr.PageSize = uint32(pageSize)
	t.hdr.PageCount = pageCount

	if opts.Provenance != "" {
		provenance = append(provenance, opts.Provenance)
	}
	t.hdr.Provenance = strings.Join(provenance, "\n")
	if !utf8.ValidString(t.hdr.Provenance) {
		return t.errorf(seen["provenance"], 0, "provenance: not UTF-8 text")
	}
	if len(t.hdr.Provenance) > MaxProvenance {
		return t.errorf(seen["provenance"], 0, "provenance: %d bytes, more than the maximum %d", len(t.hdr.Provenance), MaxProvenance)
	}

	classes := map[string]**roaring.Bitmap{"zero": &t.hdr.Zero, "free": &t.hdr.Free, "pagecache": &t.hdr.PageCache}
	for _, s := range sets {
		line := roaring.New()
		if err := t.parsePages(s.text, s.line, s.col, line); err != nil {
			return err
		}
		for _, other := range []string{"zero", "free", "pagecache"} {
			o := *classes[other]
			if other == s.class || o == nil {
				continue
			}
			if both := roaring.And(line, o); !both.IsEmpty() {
				return t.errorf(s.line, s.col, "%s: page %d is already in the %s set", s.class, both.Minimum(), other)
			}
		}
		if *classes[s.class] == nil {
			*classes[s.class] = line
		} else {
			(*classes[s.class]).Or(line)
		}
	}
	if t.hasEnd && t.pending != nil && t.pending.epoch >= t.epochs {
		return t.errorf(t.pending.line, 1, "epoch %d is not below epochs %d", t.pending.epoch, t.epochs)
	}
	if err := t.hdr.Validate(); err != nil { // not reached for valid keys; a safety net
		return t.errorf(endLine, 0, "header: %v", err)
	}
	return nil
}

// parseEvent parses "epoch,op,pages"; text starts at column indent+1.
func (t *TextReader) parseEvent(text []byte, indent int) (*textEvent, error) {
	fields := bytes.SplitN(text, []byte{','}, 4)
	if len(fields) != 3 {
		return nil, t.errorf(t.line, indent+1, "expected 3 comma-separated fields \"epoch,op,pages\", got %d", min(len(fields), 4))
	}
	col := indent + 1
	cols := [3]int{}
	for i, f := range fields {
		lead := len(f) - len(bytes.TrimLeft(f, " \t"))
		cols[i] = col + lead
		col += len(f) + 1
		fields[i] = bytes.TrimSpace(f)
	}
	ev := &textEvent{line: t.line, text: fields[2], col: cols[2]}
	n, err := strconv.ParseUint(string(fields[0]), 10, 64)
	if err != nil {
		return nil, t.errorf(t.line, cols[0], "epoch %q is not a whole number", fields[0])
	}
	ev.epoch = n
	switch string(fields[1]) {
	case "w":
	case "r":
		ev.read = true
	default:
		return nil, t.errorf(t.line, cols[1], "op %q is not w (written) or r (read)", fields[1])
	}
	return ev, nil
}

// parsePages adds the pages of a list such as "12 13-20 0x1000" (ranges
// inclusive) to bm. text starts at column col.
func (t *TextReader) parsePages(text []byte, line, col int, bm *roaring.Bitmap) error {
	t.pages = t.pages[:0]
	for i := 0; i < len(text); {
		if text[i] == ' ' || text[i] == '\t' {
			i++
			continue
		}
		start := i
		for i < len(text) && text[i] != ' ' && text[i] != '\t' {
			i++
		}
		item := text[start:i]
		c := col + start
		lo, hi := item, item
		if dash := bytes.IndexByte(item, '-'); dash >= 0 {
			lo, hi = item[:dash], item[dash+1:]
		}
		a, err := t.page(lo, line, c)
		if err != nil {
			return err
		}
		b, err := t.page(hi, line, c+len(item)-len(hi))
		if err != nil {
			return err
		}
		if b < a {
			return t.errorf(line, c, "range %s ends before it starts (ranges are inclusive: lo-hi with lo ≤ hi)", item)
		}
		if a == b {
			t.pages = append(t.pages, uint32(a))
		} else {
			bm.AddRange(a, b+1)
		}
	}
	bm.AddMany(t.pages)
	return nil
}

// page parses one page number, decimal or 0x-prefixed hexadecimal, below
// the page count.
func (t *TextReader) page(s []byte, line, col int) (uint64, error) {
	var v uint64
	var err error
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err = strconv.ParseUint(string(s[2:]), 16, 64)
	} else {
		v, err = strconv.ParseUint(string(s), 10, 64)
	}
	if err != nil || len(s) == 0 {
		return 0, t.errorf(line, col, "%q is not a page number (want decimal or 0x hexadecimal, or a range lo-hi)", s)
	}
	if v >= t.hdr.PageCount {
		return 0, t.errorf(line, col, "page %d is beyond the page count %d", v, t.hdr.PageCount)
	}
	return v, nil
}

// Next fills e with the next epoch, reusing its bitmaps, or returns io.EOF.
func (t *TextReader) Next(e *Epoch) error {
	if t.err != nil {
		return t.err
	}
	if err := t.fill(); err != nil {
		t.err = err
		return err
	}
	if t.pending == nil && (!t.hasEnd || t.next >= t.epochs) {
		t.err = io.EOF
		return io.EOF
	}
	e.Reset()
	e.Index = t.next
	for t.pending != nil && t.pending.epoch == t.next {
		ev := t.pending
		set := e.Written
		if ev.read {
			set = e.Read
		}
		if err := t.parsePages(ev.text, ev.line, ev.col, set); err != nil {
			t.err = err
			return err
		}
		t.pending = nil
		if err := t.fill(); err != nil {
			t.err = err
			return err
		}
	}
	e.Read.AndNot(e.Written)
	t.next++
	return nil
}

// fill reads the next event line into t.pending if it is empty, checking
// the order of epochs.
func (t *TextReader) fill() error {
	if t.pending != nil || t.eof {
		return nil
	}
	text, indent, err := t.scan()
	if err != nil {
		return err
	}
	if text == nil {
		t.eof = true
		return nil
	}
	if !(text[0] >= '0' && text[0] <= '9') {
		if colon := bytes.IndexByte(text, ':'); colon > 0 {
			return t.errorf(t.line, indent+1, "header line %q after the first event: header lines come first", bytes.TrimSpace(text[:colon]))
		}
		return t.errorf(t.line, indent+1, "expected an event line \"epoch,op,pages\"")
	}
	ev, err := t.parseEvent(text, indent)
	if err != nil {
		return err
	}
	if ev.epoch < t.last {
		return t.errorf(ev.line, indent+1, "epoch %d after epoch %d: events must be in epoch order", ev.epoch, t.last)
	}
	if t.hasEnd && ev.epoch >= t.epochs {
		return t.errorf(ev.line, indent+1, "epoch %d is not below epochs %d", ev.epoch, t.epochs)
	}
	ev.text = bytes.Clone(ev.text) // the scanner reuses its buffer
	t.pending, t.last = ev, ev.epoch
	return nil
}

// Import reads a text trace (IMPORT.md) from r and writes it to dst in the
// binary format (FORMAT.md), buffering the writes. It returns the number
// of epochs written. name identifies r in error messages, which are
// [*ImportError] values for text errors; dst is not closed.
func Import(dst io.Writer, r io.Reader, name string, opts ImportOptions) (uint64, error) {
	tr, err := NewTextReader(r, name, opts)
	if err != nil {
		return 0, err
	}
	return Encode(dst, tr)
}

// exportItemsPerLine is the most page items ExportText puts on one line.
const exportItemsPerLine = 1024

// ExportText writes src in the text form of IMPORT.md: a header block,
// then one line per epoch and op with its pages as inclusive ranges,
// splitting long lists over several lines. The last epoch always gets a
// line (with an empty page list if it is idle), so importing the output
// gives back the same trace, up to blanks around provenance lines. It
// streams, and returns the number of epochs written.
func ExportText(w io.Writer, src Source) (uint64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	h := src.Header()
	fmt.Fprintf(bw, "# migsim text trace (IMPORT.md)\nversion: %d\npage_size: %d\npage_count: %d\nepoch: %v\n",
		TextVersion, h.PageSize, h.PageCount, h.Epoch)
	if h.Provenance != "" {
		for _, l := range strings.Split(h.Provenance, "\n") {
			fmt.Fprintf(bw, "provenance: %s\n", l)
		}
	}
	var buf []byte
	for _, c := range []struct {
		key string
		bm  *roaring.Bitmap
	}{{"zero", h.Zero}, {"free", h.Free}, {"pagecache", h.PageCache}} {
		if c.bm != nil && !c.bm.IsEmpty() {
			buf = exportSet(bw, buf, c.key+": ", c.bm)
		}
	}
	var e Epoch
	var n uint64
	idle := false // the last epoch had no line
	var last uint64
	for {
		err := src.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		if !e.Change.Empty() {
			return n, fmt.Errorf("epoch %d has a composition change (record 0x02), which the text format cannot express", e.Index)
		}
		n++
		last = e.Index
		idle = e.Written.IsEmpty() && e.Read.IsEmpty()
		if !e.Written.IsEmpty() {
			buf = exportSet(bw, buf, strconv.FormatUint(e.Index, 10)+",w,", e.Written)
		}
		if !e.Read.IsEmpty() {
			buf = exportSet(bw, buf, strconv.FormatUint(e.Index, 10)+",r,", e.Read)
		}
	}
	if idle {
		fmt.Fprintf(bw, "%d,w,\n", last)
	}
	return n, bw.Flush()
}

// exportSet writes bm's pages as lines that start with prefix.
func exportSet(bw *bufio.Writer, buf []byte, prefix string, bm *roaring.Bitmap) []byte {
	items := 0
	buf = append(buf[:0], prefix...)
	for lo, end := range bm.Ranges() {
		if items == exportItemsPerLine {
			bw.Write(append(buf, '\n'))
			buf, items = append(buf[:0], prefix...), 0
		}
		if items > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendUint(buf, uint64(lo), 10)
		if end-1 > uint64(lo) {
			buf = append(buf, '-')
			buf = strconv.AppendUint(buf, end-1, 10)
		}
		items++
	}
	bw.Write(append(buf, '\n'))
	return buf
}
