package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// The link probe: what the lab's loopback path carries.
//
// On loopback (no --shaping netns) the live rounds run under QEMU's
// max-bandwidth, but the stop-and-copy pass does not (QEMU lifts the cap
// there), so a case's downtime is set by how fast two QEMUs on this host
// move a pass over loopback: the source's page scan and writes, the
// kernel's loopback TCP, the destination's receive and load, all under
// whatever else the host runs. No scenario can know that rate; it is a
// fact of the lab, as the tbf rate is of a shaped case. So the lab
// measures it, once per suite, with one real migration of the case's
// guest (its generator, if it has one, writing at [ProbeDirtyRate]) whose
// final pass is large and goes to a destination that already holds its
// pages, as a case's final pass does: the live rounds are capped at
// probeLiveRate and the downtime limit is QEMU's least, so that it does
// not converge, until the third dirty sync; then the lab raises the limit
// to a minute and QEMU completes at once with what is left (tens of MiB
// of re-dirtied pages). A pass to a destination that has never seen its
// pages is no measure: on this 2-core TCG machine the first probe, a
// whole guest in one stop-and-copy pass, ran at 0.44 Gbit/s where the
// suite's final passes ran at 6-10.
//
// Every loopback case is then simulated over the rate measured
// (network.bandwidth): the pass's bytes (QEMU's downtime-bytes and the
// device state) over the guest's real downtime (source STOP to
// destination loaded, see precopyDowntime) less the fixed costs the
// model adds to a pass (resume_time, one sync, one RTT), so that the
// model, given the probe's own pass, predicts its downtime.

// LinkProbe is a measurement of the lab's loopback path ([ProbeLink]).
type LinkProbe struct {
	// Bps is the path's rate for a migration pass, bits per second.
	Bps float64 `json:"bps"`
	// Bytes is what the probe's stop-and-copy pass carried: RAM
	// (downtime-bytes) and device state, bytes.
	Bytes uint64 `json:"bytes"`
	// DowntimeS is the probe's real downtime, source STOP to destination
	// loaded, seconds; QEMUDowntimeS QEMU's own figure.
	DowntimeS     float64 `json:"downtime_s"`
	QEMUDowntimeS float64 `json:"qemu_downtime_s"`
}

// The probe's settings (see above).
const (
	// probeLiveRate caps the probe's live rounds, bits per second.
	probeLiveRate = 400 * units.Mbit
	// probeCompleteAfter is the dirty-sync-count after which the lab
	// lets QEMU complete: setup's sync, then two passes.
	probeCompleteAfter = 3
	// probeDowntimeLimit is the downtime limit that lets QEMU complete at
	// its next check: no pass of a lab guest takes this long.
	probeDowntimeLimit = 60 * time.Second
)

// ProbeDirtyRate is the probe guest's page writes per second, when its
// workload is a generator.
const ProbeDirtyRate = 6000

// ProbeWorkingSet is the least working set the probe guest writes over,
// when its workload is a generator: at [ProbeDirtyRate] it re-dirties
// tens of MiB of it during the probe's live passes, which its final pass
// re-sends.
const ProbeWorkingSet = 64 * units.MiB

// ProbeLink measures the loopback path a local unshaped run migrates over
// (see the link-probe notes at the top of linkprobe.go): one real
// pre-copy migration of opts' guest, under the probe's own settings and
// unshaped, whatever opts.Migration and opts.Shaping say. deviceState is
// the guest's device state, bytes, and rtt the path's round trip that
// the simulator adds to a pass.
func ProbeLink(ctx context.Context, opts LocalOptions, deviceState units.Bytes, rtt time.Duration) (*LinkProbe, error) {
	opts.Migration = MigrationParams{DowntimeLimit: time.Millisecond, MaxBandwidth: probeLiveRate, CompleteAfterSyncs: probeCompleteAfter}
	opts.Shaping = ShapingQEMU
	if opts.Log != nil {
		fmt.Fprintln(opts.Log, "link probe: one migration whose final pass re-sends tens of MiB the destination holds")
	}
	real, err := RunLocal(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("link probe: %w", err)
	}
	probe, err := linkRate(real.Metrics, deviceState, rtt)
	if err != nil {
		return nil, err
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "link probe: %v in %.1f ms (STOP to loaded; QEMU's downtime %.1f ms): %v\n",
			units.Bytes(probe.Bytes), probe.DowntimeS*1e3, probe.QEMUDowntimeS*1e3, units.BitRate(probe.Bps))
	}
	return probe, nil
}

// linkRate derives the path's rate from a probe run's figures: the pass's
// bytes over its downtime less the fixed costs the pre-copy model adds to
// a pass over a path of round trip rtt with its default resume and sync
// costs (the probe's scenario runs uncalibrated).
func linkRate(m RealMetrics, deviceState units.Bytes, rtt time.Duration) (*LinkProbe, error) {
	if m.QEMUDowntimeS <= 0 {
		return nil, errors.New("link probe: no STOP and completed MIGRATION events to time the guest's downtime by (QEMU events capability)")
	}
	bytes := m.DowntimeBytes + uint64(deviceState)
	memGiB := float64(m.Pages.Total) * 4096 / float64(units.GiB)
	fixed := models.DefaultResumeTime.Seconds() + models.DefaultSyncTimePerGiB.Seconds()*memGiB + rtt.Seconds()
	move := m.DowntimeS - fixed
	if m.DowntimeBytes == 0 || move <= 0 {
		return nil, fmt.Errorf("link probe: the stop-and-copy pass sent %d bytes in %.1f ms, less than the model's fixed %.1f ms: nothing to measure a rate by", m.DowntimeBytes, m.DowntimeS*1e3, fixed*1e3)
	}
	return &LinkProbe{Bps: float64(bytes) * 8 / move, Bytes: bytes, DowntimeS: m.DowntimeS, QEMUDowntimeS: m.QEMUDowntimeS}, nil
}
