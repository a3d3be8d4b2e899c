package traces

import (
	"fmt"
	"math"
)

// Memory composition of generated traces: the free and page-cache classes.
//
// A generator with free_fraction f and pagecache_fraction c lays out the
// memory below the zero class, from page 0 up:
//
//	[0, w)           writable memory (class anon): the working set and
//	                 untouched anon memory above it
//	[w, w+C)         class pagecache, C = floor(c × PageCount) pages
//	[w+C, nz)        class free, F = floor(f × PageCount) pages
//	[nz, PageCount)  class zero
//
// so w = nz − C − F. The free and page-cache sets are disjoint from the
// zero set and from the pages any phase writes or reads: a default
// working set (0) is all of [0, w), and a larger one is an error. The
// fractions are set at the top level of the spec only (phases share one
// layout).

// composition returns the free and page-cache page counts of the spec's
// fractions over pages pages, or an error naming the key.
func (s *GeneratorSpec) composition(key string, pages uint64) (free, pagecache uint64, err error) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"free_fraction", s.FreeFraction}, {"pagecache_fraction", s.PagecacheFraction}} {
		if !(f.v >= 0 && f.v < 1) {
			return 0, 0, keyErrorf(key+"."+f.name, "%s is outside [0, 1)", fmtFloat(f.v))
		}
	}
	if s.FreeFraction+s.PagecacheFraction+s.ZeroFraction >= 1 {
		return 0, 0, keyErrorf(key, "zero_fraction %s + free_fraction %s + pagecache_fraction %s leave no anon memory (they must sum below 1)", fmtFloat(s.ZeroFraction), fmtFloat(s.FreeFraction), fmtFloat(s.PagecacheFraction))
	}
	free = uint64(math.Floor(s.FreeFraction * float64(pages)))
	pagecache = uint64(math.Floor(s.PagecacheFraction * float64(pages)))
	return free, pagecache, nil
}

// checkPhaseComposition rejects free and page-cache fractions on a phase:
// the layout is one for the whole trace.
func (s *GeneratorSpec) checkPhaseComposition(key string) error {
	if s.FreeFraction != 0 || s.PagecacheFraction != 0 {
		return keyErrorf(key, "free_fraction and pagecache_fraction are set once, at the top level of the generator")
	}
	return nil
}

// writable returns w, the top of the memory the generator may write or
// read: the non-zero pages below the page-cache and free classes.
func (l genLayout) writable() uint64 {
	if l.free+l.pagecache >= l.nonZero {
		return 0
	}
	return l.nonZero - l.free - l.pagecache
}

// setClasses fills h.Free and h.PageCache from the layout (nil when empty).
func (l genLayout) setClasses(h *Header) {
	w := l.writable()
	if l.pagecache > 0 {
		h.PageCache = newRangeBitmap(w, w+l.pagecache)
	}
	if l.free > 0 {
		h.Free = newRangeBitmap(w+l.pagecache, w+l.pagecache+l.free)
	}
}

// describeComposition appends the fractions to a provenance string when
// they are set, so traces without them keep their provenance.
func (s *GeneratorSpec) describeComposition() string {
	if s.FreeFraction == 0 && s.PagecacheFraction == 0 {
		return ""
	}
	return fmt.Sprintf(" free_fraction=%s pagecache_fraction=%s", fmtFloat(s.FreeFraction), fmtFloat(s.PagecacheFraction))
}

// writableName names the pages writable counts, for error messages.
func (l genLayout) writableName() string {
	if l.free == 0 && l.pagecache == 0 {
		return "non-zero pages"
	}
	return fmt.Sprintf("anon pages below the page-cache and free classes (%d and %d pages)", l.pagecache, l.free)
}
