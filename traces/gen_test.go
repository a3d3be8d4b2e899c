package traces

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

const genPage = 4 * units.KiB

// genCollect plays src to the end and returns its epochs (with their own
// bitmaps) or fails the test.
func genCollect(t testing.TB, src Source) []Epoch {
	t.Helper()
	var out []Epoch
	var e Epoch // reused, as a caller would
	for {
		err := src.Next(&e)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d epochs: %v", len(out), err)
		}
		out = append(out, Epoch{Index: e.Index, Written: e.Written.Clone(), Read: e.Read.Clone()})
	}
}

func genMust(t testing.TB, spec GeneratorSpec, pages uint64, seed uint64) (*Header, []Epoch) {
	t.Helper()
	src, err := NewGenerator(spec, units.Bytes(pages)*genPage, genPage, seed)
	if err != nil {
		t.Fatalf("NewGenerator(%+v): %v", spec, err)
	}
	return src.Header(), genCollect(t, src)
}

// TestGeneratorProperties checks the invariants every generator keeps,
// over many seeds: pages in range and in the working set, written and read
// disjoint, the zero set untouched, exact per-epoch counts, epoch indexes in
// order, and the epoch count.
func TestGeneratorProperties(t *testing.T) {
	const pages = 1 << 14 // 64 MiB
	cases := []struct {
		name string
		spec GeneratorSpec
		ws   uint64 // expected working-set pages
	}{
		{"idle", GeneratorSpec{Kind: GenIdle, ZeroFraction: 0.5}, pages / 2},
		{"sequential", GeneratorSpec{Kind: GenSequential, DirtyRate: 123456.7, ReadRate: 5000, WorkingSet: 16 * units.MiB, ZeroFraction: 0.25}, 4096},
		{"sequential/all", GeneratorSpec{Kind: GenSequential, DirtyRate: 5e6, ReadRate: 5e6, WorkingSet: 1 * units.MiB}, 256},
		{"uniform", GeneratorSpec{Kind: GenUniform, DirtyRate: 100000, ReadRate: 20000, ZeroFraction: 0.1}, pages - 1638},
		{"uniform/dense", GeneratorSpec{Kind: GenUniform, DirtyRate: 70000, ReadRate: 40000, WorkingSet: 4 * units.MiB}, 1024},
		{"uniform/slow", GeneratorSpec{Kind: GenUniform, DirtyRate: 33.3, ReadRate: 7.7}, pages},
		{"hotcold", GeneratorSpec{Kind: GenHotCold, DirtyRate: 50000, ReadRate: 30000, HotFraction: 0.05, HotShare: 0.8, ZeroFraction: 0.3}, pages - 4915},
		{"hotcold/spill", GeneratorSpec{Kind: GenHotCold, DirtyRate: 50000, ReadRate: 30000, WorkingSet: 2 * units.MiB, HotFraction: 0.01, HotShare: 0.95}, 512},
		{"zipf", GeneratorSpec{Kind: GenZipf, DirtyRate: 30000, ReadRate: 10000, ZeroFraction: 0.2}, pages - 3276},
		{"zipf/dense", GeneratorSpec{Kind: GenZipf, DirtyRate: 40000, ReadRate: 20000, WorkingSet: 2 * units.MiB, ZipfS: 2}, 512},
		{"zipf/skewed", GeneratorSpec{Kind: GenZipf, DirtyRate: 100000, ReadRate: 50000, ZipfS: 3}, pages},
		{"zipf/small-ws", GeneratorSpec{Kind: GenZipf, DirtyRate: 600, ReadRate: 300, WorkingSet: 40 * units.KiB, ZipfS: 3}, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			spec.Duration = 330 * time.Millisecond // 33 epochs of 10ms
			seeds := uint64(25)
			if testing.Short() {
				seeds = 5
			}
			for seed := range seeds {
				h, epochs := genMust(t, spec, pages, seed)
				if err := h.Validate(); err != nil {
					t.Fatalf("seed %d: header: %v", seed, err)
				}
				zeroPages := uint64(spec.ZeroFraction * pages)
				if got := h.ClassPages(ClassZero); got != zeroPages {
					t.Fatalf("seed %d: zero set has %d pages, want %d", seed, got, zeroPages)
				}
				if len(epochs) != 33 {
					t.Fatalf("seed %d: %d epochs, want 33", seed, len(epochs))
				}
				wc, rc := newCarry(spec.DirtyRate, 10*time.Millisecond), newCarry(spec.ReadRate, 10*time.Millisecond)
				for i, e := range epochs {
					if e.Index != uint64(i) {
						t.Fatalf("seed %d: epoch %d has index %d", seed, i, e.Index)
					}
					for _, set := range []struct {
						name string
						bm   *roaring.Bitmap
					}{{"written", e.Written}, {"read", e.Read}} {
						if !set.bm.IsEmpty() && uint64(set.bm.Maximum()) >= c.ws {
							t.Fatalf("seed %d epoch %d: %s page %d outside the working set [0, %d)", seed, i, set.name, set.bm.Maximum(), c.ws)
						}
						if h.Zero != nil && set.bm.Intersects(h.Zero) {
							t.Fatalf("seed %d epoch %d: %s set touches the zero set", seed, i, set.name)
						}
					}
					if e.Written.Intersects(e.Read) {
						t.Fatalf("seed %d epoch %d: written and read sets overlap", seed, i)
					}
					wantW := min(wc.next(), c.ws)
					wantR := min(rc.next(), c.ws-wantW)
					if spec.Kind == GenIdle {
						wantW, wantR = 0, 0
					}
					if got := e.Written.GetCardinality(); got != wantW {
						t.Fatalf("seed %d epoch %d: %d pages written, want %d", seed, i, got, wantW)
					}
					if got := e.Read.GetCardinality(); got != wantR {
						t.Fatalf("seed %d epoch %d: %d pages read, want %d", seed, i, got, wantR)
					}
				}
			}
		})
	}
}

