package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
)

// Mechanism is the kernel facility used to find written pages.
type Mechanism int

const (
	// Auto lets [Capture] choose with [Detect].
	Auto Mechanism = iota
	// SoftDirty uses /proc/PID/clear_refs and pagemap bit 55.
	SoftDirty
	// UffdWP uses asynchronous userfaultfd write-protection and PAGEMAP_SCAN.
	UffdWP
)

// String returns the mechanism's stable name, as written in provenance.
func (m Mechanism) String() string {
	switch m {
	case Auto:
		return "auto"
	case SoftDirty:
		return "soft-dirty"
	case UffdWP:
		return "uffd-wp-async"
	}
	return "mechanism(" + strconv.Itoa(int(m)) + ")"
}

// ParseMechanism parses a name returned by [Mechanism.String].
func ParseMechanism(s string) (Mechanism, error) {
	for _, m := range []Mechanism{Auto, SoftDirty, UffdWP} {
		if s == m.String() {
			return m, nil
		}
	}
	return Auto, fmt.Errorf("unknown capture mechanism %q: want auto, soft-dirty or uffd-wp-async", s)
}

// ErrUnsupported is returned when the kernel offers no usable mechanism,
// or not the one asked for.
var ErrUnsupported = errors.New("capture: not supported by this kernel")

// ErrPermission is returned when the caller lacks the rights the mechanism
// needs (ptrace for UffdWP, pagemap access for SoftDirty).
var ErrPermission = errors.New("capture: permission denied")

// DefaultEpoch is the sampling period when Options.Epoch is 0.
const DefaultEpoch = 100 * time.Millisecond

// Options configure [Capture].
type Options struct {
	// PID is the process to capture (its main thread's id).
	PID int
	// Epoch is the sampling period, the trace's epoch length; 0 means
	// DefaultEpoch.
	Epoch time.Duration
	// Epochs stops the capture after this many epochs; 0 means until ctx
	// is done or the target exits.
	Epochs int
	// Mechanism selects the kernel facility; Auto detects.
	Mechanism Mechanism
	// Host names the machine in provenance; "" means os.Hostname.
	Host string
	// OnEpoch, when not nil, is called after each epoch is written with its
	// index and number of written pages (for progress output).
	OnEpoch func(index uint64, written uint64)
	// OnEpochEnd, when not nil, is called with each epoch's index and the
	// moment its end was taken, just before its pages are read: the ticker
	// runs late on a busy machine, so an epoch can be longer than Epoch
	// (and the next one shorter), and this says by how much.
	OnEpochEnd func(index uint64, at time.Time)
	// Regions, when not empty, are the mappings to capture instead of all
	// of the target's writable private anonymous memory (for example one
	// QEMU guest's RAM). They must be page-aligned, in address order,
	// with FirstPage numbering their pages from 0 without overlap.
	Regions []Region
	// Note, when not empty, is appended to the trace's provenance (what
	// was captured, in words).
	Note string
	// Follow also captures anonymous memory the target maps, or grows
	// its heap into, after the capture starts: every epoch the memory map
	// is read again and new ranges are tracked as new trace pages after
	// the existing ones. The trace's page count is known only at the end,
	// so the epochs are kept in a temporary file and copied to w behind
	// the final header when the capture ends. Ignored with Regions.
	Follow bool
}

// Region is one captured mapping: addresses [Start, End) of the target are
// pages [FirstPage, FirstPage+(End-Start)/page size) of the trace.
type Region struct {
	Start, End uint64
	FirstPage  uint64
	// Name is the mapping's name in /proc/PID/maps ("[heap]", "[stack]")
	// or "" for an anonymous mapping.
	Name string
}

// Result describes a finished capture.
type Result struct {
	Mechanism Mechanism
	// Epochs is the number of epochs written; WrittenPages the sum of their
	// written sets.
	Epochs       uint64
	WrittenPages uint64
	// Regions are the captured mappings, in address order.
	Regions []Region
	// DroppedRegions counts regions dropped because the target unmapped or
	// replaced them during the capture.
	DroppedRegions int
	// AddedRegions counts regions found after the start ([Options.Follow]);
	// they are at the end of Regions.
	AddedRegions int
	// TargetExited is true when the capture ended because the target did.
	TargetExited bool
}

