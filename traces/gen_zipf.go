package traces

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// zipfHead is the number of most popular ranks that zipfLaw draws from an
// alias table; the rest go to math/rand/v2's rejection-inversion Zipf.
// For s = 1.2 the head takes about 87% of the draws.
const zipfHead = 1 << 14

// zipfLaw is the popularity law of a zipf phase: rank r in [0, ws) has
// weight (1+r)^-s and lands on page perm(r). It is shared by the phase's
// write and read samplers, which draw from it with their own streams.
//
// A draw picks the head [0, head) with probability headCut/2^64 and then a
// rank from Vose's alias table (cut, alias), else a tail rank head + Zipf(s,
// v=head+1) over [head, ws). The head's mass is the exact head sum over the
// head sum plus the tail sum, the latter by Euler–Maclaurin (error far
// below float64 resolution for head ≥ 2^14).
type zipfLaw struct {
	s       float64
	ws      uint64
	perm    *scatter
	head    uint64
	headCut uint64   // draw the head if a 64-bit draw is below this; ignored if head == ws
	cut     []uint32 // alias table: keep rank i if a 32-bit draw is below cut[i]
	alias   []uint32 // else take alias[i]

	w          []float64 // weight of each head rank
	headAbove  []float64 // headAbove[i]: total weight of head ranks [i, head)
	beyondHead float64   // total weight of ranks [head, ws)
}

