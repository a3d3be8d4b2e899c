package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/migsim/migsim/fleet"
	"github.com/migsim/migsim/validate"
)

// validateFleetOptions are the options of "migsim validate fleet".
type validateFleetOptions struct {
	streams
	labFlags
	resultFormat
	sets  []string
	fleet string // the fleet file
}

func newValidateFleetCmd(s streams) *cobra.Command {
	o := &validateFleetOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "fleet FLEET.yaml",
		Short: "Migrate a fleet's VMs for real at once over one shaped link, beside the fleet simulator",
		Long: `Boot every VM of a fleet file as a lab guest replaying its scenario's trace,
put every source QEMU in one network namespace (the fleet's source host)
and every destination in another, joined by one veth pair whose tbf holds
the lesser of network.bandwidth and the two hosts' NICs, each migration
through a relay of its own adding network.rtt; start the migrations as the
plan says (the first plan.max_concurrent in its order at once, the next as
one ends), verify every destination's memory, then run 'migsim evacuate'
on the same fleet with each VM on the trace its guest achieved, and print
per VM the real and simulated total time, downtime, bytes and mean
bandwidth, the makespan, and the median and worst error per metric.

The fleet's VMs must all go from one host to one other, run the precopy,
postcopy or hybrid model with 4 KiB pages, and fit the lab (small guests:
see validate/suites/fleet-2vm.yaml); plan.bandwidth_per_migration,
on_timeout postcopy, network.loss and a bandwidth schedule are refused.
It needs root and iproute2 (network namespaces, veth, tbf), QEMU and a
kernel (validate/ci-install.sh). A run whose memory differs on any
destination fails (exit 1).`,
		Example: `  migsim validate fleet validate/suites/fleet-2vm.yaml
  migsim validate fleet validate/suites/fleet-2vm.yaml --set plan.max_concurrent=1 --json seq.json
  migsim validate fleet validate/suites/fleet-2vm.yaml --set vms.vm.count=3 --set plan.max_concurrent=3 --set network.bandwidth=300Mbit`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.fleet = args[0]
			return validateFleetRun(cmd, o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.sets, "set", nil, "set a fleet key, e.g. --set plan.max_concurrent=1 or --set vms.vm.count=3 (repeatable; the value is YAML)")
	o.resultFormat.register(cmd)
	o.labFlags.registerBoot(cmd, "parent of each guest's temporary folder (default /dev/shm)", "longest one migration may take once started before it is cancelled and the run fails")
	fl.StringVar(&o.jsonOut, "json", "", "also write the full result (each VM's real run with its series and epochs, the simulated fleet) as JSON to this file (- for stdout)")
	return cmd
}

// validateFleetRun runs "migsim validate fleet" with its options.
func validateFleetRun(cmd *cobra.Command, o *validateFleetOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	f, err := fleet.Load(o.fleet, o.sets)
	if err != nil {
		return err
	}
	opts := validate.Options{Image: o.imageOptions(), Local: o.localOptions(), Log: o.err}
	c, err := validate.RunFleet(cmd.Context(), f, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", o.fleet, err)
	}
	if err := o.writeJSON(c); err != nil {
		return err
	}
	return o.print(o.out, c, c.WriteTable)
}
