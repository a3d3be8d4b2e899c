package sweep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// row is one line of results.jsonl.
type row struct {
	Point  int             `json:"point"`
	ID     string          `json:"id"`
	Axes   json.RawMessage `json:"axes"`
	Result any             `json:"result"`
}

// rowKey is the part of a row that resuming checks.
type rowKey struct {
	Point int    `json:"point"`
	ID    string `json:"id"`
}

// lineIndex locates each point's line in one or more journals: 16 bytes
// a point, whatever its line holds, so that the outputs can be written in
// point order without holding the lines.
type lineIndex struct {
	files []string
	locs  []lineLoc // by point; n == 0: the point has no line
	lines int       // points with a line
	// ids, when not nil, holds each point's ID as its line gives it.
	ids []uint64
}

// lineLoc is one line: its byte offset and length, newline included, in
// files[file].
type lineLoc struct {
	off  int64
	n    uint32
	file uint16
}

// newLineIndex returns an index of the lines of a sweep of points points,
// with room for their IDs when ids.
func newLineIndex(points int, ids bool) *lineIndex {
	ix := &lineIndex{locs: make([]lineLoc, points)}
	if ids {
		ix.ids = make([]uint64, points)
	}
	return ix
}

// file returns the number of path among the index's files, adding it.
func (ix *lineIndex) file(path string) (uint16, error) {
	for i, f := range ix.files {
		if f == path {
			return uint16(i), nil
		}
	}
	if len(ix.files) > math.MaxUint16 {
		return 0, fmt.Errorf("%s: more than %d journals", path, math.MaxUint16+1)
	}
	ix.files = append(ix.files, path)
	return uint16(len(ix.files) - 1), nil
}

// has reports whether point p has a line.
func (ix *lineIndex) has(p int) bool { return ix.locs[p].n > 0 }

// add records point p's line at off, n bytes long, in file f.
func (ix *lineIndex) add(p int, f uint16, off int64, n int, id uint64) error {
	if n > math.MaxUint32 {
		return fmt.Errorf("%s: the line of point %d is %d bytes long", ix.files[f], p, n)
	}
	if !ix.has(p) {
		ix.lines++
	}
	ix.locs[p] = lineLoc{off: off, n: uint32(n), file: f}
	if ix.ids != nil {
		ix.ids[p] = id
	}
	return nil
}

// scanJournal reads the journal at path into ix, a sweep's index of
// len(ix.locs) points, checking that each point's ID is ids[point] when
// ids is not nil. A partial last line (no newline: a write cut short) is
// not a point; its offset is returned as end, the length of the valid
// part. A complete line that does not parse, or names a point or ID the
// sweep does not have, is an error naming the file and line.
func scanJournal(path string, ix *lineIndex, ids []uint64) (end int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := ix.file(path)
	if err != nil {
		return 0, err
	}
	points := len(ix.locs)
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long line: gather it.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err == io.EOF {
			// len(line) > 0: a partial line, cut by a crash.
			return off, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		var k rowKey
		if err := json.Unmarshal(bytes.TrimSpace(line), &k); err != nil {
			return 0, fmt.Errorf("%s:%d: not a result line (byte offset %d): %v", path, lineNo, off, err)
		}
		if k.Point < 0 || k.Point >= points {
			return 0, fmt.Errorf("%s:%d: point %d is not in the sweep (it has %d points)", path, lineNo, k.Point, points)
		}
		id := parseID(k.ID)
		if ids != nil && (id != ids[k.Point] || formatID(id) != k.ID) {
			return 0, fmt.Errorf("%s:%d: point %d has ID %s, but this sweep's point %d is %s: the results come from another sweep or another version of it",
				path, lineNo, k.Point, k.ID, k.Point, formatID(ids[k.Point]))
		}
		if !ix.has(k.Point) {
			if err := ix.add(k.Point, fi, off, len(line), id); err != nil {
				return 0, err
			}
		} else if prev := ix.id(k.Point, ids); prev != id {
			return 0, fmt.Errorf("%s:%d: point %d appears twice, with IDs %s and %s", path, lineNo, k.Point, formatID(prev), k.ID)
		}
		off += int64(len(line))
	}
}

// id returns point p's ID: as its line gave it, or ids[p].
func (ix *lineIndex) id(p int, ids []uint64) uint64 {
	if ix.ids != nil {
		return ix.ids[p]
	}
	return ids[p]
}

// journal is an append-only results.jsonl open for writing.
type journal struct {
	f    *os.File
	path string
	size int64 // bytes in the file: where the next line goes
}

// openJournal opens the journal at path for appending (O_APPEND: every
// write lands at the end of the file), first cutting it to size bytes
// (dropping a partial last line).
func openJournal(path string, size int64) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return &journal{f: f, path: path, size: size}, nil
}

// append writes complete lines and makes them durable.
func (j *journal) append(lines []byte) error {
	if _, err := j.f.Write(lines); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	j.size += int64(len(lines))
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// lineReader reads the lines of a lineIndex, from files opened on
// demand.
type lineReader struct {
	ix    *lineIndex
	files []*os.File
	buf   []byte
}

// read returns point p's line, valid until the next read.
func (r *lineReader) read(p int) ([]byte, error) {
	loc := r.ix.locs[p]
	if loc.n == 0 {
		return nil, fmt.Errorf("point %d has no result", p)
	}
	if r.files == nil {
		r.files = make([]*os.File, len(r.ix.files))
	}
	f := r.files[loc.file]
	if f == nil {
		var err error
		if f, err = os.Open(r.ix.files[loc.file]); err != nil {
			return nil, err
		}
		r.files[loc.file] = f
	}
	if uint32(cap(r.buf)) < loc.n {
		r.buf = make([]byte, loc.n)
	}
	b := r.buf[:loc.n]
	if _, err := f.ReadAt(b, loc.off); err != nil {
		return nil, fmt.Errorf("%s: reading the line at offset %d: %w", r.ix.files[loc.file], loc.off, err)
	}
	return b, nil
}

func (r *lineReader) close() {
	for _, f := range r.files {
		if f != nil {
			f.Close()
		}
	}
	r.files = nil
}