// TestGeneratorDeterminism checks that a seed fixes the epochs and that
// other seeds give other epochs.
func TestGeneratorDeterminism(t *testing.T) {
	specs := []GeneratorSpec{
		{Kind: GenSequential, DirtyRate: 1000, ReadRate: 1000},
		{Kind: GenUniform, DirtyRate: 1000, ReadRate: 1000},
		{Kind: GenHotCold, DirtyRate: 1000, ReadRate: 1000},
		{Kind: GenZipf, DirtyRate: 1000, ReadRate: 1000},
		{Kind: GenPhases, Phases: []GeneratorSpec{
			{Kind: GenUniform, DirtyRate: 1000, Duration: 50 * time.Millisecond},
			{Kind: GenZipf, DirtyRate: 1000, Duration: 50 * time.Millisecond},
		}},
	}
	for _, spec := range specs {
		t.Run(spec.Kind, func(t *testing.T) {
			spec.Duration = 100 * time.Millisecond
			_, a := genMust(t, spec, 1<<16, 7)
			_, b := genMust(t, spec, 1<<16, 7)
			_, c := genMust(t, spec, 1<<16, 8)
			if len(a) != len(b) || len(a) != len(c) {
				t.Fatalf("epoch counts differ: %d, %d, %d", len(a), len(b), len(c))
			}
			same := true
			for i := range a {
				if !a[i].Written.Equals(b[i].Written) || !a[i].Read.Equals(b[i].Read) {
					t.Fatalf("seed 7 gave different epoch %d on a second run", i)
				}
				same = same && a[i].Written.Equals(c[i].Written) && a[i].Read.Equals(c[i].Read)
			}
			if same {
				t.Fatalf("seeds 7 and 8 gave identical epochs")
			}
		})
	}
}

// TestGeneratorReadRateKeepsWrites checks that reads have their own random
// stream: adding reads does not change the writes.
func TestGeneratorReadRateKeepsWrites(t *testing.T) {
	for _, kind := range []string{GenUniform, GenHotCold, GenZipf} {
		spec := GeneratorSpec{Kind: kind, DirtyRate: 5000, Duration: 100 * time.Millisecond}
		_, a := genMust(t, spec, 1<<14, 3)
		spec.ReadRate = 5000
		_, b := genMust(t, spec, 1<<14, 3)
		for i := range a {
			if !a[i].Written.Equals(b[i].Written) {
				t.Fatalf("%s: read_rate changed the writes of epoch %d", kind, i)
			}
		}
	}
}

