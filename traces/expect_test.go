package traces

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

// genEpochs plays the generator (replaying it from its start when it
// ends, if loop) for the epochs that begin before guest time b seconds
// and returns their written pages; without loop it stops at the trace's
// end.
func genEpochs(t testing.TB, spec GeneratorSpec, pages, seed uint64, b float64, loop bool) (epoch float64, written []*roaring.Bitmap) {
	t.Helper()
	open := func() Source {
		src, err := NewGenerator(spec, units.Bytes(pages)*genPage, genPage, seed)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	src := open()
	epoch = src.Header().Epoch.Seconds()
	var e Epoch
	for i := 0; float64(i)*epoch < b; i++ {
		err := src.Next(&e)
		if err == io.EOF {
			if !loop {
				break
			}
			src = open()
			err = src.Next(&e)
		}
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, e.Written.Clone())
	}
	return epoch, written
}

// windowWritten returns the pages written in the guest-time window
// [a, b) seconds as the models' guest sees them: a part [fa, fb) of an
// epoch of n written pages contributes its ranks [floor(n·fa),
// floor(n·fb)) in ascending page order (fb = 1: up to n).
func windowWritten(epoch float64, written []*roaring.Bitmap, a, b float64) *roaring.Bitmap {
	out := roaring.New()
	for i, w := range written {
		start := float64(i) * epoch
		if start >= b || start+epoch <= a {
			continue
		}
		fa := math.Max(0, (a-start)/epoch)
		fb := math.Min(1, (b-start)/epoch)
		n := w.GetCardinality()
		lo := uint64(math.Floor(float64(n) * fa))
		hi := n
		if fb < 1 {
			hi = uint64(math.Floor(float64(n) * fb))
		}
		if lo >= hi {
			continue
		}
		if lo == 0 && hi == n {
			out.Or(w)
			continue
		}
		it := w.Iterator()
		for r := uint64(0); it.HasNext() && r < hi; r++ {
			p := it.Next()
			if r >= lo {
				out.Add(p)
			}
		}
	}
	return out
}

// zipfPhases returns n zipf phases of 100 ms, alternating between all of
// memory at s 1.2 and half of it at s 1.6, at rates that vary.
func zipfPhases(n int) []GeneratorSpec {
	var out []GeneratorSpec
	for i := range n {
		ph := GeneratorSpec{Kind: GenZipf, DirtyRate: float64(20000 + 3000*i), Duration: 100 * time.Millisecond}
		if i%2 == 1 {
			ph.ZipfS, ph.WorkingSet = 1.6, 128*units.MiB
		}
		out = append(out, ph)
	}
	return out
}

