package lab

import (
	"math"
	"testing"
	"time"

	"github.com/migsim/migsim/models"
)

// TestLinkRate checks the probe's arithmetic: the model, given the probe
// pass's bytes and the rate derived from it, predicts the probe's
// downtime.
func TestLinkRate(t *testing.T) {
	m := RealMetrics{DowntimeS: 0.120, QEMUDowntimeS: 0.090, DowntimeBytes: 100 << 20, Pages: models.PageCounts{Total: 65538}}
	probe, err := linkRate(m, 256<<10, 50*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	memGiB := 65538 * 4096.0 / (1 << 30)
	pred := float64(probe.Bytes)*8/probe.Bps + models.DefaultResumeTime.Seconds() + models.DefaultSyncTimePerGiB.Seconds()*memGiB + 50e-6
	if math.Abs(pred-m.DowntimeS) > 1e-12 || probe.Bytes != 100<<20+256<<10 {
		t.Errorf("rate %v bit/s over %d bytes predicts %v s, want %v s", probe.Bps, probe.Bytes, pred, m.DowntimeS)
	}
	for _, bad := range []RealMetrics{
		{DowntimeS: 0.1, DowntimeBytes: 1 << 20},                      // no events: no guest downtime
		{DowntimeS: 0.004, QEMUDowntimeS: 0.003, DowntimeBytes: 1000}, // shorter than the fixed costs
		{DowntimeS: 0.2, QEMUDowntimeS: 0.1},                          // nothing sent
	} {
		if _, err := linkRate(bad, 0, 0); err == nil {
			t.Errorf("linkRate(%+v) gave no error", bad)
		}
	}
}
