package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/migsim/migsim/internal/buildinfo"
	"github.com/migsim/migsim/traces"
)

// DefaultTraceCache is the default memory for in-memory traces shared by
// points with one workload, in bytes.
const DefaultTraceCache = 1 << 30

// Options configure [Run].
type Options struct {
	// Dir is the output directory; it is created if needed.
	Dir string
	// Workers is the number of points simulated at once; 0 means one per
	// CPU (runtime.GOMAXPROCS).
	Workers int
	// Shard selects the points to run; the zero Shard runs them all.
	Shard Shard
	// Resume continues the run recorded in Dir. Without it, a Dir that
	// already holds results is an error.
	Resume bool
	// Force lets a run replace output files (results.jsonl, results.csv,
	// results.parquet) that migsim did not write in a Dir that holds no
	// sweep; without it they are an error. A Dir holding a sweep still
	// needs Resume, Force or not.
	Force bool
	// Formats are the tables to write when the run completes.
	Formats Formats
	// TraceCache bounds the memory of traces shared between points, in
	// bytes; 0 or less disables sharing.
	TraceCache int64
	// Progress, when not nil, receives progress reports.
	Progress *Progress
}

// Summary reports what a [Run] did.
type Summary struct {
	// Points is the number of points in the shard; Resumed of those were
	// already in the journal and Ran were simulated by this run.
	Points, Resumed, Ran int
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Cache reports the trace cache.
	Cache traces.CacheStats
}

// ErrInterrupted is returned, wrapped, by Run when its context is
// cancelled: the points finished so far are in the journal, and a run with
// Resume finishes the rest.
var ErrInterrupted = errors.New("sweep interrupted")

