package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Stage is one step in moving a guest page from the source's memory into
// the destination's. Source stages run on the source host's cores,
// destination stages on the destination's.
type Stage int

// Stages in the order a page goes through them.
const (
	// StageScan walks the dirty bitmap to find the page (source).
	StageScan Stage = iota
	// StageMap maps the guest page into the migration process's address
	// space (Xen's foreign mapping, KVM's get_user_pages); under a global
	// address-space lock its critical section serialises workers (source).
	StageMap
	// StageCopy copies the page into a send buffer (source).
	StageCopy
	// StageCompress compresses the page; 0 without compression (source).
	StageCompress
	// StageChecksum checksums the page; 0 when not done (source).
	StageChecksum
	// StageSend is the page's share of the send system calls and the TCP
	// stack (source).
	StageSend
	// StageReceive is the page's share of the receive calls (destination).
	StageReceive
	// StageDecompress decompresses the page; 0 without compression
	// (destination).
	StageDecompress
	// StageInstall writes the page into the guest's memory (destination).
	StageInstall

	numStages
)

var stageNames = [numStages]string{"scan", "map", "copy", "compress", "checksum", "send", "receive", "decompress", "install"}

// String returns the stage's stable name, as in the bottleneck result.
func (s Stage) String() string {
	if s >= 0 && s < numStages {
		return stageNames[s]
	}
	return fmt.Sprintf("stage(%d)", int(s))
}

// Destination reports whether the stage runs on the destination host.
func (s Stage) Destination() bool { return s >= StageReceive }

// Stages returns every stage in page order.
func Stages() []Stage {
	s := make([]Stage, numStages)
	for i := range s {
		s[i] = Stage(i)
	}
	return s
}

// CostTable is the CPU time one core spends on one 4 KiB page in each
// stage. Every field is a duration per page; 0 means the stage is skipped.
// The defaults ([DefaultCosts]) are order-of-magnitude figures for a
// 2010s-2020s x86 server core, each with its source; override them in a
// scenario's model.costs section.
type CostTable struct {
	// Scan is the dirty-bitmap walk per page: one bit of a 64-bit word,
	// find_next_bit over the migration bitmap. Default 2ns (a word per
	// ~100 ps of streaming memory read, plus the loop).
	Scan time.Duration `mapstructure:"scan"`
	// Map is mapping the page into the migration process per page. PMigrate
	// (Song et al., VEE'13, §3-4) measures mmap/munmap of guest memory as
	// the dominant cost once copying is parallel; default 2µs, of which
	// MapLockedShare is spent holding the address-space lock.
	Map time.Duration `mapstructure:"map"`
	// MapLockedShare is the fraction of Map spent inside the per-process
	// address-space lock (mmap_sem), in [0, 1]; default 0.6 (page-table
	// and VMA updates hold it; the rest is TLB shootdown and zeroing).
	MapLockedShare float64 `mapstructure:"map_locked_share"`
	// Copy is one 4 KiB memcpy, default 400ns (about 10 GB/s per core).
	Copy time.Duration `mapstructure:"copy"`
	// Compress is the compression of one page; set from the codec when
	// compression is on. Default 0 (none).
	Compress time.Duration `mapstructure:"compress"`
	// Checksum is a checksum of one page, default 0 (QEMU does none;
	// CRC-32C with SSE4.2 runs at about 20 GB/s, 200ns per page, when on).
	Checksum time.Duration `mapstructure:"checksum"`
	// Send is the page's share of sendmsg and the TCP stack with TSO:
	// default 1µs, from QEMU's qatzip table (docs/devel/migration/
	// qatzip-compression.rst), where uncompressed multifd at 10.8 Gbit/s
	// takes 45 % of a source core, about 1.4µs per page for scan, copy
	// and send together.
	Send time.Duration `mapstructure:"send"`
	// Receive is the page's share of recvmsg on the destination, default
	// 1µs (the same table: 85 % of a core at 10.8 Gbit/s, receive plus
	// install).
	Receive time.Duration `mapstructure:"receive"`
	// Decompress is the decompression of one page; set from the codec
	// when compression is on. Default 0.
	Decompress time.Duration `mapstructure:"decompress"`
	// Install is writing the page into guest memory on the destination,
	// default 1µs (a copy plus the first-touch page fault).
	Install time.Duration `mapstructure:"install"`
	// ZeroPage is the source's cost of detecting a zero page, which is
	// then sent as a header only and skips every later source stage:
	// default 200ns (buffer_is_zero at about 20 GB/s).
	ZeroPage time.Duration `mapstructure:"zero_page"`
	// XbzrleEncode is the source's XBZRLE work on a page that hits the
	// cache, on top of its other stages: copying the page aside, the
	// XOR-and-run-length pass over it and its cached copy, and updating
	// the cache (QEMU migration/xbzrle.c xbzrle_encode_buffer and
	// ram.c save_xbzrle_page: two 4 KiB copies at about 10 GB/s, 0.8µs,
	// and a compare pass over 8 KiB at about 12 GB/s, 0.7µs). Default
	// 1.5µs.
	XbzrleEncode time.Duration `mapstructure:"xbzrle_encode"`
	// XbzrleDecode is the destination's work to apply an XBZRLE delta to
	// a page (xbzrle_decode_buffer: a pass over the short encoding plus
	// the changed bytes into the page), on top of receive. Default 300ns.
	XbzrleDecode time.Duration `mapstructure:"xbzrle_decode"`
}

