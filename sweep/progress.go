package sweep

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Progress reports a run's progress to a writer (stderr): on a terminal a
// bar redrawn in place, otherwise a plain line every Interval. Each report
// gives points done of the total, the rate of this run and the time left.
//
// The time left comes from measured cost: each point's wall time is
// recorded as it ends, the cost of every point still to run is predicted
// from those that resemble it, and the points are laid out on the workers
// in the order they will run (see the time estimates in estimate.go); it
// is updated as points end. Before a run tells it its plan, it is the
// points left at the rate so far. A nil *Progress reports nothing.
type Progress struct {
	w        io.Writer
	terminal bool
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	total   int
	resumed int // points done before this run
	done    int // points done by this run
	begin   time.Time
	stopped chan struct{}
	wg      sync.WaitGroup

	// The plan and the measured costs, when the run gave them.
	feat    *costFeatures
	model   *costModel
	order   []int        // the points of this run in the order workers take them
	workers int          // workers running them
	next    int          // order[:next] have started
	ahead   map[int]bool // points started before order[next]
	running map[int]time.Time
	buffer  int       // lines that can wait for the journal
	tables  int       // data files written at the end
	syncs   []float64 // the last journal appends, seconds
	// costs are the predicted costs of order[costsFrom:], computed at
	// costsAt from costsN measured points.
	costs     []float64
	costsFrom int
	costsN    int
	costsAt   time.Time
}

// A point is overdue when it has run overdueFactor times its prediction
// and at least overdueMin: less is the noise of measured costs (repeats of
// one point differ by 2 to 6 times on a loaded machine), not a kind of
// point the model has not seen.
const (
	overdueFactor = 3
	overdueMin    = 0.05 // seconds
)

// plan tells p the points this run simulates, in the order its workers
// take them, their cost features, the number of workers, the capacity of
// the queue of lines waiting for the journal and the tables written at
// the end, so that the time left comes from measured costs.
func (p *Progress) plan(order []int, f *costFeatures, workers, buffer int, formats Formats) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order, p.feat, p.workers = order, f, max(1, workers)
	p.buffer, p.tables = buffer, tableFiles(formats)
	p.syncs = nil
	p.model = newCostModel(len(f.names))
	p.next = 0
	p.ahead = map[int]bool{}
	p.running = map[int]time.Time{}
	p.costs = nil
}

// started records that a worker began point pt.
func (p *Progress) started(pt int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running == nil {
		return
	}
	p.running[pt] = p.now()
	// Workers take points in order, but may report them a little out of
	// it: a point reported before an earlier one waits in ahead.
	if p.next < len(p.order) && p.order[p.next] == pt {
		p.next++
		for p.next < len(p.order) && p.ahead[p.order[p.next]] {
			delete(p.ahead, p.order[p.next])
			p.next++
		}
	} else {
		p.ahead[pt] = true
	}
}

// synced records that an append to the journal (a write and an fsync)
// took d.
func (p *Progress) synced(d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.syncs) == 32 {
		p.syncs = p.syncs[1:]
	}
	p.syncs = append(p.syncs, d.Seconds())
}

// ended records that point pt has run: its wall time joins the measured
// costs.
func (p *Progress) ended(pt int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t0, ok := p.running[pt]
	if !ok {
		return
	}
	delete(p.running, pt)
	p.model.add(p.feat.values[pt], p.now().Sub(t0).Seconds())
}

