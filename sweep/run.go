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

	"github.com/migsim/migsim/fleet"
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
	// Detail keeps each point's detail in its result line:
	// rounds_detail, one entry per pass. Without it a line holds the
	// result without rounds_detail: the table's metrics all remain, in a
	// tenth of the bytes. Resuming keeps the directory's choice; Detail
	// must not contradict it when DetailSet.
	Detail, DetailSet bool
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
// there writes the outputs (see the package documentation). It holds no
// point longer than it runs: each is loaded when a worker takes it (unless
// sw keeps them all), and the outputs are written a line at a time, so
// that its memory does not grow with the points beyond the 28 bytes of
// each that it indexes. It returns an error wrapping [ErrInterrupted]
// when ctx is cancelled first, and stops at the first point that fails,
// naming it.
func Run(ctx context.Context, sw *Spec, opts Options) (sum Summary, err error) {
	start := time.Now()
	if err := opts.Shard.check(); err != nil {
		return sum, err
	}
	ids, _ := sw.index()
	if ids == nil && sw.Len() > 0 {
		return sum, fmt.Errorf("sweep %s: Run needs each point's ID and workload: load it with Load, or Open with Index", sw.Name)
	}
	points := opts.Shard.Points(sw.Len())
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

	// Find what the directory holds.
	ix := newLineIndex(sw.Len(), false)
	var size int64
	want := newManifest(sw, opts.Shard, opts.Detail)
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
		if opts.DetailSet && have.detail() != opts.Detail {
			return sum, fmt.Errorf("cannot resume: %s holds results %s detail; resume it %s --detail", opts.Dir, withOrWithout(have.detail()), withOrWithout(have.detail()))
		}
		opts.Detail = have.detail()
		want.Detail = have.Detail
		if size, err = scanJournal(journalPath, ix, ids); errors.Is(err, os.ErrNotExist) {
			size, err = 0, nil
		}
		if err != nil {
			return sum, err
		}
	}
	inShard := make([]bool, sw.Len())
	for _, p := range points {
		inShard[p] = true
	}
	var todo []int
	for _, p := range points {
		if !ix.has(p) {
			todo = append(todo, p)
		}
	}
	for p := range ix.locs {
		if ix.has(p) && !inShard[p] {
			return sum, fmt.Errorf("%s holds point %d, which is not in shard %s", journalPath, p, orWhole(want.Shard))
		}
	}
	inShard = nil
	sum.Resumed = len(points) - len(todo)

	if len(todo) > 0 {
		j, err := openJournal(journalPath, size)
		if err != nil {
			return sum, err
		}
		ran, cache, err := runPoints(ctx, sw, todo, j, ix, opts, sum.Resumed, len(points))
		sum.Ran, sum.Cache = ran, cache
		if cerr := j.close(); err == nil {
			err = cerr
		}
		if err != nil {
			sum.Elapsed = time.Since(start)
			return sum, err
		}
	}
	if err := writeOutputs(opts.Dir, want, points, ix, opts.Formats); err != nil {
		return sum, fmt.Errorf("writing the outputs to %s: %w", opts.Dir, err)
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func withOrWithout(detail bool) string {
	if detail {
		return "with"
	}
	return "without"
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
	order  []int
	groups []int32 // each point's workload group, by point of the sweep
	mu     sync.Mutex
	left   []int32 // by group
}

func groupByWorkload(sw *Spec, todo []int) *workloads {
	_, groups := sw.index()
	n := int32(0)
	for _, p := range todo {
		n = max(n, groups[p]+1)
	}
	w := &workloads{groups: groups, left: make([]int32, n)}
	group := make([]int32, n) // in order of first point, from 1; 0: none yet
	ngroups := int32(0)
	for _, p := range todo {
		k := groups[p]
		w.left[k]++
		if group[k] == 0 {
			ngroups++
			group[k] = ngroups
		}
	}
	// The groups in spread order, and the points of each, so that the
	// first points run stand for the whole sweep and the ETA learns their
	// cost early (estimate.go).
	rank := make([]int, ngroups)
	for r, g := range spreadOrder(int(ngroups)) {
		rank[g] = r
	}
	w.order = spreadWithin(todo, func(p int) int { return rank[group[groups[p]]-1] })
	return w
}

// done records that point p, of workload key, has run and drops the
// workload's trace from cache after the last of its points.
func (w *workloads) done(p int, key string, cache *traces.Cache) {
	k := w.groups[p]
	w.mu.Lock()
	w.left[k]--
	last := w.left[k] == 0
	w.mu.Unlock()
	if last {
		cache.Drop(key)
	}
}

// done is a point's journal line, ready to append.
type done struct {
	point int
	id    uint64
	line  []byte
}

// runPoints simulates todo on the workers, appends their lines to j and
// records them in ix.
func runPoints(ctx context.Context, sw *Spec, todo []int, j *journal, ix *lineIndex, opts Options, resumed, total int) (int, traces.CacheStats, error) {
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
	lines := make(chan done, 4*workers)
	fi, err := ix.file(j.path)
	if err != nil {
		return 0, traces.CacheStats{}, err
	}
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
				pt, err := sw.Point(p)
				var line []byte
				if err == nil {
					line, err = runPoint(ctx, pt, axes, cache, opts.Detail)
				}
				if err != nil {
					if ctx.Err() == nil {
						cancel(err)
					}
					return
				}
				opts.Progress.ended(p)
				if pt.Spec != nil {
					groups.done(p, pt.Spec.WorkloadKey(), cache)
				}
				select {
				case lines <- done{point: p, id: parseID(pt.ID), line: line}:
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
	var batch []done
	var werr error
	for d := range lines {
		buf = append(buf[:0], d.line...)
		batch = append(batch[:0], d)
	more:
		for {
			select {
			case d, ok := <-lines:
				if !ok {
					break more
				}
				buf = append(buf, d.line...)
				batch = append(batch, d)
			default:
				break more
			}
		}
		if werr == nil {
			t0 := time.Now()
			off := j.size
			if werr = j.append(buf); werr != nil {
				cancel(werr)
				continue
			}
			for _, d := range batch {
				if werr = ix.add(d.point, fi, off, len(d.line), d.id); werr != nil {
					cancel(werr)
					break
				}
				off += int64(len(d.line))
			}
			ran += len(batch)
			opts.Progress.synced(time.Since(t0))
			opts.Progress.add(len(batch))
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

// runPoint simulates one point and returns its journal line, with the
// result's detail when detail: a scenario's run, or a fleet's evacuation
// summed up on one row.
func runPoint(ctx context.Context, p *Point, axes []AxisInfo, cache *traces.Cache, detail bool) ([]byte, error) {
	var result any
	if p.Fleet != nil {
		res, err := fleet.Evacuate(ctx, p.Fleet, 0, nil)
		if err != nil {
			return nil, fmt.Errorf("point %d (%v): %w", p.Index, p.Sets, err)
		}
		sum := res.Summary(detail)
		sum.MigsimVersion = buildinfo.Version()
		result = sum
	} else {
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
		result = lineResult(res, detail)
	}
	ax, err := encodeAxes(axes, p.Columns)
	if err != nil {
		return nil, fmt.Errorf("point %d: %w", p.Index, err)
	}
	b, err := json.Marshal(row{Point: p.Index, ID: p.ID, Axes: ax, Result: result})
	if err != nil {
		return nil, fmt.Errorf("point %d: encoding its result: %w", p.Index, err)
	}
	return append(b, '\n'), nil
}
