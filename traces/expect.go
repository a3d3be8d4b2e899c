package traces

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/migsim/migsim/units"
)

// Closed forms of the generators: the expected set of pages a guest
// running a generator writes in a window of guest time, exact in
// expectation over seeds, at a cost independent of the memory size (a
// few pieces of memory per phase, and the zipf law's rank buckets).
// The fluid models (models/fluid_*.go) run on them.
//
// # Semantics
//
// A window [a, b) of guest time covers whole epochs and, at its ends,
// parts of epochs. As the models' guest replayer does, a part f of an
// epoch that writes n pages contributes the n·f of them that come first
// in ascending page order (see models/guest.go); the rest of the epoch
// goes to the next window. A sample's pages lie evenly over its part of
// memory, so those ranks are a range of it: the part [fa, fb) of an
// epoch holds the epoch's pages in the share [fa, fb) of the part (of
// the hot or cold part by its own ranks for hotcold, of the working set
// for zipf), and a window about an epoch long takes one epoch's highest
// pages and the next one's lowest. Epochs are independent given their counts,
// which follow the generator's cumulative floor exactly (see
// [GeneratorSpec]), so a page's chance of escaping the window is a
// product over the epochs it covers:
//
//   - uniform over ws pages, an epoch of k writes: each page is written
//     with probability k/ws; over the window the expected distinct pages
//     are ws·(1 − Π(1 − kₑ/ws)), W·(1 − (1 − 1/W)^(d·t)) in the issue's
//     form when kₑ = 1;
//   - hotcold: the same in each part, [0, hot) with the hot share of
//     each epoch's writes and [hot, ws) with the rest; a part of an
//     epoch takes its hot pages first (they are the lowest);
//   - zipf: successive weighted draws without replacement (the
//     generator's law) include rank r with probability
//     1 − exp(−w_r·t(k)), where t(k) solves Σ_r (1 − exp(−w_r·t)) = k
//     (the Efraimidis–Spirakis threshold; exact as the working set
//     grows, within 10⁻³ on 2^16 pages, see the tests). Over the window,
//     rank r escapes with probability exp(−w_r·Σₑ t(kₑ)). Ranks are
//     grouped in buckets (single ranks up to 16, then 8 buckets per
//     doubling, weights within 11 % of each other for s = 1.2), so a
//     window costs O(buckets). Ranks land on pages through a random
//     permutation, so every page of the working set has the bucket mix
//     of the whole law. Each zipf phase draws its own permutation, so a
//     page's buckets under two zipf phases are independent: its escape
//     probability is a product over the phases' laws, and its mean (and
//     mean square, for the variance) over the buckets is the product of
//     each law's own;
//   - sequential: deterministic, the cyclic range from the scan's
//     position at a to its position at b;
//   - idle: nothing;
//   - phases: each phase over its own epochs, the trace's epochs run on
//     across phases; a page escapes the window if it escapes every phase.
//
// [Expect.Read] gives the read sets (what a post-copy guest touches
// besides its writes) the same way; see its comment for where they are
// approximate.
//
// A window longer than the trace wraps into its replay (at_end loop:
// the same pages again) or into idleness (at_end idle). The zero, free
// and page-cache classes are never written (a generator's working set
// lies below them); [Expect.Layout] gives their ranges.
//
// Allocation and freeing (alloc_rate, free_rate) are deterministic: the
// pages they allocate are written with probability 1 (expect_churn.go).
//
// Not covered (NewExpect refuses it, naming the key): more than
// [maxZipfLaws] zipf phases.

// Expect is the expectation model of one generator spec for one guest
// (see the comment at the top of expect.go).
type Expect struct {
	layout genLayout
	epoch  time.Duration
	epochs uint64 // epochs in one pass of the trace
	loop   bool
	phases []expPhase
	laws   []*expZipf // the zipf laws, one per zipf phase that writes or reads
	cuts   []uint64   // fixed piece boundaries, sorted, from 0 to the page count
	churn  *expChurn  // allocation and freeing; nil without
}

// maxZipfLaws is how many zipf phases (each with its own law and
// permutation) the closed forms follow: a [Piece] marks the laws it lies
// under in a 64-bit mask. (It was 8, a byte, until 2026-12-07.)
const maxZipfLaws = 64

// expPhase is one phase (or a whole plain spec) as the expectation sees
// it.
type expPhase struct {
	kind     string
	law      int // zipf: its index in Expect.laws; -1 without
	epochS   float64
	e0, e1   uint64 // the trace's epochs [e0, e1)
	ws, hot  uint64
	perEpoch uint64 // writes per epoch × fixedOne (the generator's carry)
	hotFrac  uint64 // hot share × fixedOne
	tLo, tHi float64
	kLo      uint64 // zipf: t(kLo) = tLo, t(kLo+1) = tHi
	// zipf: each bucket's chance to be drawn in an epoch of kLo and of
	// kLo+1 draws, 1 − exp(−w·t).
	piLo, piHi []float64

	// Reads, per epoch on average: in the hot and the cold part (all in
	// hot for the kinds without parts), and for zipf each bucket's
	// chance to be read.
	readHot, readCold float64
	piRead            []float64
}

// expZipf is a zipf law's ranks in buckets.
type expZipf struct {
	ws     uint64
	count  []float64 // ranks per bucket
	share  []float64 // count / ws
	weight []float64 // the bucket's mean weight (1+r)^-s
}

