package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/migsim/migsim/units"
)

// DSB runs (model.balloon.enabled, pre-copy, local): the lab emulates
// dynamic self-ballooning from the host. Both QEMUs get a plain
// virtio-balloon (balloonID) and the guest the replayer's free-page mode
// (migsim.free=1: the trace's free class stays free in the guest kernel).
// Before the migrate command the lab sets the balloon to the guest's RAM
// less efficiency × (MemFree − min_free), MemFree from the replayer's
// ready line, and waits for the guest to reach it. QEMU discards the
// ballooned pages on the source and migrates them as zero pages
// (ram.duplicate): they are not skipped as the model's DSB skips them.
// The target is set once: the lab's traces do not allocate during the
// migration, so a target re-derived every interval would not change.

// balloonID names the DSB balloon device.
const balloonID = "balloon0"

// withBalloon returns a side's QEMU arguments with the DSB balloon and
// migsim.free=1 added.
func withBalloon(args []string) []string {
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if args[i] == "-append" && i+1 < len(args) {
			i++
			out = append(out, args[i]+" migsim.free=1")
		}
	}
	return append(out, "-device", "virtio-balloon-pci,id="+balloonID)
}

// balloonTarget is the balloon's target guest RAM, bytes: mem less
// efficiency × the free memory above minFree.
func balloonTarget(mem units.Bytes, memFreeKB uint64, efficiency float64, minFree units.Bytes) units.Bytes {
	free := units.Bytes(memFreeKB) * units.KiB
	if free <= minFree {
		return mem
	}
	take := units.Bytes(efficiency*float64(free-minFree)) / (4 * units.KiB) * (4 * units.KiB)
	return mem - take
}

// inflate sets the balloon of p to target and waits, up to timeout, until
// the guest has given that much (within 64 KiB); it returns the pages taken (4 KiB).
func inflate(ctx context.Context, p *qemuProc, mem, target units.Bytes, timeout time.Duration) (uint64, error) {
	if err := p.qmp.Execute(ctx, "balloon", map[string]any{"value": int64(target)}, nil); err != nil {
		return 0, fmt.Errorf("balloon: %w", err)
	}
	var got struct {
		Actual int64 `json:"actual"`
	}
	deadline := time.Now().Add(timeout)
	for {
		if err := p.qmp.Execute(ctx, "query-balloon", nil, &got); err != nil {
			return 0, fmt.Errorf("query-balloon: %w", err)
		}
		if got.Actual <= int64(target+64*units.KiB) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if got.Actual > int64(mem) {
		return 0, nil
	}
	return uint64(int64(mem)-got.Actual) / 4096, nil
}
