package sweep

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/migsim/migsim/traces"
)

// # Time estimates from measured cost
//
// A sweep's points differ in cost by orders of magnitude (a migration that
// converges in two rounds against one that runs to max_time over a WAN),
// and the costly ones cluster in a corner of the axes. Points per second so
// far says little about the points to come; the estimates here predict
// each point's wall time from the measured points that resemble it, then
// lay the points out on the workers in the order they run.
//
//   - Features ([costFeatures]): a point is its value on each factor,
//     one per axis (the axes of a zip block together), plus whether it is
//     among the first of its workload in the run order (one per worker):
//     those pay for the trace, the others replay it from the trace cache.
//   - Model ([costModel]): a point's cost is the weighted mean of the
//     measured costs, each weighted by θ_f for every factor f on which it
//     differs (a product kernel). The θ_f in (0, 1] are fitted by
//     leave-one-out over the measured points (coordinate descent over a
//     grid from 10⁻⁴ to 1, on the error of log cost): a factor that
//     decides the cost (the model, the link) gets a small θ, small enough
//     that a costly corner does not leak onto its cheap neighbours; one
//     that does not (the seed) gets θ = 1.
//   - Layout ([makespan]): the points still to run, in run order, go to
//     the earliest free of the workers, those running now free when their
//     predicted cost has passed; it counts the tail a few costly points at
//     the end make. The journal's appends (each batch of lines a write and
//     an fsync, at the measured time of one) bound it from below when
//     points are cheaper than fsyncs ([journalTime]), and the final tables
//     come after.
//
// [Run] orders the workloads' groups of points, and the points within
// each, so that the first ones spread over the sweep ([spreadOrder]); the
// first points measured then stand for all of it, and the ETA is sound
// early. A point that runs far past its prediction is of a kind not yet
// measured: [Progress] expects it to run half as long again, and its
// repeats as long. [Estimate] (the dry run) runs a sample as Run runs
// points (workers, trace cache, journal, tables): half spread over the
// axes, half where a main-effects model of the first half puts the cost,
// so that a costly corner of the sweep is measured more than once.

// costFeatures are the factors of a sweep's points for the cost model.
type costFeatures struct {
	// names are the factors: the axis keys (a zip block's joined by "+"),
	// then "first of workload".
	names []string
	// values holds, per point of the sweep, its value on each factor as
	// a small integer (0/1 for the last, first of workload).
	values [][]int32
	// group is each point's workload group, an index into the groups.
	group []int32
	// repeat marks the factors of repeat axes (seed).
	repeat []bool
}