// Layout is where a generator puts the memory classes it never writes:
// its zero, free and page-cache pages, and the top of the memory any
// phase writes.
type Layout struct {
	// Pages is the guest's page count.
	Pages uint64
	// WorkingSet is the top of the written memory: pages [0, WorkingSet)
	// may be written, the rest never are (the union of the phases'
	// working sets).
	WorkingSet uint64
	// PagecacheLo, FreeLo and ZeroLo start the page-cache class
	// [PagecacheLo, FreeLo), the free class [FreeLo, ZeroLo) and the zero
	// class [ZeroLo, Pages).
	PagecacheLo, FreeLo, ZeroLo uint64
	// WrittenTop is the top of the pages the workload may write:
	// WorkingSet, or, when the generator allocates (alloc_rate), ZeroLo,
	// since allocation writes free pages and pages freed since.
	WrittenTop uint64
	// ZipfTop is the top of the zipf phases' working sets, [0, ZipfTop),
	// whose pages mix the rank buckets of one or more zipf laws; 0
	// without a zipf phase.
	ZipfTop uint64
}

// NewExpect returns the expectation model of spec for a guest of the
// given memory and page size; loop says that the trace replays from its
// start when it ends (at_end loop), else the guest is idle after it. It
// returns an error naming the key of what the closed forms do not
// cover, or of an invalid spec.
func NewExpect(spec GeneratorSpec, memory, pageSize units.Bytes, loop bool) (*Expect, error) {
	pl, err := spec.plan(memory, pageSize)
	if err != nil {
		return nil, err
	}
	x := &Expect{layout: pl.layout, epoch: pl.phases[0].spec.Epoch, loop: loop}
	for i, ph := range pl.phases {
		key := "generator"
		if pl.top.Kind == GenPhases {
			key = fmt.Sprintf("generator.phases[%d]", i)
		}
		s := ph.spec
		p := expPhase{
			kind: s.Kind, law: -1, epochS: s.Epoch.Seconds(), e0: x.epochs, e1: x.epochs + ph.epochs, ws: ph.ws, hot: ph.hot,
			perEpoch: uint64(math.Round(s.DirtyRate * float64(s.Epoch))),
			hotFrac:  uint64(math.Round(s.HotShare * fixedOne)),
		}
		x.epochs = p.e1
		var z *expZipf
		if s.Kind == GenZipf && (p.perEpoch > 0 || s.ReadRate > 0) {
			if len(x.laws) == maxZipfLaws {
				return nil, keyErrorf(key+".kind", "zipf phase number %d: the closed forms follow at most %d zipf phases (each scatters its ranks with its own permutation)", maxZipfLaws+1, maxZipfLaws)
			}
			z = newExpZipf(s.ZipfS, ph.ws)
			p.law = len(x.laws)
			x.laws = append(x.laws, z)
			p.kLo = p.perEpoch / fixedOne
			p.tLo, p.tHi = z.threshold(float64(p.kLo)), z.threshold(float64(p.kLo+1))
			for _, w := range z.weight {
				p.piLo = append(p.piLo, -math.Expm1(-w*p.tLo))
				p.piHi = append(p.piHi, -math.Expm1(-w*p.tHi))
			}
		}
		p.reads(s.ReadRate, z)
		x.phases = append(x.phases, p)
	}
	cuts := []uint64{0, x.layout.pageCount}
	l := x.Layout()
	cuts = append(cuts, l.WorkingSet, l.PagecacheLo, l.FreeLo, l.ZeroLo)
	for _, p := range x.phases {
		cuts = append(cuts, p.ws)
		if p.kind == GenHotCold {
			cuts = append(cuts, p.hot)
		}
	}
	for _, z := range x.laws {
		cuts = append(cuts, z.ws)
	}
	slices.Sort(cuts)
	x.cuts = slices.Compact(cuts)
	x.churn = newExpChurn(pl)
	return x, nil
}

// Churn reports whether the generator allocates or frees pages over time
// (alloc_rate, free_rate): the written sets then hold the pages it
// allocates, and the free class the Layout gives is only its start.
func (x *Expect) Churn() bool { return x.churn != nil }

// Layout returns the memory classes' ranges.
func (x *Expect) Layout() Layout {
	l := x.layout
	w := l.writable()
	ws := uint64(0)
	for _, p := range x.phases {
		ws = max(ws, p.ws)
	}
	out := Layout{Pages: l.pageCount, WorkingSet: ws, PagecacheLo: w, FreeLo: w + l.pagecache, ZeroLo: l.nonZero, WrittenTop: ws}
	if x.churn != nil && x.churn.allocates {
		out.WrittenTop = max(ws, l.nonZero)
	}
	for _, z := range x.laws {
		out.ZipfTop = max(out.ZipfTop, z.ws)
	}
	return out
}

// Cuts returns the fixed boundaries of the windows' pieces, ascending,
// from 0 to the page count: the memory classes', the phases' working
// sets' and hotcold hot parts'. (A window's pieces are also cut where its
// partial epochs end.) The slice is the model's own: do not change it.
func (x *Expect) Cuts() []uint64 { return x.cuts }

// ZipfLaw is a zipf law's rank buckets as the closed forms group them.
type ZipfLaw struct {
	// Shares is each bucket's share of the working set's pages; they
	// sum to 1.
	Shares []float64
	// Weights is each bucket's mean weight (1+r)^-s, in rank order (so
	// decreasing).
	Weights []float64
}

