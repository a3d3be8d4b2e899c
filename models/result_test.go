package models

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// jsonKeys returns the JSON keys of a struct type, nested ones dotted.
func jsonKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, jsonKeys(ft, prefix+name+".")...)
		}
	}
	return keys
}

// Every JSON key of a Result is documented in the README's results table,
// so the documented contract and the code cannot drift apart.
func TestResultKeysDocumentedInREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	for _, k := range jsonKeys(reflect.TypeOf(Result{}), "") {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(doc, "`"+k+"`") && !strings.Contains(doc, "`"+leaf+"`") {
			t.Errorf("result key %q is not documented in README.md", k)
		}
	}
}

// The contract keys of issue 3 are present, spelled exactly.
func TestResultContractKeys(t *testing.T) {
	b, err := json.Marshal(Result{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "model", "seed", "converged", "stop_reason", "total_time_s",
		"downtime_s", "setup_time_s", "transferred_bytes", "rounds", "pages", "rounds_detail", "throttle_pct"} {
		if _, ok := m[k]; !ok {
			t.Errorf("contract key %q missing from Result JSON", k)
		}
	}
	if rd, ok := m["rounds_detail"].([]any); !ok || rd == nil {
		t.Errorf("rounds_detail must be an array, got %v", m["rounds_detail"])
	}
	pages := m["pages"].(map[string]any)
	for _, k := range []string{"total", "zero", "normal"} {
		if _, ok := pages[k]; !ok {
			t.Errorf("pages.%s missing", k)
		}
	}
	rb, _ := json.Marshal(Round{})
	var rm map[string]any
	_ = json.Unmarshal(rb, &rm)
	for _, k := range []string{"round", "start_s", "duration_s", "pages", "bytes"} {
		if _, ok := rm[k]; !ok {
			t.Errorf("rounds_detail[].%s missing", k)
		}
	}
}

func TestStopReasonNamesRoundTrip(t *testing.T) {
	for r := StopDowntimeMet; r <= StopMaxTime; r++ {
		b, err := r.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back StopReason
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("%v -> %s -> %v, %v", r, b, back, err)
		}
	}
	var s StopReason
	if err := s.UnmarshalText([]byte("nope")); err == nil {
		t.Error("want an error for an unknown stop reason")
	}
}
