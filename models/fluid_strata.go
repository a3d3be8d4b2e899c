package models

import (
	"math"

	"github.com/migsim/migsim/traces"
)

// A zipf guest's post-copy after pre-copy rounds (a hybrid's, a forced
// switch's) by rank bucket.
//
// The fluid post-copy's blocks of memory hold counts: pages the
// destination has, pushed, requested, accessed since the resume. A page
// the guest accesses for the first time is taken to be missing with the
// block's share of missing pages among those not accessed yet, which is
// exact when whether a page is missing does not depend on when the guest
// first touches it. After a zipf guest's pre-copy rounds it does: the
// pages the rounds leave are those it wrote last, its popular ranks,
// which it also touches first after the resume; ranks are scattered over
// the working set, so every block holds both. With counts per block
// alone the fluid hybrid made up to 85 % fewer requests than the page
// engine (TestFluidHybridZipf).
//
// So each block of the law's working set is split into cells, one per
// group of rank buckets of the law ([traces.Expect.ZipfLaws]): the group's
// share of the block's pages, each cell with its own pages missing at the
// switch (the bucket's, from the switch's windows: fluidMissing) and
// accessed since the resume (the bucket's, from the written and read
// windows). Given its rank, whether a page is missing at the switch and
// when the guest touches it after are independent (the epochs' draws
// are), so within a cell the block's rule is exact again. The push works
// through a block by address, which knows nothing of ranks: it takes
// each cell's unsent pages in proportion. The block's own counts stay the
// sums of its cells'.
//
// One zipf law only: a page's buckets under two laws would need cells per
// pair. A hybrid with more than one zipf phase falls back to the page
// engine (fluidCovers).

// fluidMissing is what a switch to post-copy leaves to send, as a fluid
// pre-copy knows it: the last sync's window (sync_policy pass) or the
// migration bitmap (qemu).
type fluidMissing interface {
	// countIn returns the expected pages of [lo, hi) missing.
	countIn(lo, hi uint64) float64
	// bucketsIn adds to dst[b], for each rank bucket b of zipf law l,
	// the pages of [lo, hi) times the probability that such a page of
	// bucket b is missing, and returns scratch, reused.
	bucketsIn(lo, hi uint64, l int, dst, scratch []float64) []float64
	// parts appends to dst the parts of [lo, hi), each either every page
	// (full) or the pages written from since to the switch.
	parts(lo, hi uint64, dst []missingPart) []missingPart
}

// missingPart is pages [a, z) of what a switch leaves to send: every
// page (full), or those written from guest time since to the switch.
type missingPart struct {
	a, z  float64
	full  bool
	since float64
}

// windowMissing is the pages of a window missing: sync_policy pass's
// last sync, w, the pages written since from.
type windowMissing struct {
	w    *traces.Window
	from float64
}

func (m windowMissing) parts(lo, hi uint64, dst []missingPart) []missingPart {
	return append(dst, missingPart{a: float64(lo), z: float64(hi), since: m.from})
}

func (m windowMissing) countIn(lo, hi uint64) float64 { return m.w.CountIn(lo, hi) }

func (m windowMissing) bucketsIn(lo, hi uint64, l int, dst, scratch []float64) []float64 {
	return windowBuckets(m.w, float64(lo), float64(hi), l, dst, scratch)
}

// windowBuckets adds to dst[b] the pages of [lo, hi) times the
// probability that such a page of rank bucket b under law l is in w, and
// returns dst; scratch is reused.
func windowBuckets(w *traces.Window, lo, hi float64, l int, dst, scratch []float64) []float64 {
	for _, pc := range w.Pieces {
		a, z := math.Max(lo, float64(pc.Lo)), math.Min(hi, float64(pc.Hi))
		if z <= a {
			continue
		}
		scratch = w.PieceBuckets(pc, l, scratch)
		for b, p := range scratch {
			dst[b] += (z - a) * p
		}
	}
	return scratch
}

// parts is [fluidMissing.parts] for the bitmap: its segments.
func (b *fluidBitmap) parts(lo, hi uint64, dst []missingPart) []missingPart {
	for i := range b.segs {
		s := &b.segs[i]
		if a, z := math.Max(s.lo, float64(lo)), math.Min(s.hi, float64(hi)); z > a {
			dst = append(dst, missingPart{a: a, z: z, full: s.full, since: s.since})
		}
	}
	return dst
}

