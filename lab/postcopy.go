package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Post-copy in the lab.
//
// The lab turns on postcopy-ram (and postcopy-blocktime) on both sides and
// calls migrate-start-postcopy on the source when QEMU's dirty-sync-count
// reaches [MigrationParams.PostcopyAfterSyncs]: QEMU syncs once at setup
// and once more near the end of each pass, so N full pre-copy passes are
// done at count N+1, when the hybrid model switches after precopy_rounds
// = N. QEMU switches at its next iteration (within one 100 ms poll). For
// pure post-copy the lab calls it right after the migrate command: QEMU
// still runs its setup (the first dirty-log sync) and switches at its first
// iteration; the model switches when its setup_time ends. Either may send a
// few pages before the switch that the other sends after it.
//
// Before the migration the lab sends cont to the destination, which during
// an incoming migration only arms autostart: the destination runs the guest
// as soon as the source's post-copy package has been loaded, as under a
// management layer. The guest then writes on the destination while pages
// still arrive; its accesses to missing pages are QEMU's postcopy-requests.
//
// Downtime: QEMU's own downtime figure is the source's view (stop to the
// package sent). DowntimeS is the guest's stop-to-resume time instead: the
// source's STOP event to the destination's RESUME event, both stamped by
// QEMU on the host's clock; QEMU's figure is kept as QEMUDowntimeS.
//
// Verification: after completion the destination has run the guest, so its
// RAM differs from the paused source's exactly where the guest wrote since
// the switch. The lab stops the destination, compares the whole RAM with
// the source's and fails the run if more pages differ than the replayer
// reported writing there plus [postcopySlackPages] (the guest kernel); then
// the destination's replayer checks every page of its region against its
// record of every write, on both sides, which catches a single lost or
// stale page.

// postcopySlackPages bounds the pages the destination's guest kernel and
// the replayer's own memory may change besides the replayer's reported
// writes between the switch and the lab's stop (16 MiB).
const postcopySlackPages = 4096

// ErrPostcopyUnsupported reports a QEMU that refused the postcopy-ram
// capability: the host does not let it use userfaultfd.
var ErrPostcopyUnsupported = errors.New("QEMU cannot do post-copy on this host")

// capabilityError explains a refused migrate-set-capabilities on side.
func capabilityError(side string, p MigrationParams, err error) error {
	var qe *QMPError
	if !p.Postcopy || !errors.As(err, &qe) || !strings.Contains(strings.ToLower(qe.Desc), "postcopy") {
		return fmt.Errorf("%s: migrate-set-capabilities: %w", side, err)
	}
	return fmt.Errorf("%s: %w (%s): %s", side, ErrPostcopyUnsupported, qe.Desc, userfaultfdHint())
}

// userfaultfdHint probes the userfaultfd system call as QEMU 7.2 does and
// says what to fix.
func userfaultfdHint() string {
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	switch errno {
	case 0:
		unix.Close(int(fd))
		return "userfaultfd works for this process, so QEMU's own checks failed: see its stderr, and check that the guest RAM is shareable memory (tmpfs) and the kernel is 4.11 or later"
	case unix.EPERM:
		return "userfaultfd is not permitted: run the lab as root (or with CAP_SYS_PTRACE), or set sysctl vm.unprivileged_userfaultfd=1"
	case unix.ENOSYS:
		return "the userfaultfd system call is missing: the kernel lacks CONFIG_USERFAULTFD, or a seccomp filter (e.g. a container's) blocks it; allow it or run the lab elsewhere"
	default:
		return "userfaultfd failed: " + errno.Error()
	}
}

// postcopySwitch calls migrate-start-postcopy once, when dirty-sync-count
// reaches the threshold.
type postcopySwitch struct {
	params MigrationParams
	exec   func() error
	logf   func(string, ...any)
	done   bool
}

// check switches when syncs has reached the threshold.
func (s *postcopySwitch) check(syncs int) error {
	if !s.params.Postcopy || s.done || syncs < s.params.PostcopyAfterSyncs {
		return nil
	}
	s.done = true
	s.logf("switching to post-copy at dirty-sync-count %d", syncs)
	if err := s.exec(); err != nil {
		return fmt.Errorf("migrate-start-postcopy: %w", err)
	}
	return nil
}

