package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/traces"
	"github.com/migsim/migsim/units"
)

// writeTrace writes a small generated trace to a file and returns its path.
func writeTrace(t *testing.T, spec traces.GeneratorSpec, memory units.Bytes) string {
	t.Helper()
	src, err := traces.NewGenerator(spec, memory, 4*units.KiB, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.mgt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	w, err := traces.NewWriter(bw, src.Header())
	if err != nil {
		t.Fatal(err)
	}
	var e traces.Epoch
	for {
		if err := src.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEpoch(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReplayerVerifyFindsLostWrite(t *testing.T) {
	spec := traces.GeneratorSpec{Kind: traces.GenUniform, DirtyRate: 5000, ZeroFraction: 0.25,
		Duration: 200 * time.Millisecond, Epoch: 10 * time.Millisecond}
	src, err := traces.NewGenerator(spec, 4*units.MiB, 4*units.KiB, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := src.Header()
	region := make([]byte, h.MemoryBytes())
	r, err := newReplayer(region, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	touched := r.touch(h)
	if want := h.ClassPages(traces.ClassAnon); touched != want {
		t.Errorf("touched %d pages, want the %d non-zero pages", touched, want)
	}
	var e traces.Epoch
	var wrote uint64
	var lastWritten uint32
	for gen := uint32(1); ; gen++ {
		if err := src.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		w, _, _ := r.play(&e, gen)
		if w != e.Written.GetCardinality() {
			t.Fatalf("epoch %d: wrote %d pages, want %d", e.Index, w, e.Written.GetCardinality())
		}
		if w > 0 {
			lastWritten = e.Written.Minimum()
		}
		wrote += w
	}
	if wrote == 0 {
		t.Fatal("trace wrote nothing")
	}
	v := r.verify()
	if v.Bad != 0 || v.Pages != h.PageCount {
		t.Fatalf("verify after a clean replay = %+v, want no bad page", v)
	}
	sum := v.Sum

	// A page that missed its last write (a stale copy on a destination).
	p := uint64(lastWritten)
	*r.word(p) = stamp(p, r.last[p]-1)
	if v := r.verify(); v.Bad != 1 || v.First != p {
		t.Errorf("verify with page %d stale = %+v, want exactly that page bad", p, v)
	}
	*r.word(p) = stamp(p, r.last[p])
	// A zero-class page that is not zero.
	z := uint64(h.Zero.Minimum())
	region[z*4096+100] = 1
	if v := r.verify(); v.Bad != 1 || v.First != z {
		t.Errorf("verify with zero page %d dirty = %+v, want exactly that page bad", z, v)
	}
	region[z*4096+100] = 0
	if v := r.verify(); v.Bad != 0 || v.Sum != sum {
		t.Errorf("verify after repair = %+v, want the first checksum %x back", v, sum)
	}
}

// TestSessionProtocol runs the replayer's run loop over pipes, as the lab
// drives it over the serial line.
func TestSessionProtocol(t *testing.T) {
	spec := traces.GeneratorSpec{Kind: traces.GenSequential, DirtyRate: 2000, ZeroFraction: 0.5,
		Duration: 100 * time.Millisecond, Epoch: 10 * time.Millisecond}
	path := writeTrace(t, spec, 2*units.MiB)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(settings{trace: path, atEnd: "idle"}, inR, outW)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("replayer output ended: %v", lines.Err())
		}
		return lines.Text()
	}
	if l := next(); !strings.HasPrefix(l, "MIGSIM ready pages=512 page_size=4096 epoch_ns=10000000 touched=256 ") {
		t.Fatalf("first line %q, want the ready line", l)
	}
	io.WriteString(inW, "start\n")
	var epochs int
	for {
		l := next()
		if strings.HasPrefix(l, "MIGSIM end ") {
			if l != "MIGSIM end epochs=10" {
				t.Errorf("end line %q, want 10 epochs", l)
			}
			break
		}
		f := strings.Fields(l)
		if len(f) != 7 || f[1] != "e" || f[3] != "20" || f[4] != "0" {
			t.Fatalf("epoch line %q, want MIGSIM e INDEX 20 0 LATE DONE", l)
		}
		epochs++
	}
	if epochs != 10 {
		t.Errorf("got %d epoch lines, want 10", epochs)
	}
	io.WriteString(inW, "verify\n")
	if l := next(); !strings.HasPrefix(l, "MIGSIM verify pages=512 bad=0 ") {
		t.Errorf("verify line %q, want 512 pages, none bad", l)
	}
	io.WriteString(inW, "poweroff\n")
	if l := next(); l != "MIGSIM poweroff" {
		t.Errorf("last line %q, want MIGSIM poweroff", l)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestParseCmdline(t *testing.T) {
	s := parseCmdline("console=ttyS0 quiet migsim.trace=/t.mgt migsim.at_end=idle migsim.port=/dev/ttyS2\n", defaultSettings())
	want := settings{trace: "/t.mgt", port: "/dev/ttyS2", atEnd: "idle"}
	if s != want {
		t.Errorf("parseCmdline = %+v, want %+v", s, want)
	}
}

// TestReplayerFreeMode replays a trace that frees pages in free mode over
// a real anonymous mapping: free-class pages are left untouched, every
// page an epoch frees is handed back to the kernel (it reads as zero
// afterwards, and verify still finds the region right), and the default
// mode writes the free class as before.
func TestReplayerFreeMode(t *testing.T) {
	spec := traces.GeneratorSpec{Kind: traces.GenUniform, DirtyRate: 2000, ZeroFraction: 0.2, FreeFraction: 0.3,
		FreeRate: 5000, WorkingSet: 512 * units.KiB, Duration: 200 * time.Millisecond, Epoch: 10 * time.Millisecond}
	gen := func() traces.Source {
		src, err := traces.NewGenerator(spec, 4*units.MiB, 4*units.KiB, 1)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	h := gen().Header()
	if h.Free == nil || h.Free.IsEmpty() {
		t.Fatal("trace has no free class")
	}
	// Default mode: the free class is written like anon memory.
	def, err := newReplayer(make([]byte, h.MemoryBytes()), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := def.touch(h), h.PageCount-h.Zero.GetCardinality(); got != want {
		t.Errorf("default mode touched %d pages, want every non-zero page, %d", got, want)
	}

	region, err := unix.Mmap(-1, 0, int(h.MemoryBytes()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	var released uint64
	r, err := newReplayer(region, h, func(b []byte) error {
		released += uint64(len(b)) / 4096
		return unix.Madvise(b, unix.MADV_DONTNEED)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.touch(h), h.PageCount-h.Zero.GetCardinality()-h.Free.GetCardinality(); got != want {
		t.Errorf("free mode touched %d pages, want the %d pages neither zero nor free", got, want)
	}
	src := gen()
	var e traces.Epoch
	freed := roaring.New()
	for g := uint32(1); ; g++ {
		if err := src.Next(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if e.Change.ToFree != nil {
			freed.Or(e.Change.ToFree)
		}
		if e.Written != nil {
			freed.AndNot(e.Written)
		}
		if _, _, err := r.play(&e, g); err != nil {
			t.Fatal(err)
		}
	}
	if freed.IsEmpty() || released == 0 {
		t.Fatalf("the trace freed no page (released %d): the test needs churn", released)
	}
	it := freed.Iterator()
	for it.HasNext() {
		p := uint64(it.Next())
		if *r.word(p) != 0 || r.last[p] != neverWritten {
			t.Fatalf("page %d freed and not rewritten: word %#x, last %d; want 0 and never written", p, *r.word(p), r.last[p])
		}
	}
	if v := r.verify(); v.Bad != 0 {
		t.Errorf("verify after a free-mode replay = %+v, want no bad page", v)
	}
}

func TestParseCmdlineFree(t *testing.T) {
	if s := parseCmdline("quiet migsim.free=1", defaultSettings()); !s.free {
		t.Error("migsim.free=1 did not turn free mode on")
	}
	if s := parseCmdline("quiet", defaultSettings()); s.free {
		t.Error("free mode on without migsim.free=1")
	}
}

func TestParseBuddyinfo(t *testing.T) {
	text := "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n" +
		"Node 0, zone    DMA32      2      3      0      2      3      2      1      4      4      2    752 \n"
	// Order 10 blocks of 1024 pages: 3 + 752.
	if got, want := parseBuddyinfo(text), int64(755*1024); got != want {
		t.Errorf("parseBuddyinfo = %d, want %d", got, want)
	}
	if got := parseBuddyinfo("Node 0, zone DMA 1 x\n"); got != -1 {
		t.Errorf("parseBuddyinfo of a bad count = %d, want -1", got)
	}
}
