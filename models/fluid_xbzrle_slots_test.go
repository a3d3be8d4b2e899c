package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/migsim/migsim/traces"
)

// TestXbzrleSlotModelChain holds the slots' model to QEMU's cache rule
// run page by page (xbzrleCache.plan's): pages dirty independently at
// each pass with a chance by place in memory, over many seeds; the hits
// of every pass within 4 standard errors plus 0.5 %.
func TestXbzrleSlotModelChain(t *testing.T) {
	const slots, pages = 256, 16 * 256
	for _, c := range []struct {
		name string
		d    func(pass int, p int) float64
	}{
		{"uniform", func(_, _ int) float64 { return 0.3 }},
		{"hot-low", func(_, p int) float64 { return map[bool]float64{true: 0.9, false: 0.05}[p < pages/10] }},
		{"varying", func(n, p int) float64 { return 0.1 + 0.6*float64((n*7+p/500)%5)/4 }},
	} {
		const passes, seeds = 8, 400
		m := newXbzrleSlotModel(slots, pages, []uint64{pages / 10})
		var want [passes]float64
		for n := range passes {
			m.sync()
			for cell := range m.f0 {
				lo, hi, w := m.bounds(cell)
				var d float64
				for p := int(lo); p < int(hi); p++ {
					d += c.d(n, p)
				}
				want[n] += w * m.lookupCell(cell, d/w, n == passes-1)
			}
		}
		var sum, sum2 [passes]float64
		for s := range seeds {
			rng := rand.New(rand.NewPCG(uint64(s), 7))
			x := &xbzrleCache{mask: slots - 1, addr: make([]uint32, slots), age: make([]uint64, slots)}
			gen := uint64(1)
			for n := range passes {
				gen++
				var hits float64
				for p := range pages {
					if rng.Float64() >= c.d(n, p) {
						continue
					}
					sl := uint64(p) & x.mask
					if x.addr[sl] == uint32(p+1) {
						x.age[sl] = gen
						hits++
						continue
					}
					if n < passes-1 && (x.addr[sl] == 0 || x.age[sl]+xbzrleCachedPageLifetime <= gen) {
						x.addr[sl], x.age[sl] = uint32(p+1), gen
					}
				}
				sum[n] += hits
				sum2[n] += hits * hits
			}
		}
		for n := range passes {
			mean := sum[n] / seeds
			se := math.Sqrt(math.Max(0, sum2[n]/seeds-mean*mean) / seeds)
			t.Logf("%s pass %d: model %.1f hits, page level %.1f ± %.1f", c.name, n, want[n], mean, se)
			if math.Abs(want[n]-mean) > 4*se+0.005*mean {
				t.Errorf("%s pass %d: model %.1f hits, page level %.1f ± %.1f", c.name, n, want[n], mean, se)
			}
		}
	}
}

// TestPiecesIn: the pages of a range in a set of pieces, over ascending
// calls, a call that goes back, and the set's last page.
func TestPiecesIn(t *testing.T) {
	in := piecesIn([]traces.Piece{{Lo: 0, Hi: 10}, {Lo: 10, Hi: 20}}, []float64{0.5, 1})
	for _, c := range []struct{ a, z, want float64 }{
		{0, 5, 2.5}, {5, 15, 7.5}, {15, 20, 5}, {19.5, 20, 0.5}, {2, 4, 1}, {9, 11, 1.5},
	} {
		if got := in(c.a, c.z); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("[%g, %g): %g pages, want %g", c.a, c.z, got, c.want)
		}
	}
}
