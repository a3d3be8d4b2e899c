package models

import (
	"math"
	"testing"

	"github.com/migsim/migsim/units"
)

// QEMU's published multifd compression table (docs/devel/migration/
// qatzip-compression.rst): a 64 GiB guest, idle, with 54 GiB of Silesia
// data, 8 channels over 10 Gbit/s. Total times: none 46.1 s, zstd 20.2 s,
// qatzip 16.6 s. The codec costs are calibrated from the same table's CPU
// columns (see Codecs), so this checks that the model puts them together
// as QEMU does: none and qatzip bound by the link, zstd by the channels'
// cores.
func TestMultifdQatzipTable(t *testing.T) {
	const pages = 64 << 18 // 64 GiB
	const zero = 10 << 18  // the 10 GiB not filled with data
	in := input(pages, 1024, zero, 0, 10*units.Gbit)
	for _, c := range []struct {
		codec      string
		wantS      float64
		bottleneck string
		srcPct     float64 // QEMU's send CPU %, checked where the costs were fitted to it (0: not checked)
	}{
		{"none", 46.063, "link", 0},
		{"zstd", 20.165, "compress", 810},
		{"qatzip-like", 16.630, "link", 160},
	} {
		p := DefaultPrecopyParams()
		p.Multifd.Channels = 8
		p.Multifd.Compression = c.codec
		res := run(t, p, in)
		dev := (res.TotalTimeS - c.wantS) / c.wantS
		t.Logf("%-12s total %.2fs (QEMU %.2fs, %+.1f%%) downtime %.3fs bottleneck %s ratio %.2f cpu src %.0fs dst %.0fs",
			c.codec, res.TotalTimeS, c.wantS, 100*dev, res.DowntimeS, res.Bottleneck, res.CompressionRatio, res.CPUSecondsSource, res.CPUSecondsDestination)
		if math.Abs(dev) > 0.15 {
			t.Errorf("%s: total %.2fs, QEMU %.2fs: off by %.1f%% (> 15%%)", c.codec, res.TotalTimeS, c.wantS, 100*dev)
		}
		if pct := 100 * res.CPUSecondsSource / res.TotalTimeS; c.srcPct > 0 && math.Abs(pct-c.srcPct)/c.srcPct > 0.15 {
			t.Errorf("%s: source CPU %.0f%%, QEMU %.0f%%", c.codec, pct, c.srcPct)
		}
		if res.Bottleneck != c.bottleneck {
			t.Errorf("%s: bottleneck %q, want %q", c.codec, res.Bottleneck, c.bottleneck)
		}
		if len(res.WorkerBytes) != 8 {
			t.Errorf("%s: worker_bytes has %d channels, want 8", c.codec, len(res.WorkerBytes))
		}
	}
}

// Multifd off leaves pre-copy exactly as it was; with one uncompressed
// channel and no CPU limit that binds, only the packet headers differ.
func TestMultifdOffIsPrecopy(t *testing.T) {
	in := input(1<<18, 1<<16, 0, 9000, units.Gbit)
	base := run(t, bareParams(), in)
	if base.Bottleneck != "" || base.CPUSecondsSource != 0 || base.WorkerBytes != nil || base.CompressionRatio != 0 {
		t.Fatalf("multifd off reports CPU results: %+v", base)
	}
	p := bareParams()
	p.Multifd.Channels = 1
	one := run(t, p, in)
	if d := math.Abs(one.TotalTimeS-base.TotalTimeS) / base.TotalTimeS; d > 0.01 {
		t.Errorf("one channel: %.3fs vs pre-copy %.3fs", one.TotalTimeS, base.TotalTimeS)
	}
}

func TestMultifdValidate(t *testing.T) {
	for _, bad := range []func(*Multifd){
		func(m *Multifd) { m.Channels = -1 },
		func(m *Multifd) { m.Compression = "lz4" },
		func(m *Multifd) { m.Compression, m.Level = "zstd", 99 },
		func(m *Multifd) { m.PacketSize = 0 },
		func(m *Multifd) { m.Costs.MapLockedShare = 2 },
	} {
		p := DefaultPrecopyParams()
		bad(&p.Multifd)
		if err := p.Validate(); err == nil {
			t.Errorf("accepted %+v", p.Multifd)
		}
	}
}

// Busy guest vCPUs share the source's cores with the channels: 8 zstd
// channels on 8 cores run at the compress stage's rate alone, and with 8
// busy vCPUs on the same cores they get a fair half, 4 cores, so the
// CPU-bound pass takes twice as long and the cores are the bottleneck.
func TestMultifdVCPUContention(t *testing.T) {
	const pages = 1 << 18
	in := input(pages, 1024, 0, 0, 100*units.Gbit)
	in.VM.VCPUs = 8
	p := bareParams()
	p.Multifd.Channels, p.Multifd.Compression, p.Multifd.SourceCores = 8, "zstd", 8
	alone := run(t, p, in)
	p.Multifd.VCPUBusy = 1
	shared := run(t, p, in)
	ratio := shared.RoundsDetail[0].DurationS / alone.RoundsDetail[0].DurationS
	// Alone, each channel's source stages (scan, compress, send) take
	// 8 cores; shared, 8 × 8 / (8 + 8) = 4.
	if math.Abs(ratio-2) > 0.01 || shared.Bottleneck != "source_cores" {
		t.Errorf("shared cores: round 1 %.3fs vs %.3fs alone (×%.3f, want 2), bottleneck %q (alone %q)",
			shared.RoundsDetail[0].DurationS, alone.RoundsDetail[0].DurationS, ratio, shared.Bottleneck, alone.Bottleneck)
	}
	p.Multifd.VCPUBusy = 1.5
	if err := p.Validate(); err == nil {
		t.Error("accepted vcpu_busy 1.5")
	}
}
