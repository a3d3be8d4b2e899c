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
}

// Estimate times up to samples points drawn from points (a fixed
// pseudo-random choice, so that every axis is represented), one after
// another without a trace cache, stopping early once budget is spent, and
// extrapolates to all of points on workers workers (0: one per CPU). It
// is an upper bound when points share workloads, which a real run replays
// from memory.
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
	for _, i := range order {
		start := time.Now()
		if _, err := runPoint(ctx, &sw.Points[points[i]], axes, traces.NewCache(0)); err != nil {
			return est, err
		}
		spent += time.Since(start)
		est.Samples++
		if spent >= budget {
			break
		}
	}
	est.PerPoint = spent / time.Duration(est.Samples)
	est.Total = time.Duration(float64(est.PerPoint) * float64(len(points)) / float64(min(workers, len(points))))
	return est, nil
}
