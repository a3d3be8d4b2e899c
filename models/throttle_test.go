package models

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestThrottleStepSequence: a period that dirties more than
// throttle_trigger_threshold % of what it transferred, every period,
// steps the throttle every second period: 20, 30, ..., 90, then 99
// (max_cpu_throttle), and no further.
func TestThrottleStepSequence(t *testing.T) {
	th := DefaultThrottle()
	th.AutoConverge = true
	var got []float64
	var at []int
	pct, high := 0.0, 0
	for period := 1; period <= 24; period++ {
		next, stepped := th.throttleCheck(pct, 600, 1000, &high) // 60 % > 50 %
		if stepped && next != pct {                              // at 99 QEMU sets 99 again
			got = append(got, next)
			at = append(at, period)
		}
		pct = next
	}
	want := []float64{20, 30, 40, 50, 60, 70, 80, 90, 99}
	if !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	for i, p := range at[:len(want)] {
		if p != 2*(i+1) {
			t.Fatalf("step %d at period %d, want %d (periods %v)", i, p, 2*(i+1), at)
		}
	}
	// A period not above the trigger raises nothing and lowers nothing:
	// high, equal (not above), high steps.
	pct, high = 0, 0
	for i, d := range []float64{600, 500, 600} {
		var stepped bool
		pct, stepped = th.throttleCheck(pct, d, 1000, &high)
		if stepped != (i == 2) {
			t.Fatalf("period %d (dirtied %v of 1000): stepped %v", i+1, d, stepped)
		}
	}
	if pct != 20 {
		t.Fatalf("throttle %v after high, equal, high; want 20", pct)
	}
	// Auto-converge off: never.
	th.AutoConverge = false
	if p, s := th.throttleCheck(0, 1e9, 1, &high); s || p != 0 {
		t.Fatalf("auto-converge off stepped to %v", p)
	}
}

// TestThrottleTailslow: with cpu_throttle_tailslow the step takes the
// guest's CPU share c to floor(c × trigger / dirtied) at most, never more
// than the increment; far above the trigger it is the increment.
func TestThrottleTailslow(t *testing.T) {
	th := DefaultThrottle()
	th.AutoConverge, th.CPUThrottleTailslow = true, true
	cases := []struct {
		now, dirtied, trigger, want float64
	}{
		{0, 1000, 500, 20},  // the first step is cpu_throttle_initial
		{20, 2000, 500, 30}, // far above: the increment
		{50, 1000, 950, 53}, // c 50 → floor(47.5) = 47: +3
		{90, 1000, 500, 95}, // c 10 → 5
		{95, 1000, 500, 98}, // c 5 → floor(2.5) = 2: +3
		{98, 1000, 500, 99}, // c 2 → 1
		{99, 1000, 500, 99}, // max_cpu_throttle
	}
	for _, c := range cases {
		if got := th.next(c.now, c.dirtied, c.trigger); got != c.want {
			t.Errorf("tailslow from %v, dirtied %v against %v: %v, want %v", c.now, c.dirtied, c.trigger, got, c.want)
		}
	}
	th.CPUThrottleTailslow = false
	if got := th.next(50, 1000, 950); got != 60 {
		t.Errorf("without tailslow near the trigger: %v, want 60", got)
	}
	// QEMU's cpu_throttle_set holds the throttle to [1, 99].
	th.CPUThrottleInitial = 0
	if got := th.next(0, 1000, 500); got != 1 {
		t.Errorf("cpu_throttle_initial 0 sets %v, want 1", got)
	}
}

// syncPeriods replays QEMU's period rule on a pass-policy result: the
// sync ending each live round closes a period when more than a second has
// passed since the period began (at the end of setup); it returns, for
// each period's closing round, the bytes the period dirtied (the rounds'
// dirtied pages) and transferred (the rounds' bytes).
type period struct {
	round            int // index in RoundsDetail of the round whose sync closes it
	end              float64
	dirtied, xferred float64
}

func syncPeriods(res *Result) []period {
	var out []period
	start := res.SetupTimeS
	var d, x float64
	for i, rd := range res.RoundsDetail {
		if rd.StopAndCopy {
			break
		}
		end := rd.StartS + rd.DurationS
		d += float64(rd.DirtiedPages) * 4096
		x += float64(rd.Bytes)
		if time.Duration((end-start)*1e9) > time.Second {
			out = append(out, period{round: i, end: end, dirtied: d, xferred: x})
			start, d, x = end, 0, 0
		}
	}
	return out
}

