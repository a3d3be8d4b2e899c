package models

import (
	"math"

	"github.com/migsim/migsim/sim"
)

// The post-copy phase's streams and CPU (issue 6): multifd channels for
// the background push, and the CPU model of the threads that move pages.
//
// # Semantics
//
//   - model.multifd.channels > 0 pushes the missing pages over that many
//     channels, each its own TCP stream ([sim.Path.SteadyBps] with that
//     many streams), in packets of packet_size with a packet_header each.
//     Over a long, window- or loss-limited path this multiplies the push
//     rate up to the link, as it does for pre-copy. Page requests do not
//     queue behind the push: the source answers them on its main (QEMU:
//     preempt) channel, so a faulting page arrives one RTT + its transfer
//     on one stream + fault_service_time after the fault, as without
//     multifd. The requested page still shares the link's capacity, so the
//     push's end is all pages over the aggregate rate. Compression is not
//     modelled on this path (QEMU's post-copy sends plain pages) and must
//     be none.
//   - With multifd the channels' CPU model applies ([Multifd]: channels
//     workers, each moving a page per max(source, destination stage
//     sum)); with cpu_bound and one stream, one migration thread per host
//     ([Precopy]'s cpu_bound). The push runs at the least of the streams'
//     rate and the CPU's; bottleneck names what bound it.
//
// # Known differences from QEMU
//
// QEMU (10.0 and later) accepts multifd together with postcopy-ram, but
// its channels carry the pre-copy phase; after the switch, pages go over
// the main and preempt channels. The push over channels modelled here is
// what a multi-stream post-copy would gain, and an upper bound for QEMU's.
type postcopyStream struct {
	channels     int     // multifd channels of the push; 0: the single stream
	packetHeader float64 // packet header bytes per page on the channels
	cpu          *sim.Pipeline
	ratio        float64 // compression ratio reported with a CPU model
}

// stream returns the post-copy stream settings of multifd m and the
// single-stream CPU switch, validated by the parameters' Validate.
func postcopyStreamOf(m Multifd, cpuBound bool, costs Costs) postcopyStream {
	var s postcopyStream
	if m.Channels > 0 {
		s.channels = m.Channels
		s.packetHeader = float64(m.PacketHeader) / max(float64(m.PacketSize)/4096, 1)
		s.cpu = &sim.Pipeline{Costs: m.Costs.table(Codec{Name: "none", Ratio: 1}), Workers: m.Channels, Lock: sim.LockRange,
			SourceCores: m.SourceCores, DestinationCores: m.DestinationCores}
	} else if cpuBound {
		s.cpu = &sim.Pipeline{Costs: costs.table(Codec{Name: "none", Ratio: 1}), Workers: 1, Lock: sim.LockRange}
	}
	s.ratio = 1
	return s
}

// validatePostcopyMultifd checks what post-copy adds to the multifd
// section's own checks: its channels carry plain pages.
func validatePostcopyMultifd(m Multifd) error {
	var c checks
	c.check(m.Channels <= 0 || m.Compression == "" || m.Compression == "none", "model.multifd.compression",
		"%q: post-copy sends plain pages; only none is modelled", m.Compression)
	return c.err()
}

// useStream applies the stream settings to the run's push: called by
// newPostcopyRun once the single stream's rate is set, it keeps that
// stream's page times for requests and sets the push's rate.
func (r *postcopyRun) useStream() {
	s := r.cfg.stream
	r.tauReqNormal, r.tauReqZero = r.tauNormal, r.tauZero
	if s.channels == 0 && s.cpu == nil {
		return
	}
	rate := r.rateBps
	if s.channels > 0 {
		r.preempt = true
		r.wireNormal += s.packetHeader
		r.wireZero += s.packetHeader
		// At now, as the single stream's rate: a hybrid switches late,
		// and a bandwidth schedule may have changed the link since 0.
		rate = r.path(s.channels).SteadyBps(s.channels, r.eng.Now(), r.cfg.capBps)
	}
	rate, r.bottleneck = s.pushRate(rate, r.wireNormal)
	if s.channels == 0 { // one stream: requests take the push's page times
		r.tauReqNormal = r.wireNormal * 8e9 / rate
		r.tauReqZero = r.wireZero * 8e9 / rate
	}
	r.rateBps = rate
	r.tauNormal = r.wireNormal * 8e9 / rate
	r.tauZero = r.wireZero * 8e9 / rate
}

