package sweep

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSpreadOrder(t *testing.T) {
	if got := spreadOrder(10); !slices.Equal(got, []int{0, 8, 4, 2, 6, 1, 9, 5, 3, 7}) {
		t.Errorf("spreadOrder(10) = %v", got)
	}
	for _, n := range []int{0, 1, 2, 3, 7, 30, 64, 100} {
		got := spreadOrder(n)
		if len(got) != n || !slices.Equal(slices.Sorted(slices.Values(got)), seq(n)) {
			t.Errorf("spreadOrder(%d) = %v is not a permutation", n, got)
			continue
		}
		// Any prefix of m leaves no gap wider than about n/m.
		for m := 2; m <= n; m++ {
			pre := slices.Sorted(slices.Values(got[:m]))
			gap := max(pre[0], n-1-pre[m-1])
			for i := 1; i < m; i++ {
				gap = max(gap, pre[i]-pre[i-1])
			}
			if gap > 4*n/m+1 {
				t.Errorf("spreadOrder(%d): the first %d leave a gap of %d", n, m, gap)
				break
			}
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestMakespan(t *testing.T) {
	for _, tc := range []struct {
		free, costs []float64
		want        float64
	}{
		{[]float64{0, 0}, []float64{1, 1, 1}, 2},
		{[]float64{0, 0}, []float64{1, 1, 1, 1}, 2},
		{[]float64{0, 0}, []float64{1, 1, 4}, 5}, // a costly point last: the tail
		{[]float64{0, 0}, []float64{4, 1, 1}, 4},
		{[]float64{3, 0}, []float64{1, 1}, 3}, // a worker still busy
		{[]float64{0}, nil, 0},
	} {
		if got := makespan(tc.free, tc.costs); got != tc.want {
			t.Errorf("makespan(%v, %v) = %v, want %v", tc.free, tc.costs, got, tc.want)
		}
	}
}

// cornerSweep builds the cost features of a sweep like biswas2016: three
// grid factors (3 × 3 × 2) and a zip factor (4 values), 72 points, one
// workload per value of the second and zip factors. Its costs put nearly
// all of the time in one corner: 0.5 s where the first two factors are 2
// and the third 0, else 10-25 ms growing with the zip value; the first
// point of a workload pays 5 ms more for its trace.
func cornerSweep() (*costFeatures, []int, func(p int) float64) {
	f := &costFeatures{names: []string{"a", "b", "c", "z", firstFactor}, repeat: make([]bool, 5)}
	cost := map[int]float64{}
	var order []int
	type key struct{ b, z int32 }
	groups := map[key]int32{}
	for a := range int32(3) {
		for b := range int32(3) {
			for c := range int32(2) {
				for z := range int32(4) {
					p := len(f.values)
					g, ok := groups[key{b, z}]
					if !ok {
						g = int32(len(groups))
						groups[key{b, z}] = g
					}
					f.values = append(f.values, []int32{a, b, c, z, 0})
					f.group = append(f.group, g)
					c0 := 0.01 * (1 + float64(z)/2)
					if a == 2 && b == 2 && c == 0 {
						c0 = 0.5
					}
					cost[p] = c0
				}
			}
		}
	}
	// The run order: groups together, in spread order; the first of each
	// group pays for the trace.
	rank := map[int32]int{}
	for r, g := range spreadOrder(len(groups)) {
		rank[int32(g)] = r
	}
	order = seq(len(f.values))
	slices.SortStableFunc(order, func(x, y int) int { return rank[f.group[x]] - rank[f.group[y]] })
	seen := map[int32]bool{}
	for _, p := range order {
		if !seen[f.group[p]] {
			f.values[p][4] = 1
			cost[p] += 0.005
			seen[f.group[p]] = true
		}
	}
	return f, order, func(p int) float64 { return cost[p] }
}

// TestCostModelCorner checks that a third of the points, chosen as
// Estimate chooses them (half spread by samplePoints, half where the model
// fitted to those predicts the cost), predict the time of the whole sweep
// within 10 %, although 4 points of 72 take most of it, and that the
// fitted weights tell the factors that matter.
func TestCostModelCorner(t *testing.T) {
	f, order, cost := cornerSweep()
	spread := samplePoints(f, order, 12)
	if len(spread) != 12 {
		t.Fatalf("%d spread samples, want 12", len(spread))
	}
	// The spread half covers every value of every factor.
	for k := range 4 {
		vals := map[int32]bool{}
		for _, p := range spread {
			vals[f.values[p][k]] = true
		}
		if want := []int{3, 3, 2, 4}[k]; len(vals) != want {
			t.Errorf("the spread sample has %d values of factor %s, want %d", len(vals), f.names[k], want)
		}
	}
	m := newCostModel(len(f.names))
	for _, p := range spread {
		m.add(f.values[p], cost(p))
	}
	m.fit()
	costly := costlyPoints(m, f, order, spread, 12)
	corner := 0
	for _, p := range costly {
		m.add(f.values[p], cost(p))
		if cost(p) >= 0.5 {
			corner++
		}
	}
	if corner < 2 {
		t.Errorf("the costly half has %d points of the costly corner, want at least 2", corner)
	}
	m.fit()
	var want, got float64
	pred := m.predictAll(f, order)
	for i, p := range order {
		want += cost(p)
		got += pred[i]
	}
	if math.Abs(got-want)/want > 0.10 {
		t.Errorf("predicted %.3f s for the sweep, it takes %.3f s (θ %v)", got, want, m.theta)
	}
	if m.theta[0] >= 0.2 || m.theta[1] >= 0.2 || m.theta[2] >= 0.2 {
		t.Errorf("θ %v: the corner's factors a, b, c should weigh (θ < 0.2)", m.theta)
	}
	// The plain mean of a third of the points is far off: the test can
	// fail.
	plain := newCostModel(len(f.names))
	for _, p := range spread {
		plain.add(f.values[p], cost(p))
	}
	for _, p := range costly {
		plain.add(f.values[p], cost(p))
	}
	mean := plain.predict(f.values[0]) * float64(len(order))
	if math.Abs(mean-want)/want < 0.2 {
		t.Errorf("the samples' plain mean predicts %.3f s of %.3f s: the test sweep does not need a model", mean, want)
	}
}

// TestCostModelFirstOfWorkload checks that the model tells the first
// point of a workload (which pays for its trace) from the others once both
// were measured, and predicts from the nearest before any fit.
func TestCostModelFirstOfWorkload(t *testing.T) {
	m := newCostModel(2)
	if !math.IsNaN(m.predict([]int32{0, 1})) {
		t.Error("a model without measurements predicts a number")
	}
	for i := range int32(6) {
		m.add([]int32{i % 3, 1}, 0.2) // cold: 0.2 s
		m.add([]int32{i % 3, 0}, 0.02)
	}
	m.fit()
	if c, w := m.predict([]int32{1, 1}), m.predict([]int32{1, 0}); math.Abs(c-0.2) > 0.01 || math.Abs(w-0.02) > 0.002 {
		t.Errorf("cold %.4f s, warm %.4f s; want 0.2 and 0.02 (θ %v)", c, w, m.theta)
	}
	if m.theta[0] != 1 {
		t.Errorf("θ %v: factor 0 does not change the cost, its θ should be 1", m.theta)
	}
}

func TestJournalTime(t *testing.T) {
	// 100 lines, batches of at most 8 + 2: 10 fsyncs of 5 ms.
	if got := journalTime(100, 5*time.Millisecond, 2, 8); got != 50*time.Millisecond {
		t.Errorf("journalTime = %v, want 50ms", got)
	}
	if got := journalTime(0, 5*time.Millisecond, 2, 8); got != 0 {
		t.Errorf("journalTime of nothing = %v", got)
	}
}

// TestProgressETA checks the ETA from measured costs with a clock the
// test moves: the points left laid out on the workers, those running
// credited with their time so far, the journal's appends when they are
// the bound, the tables' fsyncs at the end.
func TestProgressETA(t *testing.T) {
	f, order, cost := cornerSweep()
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := NewProgress(&b, false, time.Hour)
	p.now = func() time.Time { return now }
	p.plan(order, f, 2, 8, Formats{})
	p.start(0, len(order))
	defer p.stop()
	p.mu.Lock()
	if _, ok := p.left(now); ok {
		t.Error("an ETA before any point ended")
	}
	if line := p.line(now); !strings.Contains(line, "ETA -") {
		t.Errorf("line %q before any point ended", line)
	}
	p.mu.Unlock()
	// Run the first 36 points on two workers with the clock.
	free := [2]time.Time{now, now}
	for _, pt := range order[:36] {
		w := 0
		if free[1].Before(free[0]) {
			w = 1
		}
		now = free[w]
		p.started(pt)
		now = now.Add(time.Duration(cost(pt) * float64(time.Second)))
		p.ended(pt)
		free[w] = now
	}
	now = free[0]
	if free[1].After(now) {
		now = free[1]
	}
	p.mu.Lock()
	got, ok := p.left(now)
	p.mu.Unlock()
	var rest []float64
	for _, pt := range order[36:] {
		rest = append(rest, cost(pt))
	}
	want := makespan([]float64{0, 0}, rest)
	if !ok || math.Abs(got.Seconds()-want)/want > 0.25 {
		t.Errorf("ETA %v at half way, the rest takes %.3f s", got, want)
	}
	// A point running: its time so far is credited.
	p.started(order[36])
	now = now.Add(time.Millisecond)
	p.mu.Lock()
	withRunning, _ := p.left(now)
	p.mu.Unlock()
	if d := got - withRunning; d < 0 || d > 5*time.Millisecond {
		t.Errorf("ETA %v with a point running 1 ms, %v before", withRunning, got)
	}
	// Slow fsyncs bound the ETA: 35 lines left in batches of 10 at 1 s,
	// then the tables' 4 fsyncs.
	p.synced(time.Second)
	p.mu.Lock()
	slow, _ := p.left(now)
	p.mu.Unlock()
	if want := journalTime(len(order)-p.done, time.Second, 2, 8) + (1+outputSyncs)*time.Second; slow != want {
		t.Errorf("ETA %v with 1 s fsyncs, want %v", slow, want)
	}
}

// TestRunOrderSpread checks that Run hands out workloads in spread order,
// each workload's points together, and that the cost features mark the
// first point of each.
func TestRunOrderSpread(t *testing.T) {
	sw := loadTestSweep(t, `name: spread
base:
  vm: {memory: 16MiB}
  workload:
    generator: {kind: uniform, dirty_rate: 100, working_set: 8MiB, duration: 1s}
grid:
  workload.generator.dirty_rate: [100, 200, 300, 400, 500, 600, 700, 800]
  model.name: [precopy, postcopy]
`)
	w := groupByWorkload(sw, seq(len(sw.Points)))
	var rates []int
	for i, p := range w.order {
		if i%2 == 0 {
			rates = append(rates, p/2)
			if w.order[i+1] != p+1 {
				t.Errorf("order %v: a workload's points are apart", w.order)
			}
		}
	}
	if want := []int{0, 4, 2, 6, 1, 5, 3, 7}; !slices.Equal(rates, want) {
		t.Errorf("workloads in order %v, want %v", rates, want)
	}
	f := w.features(sw, 1)
	if !slices.Equal(f.names, []string{"workload.generator.dirty_rate", "model.name", firstFactor}) {
		t.Errorf("factors %v", f.names)
	}
	for i, p := range w.order {
		if first := f.values[p][2] == 1; first != (i%2 == 0) {
			t.Errorf("point %d (at %d in the order) first of its workload: %v", p, i, first)
		}
	}
}

// TestProgressOverdue checks that a point running far beyond its
// prediction, of a kind not measured yet, counts half as long again as it
// has run, and so do its repeats still queued.
func TestProgressOverdue(t *testing.T) {
	// Factor a (3 values) and a repeat axis (3 seeds); a = 2 costs 1 s,
	// the rest 10 ms.
	f := &costFeatures{names: []string{"a", "seed", firstFactor}, repeat: []bool{false, true, false}}
	var order []int
	for a := range int32(3) {
		for seed := range int32(3) {
			order = append(order, len(f.values))
			f.values = append(f.values, []int32{a, seed, 1})
			f.group = append(f.group, int32(len(f.group)))
		}
	}
	now := time.Unix(1000, 0)
	p := NewProgress(&bytes.Buffer{}, false, time.Hour)
	p.now = func() time.Time { return now }
	p.plan(order, f, 2, 8, Formats{})
	for _, pt := range order[:6] {
		p.started(pt)
		now = now.Add(10 * time.Millisecond)
		p.ended(pt)
	}
	p.mu.Lock()
	before, _ := p.left(now)
	p.mu.Unlock()
	if before > 100*time.Millisecond {
		t.Fatalf("ETA %v before a = 2 runs: the model cannot know it yet", before)
	}
	// The first point of a = 2 has run 2 s, 200 times its prediction.
	p.started(order[6])
	now = now.Add(2 * time.Second)
	p.mu.Lock()
	after, _ := p.left(now)
	p.mu.Unlock()
	// It has 1 s left, its two repeats 3 s each: on 2 workers, 4 s.
	if d := after - 4*time.Second; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("ETA %v with the first of a = 2 running 2 s; want 4 s", after)
	}
}

// TestCostModelMainEffects checks that with few measured points and a
// cost that is a product of one effect per factor, fit chooses the
// main-effects model, which predicts the points never measured far better
// than means of unlike neighbours.
func TestCostModelMainEffects(t *testing.T) {
	f := &costFeatures{names: []string{"a", "b", "c", firstFactor}, repeat: make([]bool, 4)}
	var order []int
	cost := map[int]float64{}
	for a := range int32(5) {
		for b := range int32(4) {
			for c := range int32(3) {
				p := len(f.values)
				order = append(order, p)
				f.values = append(f.values, []int32{a, b, c, 0})
				f.group = append(f.group, int32(p))
				cost[p] = 0.01 * math.Pow(2, float64(a)) * math.Pow(3, float64(b)) * math.Pow(1.5, float64(c))
			}
		}
	}
	m := newCostModel(len(f.names))
	for _, p := range samplePoints(f, order, 12) {
		m.add(f.values[p], cost[p])
	}
	m.fit()
	if m.main == nil {
		t.Fatal("fit kept the kernel for a cost made of main effects alone")
	}
	var want, got float64
	for i, c := range m.predictAll(f, order) {
		want += cost[order[i]]
		got += c
	}
	if math.Abs(got-want)/want > 0.2 {
		t.Errorf("predicted %.3f s for the sweep, it takes %.3f s", got, want)
	}
}
