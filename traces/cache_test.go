package traces

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// cacheTestOpener opens a uniform generator of 64 MiB with 50 epochs and
// counts its opens.
func cacheTestOpener(t *testing.T, seed uint64, opens *int) Opener {
	t.Helper()
	spec := GeneratorSpec{Kind: GenUniform, DirtyRate: 20000, ReadRate: 5000, Duration: 500 * time.Millisecond}
	var mu sync.Mutex
	return func() (Source, error) {
		mu.Lock()
		*opens++
		mu.Unlock()
		return NewGenerator(spec, 64*units.MiB, 4*units.KiB, seed)
	}
}

// drain reads every epoch of src into fresh copies.
func drain(t *testing.T, src Source) []Epoch {
	t.Helper()
	var out []Epoch
	var e Epoch
	for {
		err := src.Next(&e)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Epoch{Index: e.Index, Written: e.Written.Clone(), Read: e.Read.Clone()})
	}
}

func sameEpochs(t *testing.T, what string, got, want []Epoch) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d epochs, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Index != want[i].Index || !got[i].Written.Equals(want[i].Written) || !got[i].Read.Equals(want[i].Read) {
			t.Fatalf("%s: epoch %d differs", what, i)
		}
	}
}

func open(t *testing.T, o Opener) Source {
	t.Helper()
	src, err := o()
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestCacheReplaysExactly checks that readers of a cached Opener, in turn
// and at once, see the wrapped Opener's epochs, and that the wrapped
// Source is opened and generated once.
func TestCacheReplaysExactly(t *testing.T) {
	var opens int
	inner := cacheTestOpener(t, 7, &opens)
	want := drain(t, open(t, inner))
	opens = 0

	c := NewCache(64 << 20)
	o := c.Opener("uniform-7", inner)
	sameEpochs(t, "first reader", drain(t, open(t, o)), want)
	sameEpochs(t, "second reader", drain(t, open(t, o)), want)

	var wg sync.WaitGroup
	got := make([][]Epoch, 8)
	for i := range got {
		wg.Go(func() {
			src, err := o()
			if err != nil {
				t.Error(err)
				return
			}
			var e Epoch
			for {
				err := src.Next(&e)
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Read the shared sets as a model does.
				got[i] = append(got[i], Epoch{Index: e.Index, Written: e.Written.Clone(), Read: e.Read.Clone()})
			}
		})
	}
	wg.Wait()
	for i := range got {
		sameEpochs(t, fmt.Sprintf("concurrent reader %d", i), got[i], want)
	}
	if opens != 1 {
		t.Errorf("wrapped Opener opened %d times, want 1", opens)
	}
	st := c.Stats()
	if st.Generated != int64(len(want)) || st.Opens != 10 || st.Hits != 9 || st.Evicted != 0 || st.Bytes <= 0 {
		t.Errorf("stats %+v: want %d generated, 10 opens, 9 hits, no eviction, some bytes", st, len(want))
	}
	if st.Replayed != 10*int64(len(want)) {
		t.Errorf("replayed %d epochs, want %d", st.Replayed, 10*len(want))
	}
}

// TestCacheLimit checks that a tape over the limit stops recording, that
// its readers then read on from a private Source without disturbing the
// tape, and that the least recently opened tape is dropped for a new one.
func TestCacheLimit(t *testing.T) {
	var opens int
	inner := cacheTestOpener(t, 1, &opens)
	want := drain(t, open(t, inner))
	var size int64
	for _, e := range want[:10] {
		size += int64(e.Written.GetSerializedSizeInBytes() + e.Read.GetSerializedSizeInBytes())
	}

	// Room for about 10 epochs of 50.
	c := NewCache(size)
	o := c.Opener("k", inner)
	a := open(t, o)
	var e Epoch
	var got []Epoch
	for {
		err := a.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, Epoch{Index: e.Index, Written: e.Written.Clone(), Read: e.Read.Clone()})
	}
	sameEpochs(t, "reader past the limit", got, want)
	if err := Close(a); err != nil {
		t.Fatal(err)
	}
	// The tape was dropped; a new reader records afresh and still sees
	// the same trace.
	sameEpochs(t, "reader after the drop", drain(t, open(t, o)), want)
	if st := c.Stats(); st.Evicted == 0 || st.Bytes > size {
		t.Errorf("stats %+v: want an eviction and at most %d bytes", st, size)
	}

	// Two small traces that fit one at a time: the older is dropped.
	c = NewCache(size * 3 / 2)
	var o1, o2 int
	short := func(seed uint64, n *int) Opener {
		return func() (Source, error) {
			*n++
			spec := GeneratorSpec{Kind: GenUniform, DirtyRate: 20000, ReadRate: 5000, Duration: 100 * time.Millisecond}
			return NewGenerator(spec, 64*units.MiB, 4*units.KiB, seed)
		}
	}
	x, y := c.Opener("x", short(1, &o1)), c.Opener("y", short(2, &o2))
	drain(t, open(t, x))
	drain(t, open(t, y))
	drain(t, open(t, x))
	if o1 != 2 || o2 != 1 {
		t.Errorf("opens of x, y = %d, %d; want 2, 1 (x dropped for y, then recorded again)", o1, o2)
	}
}