// ZipfLaws returns the zipf laws, one per zipf phase that writes or
// reads, in phase order: the laws of [Window.Zipf] and
// [Window.PieceBuckets]. The slices are the model's own: read them, do
// not change them.
func (x *Expect) ZipfLaws() []ZipfLaw {
	out := make([]ZipfLaw, len(x.laws))
	for l, z := range x.laws {
		out[l] = ZipfLaw{Shares: z.share, Weights: z.weight}
	}
	return out
}

// Epoch returns the generator's epoch length.
func (x *Expect) Epoch() time.Duration { return x.epoch }

// Duration returns the guest time of one pass of the trace.
func (x *Expect) Duration() time.Duration { return time.Duration(x.epochs) * x.epoch }

// Window is an expected set of pages: the pieces of memory in order, and
// for each the probability that a page of it is in the set.
type Window struct {
	// Pieces cover the guest's memory, in ascending page order.
	Pieces []Piece
	// Zipf is, for each zipf law (one per zipf phase, in phase order) and
	// each of its rank buckets, the probability that a page of the
	// bucket escapes the set as far as the law's whole epochs go; empty
	// without a zipf phase.
	Zipf [][]float64
	// ZipfParts are the parts of zipf epochs at the window's ends, each
	// holding the pages of a range of memory (see Piece.Parts).
	ZipfParts []ZipfPart

	shares [][]float64 // each law's bucket shares (they sum to 1)
	ranges []Piece     // scratch: the ranges being accumulated
	cuts   []uint64
}

// ZipfPart is a part of a zipf epoch at a window's end.
type ZipfPart struct {
	// Law is the part's zipf law, an index of Window.Zipf.
	Law int
	// Escape is, for each rank bucket of the law, the probability that a
	// page of the bucket escapes the part.
	Escape []float64
}

// Piece is the pages [Lo, Hi) of a [Window].
type Piece struct {
	Lo, Hi uint64
	// Survive is the probability that a page of the piece is not in the
	// set as far as the phases other than zipf go.
	Survive float64
	// Zipf has bit l set when the piece lies in the working set of zipf
	// law l: a page of the piece whose rank bucket under law l is b is
	// not in the set as far as law l goes with probability
	// Window.Zipf[l][b] × ZipfParts[j].Escape[b] for each bit j of Parts
	// whose part is law l's; the laws' buckets are independent.
	Zipf uint64
	// Parts has bit j set when the piece lies in the range of
	// Window.ZipfParts[j].
	Parts uint8
}

// PieceIn returns the probability that a page of p is in the set, and
// the variance of its membership averaged over the page's possible zipf
// buckets.
func (w *Window) PieceIn(p Piece) (in, variance float64) {
	esc, sq := p.Survive, p.Survive*p.Survive
	for l, shares := range w.shares {
		if p.Zipf&(1<<l) == 0 {
			continue
		}
		// The mean and mean square over the law's buckets of the escape
		// probability.
		var m1, m2 float64
		for b, s := range shares {
			q := w.escape(p, l, b)
			m1 += s * q
			m2 += s * q * q
		}
		esc *= m1
		sq *= m2
	}
	return 1 - esc, esc - sq
}

// PieceBuckets sets dst[b], for each rank bucket b of zipf law l, to the
// probability that a page of p whose bucket under law l is b is in the
// set (its buckets under the other laws averaged over), and returns dst,
// grown as needed. Averaged over the law's bucket shares
// ([Expect.ZipfLaws]) it is [Window.PieceIn]'s. A piece outside law
// l's working set (Piece.Zipf bit l clear) has every bucket at PieceIn's.
func (w *Window) PieceBuckets(p Piece, l int, dst []float64) []float64 {
	dst = slices.Grow(dst[:0], len(w.shares[l]))[:len(w.shares[l])]
	if p.Zipf&(1<<l) == 0 {
		in, _ := w.PieceIn(p)
		for b := range dst {
			dst[b] = in
		}
		return dst
	}
	esc := p.Survive
	for k, shares := range w.shares {
		if k == l || p.Zipf&(1<<k) == 0 {
			continue
		}
		var m1 float64
		for b, s := range shares {
			m1 += s * w.escape(p, k, b)
		}
		esc *= m1
	}
	for b := range dst {
		dst[b] = 1 - esc*w.escape(p, l, b)
	}
	return dst
}

// escape returns the probability that a page of p whose rank bucket
// under zipf law l is b escapes the set as far as law l goes.
func (w *Window) escape(p Piece, l, b int) float64 {
	q := w.Zipf[l][b]
	for j, part := range w.ZipfParts {
		if p.Parts&(1<<j) != 0 && part.Law == l {
			q *= part.Escape[b]
		}
	}
	return q
}

// In returns the expected pages of p in the set.
func (w *Window) In(p Piece) float64 {
	in, _ := w.PieceIn(p)
	return float64(p.Hi-p.Lo) * in
}

// Count returns the expected number of pages in the set.
func (w *Window) Count() float64 {
	var n float64
	for _, p := range w.Pieces {
		n += w.In(p)
	}
	return n
}

// CountIn returns the expected number of pages of [lo, hi) in the set.
func (w *Window) CountIn(lo, hi uint64) float64 {
	var n float64
	for _, p := range w.Pieces {
		a, b := max(p.Lo, lo), min(p.Hi, hi)
		if a >= b {
			continue
		}
		in, _ := w.PieceIn(p)
		n += float64(b-a) * in
	}
	return n
}

