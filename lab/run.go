package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// qmpCommandTimeout bounds one QMP command of a run. It is generous: on a
// loaded 2-core machine a TCG QEMU can be slow to answer.
const qmpCommandTimeout = 30 * time.Second

// run is one migration on a host, in three steps: boot (both QEMUs, the
// source's guest ready), migrate (settings, warm-up, the migration polled
// to its end) and verify (both sides' RAM, then the destination's
// replayer). Its close kills what it started and releases the host.
type run struct {
	h      host
	opts   Options
	mem    units.Bytes
	atEnd  models.TraceEnd
	logf   func(string, ...any)
	member *fleetMember // one of a fleet's migrations; nil alone

	real             *RealRun
	procs            []*qemuProc
	links            []*guestLink
	src, dst         *qemuProc
	srcLink, dstLink *guestLink
	ready            string    // the source replayer's ready line
	t0               time.Time // the migrate command
}

// execute runs one migration on h and returns its figures; h is closed
// when it returns, whatever happened.
func execute(ctx context.Context, h host, opts Options, mem units.Bytes, atEnd models.TraceEnd, member *fleetMember) (*RealRun, error) {
	r := &run{h: h, opts: opts, mem: mem, atEnd: atEnd, logf: opts.logf(), member: member,
		real: &RealRun{Accel: h.accel(), GuestMemoryBytes: uint64(mem), Network: h.network()}}
	defer r.close()
	if err := r.boot(ctx); err != nil {
		return nil, err
	}
	if err := r.migrate(ctx); err != nil {
		return nil, err
	}
	if err := r.verify(ctx); err != nil {
		return nil, err
	}
	return r.real, nil
}

// close kills the run's QEMUs and guest links, then releases the host.
func (r *run) close() {
	for _, g := range r.links {
		g.close()
	}
	for _, p := range r.procs {
		p.kill()
	}
	r.h.close()
}

// start starts one side and keeps what it started for close.
func (r *run) start(ctx context.Context, side string, incoming bool) (*qemuProc, *guestLink, error) {
	p, g, err := r.h.start(ctx, side, r.mem, r.atEnd, incoming)
	if p != nil {
		r.procs = append(r.procs, p)
	}
	if g != nil {
		r.links = append(r.links, g)
	}
	return p, g, err
}

// exec runs one QMP command on p with its own time bound.
func (r *run) exec(ctx context.Context, p *qemuProc, cmd string, args, out any) error {
	c, cancel := context.WithTimeout(ctx, qmpCommandTimeout)
	defer cancel()
	return p.qmp.Execute(c, cmd, args, out)
}

// boot starts the source and the destination and waits until the
// source's replayer has touched its region and is ready.
func (r *run) boot(ctx context.Context) (err error) {
	bootTimeout := orDefault(r.opts.BootTimeout, 180*time.Second)
	bootStart := time.Now()
	if r.src, r.srcLink, err = r.start(ctx, "source", false); err != nil {
		return err
	}
	r.real.QEMUVersion = r.src.qmp.Version.String()
	if r.dst, r.dstLink, err = r.start(ctx, "destination", true); err != nil {
		return err
	}
	r.logf("booting %v guests (QEMU %s, %s) in %s", r.mem, r.real.QEMUVersion, r.real.Accel, r.h.where())

	bctx, cancel := context.WithTimeout(ctx, bootTimeout)
	r.ready, err = r.srcLink.wait(bctx, "MIGSIM ready")
	cancel()
	if err != nil {
		return fmt.Errorf("source guest did not get ready: %w%s", err, r.h.consoleTail("source"))
	}
	r.real.BootS = time.Since(bootStart).Seconds()
	if r.opts.Migration.FreePageHint {
		r.real.FreePagesAtReady = hintablePages(r.ready)
	}
	if r.opts.Migration.Balloon {
		r.real.MemFreeAtReady = readyCount(r.ready, "mem_free_kb") / 4
	}
	r.logf("source ready after %.1fs: %s", r.real.BootS, r.ready)
	return nil
}