// sampler reads and resets the written-page state of the target's regions.
type sampler interface {
	// sample adds to set the trace pages of region r written since the
	// last call (or since start) and re-arms tracking for them.
	sample(r Region, set *roaring.Bitmap) error
	// endEpoch is called after the regions of an epoch are sampled.
	endEpoch() error
	// add starts tracking a region found after the start.
	add(r Region) error
	// Close stops tracking; it leaves the target as it was.
	Close() error
}

// Capture samples the written pages of the process opts.PID every epoch
// and writes them as a trace to w (through a [traces.Writer]; w is not
// closed). It returns when ctx is done, opts.Epochs epochs are written or
// the target exits, and the trace is then complete (end record written).
// Whatever happens, the target is left running and untracked.
func Capture(ctx context.Context, w io.Writer, opts Options) (*Result, error) {
	if opts.PID <= 0 {
		return nil, fmt.Errorf("capture: pid %d is not a process id", opts.PID)
	}
	if opts.Epoch == 0 {
		opts.Epoch = DefaultEpoch
	}
	if opts.Epoch < time.Millisecond {
		return nil, fmt.Errorf("capture: epoch %v is shorter than 1ms", opts.Epoch)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", opts.PID)); err != nil {
		return nil, fmt.Errorf("capture: process %d: %w", opts.PID, err)
	}
	mech := opts.Mechanism
	if mech == Auto {
		var err error
		if mech, err = Detect(); err != nil {
			return nil, err
		}
	}
	regions := opts.Regions
	var err error
	if len(regions) > 0 {
		if err := checkRegions(regions); err != nil {
			return nil, err
		}
	} else if regions, err = anonRegions(opts.PID); err != nil {
		return nil, err
	}
	if len(regions) == 0 {
		return nil, fmt.Errorf("capture: process %d has no writable private anonymous memory", opts.PID)
	}
	var pageCount uint64
	for _, r := range regions {
		pageCount = max(pageCount, r.FirstPage+(r.End-r.Start)/pageSize)
	}

	var s sampler
	switch mech {
	case SoftDirty:
		s, err = newSoftDirty(opts.PID)
	case UffdWP:
		s, err = newUffdWP(opts.PID, regions)
	default:
		err = fmt.Errorf("capture: %w: mechanism %v", ErrUnsupported, mech)
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()

	host := opts.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	cmd, start := commandLine(opts.PID), time.Now()
	follow := opts.Follow && len(opts.Regions) == 0
	h := &traces.Header{PageSize: pageSize, PageCount: pageCount, Epoch: opts.Epoch}
	out := w
	var spool *os.File
	var spoolBuf *bufio.Writer
	if follow {
		// The page count grows with the memory found; the final header
		// is written when the capture ends.
		if spool, err = os.CreateTemp("", "migsim-capture-*.mgt"); err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		h.PageCount = maxPageCount
		spoolBuf = bufio.NewWriterSize(spool, 256<<10)
		out = spoolBuf
	} else {
		h.Provenance = provenance(opts, mech, host, cmd, start, regions)
	}
	tw, err := traces.NewWriter(out, h)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	res := &Result{Mechanism: mech, Regions: regions}
	err = sampleEpochs(ctx, tw, s, res, opts, follow)
	if cerr := tw.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("capture: %w", cerr)
	}
	if err == nil && spoolBuf != nil {
		if err = spoolBuf.Flush(); err != nil {
			err = fmt.Errorf("capture: spooling epochs: %w", err)
		}
	}
	if err != nil || !follow {
		return res, err
	}
	// Copy the spooled epochs behind the final header.
	h.PageCount = 0
	for _, r := range res.Regions {
		h.PageCount = max(h.PageCount, r.FirstPage+(r.End-r.Start)/pageSize)
	}
	h.Provenance = provenance(opts, mech, host, cmd, start, res.Regions)
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("capture: %w", err)
	}
	return res, recopy(w, spool, h)
}

// maxPageCount is the page count of a spooled trace, whose final count is
// not known yet: the format's largest.
const maxPageCount = 1 << 32

