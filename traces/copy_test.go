package traces

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestCopyRoundTrip checks that Encode (and so Copy) writes a trace that
// reads back as the source's epochs, and that an error from the source
// comes back as a *SourceError that wraps it, prints as it and counts the
// epochs copied before it, while an error from the writer does not.
func TestCopyRoundTrip(t *testing.T) {
	var opens int
	o := cacheTestOpener(t, 7, &opens)
	want := drain(t, open(t, o))

	var buf bytes.Buffer
	n, err := Encode(&buf, open(t, o))
	if err != nil || n != uint64(len(want)) {
		t.Fatalf("Encode = %d, %v; want %d epochs", n, err, len(want))
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), "copy")
	if err != nil {
		t.Fatal(err)
	}
	sameEpochs(t, "read back", drain(t, r), want)

	// Copy onto a writer of its own gives the same bytes.
	var again bytes.Buffer
	src := open(t, o)
	tw, err := NewWriter(&again, src.Header())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(tw, src); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("Copy and Encode wrote different bytes")
	}

	// The source fails after 5 epochs.
	_, err = Encode(&bytes.Buffer{}, &failingSource{Source: open(t, o), failAt: 5})
	var se *SourceError
	if !errors.As(err, &se) || !errors.Is(err, errBroken) || se.Epochs != 5 || err.Error() != errBroken.Error() {
		t.Errorf("failing source: err %v (%T), want a *SourceError wrapping %v after 5 epochs", err, err, errBroken)
	}
	if wrapped := fmt.Errorf("ctx: %w", err); !errors.Is(wrapped, errBroken) {
		t.Errorf("%v does not wrap %v", wrapped, errBroken)
	}

	// The writer fails: a page beyond the header's page count.
	src = open(t, o)
	h := *src.Header()
	h.PageCount = 1
	tw, err = NewWriter(&bytes.Buffer{}, &h)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Copy(tw, src); err == nil || errors.As(err, &se) || n != 0 {
		t.Errorf("failing writer: Copy = %d, %v (%T), want a writer's error after 0 epochs", n, err, err)
	}
}
