package models

import (
	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Multifd is pre-copy's model.multifd section: QEMU's multiple-fd
// migration (reference: QEMU migration/multifd.c, multifd-zlib.c,
// multifd-zstd.c, multifd-qatzip.c; docs/devel/migration/
// qatzip-compression.rst). It is off when Channels is 0.
//
// # Semantics
//
//   - Channels send threads, each with its own TCP stream over the path
//     ([sim.Path.Send] with Channels streams), each receiving into guest
//     memory on its own thread on the destination. The main channel walks
//     the dirty bitmap (one thread: at most 1/costs.scan pages per second)
//     and does the syncs (sync_time_per_gib, as without multifd).
//   - Pages travel in packets of packet_size bytes of pages (QEMU: 128
//     pages of 4 KiB, 512 KiB), each with a packet_header and, per page,
//     an 8-byte offset (page_header); a zero page is its offset only.
//   - A channel thread compresses then sends each page, a destination
//     thread receives, decompresses and installs it: a channel moves a
//     page per max(source stage sum, destination stage sum) of the cost
//     table ([sim.Pipeline] without overlap). Guest memory is mapped once,
//     so map and copy cost nothing by default.
//   - A pass takes the longer of its CPU time (the busiest channel's
//     pages) and its time on the streams. CPU seconds, the bottleneck and
//     per-channel bytes are reported.
type Multifd struct {
	// Channels is the number of multifd send channels, each its own TCP
	// stream, a count; 0 turns multifd off (QEMU multifd-channels, whose
	// default is 2 when the capability is on).
	Channels int `mapstructure:"channels"`
	// Compression is the channels' compressor: none, zlib, zstd or
	// qatzip-like (QEMU multifd-compression; qatzip-like offloads to an
	// accelerator and costs the host little).
	Compression string `mapstructure:"compression"`
	// Level is the compression level, an integer; 0 means 1 (QEMU
	// multifd-zlib-level, multifd-zstd-level, multifd-qatzip-level).
	Level int `mapstructure:"level"`
	// Ratio overrides the codec's raw-to-compressed ratio, a number; 0
	// uses the codec's (2.7 at level 1, Silesia-like data).
	Ratio float64 `mapstructure:"ratio"`
	// PacketSize is the page data per packet before compression, bytes
	// (QEMU: 128 pages, 512KiB).
	PacketSize units.Bytes `mapstructure:"packet_size"`
	// PacketHeader is each packet's header, bytes (QEMU's MultiFDPacket_t
	// with its 256-byte ramblock name: about 320).
	PacketHeader units.Bytes `mapstructure:"packet_header"`
	// SourceCores is the source host's cores available to the channels, a
	// number; 0 means no limit. With vcpu_busy above 0 it is the host's
	// cores, shared with the guest's busy vCPUs.
	SourceCores float64 `mapstructure:"source_cores"`
	// VCPUBusy is the share of each guest vCPU that is busy on the source
	// and competes with the channel threads for source_cores, a fraction
	// in [0, 1] (default 0: source_cores are the channels' own). When the
	// host is oversubscribed the channels get a fair share,
	// [sim.AvailableCores]. Pre-copy only: after a post-copy switch the
	// guest runs on the destination.
	VCPUBusy float64 `mapstructure:"vcpu_busy"`
	// DestinationCores is the destination host's cores available to the
	// receive threads, a number; 0 means no limit.
	DestinationCores float64 `mapstructure:"destination_cores"`
	// Costs is the per-page CPU cost of each stage (see [Costs]); map and
	// copy default to 0 since QEMU maps guest memory once and sends from
	// it.
	Costs Costs `mapstructure:"costs"`
}

// DefaultMultifd returns multifd off with QEMU's packet layout and the
// default costs.
func DefaultMultifd() Multifd {
	c := DefaultCosts()
	c.Map, c.Copy = 0, 0
	return Multifd{
		Compression:  "none",
		PacketSize:   DefaultMultifdPacketSize,
		PacketHeader: DefaultMultifdPacketHeader,
		Costs:        c,
	}
}

// Defaults of the multifd section: QEMU's packet layout.
const (
	// DefaultMultifdPacketSize is the page data of a packet: 128 pages
	// of 4 KiB.
	DefaultMultifdPacketSize = 512 * units.KiB
	// DefaultMultifdPacketHeader is a packet's header: MultiFDPacket_t
	// with its 256-byte ramblock name.
	DefaultMultifdPacketHeader units.Bytes = 320
)

// Validate checks the section, one [FieldError] per bad key.
func (m *Multifd) Validate() error {
	var c checks
	c.check(m.Channels >= 0, "model.multifd.channels", "%d must not be negative", m.Channels)
	if _, err := codecAt(m.Compression, m.Level, m.Ratio); err != nil {
		c.add(&FieldError{Key: compressionKey("model.multifd.", "compression", err), Err: err})
	}
	c.check(m.Ratio >= 0, "model.multifd.ratio", "%v must not be negative", m.Ratio)
	c.check(m.PacketSize > 0, "model.multifd.packet_size", "%v must be positive", m.PacketSize)
	c.check(m.PacketHeader >= 0, "model.multifd.packet_header", "%v must not be negative", m.PacketHeader)
	c.check(m.VCPUBusy >= 0 && m.VCPUBusy <= 1, "model.multifd.vcpu_busy", "%v must be in [0, 1]", m.VCPUBusy)
	c.check(m.SourceCores >= 0, "model.multifd.source_cores", "%v must not be negative", m.SourceCores)
	c.check(m.DestinationCores >= 0, "model.multifd.destination_cores", "%v must not be negative", m.DestinationCores)
	c.add(validateCosts("model.multifd.costs", m.Costs))
	return c.err()
}

// useMultifd turns the run into a multifd migration when m.Channels > 0.
// m has been validated.
func (r *precopyRun) useMultifd(m Multifd) {
	if m.Channels <= 0 {
		return
	}
	r.wireNormal, r.wireZero, r.cpu = m.pipeline(float64(r.g.hdr.PageSize), float64(r.p.PageHeader), r.in.VM.VCPUs, r.pages, r.g.hdr.Zero)
	r.conn = r.in.Path.Open(m.Channels)
}

// pipeline returns the wire bytes of a full and of a zero page and the
// channels' CPU pipeline for a guest of pages pages of pageSize bytes
// (zero: its zero pages, may be nil) and vcpus vCPUs; every engine's
// multifd runs on it. m has been validated and has channels.
func (m Multifd) pipeline(pageSize, pageHeader float64, vcpus int, pages uint64, zero *roaring.Bitmap) (wireNormal, wireZero float64, cpu *cpuPipeline) {
	codec, err := codecAt(m.Compression, m.Level, m.Ratio)
	if err != nil {
		panic("multifd: unvalidated parameters: " + err.Error())
	}
	perPacket := max(float64(m.PacketSize)/pageSize, 1)
	hdr := float64(m.PacketHeader) / perPacket
	wireNormal = pageSize/codec.Ratio + pageHeader + hdr
	wireZero = pageHeader + hdr
	pipe := sim.Pipeline{
		Costs: m.Costs.table(codec), Workers: m.Channels, Lock: sim.LockRange,
		SourceCores:      sim.AvailableCores(m.SourceCores, float64(vcpus)*m.VCPUBusy, float64(m.Channels)),
		DestinationCores: m.DestinationCores,
	}
	cpu = newCPUPipeline(pipe, codec, pageSize, pages, zero, true)
	if m.Costs.Scan > 0 {
		cpu.extra, cpu.extraName = 1/m.Costs.Scan.Seconds(), "scan"
	}
	return wireNormal, wireZero, cpu
}
