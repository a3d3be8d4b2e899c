package traces

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/migsim/migsim/units"
)

// Generator kinds, the values of [GeneratorSpec.Kind].
const (
	GenIdle       = "idle"       // no writes, no reads
	GenSequential = "sequential" // cyclic scan over the working set
	GenUniform    = "uniform"    // uniform distinct pages from the working set
	GenHotCold    = "hotcold"    // uniform within a hot and a cold part
	GenZipf       = "zipf"       // Zipf popularity, hot pages scattered
	GenPhases     = "phases"     // other kinds one after another
)

// GeneratorKinds returns the generator kinds in documentation order.
func GeneratorKinds() []string {
	return []string{GenIdle, GenSequential, GenUniform, GenHotCold, GenZipf, GenPhases}
}

// Defaults of [GeneratorSpec] fields. A zero Kind, Duration, Epoch,
// HotFraction, HotShare or ZipfS in a spec (or in one of its phases) means
// the default.
const (
	DefaultGeneratorKind   = GenUniform
	DefaultGenDuration     = 600 * time.Second
	DefaultGenEpoch        = 10 * time.Millisecond
	DefaultGenHotFraction  = 0.1
	DefaultGenHotShare     = 0.9
	DefaultGenZipfExponent = 1.2
)

// MinEpoch is the shortest epoch migsim simulates, for a generator and a
// trace file alike: 100 µs. A run replays every epoch (about 10 µs of
// CPU each, with the pages it touches), so its time grows as 1/epoch: at
// 1 ns a migration of a few simulated seconds takes hours, with nothing
// to show. Results stop changing well above the floor: the examples give
// the same total time, and stall times within 0.2 %, at 1 ms, 100 µs and
// 10 µs, since QEMU syncs its dirty log no more often than every few
// milliseconds and a post-copy fault takes about 100 µs to serve.
const MinEpoch = 100 * time.Microsecond

// GeneratorSpec is the `workload.generator` section of a scenario: a
// synthetic workload that [NewGenerator] turns into a [Source].
//
// Guest memory is split into three parts, from page 0 up:
//
//	[0, ws)          the writable working set, where all writes and reads go
//	[ws, nz)         non-zero memory that is never touched (class anon)
//	[nz, PageCount)  zero memory, the top ZeroFraction of the pages (class zero)
//
// Counts per epoch are deterministic: an epoch ending at guest time t has
// written floor(DirtyRate × t) − floor(DirtyRate × (t − Epoch)) distinct
// pages (cumulative floor, so the fractional pages carry over and the run
// writes floor(DirtyRate × Duration) page-epochs in all), capped at the
// working set. Reads are counted the same way from ReadRate and capped at
// the working-set pages the epoch did not write. Rates are taken to a
// precision of 1e-9 pages per epoch and shares to 1e-9.
type GeneratorSpec struct {
	// Kind is one of idle, sequential, uniform, hotcold, zipf, phases
	// (default uniform).
	Kind string `mapstructure:"kind"`
	// DirtyRate is the number of distinct pages written per second of
	// guest time, in pages/s. A scenario may give it as a byte rate
	// (2GB/s, 500MiB/s), converted with vm.page_size.
	DirtyRate float64 `mapstructure:"dirty_rate"`
	// WorkingSet is the size of the writable working set in bytes, rounded
	// up to whole pages; 0 means all non-zero memory.
	WorkingSet units.Bytes `mapstructure:"working_set"`
	// ZeroFraction is the share of memory, at the top of memory, that is
	// never touched and starts in class zero; the page count is rounded
	// down. In [0, 1).
	ZeroFraction float64 `mapstructure:"zero_fraction"`
	// FreeFraction is the share of memory, just below the zero class,
	// that starts in class free and is never touched; the page count is
	// rounded down. In [0, 1); top level only (see gen_composition.go).
	FreeFraction float64 `mapstructure:"free_fraction"`
	// PagecacheFraction is the share of memory, just below the free class,
	// that starts in class pagecache (clean page cache on shared storage)
	// and is never touched; rounded down. In [0, 1); top level only.
	PagecacheFraction float64 `mapstructure:"pagecache_fraction"`
	// ReadRate is the number of pages read, and not written, per second of
	// guest time, in pages/s. A scenario may give it as a byte rate
	// (500MiB/s), converted with vm.page_size.
	ReadRate float64 `mapstructure:"read_rate"`
	// AllocRate is the number of free pages the guest allocates (free →
	// anon, then writes) per second of guest time, lowest free page
	// first, in pages/s (default 0; see gen_churn.go). For kind phases,
	// set per phase.
	AllocRate float64 `mapstructure:"alloc_rate"`
	// FreeRate is the number of anon pages outside the working set the
	// guest frees (anon → free) per second of guest time, most recently
	// allocated first, in pages/s (default 0). For kind phases, set per
	// phase.
	FreeRate float64 `mapstructure:"free_rate"`
	// Duration is the guest time the trace covers (default 600s); the trace
	// has ceil(Duration/Epoch) epochs. For kind phases it is ignored: the
	// trace lasts as long as its phases together.
	Duration time.Duration `mapstructure:"duration"`
	// Epoch is the guest time of one epoch (default 10ms).
	Epoch time.Duration `mapstructure:"epoch"`
	// HotFraction is, for hotcold, the share of the working set that is hot:
	// its first round(HotFraction × ws) pages, at least one (default 0.1).
	// In (0, 1].
	HotFraction float64 `mapstructure:"hot_fraction"`
	// HotShare is, for hotcold, the share of each epoch's writes and reads
	// that go to the hot part (default 0.9). In (0, 1]; 0 means the
	// default.
	HotShare float64 `mapstructure:"hot_share"`
	// ZipfS is, for zipf, the exponent s > 1 of the popularity law
	// P(rank r) ∝ (1+r)^-s (default 1.2).
	ZipfS float64 `mapstructure:"zipf_s"`
	// Phases are, for kind phases, the workloads to run one after another,
	// each for its own Duration. A phase whose Epoch or ZeroFraction is zero
	// takes the top-level one; all phases must end up with the same epoch
	// and zero fraction. Phases do not nest. The top level of a phases spec
	// gives only epoch and zero_fraction: its dirty_rate, read_rate and
	// working_set must be left zero, and its other fields are ignored.
	Phases []GeneratorSpec `mapstructure:"phases"`
}

