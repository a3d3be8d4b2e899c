package advise

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/units"
)

// Limits are what the migration must meet.
type Limits struct {
	// MaxDowntime is the longest acceptable downtime; it must be
	// positive.
	MaxDowntime time.Duration
	// MaxTime is the longest acceptable total time; 0 takes the
	// scenario model's max_time.
	MaxTime time.Duration
}

// Rank orders.
const (
	RankTime     = "time"
	RankDowntime = "downtime"
	RankBytes    = "bytes"
	RankSlowdown = "slowdown"
)

// RankOrders are the orders [Options.RankBy] takes.
var RankOrders = []string{RankTime, RankDowntime, RankBytes, RankSlowdown}

// Options configure [Advise].
type Options struct {
	// Workers is how many candidates run at once; 0 means
	// runtime.GOMAXPROCS(0), every core.
	Workers int
	// RankBy orders the options that meet the limits: time (total time,
	// the default), downtime, bytes or slowdown (guest slowdown); ties
	// go to the others in that order, then to the candidate order.
	RankBy string
	// Progress, when not nil, is told each option as its run ends, with
	// the count done and the total; calls are serialised.
	Progress func(done, total int, o *Option)
}

// Option is one candidate's outcome. Its JSON keys are a contract.
type Option struct {
	// Name and Description are the candidate's (see [Candidates]).
	Name        string `json:"name"`
	Description string `json:"description"`
	// Settings are the model keys the candidate changes, key=value.
	Settings []string `json:"settings"`
	// Model is the model that ran.
	Model string `json:"model"`
	// Engine is the engine that ran it, fluid or page, and
	// EngineFallback why auto did not pick fluid (text; omitted when it
	// did).
	Engine         string `json:"engine"`
	EngineFallback string `json:"engine_fallback,omitempty"`
	// Meets is true when the option meets both limits; Rank is then its
	// place, 1 the best (omitted otherwise), and WhyNot otherwise says
	// why not (text).
	Meets  bool   `json:"meets"`
	Rank   int    `json:"rank,omitempty"`
	WhyNot string `json:"why_not,omitempty"`
	// Completed and StopReason are the run's (see models.Result).
	Completed  bool   `json:"completed"`
	StopReason string `json:"stop_reason"`
	// TotalTimeS is the predicted total time, seconds.
	TotalTimeS float64 `json:"total_time_s"`
	// DowntimeS is the predicted downtime, seconds; null when the guest
	// was never stopped (the migration did not complete).
	DowntimeS *float64 `json:"downtime_s"`
	// TransferredBytes is every byte on the wire, bytes.
	TransferredBytes uint64 `json:"transferred_bytes"`
	// GuestSlowdown is the guest time lost over the total time, a
	// fraction (throttling, downtime, post-copy's stalls).
	GuestSlowdown float64 `json:"guest_slowdown"`
	// ThrottlePct is auto-converge's throttle at the end, percent.
	ThrottlePct float64 `json:"throttle_pct"`
	// VMAtRiskS is post-copy's window in which neither host holds a
	// whole copy of the guest, seconds.
	VMAtRiskS float64 `json:"vm_at_risk_s"`

	index int
	tags  tags
}

// Report is the advice for one scenario. Its JSON keys are a contract.
type Report struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// MigsimVersion is the version of migsim that computed the report
	// (set by the caller; omitted when empty).
	MigsimVersion string `json:"migsim_version,omitempty"`
	// MaxDowntimeS and MaxTimeS are the limits, seconds.
	MaxDowntimeS float64 `json:"max_downtime_s"`
	MaxTimeS     float64 `json:"max_time_s"`
	// RankBy is the order of the options that meet the limits.
	RankBy string `json:"rank_by"`
	// Meeting is how many options meet the limits.
	Meeting int `json:"meeting"`
	// Options are every candidate's outcome: those that meet the limits
	// in rank order, then the others in candidate order.
	Options []Option `json:"options"`
	// NoneCan says, one sentence each, what none of the options that
	// meet the limits can do, or, when none meets them, why and what
	// came closest. Empty, never null.
	NoneCan []string `json:"none_can"`
}