// TestGeneratorGolden pins a checksum of every generator's output for one
// seed, so a change of stream (and so of every seeded result) shows up
// here. Update the numbers only for an intended change, and say so in the
// change log.
func TestGeneratorGolden(t *testing.T) {
	cases := []struct {
		spec GeneratorSpec
		want uint32
	}{
		{GeneratorSpec{Kind: GenIdle}, 0x0376267e},
		{GeneratorSpec{Kind: GenSequential, DirtyRate: 2500, ReadRate: 700}, 0x4f41077f},
		{GeneratorSpec{Kind: GenUniform, DirtyRate: 2500, ReadRate: 700}, 0x7991a532},
		{GeneratorSpec{Kind: GenHotCold, DirtyRate: 2500, ReadRate: 700}, 0x4c2b651d},
		{GeneratorSpec{Kind: GenZipf, DirtyRate: 2500, ReadRate: 700}, 0x49315647},
	}
	for _, c := range cases {
		spec := c.spec
		spec.Duration = time.Second
		_, epochs := genMust(t, spec, 1<<20, 1)
		crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		for _, e := range epochs {
			for _, bm := range []*roaring.Bitmap{e.Written, e.Read} {
				// The page numbers, then a separator no page can be.
				crc.Write(binary.LittleEndian.AppendUint32(nil, uint32(bm.GetCardinality())))
				for _, p := range bm.ToArray() {
					crc.Write(binary.LittleEndian.AppendUint32(nil, p))
				}
			}
		}
		if got := crc.Sum32(); got != c.want {
			t.Errorf("%s: output checksum %#08x, want %#08x", spec.Kind, got, c.want)
		}
	}
}

// TestSequentialScan checks the scan: the run writes floor(rate ×
// duration) page-epochs (exactly rate × duration when that is whole), each
// epoch within one page of rate × epoch, and each epoch starts where the
// last stopped, wrapping at the working set.
func TestSequentialScan(t *testing.T) {
	cases := []struct {
		rate     float64
		ws       uint64 // pages
		duration time.Duration
		total    uint64
	}{
		{2500, 1000, time.Second, 2500},                 // 25 pages/epoch, wraps
		{250, 8, 50 * time.Millisecond, 12},             // 2.5 pages/epoch: 2,3,2,3,2
		{333.3, 1 << 14, 3 * time.Second, 999},          // 3.333 pages/epoch, 999.9 → 999
		{0.5, 100, 10 * time.Second, 5},                 // one page every 200 epochs
		{1e5, 1 << 14, 1500 * time.Millisecond, 150000}, // 1000 pages/epoch
	}
	for _, c := range cases {
		spec := GeneratorSpec{Kind: GenSequential, DirtyRate: c.rate, WorkingSet: units.Bytes(c.ws) * genPage, Duration: c.duration}
		_, epochs := genMust(t, spec, 1<<14, 1)
		want := math.Round(c.rate * c.duration.Seconds())
		if c.rate*c.duration.Seconds() != want {
			want = math.Floor(c.rate * c.duration.Seconds())
		}
		if float64(c.total) != want {
			t.Fatalf("case table: total %d, want %v", c.total, want)
		}
		per := c.rate * 0.01
		var total, pos uint64
		for i, e := range epochs {
			n := e.Written.GetCardinality()
			total += n
			if math.Abs(float64(n)-per) >= 1 {
				t.Fatalf("rate %v epoch %d: %d pages, want within 1 of %v", c.rate, i, n, per)
			}
			want := roaring.New()
			for j := range n {
				want.Add(uint32((pos + j) % c.ws))
			}
			if !e.Written.Equals(want) {
				t.Fatalf("rate %v epoch %d: wrote %v, want the scan %v", c.rate, i, e.Written, want)
			}
			pos = (pos + n) % c.ws
		}
		if total != c.total {
			t.Errorf("rate %v over %v: %d pages written, want %d", c.rate, c.duration, total, c.total)
		}
	}
}