// bucketsIn is [fluidMissing.bucketsIn] for the bitmap: a segment full
// since setup holds every page, else those its window holds.
func (b *fluidBitmap) bucketsIn(lo, hi uint64, l int, dst, scratch []float64) []float64 {
	for i := range b.segs {
		s := &b.segs[i]
		a, z := math.Max(s.lo, float64(lo)), math.Min(s.hi, float64(hi))
		if z <= a {
			continue
		}
		if s.full {
			for k := range dst {
				dst[k] += z - a
			}
			continue
		}
		scratch = windowBuckets(&b.window(s.since).w, a, z, l, dst, scratch)
	}
	return scratch
}

// strataWeightRatio bounds the spread of the zipf weights within a cell:
// consecutive rank buckets (8 per doubling of rank) share a cell while
// the first one's weight is at most this many times theirs.
const strataWeightRatio = 2

// fluidStrata is the blocks' cells, one per group of rank buckets of the
// law. A cell's unsent pages are its block's scale times its v: the push,
// which takes each cell's unsent pages in proportion, scales the block
// (O(1) per block), and requests come off v.
type fluidStrata struct {
	law    int
	shares []float64 // per bucket
	group  []int     // per bucket: its cell
	cellSh []float64 // per cell: the share of the law's pages
	cells  [][]fluidCell
	scale  []float64 // per block
	vsum   []float64 // per block: its cells' v
	bk     []float64 // scratch per bucket
	tmp    []float64
	pw, pr []float64      // scratch per cell
	pieces [4][][]float64 // per window of setEpoch and piece: each cell's probability

	coef       []strataCoef                // per block (prepare)
	unionCells map[float64]*[2][][]float64 // replayEpoch's windows' cells per piece, by since
	fresh      bool                        // coef holds for the sets of [from, end)
	from, end  float64
}

// fluidCell is a block's pages of one group of rank buckets.
type fluidCell struct {
	n, accessed float64
	// m0 are its pages missing at the switch, am those of them accessed
	// since, and uFrom and uEnd the pages in the union of the accesses
	// and the missing set at the epoch's part from and at its end
	// (fluid_replay.go).
	m0, am, uFrom, uEnd float64
	v                   float64 // unsent pages over the block's scale
	done, cur           float64 // accessed from the resume to setsFrom, and in [setsFrom, setsEnd) (epochSets)
}

// newFluidStrata returns the cells of blocks after a switch that leaves
// missing, for a workload x with one zipf law; nil without a zipf law or
// without pre-copy rounds (nothing then ties the missing pages to
// ranks). It sets each split block's have to its cells'.
func newFluidStrata(x *traces.Expect, blocks []fluidBlock, missing fluidMissing) *fluidStrata {
	laws := x.ZipfLaws()
	if len(laws) != 1 || missing == nil {
		return nil
	}
	law := laws[0]
	ws := float64(x.Layout().ZipfTop)
	s := &fluidStrata{law: 0, shares: law.Shares, group: make([]int, len(law.Shares))}
	first := 0
	for b, w := range law.Weights {
		if b > 0 && law.Weights[first] > strataWeightRatio*w {
			s.cellSh = append(s.cellSh, 0)
			first = b
		}
		if b == 0 {
			s.cellSh = append(s.cellSh, 0)
		}
		s.group[b] = len(s.cellSh) - 1
		s.cellSh[s.group[b]] += law.Shares[b]
	}
	nc := len(s.cellSh)
	s.cells = make([][]fluidCell, len(blocks))
	s.scale, s.vsum = make([]float64, len(blocks)), make([]float64, len(blocks))
	s.coef = make([]strataCoef, len(blocks))
	s.bk, s.pw, s.pr = make([]float64, len(s.shares)), make([]float64, nc), make([]float64, nc)
	for i := range blocks {
		b := &blocks[i]
		if b.zero || float64(b.hi) > ws {
			continue
		}
		clear(s.bk)
		s.tmp = missing.bucketsIn(b.lo, b.hi, s.law, s.bk, s.tmp)
		s.toCells(s.bk, s.pw)
		cells := make([]fluidCell, nc)
		b.have = 0
		for k := range cells {
			c := &cells[k]
			c.n = b.n * s.cellSh[k]
			c.v = math.Min(c.n, math.Max(0, s.cellSh[k]*s.pw[k]))
			c.m0 = c.v
			b.have += c.n - c.v
			s.vsum[i] += c.v
		}
		s.cells[i], s.scale[i] = cells, 1
	}
	return s
}

// toCells sets dst[k] to the share-weighted mean over cell k's buckets of
// per[b].
func (s *fluidStrata) toCells(per, dst []float64) {
	clear(dst)
	for b, p := range per {
		dst[s.group[b]] += s.shares[b] * p
	}
	for k := range dst {
		dst[k] /= s.cellSh[k]
	}
}

