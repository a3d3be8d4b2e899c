package models

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/traces"
)

// guest replays a trace on an engine: the running VM whose writes the
// migration chases. Guest time (progress through the trace) advances at
// speed × wall time, where speed is 1 − throttle; a paused guest makes no
// progress.
//
// Pages written in an epoch are added to the dirty log at the epoch's end.
// When the log is read in the middle of an epoch (a sync), the epoch
// contributes a deterministic share of its written pages, in proportion to
// the guest time elapsed in it: the first k pages in ascending page order,
// k = floor(n × elapsed/epoch). The rest arrive later in the same way.
type guest struct {
	eng   *sim.Engine
	open  traces.Opener
	atEnd TraceEnd
	halt  func() // ends the run (runEnv.halt)

	src      traces.Source
	hdr      *traces.Header
	epochLen time.Duration
	cur      traces.Epoch
	curValid bool // cur holds an epoch being executed

	// Progress through cur: done is the fraction of the epoch executed as
	// of wall time mark; added counts cur.Written pages already in the log.
	done  float64
	mark  sim.Time
	added uint64

	speed  float64 // guest time per wall time, in (0, 1]
	paused bool
	endEv  *sim.Event

	// dirty is the dirty log: pages written since the last sync; spare is
	// the previous sync's set, handed out by sync.
	dirty, spare *dirtyLog
	// written counts page writes (per-epoch distinct pages) since the start.
	written uint64
	// guestTime is the guest time executed in completed epochs.
	guestTime time.Duration
	replays   int
	err       error

	scratch *roaring.Bitmap
	// onSync, when not nil, is given each synced log (composition.go).
	onSync func(*dirtyLog)
	// onChange, when not nil, is given each epoch's composition change
	// as the guest starts the epoch (composition_time.go).
	onChange func(*traces.ClassChange)
}

// newGuest opens the trace and returns a guest at its first epoch, not yet
// running.
func newGuest(eng *sim.Engine, open traces.Opener, atEnd TraceEnd) (*guest, error) {
	if open == nil {
		return nil, errors.New("no trace")
	}
	src, err := open()
	if err != nil {
		return nil, err
	}
	g := &guest{
		eng: eng, open: open, atEnd: atEnd, src: src, hdr: src.Header(),
		speed: 1, scratch: roaring.New(), halt: eng.Stop,
	}
	g.dirty, g.spare = newDirtyLog(g.hdr.PageCount), newDirtyLog(g.hdr.PageCount)
	g.cur.Reset()
	g.epochLen = g.hdr.Epoch
	if g.epochLen <= 0 {
		return nil, fmt.Errorf("trace epoch length %v is not positive", g.epochLen)
	}
	return g, nil
}

// start begins execution at the current time.
func (g *guest) start() {
	g.mark = g.eng.Now()
	g.loadNext()
	g.schedule()
}

// close releases the trace.
func (g *guest) close() {
	if g.src != nil {
		_ = traces.Close(g.src)
		g.src = nil
	}
}

// loadNext reads the next epoch into cur, replaying the trace from the
// start when it ends and atEnd says loop.
func (g *guest) loadNext() {
	g.done, g.added, g.curValid = 0, 0, false
	if g.src == nil {
		return
	}
	err := g.src.Next(&g.cur)
	if err == io.EOF && g.atEnd != AtEndIdle {
		_ = traces.Close(g.src)
		g.src = nil
		src, oerr := g.open()
		if oerr != nil {
			g.fail(fmt.Errorf("reopening trace to replay it: %w", oerr))
			return
		}
		g.src = src
		g.replays++
		err = g.src.Next(&g.cur)
		if err == io.EOF {
			g.fail(errors.New("trace has no epochs to replay"))
			return
		}
	}
	if err == io.EOF {
		_ = traces.Close(g.src)
		g.src = nil // idle from now on
		return
	}
	if err != nil {
		g.fail(err)
		return
	}
	g.curValid = true
	if g.onChange != nil && !g.cur.Change.Empty() {
		g.onChange(&g.cur.Change)
	}
}

