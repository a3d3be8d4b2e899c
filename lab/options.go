package lab

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// Options configure one real migration, wherever its two QEMUs run
// ([RunLocal], [RunRemote]). Zero durations mean the defaults named
// below.
type Options struct {
	// Image is the boot kit; its initramfs holds the trace.
	Image *Image
	// TraceMemory is the trace's memory size (the replayer's region).
	TraceMemory units.Bytes
	// GuestMemory is the guest's RAM. 0 means TraceMemory +
	// [DefaultGuestOverhead]. It must be a whole number of 4 KiB pages and
	// must not be a multiple of 256 KiB (see [ErrRAMSize]).
	GuestMemory units.Bytes
	// AtEnd is what the replayer does when the trace ends.
	AtEnd models.TraceEnd
	// Migration holds the QEMU migration settings.
	Migration MigrationParams
	// Warmup is how long the guest replays before the migration starts
	// (default 1s).
	Warmup time.Duration
	// BootTimeout bounds the source's boot and initial touch (default 180s).
	BootTimeout time.Duration
	// MigrationTimeout bounds the migration itself; past it the migration
	// is cancelled and the run fails (default 300s).
	MigrationTimeout time.Duration
	// Log, when not nil, receives progress lines.
	Log io.Writer

	// allowBuggyRAMSize lets a test run a RAM size that ErrRAMSize
	// forbids, to check that verification catches the corruption.
	allowBuggyRAMSize bool
}

// LocalOptions configure a migration between two QEMU processes on this
// machine ([RunLocal]).
type LocalOptions struct {
	Options
	// WorkDir is the folder under which the run's own temporary folder
	// (sockets, logs, RAM files) is made and removed. Empty means /dev/shm
	// when it exists, so that guest RAM stays in memory.
	WorkDir string
	// Shaping is how the path between the QEMUs is shaped ("" means
	// [ShapingQEMU]); with [ShapingNetns], Network is the path emulated
	// (see netns.go).
	Shaping Shaping
	Network NetShape

	// fleet, when not nil, makes the run one of a fleet's concurrent
	// migrations (fleet.go): its QEMUs in the fleet's namespaces, its
	// replay once every guest of the fleet has booted, its migrate
	// command when the fleet's plan starts it, its verification once
	// every migration of the fleet has ended.
	fleet *fleetMember
}

// DefaultGuestOverhead is the RAM the lab gives a guest beyond its trace's
// memory, for the kernel, the initramfs and the replayer itself. The 8 KiB
// keep the total off multiples of 256 KiB (see [ErrRAMSize]).
const DefaultGuestOverhead = 128*units.MiB + 8*units.KiB

// ErrRAMSize reports a guest RAM size that QEMU 7.2 under TCG migrates
// wrongly: with RAM a multiple of 256 KiB it loses dirty-page updates and
// silently corrupts the destination (fixed in QEMU 9.0 by "physmem: Fix
// migration dirty bitmap coherency with TCG memory access").
var ErrRAMSize = errors.New("guest RAM is a multiple of 256 KiB, which QEMU 7.2 under TCG migrates with lost dirty pages; add e.g. 8KiB")

// ErrMemoryMismatch reports a migration whose destination memory differs
// from the source's: QEMU said completed, but the copy is corrupt.
var ErrMemoryMismatch = errors.New("destination memory differs from the source's after migration")

// guestMemory checks the options every run shares and returns the
// guest's RAM and what the replayer does at the trace's end.
func (o *Options) guestMemory() (units.Bytes, models.TraceEnd, error) {
	if o.Image == nil {
		return 0, "", errors.New("lab run: no image")
	}
	mem := o.GuestMemory
	if mem == 0 {
		mem = o.TraceMemory + DefaultGuestOverhead
	}
	if mem%(4*units.KiB) != 0 {
		return 0, "", fmt.Errorf("guest RAM %d bytes is not a whole number of 4 KiB pages", int64(mem))
	}
	if mem%(256*units.KiB) == 0 && !o.allowBuggyRAMSize {
		return 0, "", fmt.Errorf("guest RAM %v: %w", mem, ErrRAMSize)
	}
	if mem < o.TraceMemory+64*units.MiB {
		return 0, "", fmt.Errorf("guest RAM %v leaves less than 64 MiB beside the trace's %v", mem, o.TraceMemory)
	}
	atEnd := o.AtEnd
	if atEnd == "" {
		atEnd = models.AtEndLoop
	}
	if (o.Migration.FreePageHint || o.Migration.Balloon) && o.Migration.Postcopy {
		return 0, "", errors.New("free-page hinting and balloon runs are pre-copy only so far")
	}
	if o.Migration.FreePageHint && o.Migration.Balloon {
		return 0, "", errors.New("free-page hinting and the balloon together: the lab runs one at a time")
	}
	return mem, atEnd, nil
}

// logf returns the run's progress logger: "lab: " lines to o.Log, or
// nothing.
func (o *Options) logf() func(string, ...any) {
	return func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "lab: "+format+"\n", args...)
		}
	}
}