// repeatKey identifies the points that differ from p only in repeat
// axes and in being first of their workload: p's repeats.
func (f *costFeatures) repeatKey(p int) string {
	key := make([]byte, 0, 4*len(f.names))
	for k, x := range f.values[p][:len(f.names)-1] {
		if !f.repeat[k] {
			key = append(key, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
	}
	return string(key)
}

// firstFactor is the name of the factor that tells the first point of
// each workload (which generates or reads the trace) from the others.
const firstFactor = "first of workload"

// newCostFeatures describes the points of sw: groups[p] is p's workload
// group and first[p] tells whether p is the first of its workload in the
// run order (nil: every point is).
func newCostFeatures(sw *Spec, groups []int32, first []bool) *costFeatures {
	f := &costFeatures{values: make([][]int32, sw.Len()), group: groups}
	// Factors: each axis, except that a zip block's axes are one.
	var factorOf []int
	zip := -1
	for _, a := range sw.Axes {
		if a.Kind == "zip" {
			if zip < 0 {
				zip = len(f.names)
				f.names = append(f.names, a.Key)
				f.repeat = append(f.repeat, false)
			} else {
				f.names[zip] += "+" + a.Key
			}
			factorOf = append(factorOf, zip)
			continue
		}
		factorOf = append(factorOf, len(f.names))
		f.names = append(f.names, a.Key)
		f.repeat = append(f.repeat, a.Kind == "repeat")
	}
	nAxes := len(f.names)
	f.names = append(f.names, firstFactor)
	f.repeat = append(f.repeat, false)
	ids := make([]map[string]int32, nAxes)
	for i := range ids {
		ids[i] = map[string]int32{}
	}
	parts := make([][]string, nAxes)
	backing := make([]int32, sw.Len()*(nAxes+1))
	for p := range sw.Len() {
		for i := range parts {
			parts[i] = parts[i][:0]
		}
		for a, s := range sw.sets(p) {
			if a < len(factorOf) {
				parts[factorOf[a]] = append(parts[factorOf[a]], s)
			}
		}
		v := backing[p*(nAxes+1) : (p+1)*(nAxes+1) : (p+1)*(nAxes+1)]
		for i := range nAxes {
			key := strings.Join(parts[i], "\x00")
			id, ok := ids[i][key]
			if !ok {
				id = int32(len(ids[i]))
				ids[i][key] = id
			}
			v[i] = id
		}
		if first == nil || first[p] {
			v[nAxes] = 1
		}
		f.values[p] = v
	}
	return f
}

// mismatch returns the factors on which feature vectors a and b differ,
// as a bit set (factor i is bit i; at most 64 factors are told apart).
func mismatch(a, b []int32) uint64 {
	var m uint64
	for i := range min(len(a), len(b), 64) {
		if a[i] != b[i] {
			m |= 1 << i
		}
	}
	return m
}

// thetaGrid are the values a factor's weight θ may take.
var thetaGrid = []float64{1e-4, 0.001, 0.01, 0.05, 0.2, 0.5, 1}

// maxFit bounds the measured points the leave-one-out fit uses (an even
// subsample beyond), so that a refit costs milliseconds.
const maxFit = 256

// costModel predicts the wall time of points from measured ones (see the
// section above). It is not safe for concurrent use.
type costModel struct {
	theta []float64
	// vals and secs are the measured points' features and wall times.
	vals [][]int32
	secs []float64
	// fitted is len(vals) at the last fit.
	fitted int
	// cells aggregate the measured points by their values on the
	// factors with θ < 1 (the others do not change a weight); nil when
	// they must be built again.
	cells []costCell
	// main, when not nil, is the main-effects model of log cost fit chose
	// over the kernel, and smear its smearing factor.
	main  func([]int32) float64
	smear float64
	// minSecs and maxSecs bound its predictions: the measured range.
	minSecs, maxSecs float64
}

type costCell struct {
	vals []int32 // the features of one point of the cell
	sum  float64 // the sum of the costs of its points, seconds
	n    int
}

// newCostModel returns a model over factors factors, every θ 1 (the plain
// mean) until the first fit.
func newCostModel(factors int) *costModel {
	m := &costModel{theta: make([]float64, factors)}
	for i := range m.theta {
		m.theta[i] = 1
	}
	return m
}

// add records that a point with features vals took secs seconds. It
// counts in predictions at once under the kernel, from the next fit under
// a main-effects model.
func (m *costModel) add(vals []int32, secs float64) {
	m.vals = append(m.vals, vals)
	m.secs = append(m.secs, math.Max(secs, 1e-6))
	m.cells = nil
}

// refit fits θ again when the measured points have grown by half since
// the last fit (from 3 on), and reports whether it did.
func (m *costModel) refit() bool {
	n := len(m.vals)
	if n < 3 || (m.fitted > 0 && n < m.fitted+max(1, m.fitted/2)) {
		return false
	}
	m.fit()
	return true
}

// fit chooses θ by coordinate descent over thetaGrid, minimising the
// leave-one-out squared error of log cost over (an even subsample of at
// most maxFit of) the measured points.
func (m *costModel) fit() {
	m.fitted = len(m.vals)
	m.cells = nil
	idx := make([]int, len(m.vals))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) > maxFit {
		sub := make([]int, maxFit)
		for i := range sub {
			sub[i] = idx[i*len(idx)/maxFit]
		}
		idx = sub
	}
	n := len(idx)
	if n < 2 {
		return
	}
	// Distinct mismatch sets of the pairs, so that a weight is computed
	// once per set, not once per pair.
	setID := map[uint64]int{}
	var sets []uint64
	pair := make([]int, n*n)
	for a := range n {
		for b := range n {
			s := mismatch(m.vals[idx[a]], m.vals[idx[b]])
			id, ok := setID[s]
			if !ok {
				id = len(sets)
				setID[s] = id
				sets = append(sets, s)
			}
			pair[a*n+b] = id
		}
	}
	logs := make([]float64, n)
	for a := range n {
		logs[a] = math.Log(m.secs[idx[a]])
	}
	w := make([]float64, len(sets))
	loss := func(theta []float64) float64 {
		for i, s := range sets {
			w[i] = 1
			for ; s != 0; s &= s - 1 {
				w[i] *= theta[bits.TrailingZeros64(s)]
			}
		}
		total := 0.0
		for a := range n {
			num, den := 0.0, 0.0
			for b := range n {
				if a != b {
					wt := w[pair[a*n+b]]
					num += wt * m.secs[idx[b]]
					den += wt
				}
			}
			d := math.Log(num/den) - logs[a]
			total += d * d
		}
		return total
	}
	theta := slices.Clone(m.theta)
	best := loss(theta)
	for range 3 {
		changed := false
		for f := range theta {
			keep := theta[f]
			for _, v := range thetaGrid {
				if v == keep {
					continue
				}
				theta[f] = v
				if l := loss(theta); l < best-1e-12 {
					best, keep, changed = l, v, true
				}
			}
			theta[f] = keep
		}
		if !changed {
			break
		}
	}
	m.theta = theta
	// With few points, a main-effects model of log cost may generalise
	// better than the kernel: keep the one with the smaller leave-one-out
	// error.
	m.main = nil
	if n <= maxMainEffects {
		if l := mainEffectsLOO(m.vals, m.secs, idx, len(m.theta)); l < best {
			m.main = mainEffects(m.vals, m.secs, len(m.theta), predictShrink)
			m.smear = smearing(m.main, m.vals, m.secs)
			m.minSecs, m.maxSecs = slices.Min(m.secs), slices.Max(m.secs)
		}
	}
}

// Shrinkage of the main effects (see [mainEffects]): strong to rank the
// points to sample (a value seen once counts half), light to predict
// costs (a product of effects, as a sweep's often is, loses little).
const (
	rankShrink    = 1
	predictShrink = 0.25
)

// maxMainEffects is the most measured points for which fit weighs the
// main-effects model against the kernel; beyond it the kernel, which
// sees interactions, has the data it needs.
const maxMainEffects = 64

// mainEffectsLOO returns the leave-one-out squared error of log cost of
// the main-effects model over the points idx of vals and secs.
func mainEffectsLOO(vals [][]int32, secs []float64, idx []int, factors int) float64 {
	total := 0.0
	v := make([][]int32, 0, len(idx))
	c := make([]float64, 0, len(idx))
	for _, a := range idx {
		v, c = v[:0], c[:0]
		for _, b := range idx {
			if b != a {
				v, c = append(v, vals[b]), append(c, secs[b])
			}
		}
		pred := mainEffects(v, c, factors, predictShrink)(vals[a])
		pred = min(max(pred, math.Log(slices.Min(c))), math.Log(slices.Max(c)))
		d := pred - math.Log(secs[a])
		total += d * d
	}
	return total
}

// smearing returns Duan's smearing factor of a log-cost model: the mean of
// exp(residual), which turns its predicted log cost into a mean cost.
func smearing(main func([]int32) float64, vals [][]int32, secs []float64) float64 {
	sum := 0.0
	for i, v := range vals {
		sum += math.Exp(math.Log(secs[i]) - main(v))
	}
	return sum / float64(len(vals))
}

// aggregate builds the cells of the measured points.
func (m *costModel) aggregate() {
	index := map[string]int{}
	key := make([]byte, 0, 4*len(m.theta))
	m.cells = []costCell{}
	for i, v := range m.vals {
		key = key[:0]
		for f, x := range v {
			if f < len(m.theta) && m.theta[f] < 1 {
				key = append(key, byte(f), byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
			}
		}
		c, ok := index[string(key)]
		if !ok {
			c = len(m.cells)
			index[string(key)] = c
			m.cells = append(m.cells, costCell{vals: v})
		}
		m.cells[c].sum += m.secs[i]
		m.cells[c].n++
	}
}

// predict returns the predicted wall time in seconds of a point with
// features vals, NaN when nothing was measured.
func (m *costModel) predict(vals []int32) float64 {
	if len(m.vals) == 0 {
		return math.NaN()
	}
	if m.main != nil {
		// Within the measured range: a product of effects extrapolates
		// without bound to corners never measured.
		return min(max(math.Exp(m.main(vals))*m.smear, m.minSecs), m.maxSecs)
	}
	if m.cells == nil {
		m.aggregate()
	}
	num, den := 0.0, 0.0
	for _, c := range m.cells {
		w := 1.0
		for s := mismatch(vals, c.vals); s != 0; s &= s - 1 {
			w *= m.theta[bits.TrailingZeros64(s)]
		}
		num += w * c.sum
		den += w * float64(c.n)
	}
	return num / den
}

// makespan returns when the last of costs (seconds, in the order the
// points are handed out) ends on workers whose first free times are free:
// each point goes to the worker free first, as [Run]'s workers take
// points from one queue.
func makespan(free []float64, costs []float64) float64 {
	h := floatHeap(slices.Clone(free))
	heap.Init(&h)
	end := 0.0
	for _, f := range free {
		end = math.Max(end, f)
	}
	for _, c := range costs {
		t := heap.Pop(&h).(float64) + c
		end = math.Max(end, t)
		heap.Push(&h, t)
	}
	return end
}

type floatHeap []float64

func (h floatHeap) Len() int           { return len(h) }
func (h floatHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h floatHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *floatHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *floatHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// spreadOrder returns a permutation of 0..n-1 that visits the range
// evenly from the start: the bit-reversal (van der Corput) order, so that
// any prefix is spread over the whole range (0, n/2, n/4, 3n/4, ...).
func spreadOrder(n int) []int {
	if n <= 1 {
		return make([]int, n)
	}
	k := bits.Len(uint(n - 1))
	out := make([]int, 0, n)
	for i := range 1 << k {
		r := int(bits.Reverse(uint(i)) >> (bits.UintSize - k))
		if r < n {
			out = append(out, r)
		}
	}
	return out
}

// spreadWithin returns points sorted by rank(p), and those of equal rank
// (one workload) in the spread order of their places in points.
func spreadWithin(points []int, rank func(int) int) []int {
	out := slices.Clone(points)
	slices.SortStableFunc(out, func(a, b int) int { return rank(a) - rank(b) })
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && rank(out[j]) == rank(out[i]) {
			j++
		}
		seg := slices.Clone(out[i:j])
		for k, r := range spreadOrder(j - i) {
			out[i+k] = seg[r]
		}
		i = j
	}
	return out
}

// features returns the cost features of the points of w as they run on
// workers workers: the first points of each workload in w.order, as many
// as there are workers, pay for its trace. The first generates it; the
// others, started beside it, replay it as fast as it is recorded.
func (w *workloads) features(sw *Spec, workers int) *costFeatures {
	first := make([]bool, sw.Len())
	seen := map[int32]int{}
	for _, p := range w.order {
		g := w.groups[p]
		if seen[g] < max(1, workers) {
			first[p] = true
		}
		seen[g]++
	}
	return newCostFeatures(sw, w.groups, first)
}

// predictAll returns the predicted cost of each of points (features f),
// computing once per distinct value of the factors that matter.
func (m *costModel) predictAll(f *costFeatures, points []int) []float64 {
	out := make([]float64, len(points))
	memo := map[string]float64{}
	key := make([]byte, 0, 5*len(m.theta))
	for i, p := range points {
		key = key[:0]
		for k, x := range f.values[p] {
			if k < len(m.theta) && (m.theta[k] < 1 || m.main != nil) {
				key = append(key, byte(k), byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
			}
		}
		v, ok := memo[string(key)]
		if !ok {
			v = m.predict(f.values[p])
			memo[string(key)] = v
		}
		out[i] = v
	}
	return out
}

// EstimateOptions configure [Estimate].
type EstimateOptions struct {
	// Workers is the number of points the run simulates at once; 0 means
	// one per CPU.
	Workers int
	// Samples bounds the points chosen to be timed: at most a third of
	// the points (8 at least), fewer when Budget runs out first. Cheap
	// points run beside the costliest add to them.
	Samples int
	// Budget is the wall time to spend timing; a sample point still
	// running at 3 × Budget is stopped.
	Budget time.Duration
	// Dir is the output directory of the run: the journal's appends are
	// timed on its file system (that of its nearest existing parent).
	Dir string
	// Formats are the tables the run writes at its end.
	Formats Formats
	// TraceCache bounds the trace cache's memory, as [Options.TraceCache].
	TraceCache int64
	// Detail times result lines with their detail, as [Options.Detail].
	Detail bool
}

// TimeEstimate is what [Estimate] measured and predicts.
type TimeEstimate struct {
	// Samples is the number of points timed; Workers the workers assumed.
	Samples, Workers int
	// PerPoint is the mean measured wall time of a sample point (on a
	// worker, beside the others); MinPoint and MaxPoint the extremes.
	PerPoint, MinPoint, MaxPoint time.Duration
	// Sampling is the wall time the samples took.
	Sampling time.Duration
	// Sync is the measured time of one append to the journal (a write
	// and an fsync).
	Sync time.Duration
	// Compute is the predicted time of the simulations: each point's cost
	// predicted from the samples, the points laid out on the workers in
	// run order.
	Compute time.Duration
	// Journal is the least time the journal's appends need: each batch
	// of lines costs Sync, and a batch holds at most the lines the
	// workers can have waiting.
	Journal time.Duration
	// Outputs is the predicted time of writing the tables at the end,
	// from writing those of the samples.
	Outputs time.Duration
	// Total is the predicted wall time of the run: the longer of Compute
	// and Journal (they overlap), then Outputs.
	Total time.Duration
	// AtLeast is true when a sample point outran the time allowed and was
	// stopped: the figures are lower bounds.
	AtLeast bool
}

// outputSyncs is the number of fsyncs writing a run's outputs costs
// beyond its data: the manifest, its directory and the output directory.
const outputSyncs = 3

// Estimate is [EstimateWith] for a run on workers workers (0: one per
// CPU) in the current directory with the default tables and trace cache,
// timing at most samples points for about budget.
func Estimate(ctx context.Context, sw *Spec, points []int, workers, samples int, budget time.Duration) (TimeEstimate, error) {
	return EstimateWith(ctx, sw, points, EstimateOptions{Workers: workers, Samples: samples, Budget: budget,
		Formats: Formats{CSV: true, Parquet: true}, TraceCache: DefaultTraceCache})
}

// EstimateWith predicts the wall time of a run of points of sw by running a
// sample of them as [Run] would: on the workers, with a trace cache, each
// line appended and fsynced to a journal (in a temporary directory beside
// opts.Dir), and the tables written at the end. The sample is taken in two
// halves. The first is spread: points that differ from each other on as
// many axes as they can (greedy max-min distance over the factors), each
// followed by another point of its workload (to time a replay from the
// trace cache). The second is where the time goes: the points a
// main-effects model fitted to the first half ranks costliest, so that a
// costly corner of the sweep is measured more than once; they run one at a
// time, beside the cheapest points not sampled yet (measured too), as
// costly points run in a spread run. Points are taken until opts.Budget
// has passed.
//
// Each point's cost is then predicted from the samples by the cost model,
// the points laid out on the workers in run order (see the section on time
// estimates above), and the time of the journal's fsyncs and of the final
// tables added as measured.
func EstimateWith(ctx context.Context, sw *Spec, points []int, opts EstimateOptions) (TimeEstimate, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(1, len(points)))
	est := TimeEstimate{Workers: workers}
	if len(points) == 0 || opts.Samples <= 0 {
		return est, nil
	}
	if ids, _ := sw.index(); ids == nil {
		return est, fmt.Errorf("sweep %s: Estimate needs each point's ID and workload: load it with Load, or Open with Index", sw.Name)
	}
	w := groupByWorkload(sw, points)
	order, f := w.order, w.features(sw, workers)
	limit := min(opts.Samples, len(points), max(8, (len(points)+2)/3))

	tmp, err := os.MkdirTemp(existingParent(opts.Dir), ".migsim-estimate-*")
	if err != nil {
		return est, fmt.Errorf("a directory to time the journal in: %w", err)
	}
	defer os.RemoveAll(tmp)
	s, err := newSampler(ctx, sw, f, workers, opts, tmp)
	if err != nil {
		return est, err
	}
	defer s.close()
	// The spread half, then the costly half, one costly point at a time
	// beside the cheapest points not yet sampled.
	if err := s.run(samplePoints(f, order, (limit+1)/2), opts.Budget/2, nil); err != nil {
		return est, err
	}
	if len(s.done) >= 3 {
		s.model.fit()
	}
	if len(s.done) > 0 {
		ranked := costlyPoints(s.model, f, order, s.done, len(order))
		n := max(0, limit-len(s.done))
		costly, filler := ranked[:min(n, len(ranked))], slices.Clone(ranked[min(n, len(ranked)):])
		slices.Reverse(filler)
		if err := s.run(costly, opts.Budget, filler); err != nil {
			return est, err
		}
	}
	est.Sampling, est.AtLeast = time.Since(s.start), s.atLeast
	if len(s.syncs) > 0 {
		est.Sync = seconds(mean(s.syncs))
	}
	m := s.model
	var sum float64
	for i, secs := range m.secs {
		d := seconds(secs)
		if i == 0 || d < est.MinPoint {
			est.MinPoint = d
		}
		est.MaxPoint = max(est.MaxPoint, d)
		sum += secs
	}
	est.Samples = len(m.secs)
	if est.Samples == 0 {
		if est.AtLeast {
			est.Total = time.Duration(float64(3*opts.Budget) * float64(len(points)) / float64(workers))
		}
		return est, nil
	}
	est.PerPoint = seconds(sum / float64(est.Samples))
	if est.Samples >= 3 {
		m.fit()
	}
	// Predict every point as it will run (its own first-of-workload
	// flag), and lay them out.
	costs := m.predictAll(f, order)
	est.Compute = seconds(makespan(make([]float64, workers), costs))
	est.Journal = journalTime(len(points), est.Sync, workers, 4*workers)

	// The tables: time those of the samples; the fsyncs are a fixed cost,
	// the rest grows with the points.
	done := slices.Sorted(slices.Values(s.done))
	outDir := filepath.Join(tmp, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return est, err
	}
	t0 := time.Now()
	ix := newLineIndex(sw.Len(), false)
	_, err = scanJournal(filepath.Join(tmp, JournalFile), ix, nil)
	if err == nil {
		err = writeOutputs(outDir, newManifest(sw, Shard{}, opts.Detail), done, ix, opts.Formats)
	}
	if err != nil {
		return est, fmt.Errorf("timing the tables: %w", err)
	}
	tOut := time.Since(t0).Seconds()
	fixed := float64(tableFiles(opts.Formats)+outputSyncs) * est.Sync.Seconds()
	perPoint := math.Max(0, tOut-fixed) / float64(len(done))
	est.Outputs = seconds(fixed + perPoint*float64(len(points)))
	est.Total = max(est.Compute, est.Journal) + est.Outputs
	return est, nil
}

// costlyPoints returns up to n points of order not in sampled, those
// likely to cost most first: ranked by a main-effects model of log cost
// fitted to the measured points (see [mainEffects]), which, unlike the
// kernel's means of like points, combines effects seen apart, so that an
// unmeasured corner where several costly values meet ranks high. Ties go
// in order.
func costlyPoints(m *costModel, f *costFeatures, order, sampled []int, n int) []int {
	in := make(map[int]bool, len(sampled))
	for _, p := range sampled {
		in[p] = true
	}
	var rest []int
	for _, p := range order {
		if !in[p] {
			rest = append(rest, p)
		}
	}
	score := mainEffects(m.vals, m.secs, len(f.names), rankShrink)
	pred := make([]float64, len(rest))
	for i, p := range rest {
		pred[i] = score(f.values[p])
	}
	idx := make([]int, len(rest))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(pred[b], pred[a]) })
	var out []int
	for _, i := range idx[:max(0, min(len(idx), n))] {
		out = append(out, rest[i])
	}
	return out
}

