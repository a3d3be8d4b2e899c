package validate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// MigrationParams are the migration settings the lab applies to QEMU with
// migrate-set-capabilities and migrate-set-parameters. They mirror the
// pre-copy model's parameters of the same names.
type MigrationParams struct {
	// DowntimeLimit is QEMU's downtime-limit (whole milliseconds).
	DowntimeLimit time.Duration
	// MaxBandwidth is QEMU's max-bandwidth in bits per second; 0 means
	// unlimited (QEMU's own default is 128 MiB/s: the lab lifts it).
	MaxBandwidth units.BitRate
	// AutoConverge enables the auto-converge capability.
	AutoConverge bool
	// CPUThrottleInitial, CPUThrottleIncrement and MaxCPUThrottle are the
	// auto-converge steps and cap, percent.
	CPUThrottleInitial, CPUThrottleIncrement, MaxCPUThrottle float64
	// ThrottleTriggerThreshold is QEMU's throttle-trigger-threshold, percent.
	ThrottleTriggerThreshold float64

	// Postcopy enables the postcopy-ram capability on both sides (see
	// postcopy.go): the lab calls migrate-start-postcopy once QEMU's
	// dirty-sync-count reaches PostcopyAfterSyncs, and the destination
	// starts the guest itself when the switch comes.
	Postcopy bool
	// PostcopyAfterSyncs is the dirty-sync-count (a count) at which the
	// lab switches to post-copy: 0 right after the migrate command, N+1
	// after N full pre-copy passes (QEMU syncs once at setup).
	PostcopyAfterSyncs int
	// CompleteAfterSyncs, when positive, raises downtime-limit to a
	// minute once dirty-sync-count reaches it, so that QEMU completes at
	// its next check with whatever is still to send: pages the
	// destination already holds (the link probe's warm pass, see
	// linkprobe.go). 0: never.
	CompleteAfterSyncs int
	// MaxPostcopyBandwidth is QEMU's max-postcopy-bandwidth in bits per
	// second; 0 means unlimited (QEMU's default).
	MaxPostcopyBandwidth units.BitRate
	// MultifdChannels enables the multifd capability on both sides with
	// this many channels (QEMU multifd-channels), a count; 0 is off.
	MultifdChannels int
	// MultifdCompression is QEMU's multifd-compression: none, zlib or
	// zstd ("" means none).
	MultifdCompression string
	// MultifdLevel is QEMU's multifd-zlib-level or multifd-zstd-level, an
	// integer; 0 leaves QEMU's default (1).
	MultifdLevel int
	// Xbzrle enables the xbzrle capability on the source with a cache of
	// XbzrleCacheSize bytes (QEMU xbzrle-cache-size).
	Xbzrle          bool
	XbzrleCacheSize units.Bytes
	// PostcopyPreempt enables QEMU's postcopy-preempt capability on both
	// sides (QEMU 7.1+): requested pages get their own channel.
	PostcopyPreempt bool
	// FreePageHint gives both sides a virtio-balloon with free-page-hint
	// and the guest the replayer's free-page mode (see freehint.go);
	// pre-copy only, local hosts only.
	FreePageHint bool
	// Balloon emulates the model's DSB from the host (see balloon.go):
	// the balloon is set, before the migration, to the guest's RAM less
	// BalloonEfficiency (a fraction) × its free memory above
	// BalloonMinFree (bytes). Pre-copy only, local hosts only.
	Balloon           bool
	BalloonEfficiency float64
	BalloonMinFree    units.Bytes
}

// unlimitedBandwidth is the max-bandwidth, bytes/s, the lab sets for "no
// limit" (QEMU takes 0 as its 128 MiB/s default).
const unlimitedBandwidth = 1 << 50

// qmpParams returns the arguments of migrate-set-parameters.
func (p MigrationParams) qmpParams() map[string]any {
	bw := int64(unlimitedBandwidth)
	if p.MaxBandwidth > 0 {
		bw = int64(float64(p.MaxBandwidth) / 8)
	}
	m := map[string]any{
		"downtime-limit": max(p.DowntimeLimit.Milliseconds(), 1),
		"max-bandwidth":  bw,
	}
	if p.Postcopy && p.MaxPostcopyBandwidth > 0 {
		m["max-postcopy-bandwidth"] = int64(float64(p.MaxPostcopyBandwidth) / 8)
	}
	if p.MultifdChannels > 0 {
		m["multifd-channels"] = p.MultifdChannels
		m["multifd-compression"] = cmp.Or(p.MultifdCompression, "none")
		if c := p.MultifdCompression; p.MultifdLevel > 0 && (c == "zlib" || c == "zstd") {
			m["multifd-"+c+"-level"] = p.MultifdLevel
		}
	}
	if p.Xbzrle {
		m["xbzrle-cache-size"] = int64(p.XbzrleCacheSize)
	}
	if p.AutoConverge {
		m["cpu-throttle-initial"] = int(p.CPUThrottleInitial)
		m["cpu-throttle-increment"] = int(p.CPUThrottleIncrement)
		m["max-cpu-throttle"] = int(p.MaxCPUThrottle)
		m["throttle-trigger-threshold"] = int(p.ThrottleTriggerThreshold)
	}
	return m
}

