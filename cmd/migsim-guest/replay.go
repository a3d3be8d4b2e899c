package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/traces"
)

// neverWritten marks, in replayer.last, a page of the zero class: never
// written, so all zero.
const neverWritten = math.MaxUint32

// replayer owns the memory region that stands for the trace's guest memory
// and replays epochs into it. Page p of the trace is bytes
// [p×pageSize, (p+1)×pageSize) of the region.
//
// Every write stores stamp(p, gen) in the first 8 bytes of page p, where gen
// is 1 + the global index of the epoch that wrote it (0 for the initial
// touch), and records gen in last[p]. So the region's contents are a
// function of last, and verify can check every page against it: a page
// whose contents lag behind last lost a write.
type replayer struct {
	region   []byte
	pageSize uint64
	pages    uint64
	last     []uint32 // gen of the last write of each page, or neverWritten
	buf      []uint32 // iterator batch
	sink     uint64   // reads are summed here so they are not optimised away
	// free is the free-page mode (migsim.free=1, see main.go): touch
	// leaves the free class untouched too, and play hands the pages an
	// epoch frees (Change.ToFree) back to the kernel, so that the guest
	// kernel holds them as free (virtio-balloon free-page hinting).
	free bool
	// release hands pages back to the kernel (madvise MADV_DONTNEED on
	// the region); after it they read as zero.
	release func(b []byte) error
}

// stamp is the value written to page p by write generation gen: a mix of
// both, never zero.
func stamp(p uint64, gen uint32) uint64 {
	x := p<<32 | uint64(gen)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x | 1
}

// newReplayer returns a replayer over region for the trace of header h;
// release is how free mode hands pages back (nil: free mode off).
func newReplayer(region []byte, h *traces.Header, release func([]byte) error) (*replayer, error) {
	need := h.PageCount * uint64(h.PageSize)
	if uint64(len(region)) < need {
		return nil, fmt.Errorf("region of %d bytes is smaller than the trace's %d", len(region), need)
	}
	return &replayer{
		region:   region,
		pageSize: uint64(h.PageSize),
		pages:    h.PageCount,
		last:     make([]uint32, h.PageCount),
		buf:      make([]uint32, 1024),
		free:     release != nil,
		release:  release,
	}, nil
}

// word returns the first 8 bytes of page p.
func (r *replayer) word(p uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.region[p*r.pageSize]))
}

// touch writes every page not in the header's zero set, so that the
// region's composition matches the trace's; zero pages stay untouched.
// In free mode free-class pages stay untouched too: never faulted in, the
// guest kernel holds them as free. It returns the number of pages written.
func (r *replayer) touch(h *traces.Header) uint64 {
	var n uint64
	for p := range r.pages {
		if (h.Zero != nil && h.Zero.Contains(uint32(p))) || (r.free && h.Free != nil && h.Free.Contains(uint32(p))) {
			r.last[p] = neverWritten
			continue
		}
		*r.word(p) = stamp(p, 0)
		r.last[p] = 0
		n++
	}
	return n
}

// play applies one epoch: a store to every written page and a load from
// every read page. gen is 1 + the epoch's global index (epochs replayed
// from the start of a looping trace keep counting). In free mode the
// pages the epoch frees are handed back to the kernel first (see
// freePages); the epoch's writes then fault pages in as usual.
func (r *replayer) play(e *traces.Epoch, gen uint32) (wrote, read uint64, err error) {
	if r.free && e.Change.ToFree != nil && !e.Change.ToFree.IsEmpty() {
		if err := r.freePages(e.Change.ToFree); err != nil {
			return 0, 0, err
		}
	}
	if e.Written != nil {
		it := e.Written.ManyIterator()
		for n := it.NextMany(r.buf); n > 0; n = it.NextMany(r.buf) {
			for _, p := range r.buf[:n] {
				*r.word(uint64(p)) = stamp(uint64(p), gen)
				r.last[p] = gen
			}
			wrote += uint64(n)
		}
	}
	if e.Read != nil {
		it := e.Read.ManyIterator()
		for n := it.NextMany(r.buf); n > 0; n = it.NextMany(r.buf) {
			for _, p := range r.buf[:n] {
				r.sink += *r.word(uint64(p))
			}
			read += uint64(n)
		}
	}
	return wrote, read, nil
}

