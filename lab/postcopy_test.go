package lab

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
	"golang.org/x/sys/unix"
)

// TestPostcopySwitchesOnce checks the switch: migrate-start-postcopy
// once, when QEMU's dirty-sync-count reaches PostcopyAfterSyncs (0: right
// after the migrate command; N+1 after a hybrid's N pre-copy passes, QEMU
// syncing once at setup and once per pass), and max-postcopy-bandwidth in
// bytes per second.
func TestPostcopySwitchesOnce(t *testing.T) {
	for _, want := range []int{0, 2, 3, 4} {
		m := MigrationParams{DowntimeLimit: models.DefaultDowntimeLimit, Postcopy: true, PostcopyAfterSyncs: want, MaxPostcopyBandwidth: 80 * units.Mbit}
		var calls []int
		sw := &postcopySwitch{params: m, logf: func(string, ...any) {}}
		for syncs := range 8 {
			sw.exec = func() error { calls = append(calls, syncs); return nil }
			if err := sw.check(syncs); err != nil {
				t.Fatal(err)
			}
		}
		if len(calls) != 1 || calls[0] != want {
			t.Errorf("switch after %d syncs: migrate-start-postcopy at syncs %v, want once at %d", want, calls, want)
		}
		if got := m.qmpParams()["max-postcopy-bandwidth"]; got != int64(10_000_000) {
			t.Errorf("max-postcopy-bandwidth %v, want 10000000 bytes/s for 80 Mbit", got)
		}
	}
}

// TestPrecopyParamsUnchanged checks that a pre-copy run asks QEMU for
// nothing post-copy or multifd.
func TestPrecopyParamsUnchanged(t *testing.T) {
	m := precopyMigration(0)
	if caps := m.extraCaps(); len(caps) != 0 {
		t.Errorf("pre-copy capabilities %v, want none beyond events", caps)
	}
	for _, k := range []string{"max-postcopy-bandwidth", "multifd-channels", "multifd-compression"} {
		if v, ok := m.qmpParams()[k]; ok {
			t.Errorf("pre-copy sets %s=%v", k, v)
		}
	}
	var sw postcopySwitch
	sw.params = m
	sw.exec = func() error { t.Error("pre-copy called migrate-start-postcopy"); return nil }
	for syncs := range 5 {
		_ = sw.check(syncs)
	}
}

func TestCapabilityErrorExplainsPostcopy(t *testing.T) {
	qe := &QMPError{Command: "migrate-set-capabilities", Class: "GenericError", Desc: "Postcopy is not supported"}
	err := capabilityError("destination", MigrationParams{Postcopy: true}, qe)
	if !errors.Is(err, ErrPostcopyUnsupported) || !strings.Contains(err.Error(), "userfaultfd") || !strings.Contains(err.Error(), "destination") {
		t.Errorf("error %q: want ErrPostcopyUnsupported naming the side and userfaultfd", err)
	}
	other := &QMPError{Command: "migrate-set-capabilities", Class: "GenericError", Desc: "xbzrle is broken"}
	if err := capabilityError("source", MigrationParams{Postcopy: true}, other); errors.Is(err, ErrPostcopyUnsupported) {
		t.Errorf("an unrelated refusal became %v", err)
	}
}

// TestCheckPostcopyRAMBound checks the whole-RAM bound after post-copy: the
// destination may differ in the pages its replayer wrote plus the slack,
// not one more.
func TestCheckPostcopyRAMBound(t *testing.T) {
	reports := []EpochReport{{Wrote: 300, Side: "destination"}, {Wrote: 700, Side: "destination"}}
	limit := uint64(1000 + postcopySlackPages)
	if err := checkPostcopyRAM(50000, limit, reports); err != nil {
		t.Errorf("%d differing pages: %v, want accepted", limit, err)
	}
	if err := checkPostcopyRAM(50000, limit+1, reports); !errors.Is(err, ErrMemoryMismatch) {
		t.Errorf("%d differing pages: %v, want ErrMemoryMismatch", limit+1, err)
	}
}