// DefaultGeneratorSpec returns the default workload: uniform writes at rate
// 0 (so an idle guest until DirtyRate is set) over all of memory for 600s
// in 10ms epochs, with the hotcold and zipf parameters at their defaults.
func DefaultGeneratorSpec() GeneratorSpec {
	return GeneratorSpec{
		Kind:        DefaultGeneratorKind,
		Duration:    DefaultGenDuration,
		Epoch:       DefaultGenEpoch,
		HotFraction: DefaultGenHotFraction,
		HotShare:    DefaultGenHotShare,
		ZipfS:       DefaultGenZipfExponent,
	}
}

// withDefaults returns s with its zero-means-default fields filled in.
// Phases are left alone.
func (s GeneratorSpec) withDefaults() GeneratorSpec {
	d := DefaultGeneratorSpec()
	if s.Kind == "" {
		s.Kind = d.Kind
	}
	if s.Duration == 0 {
		s.Duration = d.Duration
	}
	if s.Epoch == 0 {
		s.Epoch = d.Epoch
	}
	if s.HotFraction == 0 {
		s.HotFraction = d.HotFraction
	}
	if s.HotShare == 0 {
		s.HotShare = d.HotShare
	}
	if s.ZipfS == 0 {
		s.ZipfS = d.ZipfS
	}
	return s
}

// genLayout is how a spec lays out guest memory.
type genLayout struct {
	pageSize  uint32
	pageCount uint64 // pages of guest memory
	nonZero   uint64 // pages [0, nonZero) are not in the zero class
	free      uint64 // class free pages, just below nonZero
	pagecache uint64 // class pagecache pages, just below the free ones
}

