package validate

import (
	"context"
	"errors"
	"fmt"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/scenarios"
)

// ProbeLink measures the loopback path a local unshaped lab run of spec
// migrates over ([lab.ProbeLink]): one real pre-copy migration of spec's
// guest, whatever spec's model, its generator (if it has one) writing at
// [lab.ProbeDirtyRate] over at least [lab.ProbeWorkingSet].
func ProbeLink(ctx context.Context, spec *scenarios.Spec, opts Options) (*lab.LinkProbe, error) {
	if opts.Hosts != nil || opts.Local.Shaping == lab.ShapingNetns {
		return nil, errors.New("link probe: only a local run over loopback has a path to probe")
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	if g := spec.Workload.Generator; g != nil {
		w := *g
		w.DirtyRate = lab.ProbeDirtyRate
		// The final pass must re-send tens of MiB: a case's small hot set
		// (a near-threshold case writes 3 MiB) would leave it almost
		// nothing to measure, so the probe writes at least
		// lab.ProbeWorkingSet (or the whole guest, if smaller).
		w.WorkingSet = max(w.WorkingSet, min(lab.ProbeWorkingSet, spec.VM.Memory))
		c := *spec
		c.Workload.Generator = &w
		spec = &c
	}
	_, img, cleanup, err := bootKit(ctx, spec, opts, logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	lo := opts.Local
	lo.Image = img
	lo.TraceMemory = spec.VM.Memory
	lo.AtEnd = spec.Workload.AtEnd
	if lo.Log == nil {
		lo.Log = opts.Log
	}
	return lab.ProbeLink(ctx, lo, spec.VM.DeviceState, spec.Network.RTT)
}
