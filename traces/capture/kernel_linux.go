package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"golang.org/x/sys/unix"
)

// Kernel ABI not (yet) in golang.org/x/sys/unix: include/uapi/linux/
// userfaultfd.h and fs.h (PAGEMAP_SCAN, Linux 6.7).
const (
	uffdAPI                = 0xAA
	uffdUserModeOnly       = 1          // UFFD_USER_MODE_ONLY flag of userfaultfd(2)
	uffdioAPI              = 0xC018AA3F // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister         = 0xC020AA00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdioWriteprotect     = 0xC018AA06 // _IOWR(0xAA, 0x06, struct uffdio_writeprotect)
	uffdioRegisterModeWP   = 1 << 1
	uffdioWriteprotectWP   = 1 << 0
	uffdFeatureWPUnpopul   = 1 << 13
	uffdFeatureWPAsync     = 1 << 15
	pagemapScan            = 0xC0606610 // _IOWR('f', 16, struct pm_scan_arg)
	pmScanWPMatching       = 1 << 0
	pmScanCheckWPAsync     = 1 << 1
	pageIsWritten          = 1 << 1
	pagemapSoftDirtyBit    = 55
	clearRefsSoftDirtyText = "4"
)

type uffdioAPIArg struct{ API, Features, Ioctls uint64 }

type uffdioRange struct{ Start, Len uint64 }

type uffdioRegisterArg struct {
	Range  uffdioRange
	Mode   uint64
	Ioctls uint64
}

type uffdioWriteprotectArg struct {
	Range uffdioRange
	Mode  uint64
}

type pageRegion struct{ Start, End, Categories uint64 }

type pmScanArg struct {
	Size, Flags, Start, End, WalkEnd, Vec, VecLen, MaxPages    uint64
	CategoryInverted, CategoryMask, CategoryAnyofMask, RetMask uint64
}

func ioctlPtr(fd int, req uint, p unsafe.Pointer) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// Detect probes the running kernel, on a page of the calling process, and
// returns the mechanism Capture would use: SoftDirty when the kernel sets
// soft-dirty bits, else UffdWP when it has asynchronous userfaultfd
// write-protection and PAGEMAP_SCAN, else an error wrapping ErrUnsupported
// that says what is missing.
func Detect() (Mechanism, error) {
	sdErr := probeSoftDirty()
	if sdErr == nil {
		return SoftDirty, nil
	}
	wpErr := probeUffdWP()
	if wpErr == nil {
		return UffdWP, nil
	}
	return Auto, fmt.Errorf("capture: %w: soft-dirty: %v; uffd-wp-async: %v", ErrUnsupported, sdErr, wpErr)
}

// probeSoftDirty clears the soft-dirty bits of this process, writes a page
// and checks that its pagemap entry has bit 55 set.
func probeSoftDirty() error {
	mem, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	mem[0] = 1
	if err := os.WriteFile("/proc/self/clear_refs", []byte(clearRefsSoftDirtyText), 0); err != nil {
		return fmt.Errorf("clear_refs: %w", err)
	}
	mem[1] = 1
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return err
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], int64(uintptr(unsafe.Pointer(&mem[0]))/pageSize*8)); err != nil {
		return fmt.Errorf("pagemap: %w", err)
	}
	if binary.LittleEndian.Uint64(b[:])>>pagemapSoftDirtyBit&1 == 0 {
		return errors.New("a page written after clear_refs has no soft-dirty bit (kernel built without CONFIG_MEM_SOFT_DIRTY)")
	}
	return nil
}

