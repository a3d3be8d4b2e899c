package traces

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzImportText feeds arbitrary text to the text trace importer (the
// TextReader that Import runs; issue 20, item 11). Seeds are the f.Add
// calls below and the corpus in testdata/fuzz/FuzzImportText.
//
// It must never panic. It fails with an *ImportError (naming the line) or
// reads epochs, which the Writer must accept and the Reader read back the
// same. Only the first 4096 epochs are followed: a few bytes of text can
// ask for billions of idle epochs ("4000000000,w,1"), which is a valid
// trace, not a bug, and would only slow the fuzzer down.
func FuzzImportText(f *testing.F) {
	for _, s := range []string{
		"version: 1\npage_size: 4096\nmemory: 64KiB\nepoch: 10ms\n0,w,1-3\n0,r,4 5\n2,w,0x1-0x2\n",
		"# a comment\nversion: 1\npage_size: 512\npage_count: 8\nepoch: 1s\nprovenance: a\nprovenance: b # c\nzero: 0-1\nfree: 2\npagecache: 3\nepochs: 4\n1,r,7\n3,w,\n",
		"version: 1\r\npage_size: 4096\r\npage_count: 1\r\nepoch: 100us\r\n0 , w , 0\r\n",
		"version: 2\n", "page_size: 4096\n", "version: 1\npage_size: 4096\nmemory: 1TiB\nepoch: 10ms\n0,w,0-268435455\n",
		"version: 1\npage_size: 4096\npage_count: 16\nepoch: 10ms\n5,w,1\n3,w,1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := NewTextReader(bytes.NewReader(data), "fuzz.txt", ImportOptions{MaxLineBytes: 1 << 16})
		if err != nil {
			checkImportError(t, err)
			return
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, tr.Header())
		if err != nil {
			t.Fatalf("the header the text gave is refused by the Writer: %v", err)
		}
		var got []Epoch
		for len(got) < 4096 {
			var e Epoch
			err := tr.Next(&e)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				checkImportError(t, err)
				return
			}
			if err := w.WriteEpoch(&e); err != nil {
				t.Fatalf("epoch %d from the text is refused by the Writer: %v", e.Index, err)
			}
			got = append(got, e)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(buf.Bytes()), "fuzz.mgt")
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		for i := range got {
			var e Epoch
			if err := r.Next(&e); err != nil {
				t.Fatalf("reading back epoch %d: %v", i, err)
			}
			if e.Index != got[i].Index || !e.Written.Equals(got[i].Written) || !e.Read.Equals(got[i].Read) {
				t.Fatalf("epoch %d reads back as %d, written %v, read %v; want %d, %v, %v", i, e.Index,
					e.Written.ToArray(), e.Read.ToArray(), got[i].Index, got[i].Written.ToArray(), got[i].Read.ToArray())
			}
		}
	})
}

// checkImportError fails unless err is an *ImportError that names the
// input.
func checkImportError(t *testing.T, err error) {
	t.Helper()
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("error %T %v is not an *ImportError", err, err)
	}
	if !strings.HasPrefix(err.Error(), "fuzz.txt") {
		t.Fatalf("error %q does not name the input", err)
	}
}