// TestHotColdShare checks that the hot part gets hot_share of the writes
// and reads, and that writes spill to the cold part when the hot part is
// full.
func TestHotColdShare(t *testing.T) {
	cases := []struct {
		name      string
		spec      GeneratorSpec
		hot       uint64  // hot pages
		wantShare float64 // of writes going to the hot part
	}{
		{"default", GeneratorSpec{DirtyRate: 20000, ReadRate: 10000}, 1638, 0.9},
		{"quarter", GeneratorSpec{DirtyRate: 20000, ReadRate: 10000, HotFraction: 0.5, HotShare: 0.25}, 8192, 0.25},
		{"all-hot", GeneratorSpec{DirtyRate: 20000, HotFraction: 1, HotShare: 1}, 16384, 1},
		// 200 writes per epoch, hot part of 164 pages: 180 do not fit.
		{"spill", GeneratorSpec{DirtyRate: 20000, HotFraction: 0.01}, 164, 164.0 / 200},
	}
	for _, c := range cases {
		spec := c.spec
		spec.Kind = GenHotCold
		spec.Duration = time.Second
		_, epochs := genMust(t, spec, 1<<14, 5)
		var hotW, allW, hotR, allR uint64
		for _, e := range epochs {
			hotW += e.Written.CardinalityInRange(0, c.hot)
			allW += e.Written.GetCardinality()
			hotR += e.Read.CardinalityInRange(0, c.hot)
			allR += e.Read.GetCardinality()
		}
		if got := float64(hotW) / float64(allW); math.Abs(got-c.wantShare) > 0.001 {
			t.Errorf("%s: hot share of writes %.4f, want %.4f", c.name, got, c.wantShare)
		}
		if allR > 0 && c.name != "spill" {
			if got := float64(hotR) / float64(allR); math.Abs(got-c.wantShare) > 0.001 {
				t.Errorf("%s: hot share of reads %.4f, want %.4f", c.name, got, c.wantShare)
			}
		}
	}
}

// TestUniformSpread checks that uniform writes cover the working set
// evenly: over 200 epochs of 100 pages in 1000, every page is written about
// 20 times (chi-square well inside its 99.9% bound).
func TestUniformSpread(t *testing.T) {
	spec := GeneratorSpec{Kind: GenUniform, DirtyRate: 10000, WorkingSet: 1000 * genPage, Duration: 2 * time.Second}
	_, epochs := genMust(t, spec, 1<<12, 11)
	counts := make([]float64, 1000)
	for _, e := range epochs {
		e.Written.Iterate(func(p uint32) bool { counts[p]++; return true })
	}
	var chi2 float64
	for _, n := range counts {
		chi2 += (n - 20) * (n - 20) / 20
	}
	// Per-epoch sampling is without replacement, which only narrows the
	// spread; 999 degrees of freedom have a 99.9% quantile near 1143.
	if chi2 > 1143 {
		t.Errorf("chi-square %.0f over 999 degrees of freedom: not uniform", chi2)
	}
}

// TestZipfLaw checks the zipf draws against exact probabilities: for a
// working set of 4 pages, s = 2 and two distinct pages per epoch, the
// chance of each pair is that of successive sampling without replacement.
// Both the rejection path and the Efraimidis–Spirakis finish must match.
func TestZipfLaw(t *testing.T) {
	const ws, s = 4, 2.0
	w := make([]float64, ws)
	var total float64
	for r := range w {
		w[r] = math.Pow(float64(r+1), -s)
		total += w[r]
	}
	// P({a,b}) = w_a/T · w_b/(T−w_a) + w_b/T · w_a/(T−w_b), by rank.
	pair := func(a, b int) float64 {
		return w[a]/total*w[b]/(total-w[a]) + w[b]/total*w[a]/(total-w[b])
	}
	for _, finish := range []bool{false, true} {
		smp := sampler{}
		smp.init(rand.NewPCG(1, 2))
		law := newZipfLaw(s, ws, newScatter(ws, rand.NewPCG(3, 4)))
		smp.initZipf(law)
		rankOf := map[uint32]int{}
		for r := range uint64(ws) {
			rankOf[uint32(law.perm.apply(r))] = int(r)
		}
		const n = 200000
		counts := map[[2]int]float64{}
		out := roaring.New()
		for range n {
			out.Clear()
			if finish {
				smp.buf = smp.buf[:0]
				smp.zipfFinish(out, nil, 0, 2)
			} else {
				smp.zipf(out, nil, 2)
			}
			if out.GetCardinality() != 2 {
				t.Fatalf("finish=%v: sample %v, want 2 pages", finish, out)
			}
			v := out.ToArray()
			a, b := rankOf[v[0]], rankOf[v[1]]
			counts[[2]int{min(a, b), max(a, b)}]++
		}
		for a := range ws {
			for b := a + 1; b < ws; b++ {
				p := pair(a, b)
				got := counts[[2]int{a, b}] / n
				sd := math.Sqrt(p * (1 - p) / n)
				if math.Abs(got-p) > 5*sd {
					t.Errorf("finish=%v: pair of ranks (%d,%d) drawn %.4f of the time, want %.4f ± %.4f", finish, a, b, got, p, 5*sd)
				}
			}
		}
	}
}

