package lab

import (
	"encoding/json"

	"github.com/migsim/migsim/models"
)

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

// LastDirtyPagesRate is QEMU's dirty-pages-rate of the last sync period
// it reported: the last non-zero one polled (a completed migration's
// final query-migrate reports 0), else the final figure. 0 when QEMU
// measured no period (its periods end at the first sync a second or more
// after they began).
func (r *RealRun) LastDirtyPagesRate() float64 {
	for i := len(r.Series) - 1; i >= 0; i-- {
		if q := r.Series[i].DirtyPagesRate; q > 0 {
			return q
		}
	}
	return r.Metrics.DirtyPagesRate
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

// ThrottlePoint is the auto-converge throttle at one poll.
type ThrottlePoint struct {
	// T is seconds since the migrate command.
	T float64 `json:"t_s"`
	// Pct is cpu-throttle-percentage (0 before QEMU throttles).
	Pct float64 `json:"pct"`
}

// ThrottleTimelineOf returns the throttle at each poll of series taken
// while the migration was active.
func ThrottleTimelineOf(series []MigrateSample) []ThrottlePoint {
	var out []ThrottlePoint
	for _, s := range series {
		if s.Status == "active" {
			out = append(out, ThrottlePoint{T: s.T, Pct: s.ThrottlePct})
		}
	}
	return out
}

// ThrottleSteps returns the points of a throttle timeline at which the
// throttle changed: the first poll that saw each new value.
func ThrottleSteps(tl []ThrottlePoint) []ThrottlePoint {
	var out []ThrottlePoint
	prev := 0.0
	for _, p := range tl {
		if p.Pct != prev {
			out = append(out, p)
			prev = p.Pct
		}
	}
	return out
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
	// ThrottleTimeline is, in an auto-converge run, QEMU's
	// cpu-throttle-percentage at each poll of the live migration (status
	// active), with the poll's time; absent otherwise.
	ThrottleTimeline []ThrottlePoint `json:"throttle_timeline,omitempty"`
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

// QueryMigrate is the part of QMP's query-migrate reply the lab reads (a
// field record's replies are read with it too, in package validate); its
// fields are QEMU's, under QEMU's JSON names, times in milliseconds.
type QueryMigrate struct {
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
func (m *QueryMigrate) filled() bool {
	return m.TotalTime != nil && *m.TotalTime > 0 && m.Downtime != nil && *m.Downtime > 0 && m.RAM != nil
}

func msToS(p *int64) float64 {
	if p == nil {
		return 0
	}
	return float64(*p) / 1000
}

// Sample is the reply as a [MigrateSample] taken t seconds after the
// migrate command.
func (m *QueryMigrate) Sample(t float64) MigrateSample {
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

// Metrics maps a completed migration's reply to migsim's result keys.
func (m *QueryMigrate) Metrics() RealMetrics {
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
