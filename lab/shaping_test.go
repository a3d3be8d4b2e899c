package lab

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/units"
)

// TestRunLocalShapedCancelLeavesNothing cancels a shaped run in the middle
// of a migration held to 8 Mbit/s and checks that no QEMU process, file or
// network namespace of the run is left.
func TestRunLocalShapedCancelLeavesNothing(t *testing.T) {
	needRoot(t)
	img := labImage(t, smallWorkload, smallMemory)
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := labtest.StartUntilMigrating(t, func(log io.Writer) error {
		_, err := RunLocal(ctx, LocalOptions{Options: Options{Image: img, TraceMemory: smallMemory,
			Migration: precopyMigration(0), Log: log, Warmup: 200 * time.Millisecond}, WorkDir: work,
			Shaping: ShapingNetns, Network: NetShape{Bandwidth: 8 * units.Mbit, RTT: 20 * time.Millisecond, Window: 3 * units.MiB}})
		return err
	})
	time.Sleep(time.Second)
	if ps := labtest.Processes(t, work); len(ps) != 2 {
		t.Errorf("mid-migration: want the 2 QEMU processes running, found %v", ps)
	}
	if ns := OwnNamespaces(); len(ns) != 2 {
		t.Errorf("mid-migration: want the run's 2 namespaces, found %v", ns)
	}
	labtest.CancelAndWait(t, cancel, done, 30*time.Second)
	labtest.CheckNothingLeft(t, work)
	if ns := OwnNamespaces(); len(ns) > 0 {
		t.Errorf("namespaces left after cancel: %v", ns)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if own := "migsim-" + strconv.Itoa(os.Getpid()) + "-"; strings.Contains(string(out), own) {
		t.Errorf("ip netns list still shows this run's namespaces:\n%s", out)
	}
}