// Variance returns the variance of the number of pages in the set were
// each page in it independently: an upper bound for uniform draws
// (which are negatively correlated), 0 for a sequential scan.
func (w *Window) Variance() float64 {
	var v float64
	for _, p := range w.Pieces {
		_, pv := w.PieceIn(p)
		v += float64(p.Hi-p.Lo) * pv
	}
	return v
}

// Distinct returns the expected number of distinct pages written in the
// guest-time window [a, b), in seconds of guest time since the trace's
// start.
func (x *Expect) Distinct(a, b float64) float64 {
	var w Window
	x.Written(a, b, &w)
	return w.Count()
}

// Written sets w to the expected set of pages written in the guest-time
// window [a, b), seconds since the trace's start, reusing w's slices.
func (x *Expect) Written(a, b float64, w *Window) {
	acc := x.newAcc(w, false)
	ep := x.epoch.Seconds()
	ua, ub := a/ep, b/ep
	if ub > ua && x.epochs > 0 {
		x.cover(ua, ub, &acc)
	}
	acc.finish(w)
}

// Read sets w to the expected set of pages read (and not written in the
// same epoch: the generator's read sets) in the guest-time window
// [a, b), seconds since the trace's start, reusing w's slices. A part of
// an epoch holds its reads by rank, as for writes.
//
// Reads are exact in expectation, as writes are, for uniform and
// hotcold (an epoch's reads are uniform over the part's pages it did not
// write, so each page is read with probability reads/part); the other
// kinds are close: sequential reads are spread over the whole working
// set (the scan's own pages cannot be read in its epoch, a second-order
// effect), and zipf reads, successive draws among the pages the epoch
// did not write, are taken at their own Efraimidis–Spirakis threshold
// with the writes' inclusion held at its mean. Per-epoch counts are
// taken at their mean.
func (x *Expect) Read(a, b float64, w *Window) {
	acc := x.newAcc(w, true)
	ep := x.epoch.Seconds()
	ua, ub := a/ep, b/ep
	if ub > ua && x.epochs > 0 {
		x.cover(ua, ub, &acc)
	}
	acc.finish(w)
}

// reads sets the phase's mean reads per epoch from its read rate: as the
// generator caps them, at the pages the epoch did not write, split
// between the parts by the hot share (and what a part cannot take
// spilling to the other).
func (p *expPhase) reads(rate float64, z *expZipf) {
	if rate <= 0 || p.ws == 0 || p.kind == GenIdle {
		return
	}
	w := math.Min(float64(p.perEpoch)/fixedOne, float64(p.ws))
	r := math.Min(rate*p.epochSeconds(), float64(p.ws)-w)
	if r <= 0 {
		return
	}
	switch p.kind {
	case GenHotCold:
		s := float64(p.hotFrac) / fixedOne
		wh := math.Min(w*s, float64(p.hot))
		wc := w - wh
		hotLeft, coldLeft := float64(p.hot)-wh, float64(p.ws-p.hot)-wc
		rh := r * s
		rc := r - rh
		if rh > hotLeft {
			rc, rh = rc+rh-hotLeft, hotLeft
		}
		if rc > coldLeft {
			rh, rc = rh+rc-coldLeft, coldLeft
		}
		p.readHot, p.readCold = rh, rc
	case GenZipf:
		p.readHot = r
		if z == nil {
			return
		}
		// Inclusion of a write at the mean count, then the reads'
		// threshold over what the writes leave.
		tw := z.threshold(w)
		left := make([]float64, len(z.weight))
		for b, wt := range z.weight {
			left[b] = math.Exp(-wt * tw)
		}
		f := func(t float64) (v, dv float64) {
			for b, wt := range z.weight {
				e := math.Exp(-wt * t)
				v += z.count[b] * left[b] * (1 - e)
				dv += z.count[b] * left[b] * wt * e
			}
			return v - r, dv
		}
		t := 0.0
		for range 200 {
			v, dv := f(t)
			if dv <= 0 {
				break
			}
			step := -v / dv
			t += step
			if math.Abs(step) <= 1e-13*t {
				break
			}
		}
		for b, wt := range z.weight {
			p.piRead = append(p.piRead, left[b]*-math.Expm1(-wt*t))
		}
	default:
		p.readHot = r
	}
}

// epochSeconds is the length of one epoch, from the carry's scale.
func (p *expPhase) epochSeconds() float64 { return p.epochS }

// coverReads adds the reads of the phase's local epochs [ua, ub): whole
// epochs and, at the ends, parts of epochs.
func (p *expPhase) coverReads(ua, ub float64, acc *expAcc) {
	if p.readHot == 0 && p.readCold == 0 && p.piRead == nil {
		return
	}
	first, last := math.Ceil(ua), math.Floor(ub)
	if first > last { // within one epoch
		e := math.Floor(ua)
		p.partReads(ua-e, ub-e, acc)
		return
	}
	if f := first - ua; f > 0 {
		p.partReads(1-f, 1, acc)
	}
	if m := last - first; m > 0 {
		switch p.kind {
		case GenHotCold:
			acc.add(0, p.hot, m*log1mRatio(p.readHot, p.hot))
			if cold := p.ws - p.hot; cold > 0 {
				acc.add(p.hot, p.ws, m*log1mRatio(p.readCold, cold))
			}
		case GenZipf:
			for b, q := range p.piRead {
				acc.zlog[p.law][b] += m * math.Log1p(-q)
			}
		default:
			acc.add(0, p.ws, m*log1mRatio(p.readHot, p.ws))
		}
	}
	if f := ub - last; f > 0 {
		p.partReads(0, f, acc)
	}
}

