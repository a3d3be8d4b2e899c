package models

import (
	"math"
)

// The pages a hybrid's post-copy guest meets missing, when its trace
// replays.
//
// After pre-copy rounds, a block's missing pages M are those written in a
// window of guest time that ends at the switch (the last sync's set, or
// each segment of the migration bitmap with its own start). The guest's
// accesses from the resume to t are A(t). Were M and A(t) independent
// within the block, a fresh access would be missing with the block's
// share of missing pages among those not accessed. But a trace shorter
// than the rounds (at_end loop) replays the same pages: what the guest
// touches after the resume it wrote in the window too, and counts per
// block made 67-81 % fewer requests than the page engine (a 300 ms trace
// on lan-1g). The closed forms' windows are loop-aware (a window longer
// than the trace covers each page once), so count the overlap instead:
//
//	|A(t) ∩ M| = |A(t)| + |M| − |A(t) ∪ M|,   A(t) ∪ M = W[since, t) ∪ R[resume, t)
//
// (W, R: the pages written, read), guest time standing still from the
// switch to the resume. Within the epoch under way each term is linear in
// φ, the share of it the guest has run (a random φ of its accesses, and
// so of those new to the union). A new access to a page of M finds it
// unsent with the share of unsent pages among the pages of M not yet
// accessed: the push, by address, takes those at random. Without a loop
// the count is the independent one's.

// replayState is a block's part of it: nil parts for pure post-copy.
type replayState struct {
	parts       []missingPart
	m0          float64 // pages missing at the switch
	am, amTrial float64 // accessed among them; the trial step's new ones
	uFrom, uEnd float64 // |A ∪ M| at the epoch's part from and at its end
}

// replayWindows computes, once per epoch, the windows the blocks'
// unions need: the pages written from each part's since to from and to
// eEnd, and read from the resume to eEnd.
func (r *fluidPostcopyRun) replayWindows(from, eEnd float64) {
	if r.replay == nil {
		return
	}
	for s, w := range r.unionWins {
		r.fillWin(&w[0], s, from)
		r.fillWin(&w[1], s, eEnd)
	}
	r.fillWin(&r.rFrom, -1, from)
	r.fillWin(&r.rEnd, -1, eEnd)
	for i := range r.blocks {
		st := &r.replay[i]
		if st.parts == nil || (r.strata != nil && r.strata.cells[i] != nil) {
			continue // a zipf working set's block: its cells count it (fluidStrata.replayEpoch)
		}
		st.uFrom, st.uEnd = 0, 0
		for _, p := range st.parts {
			if p.full {
				st.uFrom += p.z - p.a
				st.uEnd += p.z - p.a
				continue
			}
			w := r.unionWins[p.since]
			n := p.z - p.a
			rf, _ := inWin(&r.rFrom, p.a, p.z)
			re, _ := inWin(&r.rEnd, p.a, p.z)
			wf, _ := inWin(&w[0], p.a, p.z)
			we, _ := inWin(&w[1], p.a, p.z)
			st.uFrom += union(wf, rf, n)
			st.uEnd += union(we, re, n)
		}
	}
}

// fillWin sets w to the pages written from since to c, or read from the
// resume to c when since is negative, with each piece's probability.
func (r *fluidPostcopyRun) fillWin(w *fluidWin, since, c float64) {
	if since < 0 {
		r.x.Read(r.resumeG, c, &w.w)
	} else {
		r.x.Written(since, c, &w.w)
	}
	w.setPieces()
}

// replayAccesses is newAccesses for block i of a hybrid (replay parts
// set): the network and minor faults among the guest's accesses since
// the resume, total of them, w the workload's and bgT background pages
// (touchedParts), phi into the current epoch. The background pages lie
// at fixed places, so they meet the missing pages independently of the
// workload's accesses.
func (r *fluidPostcopyRun) replayAccesses(i int, w, bgT, total, phi float64) (faults, minor float64) {
	b, st := &r.blocks[i], &r.replay[i]
	st.amTrial = 0
	u := st.uFrom + phi*(st.uEnd-st.uFrom)
	am := math.Min(math.Max(w+st.m0-u, 0), math.Min(w, st.m0))
	// A share beta of the block, the background pages meet the missing
	// pages the workload's accesses have not.
	if bgT > 0 {
		am += math.Min(1, bgT/b.n) * (st.m0 - am)
	}
	am = math.Min(math.Max(am, st.am), math.Min(total, st.m0))
	d := am - st.am
	pool := st.m0 - st.am
	if d <= 0 || pool <= 0 {
		return 0, 0
	}
	st.amTrial = d
	pm := math.Min(1, b.unsent()/pool)
	pf := math.Min(1-pm, b.inflight/pool)
	return d * pm, d * pf
}

// setReplay sets the blocks' parts after pre-copy rounds that left
// missing (a zipf law's working set's blocks too: their cells count by
// rank bucket, fluid_strata.go).
func (r *fluidPostcopyRun) setReplay(missing fluidMissing) {
	r.replay = make([]replayState, len(r.blocks))
	for i := range r.blocks {
		b := &r.blocks[i]
		if b.zero {
			continue
		}
		st := &r.replay[i]
		st.parts = missing.parts(b.lo, b.hi, nil)
		st.m0 = b.n - b.have
		for _, p := range st.parts {
			if !p.full {
				if r.unionWins == nil {
					r.unionWins = map[float64]*[2]fluidWin{}
				}
				if r.unionWins[p.since] == nil {
					r.unionWins[p.since] = &[2]fluidWin{}
				}
			}
		}
	}
}