type failingSource struct {
	Source
	n, failAt int
}

var errBroken = errors.New("broken trace")

func (f *failingSource) Next(e *Epoch) error {
	if f.n == f.failAt {
		return errBroken
	}
	f.n++
	return f.Source.Next(e)
}

// TestCacheErrors checks that errors of the wrapped Opener and Source
// reach every reader.
func TestCacheErrors(t *testing.T) {
	c := NewCache(1 << 20)
	if _, err := c.Opener("bad", func() (Source, error) { return nil, errBroken })(); !errors.Is(err, errBroken) {
		t.Errorf("open error %v, want %v", err, errBroken)
	}
	var opens int
	inner := cacheTestOpener(t, 3, &opens)
	o := c.Opener("fails", func() (Source, error) {
		src, err := inner()
		return &failingSource{Source: src, failAt: 5}, err
	})
	for i := range 2 {
		src := open(t, o)
		var e Epoch
		var err error
		n := 0
		for err == nil {
			if err = src.Next(&e); err == nil {
				n++
			}
		}
		if !errors.Is(err, errBroken) || n != 5 {
			t.Errorf("reader %d: %d epochs then %v; want 5 then %v", i, n, err, errBroken)
		}
	}
}

// TestCacheDrop checks that a dropped trace is recorded again and that a
// reader open on it reads on.
func TestCacheDrop(t *testing.T) {
	var opens int
	inner := cacheTestOpener(t, 4, &opens)
	want := drain(t, open(t, inner))
	c := NewCache(64 << 20)
	o := c.Opener("k", inner)
	a := open(t, o)
	var e Epoch
	if err := a.Next(&e); err != nil {
		t.Fatal(err)
	}
	c.Drop("k")
	c.Drop("unknown")
	if st := c.Stats(); st.Dropped != 1 || st.Evicted != 0 || st.Bytes != 0 {
		t.Errorf("stats after Drop: %+v", st)
	}
	rest := drain(t, a)
	sameEpochs(t, "reader across the drop", append([]Epoch{{Index: e.Index, Written: e.Written.Clone(), Read: e.Read.Clone()}}, rest...), want)
	sameEpochs(t, "reader after the drop", drain(t, open(t, o)), want)
	if opens != 4 {
		// 1 for want, 1 for the first tape, 1 for the reader past the
		// dropped tape's end, 1 for the new tape.
		t.Errorf("opened %d times, want 4", opens)
	}
}

// TestCacheDisabled checks that a limit of 0 returns the Opener as is.
func TestCacheDisabled(t *testing.T) {
	var opens int
	inner := cacheTestOpener(t, 3, &opens)
	o := NewCache(0).Opener("k", inner)
	drain(t, open(t, o))
	drain(t, open(t, o))
	if opens != 2 {
		t.Errorf("opened %d times, want 2", opens)
	}
}

// BenchmarkCacheReplay compares generating a 16 GiB guest's uniform trace
// with replaying it from a Cache; one iteration is one epoch.
func BenchmarkCacheReplay(b *testing.B) {
	spec := GeneratorSpec{Kind: GenUniform, DirtyRate: 50000, WorkingSet: 4 * units.GiB, Duration: 20 * time.Second}
	inner := func() (Source, error) { return NewGenerator(spec, 16*units.GiB, 4*units.KiB, 1) }
	run := func(b *testing.B, o Opener) {
		src, err := o()
		if err != nil {
			b.Fatal(err)
		}
		var e Epoch
		for b.Loop() {
			err := src.Next(&e)
			if err == io.EOF {
				if src, err = o(); err == nil {
					err = src.Next(&e)
				}
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("generate", func(b *testing.B) { run(b, inner) })
	c := NewCache(1 << 30)
	o := c.Opener("k", inner)
	drain2 := func() {
		src, _ := o()
		var e Epoch
		for src.Next(&e) == nil {
		}
	}
	drain2()
	b.Run("replay", func(b *testing.B) { run(b, o) })
}
