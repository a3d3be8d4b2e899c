package lab

import (
	"context"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// host is where one run's two QEMUs live: this machine (localHost,
// local.go: processes, unix sockets, RAM files the lab maps) or two hosts
// reached over SSH (remoteLab, remote.go: remote commands, sockets
// through SSH channels, RAM compared by hash). Past it, a run is the same
// (run.go).
type host interface {
	// accel is the accelerator both sides boot with: kvm or tcg.
	accel() string
	// network is the path a shaped run emulates; nil unshaped.
	network() *NetShape
	// start starts side's QEMU (the destination incoming: -incoming defer
	// -S) and connects to its QMP and guest-control sockets. The process
	// is returned once started, even with an error, so that it can be
	// killed.
	start(ctx context.Context, side string, mem units.Bytes, atEnd models.TraceEnd, incoming bool) (*qemuProc, *guestLink, error)
	// incomingURI is what the destination listens on for the migration
	// stream (port 0: QEMU picks one).
	incomingURI() string
	// migrateURI is where the source migrates to, given the destination's
	// port.
	migrateURI(port string) (string, error)
	// capabilityError explains a side's refused
	// migrate-set-capabilities.
	capabilityError(side string, p MigrationParams, err error) error
	// zeroPages counts the source's all-zero RAM pages.
	zeroPages(ctx context.Context) (uint64, error)
	// oneClock reports whether both QEMUs stamp their events on one clock
	// (one machine), so that the guest's downtime can be timed from them.
	oneClock() bool
	// compareRAM compares both sides' RAM page by page. With hinted, a
	// page the destination holds all zero where the source does not is a
	// free page QEMU skipped, counted apart (free-page hinting runs).
	compareRAM(ctx context.Context, hinted bool) (ramComparison, error)
	// consoleTail returns the end of side's kernel console log, for
	// errors ("" when there is none).
	consoleTail(side string) string
	// where says where the run's files are, for messages.
	where() string
	// close removes everything the host holds for the run: call it once
	// the QEMUs are gone.
	close()
}

// ramComparison is what comparing both sides' RAM found, in 4 KiB
// pages.
type ramComparison struct {
	same, hinted, bad uint64
	firstBad          uint64 // the first bad page's number
}