// TestExpectDistinct holds Expect.Distinct to the generator itself: over
// many seeds, the mean number of distinct pages written in a window is
// within four standard errors of the closed form, plus two pages for
// the floors of the window's two partial epochs, plus, for zipf, the
// threshold approximation's bias of at most 0.3 % (measured 0.05-0.2 %
// on these cases). Sequential writes do not depend on the seed and must
// match to the page.
func TestExpectDistinct(t *testing.T) {
	const pages = 1 << 16 // 256 MiB
	seeds := 40
	if testing.Short() {
		seeds = 16
	}
	type win struct{ a, b float64 }
	wins := []win{
		{0, 1},           // whole epochs from the start
		{0.1234, 0.6789}, // partial epochs at both ends
		{0.3331, 0.3379}, // within one epoch
		{0.02, 0.05},     // three epochs
		{1.5, 4.25},      // long: many pages written twice
	}
	cases := []struct {
		name string
		spec GeneratorSpec
		loop bool
		wins []win
	}{
		{"uniform", GeneratorSpec{Kind: GenUniform, DirtyRate: 20000}, true, wins},
		{"uniform/ws", GeneratorSpec{Kind: GenUniform, DirtyRate: 3333.3, WorkingSet: 64 * units.MiB, ZeroFraction: 0.2}, true, wins},
		{"hotcold", GeneratorSpec{Kind: GenHotCold, DirtyRate: 30000}, true, wins},
		{"hotcold/spill", GeneratorSpec{Kind: GenHotCold, DirtyRate: 50000, HotFraction: 0.001, HotShare: 0.5}, true, wins},
		{"zipf", GeneratorSpec{Kind: GenZipf, DirtyRate: 40000}, true, wins},
		{"zipf/s2", GeneratorSpec{Kind: GenZipf, DirtyRate: 10000, ZipfS: 2, WorkingSet: 128 * units.MiB}, true, wins},
		{"zipf/s1.05", GeneratorSpec{Kind: GenZipf, DirtyRate: 50000, ZipfS: 1.05}, true, wins},
		{"sequential", GeneratorSpec{Kind: GenSequential, DirtyRate: 45678.9, WorkingSet: 128 * units.MiB}, true, wins},
		{"sequential/all", GeneratorSpec{Kind: GenSequential, DirtyRate: 1e7, WorkingSet: 1 * units.MiB}, true, wins},
		{"idle", GeneratorSpec{Kind: GenIdle}, true, wins[:1]},
		// About an epoch, at a high rate: the parts of two epochs hold
		// different ranges of memory (the first's highest pages, the
		// next's lowest), which the closed form follows.
		{"hotcold/short", GeneratorSpec{Kind: GenHotCold, DirtyRate: 152500}, true,
			[]win{{0.276110651, 0.282154999}, {0.263216541, 0.276110651}, {0.2305, 0.2407}}},
		{"uniform/short", GeneratorSpec{Kind: GenUniform, DirtyRate: 152500}, true,
			[]win{{0.276110651, 0.282154999}, {0.2305, 0.2407}}},
		{"zipf/short", GeneratorSpec{Kind: GenZipf, DirtyRate: 152500}, true,
			[]win{{0.276110651, 0.282154999}, {0.2305, 0.2407}}},
		{"phases", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{
			{Kind: GenUniform, DirtyRate: 20000, Duration: 500 * time.Millisecond},
			{Kind: GenHotCold, DirtyRate: 8000, WorkingSet: 128 * units.MiB, Duration: 700 * time.Millisecond},
			{Kind: GenSequential, DirtyRate: 50000, WorkingSet: 32 * units.MiB, Duration: 300 * time.Millisecond},
			{Kind: GenZipf, DirtyRate: 30000, Duration: 1 * time.Second},
		}}, true, append(wins, win{0.2, 2.3}, win{2.2, 3.1})},
		// Two zipf phases, each with its own law and permutation (and a
		// smaller working set for the second): a page's buckets under the
		// two are independent.
		{"phases/zipf2", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{
			{Kind: GenZipf, DirtyRate: 30000, Duration: 600 * time.Millisecond},
			{Kind: GenZipf, DirtyRate: 20000, ZipfS: 1.6, WorkingSet: 128 * units.MiB, Duration: 800 * time.Millisecond},
			{Kind: GenUniform, DirtyRate: 10000, Duration: 300 * time.Millisecond},
		}}, true, append(wins, win{0.5, 1.7}, win{0.55, 0.65}, win{1.2, 3.1}, win{0.3, 2.2})},
		// Twelve zipf phases (past the eight the closed forms once
		// followed), alternating two laws and working sets, each with its
		// own permutation: windows across several of them.
		{"phases/zipf12", GeneratorSpec{Kind: GenPhases, Phases: zipfPhases(12)}, true,
			[]win{{0, 1}, {0.1234, 0.6789}, {0.25, 1.35}, {0.05, 2.3}}},
		// Allocation and freeing: the allocated pages are written, after
		// the epoch's random writes in ascending order. Freeing at the
		// same rate makes the allocation cycle through the same pages;
		// faster allocation runs out of free pages.
		{"churn/uniform", GeneratorSpec{Kind: GenUniform, DirtyRate: 20000, WorkingSet: 96 * units.MiB, FreeFraction: 0.3, AllocRate: 6000, FreeRate: 6000}, true, wins},
		{"churn/zipf-alloc-only", GeneratorSpec{Kind: GenZipf, DirtyRate: 30000, WorkingSet: 64 * units.MiB, FreeFraction: 0.2, AllocRate: 9000}, true, wins},
		{"churn/idle-free", GeneratorSpec{Kind: GenIdle, FreeFraction: 0.1, AllocRate: 20000, FreeRate: 5000, WorkingSet: 32 * units.MiB}, true, wins},
		{"churn/sequential", GeneratorSpec{Kind: GenSequential, DirtyRate: 45678.9, WorkingSet: 128 * units.MiB, FreeFraction: 0.25, AllocRate: 12345, FreeRate: 3000}, true, wins},
		{"churn/phases", GeneratorSpec{Kind: GenPhases, FreeFraction: 0.25, Phases: []GeneratorSpec{
			{Kind: GenHotCold, DirtyRate: 30000, WorkingSet: 128 * units.MiB, AllocRate: 15000, Duration: 500 * time.Millisecond},
			{Kind: GenUniform, DirtyRate: 10000, WorkingSet: 64 * units.MiB, FreeRate: 20000, Duration: 700 * time.Millisecond},
		}}, true, append(wins, win{0.45, 0.56}, win{0.2, 2.3})},
		{"loop", GeneratorSpec{Kind: GenUniform, DirtyRate: 50000, Duration: 400 * time.Millisecond}, true,
			[]win{{0.3, 0.6}, {0.35, 0.8}, {0.1, 2.5}}},
		{"idle-at-end", GeneratorSpec{Kind: GenHotCold, DirtyRate: 50000, Duration: 400 * time.Millisecond}, false,
			[]win{{0.3, 0.6}, {0.5, 0.8}}},
	}
	for _, c := range cases {
		x, err := NewExpect(c.spec, pages*genPage, genPage, c.loop)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		end := 0.0
		for _, w := range c.wins {
			end = math.Max(end, w.b)
		}
		counts := make([][]float64, len(c.wins))
		for s := range seeds {
			ep, written := genEpochs(t, c.spec, pages, uint64(s)+1, end, c.loop)
			for i, w := range c.wins {
				counts[i] = append(counts[i], float64(windowWritten(ep, written, w.a, w.b).GetCardinality()))
			}
		}
		for i, w := range c.wins {
			t.Run(fmt.Sprintf("%s/%g-%g", c.name, w.a, w.b), func(t *testing.T) {
				want := x.Distinct(w.a, w.b)
				var sum, sum2 float64
				for _, n := range counts[i] {
					sum += n
					sum2 += n * n
				}
				mean := sum / float64(seeds)
				sd := math.Sqrt(math.Max(0, sum2/float64(seeds)-mean*mean))
				se := sd / math.Sqrt(float64(seeds))
				tol := 4*se + 2
				if c.spec.Kind == GenZipf || strings.HasPrefix(c.name, "phases") {
					tol += 0.003 * want
				}
				if c.spec.Kind == GenSequential || c.spec.Kind == GenIdle {
					tol = 2
				}
				t.Logf("closed form %.1f, generator %.1f ± %.1f (sd %.1f): %+.3f %%", want, mean, se, sd, 100*(want-mean)/math.Max(mean, 1))
				if math.Abs(mean-want) > tol {
					t.Errorf("closed form %.1f, generator mean %.1f over %d seeds (se %.2f): off by %.1f, more than %.1f", want, mean, seeds, se, want-mean, tol)
				}
			})
		}
	}
}

