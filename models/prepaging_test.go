package models

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bitset"

	"github.com/migsim/migsim/sim"
)

// drain runs order over missing, requesting a random missing page every
// `every` pushes, and returns the pages in the order they left the source.
func drain(t *testing.T, order pushOrder, set *roaring.Bitmap, every int, rng *rand.Rand) []uint32 {
	t.Helper()
	missing := dense(set, uint64(set.Maximum())+1)
	var out []uint32
	for i := 0; !set.IsEmpty(); i++ {
		var p uint32
		if every > 0 && i%every == every-1 {
			k := rng.Uint64N(set.GetCardinality())
			var err error
			if p, err = set.Select(uint32(k)); err != nil {
				t.Fatal(err)
			}
		} else {
			p = order.next(missing)
		}
		if !set.Contains(p) {
			t.Fatalf("push order returned page %d, which is not missing", p)
		}
		set.Remove(p)
		missing.Clear(uint(p))
		out = append(out, p)
		if every > 0 && i%every == every-1 {
			order.requested(p)
		}
	}
	return out
}

// Every push order sends every missing page exactly once, whatever the
// requests, so the post-copy link never idles while pages are missing.
func TestPushOrdersSendEachPageOnce(t *testing.T) {
	const pages = 5000
	orders := map[string]func() pushOrder{
		"none":          func() pushOrder { return newPivotOrder(PrepagingNone, pages, 4) },
		"forward":       func() pushOrder { return newPivotOrder(PrepagingForward, pages, 4) },
		"bubbling":      func() pushOrder { return newPivotOrder(PrepagingBubbling, pages, 4) },
		"multi-pivot-2": func() pushOrder { return newPivotOrder(PrepagingMultiPivot, pages, 2) },
		"multi-pivot-5": func() pushOrder { return newPivotOrder(PrepagingMultiPivot, pages, 5) },
		"list":          func() pushOrder { return &listOrder{list: []uint32{4000, 17, 17, 4999, 0, 2500}} },
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range orders {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		for _, every := range []int{0, 1, 3, 50} {
			for _, holes := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/every=%d/holes=%v", name, every, holes), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(every), 9))
					missing := allPages(pages)
					if holes { // a hybrid's dirty set: scattered pages and runs
						missing = roaring.New()
						for p := uint32(0); p < pages; p++ {
							if rng.IntN(3) == 0 || (p > 1000 && p < 1500) {
								missing.Add(p)
							}
						}
					}
					want := missing.ToArray()
					got := drain(t, orders[name](), missing, every, rng)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("sent %d pages (%d distinct), want the %d missing ones once each",
							len(got), len(slices.Compact(slices.Clone(got))), len(want))
					}
				})
			}
		}
	}
}

// The push orders' shapes: none scans up from 0; forward continues after
// the requested page and wraps; bubbling alternates around the pivot;
// multi-pivot keeps two bubbles growing and stops edges where they meet.
func TestPushOrderShapes(t *testing.T) {
	take := func(o pushOrder, missing *bitset.BitSet, n int) []uint32 {
		var out []uint32
		for range n {
			if missing.None() {
				break
			}
			p := o.next(missing)
			missing.Clear(uint(p))
			out = append(out, p)
		}
		return out
	}
	request := func(o pushOrder, missing *bitset.BitSet, p uint32) {
		missing.Clear(uint(p))
		o.requested(p)
	}
	allPages := func(n uint64) *bitset.BitSet { return bitset.New(uint(n)).FlipRange(0, uint(n)) }
	cases := []struct {
		mode Prepaging
		want []uint32
	}{
		{PrepagingNone, []uint32{0, 1, 2, 3, 4, 5, 6, 7}},
		{PrepagingForward, []uint32{0, 1, 51, 52, 53, 54, 55, 56}},
		{PrepagingBubbling, []uint32{0, 1, 51, 49, 52, 48, 53, 47}},
	}
	for _, c := range cases {
		missing := allPages(60)
		o := newPivotOrder(c.mode, 60, 4)
		got := take(o, missing, 2)
		request(o, missing, 50)
		got = append(got, take(o, missing, 6)...)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: pushed %v, want %v", c.mode, got, c.want)
		}
	}
	// Forward wraps at the top of memory.
	missing := allPages(10)
	o := newPivotOrder(PrepagingForward, 10, 1)
	request(o, missing, 8)
	if got := take(o, missing, 4); !slices.Equal(got, []uint32{9, 0, 1, 2}) {
		t.Errorf("forward after a request at the top: %v, want wrap to 0", got)
	}
	// Multi-pivot: bubbles at 20 and 30 grow in turn; their facing edges
	// meet at 25 and stop, so the remaining pages go to the outer edges.
	missing = allPages(40)
	mp := newPivotOrder(PrepagingMultiPivot, 40, 2)
	request(mp, missing, 20)
	request(mp, missing, 30) // retires the start bubble at page 0
	got := take(mp, missing, 12)
	want := []uint32{31, 29, 21, 19, 32, 28, 22, 18, 33, 27, 23, 17}
	if !slices.Equal(got, want) {
		t.Errorf("multi-pivot pushed %v, want %v", got, want)
	}
	got = take(mp, missing, 40)
	if len(got) != 40-2-12 || slices.Contains(got, 20) || slices.Contains(got, 30) {
		t.Errorf("multi-pivot did not drain memory: %v", got)
	}
}

func TestFullSpeedMeter(t *testing.T) {
	ms := func(v float64) sim.Time { return sim.Time(v * 1e6) }
	type loss struct {
		a, b  float64 // ms
		share float64
	}
	cases := []struct {
		name   string
		losses []loss
		want   float64 // s
	}{
		{"undisturbed", nil, 0},
		{"short-downtime", []loss{{1000, 1004, 1}}, 0}, // 4 ms < 5 % of 100 ms
		// 50 ms stopped from 1 s: windows (t−0.1, t] hold more than 5 ms
		// of it while t < 1.145; the last slot end before that is 1.14.
		{"downtime", []loss{{1000, 1050, 1}}, 1.14},
		// A 30 % throttle for 2 s is slow in every window that overlaps it
		// by more than 1/6 of its length.
		{"throttle", []loss{{0, 2000, 0.3}}, 2.08},
		// Stalls of 1 ms every 10 ms lose 10 %: windows are slow until
		// they hold 5 stalls or fewer, after the window ending at 1.04 s
		// (stalls 940 to 990 ms).
		{"stalls", func() []loss {
			var l []loss
			for i := range 100 {
				l = append(l, loss{float64(i * 10), float64(i*10) + 1, 1})
			}
			return l
		}(), 1.04},
	}
	for _, c := range cases {
		m := newFullSpeedMeter(100*time.Millisecond, 0.95)
		for _, l := range c.losses {
			m.addLoss(ms(l.a), ms(l.b), l.share)
		}
		if got := m.result(); rel(got, c.want) > 1e-9 {
			t.Errorf("%s: full speed at %v s, want %v s", c.name, got, c.want)
		}
	}
}