// windowCells sets pieces[j] to each cell's probability for every piece
// of w.
func (s *fluidStrata) windowCells(j int, w *traces.Window) {
	s.pieces[j] = s.cellsOf(s.pieces[j], w)
}

// cellsOf returns, in ps's slices (reused), each cell's probability for
// every piece of w.
func (s *fluidStrata) cellsOf(ps [][]float64, w *traces.Window) [][]float64 {
	ps = ps[:0]
	for _, pc := range w.Pieces {
		s.bk = w.PieceBuckets(pc, s.law, s.bk)
		var dst []float64
		if n := len(ps); n < cap(ps) {
			dst = ps[:n+1][n]
		}
		if len(dst) != len(s.cellSh) {
			dst = make([]float64, len(s.cellSh))
		}
		s.toCells(s.bk, dst)
		ps = append(ps, dst)
	}
	return ps
}

// setEpoch sets every split block's cells' pages accessed from the
// resume to from (wDone and rDone, written and read) and in what is left
// of the epoch (wCur, rCur), as epochSets does the blocks'.
func (s *fluidStrata) setEpoch(blocks []fluidBlock, wDone, rDone, wCur, rCur *traces.Window) {
	s.fresh = false
	wins := [4]*traces.Window{wDone, rDone, wCur, rCur}
	for j, w := range wins {
		s.windowCells(j, w)
	}
	for i := range blocks {
		cells := s.cells[i]
		if cells == nil {
			continue
		}
		b := &blocks[i]
		for pass := range 2 {
			s.blockCells(wins[2*pass], s.pieces[2*pass], b, s.pw)
			s.blockCells(wins[2*pass+1], s.pieces[2*pass+1], b, s.pr)
			for k := range cells {
				c := &cells[k]
				in := c.n * (1 - (1-s.pw[k])*(1-s.pr[k]))
				if pass == 0 {
					c.done = in
				} else {
					c.cur = in
				}
			}
		}
	}
}

// blockCells sets dst to each cell's probability in w over block b,
// from w's pieces' (ps).
func (s *fluidStrata) blockCells(w *traces.Window, ps [][]float64, b *fluidBlock, dst []float64) {
	s.rangeCells(w, ps, float64(b.lo), float64(b.hi), dst)
}

// rangeCells sets dst to each cell's probability in w over pages
// [lo, hi), from w's pieces' (ps).
func (s *fluidStrata) rangeCells(w *traces.Window, ps [][]float64, lo, hi float64, dst []float64) {
	clear(dst)
	for j, pc := range w.Pieces {
		a, z := math.Max(lo, float64(pc.Lo)), math.Min(hi, float64(pc.Hi))
		if z <= a {
			continue
		}
		f := (z - a) / (hi - lo)
		for k, p := range ps[j] {
			dst[k] += f * p
		}
	}
}

// replayEpoch sets every split block's cells' union of the accesses and
// the missing set at the epoch's part from and at its end, as
// replayWindows does the blocks': parts are the blocks' missing parts,
// wins the pages written from each part's since to from and to the
// epoch's end, rFrom and rEnd the pages read from the resume.
func (s *fluidStrata) replayEpoch(blocks []fluidBlock, parts []replayState, wins map[float64]*[2]fluidWin, rFrom, rEnd *fluidWin) {
	s.fresh = false
	if s.unionCells == nil {
		s.unionCells = map[float64]*[2][][]float64{}
	}
	for since, w := range wins {
		pc := s.unionCells[since]
		if pc == nil {
			pc = &[2][][]float64{}
			s.unionCells[since] = pc
		}
		for j := range 2 {
			pc[j] = s.cellsOf(pc[j], &w[j].w)
		}
	}
	s.windowCells(2, &rFrom.w)
	s.windowCells(3, &rEnd.w)
	for i := range blocks {
		cells := s.cells[i]
		if cells == nil {
			continue
		}
		for k := range cells {
			cells[k].uFrom, cells[k].uEnd = 0, 0
		}
		for _, p := range parts[i].parts {
			n := p.z - p.a
			if p.full {
				for k := range cells {
					cells[k].uFrom += n * s.cellSh[k]
					cells[k].uEnd += n * s.cellSh[k]
				}
				continue
			}
			w, pc := wins[p.since], s.unionCells[p.since]
			for j := range 2 {
				r := &rFrom.w
				rps := s.pieces[2]
				if j == 1 {
					r, rps = &rEnd.w, s.pieces[3]
				}
				s.rangeCells(&w[j].w, pc[j], p.a, p.z, s.pw)
				s.rangeCells(r, rps, p.a, p.z, s.pr)
				for k := range cells {
					u := n * s.cellSh[k] * (1 - (1-s.pw[k])*(1-s.pr[k]))
					if j == 0 {
						cells[k].uFrom += u
					} else {
						cells[k].uEnd += u
					}
				}
			}
		}
	}
}