// migrate applies the migration settings (capabilities on both sides,
// parameters on the source), lets the guest replay for the warm-up,
// migrates and polls the migration to its end.
func (r *run) migrate(ctx context.Context) error {
	mig := r.opts.Migration
	caps := []map[string]any{{"capability": "events", "state": true}}
	if mig.AutoConverge {
		caps = append(caps, map[string]any{"capability": "auto-converge", "state": true})
	}
	caps = append(caps, mig.extraCaps()...)
	for _, p := range []*qemuProc{r.src, r.dst} {
		if err := r.exec(ctx, p, "migrate-set-capabilities", map[string]any{"capabilities": caps}, nil); err != nil {
			return r.h.capabilityError(p.name, mig, err)
		}
	}
	if err := r.exec(ctx, r.src, "migrate-set-parameters", mig.qmpParams(), nil); err != nil {
		return err
	}
	if dp := mig.destinationParams(); len(dp) > 0 {
		if err := r.exec(ctx, r.dst, "migrate-set-parameters", dp, nil); err != nil {
			return err
		}
	}
	// Port 0: QEMU picks a free port and reports it. Nothing else may
	// connect to it: any connection is taken as the migration.
	if err := r.exec(ctx, r.dst, "migrate-incoming", map[string]any{"uri": r.h.incomingURI()}, nil); err != nil {
		return err
	}
	var inc QueryMigrate
	if err := r.exec(ctx, r.dst, "query-migrate", nil, &inc); err != nil {
		return err
	}
	if len(inc.SocketAddress) == 0 || inc.SocketAddress[0].Port == "" {
		return errors.New("destination QEMU reported no listening address after migrate-incoming")
	}
	uri, err := r.h.migrateURI(inc.SocketAddress[0].Port)
	if err != nil {
		return err
	}
	if mig.Postcopy {
		// cont during an incoming migration arms autostart: the
		// destination runs the guest as soon as post-copy starts.
		if err := r.exec(ctx, r.dst, "cont", nil, nil); err != nil {
			return err
		}
	}

	if err := r.member.booted(ctx); err != nil {
		return err
	}
	if err := r.srcLink.send("start"); err != nil {
		return err
	}
	select {
	case <-time.After(orDefault(r.opts.Warmup, time.Second)):
	case <-ctx.Done():
		return ctx.Err()
	}
	if mig.Balloon {
		target := balloonTarget(r.mem, r.real.MemFreeAtReady*4, mig.BalloonEfficiency, mig.BalloonMinFree)
		if r.real.BalloonPages, err = inflate(ctx, r.src, r.mem, target, 60*time.Second); err != nil {
			return err
		}
		r.logf("balloon at %v (target %v): %d pages", r.mem-units.Bytes(r.real.BalloonPages)*4096, target, r.real.BalloonPages)
	}
	if r.real.ZeroPagesAtStart, err = r.h.zeroPages(ctx); err != nil {
		return err
	}

	// The migration.
	if err := r.member.waitStart(ctx); err != nil {
		return err
	}
	r.t0 = time.Now()
	if err := r.exec(ctx, r.src, "migrate", map[string]any{"uri": uri}, nil); err != nil {
		return err
	}
	r.logf("migrating to %s", uri)
	sw := &postcopySwitch{params: mig, exec: func() error { return r.exec(ctx, r.src, "migrate-start-postcopy", nil, nil) }, logf: r.logf}
	forced := false
	check := func(syncs int) error {
		if err := sw.check(syncs); err != nil {
			return err
		}
		if n := mig.CompleteAfterSyncs; n > 0 && syncs >= n && !forced {
			forced = true
			r.logf("raising downtime-limit to %v at dirty-sync-count %d", probeDowntimeLimit, syncs)
			return r.exec(ctx, r.src, "migrate-set-parameters", map[string]any{"downtime-limit": probeDowntimeLimit.Milliseconds()}, nil)
		}
		return nil
	}
	if err := check(0); err != nil {
		return err
	}
	migTimeout := orDefault(r.opts.MigrationTimeout, 300*time.Second)
	mctx, mcancel := context.WithTimeout(ctx, migTimeout)
	defer mcancel()
	final, raw, err := pollMigration(mctx, r.src, r.t0, &r.real.Series, check)
	if err != nil {
		// Cancel a migration still running, so that QEMU is not killed
		// mid-stream for nothing; the processes go in close anyway.
		cctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.src.qmp.Execute(cctx, "migrate_cancel", nil, nil)
		c()
		// The deadline may surface as a QMP write's i/o timeout, not as
		// context.DeadlineExceeded: ask the context, not the error.
		if mctx.Err() != nil && ctx.Err() == nil {
			r.real.MigrationWallS = time.Since(r.t0).Seconds()
			r.real.Metrics.TotalTimeS = r.real.MigrationWallS // until the cancel
			r.real.Epochs = r.srcLink.reports(r.t0)
			return &NotCompletedError{Timeout: migTimeout, LastStatus: lastStatus(r.real.Series), Run: r.real}
		}
		if mig.Postcopy {
			err = fmt.Errorf("%w%s", err, stderrTail(r.dst))
		}
		return err
	}
	r.real.MigrationWallS = time.Since(r.t0).Seconds()
	if mig.AutoConverge {
		r.real.ThrottleTimeline = ThrottleTimelineOf(r.real.Series)
	}
	if err := r.member.migrated(ctx); err != nil {
		return err
	}
	r.real.Final = raw
	r.real.Metrics = final.Metrics()
	if mig.Postcopy {
		if err := postcopyMetrics(ctx, r.src, r.dst, &r.real.Metrics); err != nil {
			return err
		}
	}
	r.logf("completed: total %.3fs, downtime %.3fs, %d syncs", r.real.Metrics.TotalTimeS, r.real.Metrics.DowntimeS, r.real.Metrics.Rounds)
	return nil
}

