package validate

import (
	"strings"
	"testing"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/units"
)

// needLab skips the test without QEMU or a kernel to boot.
func needLab(t *testing.T) {
	t.Helper()
	if _, err := lab.FindQEMU(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if _, err := lab.FindKernel(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// needRoot skips the test where the lab cannot shape a path.
func needRoot(t *testing.T) {
	t.Helper()
	if err := lab.CheckShaping(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// checkCompared checks the real side of a comparison of a guest with
// traceMemory of trace, its live rounds capped at maxBandwidth: the run
// completed with its figures filled in, no faster than the cap allows
// for the non-zero pages, its whole RAM verified, and its samples and
// epoch reports kept for the achieved trace. (Package lab's tests check
// a run's figures in full.)
func checkCompared(t *testing.T, run *lab.RealRun, traceMemory units.Bytes, maxBandwidth units.BitRate) {
	t.Helper()
	m := run.Metrics
	guestPages := uint64(traceMemory+lab.DefaultGuestOverhead) / 4096
	if m.TotalTimeS <= 0 || m.DowntimeS <= 0 || run.GuestMemoryBytes != guestPages*4096 {
		t.Errorf("metrics %+v of %d bytes of RAM: want positive times over %d pages", m, run.GuestMemoryBytes, guestPages)
	}
	if least := float64(guestPages-run.ZeroPagesAtStart) * 4096 * 8 / float64(maxBandwidth) * 0.9; m.TotalTimeS < least {
		t.Errorf("total time %.2fs is below %.2fs, the time max-bandwidth allows for the non-zero pages", m.TotalTimeS, least)
	}
	if run.PagesCompared != guestPages || !strings.Contains(run.GuestVerify, " bad=0 ") {
		t.Errorf("verification: %d pages compared (want %d), guest said %q", run.PagesCompared, guestPages, run.GuestVerify)
	}
	if n := len(run.Series); n < 2 || run.Series[n-1].Status != "completed" || len(run.Epochs) == 0 {
		t.Errorf("%d query-migrate samples and %d epoch reports, want several of each, the last sample completed", n, len(run.Epochs))
	}
}
