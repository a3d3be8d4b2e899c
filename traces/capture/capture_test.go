//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/migsim/migsim/traces"
)

func TestParseMaps(t *testing.T) {
	const maps = `00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon
00651000-00652000 rw-p 00051000 08:02 173521 /usr/bin/dbus-daemon
00e03000-00e24000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000004000 rw-p 00000000 00:00 0
7f0000004000-7f0000008000 rw-s 00000000 00:01 4 /dev/zero (deleted)
7ffc0000000-7ffc0002000 rw-p 00000000 00:00 0 [stack]
7ffc0003000-7ffc0004000 r--p 00000000 00:00 0 [vvar]
`
	got, err := parseMaps(strings.NewReader(maps))
	if err != nil {
		t.Fatal(err)
	}
	want := []Region{
		{Start: 0xe03000, End: 0xe24000, FirstPage: 0, Name: "[heap]"},
		{Start: 0x7f0000000000, End: 0x7f0000004000, FirstPage: 33},
		{Start: 0x7ffc0000000, End: 0x7ffc0002000, FirstPage: 37, Name: "[stack]"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseMaps =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := parseMaps(strings.NewReader("zzz rw-p 0 0 0\n")); err == nil {
		t.Error("parseMaps accepted a bad range")
	}
}

func TestMechanismNames(t *testing.T) {
	for _, m := range []Mechanism{Auto, SoftDirty, UffdWP} {
		got, err := ParseMechanism(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMechanism(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMechanism("dirty"); err == nil {
		t.Error("ParseMechanism accepted an unknown name")
	}
}

func TestCaptureNoProcess(t *testing.T) {
	_, err := Capture(context.Background(), io.Discard, Options{PID: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), "process 1073741824") {
		t.Errorf("Capture of a missing process: %v, want an error naming it", err)
	}
}

// writerProc is a running testdata/writer.
type writerProc struct {
	cmd   *exec.Cmd
	addr  uint64 // its region
	stdin io.Writer
	out   *bufio.Reader
}

// start starts the writes.
func (w *writerProc) start() { io.WriteString(w.stdin, "go\n") }

// grow has the writer map a second region and write there; it returns the
// new region's address. It may run outside the test's goroutine.
func (w *writerProc) grow() (uint64, error) {
	if _, err := io.WriteString(w.stdin, "grow\n"); err != nil {
		return 0, err
	}
	return readRegion(w.out)
}

// readRegion reads the writer's "region ADDR PAGES" line.
func readRegion(out *bufio.Reader) (uint64, error) {
	line, err := out.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the writer's region: %w", err)
	}
	var addr uint64
	var pages int
	if _, err := fmt.Sscanf(line, "region %v %d", &addr, &pages); err != nil {
		return 0, fmt.Errorf("writer said %q: %w", line, err)
	}
	return addr, nil
}

// startWriter builds and starts testdata/writer writing rate pages/s in a
// 16384-page region.
func startWriter(t *testing.T, rate int) *writerProc {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "writer")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/writer").CombinedOutput(); err != nil {
		t.Fatalf("building the writer: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-pages=16384", fmt.Sprintf("-rate=%d", rate))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("the writer did not exit when its stdin closed (left stopped?)")
		}
	})
	out := bufio.NewReader(stdout)
	addr, err := readRegion(out)
	if err != nil {
		t.Fatal(err)
	}
	return &writerProc{cmd: cmd, addr: addr, stdin: stdin, out: out}
}