// freePages hands the pages of set back to the kernel, one madvise per
// run of consecutive pages, and records them as never written: a page
// handed back reads as zero.
func (r *replayer) freePages(set *roaring.Bitmap) error {
	it := set.Iterator()
	var lo, hi uint64 // current run [lo, hi)
	flush := func() error {
		if hi <= lo {
			return nil
		}
		if err := r.release(r.region[lo*r.pageSize : hi*r.pageSize]); err != nil {
			return fmt.Errorf("handing pages [%d, %d) back to the kernel: %w", lo, hi, err)
		}
		return nil
	}
	for it.HasNext() {
		p := uint64(it.Next())
		if p >= r.pages {
			return fmt.Errorf("freed page %d is outside the trace's %d pages", p, r.pages)
		}
		r.last[p] = neverWritten
		if p == hi {
			hi++
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		lo, hi = p, p+1
	}
	return flush()
}

// verifyResult is what verify found.
type verifyResult struct {
	Pages   uint64 // pages checked
	Bad     uint64 // pages whose contents disagree with last
	First   uint64 // first bad page (valid when Bad > 0)
	Sum     uint64 // checksum of the whole region
	Elapsed time.Duration
}

// verify checks every page against last: a written page must hold its last
// stamp, a never-written page must be all zero. It also returns a checksum
// of the whole region (FNV-style over 64-bit words), which is the same on
// any machine holding the same bytes.
func (r *replayer) verify() verifyResult {
	start := time.Now()
	res := verifyResult{Pages: r.pages}
	words := r.pageSize / 8
	sum := uint64(14695981039346656037)
	for p := range r.pages {
		page := unsafe.Slice((*uint64)(unsafe.Pointer(&r.region[p*r.pageSize])), words)
		var or uint64
		for _, w := range page {
			sum = (sum ^ w) * 1099511628211
			or |= w
		}
		ok := true
		if r.last[p] == neverWritten {
			ok = or == 0
		} else {
			ok = page[0] == stamp(p, r.last[p])
		}
		if !ok {
			if res.Bad == 0 {
				res.First = p
			}
			res.Bad++
		}
	}
	res.Sum = sum
	res.Elapsed = time.Since(start)
	return res
}

// command is a request from the host, one line on the control port.
type command string

// Commands the host can send.
const (
	cmdStart    command = "start"    // begin replaying
	cmdVerify   command = "verify"   // pause, check the region, resume
	cmdStop     command = "stop"     // stop replaying, stay idle
	cmdPoweroff command = "poweroff" // power the guest off
)

// session is one run of the replayer: the trace, the region, the control
// port and the protocol. Lines it prints start with "MIGSIM " (see
// protocol.go in package validate for the host side):
//
//	MIGSIM ready pages=N page_size=P epoch_ns=E touched=T touch_ns=D
//	MIGSIM e INDEX WROTE READ LATE_NS DONE_NS
//	MIGSIM verify pages=N bad=B first=F sum=HEX ns=D
//	MIGSIM end epochs=N          (trace ended, at_end idle)
//	MIGSIM stopped
//	MIGSIM error TEXT
//
// An epoch line is printed when the epoch's accesses are done. LATE_NS is
// how far behind its schedule (start + (INDEX+1) × epoch) the epoch
// finished, 0 when on time; DONE_NS is the guest's monotonic time since
// the start command.
type session struct {
	open  func() (traces.Source, error)
	loop  bool // replay the trace from the start when it ends
	out   io.Writer
	cmds  <-chan command
	r     *replayer
	hdr   *traces.Header
	sleep func(time.Duration) // time.Sleep, replaceable in tests
}

// errPoweroff ends a session at the host's request.
var errPoweroff = errors.New("poweroff requested")

// run waits for start, replays, and serves commands until poweroff or an
// error. It returns errPoweroff on request.
func (s *session) run() error {
	// Wait for start, serving verify meanwhile.
	for c := range s.cmds {
		switch c {
		case cmdStart:
			return s.replay()
		case cmdVerify:
			s.printVerify()
		case cmdPoweroff:
			return errPoweroff
		}
	}
	return errors.New("control port closed before start")
}

func (s *session) printVerify() {
	v := s.r.verify()
	fmt.Fprintf(s.out, "MIGSIM verify pages=%d bad=%d first=%d sum=%016x ns=%d\n",
		v.Pages, v.Bad, v.First, v.Sum, v.Elapsed.Nanoseconds())
}

// replay plays epochs at the trace's pace until the trace ends (without
// loop), stop or poweroff.
func (s *session) replay() error {
	src, err := s.open()
	if err != nil {
		return err
	}
	defer func() { _ = traces.Close(src) }()
	epochLen := s.hdr.Epoch
	start := time.Now()
	var e traces.Epoch
	var global uint64
	for {
		// Serve commands between epochs without waiting.
		select {
		case c, ok := <-s.cmds:
			if !ok {
				return errors.New("control port closed")
			}
			switch c {
			case cmdVerify:
				s.printVerify()
			case cmdStop:
				fmt.Fprintln(s.out, "MIGSIM stopped")
				return s.idle()
			case cmdPoweroff:
				return errPoweroff
			}
		default:
		}

		err := src.Next(&e)
		if err == io.EOF {
			if !s.loop {
				fmt.Fprintf(s.out, "MIGSIM end epochs=%d\n", global)
				return s.idle()
			}
			_ = traces.Close(src)
			if src, err = s.open(); err != nil {
				return err
			}
			if err = src.Next(&e); err == io.EOF {
				return errors.New("trace has no epochs")
			}
		}
		if err != nil {
			return err
		}
		if global >= neverWritten-1 {
			return errors.New("too many epochs for 32-bit write generations")
		}
		wrote, read, err := s.r.play(&e, uint32(global+1))
		if err != nil {
			return err
		}
		due := time.Duration(global+1) * epochLen
		done := time.Since(start)
		late := max(done-due, 0)
		fmt.Fprintf(s.out, "MIGSIM e %d %d %d %d %d\n", global, wrote, read, late.Nanoseconds(), done.Nanoseconds())
		global++
		if wait := due - time.Since(start); wait > 0 {
			s.sleep(wait)
		}
	}
}

// idle serves commands after the replay ended.
func (s *session) idle() error {
	for c := range s.cmds {
		switch c {
		case cmdVerify:
			s.printVerify()
		case cmdPoweroff:
			return errPoweroff
		}
	}
	return errors.New("control port closed")
}
