package models

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// StopReason says why a migration's live phase ended. Its string names are
// stable: they appear in JSON and CSV output and scripts compare them.
type StopReason int

// Stop reasons. Do not rely on their numeric values.
const (
	// StopDowntimeMet: the remaining dirty memory fit in bandwidth ×
	// downtime limit, so the guest was stopped and the rest copied.
	StopDowntimeMet StopReason = iota + 1
	// StopMaxRounds: the round cap forced stop-and-copy.
	StopMaxRounds
	// StopMaxBytes: the transferred-bytes cap (factor × RAM) forced
	// stop-and-copy.
	StopMaxBytes
	// StopMaxTime: the migration had not converged (pre-copy) or had not
	// moved every page (post-copy) when the simulated time limit ran out;
	// it did not complete.
	StopMaxTime
	// StopPostcopy: the guest was stopped, resumed on the destination, and
	// the pages it lacked followed (post-copy, or a hybrid's switch to
	// post-copy after its pre-copy rounds).
	StopPostcopy
	// StopNoProgress: pre-copy's dirty set had stopped shrinking above
	// what fits the downtime limit, with nothing pending that could
	// change that (a throttle step, a cap, a link change), so the
	// migration could not converge before the time limit; it stopped
	// early and did not complete (the early verdict, verdict.go).
	StopNoProgress
)

var stopReasonNames = map[StopReason]string{
	StopDowntimeMet: "downtime_met",
	StopMaxRounds:   "max_rounds",
	StopMaxBytes:    "max_bytes",
	StopMaxTime:     "max_time",
	StopPostcopy:    "postcopy",
	StopNoProgress:  "no_progress",
}

// String returns the stable name of the reason.
func (s StopReason) String() string {
	if n, ok := stopReasonNames[s]; ok {
		return n
	}
	return fmt.Sprintf("stop_reason(%d)", int(s))
}

// Converged reports whether the reason means the migration converged: the
// guest was stopped because its dirty memory fit the downtime limit.
func (s StopReason) Converged() bool { return s == StopDowntimeMet }

// Forced reports whether a cap (max_rounds, max_bytes) forced stop-and-copy
// before the dirty memory fit the downtime limit.
func (s StopReason) Forced() bool { return s == StopMaxRounds || s == StopMaxBytes }

// Completed reports whether the migration completed (the guest runs on the
// destination with all of its memory), converged, forced or by post-copy.
func (s StopReason) Completed() bool {
	return s == StopDowntimeMet || s == StopMaxRounds || s == StopMaxBytes || s == StopPostcopy
}