func (g *guest) fail(err error) {
	if g.err == nil {
		g.err = err
	}
	g.halt()
}

// schedule arranges the end of the current epoch at the current speed.
func (g *guest) schedule() {
	if g.paused || !g.curValid {
		return
	}
	remaining := float64(g.epochLen) * (1 - g.done) / g.speed
	g.endEv = g.eng.Schedule(g.mark.Add(time.Duration(math.Ceil(remaining))), sim.PhaseGuest, g.epochEnd)
}

// epochEnd completes the current epoch and starts the next.
func (g *guest) epochEnd() {
	g.endEv = nil
	g.addShare(g.cur.Written.GetCardinality())
	g.guestTime += g.epochLen
	g.mark = g.eng.Now()
	g.loadNext()
	g.schedule()
}

// catchUp brings the guest's progress and the dirty log up to now.
func (g *guest) catchUp() {
	now := g.eng.Now()
	if g.curValid && !g.paused && now > g.mark {
		g.done += float64(now-g.mark) * g.speed / float64(g.epochLen)
		if g.done > 1 {
			g.done = 1
		}
		n := g.cur.Written.GetCardinality()
		g.addShare(uint64(math.Floor(float64(n) * g.done)))
	}
	g.mark = now
}

// addShare adds pages of cur.Written with ranks [added, upto) to the log.
func (g *guest) addShare(upto uint64) {
	if !g.curValid || upto <= g.added {
		return
	}
	w := g.cur.Written
	n := w.GetCardinality()
	if upto > n {
		upto = n
	}
	if g.added == 0 && upto == n {
		g.dirty.add(w)
	} else {
		lo, err := w.Select(uint32(g.added))
		if err != nil {
			panic("models: guest rank out of range: " + err.Error())
		}
		hi := uint64(w.Maximum()) + 1
		if upto < n {
			v, err := w.Select(uint32(upto))
			if err != nil {
				panic("models: guest rank out of range: " + err.Error())
			}
			hi = uint64(v)
		}
		g.scratch.Clear()
		g.scratch.AddRange(uint64(lo), hi)
		g.scratch.And(w)
		g.dirty.add(g.scratch)
	}
	g.written += upto - g.added
	g.added = upto
}

// setSpeed changes the guest's speed (1 − throttle) from now on.
func (g *guest) setSpeed(speed float64) {
	if speed <= 0 || speed > 1 {
		panic(fmt.Sprintf("models: guest speed %v outside (0, 1]", speed))
	}
	g.catchUp()
	g.speed = speed
	if g.endEv != nil {
		g.eng.Cancel(g.endEv)
		g.endEv = nil
		g.schedule()
	}
}

// pause stops the guest (its vCPUs no longer run).
func (g *guest) pause() {
	g.catchUp()
	g.paused = true
	if g.endEv != nil {
		g.eng.Cancel(g.endEv)
		g.endEv = nil
	}
}

// sync returns the dirty log as of now and starts a new, empty one: a
// dirty-log sync. The returned log stays valid until the next sync.
func (g *guest) sync() *dirtyLog {
	g.catchUp()
	d := g.dirty
	g.spare.clear()
	g.dirty, g.spare = g.spare, d
	if g.onSync != nil {
		g.onSync(d)
	}
	return d
}

// takeDirty is sync returning the pages as a roaring bitmap.
func (g *guest) takeDirty() *roaring.Bitmap { return g.sync().bitmap() }

// progress returns the guest time executed so far.
func (g *guest) progress() time.Duration {
	g.catchUp()
	if !g.curValid {
		return g.guestTime
	}
	return g.guestTime + time.Duration(g.done*float64(g.epochLen))
}

// openGuest starts a model run on env: the guest on env's engine, with
// the VM, trace and path checked against each other. The caller closes
// the guest.
func openGuest(env *runEnv, in Input) (*guest, error) {
	open := withBackground(in.Trace, in)
	g, err := newGuest(env.eng, open, in.AtEnd)
	if err != nil {
		return nil, err
	}
	g.halt = env.halt
	if err := checkInput(in, g); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}
