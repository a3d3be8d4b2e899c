package traces

import (
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

// pageRange is the pages [lo, hi).
type pageRange struct{ lo, hi uint64 }

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
	alloc     [][]pageRange // the pages each trace epoch allocates, computed so far
	count     []uint64      // their number
	// blocks[j][b] is the union of alloc over the epochs [b·2^j,
	// (b+1)·2^j), j ≥ 1, computed as windows ask for them.
	blocks []map[uint64][]pageRange
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
		c.free.add([]pageRange{{w + l.pagecache, w + l.pagecache + l.free}})
	}
	if ws, w := pl.workingSet(), l.writable(); ws < w {
		c.freeable.add([]pageRange{{ws, w}})
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
func (c *expChurn) epoch(e uint64) ([]pageRange, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epochLocked(e)
}

// union appends to out the pages the trace epochs [e1, e2) allocate: the
// unions of O(log(e2 − e1)) aligned blocks of epochs, each computed once.
func (c *expChurn) union(e1, e2 uint64, out []pageRange) []pageRange {
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
func (c *expChurn) block(j int, b uint64) []pageRange {
	if j == 0 {
		rs, _ := c.epochLocked(b)
		return rs
	}
	for len(c.blocks) <= j {
		c.blocks = append(c.blocks, map[uint64][]pageRange{})
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

func (c *expChurn) epochLocked(e uint64) ([]pageRange, uint64) {
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
		c.count = append(c.count, na)
	}
	return c.alloc[e], c.count[e]
}

// pageSet is a set of pages as ascending, disjoint, non-adjacent ranges.
type pageSet struct {
	rs []pageRange
	n  uint64 // pages in all
}

// takeLow removes the n lowest pages of s (n ≤ s.n) and returns them.
func (s *pageSet) takeLow(n uint64) []pageRange {
	var out []pageRange
	for n > 0 {
		r := &s.rs[0]
		k := min(n, r.hi-r.lo)
		out = append(out, pageRange{r.lo, r.lo + k})
		r.lo += k
		if r.lo == r.hi {
			s.rs = s.rs[1:]
		}
		n -= k
		s.n -= k
	}
	return out
}

// takeHigh removes the n highest pages of s (n ≤ s.n) and returns them
// in ascending order.
func (s *pageSet) takeHigh(n uint64) []pageRange {
	var out []pageRange
	for n > 0 {
		r := &s.rs[len(s.rs)-1]
		k := min(n, r.hi-r.lo)
		out = append(out, pageRange{r.hi - k, r.hi})
		r.hi -= k
		if r.lo == r.hi {
			s.rs = s.rs[:len(s.rs)-1]
		}
		n -= k
		s.n -= k
	}
	slices.Reverse(out)
	return out
}

// add adds the pages of rs (ascending, disjoint from s) to s.
func (s *pageSet) add(rs []pageRange) {
	for _, r := range rs {
		s.n += r.hi - r.lo
	}
	s.union(rs)
}

// union adds the ranges rs (ascending) to s's, merging those that meet;
// it leaves s.n as it was.
func (s *pageSet) union(rs []pageRange) {
	if len(rs) == 0 {
		return
	}
	merged := make([]pageRange, 0, len(s.rs)+len(rs))
	i, j := 0, 0
	for i < len(s.rs) || j < len(rs) {
		var r pageRange
		if j == len(rs) || i < len(s.rs) && s.rs[i].lo < rs[j].lo {
			r, i = s.rs[i], i+1
		} else {
			r, j = rs[j], j+1
		}
		if m := len(merged); m > 0 && merged[m-1].hi >= r.lo {
			merged[m-1].hi = max(merged[m-1].hi, r.hi)
			continue
		}
		merged = append(merged, r)
	}
	s.rs = merged
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
		end := rank + r.hi - r.lo
		if lo, hi := max(ra, rank), min(rb, end); lo < hi {
			a.churn = append(a.churn, pageRange{r.lo + lo - rank, r.lo + hi - rank})
		}
		if rank = end; rank >= rb {
			break
		}
	}
}

// addChurn adds the allocated pages gathered in a.churn, merged, to the
// window's ranges: each is in the set.
func (a *expAcc) addChurn() {
	if len(a.churn) == 0 {
		return
	}
	slices.SortFunc(a.churn, func(x, y pageRange) int {
		switch {
		case x.lo < y.lo:
			return -1
		case x.lo > y.lo:
			return 1
		}
		return 0
	})
	cur := a.churn[0]
	for _, r := range a.churn[1:] {
		if r.lo <= cur.hi {
			cur.hi = max(cur.hi, r.hi)
			continue
		}
		a.add(cur.lo, cur.hi, math.Inf(-1))
		cur = r
	}
	a.add(cur.lo, cur.hi, math.Inf(-1))
}