// MarshalText implements encoding.TextMarshaler.
func (s StopReason) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *StopReason) UnmarshalText(b []byte) error {
	for k, v := range stopReasonNames {
		if v == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("unknown stop reason %q", string(b))
}

// Result is the outcome of one simulated migration. Field names follow
// QEMU's query-migrate where they mean the same thing, in snake case with
// the unit in the name. Sizes are bytes, times seconds, rates per second.
type Result struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Model is the model's registered name.
	Model string `json:"model"`
	// Seed is the seed of the run.
	Seed uint64 `json:"seed"`
	// Calibration is the scenario's calibration key, text: the built-in
	// profile's name or the profile file applied; omitted without one.
	Calibration string `json:"calibration,omitempty"`
	// MigsimVersion is the version of migsim that computed the result
	// (see migsim version), text; omitted when the caller did not set it.
	// Same binary, same scenario and seed: same bytes.
	MigsimVersion string `json:"migsim_version,omitempty"`
	// Converged is pre-copy convergence: true when the guest was stopped
	// because its remaining dirty memory fit the downtime limit, false
	// when pre-copy ran and did not get there (a cap forced the stop, a
	// hybrid switched to post-copy, or time ran out). It does not apply
	// (null in JSON, an empty CSV cell) when no pre-copy round ran: pure
	// post-copy. Completed is the primary outcome.
	Converged bool `json:"converged"`
	// Completed is true when the guest ended up running on the destination
	// with all of its memory (converged, forced by a round or byte cap, or
	// by post-copy): the primary outcome of a migration.
	Completed bool `json:"completed"`
	// StopReason says why the live phase ended.
	StopReason StopReason `json:"stop_reason"`
	// TotalTimeS is the time from the start of the migration to the guest
	// resuming on the destination with all of its memory (for post-copy,
	// the last page's arrival), or to the time limit, QEMU total-time.
	TotalTimeS float64 `json:"total_time_s"`
	// DowntimeS is the time the guest was stopped, QEMU downtime: for
	// post-copy, from stopping on the source to resuming on the
	// destination. Not applicable (null) when the guest was never stopped:
	// a pre-copy migration that did not complete.
	DowntimeS float64 `json:"downtime_s"`
	// ExpectedDowntimeS is the downtime the last sync predicted: remaining
	// dirty bytes over measured bandwidth, QEMU expected-downtime. Not
	// applicable (null) without a pre-copy round.
	ExpectedDowntimeS float64 `json:"expected_downtime_s"`
	// SetupTimeS is the time before the first round started, QEMU setup-time.
	SetupTimeS float64 `json:"setup_time_s"`
	// TransferredBytes is every byte put on the wire: page data, page
	// headers and device state, QEMU ram.transferred plus device state.
	TransferredBytes uint64 `json:"transferred_bytes"`
	// DeviceStateBytes is the CPU and device state sent at stop time.
	DeviceStateBytes uint64 `json:"device_state_bytes"`
	// Rounds is the number of entries in RoundsDetail: the live rounds
	// and the stop-and-copy (or post-copy) pass, a count. Under pre-copy's
	// sync_policy pass a live round is a pass over memory; under qemu it
	// is a sync period, so Rounds is DirtySyncCount − 1.
	Rounds int `json:"rounds"`
	// DirtySyncCount is the number of dirty-log syncs, setup's and the
	// final one included, QEMU dirty-sync-count.
	DirtySyncCount int `json:"dirty_sync_count"`
	// Pages counts pages, QEMU's ram.total/duplicate/normal.
	Pages PageCounts `json:"pages"`
	// DirtyPagesRate is the rate of newly dirtied pages measured over the
	// last sync period, pages per second, QEMU dirty-pages-rate: those a
	// sync adds to the pages waiting to be sent, not those dirtied again
	// while they waited (under sync_policy qemu it is below the guest's
	// dirty rate). Not applicable (null) without a pre-copy round.
	DirtyPagesRate float64 `json:"dirty_pages_rate"`
	// BandwidthBps is the mean migration throughput over the live phase, in
	// bits per second: the pre-copy rounds, or for pure post-copy the
	// post-copy phase.
	BandwidthBps float64 `json:"bandwidth_bps"`
	// EffectiveBandwidthBps is the mean rate while sending, in bits per
	// second: every byte put on the wire over the time spent sending it,
	// TCP's slow start, window and loss limits included, the pauses
	// between passes and the fixed costs of stop-and-copy (sync, resume,
	// RTT) excluded. 0 for a model that does not report it.
	EffectiveBandwidthBps float64 `json:"effective_bandwidth_bps"`
	// NetworkRTTS is the path's mean round-trip time, seconds: network.rtt
	// plus network.jitter.
	NetworkRTTS float64 `json:"network_rtt_s"`
	// ThrottlePct is the auto-converge CPU throttle in force at the end, in
	// percent (0 when auto-converge is off or never triggered), QEMU
	// cpu-throttle-percentage.
	ThrottlePct float64 `json:"throttle_pct"`
	// GuestTimeS is how far the guest progressed through its trace, in
	// guest seconds; below TotalTimeS when throttled, stopped or stalled.
	GuestTimeS float64 `json:"guest_time_s"`
	// PrecopyBytes is what the live pre-copy rounds put on the wire (page
	// data and headers, sent while the guest ran on the source), bytes,
	// QEMU ram.precopy-bytes. 0 for pure post-copy.
	PrecopyBytes uint64 `json:"precopy_bytes"`
	// PostcopyBytes is what the post-copy phase put on the wire (pushed
	// and requested pages with their headers, device state excluded),
	// bytes, QEMU ram.postcopy-bytes. 0 for pre-copy.
	PostcopyBytes uint64 `json:"postcopy_bytes"`
	// PostcopyRequests is the number of network faults: guest accesses on
	// the destination to a page that was neither there nor on the wire,
	// each a page request to the source, QEMU postcopy-requests.
	PostcopyRequests uint64 `json:"postcopy_requests"`
	// MinorFaults is the number of guest accesses on the destination to a
	// page already on the wire (pushed but not yet arrived), which wait
	// for it without a request.
	MinorFaults uint64 `json:"minor_faults"`
	// StallTimeS is the time the guest's vCPUs were blocked on network and
	// minor faults, seconds, QEMU postcopy-blocktime.
	StallTimeS float64 `json:"stall_time_s"`
	// GuestSlowdown is the guest time lost relative to running undisturbed,
	// as a fraction of TotalTimeS: (downtime + stalls + throttled share of
	// the live rounds) / total time.
	GuestSlowdown float64 `json:"guest_slowdown"`
	// TimeToFullSpeedS is the time, seconds since the start of the
	// migration, from which the guest ran at full speed: the end of the
	// last sliding window in which it ran below the full-speed threshold
	// of its undisturbed speed (post-copy models' full_speed_threshold
	// over full_speed_window; 95 % over 100 ms for pre-copy). 0 if it
	// never fell below; it can exceed TotalTimeS by up to one window.
	TimeToFullSpeedS float64 `json:"time_to_full_speed_s"`
	// VMAtRiskS is the time in which neither side held a whole copy of the
	// guest, seconds: post-copy's window from resuming on the destination
	// to the last page's arrival, in which losing either host loses the
	// guest. 0 for pre-copy.
	VMAtRiskS float64 `json:"vm_at_risk_s"`
	// SkippedFreePages is the number of free-class pages free-page
	// hinting left out of the migration and the guest never wrote, so
	// never sent (see composition.go). 0 when hinting is off.
	SkippedFreePages uint64 `json:"skipped_free_pages,omitempty"`
	// BalloonReclaimedPages is the number of free pages the DSB balloon
	// held when the migration took its pages and the guest did not
	// reclaim by writing them, so never sent. 0 when the balloon is off.
	BalloonReclaimedPages uint64 `json:"balloon_reclaimed_pages,omitempty"`
	// SkippedPagecachePages is the number of clean page-cache pages
	// page-cache skip or drop left out of the migration and the guest
	// never wrote, so never sent over the network.
	SkippedPagecachePages uint64 `json:"skipped_pagecache_pages,omitempty"`
	// SANBytes is what the destination read from shared storage, bytes:
	// the skipped page cache restored (mode skip) or the dropped pages
	// read back on misses (mode drop).
	SANBytes uint64 `json:"san_bytes,omitempty"`
	// IOPenaltyS is the guest's time lost to page-cache misses after a
	// drop, seconds: misses × (SAN read latency + page / SAN bandwidth).
	IOPenaltyS float64 `json:"io_penalty_s,omitempty"`
	// CPUSecondsSource is the CPU time the migration's threads spent on
	// the source host, seconds of one core: each page's source stages
	// from the cost table (see sim.CostTable). Omitted (0) when the model
	// has no CPU model (no multifd, not parallel).
	CPUSecondsSource float64 `json:"cpu_seconds_source,omitempty"`
	// CPUSecondsDestination is the same on the destination host, seconds
	// of one core. Omitted (0) without a CPU model.
	CPUSecondsDestination float64 `json:"cpu_seconds_destination,omitempty"`
	// Bottleneck names what bound the largest pass: a stage (scan, map,
	// copy, compress, checksum, send, receive, decompress, install),
	// map_lock, source_cores, destination_cores, worker_imbalance or link.
	// Omitted without a CPU model.
	Bottleneck string `json:"bottleneck,omitempty"`
	// WorkerBytes is what each parallel worker or multifd channel put on
	// the wire, page data and headers, bytes; the workers own equal
	// contiguous page ranges. Omitted for a single stream.
	WorkerBytes []uint64 `json:"worker_bytes,omitempty"`
	// CompressionRatio is raw page bytes over compressed bytes, 1 without
	// compression. Omitted without a CPU model (when Bottleneck is "").
	CompressionRatio float64 `json:"compression_ratio,omitempty"`
	// XbzrleCacheSizeBytes is the XBZRLE page cache's size, bytes, QEMU
	// xbzrle-cache.cache-size. Omitted (0) when XBZRLE is off.
	XbzrleCacheSizeBytes uint64 `json:"xbzrle_cache_size_bytes,omitempty"`
	// XbzrleBytes is what the pages sent as XBZRLE deltas put on the wire,
	// headers included, bytes, QEMU xbzrle-cache.bytes. Omitted when off.
	XbzrleBytes uint64 `json:"xbzrle_bytes,omitempty"`
	// XbzrlePages is the number of pages sent as XBZRLE deltas, QEMU
	// xbzrle-cache.pages; they are not counted in pages.normal. Omitted
	// when off.
	XbzrlePages uint64 `json:"xbzrle_pages,omitempty"`
	// XbzrleCacheMisses is the number of XBZRLE lookups that missed the
	// cache and sent the full page, QEMU xbzrle-cache.cache-miss. Omitted
	// when off.
	XbzrleCacheMisses uint64 `json:"xbzrle_cache_misses,omitempty"`
	// XbzrleCacheMissRate is cache misses over lookups (pages re-sent
	// after round 1), a fraction, over the whole run (QEMU's
	// cache-miss-rate is over the last sync period). Omitted when off.
	XbzrleCacheMissRate float64 `json:"xbzrle_cache_miss_rate,omitempty"`
	// XbzrleOverflow is the number of cache hits whose encoding exceeded
	// the page, sent in full, QEMU xbzrle-cache.overflow. Omitted when
	// off.
	XbzrleOverflow uint64 `json:"xbzrle_overflow,omitempty"`
	// XbzrleEncodingRate is the raw bytes of the XBZRLE pages over what
	// they put on the wire, a ratio, QEMU xbzrle-cache.encoding-rate.
	// Omitted when off.
	XbzrleEncodingRate float64 `json:"xbzrle_encoding_rate,omitempty"`
	// Engine is the engine that computed the result, text: "fluid" (the
	// generator's expectation, see [FluidPrecopy]) or "page" (page-level
	// replay) when model.engine is fluid or auto; omitted under
	// model.engine page, the default, which replays pages.
	Engine string `json:"engine,omitempty"`
	// EngineFallback says, text, why model.engine auto ran the page
	// engine: the feature the fluid engine does not cover. Omitted
	// otherwise.
	EngineFallback string `json:"engine_fallback,omitempty"`
	// VerdictMargin is, on the fluid engine, an estimate of the share of
	// page-level seeds that take the same decisions at every sync (stop
	// or go on, throttle or not), so reach the same verdict in the same
	// rounds: the product over decisions of Φ(|expectation − threshold|
	// / standard deviation), the deviation of a count being that of
	// independent pages. A fraction in (0, 1]; below 0.9 the verdict is
	// close, and seeds differ in their rounds or verdict. Under
	// sync_policy qemu, whether one more 50 ms step comes before a sync
	// is not counted: seeds can split there on downtime and total time
	// by a step while agreeing on rounds and verdict. A forced switch to
	// post-copy (a fleet's on_timeout: postcopy) counts too: seeds whose
	// decision falls on the other side of the switch time switch a round
	// earlier or later (the time's deviation is the seeds' plus 0.1 % of
	// the time elapsed, the fluid engine's own). Omitted on the page
	// engine.
	VerdictMargin float64 `json:"verdict_margin,omitempty"`
	// SteadyStateDirtyPages is, when the early verdict stopped the run
	// (stop_reason no_progress), the pages its last sync left to send,
	// where the dirty set had stopped shrinking: the steady-state dirty
	// set, a count (its bytes over the measured bandwidth are
	// expected_downtime_s). Omitted for any other stop reason.
	SteadyStateDirtyPages uint64 `json:"steady_state_dirty_pages,omitempty"`
	// RoundsDetail has one entry per pass, the stop-and-copy or post-copy
	// pass last.
	RoundsDetail []Round `json:"rounds_detail"`
	// ResolvedScenario is the scenario the result was computed from, every
	// key resolved (file, flags, calibration, profile and defaults
	// applied), as a JSON object of the scenario's keys; omitted unless
	// asked for (migsim run -o json --resolved).
	ResolvedScenario json.RawMessage `json:"resolved_scenario,omitempty"`
}