// TestCaptureKnownPattern captures a program that writes 2,000 distinct
// pages per second in one region and checks that the 100 ms epochs hold
// 200 of its pages each (median within 3 %, the sum within 3 % of rate ×
// time), and that the target is left running and not write-protected.
func TestCaptureKnownPattern(t *testing.T) {
	mech, err := Detect()
	if err != nil {
		t.Skipf("no capture mechanism: %v", err)
	}
	t.Logf("mechanism: %v", mech)
	const rate, epochs = 2000, 30
	wp := startWriter(t, rate)
	pid, addr := wp.cmd.Process.Pid, wp.addr
	wp.start()

	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	var ends []time.Time
	res, err := Capture(ctx, &buf, Options{PID: pid, Epochs: epochs, OnEpochEnd: func(_ uint64, at time.Time) { ends = append(ends, at) }})
	elapsed := time.Since(t0)
	if errors.Is(err, ErrPermission) {
		t.Skipf("no rights to capture: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Mechanism != mech || res.Epochs != epochs {
		t.Fatalf("result %+v, want mechanism %v and %d epochs", res, mech, epochs)
	}
	checkReleased(t, pid, addr)

	// The writer's region in trace pages.
	var lo, hi uint64
	for _, r := range res.Regions {
		if r.Start <= addr && addr < r.End {
			lo = r.FirstPage + (addr-r.Start)/pageSize
			hi = lo + 16384
		}
	}
	if hi == 0 {
		t.Fatalf("the writer's region %#x is not among the captured regions %+v", addr, res.Regions)
	}

	tr, err := traces.NewReader(&buf, "captured")
	if err != nil {
		t.Fatal(err)
	}
	prov := tr.Header().Provenance
	for _, want := range []string{"mechanism=" + mech.String(), fmt.Sprintf("pid=%d", pid), "epoch=100ms", "host=", "command=\""} {
		if !strings.Contains(prov, want) {
			t.Errorf("provenance %q lacks %q", prov, want)
		}
	}
	var counts []float64
	var sets [][]uint64
	var e traces.Epoch
	for {
		err := tr.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, float64(e.Written.CardinalityInRange(lo, hi)))
		sets = append(sets, regionPages(e.Written, lo, hi))
	}
	if len(counts) != epochs {
		t.Fatalf("read %d epochs, want %d", len(counts), epochs)
	}
	t.Logf("pages of the region written per epoch: %v", counts)
	// The first epoch starts when the region is armed, a little after
	// Capture is called; every later one is a full tick.
	full := counts[1:]
	var sum float64
	for _, c := range full {
		sum += c
	}
	med := median(full)
	want := float64(rate) * DefaultEpoch.Seconds()
	if d := med/want - 1; d < -0.03 || d > 0.03 {
		t.Errorf("median %v pages per epoch, want %v ±3%%", med, want)
	}
	// Ticks can run late under load, so the sum is bounded by wall time.
	if lowest := want * float64(len(full)); sum < 0.97*lowest || sum > 1.03*float64(rate)*elapsed.Seconds() {
		t.Errorf("%v pages in %d full epochs, want %v to %v", sum, len(full), 0.97*lowest, 1.03*float64(rate)*elapsed.Seconds())
	}
	// Epoch by epoch, what the capture must get right whatever the timing:
	// the writer writes its pages one after another, so each epoch's
	// pages continue exactly where the last epoch's stopped, none lost
	// and none counted twice. (How many fall in one epoch depends on two
	// schedulers on a busy machine: a late tick makes one epoch long and
	// the next short, a descheduled writer writes a burst.)
	if len(ends) != epochs {
		t.Fatalf("%d epoch ends reported, want %d", len(ends), epochs)
	}
	checkSequential(t, sets, 16384)
}

// regionPages returns the pages of set in [lo, hi), counted from lo, in
// ascending order.
func regionPages(set *roaring.Bitmap, lo, hi uint64) []uint64 {
	var out []uint64
	it := set.Iterator()
	it.AdvanceIfNeeded(uint32(lo))
	for it.HasNext() {
		p := uint64(it.Next())
		if p >= hi {
			break
		}
		out = append(out, p-lo)
	}
	return out
}