// mainEffects fits log cost = μ + Σ_f β_f(value of factor f) to the
// measured points (features vals, costs secs) by backfitting, each β
// shrunk towards 0 by its count n as n/(n+shrink), and returns the fitted log
// cost of a point; a value never measured has β = 0.
func mainEffects(vals [][]int32, secs []float64, factors int, shrink float64) func([]int32) float64 {
	mu := 0.0
	for _, s := range secs {
		mu += math.Log(s)
	}
	if len(secs) > 0 {
		mu /= float64(len(secs))
	}
	beta := make([]map[int32]float64, factors)
	for k := range beta {
		beta[k] = map[int32]float64{}
	}
	fit := func(v []int32, skip int) float64 {
		y := mu
		for k := range factors {
			if k != skip && k < len(v) {
				y += beta[k][v[k]]
			}
		}
		return y
	}
	for range 10 {
		for k := range factors {
			sum, count := map[int32]float64{}, map[int32]int{}
			for i, v := range vals {
				sum[v[k]] += math.Log(secs[i]) - fit(v, k)
				count[v[k]]++
			}
			for x, c := range count {
				beta[k][x] = sum[x] / (float64(c) + shrink)
			}
		}
	}
	return func(v []int32) float64 { return fit(v, -1) }
}

// journalTime is the least time appending n lines takes when each batch
// costs sync and holds at most the lines waiting in a channel of capacity
// buffer plus one per worker.
func journalTime(n int, sync time.Duration, workers, buffer int) time.Duration {
	batch := max(1, buffer+workers)
	return time.Duration(float64(sync) * math.Ceil(float64(n)/float64(batch)))
}