func newGenLayout(memory, pageSize units.Bytes) (genLayout, error) {
	if pageSize <= 0 || pageSize > math.MaxUint32 {
		return genLayout{}, fmt.Errorf("generator: page size %d is not a power of two", int64(pageSize))
	}
	if memory <= 0 {
		return genLayout{}, fmt.Errorf("generator: memory %v is not positive", memory)
	}
	if memory%pageSize != 0 {
		return genLayout{}, fmt.Errorf("generator: memory %v is not a whole number of %v pages", memory, pageSize)
	}
	h := Header{PageSize: uint32(pageSize), PageCount: uint64(memory / pageSize), Epoch: time.Second}
	if err := h.Validate(); err != nil {
		return genLayout{}, fmt.Errorf("generator: memory %v with page size %v: %w", memory, pageSize, err)
	}
	return genLayout{pageSize: h.PageSize, pageCount: h.PageCount, nonZero: h.PageCount}, nil
}

// Validate checks the spec for a guest of the given memory and page size,
// with zero fields taken as their defaults, and returns an error naming the
// first offending key, e.g. "generator.dirty_rate: -5 is negative" or
// "generator.phases[1].epoch: 20ms differs from generator.phases[0].epoch
// 10ms (…)". Keys are those of the scenario file, under "generator".
func (s *GeneratorSpec) Validate(memory, pageSize units.Bytes) error {
	_, err := s.plan(memory, pageSize)
	return err
}

// WorkingSetPages returns the number of pages the spec writes to, at most:
// its working set, or for kind phases the union of the phases' working sets
// (they all start at page 0, so the largest).
func (s *GeneratorSpec) WorkingSetPages(memory, pageSize units.Bytes) (uint64, error) {
	p, err := s.plan(memory, pageSize)
	if err != nil {
		return 0, err
	}
	return p.workingSet(), nil
}

// genPlan is a validated spec: the layout and one resolved spec per phase.
type genPlan struct {
	layout genLayout
	top    GeneratorSpec   // with defaults
	phases []resolvedPhase // one for a plain spec
}

type resolvedPhase struct {
	spec   GeneratorSpec // with defaults and inherited epoch/zero fraction
	ws     uint64        // working-set pages
	hot    uint64        // hot pages (hotcold)
	epochs uint64
}

func (p *genPlan) workingSet() uint64 {
	var ws uint64
	for _, ph := range p.phases {
		ws = max(ws, ph.ws)
	}
	return ws
}

func (s *GeneratorSpec) plan(memory, pageSize units.Bytes) (*genPlan, error) {
	layout, err := newGenLayout(memory, pageSize)
	if err != nil {
		return nil, err
	}
	top := s.withDefaults()
	const key = "generator"
	if err := top.checkCommon(key); err != nil {
		return nil, err
	}
	zeroPages := uint64(top.ZeroFraction * float64(layout.pageCount))
	layout.nonZero = layout.pageCount - min(zeroPages, layout.pageCount-1)
	if layout.free, layout.pagecache, err = top.composition(key, layout.pageCount); err != nil {
		return nil, err
	}
	pl := &genPlan{layout: layout, top: top}
	if top.Kind != GenPhases {
		if len(top.Phases) > 0 {
			return nil, keyErrorf(key+".phases", "set, but kind is %s (phases need kind %s)", top.Kind, GenPhases)
		}
		ph, err := top.resolve(key, layout, memory, pageSize)
		if err != nil {
			return nil, err
		}
		pl.phases = []resolvedPhase{ph}
		return pl, nil
	}
	if len(top.Phases) == 0 {
		return nil, keyErrorf(key+".phases", "kind %s needs at least one phase", GenPhases)
	}
	if top.DirtyRate != 0 || top.ReadRate != 0 || top.WorkingSet != 0 {
		return nil, keyErrorf(key, "kind %s takes dirty_rate, read_rate and working_set from each phase, not from the top level", GenPhases)
	}
	if top.AllocRate != 0 || top.FreeRate != 0 {
		return nil, keyErrorf(key, "kind %s takes alloc_rate and free_rate from each phase (a phase is their time window), not from the top level", GenPhases)
	}
	for i, raw := range top.Phases {
		pkey := fmt.Sprintf("%s.phases[%d]", key, i)
		if raw.Kind == GenPhases {
			return nil, keyErrorf(pkey+".kind", "phases do not nest")
		}
		if err := raw.checkPhaseComposition(pkey); err != nil {
			return nil, err
		}
		ps := raw
		if ps.Epoch == 0 {
			ps.Epoch = top.Epoch
		}
		if ps.ZeroFraction == 0 {
			ps.ZeroFraction = top.ZeroFraction
		}
		ps = ps.withDefaults()
		if err := ps.checkCommon(pkey); err != nil {
			return nil, err
		}
		if len(ps.Phases) > 0 {
			return nil, keyErrorf(pkey+".phases", "phases do not nest")
		}
		if i > 0 {
			first := pl.phases[0].spec
			if ps.Epoch != first.Epoch {
				return nil, keyErrorf(pkey+".epoch", "%v differs from %s.phases[0].epoch %v (all phases need one epoch length: set it once, at generator.epoch)", ps.Epoch, key, first.Epoch)
			}
			if ps.ZeroFraction != first.ZeroFraction {
				return nil, keyErrorf(pkey+".zero_fraction", "%v differs from %s.phases[0].zero_fraction %v (all phases need one zero set: set it once, at generator.zero_fraction)", fmtFloat(ps.ZeroFraction), key, fmtFloat(first.ZeroFraction))
			}
		} else if ps.ZeroFraction != top.ZeroFraction {
			// The layout was computed from the top level; redo it.
			zeroPages := uint64(ps.ZeroFraction * float64(layout.pageCount))
			layout.nonZero = layout.pageCount - min(zeroPages, layout.pageCount-1)
			pl.layout = layout
		}
		ph, err := ps.resolve(pkey, layout, memory, pageSize)
		if err != nil {
			return nil, err
		}
		pl.phases = append(pl.phases, ph)
	}
	return pl, nil
}