// partReads adds the share [fa, fb) of an epoch's reads: as for writes,
// the ranks [r·fa, r·fb) in ascending page order, the hot part's first.
func (p *expPhase) partReads(fa, fb float64, acc *expAcc) {
	r := p.readHot + p.readCold
	ka, kb := r*fa, r*fb
	switch p.kind {
	case GenHotCold:
		acc.ranks(0, p.hot, p.readHot, ka, math.Min(kb, p.readHot))
		acc.ranks(p.hot, p.ws, p.readCold, math.Max(ka, p.readHot)-p.readHot, kb-p.readHot)
	case GenZipf:
		acc.zipfPart(p.law, p.ws, fa, fb, p.piRead)
	default:
		acc.ranks(0, p.ws, r, ka, kb)
	}
}

// cover adds the epochs of the guest-time window [ua, ub) in epochs.
func (x *Expect) cover(ua, ub float64, acc *expAcc) {
	x.Passes(ua, ub, func(a, b float64) { x.coverTrace(a, b, acc) })
}

// Passes calls visit with the parts of the window [ua, ub), in epochs
// since the trace's start, as epochs [a, b) of one pass of the trace
// (0 ≤ a < b ≤ its epochs): under at_end loop a window is folded onto the
// pass it falls in (one longer than the trace is the whole pass, every
// epoch once or more; one across a replay's start is two parts); under
// at_end idle it ends at the trace's end. Whatever follows the trace's
// epochs (models/background.go's writer) folds the same way.
func (x *Expect) Passes(ua, ub float64, visit func(a, b float64)) {
	e := float64(x.epochs)
	if !x.loop {
		if ua < e {
			visit(ua, math.Min(ub, e))
		}
		return
	}
	if ub-ua >= e {
		visit(0, e)
		return
	}
	k := math.Floor(ua / e)
	ua, ub = ua-k*e, ub-k*e
	if ub <= e {
		visit(ua, ub)
		return
	}
	visit(ua, e)
	visit(0, ub-e)
}

// coverTrace adds the trace epochs [ua, ub), 0 ≤ ua < ub ≤ epochs.
func (x *Expect) coverTrace(ua, ub float64, acc *expAcc) {
	for i := range x.phases {
		p := &x.phases[i]
		lo, hi := math.Max(ua, float64(p.e0)), math.Min(ub, float64(p.e1))
		if hi <= lo {
			continue
		}
		p.cover(lo-float64(p.e0), hi-float64(p.e0), acc)
	}
}

// writes returns the pages the phase's epochs [0, e) write in all, before
// the per-epoch cap at the working set.
func (p *expPhase) writes(e uint64) uint64 { return mulDivFixed(e, p.perEpoch) }

// epochWrites returns the pages local epoch e writes.
func (p *expPhase) epochWrites(e uint64) uint64 {
	return min(p.writes(e+1)-p.writes(e), p.ws)
}

// hotWrites returns the hot share the epochs [0, e) took in all (before
// the caps of the two parts).
func (p *expPhase) hotWrites(e uint64) uint64 { return mulDivFixed(p.writes(e), p.hotFrac) }

// cover adds the phase's local epochs [ua, ub) to acc.
func (p *expPhase) cover(ua, ub float64, acc *expAcc) {
	if acc.reads {
		p.coverReads(ua, ub, acc)
		return
	}
	if acc.x.churn != nil && !acc.churnGiven {
		acc.churnCover(p, ua, ub)
	}
	if acc.churnOnly {
		return
	}
	if p.kind == GenIdle || p.perEpoch == 0 || p.ws == 0 {
		return
	}
	if p.kind == GenSequential {
		acc.sequential(p, ua, ub)
		return
	}
	first, last := uint64(math.Ceil(ua)), uint64(math.Floor(ub))
	if first > last { // within one epoch
		e := uint64(math.Floor(ua))
		p.part(e, acc.randomShare(p, e, ua-float64(e)), acc.randomShare(p, e, ub-float64(e)), acc)
		return
	}
	if f := float64(first) - ua; f > 0 {
		p.part(first-1, acc.randomShare(p, first-1, 1-f), 1, acc)
	}
	if last > first {
		p.full(first, last, acc)
	}
	if f := ub - float64(last); f > 0 {
		p.part(last, 0, acc.randomShare(p, last, f), acc)
	}
}

// twoValues splits total pages over m epochs into the counts of epochs
// with lo and lo+1 pages (the cumulative floor gives one or the other).
func twoValues(total, m uint64) (lo uint64, nLo, nHi float64) {
	lo = total / m
	hi := total - lo*m
	return lo, float64(m - hi), float64(hi)
}

// logEscape returns Σ log(1 − k/size) over nLo epochs of k = lo and nHi
// of k = lo+1 (−Inf if a page cannot escape).
func logEscape(lo uint64, nLo, nHi float64, size uint64) float64 {
	s := float64(size)
	term := func(k uint64, n float64) float64 {
		if n == 0 {
			return 0
		}
		if k >= size {
			return math.Inf(-1)
		}
		return n * math.Log1p(-float64(k)/s)
	}
	return term(lo, nLo) + term(lo+1, nHi)
}