// ThrottleStep is one step of the auto-converge throttle.
type ThrottleStep struct {
	// TimeS is when the throttle changed, seconds since the migration
	// started: the sync that decided the step.
	TimeS float64 `json:"t_s"`
	// Pct is the throttle from then on, percent.
	Pct float64 `json:"pct"`
}

// ThrottleSteps returns the auto-converge throttle's timeline from
// RoundsDetail: a step at the end of each round (the sync that ends it)
// after which the next round runs at another throttle_pct. Empty when the
// throttle never stepped.
func (r *Result) ThrottleSteps() []ThrottleStep {
	var out []ThrottleStep
	prev := 0.0
	for i, rd := range r.RoundsDetail {
		if rd.Postcopy {
			break
		}
		if rd.ThrottlePct != prev && i > 0 {
			last := r.RoundsDetail[i-1]
			out = append(out, ThrottleStep{TimeS: last.StartS + last.DurationS, Pct: rd.ThrottlePct})
		}
		prev = rd.ThrottlePct
	}
	return out
}

// PageCounts counts pages the way QEMU's query-migrate does.
type PageCounts struct {
	// Total is the guest's page count (QEMU reports ram.total in bytes).
	Total uint64 `json:"total"`
	// Zero is the number of zero pages sent as a header only, QEMU duplicate.
	Zero uint64 `json:"zero"`
	// Normal is the number of pages sent in full, re-sends counted, QEMU normal.
	Normal uint64 `json:"normal"`
}