// checkCommon checks the fields that need no memory layout. s has its
// defaults filled in; key is the dotted key of s.
func (s *GeneratorSpec) checkCommon(key string) error {
	if !slices.Contains(GeneratorKinds(), s.Kind) {
		return keyErrorf(key+".kind", "%q is not one of %s", s.Kind, strings.Join(GeneratorKinds(), ", "))
	}
	if err := checkRate(key+".dirty_rate", s.DirtyRate); err != nil {
		return err
	}
	if err := checkRate(key+".read_rate", s.ReadRate); err != nil {
		return err
	}
	if err := s.checkChurn(key); err != nil {
		return err
	}
	if s.WorkingSet < 0 {
		return keyErrorf(key+".working_set", "%d is negative", int64(s.WorkingSet))
	}
	if !(s.ZeroFraction >= 0 && s.ZeroFraction < 1) {
		return keyErrorf(key+".zero_fraction", "%s is outside [0, 1)", fmtFloat(s.ZeroFraction))
	}
	if s.Duration < 0 {
		return keyErrorf(key+".duration", "%v is negative", s.Duration)
	}
	if s.Epoch < 0 {
		return keyErrorf(key+".epoch", "%v is negative", s.Epoch)
	}
	if s.Epoch > 0 && s.Epoch < MinEpoch {
		return keyErrorf(key+".epoch", "%v is below the %v floor (a run simulates every epoch, so its time grows as 1/epoch, and results stop changing below about 1ms; see traces.MinEpoch)", s.Epoch, MinEpoch)
	}
	if !(s.HotFraction > 0 && s.HotFraction <= 1) {
		return keyErrorf(key+".hot_fraction", "%s is outside (0, 1]", fmtFloat(s.HotFraction))
	}
	if !(s.HotShare > 0 && s.HotShare <= 1) {
		return keyErrorf(key+".hot_share", "%s is outside (0, 1]", fmtFloat(s.HotShare))
	}
	if !(s.ZipfS > 1) || math.IsInf(s.ZipfS, 0) {
		return keyErrorf(key+".zipf_s", "%s is not a finite number greater than 1", fmtFloat(s.ZipfS))
	}
	if s.Kind == GenIdle {
		if s.DirtyRate != 0 {
			return keyErrorf(key+".dirty_rate", "%s, but kind idle writes nothing", fmtFloat(s.DirtyRate))
		}
		if s.ReadRate != 0 {
			return keyErrorf(key+".read_rate", "%s, but kind idle reads nothing", fmtFloat(s.ReadRate))
		}
	}
	return nil
}