// full adds the whole local epochs [e0, e1).
func (p *expPhase) full(e0, e1 uint64, acc *expAcc) {
	m := e1 - e0
	total := p.writes(e1) - p.writes(e0)
	lo, nLo, nHi := twoValues(total, m)
	switch p.kind {
	case GenUniform:
		if lo >= p.ws {
			acc.add(0, p.ws, math.Inf(-1))
			return
		}
		acc.add(0, p.ws, logEscape(lo, nLo, nHi, p.ws))
	case GenHotCold:
		hotTotal := p.hotWrites(e1) - p.hotWrites(e0)
		hLo, hnLo, hnHi := twoValues(hotTotal, m)
		cold := p.ws - p.hot
		// Per epoch, hot = min(share, hot part); what a part cannot take
		// spills to the other.
		if hLo+1 > p.hot || lo+1 > p.ws || lo+1-hLo > cold {
			hs := math.Min(float64(hotTotal)/float64(m), float64(p.hot))
			cs := math.Min(float64(total)/float64(m)-hs, float64(cold))
			acc.add(0, p.hot, float64(m)*log1mRatio(hs, p.hot))
			if cold > 0 {
				acc.add(p.hot, p.ws, float64(m)*log1mRatio(cs, cold))
			}
			return
		}
		acc.add(0, p.hot, logEscape(hLo, hnLo, hnHi, p.hot))
		if cold > 0 {
			cLo, cnLo, cnHi := twoValues(total-hotTotal, m)
			acc.add(p.hot, p.ws, logEscape(cLo, cnLo, cnHi, cold))
		}
	case GenZipf:
		if lo >= p.ws {
			acc.add(0, p.ws, math.Inf(-1))
			return
		}
		var t float64
		if nLo > 0 {
			t += nLo * p.threshold(lo)
		}
		if nHi > 0 {
			t += nHi * p.threshold(lo+1)
		}
		zlog := acc.zlog[p.law]
		for b, w := range acc.x.laws[p.law].weight {
			zlog[b] -= w * t
		}
	}
}

// log1mRatio returns log(1 − k/size), −Inf when k ≥ size.
func log1mRatio(k float64, size uint64) float64 {
	if k >= float64(size) {
		return math.Inf(-1)
	}
	return math.Log1p(-k / float64(size))
}

// threshold returns t(k) for an epoch of k zipf draws.
func (p *expPhase) threshold(k uint64) float64 {
	switch k {
	case p.kLo:
		return p.tLo
	case p.kLo + 1:
		return p.tHi
	}
	return 0 // not reached: the carry gives kLo or kLo+1
}

// part adds the share [fa, fb) of local epoch e's writes: its pages of
// ranks [n·fa, n·fb) in ascending page order.
func (p *expPhase) part(e uint64, fa, fb float64, acc *expAcc) {
	n := p.epochWrites(e)
	if n == 0 || fb <= fa {
		return
	}
	ka, kb := float64(n)*fa, float64(n)*fb
	switch p.kind {
	case GenUniform:
		acc.ranks(0, p.ws, float64(n), ka, kb)
	case GenHotCold:
		hot := p.hotWrites(e+1) - p.hotWrites(e)
		cold := p.ws - p.hot
		h := min(hot, p.hot)
		c := min(n-h, cold)
		h = n - c // the spill
		// The hot part's pages are the lowest: ranks [0, h).
		acc.ranks(0, p.hot, float64(h), ka, math.Min(kb, float64(h)))
		acc.ranks(p.hot, p.ws, float64(c), math.Max(ka, float64(h))-float64(h), kb-float64(h))
	case GenZipf:
		if n >= p.ws {
			acc.ranks(0, p.ws, float64(p.ws), ka, kb)
			return
		}
		pi := p.piLo
		if n != p.kLo {
			pi = p.piHi
		}
		acc.zipfPart(p.law, p.ws, fa, fb, pi)
	}
}

// ranks adds the ranks [ka, kb) of a uniform sample of k pages of the
// part [lo, hi) of memory, in ascending page order: the sample's pages
// lie evenly over the part, so those ranks are its pages in the share
// [ka/k, kb/k) of the part, each of which it holds with probability
// k/(hi − lo).
func (a *expAcc) ranks(lo, hi uint64, k, ka, kb float64) {
	if kb <= ka || k <= 0 || hi <= lo {
		return
	}
	size := float64(hi - lo)
	at := func(r float64) uint64 { return lo + uint64(math.Round(size*math.Min(1, math.Max(0, r/k)))) }
	a.add(at(ka), at(kb), log1mRatio(k, hi-lo))
}