// LocalOptions configure a migration between two QEMU processes on this
// machine. Zero durations mean the defaults named below.
type LocalOptions struct {
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
	// WorkDir is the folder under which the run's own temporary folder
	// (sockets, logs, RAM files) is made and removed. Empty means /dev/shm
	// when it exists, so that guest RAM stays in memory.
	WorkDir string
	// Log, when not nil, receives progress lines.
	Log io.Writer
	// Shaping is how the path between the QEMUs is shaped ("" means
	// [ShapingQEMU]); with [ShapingNetns], Network is the path emulated
	// (see netns.go).
	Shaping Shaping
	Network NetShape

	// allowBuggyRAMSize lets a test run a RAM size that ErrRAMSize
	// forbids, to check that verification catches the corruption.
	allowBuggyRAMSize bool
	// fleet, when not nil, makes the run one of a fleet's concurrent
	// migrations (fleetlab.go): its QEMUs in the fleet's namespaces, its
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

// RealMetrics are a real migration's figures under migsim's JSON keys
// (those of [models.Result]).
type RealMetrics struct {
	// TotalTimeS is QEMU total-time, seconds.
	TotalTimeS float64 `json:"total_time_s"`
	// DowntimeS is QEMU downtime, seconds.
	DowntimeS float64 `json:"downtime_s"`
	// ExpectedDowntimeS is QEMU expected-downtime at the end, seconds.
	ExpectedDowntimeS float64 `json:"expected_downtime_s"`
	// SetupTimeS is QEMU setup-time, seconds.
	SetupTimeS float64 `json:"setup_time_s"`
	// TransferredBytes is QEMU ram.transferred: RAM stream bytes, page
	// headers included, device state not.
	TransferredBytes uint64 `json:"transferred_bytes"`
	// DowntimeBytes is QEMU ram.downtime-bytes: what the stop-and-copy
	// pass sent.
	DowntimeBytes uint64 `json:"downtime_bytes"`
	// Rounds is QEMU ram.dirty-sync-count: one per pass over memory,
	// the stop-and-copy pass included.
	Rounds int `json:"rounds"`
	// DirtySyncCount is QEMU ram.dirty-sync-count.
	DirtySyncCount int `json:"dirty_sync_count"`
	// Pages are QEMU's ram.total (in pages), ram.duplicate and ram.normal.
	Pages models.PageCounts `json:"pages"`
	// DirtyPagesRate is QEMU ram.dirty-pages-rate, pages per second.
	DirtyPagesRate float64 `json:"dirty_pages_rate"`
	// BandwidthBps is QEMU ram.mbps at the end, in bits per second.
	BandwidthBps float64 `json:"bandwidth_bps"`
	// ThrottlePct is QEMU cpu-throttle-percentage at the end.
	ThrottlePct float64 `json:"throttle_pct"`
	// PrecopyBytes and PostcopyBytes are QEMU ram.precopy-bytes and
	// ram.postcopy-bytes: RAM stream bytes sent while the guest ran on
	// the source, and while it ran on the destination.
	PrecopyBytes  uint64 `json:"precopy_bytes"`
	PostcopyBytes uint64 `json:"postcopy_bytes"`
	// PostcopyRequests is QEMU ram.postcopy-requests on the source: the
	// destination's page requests (the simulator's postcopy_requests,
	// its network faults).
	PostcopyRequests uint64 `json:"postcopy_requests"`
	// StallTimeS is the destination's postcopy-blocktime (capability
	// postcopy-blocktime), seconds: vCPU time blocked on page faults.
	StallTimeS float64 `json:"stall_time_s"`
	// QEMUDowntimeS is QEMU's own downtime figure, seconds (the source's
	// view: stop to the last byte handed to the socket), kept where
	// DowntimeS is the guest's instead: STOP to RESUME for post-copy, STOP
	// to the destination's completed load for pre-copy on one host (see
	// postcopy.go); 0 where DowntimeS is QEMU's figure.
	QEMUDowntimeS float64 `json:"qemu_downtime_s,omitempty"`
	// Xbzrle is QEMU's xbzrle-cache figures; nil when XBZRLE was off.
	Xbzrle *RealXbzrle `json:"xbzrle,omitempty"`
}

// MeanBandwidthBps is the mean throughput of the live phase, bits per
// second: the bytes sent before the guest stopped (ram.transferred less
// ram.downtime-bytes) over total time less setup time and downtime, as the
// simulator's bandwidth_bps measures it.
func (m RealMetrics) MeanBandwidthBps() float64 {
	down := m.DowntimeS
	if m.QEMUDowntimeS > 0 && m.PostcopyBytes == 0 {
		// A pre-copy run's total time ends with QEMU's own downtime.
		down = m.QEMUDowntimeS
	}
	live := m.TotalTimeS - m.SetupTimeS - down
	if live <= 0 || m.DowntimeBytes > m.TransferredBytes {
		return 0
	}
	return float64(m.TransferredBytes-m.DowntimeBytes) * 8 / live
}

// MigrateSample is one poll of query-migrate on the source.
type MigrateSample struct {
	// T is seconds since the migrate command.
	T float64 `json:"t_s"`
	// Status is QEMU's migration status.
	Status string `json:"status"`
	// TransferredBytes, RemainingBytes are ram.transferred and ram.remaining.
	TransferredBytes uint64 `json:"transferred_bytes"`
	RemainingBytes   uint64 `json:"remaining_bytes"`
	// DirtySyncCount is ram.dirty-sync-count.
	DirtySyncCount int `json:"dirty_sync_count"`
	// DirtyPagesRate is ram.dirty-pages-rate, pages per second.
	DirtyPagesRate float64 `json:"dirty_pages_rate"`
	// BandwidthBps is ram.mbps in bits per second.
	BandwidthBps float64 `json:"bandwidth_bps"`
	// ExpectedDowntimeS is expected-downtime, seconds.
	ExpectedDowntimeS float64 `json:"expected_downtime_s"`
	// ThrottlePct is cpu-throttle-percentage.
	ThrottlePct float64 `json:"throttle_pct"`
}

// RealRun is everything one real migration produced.
type RealRun struct {
	// QEMUVersion and Accel say what ran it ("tcg" or "kvm").
	QEMUVersion string `json:"qemu_version"`
	Accel       string `json:"accel"`
	// GuestMemoryBytes is the guest's RAM.
	GuestMemoryBytes uint64 `json:"guest_memory_bytes"`
	// ZeroPagesAtStart is the number of all-zero guest RAM pages just
	// before the migrate command, read from the source's RAM.
	ZeroPagesAtStart uint64 `json:"zero_pages_at_start"`
	// FreePagesAtReady is, in a free-page-hint run, the guest's free pages
	// in blocks of the buddy allocator's highest order (the blocks the
	// balloon driver hints: 4 MiB) when the replayer was ready, a count of
	// 4 KiB pages; 0 otherwise.
	FreePagesAtReady uint64 `json:"free_pages_at_ready,omitempty"`
	// PagesHinted is, in a free-page-hint run, the number of RAM pages
	// the destination holds all zero where the source does not: pages
	// QEMU skipped as free (hinted pages that were zero anyway are not
	// counted); 0 otherwise.
	PagesHinted uint64 `json:"pages_hinted,omitempty"`
	// MemFreeAtReady is, in a DSB run, the guest kernel's MemFree when the
	// replayer was ready, 4 KiB pages; BalloonPages the pages the balloon
	// held when the migration started. 0 otherwise.
	MemFreeAtReady uint64 `json:"mem_free_at_ready,omitempty"`
	BalloonPages   uint64 `json:"balloon_pages,omitempty"`
	// Metrics are the final figures.
	Metrics RealMetrics `json:"metrics"`
	// Final is the last query-migrate reply, raw.
	Final json.RawMessage `json:"final_query_migrate"`
	// Series is query-migrate polled every 100 ms.
	Series []MigrateSample `json:"series"`
	// Epochs are the replayer's reports, source and destination.
	Epochs []EpochReport `json:"epochs"`
	// PagesCompared is the number of RAM pages found equal on both sides.
	PagesCompared uint64 `json:"pages_compared"`
	// PagesChanged is, for a post-copy run, the number of RAM pages the
	// destination's guest changed after it resumed (they differ from the
	// paused source's); 0 for pre-copy, where any difference fails.
	PagesChanged uint64 `json:"pages_changed,omitempty"`
	// GuestVerify is the destination replayer's verify line.
	GuestVerify string `json:"guest_verify"`
	// BootS, MigrationWallS and VerifyS are wall-clock durations of the
	// phases, seconds.
	BootS          float64 `json:"boot_s"`
	MigrationWallS float64 `json:"migration_wall_s"`
	VerifyS        float64 `json:"verify_s"`
	// Network is the path a shaped run emulated (see netns.go); absent
	// with QEMU's max-bandwidth alone.
	Network *NetShape `json:"network,omitempty"`
}

// migrateInfo is the part of query-migrate the lab reads.
type migrateInfo struct {
	Status           string `json:"status"`
	TotalTime        *int64 `json:"total-time"`
	Downtime         *int64 `json:"downtime"`
	ExpectedDowntime *int64 `json:"expected-downtime"`
	SetupTime        *int64 `json:"setup-time"`
	ErrorDesc        string `json:"error-desc"`
	ThrottlePct      int64  `json:"cpu-throttle-percentage"`
	RAM              *struct {
		Transferred    uint64  `json:"transferred"`
		Remaining      uint64  `json:"remaining"`
		Total          uint64  `json:"total"`
		Duplicate      uint64  `json:"duplicate"`
		Normal         uint64  `json:"normal"`
		DirtyPagesRate float64 `json:"dirty-pages-rate"`
		Mbps           float64 `json:"mbps"`
		DirtySyncCount int     `json:"dirty-sync-count"`
		PageSize       uint64  `json:"page-size"`
		DowntimeBytes  uint64  `json:"downtime-bytes"`
		PrecopyBytes   uint64  `json:"precopy-bytes"`
		PostcopyBytes  uint64  `json:"postcopy-bytes"`
		PostcopyReqs   uint64  `json:"postcopy-requests"`
	} `json:"ram"`
	PostcopyBlocktime *int64      `json:"postcopy-blocktime"`
	XbzrleCache       *xbzrleInfo `json:"xbzrle-cache"`
	SocketAddress     []struct {
		Type string `json:"type"`
		Host string `json:"host"`
		Port string `json:"port"`
	} `json:"socket-address"`
}

// filled reports whether a completed migration's figures are in.
func (m *migrateInfo) filled() bool {
	return m.TotalTime != nil && *m.TotalTime > 0 && m.Downtime != nil && *m.Downtime > 0 && m.RAM != nil
}

func msToS(p *int64) float64 {
	if p == nil {
		return 0
	}
	return float64(*p) / 1000
}

func (m *migrateInfo) sample(t float64) MigrateSample {
	s := MigrateSample{T: t, Status: m.Status, ExpectedDowntimeS: msToS(m.ExpectedDowntime), ThrottlePct: float64(m.ThrottlePct)}
	if m.RAM != nil {
		s.TransferredBytes = m.RAM.Transferred
		s.RemainingBytes = m.RAM.Remaining
		s.DirtySyncCount = m.RAM.DirtySyncCount
		s.DirtyPagesRate = m.RAM.DirtyPagesRate
		s.BandwidthBps = m.RAM.Mbps * 1e6
	}
	return s
}

func (m *migrateInfo) metrics() RealMetrics {
	r := RealMetrics{
		TotalTimeS:        msToS(m.TotalTime),
		DowntimeS:         msToS(m.Downtime),
		ExpectedDowntimeS: msToS(m.ExpectedDowntime),
		SetupTimeS:        msToS(m.SetupTime),
		ThrottlePct:       float64(m.ThrottlePct),
	}
	if m.RAM != nil {
		ps := m.RAM.PageSize
		if ps == 0 {
			ps = 4096
		}
		r.TransferredBytes = m.RAM.Transferred
		r.DowntimeBytes = m.RAM.DowntimeBytes
		r.Rounds = m.RAM.DirtySyncCount
		r.DirtySyncCount = m.RAM.DirtySyncCount
		r.Pages = models.PageCounts{Total: m.RAM.Total / ps, Zero: m.RAM.Duplicate, Normal: m.RAM.Normal}
		r.DirtyPagesRate = m.RAM.DirtyPagesRate
		r.BandwidthBps = m.RAM.Mbps * 1e6
		r.PrecopyBytes = m.RAM.PrecopyBytes
		r.PostcopyBytes = m.RAM.PostcopyBytes
		r.PostcopyRequests = m.RAM.PostcopyReqs
	}
	r.Xbzrle = m.XbzrleCache.metrics()
	return r
}

// qmpCommandTimeout bounds one QMP command of a local run. It is generous:
// on a loaded 2-core machine a TCG QEMU can be slow to answer.
const qmpCommandTimeout = 30 * time.Second

// lab is one local run's resources; close releases every one of them.
type lab struct {
	dir      string
	procs    []*qemuProc
	links    []*guestLink
	ramFiles []*os.File
	maps     [][]byte
	net      *labNet    // shaped runs: namespaces, veth, tbf, relay
	remote   *remoteLab // runs on remote hosts (see remote.go); nil locally
}

func (l *lab) close() {
	for _, g := range l.links {
		g.close()
	}
	for _, p := range l.procs {
		p.kill()
	}
	l.closeNet()
	if l.remote != nil {
		l.remote.close()
	}
	for _, m := range l.maps {
		_ = unix.Munmap(m)
	}
	for _, f := range l.ramFiles {
		f.Close()
	}
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// RunLocal migrates a guest replaying the image's trace from one QEMU
// process to another on this machine, over loopback TCP, and returns the
// real figures. It verifies the destination's memory before it returns:
// the whole guest RAM is compared page by page between the source and the
// paused destination, and the destination's replayer then checks its
// region against its own record of writes; any difference fails the run
// with [ErrMemoryMismatch]. Every process, socket and file it made is gone
// when it returns, whether it succeeds, fails, times out or ctx is
// cancelled.
func RunLocal(ctx context.Context, opts LocalOptions) (*RealRun, error) {
	return runLab(ctx, opts, nil)
}

// runLab is [RunLocal] when hosts is nil, and [RunRemote] otherwise: past
// the transport (local processes and unix sockets, or SSH) the run is the
// same.
func runLab(ctx context.Context, opts LocalOptions, hosts *Hosts) (_ *RealRun, err error) {
	if opts.Image == nil {
		return nil, errors.New("lab run: no image")
	}
	if hosts == nil {
		if _, err := FindQEMU(); err != nil {
			return nil, err
		}
	}
	mem := opts.GuestMemory
	if mem == 0 {
		mem = opts.TraceMemory + DefaultGuestOverhead
	}
	if mem%(4*units.KiB) != 0 {
		return nil, fmt.Errorf("guest RAM %d bytes is not a whole number of 4 KiB pages", int64(mem))
	}
	if mem%(256*units.KiB) == 0 && !opts.allowBuggyRAMSize {
		return nil, fmt.Errorf("guest RAM %v: %w", mem, ErrRAMSize)
	}
	if mem < opts.TraceMemory+64*units.MiB {
		return nil, fmt.Errorf("guest RAM %v leaves less than 64 MiB beside the trace's %v", mem, opts.TraceMemory)
	}
	atEnd := opts.AtEnd
	if atEnd == "" {
		atEnd = models.AtEndLoop
	}
	if hosts != nil && (opts.Migration.FreePageHint || opts.Migration.Balloon) {
		return nil, errors.New("remote hosts: free-page hinting and balloon runs are local only so far")
	}
	if (opts.Migration.FreePageHint || opts.Migration.Balloon) && opts.Migration.Postcopy {
		return nil, errors.New("free-page hinting and balloon runs are pre-copy only so far")
	}
	if opts.Migration.FreePageHint && opts.Migration.Balloon {
		return nil, errors.New("free-page hinting and the balloon together: the lab runs one at a time")
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "lab: "+format+"\n", args...)
		}
	}

	l := &lab{}
	defer l.close()
	if hosts != nil {
		return l.run(ctx, opts, hosts, mem, atEnd, logf)
	}
	parent := opts.WorkDir
	if parent == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			parent = "/dev/shm"
		}
	}
	dir, err := os.MkdirTemp(parent, "migsim-lab-")
	if err != nil {
		return nil, err
	}
	l.dir = dir
	if opts.Migration.Postcopy {
		if err := checkPostcopyDir(dir); err != nil {
			return nil, err
		}
	}
	return l.run(ctx, opts, nil, mem, atEnd, logf)
}