// TestExpectLayout checks the class ranges against the generator's
// header: zero, free and page-cache sets, and a working set that no
// phase writes beyond.
func TestExpectLayout(t *testing.T) {
	const pages = 1 << 12
	spec := GeneratorSpec{Kind: GenPhases, ZeroFraction: 0.1, FreeFraction: 0.2, PagecacheFraction: 0.15, Phases: []GeneratorSpec{
		{Kind: GenUniform, DirtyRate: 5000, WorkingSet: 4 * units.MiB, Duration: time.Second},
		{Kind: GenHotCold, DirtyRate: 5000, WorkingSet: 6 * units.MiB, Duration: time.Second},
	}}
	x, err := NewExpect(spec, pages*genPage, genPage, true)
	if err != nil {
		t.Fatal(err)
	}
	h, epochs := genMust(t, spec, pages, 1)
	l := x.Layout()
	check := func(name string, b *roaring.Bitmap, lo, hi uint64) {
		t.Helper()
		want := roaring.New()
		want.AddRange(lo, hi)
		if b == nil {
			b = roaring.New()
		}
		if !b.Equals(want) {
			t.Errorf("%s: header has %d pages from %d, layout says [%d, %d)", name, b.GetCardinality(), b.Minimum(), lo, hi)
		}
	}
	check("zero", h.Zero, l.ZeroLo, l.Pages)
	check("free", h.Free, l.FreeLo, l.ZeroLo)
	check("pagecache", h.PageCache, l.PagecacheLo, l.FreeLo)
	for _, e := range epochs {
		if !e.Written.IsEmpty() && uint64(e.Written.Maximum()) >= l.WorkingSet {
			t.Fatalf("epoch %d writes page %d, beyond the layout's working set %d", e.Index, e.Written.Maximum(), l.WorkingSet)
		}
	}
	if l.WorkingSet != uint64(6*units.MiB/genPage) {
		t.Errorf("working set %d pages, want the larger phase's %d", l.WorkingSet, 6*units.MiB/genPage)
	}
	if d := x.Duration(); d != 2*time.Second {
		t.Errorf("duration %v, want 2s", d)
	}
}