// zipfPart adds the share [fa, fb) of an epoch of zipf law whose
// buckets are drawn with probabilities pi: its pages in the share
// [fa, fb) of the working set [0, ws) (the permutation scatters them
// evenly).
func (a *expAcc) zipfPart(law int, ws uint64, fa, fb float64, pi []float64) {
	j := len(a.zparts)
	if j >= 8 || fb <= fa {
		// More parts than a window has ends: spread this one instead.
		for b, q := range pi {
			a.zlog[law][b] += math.Log1p(-(fb - fa) * q)
		}
		return
	}
	var esc []float64
	if j < cap(a.zparts) {
		esc = a.zparts[:j+1][j].Escape[:0] // the last window's, reused
	}
	for _, q := range pi {
		esc = append(esc, 1-q)
	}
	a.zparts = append(a.zparts, ZipfPart{Law: law, Escape: esc})
	lo, hi := uint64(math.Round(fa*float64(ws))), uint64(math.Round(fb*float64(ws)))
	if hi > lo {
		a.ranges = append(a.ranges, Piece{Lo: lo, Hi: hi, Parts: 1 << j})
	}
}

// expAcc accumulates a window: log-escape probabilities over ranges of
// pages, and per zipf bucket.
type expAcc struct {
	x      *Expect
	reads  bool        // the read sets, not the written ones
	ranges []Piece     // Lo, Hi and, in Survive, a log-escape to add; Parts
	zlog   [][]float64 // per law and bucket
	zparts []ZipfPart
	cuts   []uint64
	churn  []PageRange // pages allocated in the window (expect_churn.go)
	// churnOnly gathers only churn; churnGiven leaves it to the caller.
	churnOnly, churnGiven bool
}

// newAcc returns an accumulator for a window of writes (or reads) into
// w, reusing w's slices.
func (x *Expect) newAcc(w *Window, reads bool) expAcc {
	acc := expAcc{x: x, ranges: w.ranges[:0], cuts: w.cuts[:0], zparts: w.ZipfParts[:0], reads: reads, zlog: w.Zipf[:0]}
	for l, z := range x.laws {
		var zlog []float64
		if l < cap(acc.zlog) {
			zlog = acc.zlog[:l+1][l] // the last window's, reused
		}
		zlog = slices.Grow(zlog[:0], len(z.share))[:len(z.share)]
		clear(zlog)
		acc.zlog = append(acc.zlog, zlog)
	}
	return acc
}

// add multiplies the escape probability of pages [lo, hi) by exp(logS).
func (a *expAcc) add(lo, hi uint64, logS float64) {
	if hi <= lo || logS == 0 {
		return
	}
	a.ranges = append(a.ranges, Piece{Lo: lo, Hi: hi, Survive: logS})
}

// sequential adds the scan's pages over local epochs [ua, ub): the cyclic
// range between its positions at the two ends.
func (a *expAcc) sequential(p *expPhase, ua, ub float64) {
	ws := float64(p.ws)
	if p.perEpoch >= p.ws*fixedOne {
		// Every epoch writes the whole working set and the scan stays at
		// page 0: a part [fa, fb) of an epoch is its pages [fa·ws, fb·ws).
		ea, eb := math.Floor(ua), math.Floor(ub)
		// page is the page the guest reaches at share f of epoch e.
		page := func(e, f float64) uint64 { return uint64(math.Round(a.randomShare(p, uint64(e), f) * ws)) }
		switch {
		case eb-math.Ceil(ua) >= 1:
			a.add(0, p.ws, math.Inf(-1))
		case ea == eb:
			a.add(page(ea, ua-ea), page(eb, ub-eb), math.Inf(-1))
		default:
			a.add(page(ea, ua-ea), p.ws, math.Inf(-1))
			a.add(0, page(eb, ub-eb), math.Inf(-1))
		}
		return
	}
	pos := func(u float64) float64 {
		e := uint64(math.Floor(u))
		base := float64(p.writes(e))
		if f := u - float64(e); f > 0 {
			base += f * float64(p.epochWrites(e))
		}
		return base
	}
	if pos(ub)-pos(ua) >= ws {
		a.add(0, p.ws, math.Inf(-1))
		return
	}
	// Whole epochs are the scan's cyclic range; a part of an epoch takes
	// the epoch's pages in ascending page order, as the guest does
	// (models: a partial epoch's first pages by rank), which differs from
	// scan order in the epoch where the scan wraps.
	ea, eb := math.Floor(ua), math.Floor(ub)
	if ea == eb {
		a.sequentialPart(p, uint64(ea), ua-ea, ub-eb)
		return
	}
	from := ua
	if ua > ea {
		a.sequentialPart(p, uint64(ea), ua-ea, 1)
		from = ea + 1
	}
	a.sequentialScan(p, pos(from), pos(eb))
	if ub > eb {
		a.sequentialPart(p, uint64(eb), 0, ub-eb)
	}
}

// sequentialScan adds the scan's pages from position start to end
// (writes since the phase began): a cyclic range of the working set.
func (a *expAcc) sequentialScan(p *expPhase, start, end float64) {
	ws := float64(p.ws)
	n := end - start
	if n <= 0 {
		return
	}
	if n >= ws {
		a.add(0, p.ws, math.Inf(-1))
		return
	}
	lo := math.Mod(start, ws)
	hi := lo + n
	round := func(v float64) uint64 { return uint64(math.Round(v)) }
	if hi <= ws {
		a.add(round(lo), round(hi), math.Inf(-1))
		return
	}
	a.add(round(lo), p.ws, math.Inf(-1))
	a.add(0, round(hi-ws), math.Inf(-1))
}

