package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/units"
)

// Setting is one key of a loaded scenario with the value it resolved to.
type Setting struct {
	// Key is the dotted key, list items indexed: "model.downtime_limit",
	// "workload.generator.phases[0].dirty_rate".
	Key string
	// Value is the value in scenario syntax, e.g. "300ms", "10Gbit".
	Value string
	// Unit says what the value is, as in [KeyDoc].
	Unit string
	// Origin says where the value came from: "--set", "file line N",
	// "calibration NAME", "profile NAME", "trace header" or "default".
	Origin string
}

// givenKeys records where the keys a scenario gives come from.
type givenKeys struct {
	lines map[string]int  // key → line in the file
	sets  map[string]bool // keys given by --set
}

// Settings returns every key of the loaded scenario s with its resolved
// value and origin, in file order: the scenario's sections, then the
// chosen model's parameters (not those of other models). Sections are
// not listed, their keys are; a generator's phases and a bandwidth
// schedule list each item's keys. sets are the overrides s was loaded
// with (as given to [Load]), to tell the keys they gave; the keys the
// file gives are read from s's file again.
func (s *Spec) Settings(sets []string) []Setting {
	g := &givenKeys{lines: map[string]int{}, sets: map[string]bool{}}
	for _, o := range sets {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		g.sets[k] = true
		// A section's value gives the keys it holds, not the others.
		var doc yaml.Node
		if yaml.Unmarshal([]byte(v), &doc) == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
			inner := map[string]int{}
			keyLines(k, doc.Content[0], inner)
			for ik := range inner {
				g.sets[ik] = true
			}
		}
	}
	if s.file != "" {
		if data, err := os.ReadFile(s.file); err == nil {
			var doc yaml.Node
			if yaml.Unmarshal(data, &doc) == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
				keyLines("", doc.Content[0], g.lines)
			}
		}
	}
	var uncal *Spec
	if s.calib != nil {
		uncal = s.WithoutCalibration()
	}
	var out []Setting
	Walk(s, func(k Key) bool {
		switch {
		case k.Section():
			return !k.Nil
		case k.List() && k.Value.Len() > 0:
			return true
		}
		var u reflect.Value
		if uncal != nil {
			u, _ = specValue(uncal, k.Path)
		}
		out = append(out, s.setting(g, k.Path, k.Value, u))
		return false
	})
	return out
}

// setting returns the Setting of key, whose value is v; uncal is its
// value before the calibration profile was applied (invalid without one).
func (s *Spec) setting(g *givenKeys, key string, v, uncal reflect.Value) Setting {
	return Setting{Key: key, Value: formatDefault(v), Unit: unitOf(v.Type()), Origin: s.origin(g, key, v, uncal)}
}

// keyLines records the line of every key below node n, the section at
// prefix, in lines: dotted, list items indexed.
func keyLines(prefix string, n *yaml.Node, lines map[string]int) {
	n = resolveAlias(n)
	switch {
	case n == nil:
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinKey(prefix, n.Content[i].Value)
			if _, dup := lines[key]; !dup {
				lines[key] = n.Content[i].Line
			}
			keyLines(key, n.Content[i+1], lines)
		}
	case n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = item.Line
			keyLines(key, item, lines)
		}
	}
}

// networkProfileKeys are the network keys a profile sets.
var networkProfileKeys = map[string]bool{
	"network.bandwidth": true, "network.rtt": true, "network.loss": true,
	"network.jitter": true, "network.tcp_window": true, "network.mss": true,
}

// origin says where the value v of key came from: --set wins over the
// file.
func (s *Spec) origin(g *givenKeys, key string, v, uncal reflect.Value) string {
	if g.sets[key] {
		return "--set"
	}
	if line := g.lines[key]; line > 0 {
		return fmt.Sprintf("file line %d", line)
	}
	if uncal.IsValid() && !reflect.DeepEqual(v.Interface(), uncal.Interface()) {
		return "calibration " + s.Calibration
	}
	if networkProfileKeys[key] && s.Network.Profile != "" && s.Network.Profile != CustomProfile {
		return "profile " + s.Network.Profile
	}
	if s.Workload.Trace != "" && (key == "vm.memory" || key == "vm.page_size") {
		return "trace header"
	}
	return "default"
}

// WriteSettings writes the settings of s (loaded with the overrides sets)
// as "key = value  (unit; origin)" lines, as `migsim scenario explain
// FILE` prints them.
func (s *Spec) WriteSettings(w io.Writer, sets []string) error {
	var b strings.Builder
	src := s.file
	if src == "" {
		src = "the built-in scenario"
	}
	fmt.Fprintf(&b, "# Scenario %s (%s), every key resolved: --set > file > calibration >\n", s.Name, src)
	b.WriteString("# network profile > default. 'migsim scenario explain' describes each key.\n")
	for _, st := range s.Settings(sets) {
		fmt.Fprintf(&b, "%s = %s  (%s; %s)\n", st.Key, st.Value, st.Unit, st.Origin)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResolvedJSON returns the loaded scenario s with every key resolved, as a
// JSON object nested by section: sizes, rates and durations as text in
// scenario syntax ("4GiB", "10Gbit", "300ms"), numbers, booleans and text
// as themselves, lists as arrays. Written as YAML it is a scenario that
// loads to the same values.
func (s *Spec) ResolvedJSON() (json.RawMessage, error) {
	obj := map[string]any{}
	for _, st := range s.Settings(nil) {
		if err := setPath(obj, st.Key, resolvedValue(s, st.Key)); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: encoding its resolved keys: %w", s.Name, err)
	}
	return b, nil
}

// resolvedValue returns the value of key in s for JSON.
func resolvedValue(s *Spec, key string) any {
	v, ok := specValue(s, key)
	if !ok {
		return nil
	}
	switch x := v.Interface().(type) {
	case units.Bytes:
		return x.String()
	case units.BitRate:
		return x.String()
	case time.Duration:
		return x.String()
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Slice:
		if v.Len() == 0 {
			return []any{}
		}
	}
	return formatDefault(v)
}

// setPath sets the dotted key (list items as name[i]) in obj to val,
// creating the objects and arrays on the way.
func setPath(obj map[string]any, key string, val any) error {
	segs := strings.Split(key, ".")
	cur := obj
	for i, seg := range segs {
		name, idx := seg, -1
		if j := strings.IndexByte(seg, '['); j >= 0 && strings.HasSuffix(seg, "]") {
			n, err := strconv.Atoi(seg[j+1 : len(seg)-1])
			if err != nil {
				return fmt.Errorf("key %s: bad index in %q", key, seg)
			}
			name, idx = seg[:j], n
		}
		last := i == len(segs)-1
		if idx < 0 {
			if last {
				cur[name] = val
				return nil
			}
			next, ok := cur[name].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[name] = next
			}
			cur = next
			continue
		}
		list, _ := cur[name].([]any)
		for len(list) <= idx {
			list = append(list, map[string]any{})
		}
		cur[name] = list
		if last {
			list[idx] = val
			return nil
		}
		next, ok := list[idx].(map[string]any)
		if !ok {
			next = map[string]any{}
			list[idx] = next
		}
		cur = next
	}
	return nil
}
