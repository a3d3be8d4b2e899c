package models

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
)

// Costs is a scenario's model.costs section: the per-page CPU cost of each
// migration stage on one core, overriding [sim.DefaultCosts]. Every
// duration is per 4 KiB page; see [sim.CostTable] for each default's
// source. The compress and decompress costs come from the codec
// ([Codec]) when compression is on.
type Costs struct {
	// Scan is the dirty-bitmap walk per page, a duration (default 2ns).
	Scan time.Duration `mapstructure:"scan"`
	// Map is mapping a page into the migration process, a duration
	// (default 2µs, PMigrate's dominant cost once copying is parallel).
	Map time.Duration `mapstructure:"map"`
	// MapLockedShare is the fraction of map spent holding the
	// address-space lock, in [0, 1] (default 0.6).
	MapLockedShare float64 `mapstructure:"map_locked_share"`
	// Copy is one page copy into a send buffer, a duration (default 400ns).
	Copy time.Duration `mapstructure:"copy"`
	// Checksum is checksumming one page, a duration (default 0: none).
	Checksum time.Duration `mapstructure:"checksum"`
	// Send is a page's share of the send calls and TCP stack, a duration
	// (default 1µs).
	Send time.Duration `mapstructure:"send"`
	// Receive is a page's share of the receive calls, a duration (default
	// 1µs).
	Receive time.Duration `mapstructure:"receive"`
	// Install is writing a page into guest memory on the destination, a
	// duration (default 1µs).
	Install time.Duration `mapstructure:"install"`
	// ZeroPage is detecting a zero page on the source, a duration
	// (default 200ns).
	ZeroPage time.Duration `mapstructure:"zero_page"`
	// XbzrleEncode is the source's extra work on a page sent as an
	// XBZRLE delta, a duration (default 1.5µs; see [sim.CostTable]).
	XbzrleEncode time.Duration `mapstructure:"xbzrle_encode"`
	// XbzrleDecode is the destination's work to apply an XBZRLE delta, a
	// duration (default 300ns).
	XbzrleDecode time.Duration `mapstructure:"xbzrle_decode"`
}

// DefaultCosts returns [sim.DefaultCosts] as a scenario section.
func DefaultCosts() Costs {
	c := sim.DefaultCosts()
	return Costs{
		Scan: c.Scan, Map: c.Map, MapLockedShare: c.MapLockedShare, Copy: c.Copy,
		Checksum: c.Checksum, Send: c.Send, Receive: c.Receive, Install: c.Install,
		ZeroPage: c.ZeroPage, XbzrleEncode: c.XbzrleEncode, XbzrleDecode: c.XbzrleDecode,
	}
}

// table returns the cost table with the codec's compression costs.
func (c Costs) table(codec Codec) sim.CostTable {
	return sim.CostTable{
		Scan: c.Scan, Map: c.Map, MapLockedShare: c.MapLockedShare, Copy: c.Copy,
		Compress: codec.Compress, Checksum: c.Checksum, Send: c.Send,
		Receive: c.Receive, Decompress: codec.Decompress, Install: c.Install,
		ZeroPage: c.ZeroPage, XbzrleEncode: c.XbzrleEncode, XbzrleDecode: c.XbzrleDecode,
	}
}

// Codec is a page compressor: its CPU cost per 4 KiB page on one core at
// level 1 and the ratio of raw to compressed bytes.
type Codec struct {
	// Name is the codec's scenario name.
	Name string
	// Compress and Decompress are host CPU time per page at level 1. For
	// an offloading codec (qatzip) they are the host's submission and
	// completion work only.
	Compress, Decompress time.Duration
	// Ratio is raw bytes over compressed bytes at level 1.
	Ratio float64
	// LevelCost and LevelRatio are how much each level above 1 adds to
	// the cost and to the ratio, as fractions of the level-1 values.
	LevelCost, LevelRatio float64
	// MaxLevel is the highest level.
	MaxLevel int
}