// strataCoef is a block's new accesses, network faults and minor faults
// as linear functions of phi, the share of the epoch under way: within
// an epoch a cell's accesses since the resume are union(done, phi·cur) =
// done + phi·cur·(1 − done/n), and its chances that a new access
// misses or meets a page on the wire do not depend on phi.
type strataCoef struct{ fa, fb, qa, qb, ma, mb float64 }

// prepare sets each split block's coefficients for the sets of the epoch
// [from, end) (epochSets), unless they are set for it since the last
// change of the cells (commit, push).
func (s *fluidStrata) prepare(blocks []fluidBlock, from, end float64) {
	if s.fresh && from == s.from && end == s.end {
		return
	}
	s.fresh, s.from, s.end = true, from, end
	for i := range blocks {
		cells := s.cells[i]
		if cells == nil {
			continue
		}
		scale, fly := s.scale[i], s.flyPerV(i, &blocks[i])
		var co strataCoef
		for k := range cells {
			c := &cells[k]
			a, b := c.done-c.accessed, c.cur*(1-c.done/c.n)
			co.fa += a
			co.fb += b
			// The new accesses to pages missing at the switch: the overlap
			// count of fluid_replay.go, linear in phi.
			pool := c.m0 - c.am
			if pool <= 0 {
				continue
			}
			ma, mb := c.done+c.m0-c.uFrom-c.am, b-(c.uEnd-c.uFrom)
			pm := math.Min(1, scale*c.v/pool)
			pf := math.Min(1-pm, fly*c.v/pool)
			co.qa += ma * pm
			co.qb += mb * pm
			co.ma += ma * pf
			co.mb += mb * pf
		}
		s.coef[i] = co
	}
}

// flyPerV returns block i's pages in flight per unit of its cells' v:
// they are spread over the cells as its unsent pages are, which the push
// takes them from.
func (s *fluidStrata) flyPerV(i int, b *fluidBlock) float64 {
	if s.vsum[i] <= 0 {
		return 0
	}
	return b.inflight / s.vsum[i]
}

// accesses returns block i's new accesses, network faults and minor
// faults for the guest reaching phi of the epoch under way (after
// prepare).
func (s *fluidStrata) accesses(i int, phi float64) (fresh, faults, minor float64) {
	co := &s.coef[i]
	return math.Max(0, co.fa+phi*co.fb), math.Max(0, co.qa+phi*co.qb), math.Max(0, co.ma+phi*co.mb)
}

// commit adds block i's cells' accesses and network faults up to phi of
// the epoch under way (the sets prepare had) to their counts.
func (s *fluidStrata) commit(i int, phi float64) {
	s.fresh = false
	scale := s.scale[i]
	var sum float64
	for k := range s.cells[i] {
		c := &s.cells[i][k]
		a := union(c.done, phi*c.cur, c.n)
		f := math.Max(0, a-c.accessed)
		u := c.uFrom + phi*(c.uEnd-c.uFrom)
		d := math.Min(math.Max(a+c.m0-u, c.am), math.Min(a, c.m0)) - c.am
		if pool := c.m0 - c.am; pool > 0 && d > 0 && scale > 0 {
			pm := math.Min(1, scale*c.v/pool)
			c.v = math.Max(0, c.v-d*pm/scale)
			c.am += d
		}
		c.accessed += f
		sum += c.v
	}
	s.vsum[i] = sum
}

// push takes k pages pushed from block i off its cells, in proportion to
// their unsent pages: it scales the block.
func (s *fluidStrata) push(i int, k float64) {
	if s.cells[i] == nil || k <= 0 {
		return
	}
	s.fresh = false
	u := s.scale[i] * s.vsum[i]
	if u <= 0 {
		return
	}
	s.scale[i] *= math.Max(0, 1-k/u)
	if sc := s.scale[i]; sc > 0 && sc < 1e-6 {
		// Renormalize, keeping v's proportions (the pages in flight
		// follow them).
		for j := range s.cells[i] {
			s.cells[i][j].v *= sc
		}
		s.vsum[i] *= sc
		s.scale[i] = 1
	}
}