// TestZipfFinishMatchesDraws checks the lazy-tail path of zipfFinish (a
// working set beyond its explicit head) against plain successive draws:
// inclusion frequencies by rank band must agree.
func TestZipfFinishMatchesDraws(t *testing.T) {
	const ws, s, k, n = 300, 1.1, 5, 100000
	bands := []uint64{0, 1, 2, 4, 16, 64, 128, 300} // band i is ranks [bands[i], bands[i+1])
	freq := func(finish bool) []float64 {
		smp := sampler{}
		smp.init(rand.NewPCG(5, 6))
		law := newZipfLaw(s, ws, newScatter(ws, rand.NewPCG(7, 8)))
		smp.initZipf(law)
		rankOf := map[uint32]uint64{}
		for r := range uint64(ws) {
			rankOf[uint32(law.perm.apply(r))] = r
		}
		counts := make([]float64, len(bands)-1)
		out := roaring.New()
		for range n {
			out.Clear()
			if finish {
				smp.buf = smp.buf[:0]
				smp.zipfFinish(out, nil, 0, k)
			} else {
				smp.zipf(out, nil, k)
			}
			if out.GetCardinality() != k {
				t.Fatalf("finish=%v: %d pages, want %d", finish, out.GetCardinality(), k)
			}
			out.Iterate(func(p uint32) bool {
				r := rankOf[p]
				for b := range counts {
					if r < bands[b+1] {
						counts[b]++
						break
					}
				}
				return true
			})
		}
		for b := range counts {
			counts[b] /= n
		}
		return counts
	}
	draws, finish := freq(false), freq(true)
	for b := range draws {
		// A band's count in a sample is a sum of negatively correlated
		// indicators, so its variance is at most its mean: allow 5
		// standard errors of the difference.
		sd := math.Sqrt((draws[b] + finish[b]) / n)
		if math.Abs(draws[b]-finish[b]) > 5*sd {
			t.Errorf("ranks [%d, %d): %.4f pages per sample by draws, %.4f by zipfFinish", bands[b], bands[b+1], draws[b], finish[b])
		}
	}
}

// TestZipfLawTail checks the head/tail split of zipfLaw against exact
// rank probabilities, for a working set larger than the alias head.
func TestZipfLawTail(t *testing.T) {
	const ws, s = zipfHead * 4, 1.1
	var total float64
	for k := ws; k >= 1; k-- {
		total += math.Pow(float64(k), -s)
	}
	law := newZipfLaw(s, ws, newScatter(ws, rand.NewPCG(1, 1)))
	headMass := float64(law.headCut) / (1 << 64)
	var head float64
	for k := zipfHead; k >= 1; k-- {
		head += math.Pow(float64(k), -s)
	}
	if want := head / total; math.Abs(headMass-want) > 1e-12 {
		t.Fatalf("head mass %.15f, want %.15f", headMass, want)
	}
	smp := sampler{}
	smp.init(rand.NewPCG(9, 9))
	smp.initZipf(law)
	const n = 1_000_000
	var bins [4]float64 // ranks 0, 1..head-1, head..2head-1, 2head..
	for range n {
		r := smp.zipfRank()
		switch {
		case r == 0:
			bins[0]++
		case r < zipfHead:
			bins[1]++
		case r < 2*zipfHead:
			bins[2]++
		default:
			bins[3]++
		}
	}
	mass := func(lo, hi int) float64 { // ranks [lo, hi)
		var m float64
		for k := hi; k > lo; k-- {
			m += math.Pow(float64(k), -s)
		}
		return m / total
	}
	want := [4]float64{mass(0, 1), mass(1, zipfHead), mass(zipfHead, 2*zipfHead), mass(2*zipfHead, ws)}
	for i := range bins {
		p := want[i]
		if got := bins[i] / n; math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/n) {
			t.Errorf("rank bin %d: drawn %.5f of the time, want %.5f", i, got, p)
		}
	}
}

func TestZipfTailWeight(t *testing.T) {
	const ws, s = zipfHead * 3, 1.3
	law := newZipfLaw(s, ws, newScatter(ws, rand.NewPCG(1, 1)))
	suffix := make([]float64, ws+1) // suffix[h]: weight of ranks [h, ws), small terms first
	for r := ws - 1; r >= 0; r-- {
		suffix[r] = suffix[r+1] + math.Pow(float64(r+1), -s)
	}
	for _, h := range []uint64{0, 100, zipfHead - 1, zipfHead, zipfHead + 5000, ws - 1} {
		want := suffix[h]
		if got := law.tailWeight(h); math.Abs(got-want) > 1e-12*want {
			t.Errorf("tailWeight(%d) = %.15g, want %.15g", h, got, want)
		}
	}
}

