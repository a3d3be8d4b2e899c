package fleet

import (
	"fmt"
	"io"
	"strings"
)

// KeyDoc documents one fleet file key.
type KeyDoc struct {
	Key, Default, Unit, Doc string
}

// planKeys are the keys of the plan section.
var planKeys = []string{"max_concurrent", "max_outbound_per_host", "max_inbound_per_host", "bandwidth_per_migration", "order", "on_timeout"}

// Keys lists the fleet file's keys with their defaults, units and
// meaning. A VM entry's vm, workload and model sections take a
// scenario's keys (see scenarios.Keys).
func Keys() []KeyDoc {
	return []KeyDoc{
		{"name", "the file's base name", "text", "Names the fleet in results."},
		{"seed", "1", "count", "Seeds every VM: VM i (from 0, in file order after count expansion) takes seed + i, so that a one-VM fleet runs as its scenario."},
		{"network", "(required: a profile or a bandwidth)", "section", "The path between any two hosts: a scenario's network section (profile, bandwidth, rtt, loss, ...). Each ordered pair of hosts has a path of its own (the fabric does not block); migrations between the same pair share it. A bandwidth_schedule changes every path at its times, counted from the fleet's start (a migration that starts later sees the rest of it), and the NICs of hosts not listed in hosts; cross_traffic takes its share of the paths."},
		{"hosts", "none", "list of {name, nic}", "Hosts with their NIC rate (each way, e.g. 25Gbit). With a list, every VM's from and to must name a listed host; without one, hosts are named by from and to (default source and destination) and have a NIC of network.bandwidth."},
		{"vms", "(required)", "list", "VM entries, each a mapping of name, count, from, to, vm, workload, model (and calibration), the last four as in a scenario, with the same defaults."},
		{"vms[].name", "(required)", "text", "Names the entry; with count N its VMs are name-1 ... name-N. --set vms.NAME.KEY=VALUE sets KEY of that entry (count, from, to, or any scenario key such as model.downtime_limit)."},
		{"vms[].count", "1", "count", "How many identical VMs the entry stands for, at least 1."},
		{"vms[].from", "source", "host", "The host the VMs leave (required with a hosts list)."},
		{"vms[].to", "destination", "host", "The host they go to (required with a hosts list); not the same as from."},
		{"plan.max_concurrent", "1", "count", "Migrations in flight at once across the fleet, at least 1 (OpenStack Nova's max_concurrent_live_migrations default)."},
		{"plan.max_outbound_per_host", "0", "count", "Migrations leaving one host at once; 0: no cap (KubeVirt: parallelOutboundMigrationsPerNode, 2)."},
		{"plan.max_inbound_per_host", "0", "count", "Migrations arriving on one host at once; 0: no cap."},
		{"plan.bandwidth_per_migration", "0", "bit/s", "A cap on each migration (KubeVirt's bandwidthPerMigration); 0: none."},
		{"plan.order", "fifo", "one of fifo, smallest_first, largest_first, lowest_dirty_first, optimize", "The order migrations start in: file order, by memory (either way), by the workload's dirty rate, or optimize: a search of the order and the concurrency (up to max_concurrent) for the fewest unconverged VMs, then the shortest makespan."},
		{"plan.on_timeout", "abort", "one of abort, postcopy", "What happens to a pre-copy (precopy, parallel) still running at its model's max_time: abort ends it there, not completed; postcopy switches it to post-copy (Nova's force-complete), which completes it."},
	}
}

// Explain writes the fleet keys as `migsim scenario explain` prints
// scenario keys.
func Explain(w io.Writer) error {
	var b strings.Builder
	b.WriteString("\n# Fleet files (migsim evacuate FLEET.yaml). --set takes these keys too, and\n")
	b.WriteString("# vms.NAME.KEY for a VM entry's keys.\n")
	for _, k := range Keys() {
		fmt.Fprintf(&b, "\n%s = %s  (%s)\n", k.Key, k.Default, k.Unit)
		line := "   "
		for _, word := range strings.Fields(k.Doc) {
			if len(line) > 3 && len(line)+1+len(word) > 80 {
				b.WriteString(line + "\n")
				line = "   "
			}
			line += " " + word
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