// TestExpectRefuses names the key of what the closed forms do not cover.
func TestExpectRefuses(t *testing.T) {
	for _, c := range []struct {
		spec GeneratorSpec
		want string
	}{
		{GeneratorSpec{Kind: GenPhases, Phases: slices.Repeat([]GeneratorSpec{{Kind: GenZipf, DirtyRate: 10, Duration: time.Second}}, 65)}, "generator.phases[64].kind: zipf phase number 65"},
	} {
		_, err := NewExpect(c.spec, 1<<12*genPage, genPage, true)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("NewExpect(%+v) = %v, want an error starting %q", c.spec, err, c.want)
		}
	}
}

// genReads is genEpochs for the read sets.
func genReads(t testing.TB, spec GeneratorSpec, pages, seed uint64, b float64) (epoch float64, read []*roaring.Bitmap) {
	t.Helper()
	src, err := NewGenerator(spec, units.Bytes(pages)*genPage, genPage, seed)
	if err != nil {
		t.Fatal(err)
	}
	epoch = src.Header().Epoch.Seconds()
	var e Epoch
	for i := 0; float64(i)*epoch < b; i++ {
		if err := src.Next(&e); err != nil {
			t.Fatal(err)
		}
		read = append(read, e.Read.Clone())
	}
	return epoch, read
}

