package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// RunLocal migrates a guest replaying the image's trace from one QEMU
// process to another on this machine, over loopback TCP (or the shaped
// path of opts.Shaping), and returns the real figures. It verifies the
// destination's memory before it returns: the whole guest RAM is compared
// page by page between the source and the paused destination, and the
// destination's replayer then checks its region against its own record of
// writes; any difference fails the run with [ErrMemoryMismatch]. Every
// process, socket and file it made is gone when it returns, whether it
// succeeds, fails, times out or ctx is cancelled.
func RunLocal(ctx context.Context, opts LocalOptions) (*RealRun, error) {
	mem, atEnd, err := opts.guestMemory()
	if err != nil {
		return nil, err
	}
	if _, err := FindQEMU(); err != nil {
		return nil, err
	}
	h, err := newLocalHost(opts, mem)
	if err != nil {
		return nil, err
	}
	return execute(ctx, h, opts.Options, mem, atEnd, opts.fleet)
}

// localHost runs both QEMUs on this machine, in a temporary work folder:
// their RAM in files the lab maps (to count zero pages and compare the
// two sides), in network namespaces when the run is shaped.
type localHost struct {
	dir      string
	img      *Image
	mig      MigrationParams
	kvm      bool
	ramFiles []*os.File
	ram      map[string][]byte // each side's RAM, mapped
	net      *labNet           // shaped runs: namespaces, veth, tbf, relay
	shape    *NetShape
}

// newLocalHost makes the run's work folder (under opts.WorkDir, else
// /dev/shm), its guest RAM files, and, for a shaped run, its network. On
// error it removes what it made.
func newLocalHost(opts LocalOptions, mem units.Bytes) (_ *localHost, err error) {
	h := &localHost{img: opts.Image, mig: opts.Migration, kvm: KVMUsable(), ram: map[string][]byte{}}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	parent := opts.WorkDir
	if parent == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			parent = "/dev/shm"
		}
	}
	if h.dir, err = os.MkdirTemp(parent, "migsim-lab-"); err != nil {
		return nil, err
	}
	if opts.Migration.Postcopy {
		if err := checkPostcopyDir(h.dir); err != nil {
			return nil, err
		}
	}
	if err := h.setupShaping(opts); err != nil {
		return nil, err
	}
	// Guest RAM lives in files the lab holds open, so that it can read
	// both sides' memory; the names are removed once QEMU has them open.
	for _, side := range []string{"source", "destination"} {
		name := side + ".ram"
		f, err := os.OpenFile(filepath.Join(h.dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		h.ramFiles = append(h.ramFiles, f)
		if err := f.Truncate(int64(mem)); err != nil {
			return nil, err
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(mem), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("mapping %s: %w", name, err)
		}
		h.ram[side] = m
	}
	return h, nil
}

func (h *localHost) accel() string {
	if h.kvm {
		return "kvm"
	}
	return "tcg"
}

func (h *localHost) network() *NetShape { return h.shape }

func (h *localHost) start(ctx context.Context, side string, mem units.Bytes, atEnd models.TraceEnd, incoming bool) (*qemuProc, *guestLink, error) {
	args := qemuArgs(h.img, h.dir, side, mem, h.accel(), atEnd, incoming)
	if h.mig.FreePageHint {
		args = withFreePageHint(args)
	}
	if h.mig.Balloon {
		args = withBalloon(args)
	}
	p, err := startQEMUIn(ctx, side, h.dir, h.netnsOf(side), args)
	if err != nil {
		return nil, nil, err
	}
	if err := os.Remove(filepath.Join(h.dir, side+".ram")); err != nil {
		return p, nil, err
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g, err := dialGuest(gctx, side, filepath.Join(h.dir, side+".ctl"))
	if err != nil {
		return p, nil, err
	}
	return p, g, nil
}

func (h *localHost) capabilityError(side string, p MigrationParams, err error) error {
	return capabilityError(side, p, err)
}

func (h *localHost) zeroPages(context.Context) (uint64, error) {
	return countZeroPages(h.ram["source"]), nil
}

func (h *localHost) oneClock() bool { return true }

func (h *localHost) compareRAM(_ context.Context, hinted bool) (ramComparison, error) {
	var c ramComparison
	src, dst := h.ram["source"], h.ram["destination"]
	if hinted {
		c.same, c.hinted, c.bad, c.firstBad = compareRAMHinted(src, dst)
	} else {
		c.same, c.bad, c.firstBad = compareRAM(src, dst)
	}
	return c, nil
}

func (h *localHost) consoleTail(side string) string { return consoleTail(h.dir, side) }

func (h *localHost) where() string { return h.dir }

func (h *localHost) close() {
	h.closeNet()
	for _, m := range h.ram {
		_ = unix.Munmap(m)
	}
	h.ram = nil
	for _, f := range h.ramFiles {
		f.Close()
	}
	h.ramFiles = nil
	if h.dir != "" {
		os.RemoveAll(h.dir)
		h.dir = ""
	}
}

var zeroPage [4096]byte

// countZeroPages counts the all-zero 4 KiB pages of mem.
func countZeroPages(mem []byte) uint64 {
	var n uint64
	for off := 0; off+4096 <= len(mem); off += 4096 {
		if bytes.Equal(mem[off:off+4096], zeroPage[:]) {
			n++
		}
	}
	return n
}

// compareRAM compares a and b page by page.
func compareRAM(a, b []byte) (same, bad, firstBad uint64) {
	for off := 0; off+4096 <= len(a) && off+4096 <= len(b); off += 4096 {
		if bytes.Equal(a[off:off+4096], b[off:off+4096]) {
			same++
			continue
		}
		if bad == 0 {
			firstBad = uint64(off / 4096)
		}
		bad++
	}
	return same, bad, firstBad
}

// consoleTail returns the end of a side's kernel console log, for errors.
func consoleTail(dir, side string) string {
	b, err := os.ReadFile(filepath.Join(dir, side+".console"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return "\n" + side + " console:\n" + string(b)
}