// Advise runs every candidate of [Candidates] on base and reports which
// meet lim, ranked. The runs share the cores (opts.Workers at once); the
// report does not depend on their number or timing.
func Advise(ctx context.Context, base *scenarios.Spec, lim Limits, opts Options) (*Report, error) {
	rankBy := opts.RankBy
	if rankBy == "" {
		rankBy = RankTime
	}
	if !validRank(rankBy) {
		return nil, fmt.Errorf("rank %q: want time, downtime, bytes or slowdown", rankBy)
	}
	maxTime, err := lim.maxTime(base)
	if err != nil {
		return nil, err
	}
	cands, err := Candidates(base, lim)
	if err != nil {
		return nil, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]Option, len(cands))
	errs := make([]error, len(cands))
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range min(workers, len(cands)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = evaluate(ctx, cands[i], i, lim.MaxDowntime, maxTime)
				if opts.Progress != nil && errs[i] == nil {
					mu.Lock()
					done++
					opts.Progress(done, len(cands), &out[i])
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range cands {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep := &Report{
		Scenario: base.Name, MaxDowntimeS: lim.MaxDowntime.Seconds(), MaxTimeS: maxTime.Seconds(),
		RankBy: rankBy, NoneCan: []string{},
	}
	rank(out, rankBy)
	for i := range out {
		if out[i].Meets {
			rep.Meeting++
			out[i].Rank = rep.Meeting
		}
	}
	rep.Options = out
	rep.NoneCan = noneCan(out, lim.MaxDowntime, maxTime, base.VM.Memory)
	return rep, nil
}

// validRank reports whether s is one of [RankOrders].
func validRank(s string) bool {
	for _, r := range RankOrders {
		if s == r {
			return true
		}
	}
	return false
}

// evaluate runs candidate c (the i-th) and judges it against the limits.
func evaluate(ctx context.Context, c Candidate, i int, maxDowntime, maxTime time.Duration) (Option, error) {
	o := Option{Name: c.Name, Description: c.Description, Settings: c.Settings, Model: c.Spec.Model.Name, index: i, tags: c.tags}
	m, in, err := c.Spec.Build()
	if err != nil {
		return o, fmt.Errorf("candidate %s: %w", c.Name, err)
	}
	res, err := m.Run(ctx, in)
	if err != nil {
		return o, fmt.Errorf("candidate %s: %w", c.Name, err)
	}
	o.Engine, o.EngineFallback = res.Engine, res.EngineFallback
	o.Completed, o.StopReason = res.Completed, res.StopReason.String()
	o.TotalTimeS, o.TransferredBytes = res.TotalTimeS, res.TransferredBytes
	o.GuestSlowdown, o.ThrottlePct, o.VMAtRiskS = res.GuestSlowdown, res.ThrottlePct, res.VMAtRiskS
	if res.Applies("downtime_s") {
		d := res.DowntimeS
		o.DowntimeS = &d
	}
	switch {
	case res.StopReason == models.StopNoProgress:
		o.WhyNot = fmt.Sprintf("no progress: after %s the dirty set stays at %s, which needs %s of downtime",
			secs(res.TotalTimeS), pages(res.SteadyStateDirtyPages, c.Spec.VM.PageSize), secs(res.ExpectedDowntimeS))
	case !res.Completed:
		o.WhyNot = fmt.Sprintf("does not complete within %s (%s)", secs(maxTime.Seconds()), res.StopReason)
	case res.TotalTimeS > maxTime.Seconds():
		o.WhyNot = fmt.Sprintf("takes %s, over %s", secs(res.TotalTimeS), secs(maxTime.Seconds()))
	case res.DowntimeS > maxDowntime.Seconds():
		o.WhyNot = fmt.Sprintf("downtime %s, over %s (%s)", secs(res.DowntimeS), secs(maxDowntime.Seconds()), res.StopReason)
	default:
		o.Meets = true
	}
	return o, nil
}

// rank sorts the options: those that meet the limits first, by rankBy
// and then the other measures, then the rest in candidate order.
func rank(out []Option, rankBy string) {
	measures := map[string]func(o *Option) float64{
		RankTime:     func(o *Option) float64 { return o.TotalTimeS },
		RankDowntime: func(o *Option) float64 { return *o.DowntimeS },
		RankBytes:    func(o *Option) float64 { return float64(o.TransferredBytes) },
		RankSlowdown: func(o *Option) float64 { return o.GuestSlowdown },
	}
	order := []string{rankBy}
	for _, r := range RankOrders {
		if r != rankBy {
			order = append(order, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Meets != b.Meets {
			return a.Meets
		}
		if a.Meets {
			for _, r := range order {
				if x, y := measures[r](a), measures[r](b); x != y {
					return x < y
				}
			}
		}
		return a.index < b.index
	})
}

// noneCan says what none of the options that meet the limits can do, or,
// when none meets them, why.
func noneCan(out []Option, maxDowntime, maxTime time.Duration, mem units.Bytes) []string {
	var meets []*Option
	for i := range out {
		if out[i].Meets {
			meets = append(meets, &out[i])
		}
	}
	lim := fmt.Sprintf("a downtime of at most %s within %s", secs(maxDowntime.Seconds()), secs(maxTime.Seconds()))
	if len(meets) == 0 {
		s := []string{fmt.Sprintf("meet the limits: no option completes with %s", lim)}
		var best *Option
		for i := range out {
			o := &out[i]
			if o.Completed && o.TotalTimeS <= maxTime.Seconds() && o.DowntimeS != nil && (best == nil || *o.DowntimeS < *best.DowntimeS) {
				best = o
			}
		}
		if best != nil {
			s = append(s, fmt.Sprintf("the least downtime an option reaches within the time limit is %s (%s)", secs(*best.DowntimeS), best.Name))
		} else {
			s = append(s, fmt.Sprintf("complete within %s: every option stops short (max_time or no_progress)", secs(maxTime.Seconds())))
		}
		return s
	}
	var s []string
	least := func(f func(o *Option) float64) *Option {
		best := meets[0]
		for _, o := range meets[1:] {
			if f(o) < f(best) {
				best = o
			}
		}
		return best
	}
	if o := least(func(o *Option) float64 { return o.GuestSlowdown }); o.GuestSlowdown >= 0.01 {
		s = append(s, fmt.Sprintf("keep the guest at full speed: every option that meets the limits slows it by 1 %% or more (least: %.1f %%, %s)", 100*o.GuestSlowdown, o.Name))
	}
	if o := least(func(o *Option) float64 { return o.VMAtRiskS }); o.VMAtRiskS > 0 {
		s = append(s, fmt.Sprintf("keep a whole copy of the guest on one host throughout: every option that meets the limits is post-copy (least time at risk: %s, %s)", secs(o.VMAtRiskS), o.Name))
	}
	plain := false
	for _, o := range meets {
		plain = plain || o.tags.plain()
	}
	if !plain {
		s = append(s, "meet the limits with pre-copy alone: every option that does throttles the guest, compresses or delta-encodes pages, or switches to post-copy")
	}
	if o := least(func(o *Option) float64 { return float64(o.TransferredBytes) }); float64(o.TransferredBytes) > 2*float64(mem) {
		s = append(s, fmt.Sprintf("send less than twice the guest's memory (least: %s, %s)", gib(float64(o.TransferredBytes)), o.Name))
	}
	return append([]string{}, s...)
}

// secs prints seconds with a unit: ms below one second.
func secs(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}

// pages prints a page count and its bytes.
func pages(n uint64, size units.Bytes) string {
	return fmt.Sprintf("%d pages (%s)", n, gib(float64(n)*float64(size)))
}

// gib prints bytes in GiB, or MiB below one GiB.
func gib(b float64) string {
	if b < float64(units.GiB) {
		return fmt.Sprintf("%.1f MiB", b/float64(units.MiB))
	}
	return fmt.Sprintf("%.1f GiB", b/float64(units.GiB))
}