// TestPrecopyThrottleTimeline: a guest that dirties its memory faster than
// the link carries it even at 99 % throttle never converges; its throttle
// steps at every second sync period of more than a second, 20, 30, ...,
// 90, 99, as the QEMU rule replayed on the run's own rounds says.
// Tailslow steps the same way until the guest's CPU share is small, then
// in smaller steps.
func TestPrecopyThrottleTimeline(t *testing.T) {
	p := bareParams()
	p.AutoConverge = true
	p.MaxTime = 150 * time.Second
	// 4096 pages over ~610 pages/s: a pass takes ~6.7 s; 100,000 page
	// writes per second, 1,000 at 99 % throttle, rewrite all of them.
	in := input(4096, 4096, 0, 1e5, 20*units.Mbit)
	res := run(t, p, in)
	if res.Converged {
		t.Fatal("converged; the case must not")
	}
	steps := res.ThrottleSteps()
	var pcts []float64
	for _, s := range steps {
		pcts = append(pcts, s.Pct)
	}
	if want := []float64{20, 30, 40, 50, 60, 70, 80, 90, 99}; !slices.Equal(pcts, want) {
		t.Fatalf("throttle steps %v, want %v", pcts, want)
	}
	// Replay the rule on the rounds: every period is above the trigger,
	// so the steps come at the end of periods 2, 4, 6, ...
	periods := syncPeriods(res)
	for i, s := range steps {
		pd := periods[2*i+1]
		if pd.dirtied <= pd.xferred/2 {
			t.Fatalf("period %d dirtied %v of %v transferred: not above the trigger", 2*i+2, pd.dirtied, pd.xferred)
		}
		if s.TimeS != pd.end {
			t.Errorf("step %d (%v %%) at %v s, want the end of period %d at %v s", i, s.Pct, s.TimeS, 2*i+2, pd.end)
		}
	}
	// Tailslow: the same up to 90 %, then 95, 98, 99 or thereabouts
	// (floor of a CPU share times a ratio near 1/2).
	p.CPUThrottleTailslow = true
	slow := run(t, p, in).ThrottleSteps()
	if len(slow) <= len(steps) {
		t.Fatalf("tailslow took %d steps, want more than %d: %v", len(slow), len(steps), slow)
	}
	prev, smaller := 0.0, false
	for i, s := range slow {
		inc := s.Pct - prev
		if i > 0 && inc > p.CPUThrottleIncrement {
			t.Errorf("tailslow step %v → %v exceeds the increment", prev, s.Pct)
		}
		if i > 0 && inc < p.CPUThrottleIncrement && s.Pct < p.MaxCPUThrottle {
			smaller = true
		}
		if i < 8 && s.Pct != pcts[i] {
			t.Errorf("tailslow step %d is %v, want %v while the CPU share is large", i, s.Pct, pcts[i])
		}
		prev = s.Pct
	}
	if !smaller || prev != 99 {
		t.Errorf("tailslow steps %v: want smaller steps near the end, up to 99", slow)
	}
}

// TestPrecopyNoThrottleBelowTrigger: a guest dirtying less than half of
// what each period transfers is never throttled, even over many periods.
func TestPrecopyNoThrottleBelowTrigger(t *testing.T) {
	p := bareParams()
	p.AutoConverge = true
	p.DowntimeLimit = time.Millisecond // long enough to see several periods
	p.MaxTime = 60 * time.Second
	in := input(4096, 4096, 0, 100, 20*units.Mbit)
	res := run(t, p, in)
	if len(syncPeriods(res)) < 2 {
		t.Fatalf("only %d sync periods; the case needs several", len(syncPeriods(res)))
	}
	for _, pd := range syncPeriods(res) {
		if pd.dirtied > pd.xferred/2 {
			t.Fatalf("a period dirtied %v of %v transferred: above the trigger", pd.dirtied, pd.xferred)
		}
	}
	if s := res.ThrottleSteps(); len(s) != 0 || res.ThrottlePct != 0 {
		t.Fatalf("throttled below the trigger: %v", s)
	}
}

// TestThrottledTraceUntil: a trace that already shows the throttle up to
// a time is not slowed again before it, and is from then on.
func TestThrottledTraceUntil(t *testing.T) {
	p := bareParams()
	p.AutoConverge = true
	p.MaxTime = 150 * time.Second
	in := input(4096, 4096, 0, 1e5, 20*units.Mbit)
	slowed := run(t, p, in)
	in.ThrottledTraceUntil = time.Hour
	shown := run(t, p, in)
	in.ThrottledTraceUntil = 60 * time.Second
	half := run(t, p, in)
	if shown.GuestTimeS != shown.TotalTimeS {
		t.Errorf("throttle shown in the whole trace: guest time %v s, want the run's %v s", shown.GuestTimeS, shown.TotalTimeS)
	}
	if !(slowed.GuestTimeS < half.GuestTimeS && half.GuestTimeS < shown.GuestTimeS) {
		t.Errorf("guest time: slowed throughout %v s, up to 60 s shown %v s, shown throughout %v s: want increasing", slowed.GuestTimeS, half.GuestTimeS, shown.GuestTimeS)
	}
	// The steps themselves are the throttle's either way (this guest
	// rewrites all its memory each period at any throttle).
	for _, r := range []*Result{shown, half} {
		if a, b := r.ThrottleSteps(), slowed.ThrottleSteps(); len(a) != len(b) || a[len(a)-1].Pct != 99 {
			t.Errorf("steps %v, want the slowed run's %v", a, b)
		}
	}
}

// TestThrottledSpeed: a CPU-bound guest slows by the throttle; a paced one
// that needs a tenth of its vCPUs keeps its pace up to a 90 % throttle and
// then runs at what is left over its demand.
func TestThrottledSpeed(t *testing.T) {
	for _, c := range []struct{ pct, demand, want float64 }{
		{0, 1, 1}, {20, 1, 0.8}, {99, 1, 0.01},
		{20, 0, 0.8}, // 0: CPU-bound
		{20, 0.1, 1}, {90, 0.1, 1}, {95, 0.1, 0.5}, {99, 0.1, 0.1},
		{50, 0.5, 1}, {60, 0.5, 0.8},
	} {
		if got := throttledSpeed(c.pct, c.demand); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("throttle %v %%, demand %v: speed %v, want %v", c.pct, c.demand, got, c.want)
		}
	}
}
