package traces

import (
	"bytes"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// builderSet returns count distinct sorted pages: clusters around random
// container keys below maxKey, some dense enough for bitmap containers.
func builderSet(r *rand.Rand, count int, maxKey uint32) []uint32 {
	var pages []uint32
	for len(pages) < count {
		key := r.Uint32N(maxKey + 1)
		n := 1 + r.IntN(3)
		switch r.IntN(4) {
		case 0:
			n = 4000 + r.IntN(300) // around the array/bitmap limit
		case 1:
			n = 1 + r.IntN(200)
		}
		for range n {
			pages = append(pages, key<<16|r.Uint32N(1<<16))
		}
	}
	slices.Sort(pages)
	return slices.Compact(pages)
}

// TestSetBuilderMatchesBitmap applies random sequences of calls to a
// setBuilder and to a plain bitmap: the sets must be equal and valid.
// Increasing batches take the serialization path, the others AddMany.
func TestSetBuilderMatchesBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b setBuilder
	for trial := range 400 {
		got, want := roaring.New(), roaring.New()
		b.reset(got)
		var last int64 = -1
		for range r.IntN(5) {
			switch op := r.IntN(10); {
			case op < 6: // an increasing batch above the last: the samplers' way
				set := builderSet(r, 1+r.IntN(3000), 0xffff)
				i, _ := slices.BinarySearch(set, uint32(last+1))
				set = set[i:]
				if op == 0 && len(set) > 0 {
					set = set[:1]
				}
				b.AddMany(set)
				want.AddMany(set)
				if len(set) > 0 {
					last = int64(set[len(set)-1])
				}
			case op < 8: // anything, duplicates and disorder included
				set := builderSet(r, 1+r.IntN(50), 0xffff)
				r.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
				set = append(set, set[:len(set)/3]...)
				b.AddMany(set)
				want.AddMany(set)
				last = 1<<32 - 1
			case op == 8:
				lo := uint64(r.Uint32())
				hi := min(lo+uint64(r.IntN(200000)), 1<<32)
				b.AddRange(lo, hi)
				want.AddRange(lo, hi)
				last = 1<<32 - 1
			default:
				x := roaring.BitmapOf(builderSet(r, 1+r.IntN(5000), 0xffff)...)
				b.AndNot(x)
				want.AndNot(x)
				last = 1<<32 - 1
			}
		}
		if b.flush() != got {
			t.Fatal("flush returned another bitmap")
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("trial %d: invalid bitmap: %v", trial, err)
		}
		if !got.Equals(want) {
			t.Fatalf("trial %d: built %d pages, want %d", trial, got.GetCardinality(), want.GetCardinality())
		}
	}
}

// TestSetBuilderSerialization checks the serialization byte for byte
// against roaring's own for the same pages (added with AddMany, which makes
// array containers of up to 4096 pages and bitmap containers above).
func TestSetBuilderSerialization(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var b setBuilder
	for trial := range 200 {
		pages := builderSet(r, 1+r.IntN(20000), []uint32{0, 3, 0xffff}[trial%3])
		if trial == 0 {
			pages = []uint32{0, 1<<32 - 1}
		}
		b.reset(roaring.New())
		b.AddMany(pages)
		var want bytes.Buffer
		if _, err := roaring.BitmapOf(pages...).WriteTo(&want); err != nil {
			t.Fatal(err)
		}
		if got := b.serialize(); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("trial %d (%d pages): serialization differs from roaring's", trial, len(pages))
		}
	}
}

// TestSetBuilderSharesNothing checks that a built bitmap shares no storage
// with the builder or with the next set it builds, and that it can be
// changed like any bitmap.
func TestSetBuilderSharesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var b setBuilder
	build := func(pages []uint32) *roaring.Bitmap {
		bm := roaring.New()
		b.reset(bm)
		b.AddMany(pages)
		return b.flush()
	}
	// Odd-sized array containers before bitmap containers: the bitmap
	// containers' words are not 8-byte aligned in the serialization.
	setA := builderSet(r, 30000, 40)
	setB := builderSet(r, 30000, 40)
	a := build(setA)
	wantA := roaring.BitmapOf(setA...)
	b.reset(roaring.New())
	b.AddMany(setB) // the builder's scratch now holds setB
	bm := b.flush()
	if !a.Equals(wantA) || !bm.Equals(roaring.BitmapOf(setB...)) {
		t.Fatal("building a second set changed the first")
	}
	// Change a, container by container: the second set must not move.
	snapshot := bm.Clone()
	for _, p := range setA[:2000] {
		a.Remove(p)
		a.Add(p ^ 1)
	}
	a.AddRange(1<<16, 3<<16)
	if !bm.Equals(snapshot) {
		t.Fatal("changing one built set changed another")
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSetBuilderReadsInPlace checks that roaring's ReadFrom takes the
// fast path of serialInput (its ByteInput methods), with one allocation
// per container and one for the serialization, rather than the io.Reader
// path, which copies every container. A later roaring that no longer
// takes it stays correct (see TestSerialInputReader) but slower: this
// test says so.
func TestSetBuilderReadsInPlace(t *testing.T) {
	var pages []uint32 // 500 containers of two pages
	for key := range uint32(500) {
		pages = append(pages, key<<16|key*37, key<<16|60000)
	}
	containers := roaring.BitmapOf(pages...).Stats().Containers
	var b setBuilder
	bm := roaring.New()
	allocs := testing.AllocsPerRun(20, func() {
		bm.Clear()
		b.reset(bm)
		b.AddMany(pages)
		b.flush()
	})
	if allocs > float64(containers)+2 {
		t.Errorf("%v allocations to build %d containers: ReadFrom does not use serialInput's ByteInput methods", allocs, containers)
	}
}

// TestSerialInputReader reads serializations through serialInput's
// io.Reader alone, the path ReadFrom falls back to for other readers.
func TestSerialInputReader(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var b setBuilder
	for range 50 {
		pages := builderSet(r, 1+r.IntN(20000), 100)
		b.reset(roaring.New())
		b.AddMany(pages)
		var in serialInput
		in.reset(b.serialize())
		got := roaring.New()
		if _, err := got.ReadFrom(struct{ io.Reader }{&in}); err != nil {
			t.Fatal(err)
		}
		if !got.Equals(roaring.BitmapOf(pages...)) {
			t.Fatal("reading through io.Reader gives another set")
		}
	}
}
