package lab

import (
	"cmp"
	"strings"
	"time"

	"github.com/migsim/migsim/units"
)

// MigrationParams are the migration settings the lab applies to QEMU with
// migrate-set-capabilities and migrate-set-parameters. They mirror the
// model parameters of the same names (package validate maps a model's
// parts to them).
type MigrationParams struct {
	// DowntimeLimit is QEMU's downtime-limit (whole milliseconds).
	DowntimeLimit time.Duration
	// MaxBandwidth is QEMU's max-bandwidth in bits per second; 0 means
	// unlimited (QEMU's own default is 128 MiB/s: the lab lifts it).
	MaxBandwidth units.BitRate
	// AutoConverge enables the auto-converge capability.
	AutoConverge bool
	// CPUThrottleInitial, CPUThrottleIncrement and MaxCPUThrottle are the
	// auto-converge steps and cap, percent.
	CPUThrottleInitial, CPUThrottleIncrement, MaxCPUThrottle float64
	// ThrottleTriggerThreshold is QEMU's throttle-trigger-threshold, percent.
	ThrottleTriggerThreshold float64
	// CPUThrottleTailslow is QEMU's cpu-throttle-tailslow.
	CPUThrottleTailslow bool

	// Postcopy enables the postcopy-ram capability on both sides (see
	// postcopy.go): the lab calls migrate-start-postcopy once QEMU's
	// dirty-sync-count reaches PostcopyAfterSyncs, and the destination
	// starts the guest itself when the switch comes.
	Postcopy bool
	// PostcopyAfterSyncs is the dirty-sync-count (a count) at which the
	// lab switches to post-copy: 0 right after the migrate command, N+1
	// after N full pre-copy passes (QEMU syncs once at setup).
	PostcopyAfterSyncs int
	// CompleteAfterSyncs, when positive, raises downtime-limit to a
	// minute once dirty-sync-count reaches it, so that QEMU completes at
	// its next check with whatever is still to send: pages the
	// destination already holds (the link probe's warm pass, see
	// linkprobe.go). 0: never.
	CompleteAfterSyncs int
	// MaxPostcopyBandwidth is QEMU's max-postcopy-bandwidth in bits per
	// second; 0 means unlimited (QEMU's default).
	MaxPostcopyBandwidth units.BitRate
	// MultifdChannels enables the multifd capability on both sides with
	// this many channels (QEMU multifd-channels), a count; 0 is off.
	MultifdChannels int
	// MultifdCompression is QEMU's multifd-compression: none, zlib or
	// zstd ("" means none).
	MultifdCompression string
	// MultifdLevel is QEMU's multifd-zlib-level or multifd-zstd-level, an
	// integer; 0 leaves QEMU's default (1).
	MultifdLevel int
	// Xbzrle enables the xbzrle capability on the source with a cache of
	// XbzrleCacheSize bytes (QEMU xbzrle-cache-size).
	Xbzrle          bool
	XbzrleCacheSize units.Bytes
	// PostcopyPreempt enables QEMU's postcopy-preempt capability on both
	// sides (QEMU 7.1+): requested pages get their own channel.
	PostcopyPreempt bool
	// FreePageHint gives both sides a virtio-balloon with free-page-hint
	// and the guest the replayer's free-page mode (see freehint.go);
	// pre-copy only, local hosts only.
	FreePageHint bool
	// Balloon emulates the model's DSB from the host (see balloon.go):
	// the balloon is set, before the migration, to the guest's RAM less
	// BalloonEfficiency (a fraction) × its free memory above
	// BalloonMinFree (bytes). Pre-copy only, local hosts only.
	Balloon           bool
	BalloonEfficiency float64
	BalloonMinFree    units.Bytes
}

// unlimitedBandwidth is the max-bandwidth, bytes/s, the lab sets for "no
// limit" (QEMU takes 0 as its 128 MiB/s default).
const unlimitedBandwidth = 1 << 50

// qmpParams returns the arguments of migrate-set-parameters.
func (p MigrationParams) qmpParams() map[string]any {
	bw := int64(unlimitedBandwidth)
	if p.MaxBandwidth > 0 {
		bw = int64(float64(p.MaxBandwidth) / 8)
	}
	m := map[string]any{
		"downtime-limit": max(p.DowntimeLimit.Milliseconds(), 1),
		"max-bandwidth":  bw,
	}
	if p.Postcopy && p.MaxPostcopyBandwidth > 0 {
		m["max-postcopy-bandwidth"] = int64(float64(p.MaxPostcopyBandwidth) / 8)
	}
	if p.MultifdChannels > 0 {
		m["multifd-channels"] = p.MultifdChannels
		m["multifd-compression"] = cmp.Or(p.MultifdCompression, "none")
		if c := p.MultifdCompression; p.MultifdLevel > 0 && (c == "zlib" || c == "zstd") {
			m["multifd-"+c+"-level"] = p.MultifdLevel
		}
	}
	if p.Xbzrle {
		m["xbzrle-cache-size"] = int64(p.XbzrleCacheSize)
	}
	if p.AutoConverge {
		m["cpu-throttle-initial"] = int(p.CPUThrottleInitial)
		m["cpu-throttle-increment"] = int(p.CPUThrottleIncrement)
		m["max-cpu-throttle"] = int(p.MaxCPUThrottle)
		m["throttle-trigger-threshold"] = int(p.ThrottleTriggerThreshold)
		m["cpu-throttle-tailslow"] = p.CPUThrottleTailslow
	}
	return m
}

// extraCaps returns the capabilities beyond events and auto-converge.
func (p MigrationParams) extraCaps() []map[string]any {
	on := func(name string) map[string]any { return map[string]any{"capability": name, "state": true} }
	var c []map[string]any
	if p.Postcopy {
		c = append(c, on("postcopy-ram"), on("postcopy-blocktime"))
	}
	if p.Postcopy && p.PostcopyPreempt {
		c = append(c, on("postcopy-preempt"))
	}
	if p.MultifdChannels > 0 {
		c = append(c, on("multifd"))
	}
	if p.Xbzrle {
		c = append(c, on("xbzrle"))
	}
	return c
}

// destinationParams returns the migrate-set-parameters arguments the
// destination needs too: multifd's channel count and compression, which
// must match the source's.
func (p MigrationParams) destinationParams() map[string]any {
	m := map[string]any{}
	for k, v := range p.qmpParams() {
		if strings.HasPrefix(k, "multifd-") {
			m[k] = v
		}
	}
	return m
}
