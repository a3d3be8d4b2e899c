package traces

import (
	"fmt"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Composition over time in generated traces: allocation and freeing.
//
// A generator with alloc_rate a and free_rate f (pages/s, per phase for
// kind phases, so a phase is a time window) changes the composition at the
// start of every epoch, by cumulative floor as for dirty_rate: an epoch
// ending at guest time t of its phase allocates floor(a × t) − floor(a ×
// (t − epoch)) pages and frees floor(f × t) − floor(f × (t − epoch)).
//
//   - Allocation takes the lowest pages of the current free class (the
//     header's free pages and those freed since) and moves them to anon
//     (record 0x02's to_anon); the workload writes each allocated page in
//     the epoch that allocates it (the kernel zeroes or fills it), so the
//     pages are also in the epoch's written set.
//   - Freeing takes the highest anon pages outside the working set (the
//     union of the phases' working sets) and moves them to free (to_free):
//     the most recently allocated pages first, then the untouched anon
//     memory above the working set, from the top down. The workload's
//     writes and reads stay in the working set, so it never touches a
//     free page.
//
// Both counts are capped by what there is to take; neither uses the random
// streams, so the epochs' writes and reads are those of the same spec
// without the rates, plus the allocated pages. A spec whose rates are all
// zero yields exactly the trace it did before the rates existed.

// checkChurn checks the alloc and free rates of s, whose dotted key is key.
func (s *GeneratorSpec) checkChurn(key string) error {
	if err := checkRate(key+".alloc_rate", s.AllocRate); err != nil {
		return err
	}
	return checkRate(key+".free_rate", s.FreeRate)
}

// genChurn is the allocation state of one generator.
type genChurn struct {
	free     *roaring.Bitmap // the free class now
	freeable *roaring.Bitmap // anon pages that freeing may take
	alloc    []carry         // per phase
	release  []carry         // per phase
}

// newGenChurn returns the churn of plan pl, or nil when no phase
// allocates or frees.
func newGenChurn(pl *genPlan, h *Header) *genChurn {
	on := false
	for _, ph := range pl.phases {
		on = on || ph.spec.AllocRate > 0 || ph.spec.FreeRate > 0
	}
	if !on {
		return nil
	}
	c := &genChurn{free: roaring.New(), freeable: roaring.New()}
	if h.Free != nil {
		c.free = h.Free.Clone()
	}
	if ws, w := pl.workingSet(), pl.layout.writable(); ws < w {
		c.freeable.AddRange(ws, w)
	}
	for _, ph := range pl.phases {
		c.alloc = append(c.alloc, newCarry(ph.spec.AllocRate, ph.spec.Epoch))
		c.release = append(c.release, newCarry(ph.spec.FreeRate, ph.spec.Epoch))
	}
	return c
}

// step applies phase i's allocation and freeing to the epoch e, whose
// writes and reads are generated.
func (c *genChurn) step(i int, e *Epoch) {
	na := min(c.alloc[i].next(), c.free.GetCardinality())
	nf := min(c.release[i].next(), c.freeable.GetCardinality())
	if na > 0 {
		a := lowest(c.free, na)
		e.Change.ToAnon = a
		e.Written.Or(a)
		e.Read.AndNot(a)
	}
	if nf > 0 {
		e.Change.ToFree = highest(c.freeable, nf)
	}
	if na > 0 {
		c.free.AndNot(e.Change.ToAnon)
		c.freeable.Or(e.Change.ToAnon)
	}
	if nf > 0 {
		c.freeable.AndNot(e.Change.ToFree)
		c.free.Or(e.Change.ToFree)
	}
}

// lowest returns a new set of the n smallest pages of b (0 < n ≤ |b|),
// in time proportional to n, not to |b|.
func lowest(b *roaring.Bitmap, n uint64) *roaring.Bitmap {
	if n >= b.GetCardinality() {
		return b.Clone()
	}
	out := roaring.New()
	it := b.ManyIterator()
	buf := make([]uint32, min(n, 4096))
	for left := n; left > 0; {
		k := it.NextMany(buf[:min(left, uint64(len(buf)))])
		if k == 0 {
			break
		}
		out.AddMany(buf[:k])
		left -= uint64(k)
	}
	return out
}

// highest returns a new set of the n largest pages of b (0 < n ≤ |b|),
// in time proportional to n.
func highest(b *roaring.Bitmap, n uint64) *roaring.Bitmap {
	if n >= b.GetCardinality() {
		return b.Clone()
	}
	out := roaring.New()
	it := b.ReverseIterator()
	for left := n; left > 0 && it.HasNext(); left-- {
		out.Add(it.Next())
	}
	return out
}

// describeChurn appends the rates to a provenance string when they are
// set, so traces without them keep their provenance.
func (s *GeneratorSpec) describeChurn(b *strings.Builder) {
	if s.AllocRate != 0 || s.FreeRate != 0 {
		fmt.Fprintf(b, " alloc_rate=%s free_rate=%s", fmtFloat(s.AllocRate), fmtFloat(s.FreeRate))
	}
}