// TestExpectRead holds Expect.Read to the generator's read sets over
// many seeds: within four standard errors plus two pages, plus 0.1 % of
// the mean for uniform and hotcold (exact in expectation; per-epoch
// counts taken at their mean) and 1 % for sequential and zipf, whose
// reads the closed form approximates (see Read).
func TestExpectRead(t *testing.T) {
	const pages = 1 << 16
	seeds := 32
	if testing.Short() {
		seeds = 12
	}
	type win struct{ a, b float64 }
	wins := []win{{0, 1}, {0.1234, 0.6789}, {0.3331, 0.3379}, {1.5, 2.25}, {0.8, 1.6}}
	cases := []struct {
		name string
		spec GeneratorSpec
		rel  float64
	}{
		{"uniform", GeneratorSpec{Kind: GenUniform, DirtyRate: 20000, ReadRate: 30000}, 0.001},
		{"hotcold", GeneratorSpec{Kind: GenHotCold, DirtyRate: 30000, ReadRate: 20000}, 0.001},
		{"hotcold/full", GeneratorSpec{Kind: GenHotCold, DirtyRate: 30000, ReadRate: 50000, HotFraction: 0.02}, 0.001},
		{"sequential", GeneratorSpec{Kind: GenSequential, DirtyRate: 40000, ReadRate: 20000, WorkingSet: 128 * units.MiB}, 0.01},
		{"zipf", GeneratorSpec{Kind: GenZipf, DirtyRate: 20000, ReadRate: 30000}, 0.01},
		{"phases/zipf2", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{
			{Kind: GenZipf, DirtyRate: 20000, ReadRate: 30000, Duration: 1000 * time.Millisecond},
			{Kind: GenZipf, DirtyRate: 15000, ReadRate: 20000, ZipfS: 2, WorkingSet: 128 * units.MiB, Duration: 1300 * time.Millisecond},
		}}, 0.01},
	}
	for _, c := range cases {
		x, err := NewExpect(c.spec, pages*genPage, genPage, true)
		if err != nil {
			t.Fatal(err)
		}
		counts := make([][]float64, len(wins))
		for s := range seeds {
			ep, read := genReads(t, c.spec, pages, uint64(s)+1, 2.25)
			for i, w := range wins {
				counts[i] = append(counts[i], float64(windowWritten(ep, read, w.a, w.b).GetCardinality()))
			}
		}
		var rw Window
		for i, w := range wins {
			x.Read(w.a, w.b, &rw)
			want := rw.Count()
			var sum, sum2 float64
			for _, n := range counts[i] {
				sum += n
				sum2 += n * n
			}
			mean := sum / float64(seeds)
			se := math.Sqrt(math.Max(0, sum2/float64(seeds)-mean*mean)) / math.Sqrt(float64(seeds))
			tol := 4*se + 2 + c.rel*mean
			t.Logf("%s/%g-%g: closed form %.1f, generator %.1f ± %.1f: %+.3f %%", c.name, w.a, w.b, want, mean, se, 100*(want-mean)/math.Max(mean, 1))
			if math.Abs(mean-want) > tol {
				t.Errorf("%s/%g-%g: closed form %.1f, generator mean %.1f (se %.2f): off by %.1f, more than %.1f", c.name, w.a, w.b, want, mean, se, want-mean, tol)
			}
		}
	}
}

// TestPieceInTwoLaws checks PieceIn's product over independent zipf laws
// against the sum over every pair of buckets: the probability that a page
// is in the set and the variance of its membership, averaged over its
// buckets under both laws, with a part of an epoch of the first law.
func TestPieceInTwoLaws(t *testing.T) {
	w := Window{
		Zipf:      [][]float64{{0.2, 0.5, 0.9}, {0.3, 0.95}},
		ZipfParts: []ZipfPart{{Law: 0, Escape: []float64{0.5, 0.8, 1}}, {Law: 1, Escape: []float64{0.1, 0.1}}},
		shares:    [][]float64{{0.1, 0.3, 0.6}, {0.25, 0.75}},
	}
	p := Piece{Lo: 0, Hi: 10, Survive: 0.7, Zipf: 0b11, Parts: 0b01}
	var want, wantV float64
	for b0, s0 := range w.shares[0] {
		for b1, s1 := range w.shares[1] {
			q := p.Survive * w.Zipf[0][b0] * w.ZipfParts[0].Escape[b0] * w.Zipf[1][b1]
			want += s0 * s1 * (1 - q)
			wantV += s0 * s1 * q * (1 - q)
		}
	}
	in, v := w.PieceIn(p)
	if math.Abs(in-want) > 1e-12 || math.Abs(v-wantV) > 1e-12 {
		t.Errorf("PieceIn = %v, %v; the sum over bucket pairs gives %v, %v", in, v, want, wantV)
	}
	// Outside the second law's working set only the first law counts.
	p.Zipf = 0b01
	want, wantV = 0, 0
	for b0, s0 := range w.shares[0] {
		q := p.Survive * w.Zipf[0][b0] * w.ZipfParts[0].Escape[b0]
		want += s0 * (1 - q)
		wantV += s0 * q * (1 - q)
	}
	if in, v := w.PieceIn(p); math.Abs(in-want) > 1e-12 || math.Abs(v-wantV) > 1e-12 {
		t.Errorf("first law only: PieceIn = %v, %v, want %v, %v", in, v, want, wantV)
	}
}