// DefaultCosts returns the documented default cost table.
func DefaultCosts() CostTable {
	return CostTable{
		Scan:           2 * time.Nanosecond,
		Map:            2 * time.Microsecond,
		MapLockedShare: 0.6,
		Copy:           400 * time.Nanosecond,
		Send:           time.Microsecond,
		Receive:        time.Microsecond,
		Install:        time.Microsecond,
		ZeroPage:       200 * time.Nanosecond,
		XbzrleEncode:   1500 * time.Nanosecond,
		XbzrleDecode:   300 * time.Nanosecond,
	}
}

// Validate checks that no cost is negative and the locked share is a
// fraction.
func (c CostTable) Validate() error {
	var errs []error
	for _, s := range Stages() {
		if c.Of(s) < 0 {
			errs = append(errs, fmt.Errorf("costs.%s %v must not be negative", s, c.Of(s)))
		}
	}
	if c.ZeroPage < 0 {
		errs = append(errs, fmt.Errorf("costs.zero_page %v must not be negative", c.ZeroPage))
	}
	if c.XbzrleEncode < 0 || c.XbzrleDecode < 0 {
		errs = append(errs, fmt.Errorf("costs.xbzrle_encode %v and xbzrle_decode %v must not be negative", c.XbzrleEncode, c.XbzrleDecode))
	}
	if !(c.MapLockedShare >= 0 && c.MapLockedShare <= 1) {
		errs = append(errs, fmt.Errorf("costs.map_locked_share %v must be in [0, 1]", c.MapLockedShare))
	}
	return errors.Join(errs...)
}

// Of returns the per-page cost of stage s.
func (c CostTable) Of(s Stage) time.Duration {
	switch s {
	case StageScan:
		return c.Scan
	case StageMap:
		return c.Map
	case StageCopy:
		return c.Copy
	case StageCompress:
		return c.Compress
	case StageChecksum:
		return c.Checksum
	case StageSend:
		return c.Send
	case StageReceive:
		return c.Receive
	case StageDecompress:
		return c.Decompress
	case StageInstall:
		return c.Install
	}
	return 0
}

// SourceSeconds returns the source CPU seconds one full page costs: the
// sum of the source stages.
func (c CostTable) SourceSeconds() float64 {
	var t time.Duration
	for s := StageScan; s < StageReceive; s++ {
		t += c.Of(s)
	}
	return t.Seconds()
}

// DestinationSeconds returns the destination CPU seconds one full page
// costs: the sum of the destination stages.
func (c CostTable) DestinationSeconds() float64 {
	var t time.Duration
	for s := StageReceive; s < numStages; s++ {
		t += c.Of(s)
	}
	return t.Seconds()
}

// ZeroSourceSeconds returns the source CPU seconds of a zero page: the
// bitmap scan and the zero check.
func (c CostTable) ZeroSourceSeconds() float64 { return (c.Scan + c.ZeroPage).Seconds() }

// LockMode says how workers' map steps share the address-space lock.
type LockMode string

// Lock modes.
const (
	// LockGlobal is Linux's per-process address-space lock (mmap_sem):
	// the locked part of every worker's map step serialises.
	LockGlobal LockMode = "global"
	// LockRange is PMigrate's range lock: workers mapping disjoint ranges
	// proceed in parallel, so no worker waits for another.
	LockRange LockMode = "range"
)

// Validate checks that the mode is known.
func (m LockMode) Validate() error {
	switch m {
	case LockGlobal, LockRange:
		return nil
	}
	return fmt.Errorf("lock %q must be global or range", string(m))
}

// Pipeline describes how a migration moves pages: Workers identical
// workers, each owning a slice of memory, each running the stages of
// [CostTable]; a shared address-space lock; the cores of both hosts.
type Pipeline struct {
	// Costs is the per-page cost of each stage.
	Costs CostTable
	// Workers is the number of parallel workers (data parallelism), at
	// least 1.
	Workers int
	// Overlap runs each worker's stages as a pipeline, a thread per stage
	// (pipeline parallelism): a worker moves a page per slowest stage.
	// Without it one thread runs the stages in turn: a page per sum of
	// stages.
	Overlap bool
	// Lock is how the map step's locked part is shared; "" is global.
	Lock LockMode
	// SourceCores and DestinationCores are the cores available to the
	// migration's threads on each host ([AvailableCores]); 0 means no
	// limit.
	SourceCores, DestinationCores float64
}

