package traces

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// This file holds the generators' counting and sampling machinery. Nothing
// here allocates per page: random batches go into a reused []uint32, are
// sorted and deduplicated (gen_sort.go), and reach the sets through a
// pageSink's AddMany (sorted) or AddRange (gen_build.go).

// fixedOne is the fixed-point scale of carry and share: rates are kept as
// integer billionths of a page per epoch, shares as billionths.
const fixedOne = 1_000_000_000

// carry counts pages per epoch at a fractional rate by cumulative floor:
// after k epochs it has handed out exactly floor(k × perEpoch) pages, so
// fractions carry over without drift.
type carry struct {
	perEpoch uint64 // pages per epoch × fixedOne
	epochs   uint64 // epochs counted so far
	total    uint64 // pages handed out so far
}

// newCarry returns a carry for rate pages/s over epochs of length epoch.
// The caller has checked that rate × epoch fits.
func newCarry(rate float64, epoch time.Duration) carry {
	// rate × epoch[ns] is pages per epoch × 1e9.
	return carry{perEpoch: uint64(math.Round(rate * float64(epoch)))}
}

// next returns the number of pages for the next epoch.
func (c *carry) next() uint64 {
	c.epochs++
	cum := mulDivFixed(c.epochs, c.perEpoch)
	n := cum - c.total
	c.total = cum
	return n
}

// share splits a stream of counts by a fixed share, by cumulative floor:
// after counts summing to N it has taken exactly floor(N × share).
type share struct {
	frac      uint64 // share × fixedOne
	in, taken uint64
}

func newShare(f float64) share { return share{frac: uint64(math.Round(f * fixedOne))} }

// next takes the share of n more and returns it (at most n).
func (s *share) next(n uint64) uint64 {
	s.in += n
	cum := mulDivFixed(s.in, s.frac)
	d := min(cum-s.taken, n)
	s.taken += d
	return d
}

// mulDivFixed returns floor(a × b / fixedOne) without overflow in the
// product. The quotient must fit in 64 bits.
func mulDivFixed(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, _ := bits.Div64(hi, lo, fixedOne)
	return q
}

// mix64 is the splitmix64 finalizer: a bijective scramble of 64 bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// newRangeBitmap returns a new bitmap holding [lo, hi).
func newRangeBitmap(lo, hi uint64) *roaring.Bitmap {
	b := roaring.New()
	b.AddRange(lo, hi)
	return b
}

// sampler draws distinct pages for one random stream (writes or reads).
type sampler struct {
	src     *rand.PCG
	spare   uint32   // second half of the last 64-bit draw
	has     bool     // spare is unused
	buf     []uint32 // the current sample
	exclBuf []uint32 // batch of excluded pages for mapAvailable
	sorter           // sorts and deduplicates batches of draws

	// zipf only
	law      *zipfLaw
	rng      *rand.Rand // wraps src
	tail     *rand.Zipf // ranks [law.head, ws), nil if the head is everything
	heap     []zipfKey
	seenHead []uint64        // bitset of head ranks drawn in the current sample
	keyed    *roaring.Bitmap // tail pages keyed by zipfFinish
}

func (s *sampler) init(src *rand.PCG) { s.src = src }

// uint32 returns 32 random bits, two per PCG step.
func (s *sampler) uint32() uint32 {
	if s.has {
		s.has = false
		return s.spare
	}
	x := s.src.Uint64()
	s.spare, s.has = uint32(x>>32), true
	return uint32(x)
}

// below returns a uniform number in [0, n), 0 < n ≤ 2^32, by Lemire's
// multiply-and-reject method (rarely more than one draw, no division in
// the common case).
func (s *sampler) below(n uint64) uint64 {
	if n == 1<<32 {
		return uint64(s.uint32())
	}
	m := uint64(s.uint32()) * n
	if uint32(m) < uint32(n) {
		t := uint32(-uint32(n)) % uint32(n)
		for uint32(m) < t {
			m = uint64(s.uint32()) * n
		}
	}
	return m >> 32
}