// left returns the predicted time until the run ends, and false before
// any point has ended: the points still to run laid out on the workers
// with their costs predicted from those measured, or if longer the
// journal's appends still to come at the measured time of one, then the
// fsyncs of the tables at the end. The caller holds p.mu.
func (p *Progress) left(now time.Time) (time.Duration, bool) {
	if p.model == nil || len(p.model.vals) == 0 {
		return 0, false
	}
	n := len(p.model.vals)
	// The running points. One that has outlasted its prediction is
	// expected to run half as long again as it has (a point that has run
	// t is as likely to end soon as to run on). One far past it (overdue)
	// is of a costly kind the model has not measured, and until it ends
	// that cost stands for its repeats still queued: the points that
	// differ from it only in a repeat axis (seed). The model alone cannot
	// carry it to them: one point teaches a kernel nothing about its own
	// kind.
	type run struct {
		pt       int
		pred, el float64
	}
	var running []run
	overdue := map[string]float64{} // repeat key → expected cost
	for pt, t0 := range p.running {
		r := run{pt, p.model.predict(p.feat.values[pt]), now.Sub(t0).Seconds()}
		running = append(running, r)
		if r.el > overdueFactor*r.pred && r.el >= overdueMin {
			k := p.feat.repeatKey(pt)
			overdue[k] = math.Max(overdue[k], 1.5*r.el)
		}
	}
	slices.SortFunc(running, func(a, b run) int { return a.pt - b.pt }) // not map order
	// Predictions are computed again when a tenth more points have ended,
	// or a second has passed with some ended (each costs a pass over the
	// points left).
	stale := n != p.costsN && (now.Sub(p.costsAt) >= time.Second || n >= p.costsN+max(1, p.costsN/10))
	if p.costs == nil || stale || p.next < p.costsFrom {
		p.model.refit()
		p.costs = p.model.predictAll(p.feat, p.order[p.next:])
		p.costsFrom, p.costsN, p.costsAt = p.next, n, now
	}
	queued := make([]float64, 0, len(p.order)-p.next)
	for i := p.next; i < len(p.order); i++ {
		if pt := p.order[i]; !p.ahead[pt] {
			c := p.costs[i-p.costsFrom]
			if len(overdue) > 0 {
				c = math.Max(c, overdue[p.feat.repeatKey(pt)])
			}
			queued = append(queued, c)
		}
	}
	free := make([]float64, 0, p.workers)
	for _, r := range running {
		free = append(free, math.Max(r.pred-r.el, r.el/2))
	}
	slices.Sort(free)
	for len(free) < p.workers {
		free = append(free, 0)
	}
	secs := makespan(free, queued)
	if len(p.syncs) > 0 {
		sync := seconds(mean(p.syncs))
		journal := journalTime(len(p.order)-p.done, sync, p.workers, p.buffer).Seconds()
		secs = math.Max(secs, journal) + float64(p.tables+outputSyncs)*sync.Seconds()
	}
	return seconds(secs), true
}

// NewProgress returns a Progress writing to w: a bar redrawn in place
// when terminal is true, else a line every interval.
func NewProgress(w io.Writer, terminal bool, interval time.Duration) *Progress {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &Progress{w: w, terminal: terminal, interval: interval, now: time.Now}
}

func (p *Progress) start(resumed, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total, p.resumed, p.done = total, resumed, 0
	p.begin = p.now()
	p.stopped = make(chan struct{})
	p.mu.Unlock()
	tick := p.interval
	if p.terminal {
		tick = 200 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.report(false)
			case <-p.stopped:
				return
			}
		}
	}()
}

func (p *Progress) add(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

// stop ends the reports with a final one.
func (p *Progress) stop() {
	if p == nil || p.stopped == nil {
		return
	}
	close(p.stopped)
	p.wg.Wait()
	p.report(true)
}

// report writes one report.
func (p *Progress) report(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.line(p.now())
	switch {
	case p.terminal && final:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
	case p.terminal:
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	default:
		fmt.Fprintf(p.w, "sweep: %s\n", line)
	}
}

// line formats the state: "[####      ]  4210/10000  42.1%  176 points/s  ETA 33s".
func (p *Progress) line(now time.Time) string {
	done := p.resumed + p.done
	frac := 1.0
	if p.total > 0 {
		frac = float64(done) / float64(p.total)
	}
	elapsed := now.Sub(p.begin)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	eta := "ETA -"
	if left, ok := p.left(now); ok {
		eta = "ETA " + shortDuration(left)
	} else if rate > 0 && p.model == nil {
		left := time.Duration(float64(p.total-done) / rate * float64(time.Second))
		eta = "ETA " + shortDuration(left)
	}
	var b strings.Builder
	if p.terminal {
		const width = 24
		n := int(frac * width)
		b.WriteString("[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "] ")
	}
	fmt.Fprintf(&b, "%d/%d points  %.1f%%  %.1f points/s  %s  elapsed %s", done, p.total, 100*frac, rate, eta, shortDuration(elapsed))
	return b.String()
}

// shortDuration prints d rounded to what a person reads: 1h02m, 3m05s,
// 42s, 0.4s.
func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d >= 10*time.Second:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
