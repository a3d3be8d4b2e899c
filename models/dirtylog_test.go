package models

import (
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// The flat dirty log must agree with roaring's union, count and contents,
// through adds, ors and clears.
func TestDirtyLogMatchesRoaring(t *testing.T) {
	const pages = 1<<20 + 77
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := newDirtyLog(pages), newDirtyLog(pages)
	wantA, wantB := roaring.New(), roaring.New()
	for round := range 50 {
		set := roaring.New()
		switch round % 3 {
		case 0: // scattered
			for range 500 {
				set.Add(uint32(rng.Uint64N(pages)))
			}
		case 1: // a dense range
			lo := rng.Uint64N(pages - 70000)
			set.AddRange(lo, lo+70000)
		case 2: // the last page
			set.Add(pages - 1)
		}
		a.add(set)
		wantA.Or(set)
		if round%7 == 0 {
			b.add(set)
			wantB.Or(set)
		}
		if round%10 == 9 {
			a.or(b)
			wantA.Or(wantB)
		}
		if a.count != wantA.GetCardinality() {
			t.Fatalf("round %d: count %d, want %d", round, a.count, wantA.GetCardinality())
		}
		if !a.bitmap().Equals(wantA) {
			t.Fatalf("round %d: contents differ", round)
		}
		if round%16 == 15 {
			a.clear()
			wantA.Clear()
			if a.count != 0 || !a.bitmap().IsEmpty() {
				t.Fatalf("round %d: clear left pages", round)
			}
		}
	}
}
