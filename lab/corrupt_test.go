package lab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// TestVerificationCatchesTCGBug migrates a guest whose RAM is a multiple of
// 256 KiB, which QEMU 7.2 under TCG copies with lost dirty pages, and
// checks that the run fails with ErrMemoryMismatch instead of reporting
// figures. QEMU 9.0 and later fix the bug: there the run must succeed.
func TestVerificationCatchesTCGBug(t *testing.T) {
	spec := traces.GeneratorSpec{Kind: traces.GenUniform, DirtyRate: 20000, WorkingSet: 32 * units.MiB,
		ZeroFraction: 0.25, Duration: 10 * time.Second, Epoch: 10 * time.Millisecond}
	img := labImage(t, spec, smallMemory)
	if KVMUsable() {
		t.Skip("skipping: the bug is TCG's, and this machine runs KVM")
	}
	bare := startBareQEMU(t)
	fixed := bare.qmp.Version.Major >= 9
	bare.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	_, err := RunLocal(ctx, LocalOptions{Options: Options{Image: img, TraceMemory: smallMemory, GuestMemory: 256 * units.MiB,
		Migration: precopyMigration(400 * units.Mbit), Log: &log, allowBuggyRAMSize: true}, WorkDir: t.TempDir()})
	t.Log(log.String())
	switch {
	case fixed && err != nil:
		t.Errorf("QEMU %v has the fix, yet the run failed: %v", bare.qmp.Version, err)
	case !fixed && !errors.Is(err, ErrMemoryMismatch):
		t.Errorf("QEMU %v: error %v, want ErrMemoryMismatch", bare.qmp.Version, err)
	default:
		t.Logf("QEMU %v: %v", bare.qmp.Version, err)
	}
}