// TestZipfScattered checks that the most popular pages are spread over the
// working set rather than packed at its start.
func TestZipfScattered(t *testing.T) {
	spec := GeneratorSpec{Kind: GenZipf, DirtyRate: 10000, Duration: time.Second}
	_, epochs := genMust(t, spec, 1<<16, 2)
	counts := map[uint32]int{}
	for _, e := range epochs {
		e.Written.Iterate(func(p uint32) bool { counts[p]++; return true })
	}
	var top []uint32
	for p, n := range counts {
		if n >= len(epochs)*9/10 { // written in most epochs: the head of the law
			top = append(top, p)
		}
	}
	if len(top) < 8 {
		t.Fatalf("only %d pages written in 90%% of epochs; want the popular head", len(top))
	}
	var low int
	for _, p := range top {
		if p < 1<<12 {
			low++
		}
	}
	if low > len(top)/2 {
		t.Errorf("%d of the %d most popular pages are in the first 1/16 of memory: not scattered", low, len(top))
	}
}

func TestScatterIsPermutation(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 5, 64, 1000, 4097} {
		p := newScatter(n, rand.NewPCG(n, 1))
		seen := make([]bool, n)
		for x := range n {
			y := p.apply(x)
			if y >= n || seen[y] {
				t.Fatalf("n=%d: %d maps to %d, out of range or taken", n, x, y)
			}
			seen[y] = true
		}
	}
}

// TestUniformSampler checks sampler.uniform directly on its three paths
// (sparse draw, all, complement) with an excluded set.
func TestUniformSampler(t *testing.T) {
	excl := roaring.New()
	excl.AddRange(10, 20)
	excl.AddMany([]uint32{0, 35, 36, 99})
	for _, k := range []uint64{0, 1, 5, 30, 50, 70, 85, 86, 200} {
		for seed := range uint64(20) {
			s := sampler{}
			s.init(rand.NewPCG(seed, 0))
			out := roaring.New()
			s.uniform(out, excl, 0, 100, k)
			want := min(k, 100-excl.GetCardinality())
			if got := out.GetCardinality(); got != want {
				t.Fatalf("k=%d seed %d: %d pages, want %d", k, seed, got, want)
			}
			if out.Intersects(excl) {
				t.Fatalf("k=%d seed %d: sample %v meets the excluded pages", k, seed, out)
			}
			if !out.IsEmpty() && out.Maximum() >= 100 {
				t.Fatalf("k=%d seed %d: page %d beyond the range", k, seed, out.Maximum())
			}
		}
	}
}

func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 511, 512, 5000} {
		for _, width := range []int{1, 11, 12, 28, 32} {
			a := make([]uint32, n)
			for i := range a {
				a[i] = uint32(rng.Uint64() >> (64 - width))
			}
			radixSort(a, nil, width)
			for i := 1; i < n; i++ {
				if a[i-1] > a[i] {
					t.Fatalf("n=%d width=%d: not sorted at %d", n, width, i)
				}
			}
		}
	}
}

// TestPhases checks that phases run in order for their own durations, that
// epoch indexes run on, and that the header covers them all.
func TestPhases(t *testing.T) {
	spec := GeneratorSpec{Kind: GenPhases, ZeroFraction: 0.5, Phases: []GeneratorSpec{
		{Kind: GenIdle, Duration: 30 * time.Millisecond},
		{Kind: GenSequential, DirtyRate: 1000, WorkingSet: 100 * genPage, Duration: 50 * time.Millisecond},
		{Kind: GenUniform, DirtyRate: 5000, Duration: 20 * time.Millisecond},
	}}
	h, epochs := genMust(t, spec, 1000, 1)
	if len(epochs) != 10 {
		t.Fatalf("%d epochs, want 3+5+2", len(epochs))
	}
	if h.Epoch != DefaultGenEpoch || h.ClassPages(ClassZero) != 500 {
		t.Fatalf("header epoch %v zero pages %d, want 10ms and 500", h.Epoch, h.ClassPages(ClassZero))
	}
	for i, e := range epochs {
		n := e.Written.GetCardinality()
		switch {
		case i < 3:
			if n != 0 {
				t.Errorf("epoch %d (idle): %d pages written", i, n)
			}
		case i < 8:
			if n != 10 || e.Written.Maximum() >= 100 {
				t.Errorf("epoch %d (sequential): %v", i, e.Written)
			}
		default:
			if n != 50 || e.Written.Maximum() >= 500 {
				t.Errorf("epoch %d (uniform): %d pages up to %d", i, n, e.Written.Maximum())
			}
		}
	}
	for _, want := range []string{"kind=phases", "phases[0]: kind=idle", "phases[1]: kind=sequential", "working_set_pages=100", "union_working_set_pages=500", "seed=1"} {
		if !strings.Contains(h.Provenance, want) {
			t.Errorf("provenance %q lacks %q", h.Provenance, want)
		}
	}
	ws, err := spec.WorkingSetPages(1000*genPage, genPage)
	if err != nil || ws != 500 {
		t.Errorf("WorkingSetPages = %d, %v; want the union, 500", ws, err)
	}
}

