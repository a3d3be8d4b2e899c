package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/sweep"
)

// TestDryRunStreamed: the dry run of a sweep too large to hold (issue 20,
// item 7) prints what a held one prints, points, axes and first points,
// with an estimate extrapolated from sample points.
func TestDryRunStreamed(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "s.yaml", `name: s
base:
  vm: {memory: 64MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 1000, working_set: 16MiB, duration: 1s}
grid:
  network.bandwidth: [1Gbit, 2Gbit, 3Gbit, 4Gbit, 5Gbit, 6Gbit, 7Gbit, 8Gbit, 9Gbit, 10Gbit]
  model.downtime_limit: [100ms, 200ms, 300ms]
random:
  n: 4
  keys:
    workload.generator.dirty_rate: {min: 1000, max: 2000}
repeat: 2
`)
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	dry := func(keep int, shard sweep.Shard) string {
		sw, err := sweep.Open(t.Context(), path, sweep.LoadOptions{KeepMax: keep})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		o := &sweepOptions{streams: streams{out: &out, err: &out}, dryRun: true}
		if err := dryRun(cmd, o, sw, sweep.Options{Dir: "out", Workers: 1, Shard: shard}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, shard := range []sweep.Shard{{}, {K: 2, N: 7}} {
		held, streamed := dry(1<<30, shard), dry(0, shard)
		for _, s := range []string{held, streamed} {
			for _, want := range []string{"axis    network.bandwidth (grid): 10 values", "axis    workload.generator.dirty_rate (random): 4 samples", "axis    seed (repeat): 2 values"} {
				if !strings.Contains(s, want) {
					t.Errorf("shard %v: no %q in\n%s", shard, want, s)
				}
			}
		}
		// Everything but the estimate is the same.
		cut := func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if !strings.HasPrefix(l, "estimate") && !strings.HasPrefix(l, "(") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if cut(held) != cut(streamed) {
			t.Errorf("shard %v: held\n%s\nstreamed\n%s", shard, held, streamed)
		}
		if !strings.Contains(streamed, "the estimate is extrapolated from") || strings.Contains(held, "extrapolated") {
			t.Errorf("shard %v: the streamed dry run should say its estimate is extrapolated, the held one not:\n%s\n%s", shard, held, streamed)
		}
	}
}