// checkSequential checks that epochs of a writer that writes pages 0, 1,
// 2, ... of an n-page region in turn (wrapping) hold exactly that
// sequence: each epoch's pages run on, without a gap, from the page after
// the previous epoch's last one, or from at most boundarySlack pages
// before it: a write under way while the scan passes its page (the fault
// resolved, the store not yet retired) is seen in both epochs, as dirty
// logging sees it. Empty epochs (the writer descheduled) carry the
// sequence over.
func checkSequential(t *testing.T, epochs [][]uint64, n uint64) {
	t.Helper()
	const boundarySlack = 2
	next, started := uint64(0), false
	for i, pages := range epochs {
		if len(pages) == 0 {
			continue
		}
		if uint64(len(pages)) > n {
			t.Fatalf("epoch %d holds %d pages of a %d-page region", i, len(pages), n)
		}
		if !started { // the first pages seen: the sequence starts at the lowest after a gap
			next, started = pages[0], true
			for j := 1; j < len(pages); j++ {
				if pages[j] != pages[j-1]+1 { // wrapped: it started after the gap
					next = pages[j]
					break
				}
			}
		}
		// A page or two of the last epoch seen again (see above).
		for start, back := next, uint64(1); back <= boundarySlack; back++ {
			prev := (start + n - back) % n
			if k := sort.Search(len(pages), func(j int) bool { return pages[j] >= prev }); k < len(pages) && pages[k] == prev {
				next = prev
			}
		}
		// In write order: from next up, then wrapped from 0.
		k := sort.Search(len(pages), func(j int) bool { return pages[j] >= next })
		order := append(append([]uint64(nil), pages[k:]...), pages[:k]...)
		for j, p := range order {
			if p != (next+uint64(j))%n {
				t.Fatalf("epoch %d: page %d where the writer's sequence has %d (the epoch holds %d pages from %d): a write lost or counted twice", i, p, (next+uint64(j))%n, len(pages), next)
			}
		}
		next = (next + uint64(len(pages))) % n
	}
	if !started {
		t.Fatal("no epoch holds a page of the writer's region")
	}
}

