package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// The planner (plan.order: optimize) searches the start order, and the
// concurrency up to plan.max_concurrent, for the plan that leaves the
// fewest VMs that miss (did not converge, or went over their
// downtime_limit) and, among those, has the shortest makespan.
//
// The search is greedy construction plus local search, because the
// objective is a whole fleet simulation (no gradient, no closed form, and
// a permutation, which gonum's continuous optimisers do not take without
// a lossy encoding):
//
//  1. Seeds: every plain order (fifo, smallest_first, largest_first,
//     lowest_dirty_first) at every concurrency from 1 to the cap (at
//     most 8 levels, spread), evaluated in parallel on all cores. The
//     best is the incumbent: the plan can never be worse than fifo or
//     smallest_first, which are among the seeds.
//  2. Local search from the incumbent: moves drawn from a generator
//     seeded by the fleet's seed — swap two VMs, move one VM earlier or
//     later, or change the concurrency by one — evaluated a batch at a
//     time in parallel; the best improving move of a batch is taken.
//     It stops when a batch brings nothing or the evaluation budget is
//     spent.
//
// Every step is deterministic for a seed: batches are drawn before they
// are evaluated, and ties go to the move drawn first.

// PlannerReport compares the plan the planner found with the plain
// orders. Its JSON keys follow the fleet result's.
type PlannerReport struct {
	// Evaluations is how many fleet simulations the search ran.
	Evaluations int `json:"evaluations"`
	// MakespanS, NotConverged and OverDowntimeLimit (how many VMs went
	// over their downtime_limit) are the chosen plan's.
	MakespanS         float64 `json:"makespan_s"`
	NotConverged      int     `json:"not_converged"`
	OverDowntimeLimit int     `json:"over_downtime_limit"`
	// FIFO is fifo at the plan's max_concurrent; OneAtATime is fifo one
	// migration at a time (OpenStack Nova's default).
	FIFO       Baseline `json:"fifo"`
	OneAtATime Baseline `json:"one_at_a_time"`
}

// Baseline is one plain plan's outcome.
type Baseline struct {
	MakespanS         float64 `json:"makespan_s"`
	NotConverged      int     `json:"not_converged"`
	OverDowntimeLimit int     `json:"over_downtime_limit"`
}

// candidate is a plan to evaluate.
type candidate struct {
	order []int
	conc  int
}

// score is a plan's outcome: fewer VMs that missed (did not converge or
// went over their downtime_limit) first, then the shorter makespan.
type score struct {
	notConverged, overLimit int
	missed                  int // VMs in either list, each once
	makespan                float64
	res                     *Result
}

// scoreOf scores the fleet result res.
func scoreOf(res *Result) score {
	missed := len(res.VMsNotConverged)
	for _, name := range res.VMsOverDowntimeLimit {
		if !slices.Contains(res.VMsNotConverged, name) {
			missed++
		}
	}
	return score{notConverged: len(res.VMsNotConverged), overLimit: len(res.VMsOverDowntimeLimit),
		missed: missed, makespan: res.MakespanS, res: res}
}

func (a score) better(b score) bool {
	if a.missed != b.missed {
		return a.missed < b.missed
	}
	return a.makespan < b.makespan*(1-1e-9)
}

// baseline is s as a [Baseline].
func (s score) baseline() Baseline {
	return Baseline{MakespanS: s.makespan, NotConverged: s.notConverged, OverDowntimeLimit: s.overLimit}
}

// DefaultBudget is the planner's default number of fleet simulations.
const DefaultBudget = 200