// run is the body of a run whose work dir (local) or hosts (remote) are
// ready; l.close releases everything it starts.
func (l *lab) run(ctx context.Context, opts LocalOptions, hosts *Hosts, mem units.Bytes, atEnd models.TraceEnd, logf func(string, ...any)) (*RealRun, error) {
	warmup := orDefault(opts.Warmup, time.Second)
	bootTimeout := orDefault(opts.BootTimeout, 180*time.Second)
	migTimeout := orDefault(opts.MigrationTimeout, 300*time.Second)
	dir := l.dir

	accel := "tcg"
	if hosts != nil {
		if sh, err := ParseShaping(string(opts.Shaping)); err != nil || sh == ShapingNetns {
			return nil, fmt.Errorf("remote hosts: %w", cmp.Or(err, ErrRemoteShaping))
		}
		r, err := openRemote(ctx, hosts, opts.Image, logf)
		if err != nil {
			return nil, err
		}
		l.remote = r
		accel = r.accel
	} else if KVMUsable() {
		accel = "kvm"
	}
	run := &RealRun{Accel: accel, GuestMemoryBytes: uint64(mem)}
	if err := l.setupShaping(opts, run, logf); err != nil {
		return nil, err
	}

	var srcRAM, dstRAM []byte
	// Guest RAM lives in files the lab holds open, so that it can read
	// both sides' memory; the names are removed once QEMU has them open.
	ram := func(name string) (*os.File, []byte, error) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		l.ramFiles = append(l.ramFiles, f)
		if err := f.Truncate(int64(mem)); err != nil {
			return nil, nil, err
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(mem), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil, nil, fmt.Errorf("mapping %s: %w", name, err)
		}
		l.maps = append(l.maps, m)
		return f, m, nil
	}
	if l.remote == nil {
		var err error
		if _, srcRAM, err = ram("source.ram"); err != nil {
			return nil, err
		}
		if _, dstRAM, err = ram("destination.ram"); err != nil {
			return nil, err
		}
	}

	bootStart := time.Now()
	start := func(side string, incoming bool) (*qemuProc, *guestLink, error) {
		if l.remote != nil {
			p, g, err := l.remote.start(ctx, side, mem, accel, atEnd, incoming)
			if p != nil {
				l.procs = append(l.procs, p)
			}
			if g != nil {
				l.links = append(l.links, g)
			}
			return p, g, err
		}
		args := qemuArgs(opts.Image, dir, side, mem, accel, atEnd, incoming)
		if opts.Migration.FreePageHint {
			args = withFreePageHint(args)
		}
		if opts.Migration.Balloon {
			args = withBalloon(args)
		}
		p, err := startQEMUIn(ctx, side, dir, l.netnsOf(side), args)
		if err != nil {
			return nil, nil, err
		}
		l.procs = append(l.procs, p)
		if err := os.Remove(filepath.Join(dir, side+".ram")); err != nil {
			return nil, nil, err
		}
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		g, err := dialGuest(gctx, side, filepath.Join(dir, side+".ctl"))
		if err != nil {
			return nil, nil, err
		}
		l.links = append(l.links, g)
		return p, g, nil
	}
	src, srcLink, err := start("source", false)
	if err != nil {
		return nil, err
	}
	run.QEMUVersion = src.qmp.Version.String()
	dst, dstLink, err := start("destination", true)
	if err != nil {
		return nil, err
	}
	logf("booting %v guests (QEMU %s, %s) in %s", mem, run.QEMUVersion, accel, l.where())

	bctx, cancel := context.WithTimeout(ctx, bootTimeout)
	ready, err := srcLink.wait(bctx, "MIGSIM ready")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("source guest did not get ready: %w%s", err, l.consoleTail("source"))
	}
	run.BootS = time.Since(bootStart).Seconds()
	if opts.Migration.FreePageHint {
		run.FreePagesAtReady = hintablePages(ready)
	}
	if opts.Migration.Balloon {
		run.MemFreeAtReady = readyCount(ready, "mem_free_kb") / 4
	}
	logf("source ready after %.1fs: %s", run.BootS, ready)

	// Capabilities on both sides, parameters on the source.
	caps := []map[string]any{{"capability": "events", "state": true}}
	if opts.Migration.AutoConverge {
		caps = append(caps, map[string]any{"capability": "auto-converge", "state": true})
	}
	caps = append(caps, opts.Migration.extraCaps()...)
	// exec runs one QMP command with its own time bound.
	exec := func(p *qemuProc, cmd string, args, out any) error {
		c, cancel := context.WithTimeout(ctx, qmpCommandTimeout)
		defer cancel()
		return p.qmp.Execute(c, cmd, args, out)
	}
	for _, p := range []*qemuProc{src, dst} {
		if err := exec(p, "migrate-set-capabilities", map[string]any{"capabilities": caps}, nil); err != nil {
			if l.remote != nil {
				// The local userfaultfd probe says nothing about the host.
				return nil, fmt.Errorf("%s host: migrate-set-capabilities: %w (for post-copy the SSH user must be allowed userfaultfd on the host: root, CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)", p.name, err)
			}
			return nil, capabilityError(p.name, opts.Migration, err)
		}
	}
	if err := exec(src, "migrate-set-parameters", opts.Migration.qmpParams(), nil); err != nil {
		return nil, err
	}
	if dp := opts.Migration.destinationParams(); len(dp) > 0 {
		if err := exec(dst, "migrate-set-parameters", dp, nil); err != nil {
			return nil, err
		}
	}
	// Port 0: QEMU picks a free port and reports it. Nothing else may
	// connect to it: any connection is taken as the migration.
	if err := exec(dst, "migrate-incoming", map[string]any{"uri": l.incoming()}, nil); err != nil {
		return nil, err
	}
	var inc migrateInfo
	if err := exec(dst, "query-migrate", nil, &inc); err != nil {
		return nil, err
	}
	if len(inc.SocketAddress) == 0 || inc.SocketAddress[0].Port == "" {
		return nil, errors.New("destination QEMU reported no listening address after migrate-incoming")
	}
	uri, err := l.migrateTo(inc.SocketAddress[0].Port)
	if err != nil {
		return nil, err
	}
	if opts.Migration.Postcopy {
		// cont during an incoming migration arms autostart: the
		// destination runs the guest as soon as post-copy starts.
		if err := exec(dst, "cont", nil, nil); err != nil {
			return nil, err
		}
	}

	if err := opts.fleet.booted(ctx); err != nil {
		return nil, err
	}
	if err := srcLink.send("start"); err != nil {
		return nil, err
	}
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if opts.Migration.Balloon {
		target := balloonTarget(mem, run.MemFreeAtReady*4, opts.Migration.BalloonEfficiency, opts.Migration.BalloonMinFree)
		if run.BalloonPages, err = inflate(ctx, src, mem, target, 60*time.Second); err != nil {
			return nil, err
		}
		logf("balloon at %v (target %v): %d pages", mem-units.Bytes(run.BalloonPages)*4096, target, run.BalloonPages)
	}
	if l.remote != nil {
		if run.ZeroPagesAtStart, err = l.remote.zeroPages(ctx); err != nil {
			return nil, err
		}
	} else {
		run.ZeroPagesAtStart = countZeroPages(srcRAM)
	}

	// The migration.
	if err := opts.fleet.waitStart(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := exec(src, "migrate", map[string]any{"uri": uri}, nil); err != nil {
		return nil, err
	}
	logf("migrating to %s", uri)
	sw := &postcopySwitch{params: opts.Migration, exec: func() error { return exec(src, "migrate-start-postcopy", nil, nil) }, logf: logf}
	forced := false
	check := func(syncs int) error {
		if err := sw.check(syncs); err != nil {
			return err
		}
		if n := opts.Migration.CompleteAfterSyncs; n > 0 && syncs >= n && !forced {
			forced = true
			logf("raising downtime-limit to %v at dirty-sync-count %d", probeDowntimeLimit, syncs)
			return exec(src, "migrate-set-parameters", map[string]any{"downtime-limit": probeDowntimeLimit.Milliseconds()}, nil)
		}
		return nil
	}
	if err := check(0); err != nil {
		return nil, err
	}
	mctx, mcancel := context.WithTimeout(ctx, migTimeout)
	defer mcancel()
	final, raw, err := pollMigration(mctx, src, t0, &run.Series, check)
	if err != nil {
		// Cancel a migration still running, so that QEMU is not killed
		// mid-stream for nothing; the processes go in close anyway.
		cctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		_ = src.qmp.Execute(cctx, "migrate_cancel", nil, nil)
		c()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("migration did not complete within %v (last status %q)", migTimeout, lastStatus(run.Series))
		}
		if opts.Migration.Postcopy {
			err = fmt.Errorf("%w%s", err, stderrTail(dst))
		}
		return nil, err
	}
	run.MigrationWallS = time.Since(t0).Seconds()
	if err := opts.fleet.migrated(ctx); err != nil {
		return nil, err
	}
	run.Final = raw
	run.Metrics = final.metrics()
	if opts.Migration.Postcopy {
		if err := postcopyMetrics(ctx, src, dst, &run.Metrics); err != nil {
			return nil, err
		}
	}
	logf("completed: total %.3fs, downtime %.3fs, %d syncs", run.Metrics.TotalTimeS, run.Metrics.DowntimeS, run.Metrics.Rounds)

	// Verification: both sides are paused (the source after completion,
	// the destination by -S), so their RAM must be identical.
	vStart := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if opts.Migration.Postcopy {
		// The destination has run the guest since the switch: stop it and
		// bound the pages it changed (see postcopy.go).
		if err := stopDestination(wctx, dst); err != nil {
			return nil, err
		}
	} else if err := waitDestination(wctx, dst); err != nil {
		return nil, err
	} else if l.remote == nil {
		precopyDowntime(src, dst, &run.Metrics) // one host, one clock
	}
	var same, bad, firstBad uint64
	if l.remote != nil {
		if same, bad, firstBad, err = l.remote.compareRAM(wctx); err != nil {
			return nil, err
		}
	} else if opts.Migration.FreePageHint {
		same, run.PagesHinted, bad, firstBad = compareRAMHinted(srcRAM, dstRAM)
	} else {
		same, bad, firstBad = compareRAM(srcRAM, dstRAM)
	}
	if opts.Migration.Postcopy {
		if err := checkPostcopyRAM(same, bad, dstLink.reports(t0)); err != nil {
			return nil, err
		}
		run.PagesChanged = bad
	} else if bad > 0 {
		return nil, fmt.Errorf("%w: %d of %d pages differ, the first at guest physical address %#x",
			ErrMemoryMismatch, bad, same+bad, firstBad*4096)
	}
	run.PagesCompared = same
	if err := exec(dst, "cont", nil, nil); err != nil {
		return nil, err
	}
	if err := dstLink.send("verify"); err != nil {
		return nil, err
	}
	vctx, vcancel := context.WithTimeout(ctx, 120*time.Second)
	defer vcancel()
	v, err := dstLink.wait(vctx, "MIGSIM verify")
	if err != nil {
		return nil, fmt.Errorf("destination guest did not verify its memory: %w%s", err, l.consoleTail("destination"))
	}
	run.GuestVerify = v
	if f := lineFields(v); f["bad"] != "0" {
		return nil, fmt.Errorf("%w: the destination's replayer found %s bad pages (first %s): %s", ErrMemoryMismatch, f["bad"], f["first"], v)
	}
	run.VerifyS = time.Since(vStart).Seconds()
	_ = dstLink.send("poweroff")
	run.Epochs = append(srcLink.reports(t0), dstLink.reports(t0)...)
	logf("verified %d RAM pages and the replayer's region (%.1fs)", same, run.VerifyS)
	return run, nil
}