// probeUffdWP write-protects a page of this process asynchronously,
// writes it and checks that PAGEMAP_SCAN reports it written.
func probeUffdWP() error {
	fd, err := newUffd(0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(-1, 0, 2*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	mem[0], mem[pageSize] = 1, 1
	start := uint64(uintptr(unsafe.Pointer(&mem[0])))
	r := Region{Start: start, End: start + 2*pageSize}
	if err := uffdArm(fd, r); err != nil {
		return err
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return err
	}
	defer pm.Close()
	mem[pageSize] = 2
	set := roaring.New()
	if err := scanWritten(int(pm.Fd()), r, set, make([]pageRegion, 4)); err != nil {
		return err
	}
	if set.GetCardinality() != 1 || !set.Contains(1) {
		return fmt.Errorf("PAGEMAP_SCAN reported pages %v written, want [1]", set.ToArray())
	}
	return nil
}

// newUffd creates a userfaultfd in this process (flags as userfaultfd(2))
// and enables asynchronous write-protection on it.
func newUffd(flags int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(unix.O_CLOEXEC|unix.O_NONBLOCK|flags), 0, 0)
	if errno == unix.EPERM && flags == 0 {
		return newUffd(uffdUserModeOnly)
	}
	if errno != 0 {
		return -1, fmt.Errorf("userfaultfd: %w", errno)
	}
	fd := int(r)
	if err := uffdEnable(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// uffdEnable does the UFFDIO_API handshake asking for asynchronous
// write-protection of populated and unpopulated pages.
func uffdEnable(fd int) error {
	api := uffdioAPIArg{API: uffdAPI, Features: uffdFeatureWPAsync | uffdFeatureWPUnpopul}
	if _, err := ioctlPtr(fd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		return fmt.Errorf("UFFDIO_API with WP_ASYNC|WP_UNPOPULATED (Linux 6.7+): %w", err)
	}
	return nil
}

// uffdArm registers r for write-protect tracking on fd (whose memory is
// the creator's) and write-protects it.
func uffdArm(fd int, r Region) error {
	rng := uffdioRange{Start: r.Start, Len: r.End - r.Start}
	reg := uffdioRegisterArg{Range: rng, Mode: uffdioRegisterModeWP}
	if _, err := ioctlPtr(fd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		return fmt.Errorf("UFFDIO_REGISTER [%#x,%#x) mode WP: %w", r.Start, r.End, err)
	}
	wp := uffdioWriteprotectArg{Range: rng, Mode: uffdioWriteprotectWP}
	if _, err := ioctlPtr(fd, uffdioWriteprotect, unsafe.Pointer(&wp)); err != nil {
		return fmt.Errorf("UFFDIO_WRITEPROTECT [%#x,%#x): %w", r.Start, r.End, err)
	}
	return nil
}

// scanWritten adds to set the trace pages of r that PAGEMAP_SCAN on the
// pagemap file pm reports written, write-protecting them again in the same
// walk. vec is scratch space.
func scanWritten(pm int, r Region, set *roaring.Bitmap, vec []pageRegion) error {
	arg := pmScanArg{
		Flags:        pmScanWPMatching | pmScanCheckWPAsync,
		Start:        r.Start,
		End:          r.End,
		Vec:          uint64(uintptr(unsafe.Pointer(&vec[0]))),
		VecLen:       uint64(len(vec)),
		CategoryMask: pageIsWritten,
		RetMask:      pageIsWritten,
	}
	arg.Size = uint64(unsafe.Sizeof(arg))
	for arg.Start < r.End {
		n, err := ioctlPtr(pm, pagemapScan, unsafe.Pointer(&arg))
		if errors.Is(err, unix.EPERM) {
			// PM_SCAN_CHECK_WPASYNC: part of r is no longer registered.
			return errRegionGone
		}
		if err != nil {
			return fmt.Errorf("PAGEMAP_SCAN [%#x,%#x): %w", arg.Start, arg.End, err)
		}
		for _, v := range vec[:n] {
			lo := r.FirstPage + (v.Start-r.Start)/pageSize
			hi := r.FirstPage + (v.End-r.Start)/pageSize
			set.AddRange(lo, hi)
		}
		if arg.WalkEnd <= arg.Start {
			break
		}
		arg.Start = arg.WalkEnd
	}
	return nil
}

// uffdWP samples a target with asynchronous userfaultfd write-protection.
type uffdWP struct {
	uffd int      // our copy of the descriptor made in the target
	pm   *os.File // /proc/PID/pagemap
	vec  []pageRegion
}

func newUffdWP(pid int, regions []Region) (_ *uffdWP, err error) {
	if err := probeUffdWP(); err != nil {
		return nil, fmt.Errorf("capture: %w: uffd-wp-async: %v", ErrUnsupported, err)
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return nil, permission(fmt.Errorf("capture: %w", err))
	}
	fd, err := stealUffd(pid)
	if err != nil {
		pm.Close()
		return nil, err
	}
	u := &uffdWP{uffd: fd, pm: pm, vec: make([]pageRegion, 4096)}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	if err := uffdEnable(fd); err != nil {
		return nil, fmt.Errorf("capture: process %d: %w", pid, err)
	}
	for _, r := range regions {
		if err := uffdArm(fd, r); err != nil {
			return nil, fmt.Errorf("capture: process %d: %w", pid, err)
		}
	}
	return u, nil
}

func (u *uffdWP) sample(r Region, set *roaring.Bitmap) error {
	return scanWritten(int(u.pm.Fd()), r, set, u.vec)
}

// add registers and write-protects a region found after the start; a
// range no longer mapped as it was is reported as errRegionGone.
func (u *uffdWP) add(r Region) error {
	if err := uffdArm(u.uffd, r); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOMEM) {
			return errRegionGone
		}
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// endEpoch does nothing: PAGEMAP_SCAN re-armed each page as it read it.
func (u *uffdWP) endEpoch() error { return nil }

// Close closes the last descriptor of the target's userfaultfd: the kernel
// then unregisters its memory and clears every write-protect bit.
func (u *uffdWP) Close() error {
	err := unix.Close(u.uffd)
	if cerr := u.pm.Close(); err == nil {
		err = cerr
	}
	return err
}

// softDirty samples a target with soft-dirty bits.
type softDirty struct {
	pid       int
	pm        *os.File
	clearRefs *os.File
	buf       []byte
}

func newSoftDirty(pid int) (*softDirty, error) {
	if err := probeSoftDirty(); err != nil {
		return nil, fmt.Errorf("capture: %w: soft-dirty: %v", ErrUnsupported, err)
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return nil, permission(fmt.Errorf("capture: %w", err))
	}
	cr, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		pm.Close()
		return nil, permission(fmt.Errorf("capture: %w", err))
	}
	s := &softDirty{pid: pid, pm: pm, clearRefs: cr}
	if err := s.clear(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *softDirty) clear() error {
	if _, err := s.clearRefs.Write([]byte(clearRefsSoftDirtyText)); err != nil {
		return permission(fmt.Errorf("capture: clear_refs of process %d: %w", s.pid, err))
	}
	return nil
}

// sample reads r's pagemap entries; endEpoch clears the bits of the whole
// process.
func (s *softDirty) sample(r Region, set *roaring.Bitmap) error {
	n := (r.End - r.Start) / pageSize
	if uint64(cap(s.buf)) < 8*n {
		s.buf = make([]byte, 8*n)
	}
	b := s.buf[:8*n]
	if _, err := s.pm.ReadAt(b, int64(r.Start/pageSize*8)); err != nil {
		return fmt.Errorf("capture: pagemap of process %d at %#x: %w", s.pid, r.Start, err)
	}
	for i := uint64(0); i < n; i++ {
		if binary.LittleEndian.Uint64(b[8*i:])>>pagemapSoftDirtyBit&1 != 0 {
			set.Add(uint32(r.FirstPage + i))
		}
	}
	return nil
}

func (s *softDirty) endEpoch() error { return s.clear() }

// add does nothing: soft-dirty bits cover the whole process.
func (s *softDirty) add(Region) error { return nil }

// Close leaves the target's soft-dirty bits cleared, as clear_refs left
// them; soft-dirty tracking costs the target nothing.
func (s *softDirty) Close() error {
	err := s.pm.Close()
	if cerr := s.clearRefs.Close(); err == nil {
		err = cerr
	}
	return err
}

// permission wraps err with ErrPermission when it is EPERM or EACCES.
func permission(err error) error {
	if errors.Is(err, os.ErrPermission) { // EPERM or EACCES
		return fmt.Errorf("%w (%w: run as root or as the target's user with ptrace rights)", err, ErrPermission)
	}
	return err
}
