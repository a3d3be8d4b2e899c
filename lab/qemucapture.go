package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/traces/capture"
	"github.com/migsim/migsim/units"
)

// GuestRAM is where a running QEMU keeps its guest's RAM.
type GuestRAM struct {
	// PID is the QEMU process, found from the QMP socket's peer
	// credentials.
	PID int
	// Size is the guest's base memory (query-memory-size-summary).
	Size units.Bytes
	// Start and End bound the mapping in QEMU's address space.
	Start, End uint64
	// QEMUVersion is the version QEMU's QMP greeting gives.
	QEMUVersion string
}

// ErrRAMNotFound reports that the guest RAM mapping could not be told
// apart in the QEMU process's memory map.
var ErrRAMNotFound = errors.New("guest RAM mapping not found")

// FindGuestRAM asks the QEMU behind the QMP socket at qmpPath for its
// guest's memory size and finds the mapping holding it: QEMU's default RAM
// is one private anonymous mapping of exactly that size (with guard pages
// around it). Shared or file-backed RAM (memory-backend-file or -memfd
// with share=on) is not supported: its writes are not tracked the same
// way, and the error says so.
func FindGuestRAM(ctx context.Context, qmpPath string) (*GuestRAM, error) {
	if st, err := os.Stat(qmpPath); err != nil {
		return nil, fmt.Errorf("QMP socket: %w", err)
	} else if st.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("QMP socket %s is not a socket (want the path of QEMU's -qmp unix:PATH,server=on)", qmpPath)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	q, err := DialQMP(dctx, qmpPath)
	cancel()
	if err != nil {
		if ctx.Err() == nil && strings.Contains(err.Error(), "greeting") {
			err = fmt.Errorf("%w (QEMU serves one client per QMP monitor: if another program such as libvirt holds this one, "+
				"start QEMU with a second monitor, -qmp unix:PATH,server=on,wait=off, and pass that)", err)
		}
		return nil, err
	}
	defer q.Close()
	pid, err := q.PeerPID()
	if err != nil {
		return nil, err
	}
	var sum struct {
		BaseMemory int64 `json:"base-memory"`
	}
	if err := q.Execute(ctx, "query-memory-size-summary", nil, &sum); err != nil {
		return nil, err
	}
	if sum.BaseMemory <= 0 {
		return nil, fmt.Errorf("QEMU pid %d reports base memory %d", pid, sum.BaseMemory)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, fmt.Errorf("reading QEMU's memory map: %w", err)
	}
	defer f.Close()
	ram := &GuestRAM{PID: pid, Size: units.Bytes(sum.BaseMemory), QEMUVersion: q.Version.String()}
	if err := ram.find(f); err != nil {
		return nil, fmt.Errorf("QEMU pid %d (%v of guest RAM): %w", pid, ram.Size, err)
	}
	return ram, nil
}

// find picks the mapping of /proc/PID/maps text whose size is the guest's
// RAM: exactly one private anonymous one.
func (g *GuestRAM) find(maps io.Reader) error {
	var private, shared []string
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end-start != uint64(g.Size) {
			continue
		}
		switch {
		case f[1] == "rw-p" && f[4] == "0" && len(f) == 5:
			private = append(private, f[0])
			g.Start, g.End = start, end
		case strings.HasPrefix(f[1], "rw"):
			shared = append(shared, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	switch {
	case len(private) == 1:
		return nil
	case len(private) > 1:
		return fmt.Errorf("%w: %d private anonymous mappings have the RAM's size (%s); cannot tell which", ErrRAMNotFound, len(private), strings.Join(private, ", "))
	case len(shared) > 0:
		return fmt.Errorf("%w: the RAM is a shared or file-backed mapping (%s); capture follows QEMU's default private anonymous RAM (no memory-backend with share=on)",
			ErrRAMNotFound, strings.TrimSpace(shared[0]))
	}
	return fmt.Errorf("%w: no writable mapping of exactly that size", ErrRAMNotFound)
}

// CaptureQEMU records, every epoch, which pages of a running QEMU guest's
// RAM are written, as a migsim trace written to w: page i of the trace is
// the guest's RAM page i (guest-physical below the 4 GiB PCI hole). It
// finds the guest RAM with [FindGuestRAM] and captures it with
// [capture.Capture] (userfaultfd write-protection or soft-dirty bits on
// the QEMU process), so a guest under TCG or KVM is followed the same
// way and is left running, untracked, when the capture ends. opts.PID,
// Regions and Note are set here.
func CaptureQEMU(ctx context.Context, qmpPath string, w io.Writer, opts capture.Options) (*capture.Result, *GuestRAM, error) {
	ram, err := FindGuestRAM(ctx, qmpPath)
	if err != nil {
		return nil, nil, err
	}
	opts.PID = ram.PID
	opts.Regions = []capture.Region{{Start: ram.Start, End: ram.End, Name: "guest RAM"}}
	opts.Note = fmt.Sprintf("QEMU %s guest RAM %v via QMP %s", ram.QEMUVersion, ram.Size, qmpPath)
	res, err := capture.Capture(ctx, w, opts)
	return res, ram, err
}

// PeerPID returns the process id of the QMP server (QEMU) from the unix
// socket's peer credentials.
func (q *QMP) PeerPID() (int, error) {
	uc, ok := q.conn.(*net.UnixConn)
	if !ok {
		return 0, errors.New("qmp: not a unix socket: cannot tell QEMU's pid")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if gerr != nil {
		return 0, fmt.Errorf("qmp: reading the peer's credentials: %w", gerr)
	}
	return int(cred.Pid), nil
}