// qemuArgs returns the command line of one side.
func qemuArgs(img *Image, dir, side string, mem units.Bytes, accel string, atEnd models.TraceEnd, incoming bool) []string {
	size := strconv.FormatInt(int64(mem), 10)
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc,memory-backend=ram0", "-accel", accel, "-smp", "1",
		"-m", size + "b",
		"-object", "memory-backend-file,id=ram0,size=" + size + ",mem-path=" + filepath.Join(dir, side+".ram") + ",share=on",
		"-kernel", img.Kernel, "-initrd", img.Initramfs,
		"-append", "console=ttyS0 panic=-1 quiet migsim.at_end=" + string(atEnd),
		"-no-reboot",
		"-serial", "file:" + filepath.Join(dir, side+".console"),
		"-chardev", "socket,id=ctl,path=" + filepath.Join(dir, side+".ctl") + ",server=on,wait=off",
		"-serial", "chardev:ctl",
	}
	if incoming {
		args = append(args, "-incoming", "defer", "-S")
	}
	return args
}

// pollMigration polls query-migrate every 100 ms, appending to series,
// until the migration ends, then re-queries until total-time and downtime
// are filled in (QEMU can say completed before it has them).
// onSample, when not nil, sees each sample's dirty-sync-count while the
// migration runs.
func pollMigration(ctx context.Context, src *qemuProc, t0 time.Time, series *[]MigrateSample, onSample func(syncs int) error) (*migrateInfo, json.RawMessage, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	query := func() (*migrateInfo, json.RawMessage, error) {
		var raw json.RawMessage
		if err := src.qmp.Execute(ctx, "query-migrate", nil, &raw); err != nil {
			return nil, nil, err
		}
		var m migrateInfo
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, nil, fmt.Errorf("query-migrate reply %s: %w", truncate(raw, 200), err)
		}
		*series = append(*series, m.sample(time.Since(t0).Seconds()))
		return &m, raw, nil
	}
	for {
		m, raw, err := query()
		if err != nil {
			return nil, nil, err
		}
		switch m.Status {
		case "completed":
			// The first completed replies can still carry zero times and
			// counters that lag: take two equal replies in a row with
			// total-time and downtime filled in.
			prev := raw
			for tries := 0; ; tries++ {
				if tries == 50 {
					return nil, nil, errors.New("query-migrate says completed but its total-time and downtime did not settle within 5s")
				}
				select {
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				case <-tick.C:
				}
				if m, raw, err = query(); err != nil {
					return nil, nil, err
				}
				if m.filled() && bytes.Equal(raw, prev) {
					return m, raw, nil
				}
				prev = raw
			}
		case "failed", "cancelled", "postcopy-paused":
			// postcopy-paused: the post-copy stream broke; QEMU waits for
			// a recovery the lab does not attempt.
			return nil, nil, fmt.Errorf("migration %s: %s", m.Status, m.ErrorDesc)
		}
		if onSample != nil && m.RAM != nil {
			if err := onSample(m.RAM.DirtySyncCount); err != nil {
				return nil, nil, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func lastStatus(s []MigrateSample) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1].Status
}

// waitDestination waits until the destination has loaded the migration and
// is paused.
func waitDestination(ctx context.Context, dst *qemuProc) error {
	for {
		var m migrateInfo
		if err := dst.qmp.Execute(ctx, "query-migrate", nil, &m); err != nil {
			return err
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := dst.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
			return err
		}
		if m.Status == "completed" && st.Status == "paused" {
			return nil
		}
		if m.Status == "failed" {
			return fmt.Errorf("destination: incoming migration failed: %s", m.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the destination to finish loading (status %q, run state %q): %w", m.Status, st.Status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
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

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// where says where the run's files are, for messages.
func (l *lab) where() string {
	if l.remote != nil {
		return l.remote.where()
	}
	return l.dir
}

// consoleTail returns the end of a side's kernel console log, for errors.
func (l *lab) consoleTail(side string) string {
	if l.remote != nil {
		return l.remote.consoleTail(side)
	}
	return consoleTail(l.dir, side)
}

// incoming is what the destination listens on for the migration stream.
func (l *lab) incoming() string {
	if l.remote != nil {
		return l.remote.incomingURI()
	}
	return l.incomingURI()
}

// migrateTo is where the source migrates to, given the destination's port.
func (l *lab) migrateTo(port string) (string, error) {
	if l.remote != nil {
		return l.remote.migrateURI(port), nil
	}
	return l.migrateURI(port)
}
