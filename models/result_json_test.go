package models

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// plainJSON is Result encoded by encoding/json's own struct encoder,
// omitempty and all, with rounds_detail an array.
func plainJSON(t *testing.T, r Result) []byte {
	t.Helper()
	type plain Result
	p := plain(r)
	if p.RoundsDetail == nil {
		p.RoundsDetail = []Round{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeObject(t *testing.T, r Result) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// A result every metric applies to, with no zero omitempty field, encodes
// exactly as encoding/json encodes the struct: same keys, order and
// numbers.
func TestResultJSONMatchesStructEncoding(t *testing.T) {
	r := Result{
		Scenario: "s<&>", Model: "precopy", Seed: 7, Calibration: "local-tcg", MigsimVersion: "v1.0.0",
		Converged: true, Completed: true, StopReason: StopNoProgress, // every key applies
		TotalTimeS: 4.117, DowntimeS: 0.0988, ExpectedDowntimeS: 0.0928, SetupTimeS: 0.01,
		TransferredBytes: 1 << 32, DeviceStateBytes: 512 << 10, Rounds: 3, DirtySyncCount: 4,
		Pages: PageCounts{Total: 1 << 20, Zero: 3, Normal: 5}, DirtyPagesRate: 50000, BandwidthBps: 1e10,
		EffectiveBandwidthBps: 9.9e9, NetworkRTTS: 1e-4, ThrottlePct: 20, GuestTimeS: 4, PrecopyBytes: 1 << 30,
		PostcopyBytes: 1, PostcopyRequests: 2, MinorFaults: 3, StallTimeS: 0.5, GuestSlowdown: 0.1,
		TimeToFullSpeedS: 4.2, VMAtRiskS: 0.3, SkippedFreePages: 1, BalloonReclaimedPages: 2, SkippedPagecachePages: 3,
		SANBytes: 4, IOPenaltyS: 0.25, CPUSecondsSource: 1.5, CPUSecondsDestination: 2.5, Bottleneck: "link",
		WorkerBytes: []uint64{1, 2}, CompressionRatio: 1, XbzrleCacheSizeBytes: 64 << 20, XbzrleBytes: 10,
		XbzrlePages: 11, XbzrleCacheMisses: 12, XbzrleCacheMissRate: 0.5, XbzrleOverflow: 13, XbzrleEncodingRate: 3.5,
		Engine: "fluid", EngineFallback: "model.xbzrle.enabled: ...", VerdictMargin: 0.5, SteadyStateDirtyPages: 6,
		RoundsDetail:     []Round{{Round: 1, Pages: 9}, {Round: 2, StopAndCopy: true}},
		ResolvedScenario: json.RawMessage(`{"name":"s"}`),
	}
	// Every field is set, so that none is left out by either encoder.
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("field %s is zero: set it so that the comparison covers it", v.Type().Field(i).Name)
		}
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := plainJSON(t, r); !bytes.Equal(got, want) {
		t.Errorf("MarshalJSON differs from the struct encoding:\n got %s\nwant %s", got, want)
	}
	// Through a pointer and indented, as the commands write it.
	ind, err := json.MarshalIndent(&r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ind, want.Bytes()) {
		t.Errorf("indented encoding differs")
	}
}

func TestResultJSONNotApplicable(t *testing.T) {
	postcopy := Result{Model: "postcopy", Completed: true, StopReason: StopPostcopy, DowntimeS: 0.01,
		RoundsDetail: []Round{{Round: 1, Postcopy: true}}}
	hybridSwitched := Result{Model: "hybrid", Completed: true, StopReason: StopPostcopy, DowntimeS: 0.01, ExpectedDowntimeS: 2,
		DirtySyncCount: 3, RoundsDetail: []Round{{Round: 1}, {Round: 2, Postcopy: true}}}
	precopyTimedOut := Result{Model: "precopy", StopReason: StopMaxTime, TotalTimeS: 3600, ExpectedDowntimeS: 2.5,
		DirtySyncCount: 3, RoundsDetail: []Round{{Round: 1}, {Round: 2}}}
	cutInRoundOne := Result{Model: "precopy", StopReason: StopMaxTime, TotalTimeS: 20, DirtySyncCount: 1,
		RoundsDetail: []Round{{Round: 1}}}
	noProgress := Result{Model: "precopy", StopReason: StopNoProgress, TotalTimeS: 321, ExpectedDowntimeS: 35.7,
		DirtySyncCount: 9, SteadyStateDirtyPages: 10843254, RoundsDetail: []Round{{Round: 1}, {Round: 2}}}
	postcopyTimedOut := Result{Model: "postcopy", StopReason: StopMaxTime, TotalTimeS: 3600, DowntimeS: 0.01,
		RoundsDetail: []Round{{Round: 1, Postcopy: true}}}
	xbzrleOn := Result{Model: "precopy", Converged: true, Completed: true, StopReason: StopDowntimeMet,
		XbzrleCacheSizeBytes: 64 << 20, RoundsDetail: []Round{{Round: 1}, {Round: 2, StopAndCopy: true}}}
	cpu := Result{Model: "parallel", Converged: true, Completed: true, StopReason: StopDowntimeMet, Bottleneck: "link",
		RoundsDetail: []Round{{Round: 1}, {Round: 2, StopAndCopy: true}}}

	for _, tc := range []struct {
		name   string
		r      Result
		null   []string // keys written as null
		absent []string // keys left out
		values map[string]any
	}{
		{"pure post-copy: no pre-copy convergence", postcopy,
			[]string{"converged", "expected_downtime_s", "dirty_pages_rate"},
			[]string{"compression_ratio", "xbzrle_pages", "cpu_seconds_source", "bottleneck"},
			map[string]any{"completed": true, "downtime_s": 0.01}},
		{"hybrid after its switch: pre-copy ran and did not converge", hybridSwitched, nil, nil,
			map[string]any{"converged": false, "expected_downtime_s": 2.0, "downtime_s": 0.01}},
		{"pre-copy out of time: never stopped, so no downtime", precopyTimedOut,
			[]string{"downtime_s"}, nil,
			map[string]any{"converged": false, "completed": false, "expected_downtime_s": 2.5, "total_time_s": 3600.0}},
		{"pre-copy without progress: never stopped, its steady dirty set reported", noProgress,
			[]string{"downtime_s"}, nil,
			map[string]any{"converged": false, "completed": false, "stop_reason": "no_progress", "expected_downtime_s": 35.7,
				"steady_state_dirty_pages": 10843254.0}},
		{"pre-copy out of time: no steady dirty set", precopyTimedOut,
			nil, []string{"steady_state_dirty_pages"}, nil},
		{"pre-copy out of time in round 1: no sync measured a downtime", cutInRoundOne,
			[]string{"downtime_s", "expected_downtime_s", "dirty_pages_rate"}, nil,
			map[string]any{"converged": false, "completed": false}},
		{"post-copy out of time: stopped, so a downtime", postcopyTimedOut,
			[]string{"converged"}, nil,
			map[string]any{"completed": false, "downtime_s": 0.01}},
		{"XBZRLE on: its zero counters are values", xbzrleOn, nil, []string{"compression_ratio"},
			map[string]any{"xbzrle_overflow": 0.0, "xbzrle_pages": 0.0, "xbzrle_cache_miss_rate": 0.0, "xbzrle_cache_size_bytes": float64(64 << 20)}},
		{"a CPU model: its zero figures are values", cpu, nil, []string{"xbzrle_pages", "xbzrle_cache_size_bytes"},
			map[string]any{"compression_ratio": 0.0, "cpu_seconds_source": 0.0, "bottleneck": "link"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeObject(t, tc.r)
			for _, k := range tc.null {
				if v, ok := m[k]; !ok || v != nil {
					t.Errorf("%s = %v (present %v), want null", k, v, ok)
				}
				if tc.r.Applies(k) {
					t.Errorf("Applies(%s) = true, want false", k)
				}
			}
			for _, k := range tc.absent {
				if v, ok := m[k]; ok {
					t.Errorf("%s = %v, want it left out", k, v)
				}
			}
			for k, want := range tc.values {
				if got, ok := m[k]; !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, want)
				}
			}
			// Decoding the JSON gives a result with the same applicability.
			b, _ := json.Marshal(tc.r)
			var back Result
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, f := range resultFields {
				if back.Applies(f.name) != tc.r.Applies(f.name) {
					t.Errorf("after a round trip, Applies(%s) = %v, want %v", f.name, back.Applies(f.name), tc.r.Applies(f.name))
				}
			}
		})
	}
}

