package traces

import (
	"math/bits"
	"slices"
)

// This file sorts and deduplicates the samplers' batches of draws:
// insertion for a few values, a bucket sort for up to a few hundred, and
// an 11-bit radix sort above (on the benchmark's batches of 1800 draws
// from 2^21 pages, bucket sorts of various widths were no faster). The
// values of a batch are spread uniformly over their range (uniform draws,
// or zipf pages, which the scatter permutation spreads), so a bucket pass
// on their top bits, with more than two buckets per value, leaves them in
// order but for the few buckets that got two or more, and an insertion
// pass then fixes those, nearly always without a branch: on the
// benchmark's batches of 200 draws, 3 to 5 ns a value where pdqsort took
// 30 to 40. Values that turn out not to be spread go to the radix sort.

// sorter is the sorting scratch space of a sampler, reused from call to
// call.
type sorter struct {
	tmp    []uint32 // values in bucket order, or radixSort's scratch
	counts []uint16 // bucketPass's counts
	keep   []uint32 // mergeDistinct: the new values
	pos    []int    // mergeDistinct: where they go
}

// Which sort: insertion alone below insertionMax values, a bucket pass
// and insertion below radixMin, radixSort above. insertionMoves bounds the
// moves of the insertion after a bucket pass, per value.
const (
	insertionMax   = 32
	radixMin       = 512
	insertionMoves = 4
)

// settle sorts the new values a[m:], drops their duplicates and those the
// sorted, distinct a[:m] already has, and merges the rest in. Values are
// in [base, base+2^width). It returns the sorted, distinct result, a
// prefix of a.
func (s *sorter) settle(a []uint32, m int, base uint32, width int) []uint32 {
	tail := s.sortDistinct(a[m:], base, width)
	if m == 0 {
		return tail
	}
	return s.mergeDistinct(a, m, tail)
}

// sortDistinct sorts a, whose values are in [base, base+2^width), drops
// duplicates and returns the result, a prefix of a.
func (s *sorter) sortDistinct(a []uint32, base uint32, width int) []uint32 {
	n := len(a)
	switch {
	case n < insertionMax:
		out, _ := insertSorted(a, a, n*n)
		return out
	case n < radixMin:
		b := bits.Len(uint(n)) + 1 // 2^b > 2n buckets: under half a value each on average
		shift := max(width-b, 0)
		buckets := 1 << (width - shift)
		s.tmp = slices.Grow(s.tmp[:0], n)[:n]
		s.counts = slices.Grow(s.counts[:0], buckets)[:buckets]
		bucketPass(a, s.tmp, s.counts, base, shift)
		// Spread values need few moves (only values that go two places or
		// more down); piled-up ones, many more.
		if out, ok := insertSorted(a, s.tmp, insertionMoves*n); ok {
			return out
		}
		copy(a, s.tmp)
	}
	s.tmp = radixSort(a, s.tmp, bits.Len64(uint64(base)+1<<width-1))
	return slices.Compact(a)
}

// bucketPass copies a to tmp in the order of the buckets (v−base)>>shift,
// a bucket sort without the sort within buckets; counts has one entry per
// bucket.
func bucketPass(a, tmp []uint32, counts []uint16, base uint32, shift int) {
	clear(counts)
	for _, v := range a {
		counts[(v-base)>>shift]++
	}
	startOffsets(counts)
	for _, v := range a {
		b := (v - base) >> shift
		tmp[counts[b]] = v
		counts[b]++
	}
}

// insertSorted insertion-sorts src into dst, drops duplicates and
// returns the filled prefix of dst. dst may be src itself (the writes
// never pass the value being read). It is fast when src is nearly sorted,
// as after a bucket pass: a value that goes last or last but one (nearly
// all of them) takes no branch, the others are moved down one by one. It
// gives up, returning false, once it has moved more than maxMoves values
// that way.
func insertSorted(dst, src []uint32, maxMoves int) ([]uint32, bool) {
	if len(src) < 2 {
		return dst[:copy(dst, src)], true
	}
	// s1, s2: the last two values placed, dst[w-2] ≤ dst[w-1].
	s1, s2 := min(src[0], src[1]), max(src[0], src[1])
	dst[0], dst[1] = s1, s2
	w, dups := 2, s1 == s2
	for _, v := range src[2:] {
		if v > s1 {
			lo, hi := min(s2, v), max(s2, v)
			dups = dups || v == s2
			dst[w-1], dst[w] = lo, hi
			s1, s2 = lo, hi
			w++
			continue
		}
		j := w
		for j > 0 && dst[j-1] > v {
			dst[j] = dst[j-1]
			j--
		}
		if maxMoves -= w - j; maxMoves < 0 {
			return nil, false
		}
		dups = dups || (j > 0 && dst[j-1] == v)
		dst[j] = v
		w++
		s1, s2 = dst[w-2], dst[w-1]
	}
	if dups {
		return slices.Compact(dst[:w]), true
	}
	return dst[:w], true
}

