package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/migsim/migsim/sim"
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
