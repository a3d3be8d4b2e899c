package traces

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// Allocation and freeing (alloc_rate, free_rate; gen_churn.go) in the
// closed forms.
//
// The generator's churn uses no random stream: which pages an epoch
// allocates is the same for every seed. [Expect] replays its algorithm
// on sets kept as ranges, epoch by epoch as windows reach them, and
// keeps each epoch's allocated pages. An allocated page is written
// in the epoch that allocates it, so a window's written set holds, with
// probability 1, the pages its epochs allocate, besides the workload's
// random writes (which stay in the working set, below every page the
// churn can allocate).
//
// A part of an epoch takes the epoch's written pages in ascending page
// order (see the top of expect.go): the workload's n random pages come
// first, then the epoch's a allocated ones, so the share [fa, fb) of the
// epoch holds the random pages of ranks [(n+a)·fa, (n+a)·fb) ∩ [0, n)
// and the allocated pages of ranks [(n+a)·fa − n, (n+a)·fb − n) ∩ [0, a).
//
// A trace replayed from its start (at_end loop) allocates the same pages
// again: the timeline is periodic, as the written sets are.

// PageRange is the pages [Lo, Hi).
type PageRange struct{ Lo, Hi uint64 }

// expChurn is the allocation timeline of one generator: genChurn's
// algorithm (lowest free pages allocated, highest freeable pages freed)
// on sets kept as ranges, so that an epoch costs O(ranges), not O(pages).
type expChurn struct {
	mu        sync.Mutex
	allocates bool          // some phase has an alloc_rate
	ends      []uint64      // each phase's end epoch
	allocC    []carry       // per phase
	releaseC  []carry       // per phase
	free      pageSet       // the free class now
	freeable  pageSet       // anon pages freeing may take
	alloc     [][]PageRange // the pages each trace epoch allocates, computed so far
	freed     [][]PageRange // the pages each trace epoch frees
	count     []uint64      // len of alloc's pages
	// The free class as the models' composition follows it (FreeAt): the
	// header's, with the changes of comp epochs applied in order (the
	// trace's epochs, again and again when it loops).
	free0 pageSet
	comp  pageSet
	compN uint64
	// blocks[j][b] is the union of alloc over the epochs [b·2^j,
	// (b+1)·2^j), j ≥ 1, computed as windows ask for them.
	blocks []map[uint64][]PageRange
}

// newExpChurn returns the churn timeline of plan pl, or nil when no
// phase allocates or frees (as newGenChurn).
func newExpChurn(pl *genPlan) *expChurn {
	on := false
	for _, ph := range pl.phases {
		on = on || ph.spec.AllocRate > 0 || ph.spec.FreeRate > 0
	}
	if !on {
		return nil
	}
	c := &expChurn{}
	l := pl.layout
	if w := l.writable(); l.free > 0 {
		c.free.add([]PageRange{{w + l.pagecache, w + l.pagecache + l.free}})
		c.free0.add(c.free.rs)
	}
	if ws, w := pl.workingSet(), l.writable(); ws < w {
		c.freeable.add([]PageRange{{ws, w}})
	}
	var end uint64
	for _, ph := range pl.phases {
		end += ph.epochs
		c.ends = append(c.ends, end)
		c.allocates = c.allocates || ph.spec.AllocRate > 0
		c.allocC = append(c.allocC, newCarry(ph.spec.AllocRate, ph.spec.Epoch))
		c.releaseC = append(c.releaseC, newCarry(ph.spec.FreeRate, ph.spec.Epoch))
	}
	return c
}

// epoch returns the pages trace epoch e allocates, as ascending ranges,
// and their number.
func (c *expChurn) epoch(e uint64) ([]PageRange, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epochLocked(e)
}

// union appends to out the pages the trace epochs [e1, e2) allocate: the
// unions of O(log(e2 − e1)) aligned blocks of epochs, each computed once.
func (c *expChurn) union(e1, e2 uint64, out []PageRange) []PageRange {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e1 < e2 {
		j := 0
		for e1%(2<<j) == 0 && e1+(2<<j) <= e2 {
			j++
		}
		out = append(out, c.block(j, e1>>j)...)
		e1 += 1 << j
	}
	return out
}

// block returns the union of the pages epochs [b·2^j, (b+1)·2^j)
// allocate.
func (c *expChurn) block(j int, b uint64) []PageRange {
	if j == 0 {
		rs, _ := c.epochLocked(b)
		return rs
	}
	for len(c.blocks) <= j {
		c.blocks = append(c.blocks, map[uint64][]PageRange{})
	}
	if u, ok := c.blocks[j][b]; ok {
		return u
	}
	var u pageSet
	u.union(c.block(j-1, 2*b))
	u.union(c.block(j-1, 2*b+1))
	c.blocks[j][b] = u.rs
	return u.rs
}

