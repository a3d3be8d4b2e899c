package models

import (
	"math"
	"slices"

	"github.com/migsim/migsim/traces"
)

// XBZRLE's cache on the fluid engine when pages share its slots: a cache
// smaller than the pages the workload writes ([Xbzrle] for the rules).
//
// # The slot chain
//
// Slot s serves pages s, s+S, s+2S, … (S slots): its chain. A lookup of
// page p (p dirty in a pass or chunk, in ascending page order) hits when
// the slot holds p; a miss inserts p when the slot is empty or its page is
// stale (neither inserted nor hit at the current sync count or the one
// before: QEMU's CACHED_PAGE_LIFETIME of 2). A slot's state is its page
// (a position of its chain, or none) and that page's freshness: touched
// at the current sync count (f0), at the one before (f1), or earlier
// (stale). Take the chance that a page is dirty at its lookup to depend
// on its place in memory only, independently of its other lookups and of
// the other pages (windows of guest time apart, as the pages the
// bitmap holds at successive lookups are). Then, for a lookup of chain
// position j dirty with chance d, with A the chance that the slot is
// empty or holds a stale page:
//
//	hits       += d · P(holds j)
//	P(j, f0)   += d · (A + P(j, f1))     (a miss inserts, a hit refreshes)
//	P(j, f1)   ×= 1 − d
//	A          ×= 1 − d                  (the empty and stale states, j's own included)
//
// and a sync moves f0 to f1 and f1 to stale. Every update is linear in
// the state, so a group of slots can be followed by its mean state: the
// mean of the slots' updates is the update of the mean.
//
// The slots are cut into G bins of consecutive residues (S/G slots each,
// also cut where the workload's fixed piece boundaries fall in the
// chain), and memory up to the top of what the workload writes into
// cells, cell c holding chain position c / G of the slots of bin c mod
// G. Each cell keeps its slots' mean f0, f1 and stale masses, each bin
// its A; the stale masses of a bin are kept over a factor of the bin's,
// so that the "A ×= 1 − d" of a lookup costs O(1). A pass costs
// O(cells) = O(written pages × G / S), G as large as xbzrleSlotCells
// allows. A lookup that covers part of a cell (a chunk's end under
// sync_policy qemu) takes d times the part; a moving piece boundary
// inside a cell (a partial epoch's) averages d over the cell. Both mix
// slots whose later chances differ; each touches one cell of the
// chain's G × positions, and none when a bin is a slot.
//
// The order of the lookups is the page engine's: a pass in ascending
// page order, and a qemu chunk too, over its pages, though the scan that
// took them wrapped (fluidBitmap.take). A stop-and-copy pass inserts
// nothing, so it finds pages that a live pass would have evicted before
// their own lookup.
//
// # Not covered
//
// A zipf workload: a page's rank makes its lookups' chances depend on
// each other (a popular page is dirty at every lookup, so holds its slot
// and hits), which chances by place in memory do not follow.

// xbzrleSlotCells bounds the cells: G is the largest power of two (at
// most S, one slot per bin) that keeps the cells within it, before the
// bins are also cut where the workload's fixed piece boundaries (its
// working sets, a hotcold guest's hot part, the memory classes) fall in
// the chain. At 256 MiB of written memory and a 64 MiB cache that is
// 4,096 bins of 4 slots; at 16 GiB, 64 bins of 256. Before the bins were
// cut at the fixed boundaries, a hotcold guest of 256 MiB over 64 bins
// had 0.8 % fewer hits in its stop-and-copy pass (and so 2.4 % more
// downtime) than the exact chains. What coarse bins still mix is the
// moving boundaries (partial epochs, chunk ends): with 1 << 8 cells a
// sequential guest's hits under sync_policy qemu came out 6.7 % high,
// with 1 << 14 within 0.2 % (TestFluidXbzrleSmallCache).
const xbzrleSlotCells = 1 << 14

// xbzrleSlotModel is the expected state of XBZRLE's cache when pages
// share its slots.
type xbzrleSlotModel struct {
	slots float64   // S
	res   []float64 // the bins' residue bounds, from 0 to S
	bins  int
	top   float64 // the cells cover [0, top)
	// Per cell, in page order (chain position cell / bins, bin cell mod
	// bins): the mean chance over its slots that the slot holds the
	// cell's page touched at the current sync count, at the one before,
	// or stale (st, over its bin's scale).
	f0, f1, st []float64
	// Per bin: the factor of its stale masses, and the chance that a slot
	// of it is empty or holds a stale page, over that factor.
	scale, repl []float64
}

