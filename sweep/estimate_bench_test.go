package sweep

import (
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkEstimatePapers measures how close the time estimates come to
// the real time on the papers' sweeps (scenarios/papers/*/sweep.yaml), on
// all cores with the trace cache, as 'migsim sweep' runs them. For each
// sweep it reports:
//
//   - dryrun-x: the dry run's estimate ([Estimate]) over the real wall
//     time of the run that follows (1 is exact; the target is 0.7-1.3);
//   - eta25-x, eta50-x, eta75-x: the ETA the progress reports once 25, 50
//     and 75 % of the points have ended, over the time the run then
//     really took to finish;
//   - rate50-x: what the former ETA (points left at the rate so far)
//     said at 50 %, for comparison.
//
// Run it with -benchtime 1x: each iteration runs every sweep once after
// its dry run. The figures depend on the machine and its load.
func BenchmarkEstimatePapers(b *testing.B) {
	files, err := filepath.Glob("../scenarios/papers/*/sweep.yaml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no papers' sweeps: %v", err)
	}
	for _, file := range files {
		sw, err := Load(file, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(sw.Name, func(b *testing.B) {
			var dry, eta25, eta50, eta75, rate50 []float64
			for b.Loop() {
				points := Shard{}.Points(len(sw.Points))
				est, err := EstimateWith(b.Context(), sw, points, EstimateOptions{Samples: 1000, Budget: 3 * time.Second, Dir: b.TempDir(), Formats: allFormats, TraceCache: DefaultTraceCache})
				if err != nil {
					b.Fatal(err)
				}
				snaps, real := runWatched(b, sw)
				b.Logf("%s: dry run %v (compute %v, journal %v at %v per sync, outputs %v) from %d samples (%v sampling), real %.3fs",
					sw.Name, est.Total, est.Compute, est.Journal, est.Sync, est.Outputs, est.Samples, est.Sampling, real)
				dry = append(dry, est.Total.Seconds()/real)
				for _, s := range []struct {
					at  float64
					out *[]float64
				}{{0.25, &eta25}, {0.5, &eta50}, {0.75, &eta75}} {
					if sn, ok := snapshotAt(snaps, s.at); ok {
						*s.out = append(*s.out, sn.eta/(real-sn.elapsed))
						if s.at == 0.5 {
							rate50 = append(rate50, sn.rateETA/(real-sn.elapsed))
						}
					}
				}
			}
			for name, v := range map[string][]float64{"dryrun-x": dry, "eta25-x": eta25, "eta50-x": eta50, "eta75-x": eta75, "rate50-x": rate50} {
				if len(v) > 0 {
					b.ReportMetric(mean(v), name)
				}
			}
		})
	}
}

// etaSnapshot is the progress of a run at one moment.
type etaSnapshot struct {
	elapsed float64 // seconds since the run started
	ended   float64 // share of the points ended
	eta     float64 // the ETA from measured costs, seconds
	rateETA float64 // points left at the rate so far, seconds
}

// runWatched runs sw in a temporary directory and samples its ETA every
// millisecond; it returns the samples and the run's wall time.
func runWatched(b *testing.B, sw *Spec) ([]etaSnapshot, float64) {
	p := NewProgress(io.Discard, false, time.Hour)
	var (
		snaps []etaSnapshot
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			now := time.Now()
			p.mu.Lock()
			if p.model != nil && len(p.model.vals) > 0 {
				left, _ := p.left(now)
				ended := len(p.model.vals)
				el := now.Sub(start).Seconds()
				snaps = append(snaps, etaSnapshot{
					elapsed: el,
					ended:   float64(ended) / float64(len(p.order)),
					eta:     left.Seconds(),
					rateETA: float64(len(p.order)-ended) / (float64(ended) / el),
				})
			}
			p.mu.Unlock()
		}
	})
	_, err := Run(b.Context(), sw, Options{Dir: b.TempDir(), TraceCache: DefaultTraceCache, Formats: allFormats, Progress: p})
	real := time.Since(start).Seconds()
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	return snaps, real
}

// snapshotAt returns the first snapshot with at least share of the
// points ended.
func snapshotAt(snaps []etaSnapshot, share float64) (etaSnapshot, bool) {
	for _, s := range snaps {
		if s.ended >= share {
			return s, true
		}
	}
	return etaSnapshot{}, false
}
