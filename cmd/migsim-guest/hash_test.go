package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// TestHashRAM checks -hash-ram's output: 8 bytes per page, in page order,
// each the first 8 bytes of the page's SHA-256, so that equal pages hash
// equal and a one-byte change shows; and a partial page is refused.
func TestHashRAM(t *testing.T) {
	pages := make([]byte, 3*hashPageSize)
	pages[hashPageSize+7] = 1 // page 1 differs from pages 0 and 2 (zero)
	path := filepath.Join(t.TempDir(), "ram")
	if err := os.WriteFile(path, pages, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := hashRAM(path, &out); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	if len(b) != 3*8 {
		t.Fatalf("%d bytes of hashes for 3 pages, want 24", len(b))
	}
	for i := range 3 {
		s := sha256.Sum256(pages[i*hashPageSize : (i+1)*hashPageSize])
		if !bytes.Equal(b[8*i:8*i+8], s[:8]) {
			t.Errorf("page %d: hash %x, want %x", i, b[8*i:8*i+8], s[:8])
		}
	}
	if !bytes.Equal(b[0:8], b[16:24]) || bytes.Equal(b[0:8], b[8:16]) {
		t.Errorf("hashes %x: want pages 0 and 2 equal, page 1 different", b)
	}
	if err := os.WriteFile(path, pages[:hashPageSize+1], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hashRAM(path, &out); err == nil {
		t.Error("a partial page: no error")
	}
}
