package traces

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/units"
)

// TestGeneratorComposition checks the free and page-cache layout: the
// counts, disjointness from the zero class and from every page the
// generator writes or reads, and determinism of the sets.
func TestGeneratorComposition(t *testing.T) {
	const mem, ps = 64 * units.MiB, 4 * units.KiB
	pages := uint64(mem / ps)
	for _, kind := range []string{GenSequential, GenUniform, GenHotCold, GenZipf} {
		t.Run(kind, func(t *testing.T) {
			spec := GeneratorSpec{Kind: kind, DirtyRate: 50000, ReadRate: 20000, Duration: time.Second,
				ZeroFraction: 0.1, FreeFraction: 0.5, PagecacheFraction: 0.2}
			src, err := NewGenerator(spec, mem, ps, 7)
			if err != nil {
				t.Fatal(err)
			}
			h := src.Header()
			if err := h.Validate(); err != nil {
				t.Fatal(err)
			}
			wantFree, wantPC, wantZero := pages/2, pages/5, pages/10
			if got := h.ClassPages(ClassFree); got != wantFree {
				t.Errorf("free pages = %d, want %d", got, wantFree)
			}
			if got := h.ClassPages(ClassPageCache); got != wantPC {
				t.Errorf("pagecache pages = %d, want %d", got, wantPC)
			}
			if got := h.ClassPages(ClassZero); got != wantZero {
				t.Errorf("zero pages = %d, want %d", got, wantZero)
			}
			if h.Free.Intersects(h.Zero) || h.PageCache.Intersects(h.Zero) || h.Free.Intersects(h.PageCache) {
				t.Error("class sets overlap")
			}
			touched := roaring.New()
			var e Epoch
			e.Reset()
			for {
				err := src.Next(&e)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				touched.Or(e.Written)
				touched.Or(e.Read)
			}
			if touched.IsEmpty() {
				t.Fatal("generator touched nothing")
			}
			for _, c := range []*roaring.Bitmap{h.Free, h.PageCache, h.Zero} {
				if n := touched.AndCardinality(c); n != 0 {
					t.Errorf("%d touched pages in a non-anon class", n)
				}
			}
		})
	}
}

func TestGeneratorCompositionErrors(t *testing.T) {
	const mem, ps = 64 * units.MiB, 4 * units.KiB
	for _, tc := range []struct {
		spec GeneratorSpec
		want string
	}{
		{GeneratorSpec{FreeFraction: -0.1}, "generator.free_fraction: -0.1 is outside [0, 1)"},
		{GeneratorSpec{PagecacheFraction: 1}, "generator.pagecache_fraction: 1 is outside [0, 1)"},
		{GeneratorSpec{FreeFraction: 0.5, PagecacheFraction: 0.3, ZeroFraction: 0.2}, "leave no anon memory"},
		{GeneratorSpec{FreeFraction: 0.5, WorkingSet: 48 * units.MiB}, "generator.working_set: 48MiB (12288 pages) does not fit in the 8192 anon pages below the page-cache and free classes (0 and 8192 pages)"},
		{GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{Kind: GenUniform, FreeFraction: 0.2}}}, "generator.phases[0]: free_fraction and pagecache_fraction are set once"},
	} {
		err := tc.spec.Validate(mem, ps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestGeneratorCompositionProvenance(t *testing.T) {
	src, err := NewGenerator(GeneratorSpec{FreeFraction: 0.25}, 4*units.MiB, 4*units.KiB, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p := src.Header().Provenance; !strings.Contains(p, "free_fraction=0.25 pagecache_fraction=0") {
		t.Errorf("provenance %q does not name the fractions", p)
	}
}
