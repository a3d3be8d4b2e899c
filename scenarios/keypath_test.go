package scenarios

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestWalkAgreesWithGetAndField: every key Walk visits in a loaded
// scenario (phases and a bandwidth schedule included, so list items) is
// found by Get with the same value and by Field with the same type, and
// its Value is the scenario's own: setting it changes what Get returns.
func TestWalkAgreesWithGetAndField(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.yaml")
	scenario := `workload:
  generator:
    kind: phases
    phases:
      - {kind: uniform, duration: 1s, dirty_rate: 100, working_set: 1GiB}
      - {kind: uniform, duration: 2s, dirty_rate: 200, working_set: 1GiB}
network: {profile: metro, bandwidth_schedule: [{at: 1s, bandwidth: 1Gbit}]}
`
	if err := os.WriteFile(file, []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"precopy", "postcopy", "hybrid", "parallel", "enlightened"} {
		s, err := Load(file, []string{"model.name=" + model})
		if err != nil {
			t.Fatal(err)
		}
		var leaves, items, params int
		Walk(s, func(k Key) bool {
			if strings.HasSuffix(k.Path, "]") {
				items++
			}
			if k.Model != "" {
				params++
				if k.Model != model {
					t.Errorf("%s: Model %q, want %q", k.Path, k.Model, model)
				}
			}
			got, ok := Get(s, k.Path)
			if !ok {
				t.Errorf("%s: Walk visits it, Get does not find it", k.Path)
				return true
			}
			if k.Section() {
				if got.Type() != k.Value.Type() {
					t.Errorf("%s: Get gives a %v, Walk a %v", k.Path, got.Type(), k.Value.Type())
				}
				return true
			}
			if k.List() {
				return true
			}
			leaves++
			if !reflect.DeepEqual(got.Interface(), k.Value.Interface()) {
				t.Errorf("%s: Get = %v, Walk = %v", k.Path, got, k.Value)
			}
			if ft, err := Field(k.Path); err != nil || ft != k.Type {
				t.Errorf("Field(%s) = %v, %v; want %v", k.Path, ft, err, k.Type)
			}
			return false
		})
		if leaves < 40 || items != 3 || params < 5 {
			t.Errorf("model %s: %d leaves, %d list items, %d parameters visited; want at least 40, 3 and 5", model, leaves, items, params)
		}
	}

	s, err := LoadDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	Walk(s, func(k Key) bool {
		switch k.Path {
		case "model.downtime_limit":
			k.Value.Set(reflect.ValueOf(42 * time.Millisecond))
		case "network.bandwidth":
			k.Value.Set(reflect.ValueOf(3 * units.Gbit))
		}
		return true
	})
	if v, _ := Get(s, "model.downtime_limit"); v.Interface() != 42*time.Millisecond {
		t.Errorf("model.downtime_limit set through Walk: Get gives %v", v)
	}
	if s.Network.Bandwidth != 3*units.Gbit {
		t.Errorf("network.bandwidth set through Walk: %v", s.Network.Bandwidth)
	}
}

// TestWalkNilSection: a section behind a nil pointer (the generator of a
// trace scenario) is visited as its zero value, marked Nil, and its keys
// only when asked.
func TestWalkNilSection(t *testing.T) {
	s := DefaultSpec()
	s.Workload.Generator = nil
	var nilKey Key
	var below []string
	Walk(s, func(k Key) bool {
		if k.Path == "workload.generator" {
			nilKey = k
			return true
		}
		if strings.HasPrefix(k.Path, "workload.generator.") {
			below = append(below, k.Path)
		}
		return true
	})
	if !nilKey.Nil || !nilKey.Section() || nilKey.Value.Kind() != reflect.Struct || !nilKey.Value.IsZero() {
		t.Errorf("workload.generator: Nil %v, Section %v, Value %v", nilKey.Nil, nilKey.Section(), nilKey.Value)
	}
	if len(below) == 0 {
		t.Error("the nil generator's keys were not visited")
	}
	if _, ok := Get(s, "workload.generator.dirty_rate"); ok {
		t.Error("Get found a key below a nil section")
	}
}

// TestGetModelSection: model.name and model.engine are the model
// section's own keys, the rest its model's parameters.
func TestGetModelSection(t *testing.T) {
	s, err := LoadDefault([]string{"model.name=postcopy", "model.engine=auto"})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"model.name": "postcopy", "model.engine": "auto"} {
		if v, ok := Get(s, key); !ok || v.String() != want {
			t.Errorf("Get(%s) = %v, %v; want %s", key, v, ok, want)
		}
	}
	if _, ok := Get(s, "model.downtime_limit"); ok {
		t.Error("Get found model.downtime_limit, which postcopy has not")
	}
}

// TestPathErrors: the errors of a key that is not in the key tree, from
// Field and from --set.
func TestPathErrors(t *testing.T) {
	for _, c := range []struct{ key, field, set string }{
		{"network.bandwidth.x", "network.bandwidth is a value, not a section", "--set network.bandwidth.x: network.bandwidth is a value, not a section"},
		{"netwrk.bandwidth", "unknown key (did you mean network?)", "--set netwrk: unknown key (did you mean network?)"},
		{"network.", "unknown key (see migsim scenario explain)", "--set network.: unknown key (see migsim scenario explain)"},
		{"network.bandwidth[0]", "network.bandwidth is not a list", "--set network.bandwidth[0]: unknown key (did you mean bandwidth?)"},
		{"model.workers", "", "--set model.workers: unknown key for model precopy (a key of model parallel) (see migsim scenario explain)"},
		{"model.engin", "unknown key: no model has it (did you mean engine?)", "--set model.engin: unknown key for model precopy (did you mean engine?)"},
	} {
		_, err := Field(c.key)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Field(%s): %v", c.key, err)
		case c.field != "" && (err == nil || err.Error() != c.field):
			t.Errorf("Field(%s) = %v; want %s", c.key, err, c.field)
		}
		_, err = LoadDefault([]string{c.key + "=1"})
		if err == nil || err.Error() != c.set {
			t.Errorf("--set %s=1: %v; want %s", c.key, err, c.set)
		}
	}
}
