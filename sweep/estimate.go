package sweep

import (
	"context"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/traces"
)

// TimeEstimate is what [Estimate] measured.
type TimeEstimate struct {
	// Samples is the number of points timed; Workers the workers assumed.
	Samples, Workers int
	// PerPoint is the mean wall time of one sample point on one core.
	PerPoint time.Duration
	// Total is PerPoint × points / Workers.
	Total time.Duration
	// AtLeast is true when a sample point outran the time allowed and was
	// stopped: the figures are lower bounds.
	AtLeast bool
}

// Estimate times up to samples points drawn from points (a fixed
// pseudo-random choice, so that every axis is represented), one after
// another without a trace cache, stopping once budget is spent (a point
// still running at 3 × budget is stopped and the estimate marked AtLeast),
// and extrapolates to all of points on workers workers (0: one per CPU).
// Points that share workloads run faster in a real run, which replays
// their trace from memory.
func Estimate(ctx context.Context, sw *scenarios.Sweep, points []int, workers, samples int, budget time.Duration) (TimeEstimate, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	est := TimeEstimate{Workers: workers}
	if len(points) == 0 || samples <= 0 {
		return est, nil
	}
	rng := rand.New(rand.NewPCG(1, 1))
	order := rng.Perm(len(points))[:min(samples, len(points))]
	axes := axisInfos(sw.Axes)
	var spent time.Duration
	limited, cancel := context.WithTimeout(ctx, 3*budget)
	defer cancel()
	for _, i := range order {
		start := time.Now()
		_, err := runPoint(limited, &sw.Points[points[i]], axes, traces.NewCache(0))
		spent += time.Since(start)
		est.Samples++
		if err != nil && limited.Err() != nil && ctx.Err() == nil {
			est.AtLeast = true
			break
		}
		if err != nil {
			return est, err
		}
		if spent >= budget {
			break
		}
	}
	est.PerPoint = spent / time.Duration(est.Samples)
	est.Total = time.Duration(float64(est.PerPoint) * float64(len(points)) / float64(min(workers, len(points))))
	return est, nil
}
