package traces

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/units"
)

// churnEpochs reads every epoch of a generator of spec over memory.
func churnEpochs(t *testing.T, spec GeneratorSpec, memory units.Bytes, seed uint64) (*Header, []Epoch) {
	t.Helper()
	src, err := NewGenerator(spec, memory, genPage, seed)
	if err != nil {
		t.Fatal(err)
	}
	var es []Epoch
	for {
		var e Epoch
		err := src.Next(&e)
		if err == io.EOF {
			return src.Header(), es
		}
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
}

// TestGeneratorChurn checks allocation and freeing over two phases: the
// counts per epoch follow the cumulative floor of the rates, allocation
// takes the lowest free pages and writes them, freeing gives back the most
// recently allocated pages first, the workload's own writes and reads are
// those of the same spec without rates, and the trace survives a round
// trip through the file format.
func TestGeneratorChurn(t *testing.T) {
	const memory = 4096 * genPage // 4096 pages
	base := GeneratorSpec{Kind: GenPhases, Epoch: 100 * time.Millisecond, FreeFraction: 0.5, Phases: []GeneratorSpec{
		{Kind: GenUniform, DirtyRate: 1000, ReadRate: 500, WorkingSet: 1024 * genPage, Duration: 2 * time.Second},
		{Kind: GenUniform, DirtyRate: 1000, ReadRate: 500, WorkingSet: 1024 * genPage, Duration: 3 * time.Second},
	}}
	spec := base
	spec.Phases = []GeneratorSpec{base.Phases[0], base.Phases[1]}
	spec.Phases[0].AllocRate = 333 // 33.3 pages an epoch: 33, 33, 34, ...
	spec.Phases[1].FreeRate = 250  // 25 pages an epoch
	hdr, es := churnEpochs(t, spec, memory, 7)
	_, plain := churnEpochs(t, base, memory, 7)
	if len(es) != 50 || len(plain) != 50 {
		t.Fatalf("%d and %d epochs, want 50", len(es), len(plain))
	}
	zero, free, pc := roaring.New(), hdr.Free.Clone(), roaring.New()
	initialFree := hdr.Free.Clone()
	var allocated, freed uint64
	for i, e := range es {
		a, f := pagesIn(e.Change.ToAnon), pagesIn(e.Change.ToFree)
		if i < 20 {
			wantA := uint64(333*(i+1)/10) - uint64(333*i/10)
			if a != wantA || f != 0 {
				t.Fatalf("epoch %d allocates %d and frees %d pages, want %d and 0", i, a, f, wantA)
			}
			if want := lowest(free, a); !e.Change.ToAnon.Equals(want) {
				t.Fatalf("epoch %d allocates %v, not the lowest free pages %v", i, e.Change.ToAnon, want)
			}
			if !e.Written.Contains(e.Change.ToAnon.Minimum()) || roaring.AndNot(e.Change.ToAnon, e.Written).GetCardinality() != 0 {
				t.Fatalf("epoch %d does not write the pages it allocates", i)
			}
		} else if a != 0 || f != 25 {
			t.Fatalf("epoch %d allocates %d and frees %d pages, want 0 and 25", i, a, f)
		}
		// Without the allocated pages, the epoch is the plain spec's.
		w := e.Written.Clone()
		if e.Change.ToAnon != nil {
			w.AndNot(e.Change.ToAnon)
		}
		if !w.Equals(plain[i].Written) || !e.Read.Equals(plain[i].Read) {
			t.Fatalf("epoch %d: the workload's writes or reads differ from the spec without rates", i)
		}
		if e.Change.ToFree != nil && e.Change.ToFree.Intersects(newRangeBitmap(0, 1024)) {
			t.Fatalf("epoch %d frees a working-set page", i)
		}
		allocated, freed = allocated+a, freed+f
		e.Change.Apply(zero, free, pc)
	}
	if allocated != 666 || freed != 750 {
		t.Fatalf("allocated %d and freed %d pages, want 666 and 750", allocated, freed)
	}
	// The 666 allocated pages were freed first, then 84 of the anon pages
	// above the working set, from the top: the free class is the initial
	// one plus those.
	want := initialFree.Clone()
	w := hdr.ClassPages(ClassAnon) // anon pages [0, w)
	want.AddRange(w-84, w)
	if !free.Equals(want) {
		t.Fatalf("free class at the end has %d pages, want %d (initial %d + 84)", free.GetCardinality(), want.GetCardinality(), initialFree.GetCardinality())
	}

	// Deterministic, and the file format keeps the changes.
	_, again := churnEpochs(t, spec, memory, 7)
	var buf bytes.Buffer
	tw, err := NewWriter(&buf, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if err := tw.WriteEpoch(&again[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	h2, read, err := fileReadAll(bytes.NewReader(buf.Bytes()), "churn.mgt")
	if err != nil {
		t.Fatal(err)
	}
	fileCheckTrace(t, hdr, h2, es, read)
}

// TestGeneratorChurnCaps checks that allocation stops when the free class
// is empty and freeing when nothing is left to free.
func TestGeneratorChurnCaps(t *testing.T) {
	const memory = 1000 * genPage
	spec := GeneratorSpec{Kind: GenIdle, FreeFraction: 0.1, AllocRate: 5000, Duration: time.Second, Epoch: 10 * time.Millisecond}
	_, es := churnEpochs(t, spec, memory, 1)
	var n uint64
	for _, e := range es {
		n += pagesIn(e.Change.ToAnon)
	}
	if n != 100 {
		t.Fatalf("allocated %d pages of a 100-page free class", n)
	}
	spec = GeneratorSpec{Kind: GenIdle, WorkingSet: 900 * genPage, FreeRate: 5000, Duration: time.Second, Epoch: 10 * time.Millisecond}
	_, es = churnEpochs(t, spec, memory, 1)
	n = 0
	for _, e := range es {
		n += pagesIn(e.Change.ToFree)
		if e.Change.ToFree != nil && !e.Change.ToFree.IsEmpty() && e.Change.ToFree.Minimum() < 900 {
			t.Fatalf("freed working-set page %d", e.Change.ToFree.Minimum())
		}
	}
	if n != 100 {
		t.Fatalf("freed %d pages of the 100 anon pages above the working set", n)
	}
}

func TestGeneratorChurnErrors(t *testing.T) {
	cases := []struct {
		spec GeneratorSpec
		want string
	}{
		{GeneratorSpec{AllocRate: -1}, "generator.alloc_rate: -1 is negative"},
		{GeneratorSpec{FreeRate: -2}, "generator.free_rate: -2 is negative"},
		{GeneratorSpec{Kind: GenPhases, AllocRate: 1, Phases: []GeneratorSpec{{DirtyRate: 1}}}, "kind phases takes alloc_rate and free_rate from each phase"},
		{GeneratorSpec{Kind: GenPhases, Phases: []GeneratorSpec{{FreeRate: -1}}}, "generator.phases[0].free_rate: -1 is negative"},
	}
	for _, c := range cases {
		err := c.spec.Validate(1000*genPage, genPage)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want one containing %q", c.spec, err, c.want)
		}
	}
}

// TestExportTextRefusesChanges checks that exporting a trace with
// composition changes to the text format, which cannot express them,
// fails and names the epoch instead of silently dropping them.
func TestExportTextRefusesChanges(t *testing.T) {
	spec := GeneratorSpec{Kind: GenIdle, FreeFraction: 0.5, AllocRate: 50, Duration: time.Second, Epoch: 100 * time.Millisecond}
	src, err := NewGenerator(spec, 1000*genPage, genPage, 1)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	n, err := ExportText(&b, src)
	if err == nil || !strings.Contains(err.Error(), "epoch 0 has a composition change") || n != 0 {
		t.Fatalf("ExportText = %d, %v; want an error naming epoch 0", n, err)
	}
}