// recopy writes the trace read from spool to w under header h.
func recopy(w io.Writer, spool io.Reader, h *traces.Header) error {
	tr, err := traces.NewReader(spool, "capture spool")
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	tw, err := traces.NewWriter(w, h)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if _, err := traces.Copy(tw, tr); err != nil {
		tw.Close()
		return fmt.Errorf("capture: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// sampleEpochs samples res.Regions every epoch and writes the epochs to
// tw until ctx is done, opts.Epochs are written or the target exits; with
// follow it adds the target's new anonymous memory to res.Regions first.
func sampleEpochs(ctx context.Context, tw *traces.Writer, s sampler, res *Result, opts Options, follow bool) error {
	live := make([]bool, len(res.Regions))
	for i := range live {
		live[i] = true
	}
	tick := time.NewTicker(opts.Epoch)
	defer tick.Stop()
	for opts.Epochs == 0 || res.Epochs < uint64(opts.Epochs) {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if opts.OnEpochEnd != nil {
			opts.OnEpochEnd(res.Epochs, time.Now())
		}
		set := roaring.New()
		for i, r := range res.Regions {
			if !live[i] {
				continue
			}
			if err := s.sample(r, set); err != nil {
				if exited(opts.PID, err) {
					res.TargetExited = true
					return nil
				}
				if errors.Is(err, errRegionGone) {
					live[i] = false
					res.DroppedRegions++
					continue
				}
				return err
			}
		}
		if err := s.endEpoch(); err != nil {
			return err
		}
		if !alive(opts.PID) {
			// Writes of the last partial epoch may be incomplete.
			res.TargetExited = true
			return nil
		}
		if follow {
			added, err := addNewRegions(opts.PID, s, res, live)
			if err != nil && exited(opts.PID, err) {
				res.TargetExited = true
				return nil
			}
			if err != nil {
				return err
			}
			for range added {
				live = append(live, true)
			}
		}
		e := traces.Epoch{Index: res.Epochs, Written: set}
		if err := tw.WriteEpoch(&e); err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		n := set.GetCardinality()
		res.Epochs++
		res.WrittenPages += n
		if opts.OnEpoch != nil {
			opts.OnEpoch(e.Index, n)
		}
	}
	return nil
}

// addNewRegions reads the target's memory map again and starts tracking
// the parts of its writable private anonymous mappings that no live region
// covers (new mappings, a grown heap), numbering their pages after all
// pages so far. It returns the regions added to res.Regions.
func addNewRegions(pid int, s sampler, res *Result, live []bool) ([]Region, error) {
	now, err := anonRegions(pid)
	if err != nil {
		return nil, err
	}
	var covered []Region
	next := uint64(0)
	for i, r := range res.Regions {
		if live[i] {
			covered = append(covered, r)
		}
		next = max(next, r.FirstPage+(r.End-r.Start)/pageSize)
	}
	sort.Slice(covered, func(i, j int) bool { return covered[i].Start < covered[j].Start })
	var added []Region
	for _, m := range now {
		for _, gap := range uncovered(m.Start, m.End, covered) {
			r := Region{Start: gap[0], End: gap[1], FirstPage: next, Name: m.Name}
			if err := s.add(r); err != nil {
				if errors.Is(err, errRegionGone) {
					continue // unmapped again meanwhile
				}
				return added, err
			}
			next += (r.End - r.Start) / pageSize
			res.Regions = append(res.Regions, r)
			res.AddedRegions++
			added = append(added, r)
		}
	}
	return added, nil
}

// uncovered returns the parts of [start, end) outside every range of
// covered (sorted by Start, not overlapping).
func uncovered(start, end uint64, covered []Region) [][2]uint64 {
	var out [][2]uint64
	at := start
	for _, c := range covered {
		if c.End <= at || c.Start >= end {
			continue
		}
		if c.Start > at {
			out = append(out, [2]uint64{at, c.Start})
		}
		at = max(at, c.End)
		if at >= end {
			return out
		}
	}
	if at < end {
		out = append(out, [2]uint64{at, end})
	}
	return out
}

// checkRegions checks regions given in [Options.Regions].
func checkRegions(regions []Region) error {
	for i, r := range regions {
		if r.Start%pageSize != 0 || r.End%pageSize != 0 || r.End <= r.Start {
			return fmt.Errorf("capture: region %d [%#x,%#x) is empty or not page-aligned", i, r.Start, r.End)
		}
		if i > 0 {
			p := regions[i-1]
			if r.Start < p.End || r.FirstPage < p.FirstPage+(p.End-p.Start)/pageSize {
				return fmt.Errorf("capture: region %d [%#x,%#x)@%d overlaps or precedes region %d", i, r.Start, r.End, r.FirstPage, i-1)
			}
		}
	}
	return nil
}

// errRegionGone is returned by a sampler for a region that no longer
// exists as registered.
var errRegionGone = errors.New("region unmapped or replaced")

// pageSize is the base page size of the targets we capture (x86-64 and
// arm64 with 4 KiB pages); anonRegions checks it.
const pageSize = 4096

// exited tells whether err, from sampling pid, means that pid has exited:
// an exiting process loses its memory (ESRCH) before it is a zombie.
func exited(pid int, err error) bool {
	return errors.Is(err, syscall.ESRCH) || !alive(pid)
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// State is the field after the parenthesised command; Z and X are gone.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X'
}

// anonRegions lists pid's writable private anonymous mappings in address
// order, numbering their pages consecutively.
func anonRegions(pid int) ([]Region, error) {
	if os.Getpagesize() != pageSize {
		return nil, fmt.Errorf("capture: %w: page size %d, want %d", ErrUnsupported, os.Getpagesize(), pageSize)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	return parseMaps(f)
}

// parseMaps parses /proc/PID/maps text and keeps the writable private
// anonymous mappings (no file; "[heap]", "[stack]" and unnamed).
func parseMaps(r io.Reader) ([]Region, error) {
	var out []Region
	var next uint64
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			return nil, fmt.Errorf("capture: maps line %d: %q: want at least 5 fields", line, sc.Text())
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("capture: maps line %d: bad range %q", line, f[0])
		}
		name := ""
		if len(f) >= 6 {
			name = strings.Join(f[5:], " ")
		}
		if f[1] != "rw-p" || f[4] != "0" {
			continue
		}
		if name != "" && name != "[heap]" && !strings.HasPrefix(name, "[stack") && !strings.HasPrefix(name, "[anon") {
			continue
		}
		out = append(out, Region{Start: start, End: end, FirstPage: next, Name: name})
		next += (end - start) / pageSize
	}
	return out, sc.Err()
}

// commandLine returns pid's command line for provenance, or "?".
func commandLine(pid int) string {
	cmd := "?"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		cmd = strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	}
	if len(cmd) > 1024 {
		cmd = cmd[:1024] + "..."
	}
	return cmd
}

// provenance describes a capture of the process running cmd, started at
// start, for the trace header.
func provenance(o Options, m Mechanism, host, cmd string, start time.Time, regions []Region) string {
	var b strings.Builder
	fmt.Fprintf(&b, "migsim trace capture: mechanism=%s pid=%d command=%q host=%s epoch=%v start=%s regions=%d",
		m, o.PID, strings.ToValidUTF8(cmd, "?"), host, o.Epoch, start.UTC().Format(time.RFC3339), len(regions))
	if o.Note != "" {
		fmt.Fprintf(&b, " note=%q", strings.ToValidUTF8(o.Note, "?"))
	}
	for i, r := range regions {
		if i == 64 {
			fmt.Fprintf(&b, " ...")
			break
		}
		fmt.Fprintf(&b, " [%#x,%#x)@%d", r.Start, r.End, r.FirstPage)
	}
	return b.String()
}

// WaitExecuted waits, for at most timeout, until process pid has an
// executable mapping: a command whose start was just reported (os/exec
// returns once execve(2) has passed its point of no return) may still be
// loading its program, its memory not yet mapped. It returns when the
// mapping appears, the process is gone, or the time is up; the capture
// that follows reports a process that has gone.
func WaitExecuted(ctx context.Context, pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
		if err != nil || hasExecMapping(maps) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// hasExecMapping tells whether a /proc/PID/maps text lists an executable
// mapping.
func hasExecMapping(maps []byte) bool {
	for _, line := range bytes.Split(maps, []byte{'\n'}) {
		f := bytes.Fields(line)
		if len(f) >= 2 && bytes.IndexByte(f[1], 'x') >= 0 {
			return true
		}
	}
	return false
}