// Codecs names every codec. The level-1 figures for zstd and qatzip are
// calibrated to QEMU's published table (docs/devel/migration/
// qatzip-compression.rst: 64 GiB guest with 54 GiB of Silesia data, 8
// multifd channels, 10 Gbit/s). There zstd took 810 % of a source core for
// 20.2 s over 14.2 M non-zero pages, 11.6 µs of channel work per page,
// of which send is 1 µs; qatzip took 160 %, 1.9 µs per page. Both
// carried about 21.7 GB for 58 GB of data, a ratio of 2.7. zlib's cost
// is deflate level 1 at about 100 MB/s per core with the same ratio;
// decompression figures are inflate at about 400 MB/s and zstd at about
// 1.5 GB/s per core. The level scaling is a rough fit to lzbench's
// tables, good for trends only.
func Codecs() []Codec {
	return []Codec{
		{Name: "none", Ratio: 1, MaxLevel: 0},
		{Name: "zlib", Compress: 40 * time.Microsecond, Decompress: 10 * time.Microsecond, Ratio: 2.7, LevelCost: 0.3, LevelRatio: 0.02, MaxLevel: 9},
		{Name: "zstd", Compress: 10600 * time.Nanosecond, Decompress: 2700 * time.Nanosecond, Ratio: 2.7, LevelCost: 0.25, LevelRatio: 0.02, MaxLevel: 20},
		{Name: "qatzip-like", Compress: 900 * time.Nanosecond, Decompress: 900 * time.Nanosecond, Ratio: 2.7, LevelCost: 0, LevelRatio: 0.01, MaxLevel: 9},
	}
}

// levelError is codecAt's error for a level out of its codec's range:
// the key at fault is the level, not the compression.
type levelError string

func (e levelError) Error() string { return string(e) }

// compressionKey returns the key of codecAt's error err: level for a
// level out of range, else compression (below prefix, e.g. "model.").
func compressionKey(prefix, compression string, err error) string {
	var le levelError
	if errors.As(err, &le) {
		return prefix + "level"
	}
	return prefix + compression
}

// codecAt returns the named codec at level (0 means 1), with ratio
// overriding its ratio when positive.
func codecAt(name string, level int, ratio float64) (Codec, error) {
	if name == "" {
		name = "none"
	}
	for _, c := range Codecs() {
		if c.Name != name {
			continue
		}
		if level < 0 || level > max(c.MaxLevel, 1) {
			return Codec{}, levelError(fmt.Sprintf("level %d must be in [1, %d] for %s (0: default)", level, max(c.MaxLevel, 1), name))
		}
		if level > 1 {
			k := float64(level - 1)
			c.Compress = time.Duration(float64(c.Compress) * (1 + c.LevelCost*k))
			c.Ratio *= 1 + c.LevelRatio*k
		}
		if ratio > 0 {
			c.Ratio = ratio
		}
		return c, nil
	}
	return Codec{}, fmt.Errorf("compression %q must be none, zlib, zstd or qatzip-like", name)
}

// validateCosts checks the costs section at key (e.g. "model.costs"),
// one [FieldError] per bad key.
func validateCosts(key string, c Costs) error {
	var errs checks
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"scan", c.Scan}, {"map", c.Map}, {"copy", c.Copy}, {"checksum", c.Checksum},
		{"send", c.Send}, {"receive", c.Receive}, {"install", c.Install}, {"zero_page", c.ZeroPage},
		{"xbzrle_encode", c.XbzrleEncode}, {"xbzrle_decode", c.XbzrleDecode},
	} {
		errs.check(f.d >= 0, key+"."+f.name, "%v must not be negative", f.d)
	}
	errs.check(c.MapLockedShare >= 0 && c.MapLockedShare <= 1, key+".map_locked_share", "%v must be in [0, 1]", c.MapLockedShare)
	return errs.err()
}

// cpuPipeline holds a pre-copy run to what the migration's threads can
// process: it caps each pass's rate at the pass's pages over the CPU time
// they need, accounts CPU seconds, and splits bytes among workers. The
// run's path still carries the bytes ([sim.Path.Send]), so the link and
// TCP limits apply on top; the pass takes the longer of the two.
type cpuPipeline struct {
	pipe      sim.Pipeline
	extra     float64 // a serial bound on full pages/s besides the pipeline (multifd's main channel walk); 0: none
	extraName string
	codec     Codec
	pageSize  float64

	pages    uint64
	zero     *roaring.Bitmap // the trace's zero pages, nil if unknown
	balanced bool            // pages go to whichever worker is free (multifd), not by range
	shares   []float64       // each worker's share of the coming pass's pages
	weight   []float64       // pass bytes apportioned to workers so far

	bottleneck    string
	bottleneckLen float64 // the bytes of the pass that set bottleneck

	// passSrc and passDst are the coming pass's CPU seconds beyond its
	// pages' stages (XBZRLE encoding and decoding, see xbzrle.go);
	// extraSrc and extraDst add them up over the run.
	passSrc, passDst   float64
	extraSrc, extraDst float64
}

