package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Two events at the same instant run in phase order, whatever order they
// were scheduled in.
func Example() {
	e := sim.New(1)
	e.After(2*time.Second, sim.PhaseDecide, func() {
		fmt.Println(e.Now(), "model decides")
	})
	e.After(2*time.Second, sim.PhaseGuest, func() {
		fmt.Println(e.Now(), "guest writes")
	})
	e.After(time.Second, sim.PhaseTransfer, func() {
		fmt.Println(e.Now(), "transfer done")
	})
	_ = e.Run(context.Background(), sim.Never)
	// Output:
	// 1s transfer done
	// 2s guest writes
	// 2s model decides
}

// One TCP stream over a transatlantic path is held to its window over the
// RTT; parallel streams add up until they fill the link.
func ExamplePath_SteadyBps() {
	p := sim.Path{Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond, Window: sim.DefaultWindow}
	fmt.Printf("1 stream:   %v\n", units.BitRate(p.SteadyBps(1, 0, 0)))
	fmt.Printf("8 streams:  %v\n", units.BitRate(p.SteadyBps(8, 0, 0)))
	k := p.StreamsToFill(0)
	fmt.Printf("%d streams: %v\n", k, units.BitRate(p.SteadyBps(k, 0, 0)))
	x, _ := p.Send(p.Open(1), 0, 1e9, 0) // 1 GB on a new connection
	fmt.Printf("1 GB on one new stream: %.2f s (slow start %d round trips)\n", x.Duration.Seconds(), len(x.Spans)-1)
	// Output:
	// 1 stream:   314.5728Mbit
	// 8 streams:  2.5165824Gbit
	// 32 streams: 10Gbit
	// 1 GB on one new stream: 25.98 s (slow start 8 round trips)
}
