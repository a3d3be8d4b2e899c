package models

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

func TestScratch(t *testing.T) {
	const pages = 1 << 18
	mem := units.Bytes(pages * 4096)
	spec := traces.DefaultGeneratorSpec()
	spec.Kind = "uniform"
	spec.DirtyRate = 20000
	spec.ReadRate = 20000
	spec.WorkingSet = 512 * units.MiB
	spec.ZeroFraction = 0.25
	in := Input{Scenario: "s", Seed: 1, VM: VM{Memory: mem, PageSize: 4096, VCPUs: 1, DeviceState: units.MiB},
		Trace: genTrace(spec, mem, 1), Path: sim.Path{Bandwidth: units.Gbit, RTT: 200 * time.Microsecond}}
	for _, pp := range []Prepaging{PrepagingForward, PrepagingNone, PrepagingBubbling, PrepagingMultiPivot, PrepagingNone} {
		p := DefaultPostcopyParams()
		p.Prepaging = pp
		m, _ := NewPostcopy(p)
		st := time.Now()
		res, err := m.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		res.RoundsDetail = nil
		b, _ := json.Marshal(res)
		fmt.Println(pp, time.Since(st), string(b))
	}
	pm, _ := NewPrecopy(DefaultPrecopyParams())
	res, _ := pm.Run(context.Background(), in)
	res.RoundsDetail = nil
	b, _ := json.Marshal(res)
	fmt.Println("precopy", string(b))
}