// tableFiles is the number of data files a run writes at its end.
func tableFiles(f Formats) int {
	n := 1 // results.jsonl
	if f.CSV {
		n++
	}
	if f.Parquet {
		n++
	}
	return n
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// mean returns the mean of v, NaN for none.
func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// existingParent returns dir or its nearest existing parent; "." for "".
func existingParent(dir string) string {
	if dir == "" {
		return "."
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		if d == filepath.Dir(d) {
			return "."
		}
	}
}

// sampler runs sample points as [Run] runs points and measures them:
// workers taking them from one queue with one trace cache, their lines
// appended and fsynced in batches to a journal by one writer.
type sampler struct {
	ctx, limited context.Context
	cancel       context.CancelFunc
	sw           *Spec
	f            *costFeatures
	workers      int
	axes         []AxisInfo
	cache        *traces.Cache
	j            *journal
	start        time.Time
	detail       bool

	// model holds the measured points, each with its first-of-workload
	// flag as it ran here: set when it started before any sample point of
	// its workload had ended, so that the trace was still being recorded.
	model   *costModel
	ended   map[int32]bool // workloads a sample point of has ended
	done    []int          // points measured, in the order they ended
	taken   int            // points started
	syncs   []float64      // each journal append, seconds
	atLeast bool
}

// newSampler returns a sampler whose journal is in dir; sample points
// still running at 3 × opts.Budget are stopped.
func newSampler(ctx context.Context, sw *Spec, f *costFeatures, workers int, opts EstimateOptions, dir string) (*sampler, error) {
	j, err := openJournal(filepath.Join(dir, JournalFile), 0)
	if err != nil {
		return nil, err
	}
	size := opts.TraceCache
	if size == 0 {
		size = DefaultTraceCache
	}
	s := &sampler{ctx: ctx, sw: sw, f: f, workers: workers, axes: axisInfos(sw.Axes), cache: traces.NewCache(size), detail: opts.Detail,
		j: j, start: time.Now(), model: newCostModel(len(f.names)), ended: map[int32]bool{}}
	s.limited, s.cancel = context.WithTimeout(ctx, 3*opts.Budget)
	return s, nil
}

func (s *sampler) close() {
	s.cancel()
	s.j.close()
}

// minSamples is the least number of points a sampler starts before its
// budget may stop it (its hard limit, 3 × the budget, still does).
const minSamples = 8

// run runs points in order on the workers, taking none once until has
// passed since the sampler started and minSamples points have started.
// With filler, at most one of points runs at a time: a worker that would
// start a second takes the next of filler instead (or waits when filler
// is used up). Costly points run so as they do in a spread run, beside
// cheap ones: two at once slow each other (memory bandwidth, the
// collector), and a sample of them run together would cost more than the
// run will.
func (s *sampler) run(points []int, until time.Duration, filler []int) error {
	var (
		mu      sync.Mutex
		freed   = sync.NewCond(&mu)
		next    int
		nextF   int
		costly  int // points of points running
		failed  error
		wg      sync.WaitGroup
		workers = min(s.workers, len(points)+len(filler))
	)
	exclusive := filler != nil
	lines := make(chan []byte, 4*s.workers)
	// take returns the next point to run and whether it is one of points,
	// or -1 when there is none; mu is held.
	take := func() (int, bool) {
		for {
			over := time.Since(s.start) >= until && s.taken >= minSamples
			if next == len(points) || over || failed != nil || s.limited.Err() != nil {
				return -1, false
			}
			if !exclusive || costly == 0 {
				next++
				costly++
				s.taken++
				return points[next-1], true
			}
			if nextF < len(filler) {
				nextF++
				s.taken++
				return filler[nextF-1], false
			}
			freed.Wait()
		}
	}
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				p, isCostly := take()
				if p < 0 {
					mu.Unlock()
					freed.Broadcast()
					return
				}
				vals := slices.Clone(s.f.values[p])
				vals[len(vals)-1] = 0
				if !s.ended[s.f.group[p]] {
					vals[len(vals)-1] = 1 // its trace is not recorded yet
				}
				mu.Unlock()
				t0 := time.Now()
				pt, err := s.sw.Point(p)
				var line []byte
				if err == nil {
					line, err = runPoint(s.limited, pt, s.axes, s.cache, s.detail)
				}
				d := time.Since(t0).Seconds()
				mu.Lock()
				if isCostly {
					costly--
					freed.Broadcast()
				}
				switch {
				case err != nil && s.limited.Err() != nil && s.ctx.Err() == nil:
					s.atLeast = true
				case err != nil:
					if failed == nil {
						failed = err
					}
				default:
					s.model.add(vals, d)
					s.done = append(s.done, p)
					s.ended[s.f.group[p]] = true
				}
				mu.Unlock()
				if err != nil {
					freed.Broadcast()
					return
				}
				lines <- line
			}
		})
	}
	go func() {
		wg.Wait()
		close(lines)
	}()
	// The writer, as Run's: append what has arrived, then fsync.
	var buf []byte
	var werr error
	for line := range lines {
		buf = append(buf[:0], line...)
	batch:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break batch
				}
				buf = append(buf, l...)
			default:
				break batch
			}
		}
		if werr == nil {
			t0 := time.Now()
			werr = s.j.append(buf)
			s.syncs = append(s.syncs, time.Since(t0).Seconds())
		}
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	return werr
}

