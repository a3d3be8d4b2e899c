package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// drainFleet writes a fleet of vms VMs, mixed 4-32 GiB with hotcold,
// zipf and idle workloads, spread over hosts source hosts that drain to
// as many destinations, at most conc migrations at once over lan-25g.
func drainFleet(tb testing.TB, vms, hosts, conc int) *Spec {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name: drain-%d\nseed: 1\nnetwork: {profile: lan-25g}\nplan: {max_concurrent: %d}\nhosts:\n", vms, conc)
	for h := range hosts {
		fmt.Fprintf(&b, "  - {name: s%d, nic: 25Gbit}\n  - {name: d%d, nic: 25Gbit}\n", h, h)
	}
	b.WriteString("vms:\n")
	sizes := []int{4, 8, 16, 32}
	kinds := []string{
		"{kind: hotcold, dirty_rate: 20000, working_set: %dGiB, duration: 120s}",
		"{kind: zipf, dirty_rate: 40000, working_set: %dGiB, duration: 120s}",
		"{kind: idle}",
	}
	for i := range vms {
		gib := sizes[i%len(sizes)]
		gen := kinds[i%len(kinds)]
		if strings.Contains(gen, "%d") {
			gen = fmt.Sprintf(gen, max(1, gib/4))
		}
		h := i % hosts
		fmt.Fprintf(&b, "  - {name: vm%d, from: s%d, to: d%d, vm: {memory: %dGiB}, workload: {generator: %s}}\n", i, h, h, gib, gen)
	}
	path := filepath.Join(tb.TempDir(), "drain.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := Load(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// BenchmarkDrain200 is a 200-VM host drain (mixed 4-32 GiB, hotcold, zipf
// and idle, max_concurrent 8, lan-25g).
func BenchmarkDrain200(b *testing.B) {
	f := drainFleet(b, 200, 1, 8)
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), f, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.MakespanS, "makespan_s")
	}
}

// BenchmarkDrain1000Across40Hosts is 1000 VMs leaving 40 hosts for 40
// others, 8 at once.
func BenchmarkDrain1000Across40Hosts(b *testing.B) {
	f := drainFleet(b, 1000, 40, 8)
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), f, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.MakespanS, "makespan_s")
	}
}
