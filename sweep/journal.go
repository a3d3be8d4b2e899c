package sweep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/migsim/migsim/models"
)

// row is one line of results.jsonl.
type row struct {
	Point  int             `json:"point"`
	ID     string          `json:"id"`
	Axes   json.RawMessage `json:"axes"`
	Result *models.Result  `json:"result"`
}

// rowKey is the part of a row that resuming checks.
type rowKey struct {
	Point int    `json:"point"`
	ID    string `json:"id"`
}

// entry locates one point's line in a journal.
type entry struct {
	file     string
	off, len int64 // the line, its newline included
	id       string
}

// journal is an append-only results.jsonl open for writing.
type journal struct {
	f    *os.File
	path string
}

// scanJournal reads the journal at path and returns the line of each
// point of a sweep of points points, checking that each point's ID is
// ids[point] when ids is not nil. A partial last line
// (no newline: a write cut short) is not a point; its offset is returned
// as end, the length of the valid part. A complete line that does not
// parse, or names a point or ID the sweep does not have, is an error
// naming the file and line.
func scanJournal(path string, points int, ids []string) (entries map[int]entry, end int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	entries = map[int]entry{}
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
			return entries, off, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		var k rowKey
		if err := json.Unmarshal(bytes.TrimSpace(line), &k); err != nil {
			return nil, 0, fmt.Errorf("%s:%d: not a result line (byte offset %d): %v", path, lineNo, off, err)
		}
		if k.Point < 0 || k.Point >= points {
			return nil, 0, fmt.Errorf("%s:%d: point %d is not in the sweep (it has %d points)", path, lineNo, k.Point, points)
		}
		if ids != nil && k.ID != ids[k.Point] {
			return nil, 0, fmt.Errorf("%s:%d: point %d has ID %s, but this sweep's point %d is %s: the results come from another sweep or another version of it",
				path, lineNo, k.Point, k.ID, k.Point, ids[k.Point])
		}
		if prev, dup := entries[k.Point]; !dup {
			entries[k.Point] = entry{file: path, off: off, len: int64(len(line)), id: k.ID}
		} else if prev.id != k.ID {
			return nil, 0, fmt.Errorf("%s:%d: point %d appears twice, with IDs %s and %s", path, lineNo, k.Point, prev.id, k.ID)
		}
		off += int64(len(line))
	}
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
	return &journal{f: f, path: path}, nil
}

// append writes complete lines and makes them durable.
func (j *journal) append(lines []byte) error {
	if _, err := j.f.Write(lines); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// readEntry returns the line of e, from files opened on demand.
type entryReader struct {
	files map[string]*os.File
	buf   []byte
}

func (r *entryReader) read(e entry) ([]byte, error) {
	if r.files == nil {
		r.files = map[string]*os.File{}
	}
	f, ok := r.files[e.file]
	if !ok {
		var err error
		if f, err = os.Open(e.file); err != nil {
			return nil, err
		}
		r.files[e.file] = f
	}
	if int64(cap(r.buf)) < e.len {
		r.buf = make([]byte, e.len)
	}
	b := r.buf[:e.len]
	if _, err := f.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("%s: reading the line at offset %d: %w", e.file, e.off, err)
	}
	return b, nil
}

func (r *entryReader) close() {
	for _, f := range r.files {
		f.Close()
	}
}