// Round is one pass over memory, or under pre-copy's sync_policy qemu one
// sync period: the pages sent from one dirty-log sync to the next.
type Round struct {
	// Round numbers passes from 1.
	Round int `json:"round"`
	// StartS is when the pass began, seconds since the migration started.
	StartS float64 `json:"start_s"`
	// DurationS is how long the pass took.
	DurationS float64 `json:"duration_s"`
	// Pages is the number of pages the pass sent, zero pages included.
	Pages uint64 `json:"pages"`
	// ZeroPages is the number of those sent as a header only.
	ZeroPages uint64 `json:"zero_pages"`
	// Bytes is what the pass put on the wire (device state included in
	// the stop-and-copy pass).
	Bytes uint64 `json:"bytes"`
	// DirtiedPages is the number of pages dirtied while the pass ran,
	// found by the sync that ends it (the next pass's work; under
	// sync_policy qemu the pages it left unsent are added to that).
	DirtiedPages uint64 `json:"dirtied_pages"`
	// BandwidthBps is the throughput measured at the pass's end over
	// QEMU's 100 ms window, bits per second.
	BandwidthBps float64 `json:"bandwidth_bps"`
	// EffectiveBandwidthBps is the pass's bytes over the time spent
	// sending them, bits per second: for the stop-and-copy pass the
	// transfer alone, without sync, resume and RTT.
	EffectiveBandwidthBps float64 `json:"effective_bandwidth_bps"`
	// ThrottlePct is the CPU throttle in force during the pass.
	ThrottlePct float64 `json:"throttle_pct"`
	// StopAndCopy marks the final pass, run with the guest stopped.
	StopAndCopy bool `json:"stop_and_copy"`
	// Postcopy marks the post-copy pass: from stopping the guest to the
	// last page's arrival, with the guest running on the destination after
	// the downtime. Its Bytes include the device state.
	Postcopy bool `json:"postcopy"`
}

