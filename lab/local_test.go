package lab

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// labImage builds (or takes from the cache) the boot kit for a small
// generated trace, skipping the test when QEMU or a kernel is missing.
func labImage(t *testing.T, spec traces.GeneratorSpec, memory units.Bytes) *Image {
	t.Helper()
	needQEMU(t)
	if _, err := FindKernel(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	src, err := traces.NewGenerator(spec, memory, 4*units.KiB, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.mgt")
	if err := WriteTraceFile(context.Background(), path, src); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := BuildImage(ctx, path, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// smallWorkload is a 96 MiB trace: 5,000 pages/s over a 32 MiB working set.
var smallWorkload = traces.GeneratorSpec{Kind: traces.GenUniform, DirtyRate: 5000,
	WorkingSet: 32 * units.MiB, ZeroFraction: 0.25, Duration: 10 * time.Second, Epoch: 10 * time.Millisecond}

const smallMemory = 96 * units.MiB

// checkRealRun checks what a completed real migration must show: filled
// figures, every page sent, the live rounds held to max-bandwidth, the
// whole RAM verified, and the series and epoch reports kept.
func checkRealRun(t *testing.T, run *RealRun, traceMemory units.Bytes, maxBandwidth units.BitRate) {
	t.Helper()
	m := run.Metrics
	guestPages := uint64(traceMemory+DefaultGuestOverhead) / 4096
	if run.GuestMemoryBytes != guestPages*4096 {
		t.Errorf("guest RAM %d bytes, want %d", run.GuestMemoryBytes, guestPages*4096)
	}
	if m.TotalTimeS <= 0 || m.DowntimeS <= 0 || m.SetupTimeS < 0 || m.Rounds < 2 {
		t.Errorf("metrics %+v: want positive total time and downtime, at least 2 syncs", m)
	}
	// ram.total also counts the firmware's RAM blocks, a few hundred KiB.
	if m.Pages.Total < guestPages || m.Pages.Total > guestPages+1024 || m.Pages.Zero+m.Pages.Normal < guestPages {
		t.Errorf("pages %+v: want total a little above %d and every page sent at least once", m.Pages, guestPages)
	}
	// max-bandwidth caps the live rounds: round 1 alone moves the non-zero
	// pages no faster than it allows.
	nonZero := float64(guestPages-run.ZeroPagesAtStart) * 4096
	if least := nonZero * 8 / float64(maxBandwidth) * 0.9; m.TotalTimeS < least {
		t.Errorf("total time %.2fs is below %.2fs, the time max-bandwidth allows for the non-zero pages", m.TotalTimeS, least)
	}
	if run.PagesCompared != guestPages || !strings.Contains(run.GuestVerify, " bad=0 ") {
		t.Errorf("verification: %d pages compared (want %d), guest said %q", run.PagesCompared, guestPages, run.GuestVerify)
	}
	if len(run.Series) < 2 || len(run.Epochs) == 0 {
		t.Errorf("%d query-migrate samples and %d epoch reports, want several of each", len(run.Series), len(run.Epochs))
	}
	if last := run.Series[len(run.Series)-1]; last.Status != "completed" {
		t.Errorf("last query-migrate sample has status %q, want completed", last.Status)
	}
}

func TestRunLocalRejectsBuggyRAMSize(t *testing.T) {
	needQEMU(t)
	_, err := RunLocal(context.Background(), LocalOptions{Options: Options{Image: &Image{}, TraceMemory: 256 * units.MiB, GuestMemory: 512 * units.MiB}})
	if !errors.Is(err, ErrRAMSize) {
		t.Errorf("512 MiB guest: error %v, want ErrRAMSize", err)
	}
}

// TestRunLocalCancelLeavesNothing cancels a run in the middle of a
// migration that cannot finish soon and checks that no process, socket or
// file is left.
func TestRunLocalCancelLeavesNothing(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := labtest.StartUntilMigrating(t, func(log io.Writer) error {
		// 8 Mbit/s: a minute or more for round 1.
		_, err := RunLocal(ctx, LocalOptions{Options: Options{Image: img, TraceMemory: smallMemory,
			Migration: precopyMigration(8 * units.Mbit), Log: log, Warmup: 200 * time.Millisecond}, WorkDir: work})
		return err
	})
	time.Sleep(time.Second)
	if len(labtest.Processes(t, work)) != 2 {
		t.Errorf("mid-migration: want the 2 QEMU processes running, found %v", labtest.Processes(t, work))
	}
	labtest.CancelAndWait(t, cancel, done, 30*time.Second)
	labtest.CheckNothingLeft(t, work)
}

// precopyMigration is the QEMU settings of the pre-copy model's defaults
// with max-bandwidth bw.
func precopyMigration(bw units.BitRate) MigrationParams {
	return MigrationParams{DowntimeLimit: models.DefaultDowntimeLimit, MaxBandwidth: bw}
}

// postcopyMigration is the QEMU settings of the post-copy model's
// defaults with max-postcopy-bandwidth bw: post-copy right after the
// migrate command, what QEMU sends before it at the same rate.
func postcopyMigration(bw units.BitRate) MigrationParams {
	return MigrationParams{DowntimeLimit: models.DefaultDowntimeLimit, MaxBandwidth: bw, Postcopy: true, MaxPostcopyBandwidth: bw}
}

// A migration that cannot finish within MigrationTimeout (8 Mbit/s: a
// minute or more for round 1, against a 5 s timeout) fails with a verdict
// the user can read, whatever QMP call the deadline interrupts (a QMP
// write's i/o timeout used to surface instead), and leaves nothing
// behind.
func TestRunLocalTimeoutSaysNotComplete(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	work := t.TempDir()
	_, err := RunLocal(context.Background(), LocalOptions{Options: Options{Image: img, TraceMemory: smallMemory,
		Migration: precopyMigration(8 * units.Mbit), Warmup: 200 * time.Millisecond, MigrationTimeout: 5 * time.Second}, WorkDir: work})
	if err == nil || !strings.Contains(err.Error(), "migration did not complete within 5s") {
		t.Errorf("error %v, want one saying the migration did not complete within 5s", err)
	}
	labtest.CheckNothingLeft(t, work)
}