func newZipfLaw(s float64, ws uint64, perm *scatter) *zipfLaw {
	z := &zipfLaw{s: s, ws: ws, perm: perm, head: min(ws, zipfHead)}
	h := int(z.head)
	z.w = make([]float64, h)
	z.headAbove = make([]float64, h)
	var headSum float64
	for i := h - 1; i >= 0; i-- { // small terms first
		z.w[i] = math.Pow(float64(i+1), -s)
		headSum += z.w[i]
		z.headAbove[i] = headSum
	}
	w := slices.Clone(z.w)
	if z.head < ws {
		z.beyondHead = zetaSegment(s, float64(z.head+1), float64(ws))
		mass := headSum / (headSum + z.beyondHead)
		if mass >= 1 {
			z.headCut = math.MaxUint64
		} else {
			z.headCut = uint64(mass * (1 << 64))
		}
	}
	// Vose's alias method over the head, scaled so the mean weight is 1.
	z.cut = make([]uint32, h)
	z.alias = make([]uint32, h)
	var small, large []int
	for i := range w {
		w[i] *= float64(h) / headSum
		if w[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		z.cut[l] = uint32(w[l] * (1 << 32))
		z.alias[l] = uint32(g)
		w[g] -= 1 - w[l]
		if w[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	// Leftovers have weight 1 up to rounding: always keep them.
	for _, i := range append(small, large...) {
		z.cut[i] = math.MaxUint32
		z.alias[i] = uint32(i)
	}
	return z
}

// zetaSegment returns Σ k^-s for k from a to b (whole numbers, a ≤ b) by
// the Euler–Maclaurin formula to the third derivative term.
func zetaSegment(s, a, b float64) float64 {
	p := func(x, e float64) float64 { return math.Pow(x, e) }
	sum := (p(a, 1-s) - p(b, 1-s)) / (s - 1)
	sum += (p(a, -s) + p(b, -s)) / 2
	sum += s * (p(a, -s-1) - p(b, -s-1)) / 12
	sum -= s * (s + 1) * (s + 2) * (p(a, -s-3) - p(b, -s-3)) / 720
	return sum
}

func (s *sampler) initZipf(law *zipfLaw) {
	s.law = law
	s.rng = rand.New(s.src)
	s.has = false
	if law.head < law.ws {
		s.tail = rand.NewZipf(s.rng, law.s, float64(law.head+1), law.ws-1-law.head)
	}
}

// zipfRank draws one rank.
func (s *sampler) zipfRank() uint64 {
	z := s.law
	if s.tail == nil || s.src.Uint64() < z.headCut {
		i := s.below(z.head)
		if s.uint32() >= z.cut[i] {
			i = uint64(z.alias[i])
		}
		return i
	}
	return z.head + s.tail.Uint64()
}

// zipfKey is an Efraimidis–Spirakis key: page p of weight w gets the key
// E/w for E ~ Exp(1); the pages with the m smallest keys are a weighted
// sample of m without replacement, with the law of successive draws.
type zipfKey struct {
	key  float64
	page uint32
}

// zipf adds to out k distinct pages of the working set [0, ws) without the
// pages of excl, by successive Zipf draws without replacement (draws that
// repeat a page or hit excl are dropped). Preconditions: k ≤ ws − |excl|,
// out ∩ [0, ws) is empty and out and excl are disjoint.
//
// Skewed laws repeat pages often (about k^s draws for k pages); after
// 8k + 256 draws it finishes with zipfFinish, which is exact too and costs
// O(k log k) plus draws from the tail of the law. (Measured on 2^28 pages:
// rejection alone is best for s near 1.2, and 30 times slower than the
// finish for s = 2.)
func (s *sampler) zipf(out pageSink, excl *roaring.Bitmap, k uint64) {
	if k == 0 {
		return
	}
	ws := s.law.ws
	var nex uint64
	if excl != nil {
		nex = excl.CardinalityInRange(0, ws)
	}
	if k >= ws-nex {
		out.AddRange(0, ws)
		if nex > 0 {
			out.AndNot(excl)
		}
		return
	}
	budget := 8*k + 256
	var draws uint64
	buf := s.buf[:0]
	// Head ranks, the most repeated, are deduplicated with a bitset before
	// they cost a permutation, an excl lookup and a sort.
	seen := s.seenHead[:0]
	seen = append(seen, make([]uint64, (s.law.head+63)/64)...)
	s.seenHead = seen
	for uint64(len(buf)) < k {
		if draws > budget {
			s.buf = buf
			s.zipfFinish(out, excl, nex, k)
			return
		}
		m := len(buf)
		for range k - uint64(m) {
			draws++
			r := s.zipfRank()
			if r < s.law.head {
				if seen[r/64]&(1<<(r%64)) != 0 {
					continue
				}
				seen[r/64] |= 1 << (r % 64)
			}
			p := uint32(s.law.perm.apply(r))
			if nex > 0 && excl.Contains(p) {
				continue
			}
			buf = append(buf, p)
		}
		buf = s.settle(buf, m, 0, bits.Len64(ws-1))
	}
	s.buf = buf
	out.AddMany(buf)
}

// zipfFinish completes a zipf sample of k pages whose first pages are in
// s.buf (sorted) with exponential keys: conditional on the pages chosen so
// far, the rest of a successive sample is the m = k − |chosen| pages with
// the smallest keys E/w, E ~ Exp(1), among the pages not chosen or
// excluded (Efraimidis–Spirakis). Ranks below H = min(ws, max(4k, 64))
// get explicit keys. Above H the keys are generated lazily in increasing order as a
// Poisson process of rate W (the tail's total weight), each point landing
// on a tail rank drawn by weight: an excluded, chosen or already keyed
// page ignores the point, and the process stops once its time passes the
// m-th smallest key so far. The result is exact; the cost is O(H log m)
// plus the tail points, few when the tail is light.
func (s *sampler) zipfFinish(out pageSink, excl *roaring.Bitmap, nex, k uint64) {
	z := s.law
	chosen := s.buf
	m := k - uint64(len(chosen))
	skip := func(p uint32) bool {
		if _, found := slices.BinarySearch(chosen, p); found {
			return true
		}
		return nex > 0 && excl.Contains(p)
	}
	h := s.heap[:0] // max-heap on key of the m smallest keys so far
	offer := func(key float64, p uint32) {
		if uint64(len(h)) < m {
			h = append(h, zipfKey{key, p})
			heapUp(h, len(h)-1)
		} else {
			h[0] = zipfKey{key, p}
			heapDown(h, 0)
		}
	}
	full := func(key float64) bool { return uint64(len(h)) == m && key >= h[0].key }

	head := min(z.ws, max(4*k, 64))
	for r := range head {
		key := s.rng.ExpFloat64() / z.weight(r)
		if full(key) {
			continue
		}
		if p := uint32(z.perm.apply(r)); !skip(p) {
			offer(key, p)
		}
	}
	if head < z.ws {
		tail := rand.NewZipf(s.rng, z.s, float64(head+1), z.ws-1-head)
		rate := z.tailWeight(head)
		keyed := s.keyed
		if keyed == nil {
			keyed = roaring.New()
			s.keyed = keyed
		}
		keyed.Clear()
		for t := 0.0; ; {
			t += s.rng.ExpFloat64() / rate
			if full(t) {
				break
			}
			p := uint32(z.perm.apply(head + tail.Uint64()))
			if skip(p) || !keyed.CheckedAdd(p) {
				continue
			}
			offer(t, p)
		}
	}
	s.heap = h
	for _, zk := range h {
		chosen = append(chosen, zk.page)
	}
	chosen = s.sortDistinct(chosen, 0, bits.Len64(z.ws-1))
	s.buf = chosen
	out.AddMany(chosen)
}

// weight returns the weight (1+r)^-s of rank r.
func (z *zipfLaw) weight(r uint64) float64 {
	if r < uint64(len(z.w)) {
		return z.w[r]
	}
	return math.Pow(float64(r+1), -z.s)
}

// tailWeight returns the total weight of the ranks [h, ws).
func (z *zipfLaw) tailWeight(h uint64) float64 {
	if h >= z.head {
		return zetaSegment(z.s, float64(h+1), float64(z.ws))
	}
	return z.headAbove[h] + z.beyondHead
}

func heapUp(h []zipfKey, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].key >= h[i].key {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func heapDown(h []zipfKey, i int) {
	for {
		big := i
		if l := 2*i + 1; l < len(h) && h[l].key > h[big].key {
			big = l
		}
		if r := 2*i + 2; r < len(h) && h[r].key > h[big].key {
			big = r
		}
		if big == i {
			return
		}
		h[big], h[i] = h[i], h[big]
		i = big
	}
}

// scatter is a keyed pseudo-random permutation of [0, n): a four-round
// Feistel network on the smallest even number of bits that covers n, with
// cycle walking (re-apply until the result is below n, fewer than four
// rounds of the network on average). It maps zipf ranks to pages.
type scatter struct {
	n    uint64
	half uint   // bits per Feistel half
	mask uint64 // low half mask
	keys [4]uint64
}

func newScatter(n uint64, src *rand.PCG) *scatter {
	b := uint(bits.Len64(n - 1))
	b = max(b+b%2, 2)
	p := &scatter{n: n, half: b / 2, mask: 1<<(b/2) - 1}
	for i := range p.keys {
		p.keys[i] = src.Uint64()
	}
	return p
}

// apply returns the image of x < n.
func (p *scatter) apply(x uint64) uint64 {
	for {
		l, r := x>>p.half, x&p.mask
		for _, k := range p.keys {
			l, r = r, l^(mix64(r^k)&p.mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}