// Run runs the points of sw in opts.Shard that opts.Dir does not hold yet,
// appending each result to the journal as it finishes, and once all are
// there writes the outputs (see the package documentation). It returns an
// error wrapping [ErrInterrupted] when ctx is cancelled first, and stops
// at the first point that fails, naming it.
func Run(ctx context.Context, sw *Spec, opts Options) (sum Summary, err error) {
	start := time.Now()
	if err := opts.Shard.check(); err != nil {
		return sum, err
	}
	if sw.Points == nil && sw.Len() > 0 {
		return sum, fmt.Errorf("sweep %s: Run needs its points in memory: load it with Load, not Open without KeepMax", sw.Name)
	}
	want := newManifest(sw, opts.Shard)
	points := opts.Shard.Points(len(sw.Points))
	sum.Points = len(points)
	// Hold the directory for the whole run: a second run on it, even one
	// started at the same instant, is refused (see LockFile).
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return sum, err
	}
	defer func() {
		if uerr := lock.unlock(); err == nil {
			err = uerr
		}
	}()
	if err := removeStaleTemps(opts.Dir); err != nil {
		return sum, err
	}
	journalPath := filepath.Join(opts.Dir, JournalFile)
	ids := make([]string, len(sw.Points))
	for i, p := range sw.Points {
		ids[i] = p.ID
	}

	// Find what the directory holds.
	entries := map[int]entry{}
	var size int64
	have, err := ReadManifest(opts.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := checkForeign(opts.Dir, opts.Force); err != nil {
			return sum, err
		}
		if err := writeManifest(opts.Dir, want); err != nil {
			return sum, err
		}
	case err != nil:
		return sum, err
	case !opts.Resume:
		return sum, fmt.Errorf("%s already holds results of sweep %q: pass --resume to continue that run, or choose another output directory", opts.Dir, have.Sweep)
	default:
		if err := want.sameSweep(have); err != nil {
			return sum, fmt.Errorf("cannot resume: %s holds %w", opts.Dir, err)
		}
		if have.Shard != want.Shard {
			return sum, fmt.Errorf("cannot resume: %s holds shard %q of the sweep, not %q", opts.Dir, orWhole(have.Shard), orWhole(want.Shard))
		}
		if entries, size, err = scanJournal(journalPath, len(ids), ids); errors.Is(err, os.ErrNotExist) {
			entries, size, err = map[int]entry{}, 0, nil
		}
		if err != nil {
			return sum, err
		}
	}
	inShard := make(map[int]bool, len(points))
	for _, p := range points {
		inShard[p] = true
	}
	var todo []int
	for _, p := range points {
		if _, ok := entries[p]; !ok {
			todo = append(todo, p)
		}
	}
	for p := range entries {
		if !inShard[p] {
			return sum, fmt.Errorf("%s holds point %d, which is not in shard %s", journalPath, p, orWhole(want.Shard))
		}
	}
	sum.Resumed = len(points) - len(todo)

	if len(todo) > 0 {
		j, err := openJournal(journalPath, size)
		if err != nil {
			return sum, err
		}
		ran, cache, err := runPoints(ctx, sw, todo, j, opts, sum.Resumed, len(points))
		sum.Ran, sum.Cache = ran, cache
		if cerr := j.close(); err == nil {
			err = cerr
		}
		if err != nil {
			sum.Elapsed = time.Since(start)
			return sum, err
		}
		if entries, _, err = scanJournal(journalPath, len(ids), ids); err != nil {
			return sum, err
		}
	}
	if err := writeOutputs(opts.Dir, want, points, entries, opts.Formats); err != nil {
		return sum, fmt.Errorf("writing the outputs to %s: %w", opts.Dir, err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func orWhole(shard string) string {
	if shard == "" {
		return "whole sweep"
	}
	return shard
}

// workloads groups the points to run by workload: order lists them so
// that those with one workload run together, the groups (by their first
// points) and the points within each in spread order (see
// [spreadOrder]), and left counts the points of each workload still to
// run, so that its trace leaves the cache with its last point. The cache
// then holds about one trace per worker.
type workloads struct {
	order []int
	key   map[int]string
	mu    sync.Mutex
	left  map[string]int
}

func groupByWorkload(sw *Spec, todo []int) *workloads {
	w := &workloads{key: make(map[int]string, len(todo)), left: map[string]int{}}
	group := map[string]int{} // in order of first point
	for _, p := range todo {
		k := sw.Points[p].Spec.WorkloadKey()
		w.key[p] = k
		w.left[k]++
		if _, ok := group[k]; !ok {
			group[k] = len(group)
		}
	}
	// The groups in spread order, and the points of each, so that the
	// first points run stand for the whole sweep and the ETA learns their
	// cost early (estimate.go).
	rank := make([]int, len(group))
	for r, g := range spreadOrder(len(group)) {
		rank[g] = r
	}
	w.order = spreadWithin(todo, func(p int) int { return rank[group[w.key[p]]] })
	return w
}

// done records that point p has run and drops its workload's trace from
// cache after the last of them.
func (w *workloads) done(p int, cache *traces.Cache) {
	k := w.key[p]
	w.mu.Lock()
	w.left[k]--
	last := w.left[k] == 0
	w.mu.Unlock()
	if last {
		cache.Drop(k)
	}
}

// runPoints simulates todo on the workers and appends their lines to j.
func runPoints(ctx context.Context, sw *Spec, todo []int, j *journal, opts Options, resumed, total int) (int, traces.CacheStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(todo))
	cache := traces.NewCache(opts.TraceCache)
	axes := axisInfos(sw.Axes)

	jobs := make(chan int)
	lines := make(chan []byte, 4*workers)
	groups := groupByWorkload(sw, todo)
	if opts.Progress != nil {
		opts.Progress.plan(groups.order, groups.features(sw, workers), workers, cap(lines), opts.Formats)
	}
	go func() {
		defer close(jobs)
		for _, p := range groups.order {
			select {
			case jobs <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range jobs {
				opts.Progress.started(p)
				line, err := runPoint(ctx, &sw.Points[p], axes, cache)
				if err != nil {
					if ctx.Err() == nil {
						cancel(err)
					}
					return
				}
				opts.Progress.ended(p)
				groups.done(p, cache)
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(lines)
	}()

	// The writer: append each batch of finished points, then fsync.
	opts.Progress.start(resumed, total)
	ran := 0
	var buf []byte
	var werr error
	for line := range lines {
		buf = append(buf[:0], line...)
		n := 1
	batch:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break batch
				}
				buf = append(buf, l...)
				n++
			default:
				break batch
			}
		}
		if werr == nil {
			t0 := time.Now()
			if werr = j.append(buf); werr != nil {
				cancel(werr)
				continue
			}
			ran += n
			opts.Progress.synced(time.Since(t0))
			opts.Progress.add(n)
		}
	}
	opts.Progress.stop()

	if werr != nil {
		return ran, cache.Stats(), werr
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
			return ran, cache.Stats(), fmt.Errorf("%w after %d of %d points (%d in this run); resume with --resume",
				ErrInterrupted, resumed+ran, total, ran)
		}
		return ran, cache.Stats(), cause
	}
	return ran, cache.Stats(), nil
}

// runPoint simulates one point and returns its journal line.
func runPoint(ctx context.Context, p *Point, axes []AxisInfo, cache *traces.Cache) ([]byte, error) {
	model, in, err := p.Spec.Build()
	if err != nil {
		return nil, fmt.Errorf("point %d (%v): %w", p.Index, p.Sets, err)
	}
	in.Trace = cache.Opener(p.Spec.WorkloadKey(), in.Trace)
	res, err := model.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("point %d (%v): %w", p.Index, p.Sets, err)
	}
	res.MigsimVersion = buildinfo.Version()
	ax, err := encodeAxes(axes, p.Columns)
	if err != nil {
		return nil, fmt.Errorf("point %d: %w", p.Index, err)
	}
	b, err := json.Marshal(row{Point: p.Index, ID: p.ID, Axes: ax, Result: res})
	if err != nil {
		return nil, fmt.Errorf("point %d: encoding its result: %w", p.Index, err)
	}
	return append(b, '\n'), nil
}