// newXbzrleSlotModel returns the empty cache of slots slots for a
// workload that writes pages below top, with fixed piece boundaries cuts.
func newXbzrleSlotModel(slots, top uint64, cuts []uint64) *xbzrleSlotModel {
	g := uint64(1)
	for g < slots && float64(2*g)*float64(top)/float64(slots) <= xbzrleSlotCells {
		g *= 2
	}
	res := make([]float64, 0, g+uint64(len(cuts))+1)
	for k := range g + 1 {
		res = append(res, float64(k*slots/g))
	}
	for _, c := range cuts {
		if c < top {
			res = append(res, float64(c%slots))
		}
	}
	slices.Sort(res)
	res = slices.Compact(res)
	bins := len(res) - 1
	n := int(math.Ceil(float64(top)/float64(slots))) * bins
	m := &xbzrleSlotModel{slots: float64(slots), res: res, bins: bins, top: float64(top),
		f0: make([]float64, n), f1: make([]float64, n), st: make([]float64, n),
		scale: make([]float64, bins), repl: make([]float64, bins)}
	for r := range bins {
		m.scale[r], m.repl[r] = 1, 1 // every slot empty
	}
	return m
}

// cell returns the cell that holds page a.
func (m *xbzrleSlotModel) cell(a float64) int {
	j := math.Floor(a / m.slots)
	q := a - j*m.slots
	b, found := slices.BinarySearch(m.res, q)
	if !found {
		b--
	}
	return int(j)*m.bins + min(b, m.bins-1)
}

// bounds returns cell c's pages [lo, hi) and its slots.
func (m *xbzrleSlotModel) bounds(c int) (lo, hi, slots float64) {
	j, b := float64(c/m.bins)*m.slots, c%m.bins
	return j + m.res[b], j + m.res[b+1], m.res[b+1] - m.res[b]
}

// sync moves the cache to the next sync count: pages touched at the one
// before go stale.
func (m *xbzrleSlotModel) sync() {
	for c := range m.f0 {
		r := c % m.bins
		if f := m.f1[c]; f > 0 {
			m.st[c] += f / m.scale[r]
			m.repl[r] += f / m.scale[r]
		}
		m.f1[c], m.f0[c] = m.f0[c], 0
	}
}

// renormalize folds bin r's factor into its stale masses, when it has
// grown too small to divide by.
func (m *xbzrleSlotModel) renormalize(r int) {
	s := m.scale[r]
	for c := r; c < len(m.st); c += m.bins {
		m.st[c] *= s
	}
	m.repl[r] *= s
	m.scale[r] = 1
}

// lookupCell looks up the pages of cell c at chance d each (the chance of
// a page of the cell to be dirty, times the share of the cell looked up),
// and returns the expected hits per slot of the cell; last (the
// stop-and-copy pass) inserts nothing.
func (m *xbzrleSlotModel) lookupCell(c int, d float64, last bool) float64 {
	if d <= 0 {
		return 0
	}
	d = math.Min(d, 1)
	r := c % m.bins
	s := m.scale[r]
	hit := d * (m.f0[c] + m.f1[c] + m.st[c]*s)
	if last {
		return hit
	}
	m.f0[c] += d * (m.repl[r]*s + m.f1[c])
	m.f1[c] *= 1 - d
	if s *= 1 - d; s < 1e-200 {
		m.scale[r] = s
		m.renormalize(r)
		return hit
	}
	m.scale[r] = s
	return hit
}

// lookup looks up the pages of [lo, hi) in ascending order, each with the
// chance in(a, z)/(z − a) that a page of [a, z) is dirty (nil: every
// page), and returns the expected hits.
func (m *xbzrleSlotModel) lookup(lo, hi float64, in func(a, z float64) float64, last bool) float64 {
	hi = math.Min(hi, m.top)
	var hits float64
	for c := m.cell(lo); c < len(m.f0); c++ {
		clo, chi, w := m.bounds(c)
		if clo >= hi {
			break
		}
		a, z := math.Max(lo, clo), math.Min(hi, chi)
		if z <= a {
			continue
		}
		d := 1.0
		if in != nil {
			d = in(a, z) / (z - a)
		}
		hits += w * m.lookupCell(c, d*(z-a)/w, last)
	}
	return hits
}

// piecesIn returns the pages of [a, z) in a set whose pieces are ps,
// a page of ps[i] in it with chance p[i], for lookup: it visits the
// pieces once over ascending calls.
func piecesIn(ps []traces.Piece, p []float64) func(a, z float64) float64 {
	i := 0
	return func(a, z float64) float64 {
		for i > 0 && (i >= len(ps) || float64(ps[i].Lo) > a) {
			i-- // not ascending: go back
		}
		var n float64
		for j := i; j < len(ps); j++ {
			pc := ps[j]
			if float64(pc.Lo) >= z {
				break
			}
			if float64(pc.Hi) <= a {
				i = j + 1
				continue
			}
			n += (math.Min(z, float64(pc.Hi)) - math.Max(a, float64(pc.Lo))) * p[j]
		}
		return n
	}
}

// windowIn is piecesIn for the pages of w.
func windowIn(w *traces.Window) func(a, z float64) float64 {
	p := make([]float64, len(w.Pieces))
	for i, pc := range w.Pieces {
		p[i], _ = w.PieceIn(pc)
	}
	return piecesIn(w.Pieces, p)
}