func (c *expChurn) epochLocked(e uint64) ([]PageRange, uint64) {
	for uint64(len(c.alloc)) <= e {
		k := uint64(len(c.alloc))
		i, _ := slices.BinarySearch(c.ends, k+1)
		na := min(c.allocC[i].next(), c.free.n)
		nf := min(c.releaseC[i].next(), c.freeable.n)
		a := c.free.takeLow(na)
		f := c.freeable.takeHigh(nf)
		c.freeable.add(a)
		c.free.add(f)
		c.alloc = append(c.alloc, a)
		c.freed = append(c.freed, f)
		c.count = append(c.count, na)
	}
	return c.alloc[e], c.count[e]
}

// freeAfter returns the free class once the first m epochs of the
// guest's run have applied their changes, trace epochs of period epochs.
func (c *expChurn) freeAfter(m, epochs uint64) []PageRange {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m < c.compN {
		c.comp, c.compN = pageSet{}, 0
	}
	if c.compN == 0 {
		c.comp.add(c.free0.rs)
	}
	for ; c.compN < m; c.compN++ {
		c.epochLocked(c.compN % epochs)
		k := c.compN % epochs
		c.comp.remove(c.alloc[k])
		c.comp.add(c.freed[k])
	}
	return slices.Clone(c.comp.rs)
}

// pageSet is a set of pages as ascending, disjoint, non-adjacent ranges.
type pageSet struct {
	rs []PageRange
	n  uint64 // pages in all
}

// takeLow removes the n lowest pages of s (n ≤ s.n) and returns them.
func (s *pageSet) takeLow(n uint64) []PageRange {
	out := LowestRanges(s.rs, n)
	s.remove(out)
	return out
}

// takeHigh removes the n highest pages of s (n ≤ s.n) and returns them
// in ascending order.
func (s *pageSet) takeHigh(n uint64) []PageRange {
	var out []PageRange
	for n > 0 {
		r := &s.rs[len(s.rs)-1]
		k := min(n, r.Hi-r.Lo)
		out = append(out, PageRange{r.Hi - k, r.Hi})
		r.Hi -= k
		if r.Lo == r.Hi {
			s.rs = s.rs[:len(s.rs)-1]
		}
		n -= k
		s.n -= k
	}
	slices.Reverse(out)
	return out
}

// add adds the pages of rs (ascending, disjoint from s) to s.
func (s *pageSet) add(rs []PageRange) {
	for _, r := range rs {
		s.n += r.Hi - r.Lo
	}
	s.union(rs)
}

// remove takes the pages of rs (ascending) out of s.
func (s *pageSet) remove(rs []PageRange) {
	if len(rs) == 0 || len(s.rs) == 0 {
		return
	}
	s.rs = SubtractRanges(s.rs, rs)
	s.n = CountRanges(s.rs)
}

// union adds the ranges rs (ascending) to s's, merging those that meet;
// it leaves s.n as it was.
func (s *pageSet) union(rs []PageRange) {
	if len(rs) > 0 {
		s.rs = UnionRanges(append(slices.Clip(s.rs), rs...))
	}
}

// randomShare maps the share f of local epoch e of phase p to the share
// of the epoch's random writes it holds: they come before the epoch's
// allocated pages.
func (a *expAcc) randomShare(p *expPhase, e uint64, f float64) float64 {
	c := a.x.churn
	if c == nil {
		return f
	}
	_, na := c.epoch(p.e0 + e)
	n := float64(p.epochWrites(e))
	if na == 0 || n == 0 {
		return f
	}
	return math.Min(1, f*(n+float64(na))/n)
}

// churnCover adds the pages the phase's local epochs [ua, ub) allocate:
// every allocated page of whole epochs, and the ranks of parts of epochs
// that come after the epoch's random writes.
func (a *expAcc) churnCover(p *expPhase, ua, ub float64) {
	c := a.x.churn
	first, last := math.Ceil(ua), math.Floor(ub)
	if first > last { // within one epoch
		e := math.Floor(ua)
		a.churnPart(p, uint64(e), ua-e, ub-e)
		return
	}
	if f := first - ua; f > 0 {
		a.churnPart(p, uint64(first)-1, 1-f, 1)
	}
	if last > first {
		a.churn = c.union(p.e0+uint64(first), p.e0+uint64(last), a.churn)
	}
	if f := ub - last; f > 0 {
		a.churnPart(p, uint64(last), 0, f)
	}
}

// churnPart adds the allocated pages the share [fa, fb) of local epoch e
// holds: ranks [(n+na)·fa − n, (n+na)·fb − n) of them, n the epoch's
// random writes.
func (a *expAcc) churnPart(p *expPhase, e uint64, fa, fb float64) {
	rs, na := a.x.churn.epoch(p.e0 + e)
	if na == 0 || fb <= fa {
		return
	}
	n := float64(p.epochWrites(e))
	tot := n + float64(na)
	ra := uint64(math.Round(math.Max(0, tot*fa-n)))
	rb := uint64(math.Round(math.Min(float64(na), math.Max(0, tot*fb-n))))
	var rank uint64 // of r's first page
	for _, r := range rs {
		end := rank + r.Hi - r.Lo
		if lo, hi := max(ra, rank), min(rb, end); lo < hi {
			a.churn = append(a.churn, PageRange{r.Lo + lo - rank, r.Lo + hi - rank})
		}
		if rank = end; rank >= rb {
			break
		}
	}
}