// pushRate returns the push's rate, bits/s, over streams that carry
// streamsBps, pages taking wireNormal bytes on the wire: the least of
// that and the CPU model's rate, and what bound it ("link" or the CPU's
// stage; "" without a CPU model). Either engine's push, at its start and
// at each change of the streams' rate.
func (s postcopyStream) pushRate(streamsBps, wireNormal float64) (float64, string) {
	if s.cpu == nil {
		return streamsBps, ""
	}
	b := s.cpu.Throughput(0, 0)
	if cpuBps := b.PagesPerSecond * wireNormal * 8; cpuBps < streamsBps {
		return cpuBps, b.Bottleneck
	}
	return streamsBps, "link"
}

// requestArrival returns when requested page p, which the source took at
// req (ns) and whose link time ends at linkEnd (ns), arrives: on the
// preempt channel with multifd, behind the push's current page otherwise.
func (r *postcopyRun) requestArrival(p uint32, req, linkEnd float64) float64 {
	if !r.preempt {
		return linkEnd + r.oneWay
	}
	tau := r.tauReqNormal
	if r.zero != nil && r.zero.Test(uint(p)) {
		tau = r.tauReqZero
	}
	return req + tau + r.oneWay
}

// fillStream writes the CPU model's results for the post-copy phase's
// pages into res.
func (r *postcopyRun) fillStream(res *Result) {
	r.cfg.stream.fill(res, float64(r.normal), float64(r.zeroSent), r.wireNormal, r.wireZero, r.bottleneck)
}

// fill writes the CPU model's results for a post-copy phase that sent
// normal full pages and zero zero-page headers, wireNormal and wireZero
// bytes each on the wire, the push bound by bottleneck, into res: CPU
// seconds, the bottleneck (when the phase sent more than the largest of
// a hybrid's pre-copy passes), the compression ratio and the channels'
// bytes. On either engine (counts are expectations on the fluid one).
func (s postcopyStream) fill(res *Result, normal, zero, wireNormal, wireZero float64, bottleneck string) {
	if s.cpu == nil {
		return
	}
	c := s.cpu.Costs
	res.CPUSecondsSource += normal*c.SourceSeconds() + zero*c.ZeroSourceSeconds()
	res.CPUSecondsDestination += normal * c.DestinationSeconds()
	post := normal*wireNormal + zero*wireZero
	largest := 0.0 // a hybrid's largest pre-copy pass
	for _, rd := range res.RoundsDetail {
		if !rd.Postcopy {
			largest = max(largest, float64(rd.Bytes))
		}
	}
	if res.Bottleneck == "" || post >= largest {
		res.Bottleneck = bottleneck
	}
	if res.CompressionRatio == 0 {
		res.CompressionRatio = s.ratio
	}
	if s.channels > 1 {
		if len(res.WorkerBytes) != s.channels {
			res.WorkerBytes = make([]uint64, s.channels)
		}
		for i := range res.WorkerBytes {
			res.WorkerBytes[i] += uint64(math.Round(post / float64(s.channels)))
		}
	}
}

// fillHandoverCPU writes the CPU results of a hybrid's pre-copy rounds
// into res when it switches to post-copy; the post-copy phase adds its
// own ([postcopyRun.fillStream]).
func (r *precopyRun) fillHandoverCPU(res *Result) {
	if r.cpu == nil {
		return
	}
	pages := res.Pages
	res.Pages = PageCounts{Normal: r.normalPages, Zero: r.zeroPages}
	res.TransferredBytes = uint64(math.Round(r.transferred))
	res.Completed = false // device state is not page data
	r.cpu.fill(res)
	res.Pages = pages
}