// newCPUPipeline returns the hook for a run over pages pages split among
// the pipeline's workers in equal contiguous ranges [lo, hi); zero, when
// not nil, is the set of the trace's zero pages, which round 1 sends as
// headers only. With balanced, pages go to whichever worker is free, as
// multifd hands packets to idle channels, and every worker gets an equal
// share of every pass.
func newCPUPipeline(pipe sim.Pipeline, codec Codec, pageSize float64, pages uint64, zero *roaring.Bitmap, balanced bool) *cpuPipeline {
	n := max(pipe.Workers, 1)
	c := &cpuPipeline{pipe: pipe, codec: codec, pageSize: pageSize, pages: pages,
		zero: zero, balanced: balanced,
		shares: make([]float64, n), weight: make([]float64, n)}
	c.plan(nil)
	return c
}

// workerRange returns worker w's pages, [lo, hi).
func (c *cpuPipeline) workerRange(w int) (lo, hi uint64) {
	n := uint64(len(c.shares))
	return c.pages * uint64(w) / n, c.pages * uint64(w+1) / n
}

// plan sets the workers' shares of the next pass from its dirty set; nil
// means all of memory (round 1), shared by each range's non-zero pages.
// Cost: O(pages/64).
func (c *cpuPipeline) plan(set *dirtyLog) {
	if c == nil {
		return
	}
	var zeros uint64
	if c.zero != nil {
		zeros = c.zero.GetCardinality()
	}
	for w := range c.shares {
		lo, hi := c.workerRange(w)
		switch {
		case c.balanced:
			c.shares[w] = 1 / float64(len(c.shares))
			continue
		case set == nil && zeros > 0 && zeros < c.pages:
			c.shares[w] = float64(hi-lo-c.zero.CardinalityInRange(lo, hi)) / float64(c.pages-zeros)
			continue
		case set == nil || set.count == 0:
			c.shares[w] = float64(hi-lo) / float64(c.pages)
			continue
		}
		c.shares[w] = float64(set.countIn(lo, hi)) / float64(set.count)
	}
}

// planExpected is [cpuPipeline.plan] for the fluid engine: the workers'
// shares of the next pass from the expected pages of each range in it,
// in(lo, hi), out of count in all.
func (c *cpuPipeline) planExpected(in func(lo, hi uint64) float64, count float64) {
	if c == nil || c.balanced {
		return
	}
	for w := range c.shares {
		lo, hi := c.workerRange(w)
		if count <= 0 {
			c.shares[w] = float64(hi-lo) / float64(c.pages)
			continue
		}
		c.shares[w] = in(lo, hi) / count
	}
}

// countIn returns how many pages of [lo, hi) are set. Cost: O((hi−lo)/64).
func (d *dirtyLog) countIn(lo, hi uint64) uint64 {
	var n uint64
	for p := lo; p < hi; {
		w := p >> 6
		word := d.words[w]
		if off := p & 63; off != 0 {
			word &= ^uint64(0) << off
		}
		end := (w + 1) << 6
		if end > hi {
			word &= (uint64(1) << (hi & 63)) - 1
			end = hi
		}
		n += uint64(bits.OnesCount64(word))
		p = end
	}
	return n
}

// bound returns the steady CPU bound in full pages per second.
func (c *cpuPipeline) bound() sim.Bound {
	b := c.pipe.Throughput(0, 0)
	if c.extra > 0 && c.extra < b.PagesPerSecond {
		b.PagesPerSecond, b.Bottleneck = c.extra, c.extraName
	}
	return b
}