// fillBelow fills dst with base plus uniform numbers in [0, n),
// 0 < n ≤ 2^32 − base: the numbers successive calls of below would give,
// at less cost (one threshold for the batch, and two numbers a PCG step
// without the spare bookkeeping in between).
func (s *sampler) fillBelow(dst []uint32, base uint32, n uint64) {
	if n == 1<<32 {
		for i := range dst {
			dst[i] = s.uint32()
		}
		return
	}
	// below accepts the product x·n of a 32-bit draw x when its low half is
	// at least t (it tests against n first only to skip computing t).
	t := uint32(-uint32(n)) % uint32(n)
	for i := 0; i < len(dst); {
		if !s.has && i+1 < len(dst) {
			x := s.src.Uint64()
			m0, m1 := uint64(uint32(x))*n, (x>>32)*n
			if uint32(m0) >= t && uint32(m1) >= t {
				dst[i], dst[i+1] = base+uint32(m0>>32), base+uint32(m1>>32)
				i += 2
				continue
			}
			// A rejection (rare): take the halves one by one.
			s.spare, s.has = uint32(x>>32), true
			if uint32(m0) >= t {
				dst[i] = base + uint32(m0>>32)
				i++
			}
			continue
		}
		if m := uint64(s.uint32()) * n; uint32(m) >= t {
			dst[i] = base + uint32(m>>32)
			i++
		}
	}
}

// distinctBelow returns base plus k distinct uniform numbers in [0, n),
// sorted, in s.buf (valid until the next call). It draws k with
// replacement, sorts, drops duplicates, then draws the shortfall and
// merges it in until there are k: the result is the set of the first k
// distinct values of an i.i.d. sequence, a uniform k-subset. The caller
// keeps k ≤ n/2 so that each draw is new with probability ≥ 1/2.
func (s *sampler) distinctBelow(base uint32, n, k uint64) []uint32 {
	width := bits.Len64(n - 1)
	buf := s.buf[:0]
	for uint64(len(buf)) < k {
		m := len(buf)
		buf = slices.Grow(buf, int(k)-m)[:k]
		s.fillBelow(buf[m:], base, n)
		buf = s.settle(buf, m, base, width)
	}
	s.buf = buf
	return buf
}

// uniform adds to out k distinct pages drawn uniformly from [lo, hi)
// without the pages of excl (nil for none). Preconditions: k ≤ the pages
// available, out has no page in [lo, hi), and out and excl are disjoint.
//
// It draws indexes among the available pages and maps them to pages by
// walking excl, so a dense excl costs no rejections; when k is more than
// half the available pages it draws the pages to leave out instead.
// Cost: O(k + |excl ∩ [lo, hi)|) (draws, a radix or bucket sort, one
// AddMany), plus one AndNot when excl is not empty.
func (s *sampler) uniform(out pageSink, excl *roaring.Bitmap, lo, hi, k uint64) {
	if k == 0 || lo >= hi {
		return
	}
	var nex uint64
	if excl != nil {
		nex = excl.CardinalityInRange(lo, hi)
	}
	avail := hi - lo - nex
	switch {
	case k >= avail:
		out.AddRange(lo, hi)
	case k <= avail/2 && nex == 0:
		out.AddMany(s.distinctBelow(uint32(lo), avail, k))
		return
	case k <= avail/2:
		idx := s.distinctBelow(0, avail, k)
		s.mapAvailable(idx, excl, nex, lo)
		out.AddMany(idx)
		return
	default:
		skip := s.distinctBelow(0, avail, avail-k)
		s.mapAvailable(skip, excl, nex, lo)
		prev := lo
		for _, p := range skip {
			out.AddRange(prev, uint64(p))
			prev = uint64(p) + 1
		}
		out.AddRange(prev, hi)
	}
	if nex > 0 {
		out.AndNot(excl)
	}
}

// mapAvailable maps sorted indexes among the pages of [lo, …) that are
// not in excl to the pages themselves, in place. nex is the number of excl
// pages in the range (0 means excl can be ignored). It walks excl in
// batches, from its start: O(len(idx) + excl pages up to the last one
// mapped).
func (s *sampler) mapAvailable(idx []uint32, excl *roaring.Bitmap, nex uint64, lo uint64) {
	if nex == 0 {
		for i := range idx {
			idx[i] += uint32(lo)
		}
		return
	}
	if s.exclBuf == nil {
		s.exclBuf = make([]uint32, 256)
	}
	eb := s.exclBuf
	it := excl.ManyIterator()
	n, j := it.NextMany(eb), 0
	for n > 0 && uint64(eb[j]) < lo {
		if j++; j == n {
			n, j = it.NextMany(eb), 0
		}
	}
	var skipped uint64
	for i, x := range idx {
		p := lo + uint64(x) + skipped
		for n > 0 && uint64(eb[j]) <= p {
			skipped++
			p++
			if j++; j == n {
				n, j = it.NextMany(eb), 0
			}
		}
		idx[i] = uint32(p)
	}
}