// checkReleased fails unless pid runs, has no tracer and its page at addr
// is not write-protected (pagemap bit 57, PM_UFFD_WP).
func checkReleased(t *testing.T, pid int, addr uint64) {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok && strings.TrimSpace(v) != "0" {
			t.Errorf("process %d still traced after capture: %s", pid, l)
		}
		if v, ok := strings.CutPrefix(l, "State:"); ok && strings.ContainsAny(v, "tT") {
			t.Errorf("process %d left stopped: %s", pid, l)
		}
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	b := make([]byte, 8*64)
	if _, err := pm.ReadAt(b, int64(addr/pageSize*8)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64; i++ {
		if binary.LittleEndian.Uint64(b[8*i:])>>57&1 != 0 {
			t.Fatalf("page %d of the region is still write-protected after capture", i)
		}
	}
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func TestPermissionError(t *testing.T) {
	err := permission(fmt.Errorf("capture: ptrace(PTRACE_SEIZE, 1): %w", os.ErrPermission))
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "root") {
		t.Errorf("permission(EPERM) = %v, want ErrPermission saying what rights are needed", err)
	}
	if err := permission(os.ErrNotExist); errors.Is(err, ErrPermission) {
		t.Errorf("permission(ENOENT) = %v, wrapped as ErrPermission", err)
	}
}

// TestCaptureFollowsNewMappings captures with Follow while the writer maps
// a second region halfway and moves its writes there: the new region is
// found, its pages are numbered after the first ones, the header's page
// count covers them, and the epochs after the move hold the writer's rate
// in the new region (median within 3 %).
func TestCaptureFollowsNewMappings(t *testing.T) {
	if _, err := Detect(); err != nil {
		t.Skipf("no capture mechanism: %v", err)
	}
	const rate, epochs = 2000, 30
	wp := startWriter(t, rate)
	pid := wp.cmd.Process.Pid
	wp.start()
	grown := make(chan uint64, 1)
	growErr := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		addr, err := wp.grow()
		growErr <- err
		grown <- addr
	}()

	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var growEpoch uint64
	res, err := Capture(ctx, &buf, Options{PID: pid, Epochs: epochs, Follow: true, OnEpoch: func(i, n uint64) {
		if growEpoch == 0 && len(grown) > 0 {
			growEpoch = i
		}
	}})
	if errors.Is(err, ErrPermission) {
		t.Skipf("no rights to capture: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := <-growErr; err != nil {
		t.Fatal(err)
	}
	addr := <-grown
	checkReleased(t, pid, addr)
	var lo, hi uint64
	for _, r := range res.Regions[len(res.Regions)-res.AddedRegions:] {
		if r.Start <= addr && addr < r.End {
			lo = r.FirstPage + (addr-r.Start)/pageSize
			hi = lo + 16384
		}
	}
	if hi == 0 {
		t.Fatalf("the new region %#x is not among the %d added regions: %+v", addr, res.AddedRegions, res.Regions)
	}
	tr, err := traces.NewReader(&buf, "captured")
	if err != nil {
		t.Fatal(err)
	}
	if pc := tr.Header().PageCount; pc < hi {
		t.Fatalf("header page count %d does not cover the new region's pages [%d,%d)", pc, lo, hi)
	}
	var after []float64
	var sets [][]uint64
	var e traces.Epoch
	for i := uint64(0); ; i++ {
		err := tr.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// From the second full epoch after the one that saw the new line.
		if growEpoch > 0 && i >= growEpoch+2 {
			after = append(after, float64(e.Written.CardinalityInRange(lo, hi)))
			sets = append(sets, regionPages(e.Written, lo, hi))
		}
	}
	if len(after) < 10 {
		t.Fatalf("%d epochs after the new mapping, want at least 10 (grew at epoch %d)", len(after), growEpoch)
	}
	// The new region's writes, epoch by epoch, run on without a gap or a
	// repeat (see checkSequential), and the writer's rate holds over all
	// of them together (one epoch's count depends on two schedulers).
	checkSequential(t, sets, 16384)
	var sum float64
	for _, c := range after {
		sum += c
	}
	want := float64(rate) * DefaultEpoch.Seconds() * float64(len(after))
	if sum < 0.9*want || sum > 1.25*want {
		t.Errorf("%v pages in the new region over %d epochs, want about %v (per epoch: %v)", sum, len(after), want, after)
	}
}

func TestHasExecMapping(t *testing.T) {
	for _, c := range []struct {
		maps string
		want bool
	}{
		{"", false},
		{"7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]\n", false},
		{"55d0c0000000-55d0c0002000 r--p 00000000 08:01 1234 /usr/bin/sleep\n55d0c0002000-55d0c0006000 r-xp 00002000 08:01 1234 /usr/bin/sleep\n", true},
		{"7fff3e5f0000-7fff3e5f2000 r-xp 00000000 00:00 0                          [vdso]", true},
	} {
		if got := hasExecMapping([]byte(c.maps)); got != c.want {
			t.Errorf("hasExecMapping(%q) = %v, want %v", c.maps, got, c.want)
		}
	}
}

// TestWaitExecutedFreshCommand starts commands and waits for each to be
// loaded, as 'trace capture -- CMD' does: the wait must see the program's
// executable mapping, never the half-built address space of a process
// still inside execve(2).
func TestWaitExecutedFreshCommand(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := exec.Command("sleep", "0.2")
		if err := c.Start(); err != nil {
			t.Skip(err)
		}
		WaitExecuted(context.Background(), c.Process.Pid, 5*time.Second)
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", c.Process.Pid))
		c.Process.Kill()
		c.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if !hasExecMapping(maps) {
			t.Fatalf("start %d: no executable mapping after WaitExecuted:\n%s", i, maps)
		}
	}
}

// TestCheckSequential: the check the capture tests rely on passes the
// writer's sequence (with a page seen at both sides of a boundary) and
// catches a lost write and a page counted far from its turn.
func TestCheckSequential(t *testing.T) {
	good := [][]uint64{{14, 15}, {16, 17, 18}, {}, {0, 1, 18, 19}, {2}} // ascending, as regionPages gives them
	checkSequential(t, good, 20)
	for name, bad := range map[string][][]uint64{
		"lost write":    {{1, 2}, {4, 5}},
		"far repeat":    {{1, 2, 3, 4, 5}, {1, 6}},
		"gap in epoch":  {{1, 2, 4}},
		"two sequences": {{1, 2, 10, 11}},
	} {
		ft := &testing.T{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkSequential(ft, bad, 20)
		}()
		<-done
		if !ft.Failed() {
			t.Errorf("%s: %v passed", name, bad)
		}
	}
}
