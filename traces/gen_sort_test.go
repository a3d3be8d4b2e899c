package traces

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortDistinct checks sortDistinct against a plain sort and compact,
// on spread values (the bucket pass), few values (insertion alone),
// duplicates, values piled in one bucket (the radix fallback), and sorted
// or reversed input.
func TestSortDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s sorter
	for trial := range 3000 {
		n := []int{0, 1, 2, 3, 31, 32, 33, 100, 1800, 5000, 70000}[trial%11]
		width := []int{0, 1, 5, 16, 21, 24, 28, 32}[r.IntN(8)]
		base := uint32(0)
		if width < 32 {
			base = uint32(r.Uint64N(1<<32 - 1<<width + 1))
		}
		a := make([]uint32, n)
		for i := range a {
			a[i] = base + uint32(r.Uint64N(1<<width))
		}
		switch trial % 5 {
		case 1: // duplicates
			for i := range a {
				a[i] = a[r.IntN(i+1)]
			}
		case 2: // one crowded bucket
			for i := range a {
				a[i] = base + uint32(r.Uint64N(1<<width)>>(width/2))
			}
		case 3:
			slices.Sort(a)
		case 4:
			slices.Sort(a)
			slices.Reverse(a)
		}
		want := slices.Compact(slices.Sorted(slices.Values(a)))
		if got := s.sortDistinct(a, base, width); !slices.Equal(got, want) {
			t.Fatalf("trial %d (n=%d width=%d base=%d): sortDistinct differs from sort and compact", trial, n, width, base)
		}
	}
}

// TestSettle checks settle, which merges a batch of new values into the
// sorted, distinct ones so far, with short tails (binary searches) and
// long ones (a linear merge).
func TestSettle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var s sorter
	for trial := range 2000 {
		width := 1 + r.IntN(20)
		m, d := r.IntN(3000), r.IntN(3000)
		if trial%2 == 0 {
			d = r.IntN(10)
		}
		draw := func(k int) []uint32 {
			a := make([]uint32, k)
			for i := range a {
				a[i] = uint32(r.Uint64N(1 << width))
			}
			return a
		}
		head := slices.Compact(slices.Sorted(slices.Values(draw(m))))
		tail := draw(d)
		want := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(head), tail...))))
		got := s.settle(append(slices.Clone(head), tail...), len(head), 0, width)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (m=%d d=%d width=%d): settle differs from sort and compact", trial, len(head), d, width)
		}
	}
}

// TestInsertSortedGivesUp checks that insertSorted stops after maxMoves
// moves, and sorts when allowed enough.
func TestInsertSortedGivesUp(t *testing.T) {
	src := []uint32{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}
	if _, ok := insertSorted(make([]uint32, len(src)), src, 10); ok {
		t.Error("insertSorted did 45 moves with a budget of 10")
	}
	got, ok := insertSorted(make([]uint32, len(src)), src, 45)
	if want := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !ok || !slices.Equal(got, want) {
		t.Errorf("insertSorted = %v, %v; want %v, true", got, ok, want)
	}
}
