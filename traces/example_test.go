package traces_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/traces"
)

// Write a two-epoch trace of a 64 MiB guest to memory, then stream it back.
func Example() {
	var file bytes.Buffer
	w, err := traces.NewWriter(&file, &traces.Header{
		PageSize:   4096,
		PageCount:  16384, // 64 MiB
		Epoch:      100 * time.Millisecond,
		Provenance: "example",
		Zero:       roaring.BitmapOf(0, 1, 2, 3),
	})
	if err != nil {
		panic(err)
	}
	epochs := []traces.Epoch{
		{Index: 0, Written: roaring.BitmapOf(10, 11, 12), Read: roaring.BitmapOf(100)},
		{Index: 1, Written: roaring.BitmapOf(16383)}, // a nil set is empty
	}
	for i := range epochs {
		if err := w.WriteEpoch(&epochs[i]); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil { // writes the end record
		panic(err)
	}
	fmt.Println("file bytes:", file.Len())

	r, err := traces.NewReader(&file, "example.mgt")
	if err != nil {
		panic(err)
	}
	h := r.Header()
	fmt.Printf("%d pages of %d bytes, epoch %v, %d zero pages, provenance %q\n",
		h.PageCount, h.PageSize, h.Epoch, h.ClassPages(traces.ClassZero), h.Provenance)
	var e traces.Epoch
	for {
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("epoch %d: written %v, read %v\n", e.Index, e.Written.ToArray(), e.Read.ToArray())
	}
	// Output:
	// file bytes: 100
	// 16384 pages of 4096 bytes, epoch 100ms, 4 zero pages, provenance "example"
	// epoch 0: written [10 11 12], read [100]
	// epoch 1: written [16383], read []
}

// A damaged trace is reported with the file name, the epoch and the byte
// offset of the record at fault.
func ExampleReader_Next_corrupt() {
	var file bytes.Buffer
	w, _ := traces.NewWriter(&file, &traces.Header{PageSize: 4096, PageCount: 1024, Epoch: time.Second})
	for i := range 3 {
		w.WriteEpoch(&traces.Epoch{Index: uint64(i), Written: roaring.BitmapOf(uint32(i))})
	}
	w.Close()
	b := file.Bytes()
	b[len(b)-44] ^= 0x01 // a bit flip inside epoch 2, the last before the 38-byte end record

	r, err := traces.NewReader(bytes.NewReader(b), "damaged.mgt")
	if err != nil {
		panic(err)
	}
	var e traces.Epoch
	for err == nil {
		err = r.Next(&e)
	}
	fmt.Println(errors.Is(err, traces.ErrChecksum))
	fmt.Println(err)
	// Output:
	// true
	// damaged.mgt: epoch 2 at offset 0x2d: checksum mismatch: stored 0xa19bcdbb, computed 0xb23955cc
}