// verify checks the destination's memory: both sides are paused (the
// source after completion, the destination by -S), so their RAM must be
// identical; then the destination resumes and its replayer checks its
// region against its own record of writes.
func (r *run) verify(ctx context.Context) error {
	mig := r.opts.Migration
	vStart := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if mig.Postcopy {
		// The destination has run the guest since the switch: stop it and
		// bound the pages it changed (see postcopy.go).
		if err := stopDestination(wctx, r.dst); err != nil {
			return err
		}
	} else if err := waitDestination(wctx, r.dst); err != nil {
		return err
	} else if r.h.oneClock() {
		precopyDowntime(r.src, r.dst, &r.real.Metrics)
	}
	c, err := r.h.compareRAM(wctx, mig.FreePageHint)
	if err != nil {
		return err
	}
	r.real.PagesHinted = c.hinted
	if mig.Postcopy {
		if err := checkPostcopyRAM(c.same, c.bad, r.dstLink.reports(r.t0)); err != nil {
			return err
		}
		r.real.PagesChanged = c.bad
	} else if c.bad > 0 {
		return fmt.Errorf("%w: %d of %d pages differ, the first at guest physical address %#x",
			ErrMemoryMismatch, c.bad, c.same+c.bad, c.firstBad*4096)
	}
	r.real.PagesCompared = c.same
	if err := r.exec(ctx, r.dst, "cont", nil, nil); err != nil {
		return err
	}
	if err := r.dstLink.send("verify"); err != nil {
		return err
	}
	vctx, vcancel := context.WithTimeout(ctx, 120*time.Second)
	defer vcancel()
	v, err := r.dstLink.wait(vctx, "MIGSIM verify")
	if err != nil {
		return fmt.Errorf("destination guest did not verify its memory: %w%s", err, r.h.consoleTail("destination"))
	}
	r.real.GuestVerify = v
	if f := lineFields(v); f["bad"] != "0" {
		return fmt.Errorf("%w: the destination's replayer found %s bad pages (first %s): %s", ErrMemoryMismatch, f["bad"], f["first"], v)
	}
	r.real.VerifyS = time.Since(vStart).Seconds()
	_ = r.dstLink.send("poweroff")
	r.real.Epochs = append(r.srcLink.reports(r.t0), r.dstLink.reports(r.t0)...)
	r.logf("verified %d RAM pages and the replayer's region (%.1fs)", c.same, r.real.VerifyS)
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// NotCompletedError is a migration still running when its
// MigrationTimeout ran out, cancelled there: a pre-copy that had not
// converged by then. Run holds what the lab saw until the cancel: the
// query-migrate series, the source's epoch reports and, of its metrics,
// only TotalTimeS, the time until the cancel (no verification). The
// simulator can then replay the same guest over the same span and say
// whether it converged (validate's verdicts).
type NotCompletedError struct {
	Timeout    time.Duration
	LastStatus string
	Run        *RealRun
}

func (e *NotCompletedError) Error() string {
	return fmt.Sprintf("migration did not complete within %v (last status %q)", e.Timeout, e.LastStatus)
}