// sequentialPart adds the part [fa, fb) of epoch e's writes in ascending
// page order: where the epoch's scan wraps, its pages below the wrap come
// first.
func (a *expAcc) sequentialPart(p *expPhase, e uint64, fa, fb float64) {
	ws := float64(p.ws)
	n := float64(p.epochWrites(e))
	if n <= 0 || fb <= fa {
		return
	}
	fa, fb = a.randomShare(p, e, fa), a.randomShare(p, e, fb)
	lo := math.Mod(float64(p.writes(e)), ws)
	ra, rb := fa*n, fb*n // ranks in the epoch's pages
	round := func(v float64) uint64 { return uint64(math.Round(v)) }
	if lo+n <= ws {
		a.add(round(lo+ra), round(lo+rb), math.Inf(-1))
		return
	}
	t := lo + n - ws // pages [0, t) have ranks [0, t); [lo, ws) the rest
	if ra < t {
		a.add(round(ra), round(math.Min(rb, t)), math.Inf(-1))
	}
	if rb > t {
		a.add(round(lo+math.Max(ra, t)-t), round(lo+rb-t), math.Inf(-1))
	}
}

// finish turns the accumulated ranges into w's pieces.
func (a *expAcc) finish(w *Window) {
	x := a.x
	a.addChurn()
	cuts := append(a.cuts[:0], x.cuts...)
	for _, r := range a.ranges {
		cuts = append(cuts, r.Lo, r.Hi)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	ranges := a.ranges
	pieces := w.Pieces[:0]
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		var logS float64
		var parts uint8
		for _, r := range ranges {
			if r.Lo <= lo && hi <= r.Hi {
				logS += r.Survive
				parts |= r.Parts
			}
		}
		var laws uint64
		for l, z := range x.laws {
			if hi <= z.ws {
				laws |= 1 << l
			}
		}
		pc := Piece{Lo: lo, Hi: hi, Survive: math.Exp(logS), Zipf: laws, Parts: parts}
		if n := len(pieces); n > 0 && pieces[n-1].Survive == pc.Survive && pieces[n-1].Zipf == pc.Zipf && pieces[n-1].Parts == pc.Parts && !x.isCut(lo) {
			pieces[n-1].Hi = hi
			continue
		}
		pieces = append(pieces, pc)
	}
	w.Pieces, w.ranges, w.cuts, w.ZipfParts = pieces, ranges, cuts, a.zparts
	for _, zlog := range a.zlog {
		for b, l := range zlog {
			zlog[b] = math.Exp(l)
		}
	}
	w.Zipf = a.zlog
	w.shares = w.shares[:0]
	for _, z := range x.laws {
		w.shares = append(w.shares, z.share)
	}
}

// isCut reports whether page p is a fixed piece boundary.
func (x *Expect) isCut(p uint64) bool {
	_, ok := slices.BinarySearch(x.cuts, p)
	return ok
}

// zipfBucketsPerDoubling is how finely the zipf ranks are bucketed past
// the first zipfSingleRanks, which are buckets of their own.
const (
	zipfBucketsPerDoubling = 8
	zipfSingleRanks        = 16
)

// newExpZipf buckets the ranks [0, ws) of the law (1+r)^-s.
func newExpZipf(s float64, ws uint64) *expZipf {
	z := &expZipf{ws: ws}
	ratio := math.Pow(2, 1.0/zipfBucketsPerDoubling)
	// tail(k) = Σ_{j≥k} j^-s by Euler–Maclaurin (one Pow; the terms'
	// error is far below float64 resolution for k ≥ 8), so that a
	// bucket's weight is a difference of two tails.
	tail := func(k float64) float64 {
		p := math.Pow(k, -s)
		return k*p/(s-1) + p/2 + s*p/k/12 - s*(s+1)*(s+2)*p/(k*k*k)/720
	}
	hiTail := tail(float64(ws + 1))
	for lo := uint64(0); lo < ws; {
		hi := lo + 1
		if lo >= zipfSingleRanks {
			hi = max(lo+1, uint64(math.Ceil(float64(lo+1)*ratio))-1)
		}
		hi = min(hi, ws)
		// Σ_{r=lo}^{hi-1} (1+r)^-s = Σ_{k=lo+1}^{hi} k^-s.
		var sum float64
		if hi-lo <= 8 {
			for k := hi; k > lo; k-- {
				sum += math.Pow(float64(k), -s)
			}
		} else {
			loTail := tail(float64(lo + 1))
			if hi == ws {
				sum = loTail - hiTail
			} else {
				sum = loTail - tail(float64(hi+1))
			}
		}
		c := float64(hi - lo)
		z.count = append(z.count, c)
		z.share = append(z.share, c/float64(ws))
		z.weight = append(z.weight, sum/c)
		lo = hi
	}
	return z
}

// threshold returns t such that Σ_r (1 − exp(−w_r·t)) = k: the expected
// number of distinct ranks k successive draws hit is then k. +Inf when
// k covers the working set.
func (z *expZipf) threshold(k float64) float64 {
	if k <= 0 {
		return 0
	}
	if k >= float64(z.ws) {
		return math.Inf(1)
	}
	// f(t) = Σ c(1 − e^{−wt}) − k is increasing and concave: Newton from
	// t = 0 climbs to the root from below.
	t := 0.0
	for range 200 {
		var f, df float64
		for b, w := range z.weight {
			e := math.Exp(-w * t)
			f += z.count[b] * (1 - e)
			df += z.count[b] * w * e
		}
		f -= k
		if df <= 0 {
			break
		}
		step := -f / df
		t += step
		if math.Abs(step) <= 1e-13*t {
			break
		}
	}
	return t
}