// mergeDistinct merges the sorted, distinct tail (a[m:m+len(tail)]) into
// the sorted, distinct a[:m], dropping the values a[:m] has, and returns
// the result, a prefix of a. A short tail, as after the first batch of
// uniform draws, costs a binary search per tail value and a move of the
// a[:m] values above the smallest new one; a long one, as zipf's repeated
// draws give, a linear merge.
func (s *sorter) mergeDistinct(a []uint32, m int, tail []uint32) []uint32 {
	if len(tail) > m/mergeSearchMax {
		return s.mergeLinear(a, m, tail)
	}
	keep, pos := s.keep[:0], s.pos[:0]
	lo := 0
	for _, v := range tail {
		i, found := slices.BinarySearch(a[lo:m], v)
		lo += i
		if !found {
			keep = append(keep, v)
			pos = append(pos, lo)
		}
	}
	s.keep, s.pos = keep, pos
	// From the top down, move each run of old values up by the number of
	// new values below it, then put the new value under it.
	a = a[:m+len(keep)]
	end := m
	for j := len(keep) - 1; j >= 0; j-- {
		p := pos[j]
		copy(a[p+j+1:end+j+1], a[p:end])
		a[p+j] = keep[j]
		end = p
	}
	return a
}

// mergeSearchMax: mergeDistinct searches for each tail value if the tail
// has at most 1/mergeSearchMax the values of the head.
const mergeSearchMax = 16

// mergeLinear is mergeDistinct by a linear merge of a copy of a[:m] and
// the tail.
func (s *sorter) mergeLinear(a []uint32, m int, tail []uint32) []uint32 {
	head := append(s.keep[:0], a[:m]...)
	s.keep = head
	i, j, w := 0, 0, 0
	for i < len(head) && j < len(tail) {
		switch x, y := head[i], tail[j]; {
		case x < y:
			a[w] = x
			i++
		case x > y:
			a[w] = y
			j++
		default:
			a[w] = x
			i++
			j++
		}
		w++
	}
	// Writes stay below the tail values not yet read (w ≤ i+j < m+j), and
	// copy moves the rest of the tail down even where the two overlap.
	w += copy(a[w:], head[i:])
	w += copy(a[w:], tail[j:])
	return a[:w]
}

// radixDigit is the digit width of radixSort, in bits.
const radixDigit = 11

// radixSort sorts a, whose values are below 2^width, in place: pdqsort for
// short slices, else a least-significant-digit radix sort with 11-bit
// digits (two passes for 2^21 pages, three for 2^28), O(len(a)). tmp is
// scratch space; the possibly grown scratch is returned for reuse.
func radixSort(a, tmp []uint32, width int) []uint32 {
	if len(a) < 512 {
		slices.Sort(a)
		return tmp
	}
	tmp = slices.Grow(tmp[:0], len(a))[:len(a)]
	if width <= 2*radixDigit {
		var counts [2][1 << radixDigit]uint32
		radixPasses(a, tmp, counts[:max((width+radixDigit-1)/radixDigit, 1)])
	} else {
		var counts [3][1 << radixDigit]uint32
		radixPasses(a, tmp, counts[:])
	}
	return tmp
}

// radixPasses is radixSort with one zeroed array of counts per pass.
func radixPasses(a, tmp []uint32, counts [][1 << radixDigit]uint32) {
	const mask = 1<<radixDigit - 1
	switch len(counts) {
	case 1:
		for _, v := range a {
			counts[0][v&mask]++
		}
	case 2:
		c0, c1 := &counts[0], &counts[1]
		for _, v := range a {
			c0[v&mask]++
			c1[(v>>radixDigit)&mask]++
		}
	default:
		c0, c1, c2 := &counts[0], &counts[1], &counts[2]
		for _, v := range a {
			c0[v&mask]++
			c1[(v>>radixDigit)&mask]++
			c2[(v>>(2*radixDigit))&mask]++
		}
	}
	src, dst := a, tmp
	for p := range counts {
		c := counts[p][:]
		shift := uint(p * radixDigit)
		if c[(src[0]>>shift)&mask] == uint32(len(a)) {
			continue // every value has the same digit: nothing to move
		}
		startOffsets(c)
		for _, v := range src {
			d := (v >> shift) & mask
			dst[c[d]] = v
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

// startOffsets turns counts into running sums: counts[i] becomes the sum of
// counts[:i]. It reads four counts before writing them: storing each count
// just before loading the next one, in the same 8 bytes, stalls the loads
// on some processors (this machine's, by a third of the sort).
func startOffsets[C uint16 | uint32](counts []C) {
	var sum C
	i := 0
	for ; i+4 <= len(counts); i += 4 {
		c0, c1, c2, c3 := counts[i], counts[i+1], counts[i+2], counts[i+3]
		counts[i], counts[i+1], counts[i+2], counts[i+3] = sum, sum+c0, sum+c0+c1, sum+c0+c1+c2
		sum += c0 + c1 + c2 + c3
	}
	for ; i < len(counts); i++ {
		c := counts[i]
		counts[i] = sum
		sum += c
	}
}
