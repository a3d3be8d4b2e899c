package models

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bitset"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// Enlightened is enlightened post-copy (Abe, Geambasu, Joshi and
// Satyanarayanan, "Urgent virtual machine eviction with enlightened
// post-copy", VEE'16): post-copy in which the guest tells the hypervisor
// which of its pages matter, so that the guest regains its full speed on
// the destination quickly.
//
// # Semantics
//
//   - The migration is [Postcopy]'s (setup, stop, device state, resume at
//     once, demand paging with requests ahead of the push, each page
//     crossing once), with two differences that come from the guest.
//   - Free pages are never sent. Pages of the trace header's free class
//     not written since the trace's start are free when the guest stops;
//     the destination backs them with fresh pages, so an access to one
//     neither faults nor moves data (the guest allocates before it uses).
//   - The working set goes first. The guest marks the pages it will touch
//     within ws_horizon of guest time after the stop (rounded up to whole
//     epochs, its background pages included: its kernel's own); the push
//     sends them in the order the guest first touches them, then every
//     other page upwards from page 0. Requests do not move the push.
//   - The figure of merit is time_to_full_speed_s: when the guest, over a
//     full_speed_window sliding window, runs at full_speed_threshold or
//     more of its undisturbed speed from then on.
//
// # Known differences from the paper
//
// Abe et al.'s guest derives its working set from its own state (kernel
// memory, active page lists, recently used pages); here an oracle reads
// the next ws_horizon of the trace, which is what that marking stands for.
// The paper's guest also marks pages by priority class; here there are two
// classes, working set and the rest.
type Enlightened struct {
	p EnlightenedParams
}

// NewEnlightened returns an enlightened post-copy model with the given
// parameters.
func NewEnlightened(p EnlightenedParams) (*Enlightened, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Enlightened{p: p}, nil
}

func enlightenedInfo() Info {
	return register("enlightened",
		"enlightened post-copy: the guest's working set first, free pages never sent",
		"Abe, Geambasu, Joshi and Satyanarayanan, VEE'16",
		DefaultEnlightenedParams,
		func(p EnlightenedParams) (Model, error) { return NewEnlightened(p) })
}

// Name returns "enlightened".
func (m *Enlightened) Name() string { return "enlightened" }

// Params returns the model's parameters.
func (m *Enlightened) Params() EnlightenedParams { return m.p }

// Run simulates one enlightened post-copy migration.
func (m *Enlightened) Run(ctx context.Context, in Input) (*Result, error) {
	return runAlone(ctx, in, m.launch)
}

// Launch starts one enlightened post-copy migration beside others
// ([Launcher]).
func (m *Enlightened) Launch(eng *sim.Engine, net SharedNet, in Input, done func(*Result, error)) error {
	return launchShared(eng, net, in, done, m.launch)
}

func (m *Enlightened) launch(env *runEnv, in Input) (func(error) (*Result, error), error) {
	return launchPostcopy(env, in, m.Name(), m.p.config(), func(_ postcopyConfig, g *guest, written *roaring.Bitmap) (*postcopyPlan, error) {
		missing := allPages(g.hdr.PageCount)
		if free := classAtStop(g.hdr.Free, written); free != nil {
			missing.AndNot(free)
		}
		ws, err := workingSet(in, g, m.p.WSHorizon)
		if err != nil {
			return nil, fmt.Errorf("enlightened: reading the working set ahead: %w", err)
		}
		return &postcopyPlan{
			missing: missing,
			zero:    classAtStop(g.hdr.Zero, written),
			order:   &listOrder{list: ws},
		}, nil
	})
}

// workingSet returns the pages the guest, stopped in its current epoch,
// touches within horizon of guest time, in the order it first touches
// them. It reads the trace ahead through a second source, so the guest's
// own is left where it is.
func workingSet(in Input, g *guest, horizon time.Duration) ([]uint32, error) {
	if !g.curValid || horizon <= 0 {
		return nil, nil
	}
	var list, acc []uint32
	seen := roaring.New()
	random := in.accessOrder() == AccessRandom
	var perm accessPermuter
	start := g.guestTime // the epoch's start in guest time
	add := func(e *traces.Epoch, skip int) {
		u := roaring.Or(e.Written, e.Read)
		acc = u.ToArray()
		acc = acc[min(skip, len(acc)):]
		if random { // the order postcopyRun.permute gives the guest
			perm.shuffle(in.Seed, start, acc)
		}
		for _, p := range acc {
			if !seen.Contains(p) {
				seen.Add(p)
				list = append(list, p)
			}
		}
	}
	// The rest of the current epoch, as the destination will replay it.
	n := float64(g.cur.Written.GetCardinality() + g.cur.Read.GetCardinality())
	add(&g.cur, max(0, int(math.Ceil(g.done*n-0.5))))

	left := time.Duration(float64(g.epochLen)*(1-g.done)) - horizon
	if left >= 0 {
		return list, nil
	}
	open := withBackground(in.Trace, in) // the guest's own pages too: its kernel marks them first
	src, err := open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = traces.Close(src) }()
	var e traces.Epoch
	e.Reset()
	past := false // read past the current epoch in this pass of the trace
	read := 0     // epochs read since the trace was last opened
	for left < 0 {
		err := src.Next(&e)
		if err == io.EOF {
			if in.AtEnd == AtEndIdle || (past && read == 0) {
				break
			}
			read = 0
			_ = traces.Close(src)
			if src, err = open(); err != nil {
				return nil, err
			}
			past = true
			continue
		}
		if err != nil {
			return nil, err
		}
		read++
		if !past && e.Index <= g.cur.Index {
			continue // not there yet
		}
		past = true
		start += g.epochLen
		add(&e, 0)
		left += g.epochLen
	}
	return list, nil
}

// listOrder pushes the pages of list in order, then every other page
// upwards from page 0.
type listOrder struct {
	list []uint32
	i    int
	pos  uint64 // the next page the upward scan looks at
}

func (o *listOrder) next(missing *bitset.BitSet) uint32 {
	for o.i < len(o.list) {
		p := o.list[o.i]
		o.i++
		if missing.Test(uint(p)) {
			return p
		}
	}
	v, ok := missing.NextSet(uint(o.pos))
	if !ok {
		panic("models: enlightened push asked for a page with none missing")
	}
	o.pos = uint64(v) + 1
	return uint32(v)
}

func (o *listOrder) requested(uint32) {}

func (o *listOrder) scan() (uint64, bool) { return o.pos, o.i >= len(o.list) }

func (o *listOrder) skip(to uint64) { o.pos = to }
