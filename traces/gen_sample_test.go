package traces

import (
	"math/rand/v2"
	"testing"
)

// TestFillBelow checks that fillBelow gives the numbers successive calls
// of below give, and leaves the stream where they leave it, for ranges
// with frequent rejections (just above 2^31), the full 32 bits, batches of
// odd and even lengths, and a spare half-draw pending or not.
func TestFillBelow(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 1000, 1677722, 1<<31 + 1, 3 << 30, 1<<32 - 1, 1 << 32} {
		for _, k := range []int{0, 1, 2, 7, 100, 1001} {
			for _, spare := range []bool{false, true} {
				var a, b sampler
				a.init(rand.NewPCG(n, uint64(k)))
				b.init(rand.NewPCG(n, uint64(k)))
				if spare {
					a.uint32()
					b.uint32()
				}
				base := uint32(1<<32 - n)
				got := make([]uint32, k)
				a.fillBelow(got, base, n)
				for i := range got {
					if want := base + uint32(b.below(n)); got[i] != want {
						t.Fatalf("n=%d k=%d spare=%v: value %d is %d, want %d", n, k, spare, i, got[i], want)
					}
				}
				if x, y := a.uint32(), b.uint32(); x != y {
					t.Fatalf("n=%d k=%d spare=%v: the streams part after the batch", n, k, spare)
				}
			}
		}
	}
}