func TestGeneratorProvenance(t *testing.T) {
	spec := GeneratorSpec{Kind: GenHotCold, DirtyRate: 2500.5, ReadRate: 10, WorkingSet: 2 * units.MiB, ZeroFraction: 0.25, HotShare: 0.7}
	src, err := NewGenerator(spec, 8*units.MiB, genPage, 42)
	if err != nil {
		t.Fatal(err)
	}
	want := "migsim generator kind=hotcold dirty_rate=2500.5 read_rate=10 working_set=2MiB working_set_pages=512 duration=10m0s " +
		"epoch=10ms zero_fraction=0.25 hot_fraction=0.1 hot_share=0.7 hot_pages=51; memory=8MiB page_size=4KiB seed=42"
	if got := src.Header().Provenance; got != want {
		t.Errorf("provenance\n got %s\nwant %s", got, want)
	}
}

// TestGeneratorSpecValidate checks that each bad key is reported by name.
func TestGeneratorSpecValidate(t *testing.T) {
	ok := func(s GeneratorSpec) GeneratorSpec { return s }
	cases := []struct {
		name   string
		spec   GeneratorSpec
		memory units.Bytes
		page   units.Bytes
		want   string // error text, "" for none
	}{
		{"default", DefaultGeneratorSpec(), units.GiB, genPage, ""},
		{"zero value", GeneratorSpec{}, units.GiB, genPage, ""},
		{"kind", GeneratorSpec{Kind: "random"}, units.GiB, genPage, `generator.kind: "random" is not one of idle, sequential, uniform, hotcold, zipf, phases`},
		{"dirty_rate", GeneratorSpec{DirtyRate: -5}, units.GiB, genPage, "generator.dirty_rate: -5 is negative"},
		{"dirty_rate nan", GeneratorSpec{DirtyRate: math.NaN()}, units.GiB, genPage, "generator.dirty_rate: NaN is not a finite number"},
		{"read_rate", GeneratorSpec{ReadRate: math.Inf(1)}, units.GiB, genPage, "generator.read_rate: +Inf is not a finite number"},
		{"too many pages", GeneratorSpec{DirtyRate: 1e10, Duration: 1000 * time.Hour}, units.GiB, genPage, "generator.dirty_rate: 1e+10 pages/s over 1000h0m0s is more than 2^53 pages"},
		{"working_set negative", GeneratorSpec{WorkingSet: -1}, units.GiB, genPage, "generator.working_set: -1 is negative"},
		{"working_set too big", GeneratorSpec{WorkingSet: 900 * units.MiB, ZeroFraction: 0.25}, units.GiB, genPage,
			"generator.working_set: 900MiB (230400 pages) does not fit in the 196608 non-zero pages (memory 1GiB, zero_fraction 0.25)"},
		{"working_set fits", GeneratorSpec{WorkingSet: 768 * units.MiB, ZeroFraction: 0.25}, units.GiB, genPage, ""},
		{"zero_fraction", GeneratorSpec{ZeroFraction: 1}, units.GiB, genPage, "generator.zero_fraction: 1 is outside [0, 1)"},
		{"duration", GeneratorSpec{Duration: -time.Second}, units.GiB, genPage, "generator.duration: -1s is negative"},
		{"epoch", GeneratorSpec{Epoch: -time.Millisecond}, units.GiB, genPage, "generator.epoch: -1ms is negative"},
		{"hot_fraction", GeneratorSpec{HotFraction: 1.5}, units.GiB, genPage, "generator.hot_fraction: 1.5 is outside (0, 1]"},
		{"hot_share", GeneratorSpec{HotShare: -0.1}, units.GiB, genPage, "generator.hot_share: -0.1 is outside (0, 1]"},
		{"zipf_s", GeneratorSpec{ZipfS: 1}, units.GiB, genPage, "generator.zipf_s: 1 is not a finite number greater than 1"},
		{"idle writes", GeneratorSpec{Kind: GenIdle, DirtyRate: 10}, units.GiB, genPage, "generator.dirty_rate: 10, but kind idle writes nothing"},
		{"phases without kind", GeneratorSpec{Phases: []GeneratorSpec{{}}}, units.GiB, genPage, "generator.phases: set, but kind is uniform (phases need kind phases)"},
		{"no phases", GeneratorSpec{Kind: GenPhases}, units.GiB, genPage, "generator.phases: kind phases needs at least one phase"},
		{"phases top rate", GeneratorSpec{Kind: GenPhases, DirtyRate: 1, Phases: []GeneratorSpec{{}}}, units.GiB, genPage,
			"generator: kind phases takes dirty_rate, read_rate and working_set from each phase, not from the top level"},
		{"phase key", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{}, {DirtyRate: -1}}}, units.GiB, genPage, "generator.phases[1].dirty_rate: -1 is negative"},
		{"phase nest", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{Kind: GenPhases}}}, units.GiB, genPage, "generator.phases[0].kind: phases do not nest"},
		{"phase epoch", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{}, {Epoch: 20 * time.Millisecond}}}, units.GiB, genPage,
			"generator.phases[1].epoch: 20ms differs from generator.phases[0].epoch 10ms (all phases need one epoch length: set it once, at generator.epoch)"},
		{"phase epoch inherited", GeneratorSpec{Kind: GenPhases, Epoch: 20 * time.Millisecond, Phases: []GeneratorSpec{{}, {Epoch: 20 * time.Millisecond}}}, units.GiB, genPage, ""},
		{"phase zero", GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{ZeroFraction: 0.5}, {}}}, units.GiB, genPage,
			"generator.phases[1].zero_fraction: 0 differs from generator.phases[0].zero_fraction 0.5 (all phases need one zero set: set it once, at generator.zero_fraction)"},
		{"phase working set", GeneratorSpec{Kind: GenPhases, ZeroFraction: 0.5, Phases: []GeneratorSpec{{WorkingSet: 600 * units.MiB}}}, units.GiB, genPage,
			"generator.phases[0].working_set: 600MiB (153600 pages) does not fit in the 131072 non-zero pages (memory 1GiB, zero_fraction 0.5)"},
		{"memory", ok(GeneratorSpec{}), 1000, genPage, "generator: memory 1000B is not a whole number of 4KiB pages"},
		{"page size", ok(GeneratorSpec{}), units.GiB, 3 * units.KiB, "generator: memory 1GiB is not a whole number of 3KiB pages"},
		{"page size 2", ok(GeneratorSpec{}), 3 * units.MiB, 3 * units.KiB, "generator: memory 3MiB with page size 3KiB: page size 3072 is not a power of two"},
		{"too much memory", ok(GeneratorSpec{}), 32 * units.TiB, genPage, "generator: memory 32TiB with page size 4KiB: page count 8589934592 exceeds the maximum 4294967296"},
	}
	for _, c := range cases {
		err := c.spec.Validate(c.memory, c.page)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if _, nerr := NewGenerator(c.spec, c.memory, c.page, 1); (nerr == nil) != (err == nil) {
			t.Errorf("%s: Validate says %v but NewGenerator says %v", c.name, err, nerr)
		}
	}
}

func TestGeneratorEpochCount(t *testing.T) {
	for _, c := range []struct {
		duration, epoch time.Duration
		want            int
	}{
		{time.Second, 10 * time.Millisecond, 100},
		{time.Second, 7 * time.Millisecond, 143},
		{time.Millisecond, 10 * time.Millisecond, 1},
		{0, 0, 60000},
	} {
		spec := GeneratorSpec{Kind: GenIdle, Duration: c.duration, Epoch: c.epoch}
		_, epochs := genMust(t, spec, 16, 1)
		if len(epochs) != c.want {
			t.Errorf("duration %v epoch %v: %d epochs, want %d", c.duration, c.epoch, len(epochs), c.want)
		}
	}
}

func TestGeneratorEOFRepeats(t *testing.T) {
	src, err := NewGenerator(GeneratorSpec{Duration: 10 * time.Millisecond}, units.MiB, genPage, 1)
	if err != nil {
		t.Fatal(err)
	}
	var e Epoch
	if err := src.Next(&e); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := src.Next(&e); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end = %v, want io.EOF", err)
		}
	}
}