// TestPieceBuckets checks PieceBuckets against the sum over the other
// law's buckets: per bucket of the law asked for, the probability that a
// page is in the set, and their mean over the law's shares is PieceIn's.
func TestPieceBuckets(t *testing.T) {
	w := Window{
		Zipf:      [][]float64{{0.2, 0.5, 0.9}, {0.3, 0.95}},
		ZipfParts: []ZipfPart{{Law: 0, Escape: []float64{0.5, 0.8, 1}}, {Law: 1, Escape: []float64{0.1, 0.1}}},
		shares:    [][]float64{{0.1, 0.3, 0.6}, {0.25, 0.75}},
	}
	p := Piece{Lo: 0, Hi: 10, Survive: 0.7, Zipf: 0b11, Parts: 0b01}
	var dst []float64
	for l := range 2 {
		o := 1 - l
		dst = w.PieceBuckets(p, l, dst)
		if len(dst) != len(w.shares[l]) {
			t.Fatalf("law %d: %d buckets, want %d", l, len(dst), len(w.shares[l]))
		}
		var mean float64
		for b, got := range dst {
			var want float64
			for bo, so := range w.shares[o] {
				q := p.Survive * w.Zipf[l][b] * w.Zipf[o][bo]
				if l == 0 {
					q *= w.ZipfParts[0].Escape[b]
				} else {
					q *= w.ZipfParts[0].Escape[bo]
				}
				want += so * (1 - q)
			}
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("law %d bucket %d: %v, the sum over the other law's buckets gives %v", l, b, got, want)
			}
			mean += w.shares[l][b] * got
		}
		if in, _ := w.PieceIn(p); math.Abs(mean-in) > 1e-12 {
			t.Errorf("law %d: buckets average %v, PieceIn %v", l, mean, in)
		}
	}
	// Outside law 1's working set every bucket of it has PieceIn's.
	p.Zipf = 0b01
	in, _ := w.PieceIn(p)
	for b, got := range w.PieceBuckets(p, 1, dst) {
		if math.Abs(got-in) > 1e-12 {
			t.Errorf("outside law 1: bucket %d %v, want PieceIn's %v", b, got, in)
		}
	}
}

// TestExpectChurnTimeline holds the closed forms' allocation timeline,
// kept as ranges, to the generator's own (gen_churn.go): the same pages
// allocated in every epoch, through exhaustion of the free class, frees
// faster than allocations, and phases with rates of their own.
func TestExpectChurnTimeline(t *testing.T) {
	const pages = 1 << 14
	for _, spec := range []GeneratorSpec{
		{Kind: GenUniform, DirtyRate: 5000, WorkingSet: 16 * units.MiB, FreeFraction: 0.3, AllocRate: 3333, FreeRate: 1234, Duration: 3 * time.Second},
		{Kind: GenIdle, FreeFraction: 0.1, AllocRate: 500, FreeRate: 4000, WorkingSet: 8 * units.MiB, Duration: 4 * time.Second},
		{Kind: GenPhases, FreeFraction: 0.25, PagecacheFraction: 0.1, Phases: []GeneratorSpec{
			{Kind: GenHotCold, DirtyRate: 3000, WorkingSet: 24 * units.MiB, AllocRate: 2500, FreeRate: 700, Duration: time.Second},
			{Kind: GenZipf, DirtyRate: 2000, WorkingSet: 12 * units.MiB, FreeRate: 3000, Duration: 1500 * time.Millisecond},
			{Kind: GenUniform, DirtyRate: 2000, WorkingSet: 12 * units.MiB, AllocRate: 9000, FreeRate: 9000, Duration: time.Second},
		}},
	} {
		x, err := NewExpect(spec, pages*genPage, genPage, true)
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewGenerator(spec, pages*genPage, genPage, 7)
		if err != nil {
			t.Fatal(err)
		}
		var e Epoch
		var allocated uint64
		for k := uint64(0); ; k++ {
			if err := src.Next(&e); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			rs, n := x.churn.epoch(k)
			got := roaring.New()
			for _, r := range rs {
				got.AddRange(r.Lo, r.Hi)
			}
			want := e.Change.ToAnon
			if want == nil {
				want = roaring.New()
			}
			if !got.Equals(want) || n != want.GetCardinality() {
				t.Fatalf("%s: epoch %d: ranges allocate %d pages (%v), the generator %d (%v)", spec.Kind, k, n, rs, want.GetCardinality(), want)
			}
			allocated += n
		}
		if allocated == 0 {
			t.Errorf("%s: nothing allocated", spec.Kind)
		}
	}
}