// Optimize searches the plan of f (see above) within budget fleet
// simulations (0: DefaultBudget) and returns the best plan's result with
// its report. progress, when not nil, is told the evaluations done.
func Optimize(ctx context.Context, f *Spec, budget int, progress func(done, budget int)) (*Result, error) {
	if budget <= 0 {
		budget = DefaultBudget
	}
	p := &planner{f: f, budget: budget, progress: progress}
	maxC := max(1, min(f.Plan.MaxConcurrent, len(f.VMs)))

	// 1. Seeds.
	var seeds []candidate
	for _, c := range concurrencyLevels(maxC) {
		for _, o := range []string{OrderFIFO, OrderSmallestFirst, OrderLargestFirst, OrderLowestDirtyFirst} {
			seeds = append(seeds, candidate{order: f.orderBy(o), conc: c})
		}
	}
	scores, err := p.evaluate(ctx, seeds)
	if err != nil {
		return nil, err
	}
	best, bestC := scores[0], seeds[0]
	for i, s := range scores {
		if s.better(best) {
			best, bestC = s, seeds[i]
		}
	}
	fifo := p.lookup(candidate{order: f.orderBy(OrderFIFO), conc: maxC})
	one := p.lookup(candidate{order: f.orderBy(OrderFIFO), conc: 1})

	// 2. Local search.
	rng := rand.New(rand.NewPCG(f.Seed, 0x706c616e)) // "plan"
	batch := max(2, runtime.GOMAXPROCS(0)*2)
	for p.evals < p.budget && len(f.VMs) > 1 {
		var moves []candidate
		for len(moves) < batch && p.evals+len(moves) < p.budget {
			moves = append(moves, move(rng, bestC, maxC))
		}
		if len(moves) == 0 {
			break
		}
		ss, err := p.evaluate(ctx, moves)
		if err != nil {
			return nil, err
		}
		improved := false
		for i, s := range ss {
			if s.better(best) {
				best, bestC, improved = s, moves[i], true
			}
		}
		if improved {
			p.stale = 0
		} else if p.stale++; p.stale >= 3 {
			break
		}
	}
	res := best.res
	res.Planner = &PlannerReport{
		Evaluations: p.evals,
		MakespanS:   best.makespan, NotConverged: best.notConverged, OverDowntimeLimit: best.overLimit,
		FIFO:       fifo.baseline(),
		OneAtATime: one.baseline(),
	}
	return res, nil
}

// concurrencyLevels returns up to 8 concurrency levels from 1 to maxC,
// maxC included.
func concurrencyLevels(maxC int) []int {
	if maxC <= 8 {
		out := make([]int, maxC)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	var out []int
	for i := 0; i < 8; i++ {
		c := 1 + i*(maxC-1)/7
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}

// move returns a neighbour of c: two VMs swapped, one VM moved, or the
// concurrency changed by one.
func move(rng *rand.Rand, c candidate, maxC int) candidate {
	n := len(c.order)
	out := candidate{order: slices.Clone(c.order), conc: c.conc}
	switch k := rng.IntN(5); {
	case k == 4 && maxC > 1:
		if out.conc == 1 || (out.conc < maxC && rng.IntN(2) == 0) {
			out.conc++
		} else {
			out.conc--
		}
	case k >= 2:
		i, j := rng.IntN(n), rng.IntN(n)
		v := out.order[i]
		out.order = slices.Delete(out.order, i, i+1)
		out.order = slices.Insert(out.order, j, v)
	default:
		i, j := rng.IntN(n), rng.IntN(n)
		out.order[i], out.order[j] = out.order[j], out.order[i]
	}
	return out
}

// planner evaluates candidates, remembering each plan's score.
type planner struct {
	f        *Spec
	budget   int
	evals    int
	stale    int
	seen     map[string]score
	progress func(done, budget int)
}

func key(c candidate) string { return fmt.Sprint(c.conc, c.order) }

// lookup returns an evaluated candidate's score.
func (p *planner) lookup(c candidate) score { return p.seen[key(c)] }

// evaluate scores the candidates, on all cores; a plan already seen is
// not run again.
func (p *planner) evaluate(ctx context.Context, cs []candidate) ([]score, error) {
	if p.seen == nil {
		p.seen = map[string]score{}
	}
	out := make([]score, len(cs))
	errs := make([]error, len(cs))
	var todo []int
	for i, c := range cs {
		if s, ok := p.seen[key(c)]; ok {
			out[i] = s
		} else {
			todo = append(todo, i)
		}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res, err := Run(ctx, p.f, Options{Order: cs[i].order, MaxConcurrent: cs[i].conc})
				if err != nil {
					errs[i] = err
					continue
				}
				out[i] = scoreOf(res)
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, i := range todo {
		if errs[i] != nil {
			return nil, errs[i]
		}
		p.seen[key(cs[i])] = out[i]
		p.evals++
		if p.progress != nil {
			p.progress(p.evals, p.budget)
		}
	}
	return out, nil
}
