package sweep

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress reports a run's progress to a writer (stderr): on a terminal a
// bar redrawn in place, otherwise a plain line every Interval. Each report
// gives points done of the total, the rate of this run and the time left
// at that rate. A nil *Progress reports nothing.
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
	if rate > 0 {
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