// TestExpectFreeAt holds FreeAt to the free class a guest replaying the
// generator's trace sees: the header's, changed by each epoch's to_anon
// and to_free as it starts, the same changes applied again when the
// trace replays from its start. ChurnWritten holds, on an idle workload,
// every page Written counts.
func TestExpectFreeAt(t *testing.T) {
	const pages = 1 << 14
	spec := GeneratorSpec{Kind: GenIdle, FreeFraction: 0.2, AllocRate: 3000, FreeRate: 1700, WorkingSet: 24 * units.MiB, Duration: 2 * time.Second}
	x, err := NewExpect(spec, pages*genPage, genPage, true)
	if err != nil {
		t.Fatal(err)
	}
	open := func() Source {
		src, err := NewGenerator(spec, pages*genPage, genPage, 3)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	src := open()
	free := src.Header().Free.Clone()
	ep := src.Header().Epoch.Seconds()
	var e Epoch
	for k := 0; k < 3*int(2/ep); k++ { // three passes of the trace
		if err := src.Next(&e); err == io.EOF {
			src = open()
			if err := src.Next(&e); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		e.Change.Apply(roaring.New(), free, roaring.New())
		at := (float64(k) + 0.5) * ep
		got := roaring.New()
		for _, r := range x.FreeAt(at) {
			got.AddRange(r.Lo, r.Hi)
		}
		if !got.Equals(free) {
			t.Fatalf("epoch %d (%.3f s): FreeAt has %d pages, the replayed trace's free class %d", k, at, got.GetCardinality(), free.GetCardinality())
		}
	}
	var w Window
	for _, win := range [][2]float64{{0.1234, 0.5678}, {0, 2}, {1.5, 4.7}} {
		x.Written(win[0], win[1], &w)
		if n, c := w.Count(), CountRanges(x.ChurnWritten(win[0], win[1])); n != float64(c) || c == 0 {
			t.Errorf("window %v: Written counts %v pages, ChurnWritten %d", win, n, c)
		}
	}
}

// TestPageRangeOps checks the range helpers against roaring bitmaps on
// random sets of ranges.
func TestPageRangeOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	set := func() ([]PageRange, *roaring.Bitmap) {
		var rs []PageRange
		b := roaring.New()
		for range rng.IntN(6) {
			lo := rng.Uint64N(200)
			hi := lo + 1 + rng.Uint64N(30)
			rs = append(rs, PageRange{lo, hi})
			b.AddRange(lo, hi)
		}
		return UnionRanges(rs), b
	}
	toBitmap := func(rs []PageRange) *roaring.Bitmap {
		b := roaring.New()
		for i, r := range rs {
			if r.Lo >= r.Hi || i > 0 && rs[i-1].Hi >= r.Lo {
				t.Fatalf("ranges %v are not ascending, disjoint and apart", rs)
			}
			b.AddRange(r.Lo, r.Hi)
		}
		return b
	}
	for range 2000 {
		a, ab := set()
		b, bb := set()
		if got := toBitmap(a); !got.Equals(ab) || CountRanges(a) != ab.GetCardinality() {
			t.Fatalf("union %v of %v", a, ab)
		}
		if got := toBitmap(UnionRanges(IntersectRanges(a, b))); !got.Equals(roaring.And(ab, bb)) {
			t.Fatalf("%v ∩ %v = %v", a, b, IntersectRanges(a, b))
		}
		if got := toBitmap(SubtractRanges(a, b)); !got.Equals(roaring.AndNot(ab, bb)) {
			t.Fatalf("%v − %v = %v", a, b, SubtractRanges(a, b))
		}
	}
}