// MayNotApply covers every key Applies can refuse: a column of such a
// key must allow empty cells.
func TestMayNotApplyCoversApplies(t *testing.T) {
	var empty Result
	for _, f := range resultFields {
		if !empty.Applies(f.name) && !MayNotApply(f.name) {
			t.Errorf("Applies(%s) can be false but MayNotApply(%s) is false", f.name, f.name)
		}
		if MayNotApply(f.name) && empty.Applies(f.name) {
			// The empty result has no round, no CPU model and no XBZRLE.
			t.Errorf("MayNotApply(%s) but the empty result applies it", f.name)
		}
	}
}

// legacyResult encodes as Result did before not-applicable values were
// null: the struct through encoding/json, rounds_detail never null.
type legacyResult Result

func (r legacyResult) MarshalJSON() ([]byte, error) {
	type plain Result
	p := plain(r)
	if p.RoundsDetail == nil {
		p.RoundsDetail = []Round{}
	}
	return json.Marshal(p)
}

// BenchmarkResultMarshalJSON measures the applicability-aware encoder
// against the encoder it replaced (legacy) on a 30-round result.
func BenchmarkResultMarshalJSON(b *testing.B) {
	r := Result{Model: "precopy", Converged: true, Completed: true, StopReason: StopDowntimeMet, TotalTimeS: 4.1}
	for i := range 30 {
		r.RoundsDetail = append(r.RoundsDetail, Round{Round: i + 1, Pages: 1 << 20, Bytes: 4 << 30, DurationS: 0.5})
	}
	b.Run("result", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("legacy", func(b *testing.B) {
		p := legacyResult(r)
		for b.Loop() {
			if _, err := json.Marshal(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
