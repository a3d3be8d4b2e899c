package validate

import (
	"fmt"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/scenarios"
)

// NetShapeFromSpec maps a scenario's network section to the path a shaped
// lab run emulates ([lab.NetShape]): bandwidth to tbf, rtt + jitter (the mean RTT the simulator
// uses) to the relay's delay, tcp_window to its window. Loss and a
// bandwidth schedule cannot be emulated and are errors naming the key.
func NetShapeFromSpec(n scenarios.NetworkSpec) (lab.NetShape, error) {
	if n.Loss > 0 {
		return lab.NetShape{}, fmt.Errorf("network.loss %g: shaping %q does not emulate loss (no netem on this kernel); set network.loss=0 or use shaping %q", n.Loss, lab.ShapingNetns, lab.ShapingQEMU)
	}
	if len(n.BandwidthSchedule) > 0 {
		return lab.NetShape{}, fmt.Errorf("network.bandwidth_schedule: shaping %q holds one bandwidth for the whole run; remove the schedule or use shaping %q", lab.ShapingNetns, lab.ShapingQEMU)
	}
	return lab.NetShape{Bandwidth: n.Bandwidth, RTT: n.RTT + n.Jitter, Window: n.TCPWindow, MSS: n.MSS}, nil
}

// caseOptions returns the options of suite case i: its shaping is the
// command line's when opts carry one, else the case's, else the suite's.
func (s *Suite) caseOptions(i int, opts Options) Options {
	if opts.Local.Shaping == "" {
		opts.Local.Shaping = s.Shaping
		if c := s.Cases[i].Shaping; c != "" {
			opts.Local.Shaping = c
		}
	}
	return opts
}

// shaping is how c's real run was shaped.
func (c *Comparison) shaping() lab.Shaping {
	if c.Real != nil && c.Real.Network != nil {
		return lab.ShapingNetns
	}
	return lab.ShapingQEMU
}