// cpuSeconds returns how long the CPU stages take over a pass of normal
// full and zero pages: the most loaded worker's share at each worker's
// rate, and the aggregate at the shared (cores, serial) bound.
func (c *cpuPipeline) cpuSeconds(normal, zero uint64) (float64, sim.Bound) {
	b := c.bound()
	n := float64(len(c.shares))
	maxShare := 0.0
	for _, s := range c.shares {
		maxShare = math.Max(maxShare, s)
	}
	perWorker := b.PagesPerSecond / n // each worker's rate under the shared limits
	zeroS := c.pipe.Costs.ZeroSourceSeconds()
	t := maxShare * (float64(normal)/perWorker + float64(zero)*zeroS)
	if c.passSrc > 0 || c.passDst > 0 {
		// Extra work fills its host's idle time first.
		t0 := t
		idleSrc := t0 - maxShare*(float64(normal)*c.pipe.Costs.SourceSeconds()+float64(zero)*zeroS)
		idleDst := t0 - maxShare*float64(normal)*c.pipe.Costs.DestinationSeconds()
		t += max(0, maxShare*c.passSrc-idleSrc, maxShare*c.passDst-idleDst)
	}
	if maxShare > 1.05/n && float64(normal) > 0 {
		b.Bottleneck = "worker_imbalance"
	}
	return t, b
}

// passCap returns the rate cap, bits per second, for a pass of normal and
// zero pages and bytes bytes on the wire, given the run's own cap capBps
// (0: none). Without a CPU pipeline it is capBps.
func (r *precopyRun) passCap(normal, zero uint64, bytes, capBps float64) float64 {
	return r.cpu.passCap(normal, zero, bytes, capBps, func(capBps float64) float64 {
		return r.steadyBps(r.conn.Streams, r.eng.Now(), capBps)
	})
}

// passCap is [precopyRun.passCap] for any engine: link gives the
// streams' steady rate under a cap now. It returns capBps when c is nil.
func (c *cpuPipeline) passCap(normal, zero uint64, bytes, capBps float64, link func(capBps float64) float64) float64 {
	if c == nil || bytes <= 0 {
		return capBps
	}
	t, b := c.cpuSeconds(normal, zero)
	if t <= 0 { // no CPU cost: only the path limits the pass
		if bytes > c.bottleneckLen {
			c.bottleneck, c.bottleneckLen = "link", bytes
		}
		return capBps
	}
	for w, s := range c.shares {
		c.weight[w] += s * bytes
	}
	cpuBps := bytes * 8 / t
	name := b.Bottleneck
	if l := link(capBps); l > 0 && l < cpuBps {
		name = "link"
	}
	if bytes > c.bottleneckLen {
		c.bottleneck, c.bottleneckLen = name, bytes
	}
	if capBps > 0 && capBps < cpuBps {
		return capBps
	}
	return cpuBps
}

// steadyCap is passCap for the stop decision's measured-rate ceiling: a
// stream of full pages.
func (r *precopyRun) steadyCap(capBps float64) float64 { return r.cpu.steadyCap(capBps, r.wireNormal) }

// steadyCap is [precopyRun.steadyCap] for any engine, for full pages of
// wireNormal bytes on the wire; capBps when c is nil.
func (c *cpuPipeline) steadyCap(capBps, wireNormal float64) float64 {
	if c == nil {
		return capBps
	}
	cpuBps := c.bound().PagesPerSecond * wireNormal * 8
	if capBps > 0 && capBps < cpuBps {
		return capBps
	}
	return cpuBps
}

// fill writes the CPU results into res.
func (c *cpuPipeline) fill(res *Result) {
	if c == nil {
		return
	}
	t := c.pipe.Costs
	res.CPUSecondsSource = float64(res.Pages.Normal)*t.SourceSeconds() + float64(res.Pages.Zero)*t.ZeroSourceSeconds()
	res.CPUSecondsDestination = float64(res.Pages.Normal) * t.DestinationSeconds()
	res.CPUSecondsSource += c.extraSrc
	res.CPUSecondsDestination += c.extraDst
	res.Bottleneck = c.bottleneck
	res.CompressionRatio = c.codec.Ratio
	if len(c.weight) > 1 {
		total := 0.0
		for _, w := range c.weight {
			total += w
		}
		pageBytes := float64(res.TransferredBytes)
		if res.Completed {
			pageBytes -= float64(res.DeviceStateBytes)
		}
		res.WorkerBytes = make([]uint64, len(c.weight))
		for i, w := range c.weight {
			if total > 0 {
				res.WorkerBytes[i] = uint64(math.Round(pageBytes * w / total))
			}
		}
	}
}