// Applies reports whether the metric of JSON key key (a top-level key of
// Result, as in JSON and in the columns of sweep tables) applies to r. A
// metric that does not apply is null in JSON (left out for the keys
// documented as omitted) and an empty cell in CSV, never a 0 that reads
// as a value:
//
//   - converged needs a pre-copy round (not pure post-copy);
//   - expected_downtime_s and dirty_pages_rate need a pre-copy round and
//     a dirty-log sync after it (DirtySyncCount of 2 or more: setup's
//     sync measures nothing), so a run cut short in its first round has
//     none;
//   - downtime_s needs the guest to have been stopped (completed, or a
//     stop-and-copy or post-copy pass);
//   - compression_ratio, cpu_seconds_source, cpu_seconds_destination and
//     bottleneck need a CPU model (Bottleneck set);
//   - the xbzrle_ keys need XBZRLE (a cache size);
//   - verdict_margin needs the fluid engine (engine fluid);
//   - steady_state_dirty_pages needs stop_reason no_progress.
//
// Every other key applies. Applies works on a Result decoded from JSON as
// well, since it looks only at values the JSON keeps.
func (r *Result) Applies(key string) bool {
	switch key {
	case "converged":
		return r.ranPrecopy()
	case "expected_downtime_s", "dirty_pages_rate":
		// Measured at a sync after pages were sent: setup's sync alone
		// measures nothing.
		return r.ranPrecopy() && r.DirtySyncCount >= 2
	case "downtime_s":
		return r.Completed || r.stopped()
	case "compression_ratio", "cpu_seconds_source", "cpu_seconds_destination", "bottleneck":
		return r.Bottleneck != ""
	case "verdict_margin":
		return r.Engine == string(EngineFluid)
	case "steady_state_dirty_pages":
		return r.StopReason == StopNoProgress
	}
	if strings.HasPrefix(key, "xbzrle_") {
		return r.XbzrleCacheSizeBytes > 0
	}
	return true
}

