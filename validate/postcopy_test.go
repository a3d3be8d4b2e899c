package validate

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// TestHybridSwitchesAfterItsRounds checks the switch point: QEMU syncs once
// at setup and once per pass, so N pre-copy rounds end at dirty-sync-count
// N+1; 0 rounds and pure post-copy switch right after the migrate command.
func TestHybridSwitchesAfterItsRounds(t *testing.T) {
	for rounds := range 4 {
		p := models.DefaultHybridParams()
		p.PrecopyRounds = rounds
		p.MaxPostcopyBandwidth = 80 * units.Mbit
		m := migParamsOf(t, p)
		want := rounds + 1
		if rounds == 0 {
			want = 0
		}
		if !m.Postcopy || m.PostcopyAfterSyncs != want {
			t.Errorf("precopy_rounds %d: postcopy %v after %d syncs, want after %d", rounds, m.Postcopy, m.PostcopyAfterSyncs, want)
		}
		var calls []int
		sw := &postcopySwitch{params: m, logf: func(string, ...any) {}}
		for syncs := range 8 {
			sw.exec = func() error { calls = append(calls, syncs); return nil }
			if err := sw.check(syncs); err != nil {
				t.Fatal(err)
			}
		}
		if len(calls) != 1 || calls[0] != want {
			t.Errorf("precopy_rounds %d: migrate-start-postcopy at syncs %v, want once at %d", rounds, calls, want)
		}
		if got := m.qmpParams()["max-postcopy-bandwidth"]; got != int64(10_000_000) {
			t.Errorf("max-postcopy-bandwidth %v, want 10000000 bytes/s for 80 Mbit", got)
		}
	}
	pc := models.DefaultPostcopyParams()
	if m := migParamsOf(t, pc); !m.Postcopy || m.PostcopyAfterSyncs != 0 {
		t.Errorf("post-copy: %+v, want post-copy right after migrate", m)
	}
}

// TestPrecopyParamsUnchanged checks that a pre-copy run asks QEMU for
// nothing post-copy or multifd.
func TestPrecopyParamsUnchanged(t *testing.T) {
	m := migParamsOf(t, models.DefaultPrecopyParams())
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

// TestSummariseMixedModels checks that a suite mixing pre-copy and
// post-copy cases summarises each metric over the cases that have it.
func TestSummariseMixedModels(t *testing.T) {
	pre := &Comparison{Scenario: "pre", Model: "precopy", Metrics: compareMetrics(RealMetrics{TotalTimeS: 10}, &models.Result{TotalTimeS: 11})}
	post := &Comparison{Scenario: "post", Model: "postcopy", Metrics: append(
		compareMetrics(RealMetrics{TotalTimeS: 10}, &models.Result{TotalTimeS: 13}),
		comparePostcopy(RealMetrics{PostcopyRequests: 100}, &models.Result{PostcopyRequests: 150})...)}
	sum := summarise([]*Comparison{pre, post})
	if len(sum) != len(post.Metrics) {
		t.Fatalf("%d summary rows, want %d", len(sum), len(post.Metrics))
	}
	for _, s := range sum {
		switch s.Name {
		case "total_time_s":
			if math.Abs(s.MedianAbsErr-0.2) > 1e-12 || math.Abs(s.WorstAbsErr-0.3) > 1e-12 || s.Worst != "post" {
				t.Errorf("total_time_s summary %+v, want median 0.2, worst 0.3 in post", s)
			}
		case "postcopy_requests":
			if math.Abs(s.MedianAbsErr-0.5) > 1e-12 || s.Worst != "post" {
				t.Errorf("postcopy_requests summary %+v, want median 0.5 over the post-copy case only", s)
			}
		}
	}
}

// TestBuildAchievedPostcopyAtOnce checks the achieved trace of a post-copy
// run that switched before the source reported any epoch: the pace comes
// from the warm-up, nothing lands before the migrate command, and the
// destination's writes count in the achieved rate.
func TestBuildAchievedPostcopyAtOnce(t *testing.T) {
	const pages = 256
	orig := &memTrace{hdr: traces.Header{PageSize: 4096, PageCount: pages, Epoch: 10 * time.Millisecond}}
	for i := range 10 {
		w := roaring.New()
		w.AddRange(uint64(i*10), uint64(i*10+5))
		orig.epochs = append(orig.epochs, memEpoch{written: w, read: roaring.New()})
	}
	run := &RealRun{GuestMemoryBytes: 2 * pages * 4096, Metrics: RealMetrics{TotalTimeS: 2, PostcopyBytes: 1 << 20}}
	// Warm-up: 50 epochs over the second before the migrate command, one
	// every 20 ms (half the trace's pace); then the destination's.
	for i := range 50 {
		run.Epochs = append(run.Epochs, EpochReport{Index: uint64(i), Wrote: 5, At: -1 + float64(i)*0.02, Side: "source"})
	}
	for i := range 10 {
		run.Epochs = append(run.Epochs, EpochReport{Index: uint64(50 + i), Wrote: 5, At: 1 + float64(i)*0.1, Side: "destination"})
	}
	a, err := buildAchieved(orig, run, models.AtEndLoop, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if a.Epochs != 0 {
		t.Errorf("%d source epochs during the migration, want 0", a.Epochs)
	}
	if want := 50.0 / 2; math.Abs(a.DirtyRate-want) > 1e-9 {
		t.Errorf("achieved rate %v pages/s, want %v (the destination's writes over 2 s)", a.DirtyRate, want)
	}
	// 4 s at one epoch per 20 ms from t=-0.02: about 200 trace epochs,
	// each in its own 10 ms slot, none before t=0.
	var filled int
	for _, e := range a.trace.epochs {
		if e.written.GetCardinality() > 0 {
			filled++
		}
	}
	if filled < 195 || filled > 201 {
		t.Errorf("%d epochs with writes in 4 s, want about 200 at the warm-up's pace", filled)
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
	pc := models.DefaultPostcopyParams()
	pc.MaxPostcopyBandwidth = 200 * units.Mbit
	hy := models.DefaultHybridParams()
	hy.PrecopyRounds = 1
	hy.MaxBandwidth = 200 * units.Mbit
	hy.MaxPostcopyBandwidth = 200 * units.Mbit
	for _, tc := range []struct {
		name string
		mig  MigrationParams
	}{
		{"postcopy", migParamsOf(t, pc)},
		{"hybrid", migParamsOf(t, hy)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := shmDir(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var log strings.Builder
			run, err := RunLocal(ctx, LocalOptions{Image: img, TraceMemory: smallMemory, Migration: tc.mig, WorkDir: work, Log: &log,
				MigrationTimeout: 2 * time.Minute})
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
			checkNothingLeft(t, work)
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