// Bound is the steady throughput of a [Pipeline] and what limits it.
type Bound struct {
	// PagesPerSecond is the steady rate of full pages, all workers.
	PagesPerSecond float64
	// Bottleneck names the limit: a stage's name (the slowest stage of
	// each worker), "map_lock" (waiting for the global lock takes longer
	// than any stage), "source_cores", "destination_cores" or "link".
	Bottleneck string
	// WorkerPagesPerSecond is one worker's rate, before the shared limits
	// of cores and link.
	WorkerPagesPerSecond float64
}

// Throughput returns the pipeline's steady rate of full pages over a link
// that carries linkBps bits per second with wireBytesPerPage bytes on the
// wire per page (linkBps 0: no link limit): the least of
//
//   - the workers: Workers / cycle, where a worker's cycle is its slowest
//     stage (Overlap) or the larger of its source and destination stage
//     sums, plus under the global lock the wait for the lock;
//   - the source cores: SourceCores / (sum of source stage costs);
//   - the destination cores: DestinationCores / (sum of destination
//     stage costs);
//   - the link: linkBps / 8 / wireBytesPerPage.
//
// # Lock contention
//
// Let L be the locked part of the map step (Map × MapLockedShare) and Z
// the rest of a worker's cycle (its cycle without the lock, less L). With
// the range lock every worker cycles in Z + L alone, X = N / (Z + L).
// With the global lock the N workers form a closed queueing network: a
// delay station of mean Z and one FIFO lock server of service L, solved
// exactly by mean-value analysis (Reiser and Lavenberg, 1980):
//
//	R(n) = L × (1 + Q(n−1)),  X(n) = n / (Z + R(n)),  Q(n) = X(n) × R(n)
//
// MVA assumes exponential service; with the deterministic L of a lock the
// wait is somewhat shorter, so the model errs on the side of contention.
// X(1) = 1 / (Z + L) for both locks; as N grows the global lock's X
// approaches 1/L while the range lock's grows as N, so the range lock's
// gain is 1 at one worker and grows with workers.
//
// Cost: O(Workers) for the global lock, O(stages) otherwise.
func (p Pipeline) Throughput(linkBps, wireBytesPerPage float64) Bound {
	c := p.Costs
	n := max(p.Workers, 1)
	locked := c.Map.Seconds() * c.MapLockedShare
	slowest, slowStage := 0.0, StageScan
	for _, s := range Stages() {
		if v := c.Of(s).Seconds(); v > slowest {
			slowest, slowStage = v, s
		}
	}
	// Without overlap a source thread and a destination thread each run
	// their host's stages in turn; the two hosts still overlap.
	cycle := math.Max(c.SourceSeconds(), c.DestinationSeconds())
	if p.Overlap {
		cycle = slowest
	} else {
		// The bottleneck is the binding host's thread: name its
		// largest stage.
		dst := c.DestinationSeconds() > c.SourceSeconds()
		top := -1.0
		for _, s := range Stages() {
			if v := c.Of(s).Seconds(); s.Destination() == dst && v > top {
				top, slowStage = v, s
			}
		}
	}
	z := math.Max(cycle-locked, 0)
	var x, r float64
	if p.Lock == LockRange || locked == 0 {
		r = locked
		x = float64(n) / (z + r)
	} else {
		q := 0.0
		for k := 1; k <= n; k++ {
			r = locked * (1 + q)
			x = float64(k) / (z + r)
			q = x * r
		}
	}
	b := Bound{PagesPerSecond: x, Bottleneck: slowStage.String(), WorkerPagesPerSecond: x / float64(n)}
	if wait := r - locked; wait > slowest {
		b.Bottleneck = "map_lock"
	}
	if math.IsInf(x, 1) || x == 0 {
		b.PagesPerSecond, b.WorkerPagesPerSecond = math.Inf(1), math.Inf(1)
	}
	limit := func(rate float64, name string) {
		if rate > 0 && rate < b.PagesPerSecond {
			b.PagesPerSecond, b.Bottleneck = rate, name
		}
	}
	if p.SourceCores > 0 && c.SourceSeconds() > 0 {
		limit(p.SourceCores/c.SourceSeconds(), "source_cores")
	}
	if p.DestinationCores > 0 && c.DestinationSeconds() > 0 {
		limit(p.DestinationCores/c.DestinationSeconds(), "destination_cores")
	}
	if linkBps > 0 && wireBytesPerPage > 0 {
		limit(linkBps/8/wireBytesPerPage, "link")
	}
	return b
}

// AvailableCores returns the cores a host's scheduler gives the
// migration's threads when busyVCPUs guest vCPUs compete for the same
// cores: all the threads want when cores − busyVCPUs covers them,
// otherwise a fair (CFS) share, cores × threads / (threads + busyVCPUs).
// 0 cores means no limit and returns 0.
func AvailableCores(cores, busyVCPUs, threads float64) float64 {
	if cores <= 0 {
		return 0
	}
	if cores-busyVCPUs >= threads {
		return threads
	}
	return cores * threads / (threads + busyVCPUs)
}