// MayNotApply reports whether the metric of JSON key key can be not
// applicable to some result (see [Result.Applies]): such a column must
// allow empty cells.
func MayNotApply(key string) bool {
	switch key {
	case "converged", "expected_downtime_s", "dirty_pages_rate", "downtime_s",
		"compression_ratio", "cpu_seconds_source", "cpu_seconds_destination", "bottleneck",
		"verdict_margin", "steady_state_dirty_pages":
		return true
	}
	return strings.HasPrefix(key, "xbzrle_")
}

// ranPrecopy reports whether r has a pre-copy round: a live round or a
// stop-and-copy, anything but the post-copy pass.
func (r *Result) ranPrecopy() bool {
	for _, rd := range r.RoundsDetail {
		if !rd.Postcopy {
			return true
		}
	}
	return false
}

// stopped reports whether r has a pass run with the guest stopped on the
// source: stop-and-copy, or the post-copy pass (which starts with the
// stop).
func (r *Result) stopped() bool {
	for _, rd := range r.RoundsDetail {
		if rd.StopAndCopy || rd.Postcopy {
			return true
		}
	}
	return false
}

// resultField is one JSON field of Result.
type resultField struct {
	index int
	name  string
}

// resultFields are Result's JSON fields in declaration order.
var resultFields = func() []resultField {
	t := reflect.TypeFor[Result]()
	var out []resultField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		out = append(out, resultField{index: i, name: name})
	}
	return out
}()

// jsonNames are the JSON names of Result's fields, by field index ("" for
// a field JSON leaves out).
var jsonNames = func() []string {
	t := reflect.TypeFor[Result]()
	out := make([]string, t.NumField())
	for _, f := range resultFields {
		out[f.index] = f.name
	}
	return out
}()

// resultView is the type Result is encoded through: Result's fields in
// order with their tags, except that each metric that may not apply
// ([MayNotApply]) is a pointer, nil where it does not apply, so that
// encoding/json writes null (or leaves it out, for an omitempty field)
// there and the value, zero included, where it does.
var resultView = func() reflect.Type {
	t := reflect.TypeFor[Result]()
	fields := make([]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if MayNotApply(name) {
			f.Type = reflect.PointerTo(f.Type)
		}
		fields[i] = reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
	}
	return reflect.StructOf(fields)
}()

// MarshalJSON writes the fields in declaration order as encoding/json
// would, except that a metric that does not apply ([Result.Applies]) is
// null, or left out when its field is omitempty, and one that applies is
// written even when 0; rounds_detail is an array, never null.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.RoundsDetail == nil {
		r.RoundsDetail = []Round{}
	}
	src := reflect.ValueOf(&r).Elem()
	view := reflect.New(resultView).Elem()
	for i := range src.NumField() {
		dst := view.Field(i)
		if dst.Kind() != reflect.Pointer || src.Field(i).Kind() == reflect.Pointer {
			dst.Set(src.Field(i))
			continue
		}
		if r.Applies(jsonNames[i]) {
			dst.Set(src.Field(i).Addr())
		}
	}
	return json.Marshal(view.Interface())
}