// postcopyMetrics completes a post-copy run's figures: the STOP-to-RESUME
// downtime from the two sides' events and the destination's blocktime.
func postcopyMetrics(ctx context.Context, src, dst *qemuProc, m *RealMetrics) error {
	m.QEMUDowntimeS = m.DowntimeS
	var stop, resume time.Time
	for _, e := range src.qmp.Events() {
		if e.Name == "STOP" {
			stop = e.Time
		}
	}
	// The destination resumes after the source stops; wait for it (a
	// post-copy migration can complete on the source a moment before).
	deadline := time.Now().Add(10 * time.Second)
	for resume.IsZero() && !stop.IsZero() {
		for _, e := range dst.qmp.Events() {
			if e.Name == "RESUME" && !e.Time.Before(stop) {
				resume = e.Time
				break
			}
		}
		if !resume.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("post-copy: the destination sent no RESUME event within 10s of completion")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !resume.IsZero() {
		m.DowntimeS = resume.Sub(stop).Seconds()
	}
	c, cancel := context.WithTimeout(ctx, qmpCommandTimeout)
	defer cancel()
	var di QueryMigrate
	if err := dst.qmp.Execute(c, "query-migrate", nil, &di); err != nil {
		return err
	}
	m.StallTimeS = msToS(di.PostcopyBlocktime)
	return nil
}

// precopyDowntime completes a pre-copy run's downtime on one host: the
// guest's stop-to-loaded time, from the source's STOP event to the
// destination's MIGRATION event with status completed (all state loaded;
// the lab keeps the destination paused, so there is no RESUME), both
// stamped by QEMU on the host's clock. QEMU's own figure is the source's
// view: stop to the last byte handed to the socket, which leaves out the
// bytes still in socket buffers and the destination's loading; it is kept
// as QEMUDowntimeS. Without both events (an older QEMU, events off) the
// run keeps QEMU's figure.
func precopyDowntime(src, dst *qemuProc, m *RealMetrics) {
	var stop, loaded time.Time
	for _, e := range src.qmp.Events() {
		if e.Name == "STOP" {
			stop = e.Time
		}
	}
	for _, e := range dst.qmp.Events() {
		if e.Name != "MIGRATION" || e.Time.Before(stop) {
			continue
		}
		var d struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.Status == "completed" {
			loaded = e.Time
			break
		}
	}
	if stop.IsZero() || loaded.IsZero() {
		return
	}
	m.QEMUDowntimeS = m.DowntimeS
	m.DowntimeS = loaded.Sub(stop).Seconds()
}

// stopDestination waits until the destination has received everything,
// then stops its guest and waits until it is paused.
func stopDestination(ctx context.Context, dst *qemuProc) error {
	for {
		var m QueryMigrate
		if err := dst.qmp.Execute(ctx, "query-migrate", nil, &m); err != nil {
			return err
		}
		if m.Status == "completed" {
			break
		}
		if m.Status == "failed" {
			return fmt.Errorf("destination: incoming migration failed: %s", m.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the destination to complete post-copy (status %q): %w", m.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := dst.qmp.Execute(ctx, "stop", nil, nil); err != nil {
		return err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := dst.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
		return err
	}
	if st.Status != "paused" {
		return fmt.Errorf("destination run state %q after stop, want paused", st.Status)
	}
	return nil
}

// checkPostcopyRAM fails a post-copy run whose destination RAM differs from
// the source's in more pages than its guest can have written since the
// switch: the pages the destination's replayer reported writing, plus
// postcopySlackPages.
func checkPostcopyRAM(same, bad uint64, dstReports []EpochReport) error {
	var wrote uint64
	for _, r := range dstReports {
		wrote += r.Wrote
	}
	if limit := wrote + postcopySlackPages; bad > limit {
		return fmt.Errorf("%w: %d of %d pages differ after post-copy, more than the %d the destination's guest wrote plus %d",
			ErrMemoryMismatch, bad, same+bad, wrote, uint64(postcopySlackPages))
	}
	return nil
}

// checkPostcopyDir checks that guest RAM files in dir can take post-copy:
// userfaultfd registers anonymous memory, tmpfs and hugetlbfs only, so the
// destination's file-backed RAM must be on tmpfs.
func checkPostcopyDir(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return err
	}
	if st.Type != unix.TMPFS_MAGIC && st.Type != unix.HUGETLBFS_MAGIC {
		return fmt.Errorf("%w: the work dir %s is not on tmpfs, and userfaultfd cannot register guest RAM files elsewhere; use a work dir under /dev/shm (the default)", ErrPostcopyUnsupported, dir)
	}
	return nil
}

// stderrTail returns the end of a QEMU process's stderr, for errors.
func stderrTail(p *qemuProc) string {
	b, err := p.stderrBytes()
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 1000 {
		b = b[len(b)-1000:]
	}
	return "\n" + p.name + " QEMU stderr:\n" + strings.TrimSpace(string(b))
}