// samplePoints chooses up to limit points of order to time: greedily the
// point farthest (in factors that differ, the first-of-workload flag
// aside) from those chosen, among those the one with most factor values
// no chosen point has, ties to the earliest in order; each followed by
// the next point of its workload in order when there is one.
func samplePoints(f *costFeatures, order []int, limit int) []int {
	if limit <= 0 || len(order) == 0 {
		return nil
	}
	nAxes := len(f.names) - 1
	axesMask := uint64(1)<<min(nAxes, 63) - 1
	dist := make([]int, len(order)) // distance to the nearest chosen point
	for i := range dist {
		dist[i] = math.MaxInt
	}
	chosen := make([]bool, len(order))
	covered := make([]map[int32]bool, nAxes)
	for k := range covered {
		covered[k] = map[int32]bool{}
	}
	fresh := func(p int) int {
		n := 0
		for k := range nAxes {
			if !covered[k][f.values[p][k]] {
				n++
			}
		}
		return n
	}
	var out []int
	take := func(i int) {
		chosen[i] = true
		p := order[i]
		out = append(out, p)
		for k := range nAxes {
			covered[k][f.values[p][k]] = true
		}
		for j, q := range order {
			if d := bits.OnesCount64(mismatch(f.values[p], f.values[q]) & axesMask); d < dist[j] {
				dist[j] = d
			}
		}
	}
	for len(out) < limit {
		best, bestFresh := -1, 0
		for i := range order {
			if chosen[i] || (best >= 0 && dist[i] < dist[best]) {
				continue
			}
			fr := fresh(order[i])
			if best < 0 || dist[i] > dist[best] || fr > bestFresh {
				best, bestFresh = i, fr
			}
		}
		if best < 0 {
			break
		}
		take(best)
		// Its workload's next point, to time a replay.
		if len(out) < limit {
			for j := best + 1; j < len(order) && f.group[order[j]] == f.group[order[best]]; j++ {
				if !chosen[j] {
					take(j)
					break
				}
			}
		}
	}
	return out
}