func checkRate(key string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return keyErrorf(key, "%s is not a finite number", fmtFloat(v))
	case v < 0:
		return keyErrorf(key, "%s is negative", fmtFloat(v))
	}
	return nil
}

// maxGenPages bounds rate × duration so that every count is exact.
const maxGenPages = 1 << 53

// resolve checks what needs the layout and sizes the phase.
func (s *GeneratorSpec) resolve(key string, layout genLayout, memory, pageSize units.Bytes) (resolvedPhase, error) {
	ph := resolvedPhase{spec: *s, ws: layout.writable()}
	if layout.writable() == 0 {
		return ph, keyErrorf(key, "the free and page-cache classes (%d + %d pages) leave no anon memory below the zero class (%d pages)", layout.free, layout.pagecache, layout.nonZero)
	}
	if s.WorkingSet > 0 {
		ws := uint64((s.WorkingSet + pageSize - 1) / pageSize)
		if ws > layout.writable() {
			return ph, keyErrorf(key+".working_set", "%v (%d pages) does not fit in the %d %s (memory %v, zero_fraction %s)", s.WorkingSet, ws, layout.writable(), layout.writableName(), memory, fmtFloat(s.ZeroFraction))
		}
		ph.ws = ws
	}
	ph.hot = min(max(uint64(math.Round(s.HotFraction*float64(ph.ws))), 1), ph.ws)
	ph.epochs = uint64((s.Duration + s.Epoch - 1) / s.Epoch)
	covered := float64(ph.epochs) * s.Epoch.Seconds()
	for _, r := range []struct {
		name string
		v    float64
	}{{"dirty_rate", s.DirtyRate}, {"read_rate", s.ReadRate}, {"alloc_rate", s.AllocRate}, {"free_rate", s.FreeRate}} {
		if r.v*covered >= maxGenPages || r.v*float64(s.Epoch) >= math.MaxInt64 {
			return ph, keyErrorf(key+"."+r.name, "%s pages/s over %v is more than 2^53 pages", fmtFloat(r.v), s.Duration)
		}
	}
	return ph, nil
}

// NewGenerator returns a Source that synthesizes the workload of spec for a
// guest of the given memory and page size. The same spec, memory, page
// size and seed always give the same epochs. Randomness comes only from
// math/rand/v2 PCG streams seeded from seed (never the global source).
// idle, sequential, uniform and hotcold draw and count in integer
// arithmetic and give the same epochs on every platform; zipf goes through floating-point
// math (Pow, Exp, Log) and is reproducible on one architecture.
//
// The kinds, over the working set [0, ws) (see [GeneratorSpec] for the
// memory layout and how many pages an epoch writes and reads):
//
//   - idle: no writes and no reads.
//   - sequential: a cyclic scan; each epoch writes the next n pages after
//     where the previous epoch stopped, wrapping at ws, so its written set
//     is one range or two. Its reads are uniform over the working set
//     without the epoch's written pages (a scan has no popularity law for
//     reads to share).
//   - uniform: each epoch writes n distinct pages drawn uniformly.
//   - hotcold: like uniform, but the hot part [0, hot) receives HotShare of
//     the epoch's writes (by cumulative floor, as for rates) and the cold
//     part [hot, ws) the rest; writes a part cannot take spill to the other.
//     Reads are split the same way.
//   - zipf: page popularity follows Zipf(ZipfS): rank r has weight
//     (1+r)^-s, and ranks map to pages through a fixed pseudo-random
//     permutation of the working set, so hot pages are scattered. An epoch
//     writes n distinct pages: successive weighted draws without
//     replacement.
//   - phases: each phase in turn, for its own duration; epoch indexes run on
//     across phases. The trace's working set is the union of the phases'.
//
// Reads (ReadRate) use the same law as writes, without the epoch's written
// pages, and are drawn from their own random stream, so changing ReadRate
// does not change the writes.
//
// The header has PageSize and PageCount = memory/pageSize, the epoch, the
// Zero set (the top zero_fraction of memory), and a Provenance naming the
// generator, every parameter and the seed.
//
// Next reuses the Epoch's bitmaps and allocates nothing per page: per
// epoch, one block for the written and one for the read pages (the
// storage of their containers) and one small object per container. Its
// cost per epoch, for n written and m read pages, is O(1) for sequential
// writes (one or two AddRange calls) and O(n + m) for the random kinds
// (draws, a radix sort, the bitmaps built whole by setBuilder); zipf costs
// more per page, as popular pages are drawn many times (see
// BenchmarkGenerator for figures).
func NewGenerator(spec GeneratorSpec, memory, pageSize units.Bytes, seed uint64) (Source, error) {
	pl, err := spec.plan(memory, pageSize)
	if err != nil {
		return nil, err
	}
	g := &generator{
		hdr: Header{
			PageSize:   pl.layout.pageSize,
			PageCount:  pl.layout.pageCount,
			Epoch:      pl.phases[0].spec.Epoch,
			Provenance: pl.provenance(memory, pageSize, seed),
		},
	}
	if pl.layout.nonZero < pl.layout.pageCount {
		g.hdr.Zero = newRangeBitmap(pl.layout.nonZero, pl.layout.pageCount)
	}
	pl.layout.setClasses(&g.hdr)
	g.churn = newGenChurn(pl, &g.hdr)
	for i, ph := range pl.phases {
		g.phases = append(g.phases, newGenPhase(ph, seed, uint64(i)))
	}
	return g, nil
}