// addChurn adds the allocated pages gathered in a.churn, merged, to the
// window's ranges: each is in the set.
func (a *expAcc) addChurn() {
	for _, r := range UnionRanges(a.churn) {
		a.add(r.Lo, r.Hi, math.Inf(-1))
	}
}

// ChurnWritten returns the pages the generator's allocation writes in
// the guest-time window [a, b) (seconds since the trace's start), as
// [Expect.Written] counts them: ascending, merged ranges; nil without
// alloc_rate.
func (x *Expect) ChurnWritten(a, b float64) []PageRange {
	if x.churn == nil {
		return nil
	}
	acc := expAcc{x: x, churnOnly: true}
	if ep := x.epoch.Seconds(); b > a && x.epochs > 0 {
		x.cover(a/ep, b/ep, &acc)
	}
	return UnionRanges(acc.churn)
}

// WrittenChurn is [Expect.Written] with churn, ascending ranges, in place
// of the pages the generator's allocation writes in the window: a model
// that takes some of them out (free-page hinting) says which remain.
func (x *Expect) WrittenChurn(a, b float64, w *Window, churn []PageRange) {
	acc := x.newAcc(w, false)
	acc.churnGiven = true
	if ep := x.epoch.Seconds(); b > a && x.epochs > 0 {
		x.cover(a/ep, b/ep, &acc)
	}
	acc.churn = append(acc.churn[:0], churn...)
	acc.finish(w)
}

// FreeAt returns the free class at guest time t (seconds since the
// trace's start), ascending ranges, as the models follow it: the
// header's, changed as the guest starts each epoch (the epoch under way
// at t included) by the pages it allocates and frees, the trace's changes
// applied again when it replays (at_end loop). Without churn it is the
// Layout's [FreeLo, ZeroLo).
func (x *Expect) FreeAt(t float64) []PageRange {
	if x.churn == nil {
		l := x.Layout()
		if l.ZeroLo > l.FreeLo {
			return []PageRange{{l.FreeLo, l.ZeroLo}}
		}
		return nil
	}
	return x.churn.freeAfter(x.EpochsStarted(t), x.epochs)
}

// EpochsStarted returns how many epochs the guest has started by guest
// time t, the one under way included, counting on over the trace's
// replays (at_end loop) and stopping at its end otherwise.
func (x *Expect) EpochsStarted(t float64) uint64 {
	m := uint64(math.Floor(t/x.epoch.Seconds())) + 1
	if !x.loop {
		m = min(m, x.epochs)
	}
	return m
}

// ChurnAlloc returns the pages the guest's epoch m (counted as
// EpochsStarted counts) allocates as it starts, ascending ranges; nil
// without alloc_rate.
func (x *Expect) ChurnAlloc(m uint64) []PageRange {
	if x.churn == nil || x.epochs == 0 {
		return nil
	}
	rs, _ := x.churn.epoch(m % x.epochs)
	return rs
}

// CountRanges returns the pages of rs.
func CountRanges(rs []PageRange) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.Hi - r.Lo
	}
	return n
}

// UnionRanges returns the union of rs, in any order, as ascending merged
// ranges.
func UnionRanges(rs []PageRange) []PageRange {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(x, y PageRange) int { return cmp.Compare(x.Lo, y.Lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		if last := &out[len(out)-1]; r.Lo <= last.Hi {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// IntersectRanges returns the pages in both a and b (ascending, disjoint
// ranges each).
func IntersectRanges(a, b []PageRange) []PageRange {
	var out []PageRange
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if lo, hi := max(a[i].Lo, b[j].Lo), min(a[i].Hi, b[j].Hi); lo < hi {
			out = append(out, PageRange{lo, hi})
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// SubtractRanges returns the pages of a not in b (ascending, disjoint
// ranges each).
func SubtractRanges(a, b []PageRange) []PageRange {
	var out []PageRange
	j := 0
	for _, r := range a {
		lo := r.Lo
		for j < len(b) && b[j].Hi <= lo {
			j++
		}
		for k := j; k < len(b) && b[k].Lo < r.Hi; k++ {
			if b[k].Lo > lo {
				out = append(out, PageRange{lo, b[k].Lo})
			}
			lo = max(lo, b[k].Hi)
		}
		if lo < r.Hi {
			out = append(out, PageRange{lo, r.Hi})
		}
	}
	return out
}

// LowestRanges returns the n lowest pages of rs (ascending, disjoint
// ranges), or all of them, as ranges.
func LowestRanges(rs []PageRange, n uint64) []PageRange {
	var out []PageRange
	for _, r := range rs {
		if n == 0 {
			break
		}
		k := min(n, r.Hi-r.Lo)
		out = append(out, PageRange{r.Lo, r.Lo + k})
		n -= k
	}
	return out
}
