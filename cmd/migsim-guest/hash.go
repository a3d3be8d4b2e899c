package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// hashPageSize is the page size of -hash-ram, bytes.
const hashPageSize = 4096

// hashRAM writes, for every 4 KiB page of the file at path, the first 8
// bytes of the page's SHA-256 to w (little-endian uint64s, 8 bytes per
// page, in page order). The validation lab runs it on remote hosts
// against a guest's RAM file, so that it can compare two hosts' guest
// memory page by page without copying it (validate.pageHash computes the
// same hash). A trailing partial page is an error.
func hashRAM(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size()%hashPageSize != 0 {
		return fmt.Errorf("%s: %d bytes is not a whole number of %d-byte pages", path, st.Size(), hashPageSize)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	bw := bufio.NewWriterSize(w, 64<<10)
	page := make([]byte, hashPageSize)
	var out [8]byte
	for range st.Size() / hashPageSize {
		if _, err := io.ReadFull(r, page); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		s := sha256.Sum256(page)
		copy(out[:], s[:8])
		if _, err := bw.Write(out[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
