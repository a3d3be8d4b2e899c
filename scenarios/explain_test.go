package scenarios

import (
	"reflect"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
)

// TestKeysRoundTrip keeps Keys true: every key it lists is accepted by
// --set with its printed default, which gives back the default scenario,
// and every key has a doc comment and a unit.
func TestKeysRoundTrip(t *testing.T) {
	base, err := LoadDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys()
	seen := map[string]bool{}
	for _, k := range keys {
		id := k.Model + ":" + k.Key
		if seen[id] {
			t.Errorf("key %s listed twice", id)
		}
		seen[id] = true
		if k.Doc == "" {
			t.Errorf("key %s has no doc comment (run go generate ./scenarios after adding one)", k.Key)
		}
		if k.Unit == "" {
			t.Errorf("key %s has no unit", k.Key)
		}
		if k.Section {
			continue
		}
		sets := []string{k.Key + "=" + k.Default}
		want := base
		if k.Model != "" && k.Model != DefaultModel {
			sets = append([]string{"model.name=" + k.Model}, sets...)
			if want, err = LoadDefault(sets[:1]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := LoadDefault(sets)
		if err != nil {
			t.Errorf("--set %s: %v", strings.Join(sets, " --set "), err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("--set %s changed the default scenario", sets[len(sets)-1])
		}
	}
	// Every model's every parameter is listed.
	for _, m := range models.Registry() {
		for _, f := range fieldsOf(reflect.TypeOf(m.Params())) {
			if !seen[m.Name+":model."+f.key] {
				t.Errorf("model %s key %s missing from Keys", m.Name, f.key)
			}
		}
	}
}

// TestKeysCoverSpec walks Spec independently of Keys: every tagged field
// of every section is listed.
func TestKeysCoverSpec(t *testing.T) {
	listed := map[string]bool{}
	for _, k := range Keys() {
		if k.Model == "" {
			listed[k.Key] = true
		}
	}
	var walk func(prefix string, t reflect.Type)
	var missing []string
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if key == "" || key == "-" {
				continue
			}
			full := joinKey(prefix, key)
			if !listed[full] {
				missing = append(missing, full)
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(full, ft)
			}
		}
	}
	walk("", reflect.TypeFor[Spec]())
	if len(missing) > 0 {
		t.Errorf("keys of Spec missing from Keys: %v", missing)
	}
}

func TestExplain(t *testing.T) {
	var b strings.Builder
	if err := Explain(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"vm.memory = 4GiB  (bytes)",
		"network.profile = lan-10g  (text)",
		"model.downtime_limit = 300ms  (duration)",
		"workload.generator.dirty_rate = 50000  (number)",
		"# Parameters of model precopy",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Explain output lacks %q", want)
		}
	}
}