// shmDir returns a folder under /dev/shm removed after the test: post-copy
// and remote hosts need a tmpfs work dir. It skips the test without
// /dev/shm.
func shmDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "migsim-test-")
	if err != nil {
		t.Skipf("skipping: no tmpfs work dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestPostcopyNeedsTmpfs checks the work-dir check: tmpfs passes, another
// file system fails with ErrPostcopyUnsupported.
func TestPostcopyNeedsTmpfs(t *testing.T) {
	if err := checkPostcopyDir(shmDir(t)); err != nil {
		t.Errorf("/dev/shm: %v, want accepted", err)
	}
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	err := checkPostcopyDir(dir)
	if tmpfs := st.Type == unix.TMPFS_MAGIC; tmpfs != (err == nil) || (!tmpfs && !errors.Is(err, ErrPostcopyUnsupported)) {
		t.Errorf("%s (tmpfs %v): %v", dir, tmpfs, err)
	}
}

// TestRunLocalPostcopy runs real post-copy and hybrid migrations of a guest
// that writes throughout: each completes, the destination's page requests
// are counted, and its memory is verified.
func TestRunLocalPostcopy(t *testing.T) {
	img := labImage(t, smallWorkload, smallMemory)
	guestPages := uint64(smallMemory+DefaultGuestOverhead) / 4096
	hybrid := postcopyMigration(200 * units.Mbit)
	hybrid.PostcopyAfterSyncs = 2 // after one pre-copy pass
	for _, tc := range []struct {
		name string
		mig  MigrationParams
	}{
		{"postcopy", postcopyMigration(200 * units.Mbit)},
		{"hybrid", hybrid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := shmDir(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var log strings.Builder
			run, err := RunLocal(ctx, LocalOptions{Options: Options{Image: img, TraceMemory: smallMemory, Migration: tc.mig, Log: &log,
				MigrationTimeout: 2 * time.Minute}, WorkDir: work})
			t.Log(log.String())
			if err != nil {
				t.Fatal(err)
			}
			checkPostcopyRun(t, run, guestPages)
			m := run.Metrics
			nonZero := float64(guestPages-run.ZeroPagesAtStart) * 4096
			switch tc.name {
			case "postcopy":
				// Post-copy sends every non-zero page after the switch.
				if float64(m.PostcopyBytes) < 0.9*nonZero || m.PrecopyBytes > uint64(0.1*nonZero) {
					t.Errorf("pre-copy %d bytes, post-copy %d: want nearly all of the %.0f non-zero bytes in post-copy", m.PrecopyBytes, m.PostcopyBytes, nonZero)
				}
			case "hybrid":
				// One full pass before the switch, at dirty-sync-count 2.
				if float64(m.PrecopyBytes) < 0.9*nonZero || m.DirtySyncCount < 3 {
					t.Errorf("pre-copy %d bytes over %d syncs: want one pass over the %.0f non-zero bytes, then the switch's sync", m.PrecopyBytes, m.DirtySyncCount, nonZero)
				}
			}
			labtest.CheckNothingLeft(t, work)
		})
	}
}

// checkPostcopyRun checks what a completed post-copy run of a guest that
// writes during post-copy must show: page requests and post-copy bytes,
// positive downtime and stall below the total time, and a verification in
// which every one of guestPages is equal or changed on the destination,
// some changed, and the replayer found nothing bad.
func checkPostcopyRun(t *testing.T, run *RealRun, guestPages uint64) {
	t.Helper()
	m := run.Metrics
	t.Logf("metrics %+v; %d pages changed on the destination", m, run.PagesChanged)
	if m.PostcopyRequests == 0 || m.PostcopyBytes == 0 {
		t.Errorf("postcopy_requests %d, postcopy_bytes %d: want both positive for a guest writing during post-copy", m.PostcopyRequests, m.PostcopyBytes)
	}
	if m.DowntimeS <= 0 || m.StallTimeS <= 0 || m.TotalTimeS <= m.DowntimeS {
		t.Errorf("downtime %.3fs, stall %.3fs, total %.3fs: want positive, and downtime below total", m.DowntimeS, m.StallTimeS, m.TotalTimeS)
	}
	if run.PagesCompared+run.PagesChanged != guestPages || run.PagesChanged == 0 || !strings.Contains(run.GuestVerify, " bad=0 ") {
		t.Errorf("verification: %d equal + %d changed pages (want %d, some changed), guest said %q",
			run.PagesCompared, run.PagesChanged, guestPages, run.GuestVerify)
	}
}