// provenance names the generator, every parameter and the seed.
func (p *genPlan) provenance(memory, pageSize units.Bytes, seed uint64) string {
	var b strings.Builder
	b.WriteString("migsim generator ")
	if p.top.Kind == GenPhases {
		fmt.Fprintf(&b, "kind=phases epoch=%v zero_fraction=%s", p.phases[0].spec.Epoch, fmtFloat(p.phases[0].spec.ZeroFraction))
		for i, ph := range p.phases {
			fmt.Fprintf(&b, "; phases[%d]: ", i)
			ph.describe(&b, false)
		}
	} else {
		p.phases[0].describe(&b, true)
	}
	if p.top.Kind == GenPhases {
		fmt.Fprintf(&b, "; union_working_set_pages=%d", p.workingSet())
	}
	b.WriteString(p.top.describeComposition())
	fmt.Fprintf(&b, "; memory=%v page_size=%v seed=%d", memory, pageSize, seed)
	return b.String()
}

func (ph *resolvedPhase) describe(b *strings.Builder, top bool) {
	s := &ph.spec
	fmt.Fprintf(b, "kind=%s dirty_rate=%s read_rate=%s working_set=%v working_set_pages=%d duration=%v",
		s.Kind, fmtFloat(s.DirtyRate), fmtFloat(s.ReadRate), s.WorkingSet, ph.ws, s.Duration)
	if top {
		fmt.Fprintf(b, " epoch=%v zero_fraction=%s", s.Epoch, fmtFloat(s.ZeroFraction))
	}
	s.describeChurn(b)
	switch s.Kind {
	case GenHotCold:
		fmt.Fprintf(b, " hot_fraction=%s hot_share=%s hot_pages=%d", fmtFloat(s.HotFraction), fmtFloat(s.HotShare), ph.hot)
	case GenZipf:
		fmt.Fprintf(b, " zipf_s=%s", fmtFloat(s.ZipfS))
	}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// generator is the Source built by NewGenerator.
type generator struct {
	hdr    Header
	phases []*genPhase
	cur    int       // phase being played
	next   uint64    // index of the next epoch
	churn  *genChurn // allocation and freeing; nil: none (gen_churn.go)
}

func (g *generator) Header() *Header { return &g.hdr }

// Next fills e with the next epoch, reusing its bitmaps, or returns io.EOF.
func (g *generator) Next(e *Epoch) error {
	for g.cur < len(g.phases) && g.phases[g.cur].done == g.phases[g.cur].epochs {
		g.cur++
	}
	if g.cur == len(g.phases) {
		return io.EOF
	}
	e.Reset()
	e.Index = g.next
	g.phases[g.cur].step(e)
	if g.churn != nil {
		g.churn.step(g.cur, e)
	}
	g.next++
	return nil
}

// genPhase plays one phase (or a whole non-phases spec).
type genPhase struct {
	kind          string
	epochs, done  uint64
	ws, hot       uint64 // working set [0, ws); hot part [0, hot)
	writes, reads carry  // pages per epoch
	hotW, hotR    share  // hot part of writes, of reads (hotcold)
	pos           uint64 // next page of the sequential scan
	w, r          sampler
	wset, rset    setBuilder // build e.Written, e.Read
}

// Random stream numbers, mixed with the phase index into the second PCG
// seed word: the writes, the reads and the zipf permutation each have
// their own stream.
const (
	streamWrites = 1
	streamReads  = 2
	streamPerm   = 3
)

func newGenPhase(ph resolvedPhase, seed, index uint64) *genPhase {
	s := &ph.spec
	p := &genPhase{
		kind:   s.Kind,
		epochs: ph.epochs,
		ws:     ph.ws,
		hot:    ph.hot,
		writes: newCarry(s.DirtyRate, s.Epoch),
		reads:  newCarry(s.ReadRate, s.Epoch),
		hotW:   newShare(s.HotShare),
		hotR:   newShare(s.HotShare),
	}
	stream := func(n uint64) *rand.PCG { return rand.NewPCG(seed, mix64(index<<8|n)) }
	p.w.init(stream(streamWrites))
	p.r.init(stream(streamReads))
	if s.Kind == GenZipf {
		law := newZipfLaw(s.ZipfS, ph.ws, newScatter(ph.ws, stream(streamPerm)))
		p.w.initZipf(law)
		p.r.initZipf(law)
	}
	return p
}

// step fills the (reset) epoch e: first its writes, then its reads, which
// leave out the written pages. Each set is built by a setBuilder.
func (p *genPhase) step(e *Epoch) {
	p.done++
	nw := min(p.writes.next(), p.ws)
	nr := min(p.reads.next(), p.ws-nw)
	w, r := &p.wset, &p.rset
	w.reset(e.Written)
	r.reset(e.Read)
	switch p.kind {
	case GenIdle:
	case GenSequential:
		if nw >= p.ws {
			w.AddRange(0, p.ws)
		} else if end := p.pos + nw; end <= p.ws {
			w.AddRange(p.pos, end)
		} else {
			w.AddRange(0, end-p.ws)
			w.AddRange(p.pos, p.ws)
		}
		p.pos = (p.pos + nw) % p.ws
		p.r.uniform(r, w.flush(), 0, p.ws, nr)
	case GenUniform:
		p.w.uniform(w, nil, 0, p.ws, nw)
		p.r.uniform(r, w.flush(), 0, p.ws, nr)
	case GenHotCold:
		hotCap, coldCap := p.hot, p.ws-p.hot
		wh, wc := splitShare(&p.hotW, nw, hotCap, coldCap)
		p.w.uniform(w, nil, 0, p.hot, wh)
		p.w.uniform(w, nil, p.hot, p.ws, wc)
		written := w.flush()
		hotCap, coldCap = hotCap-wh, coldCap-wc
		rh, rc := splitShare(&p.hotR, nr, hotCap, coldCap)
		p.r.uniform(r, written, 0, p.hot, rh)
		p.r.uniform(r, written, p.hot, p.ws, rc)
	case GenZipf:
		p.w.zipf(w, nil, nw)
		p.r.zipf(r, w.flush(), nr)
	default:
		panic("traces: generator kind " + p.kind + " passed validation but has no step")
	}
	w.flush()
	r.flush()
}

// splitShare splits n pages between a hot part that can take hotCap more
// pages and a cold part that can take coldCap (n ≤ hotCap+coldCap): the
// hot part gets its share by cumulative floor, and what a part cannot take
// spills to the other.
func splitShare(sh *share, n, hotCap, coldCap uint64) (hot, cold uint64) {
	hot = sh.next(n)
	cold = n - hot
	if hot > hotCap {
		cold += hot - hotCap
		hot = hotCap
	}
	if cold > coldCap {
		hot += cold - coldCap
		cold = coldCap
	}
	return hot, cold
}
