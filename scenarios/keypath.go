package scenarios

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/models"
)

// Key paths: a dotted scenario key ("network.bandwidth",
// "model.downtime_limit", "workload.generator.phases[1].dirty_rate")
// names a field of [Spec], of the model's parameters below model, or of
// an item of a list. This file is the one place that follows them:
//
//   - [Field] gives a key's Go type (descend, by type: also the loader's
//     check of a --set key);
//   - [Get] gives a key's value in a scenario;
//   - [Set] is a key's override, as --set gives it (base.go);
//   - [Walk] visits every key of a scenario with its value: scenario
//     explain ([Keys], [Spec.Settings]) and calibration (applyProfile)
//     read and change the keys through it.
//
// The keys of a section are its struct's mapstructure tags (schema.go);
// the model section's are its name and engine, then the keys of the
// model's parameter struct.

// Field returns the Go type of the dotted scenario key: a field of the
// scenario or, below model, of any registered model's parameters. It is
// an error naming the closest key when no scenario has the key.
func Field(key string) (reflect.Type, error) { return keyType(key) }

// Get returns the value of the dotted key in s (pointers followed), and
// false when s has no such key or a pointer or list on the way is nil or
// too short. The value is s's own: setting it changes s.
func Get(s *Spec, key string) (reflect.Value, bool) { return specValue(s, key) }

// Key is one key of a scenario, as [Walk] visits it.
type Key struct {
	// Path is the dotted key, list items indexed: "network.bandwidth",
	// "workload.generator.phases[0].dirty_rate".
	Path string
	// Model is, for a parameter of the model, the model's name; "" for
	// the scenario's other keys (model.name and model.engine included).
	Model string
	// Type is the Go type of the key's field; for a list item, the list's
	// element type.
	Type reflect.Type
	// Value is the key's value in the walked scenario; for a section,
	// pointers followed. Setting it changes the scenario, except below a
	// section behind a nil pointer (see Nil).
	Value reflect.Value
	// Nil is true for a section behind a nil pointer (workload.generator
	// of a scenario that replays a trace): Value is then its struct's
	// zero value, and its keys are that value's.
	Nil bool

	field field // the Go field; the zero field for a list item
}

// Section reports whether the key's value is a mapping of keys.
func (k Key) Section() bool {
	_, ok := sectionOf(k.Type)
	return ok
}

// List reports whether the key's value is a list of sections, whose items
// [Walk] visits as sections "key[i]".
func (k Key) List() bool {
	_, ok := listOf(k.Type)
	return ok
}

// Doc returns the doc comment of the key's Go field, as `migsim scenario
// explain` prints it; "" for a list item.
func (k Key) Doc() string {
	if k.field.owner == nil {
		return ""
	}
	return fieldDocs[k.field.owner.String()+"."+k.field.name]
}

// Walk calls fn for every key of s in file order, a section's key before
// the keys it holds: the scenario's sections and, in the model section,
// its name and engine, then the parameters of s's model. fn returns
// whether to visit what the key holds: the keys of a section, or the
// items of a list of sections (each a section "key[i]"); it is ignored
// for the other keys.
func Walk(s *Spec, fn func(Key) bool) {
	walkSection("", reflect.ValueOf(s).Elem(), "", fn)
}

// walkParams walks the keys of a model's parameters, params (a pointer to
// the model's parameter struct), as keys of model below prefix.
func walkParams(prefix, model string, params any, fn func(Key) bool) {
	pv := reflect.ValueOf(params)
	if pv.Kind() != reflect.Pointer || pv.IsNil() {
		return
	}
	walkSection(prefix, pv.Elem(), model, fn)
}

// walkSection walks the keys of v, a section's struct value at prefix.
func walkSection(prefix string, v reflect.Value, model string, fn func(Key) bool) {
	for _, f := range fieldsOf(v.Type()) {
		walkKey(Key{Path: joinKey(prefix, f.key), Model: model, Type: f.typ, Value: v.FieldByIndex(f.index), field: f}, fn)
	}
	if v.Type() == modelSpecType {
		m := v.Interface().(ModelSpec)
		walkParams(prefix, m.Name, m.Params, fn)
	}
}

// walkKey visits k and, when fn asks, what it holds.
func walkKey(k Key, fn func(Key) bool) {
	if st, ok := sectionOf(k.Type); ok {
		for k.Value.Kind() == reflect.Pointer {
			if k.Value.IsNil() {
				k.Value, k.Nil = reflect.New(st).Elem(), true
				break
			}
			k.Value = k.Value.Elem()
		}
		if fn(k) {
			walkSection(k.Path, k.Value, k.Model, fn)
		}
		return
	}
	if _, ok := listOf(k.Type); ok {
		if fn(k) {
			for i := range k.Value.Len() {
				walkKey(Key{Path: fmt.Sprintf("%s[%d]", k.Path, i), Model: k.Model, Type: k.Type.Elem(), Value: k.Value.Index(i)}, fn)
			}
		}
		return
	}
	fn(k)
}

// PageRateKey reports whether the dotted key is a rate in pages per
// second (a generator's dirty_rate, read_rate, alloc_rate or free_rate,
// or a phase's), whose result columns are named with _pages_per_s.
func PageRateKey(key string) bool { return isPageRateKey(key) }

// DescribeType says in words what a key of type t wants, as errors do:
// "a size such as 4GiB", "an integer", "a mapping of keys".
func DescribeType(t reflect.Type) string { return describeType(t) }

// DescribeNode says in words what a YAML value is, as errors do: "a
// mapping", "a list", or the scalar quoted.
func DescribeNode(n *yaml.Node) string { return describeNode(n) }

// CheckInt returns an error when n, the value of a key of integer type
// t, is an integer literal outside t's range ("... does not fit"); other
// values are left to decoding.
func CheckInt(n *yaml.Node, t reflect.Type) error { return checkIntScalar(n, t) }

// Suggest returns the known key closest to key when it is close enough
// to be a typo, else "".
func Suggest(key string, known []string) string { return suggest(key, known) }

// ReadFile reads a scenario, sweep or fleet file of at most
// [MaxFileBytes].
func ReadFile(path string) ([]byte, error) { return readFile(path) }

// specValue returns the value of the dotted key in s: a field of the
// scenario, of the model section (name, engine), of the model's
// parameters, or of an item of a list.
func specValue(s *Spec, key string) (reflect.Value, bool) {
	v := reflect.ValueOf(s).Elem()
	for _, seg := range strings.Split(key, ".") {
		name, idx, hasIdx := splitIndex(seg)
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		f, ok := sectionKeys(v.Type(), nil).lookup(name)
		if !ok && v.Type() == modelSpecType {
			v = reflect.ValueOf(s.Model.Params)
			for v.Kind() == reflect.Pointer {
				v = v.Elem()
			}
			if v.Kind() != reflect.Struct {
				return reflect.Value{}, false
			}
			f, ok = sectionKeys(v.Type(), nil).lookup(name)
		}
		if !ok {
			return reflect.Value{}, false
		}
		v = v.FieldByIndex(f.index)
		if hasIdx {
			if v.Kind() != reflect.Slice || idx >= v.Len() {
				return reflect.Value{}, false
			}
			v = v.Index(idx)
		}
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	return v, true
}

// splitIndex splits "phases[2]" into "phases", 2, true.
func splitIndex(seg string) (string, int, bool) {
	name, rest, ok := strings.Cut(seg, "[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return seg, 0, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil || i < 0 {
		return seg, 0, false
	}
	return name, i, true
}

// pathError says where [descend] left a dotted key that is not in the key
// tree, and why.
type pathError struct {
	prefix  string       // the key above the segment that failed ("" at the top)
	value   bool         // prefix is a value, not a section
	name    string       // that segment's key, when prefix is a section
	keys    keySet       // the keys of the section at prefix, for an unknown name
	section reflect.Type // that section's struct type
	notList bool         // name is a key, but not a list of sections to index
}

func (e *pathError) Error() string {
	switch {
	case e.value:
		return fmt.Sprintf("%s is a value, not a section", e.prefix)
	case e.notList:
		return fmt.Sprintf("%s is not a list", joinKey(e.prefix, e.name))
	}
	return unknownKey("unknown key", e.name, e.keys.names()).Error()
}

// descend follows the dotted key down the key tree of a scenario whose
// model's parameters are of type params (nil when the model is unknown:
// the model section then has only its own keys), and returns the Go type
// of the key's value. With indexed, a segment may index a list of
// sections ("phases[1]"). seen, when not nil, is called with the key up
// to each segment that stands in a section, before the segment is looked
// up.
func descend(key string, params reflect.Type, indexed bool, seen func(full string)) (reflect.Type, *pathError) {
	t, prefix := specType, ""
	for _, seg := range strings.Split(key, ".") {
		name, hasIdx := seg, false
		if indexed {
			name, _, hasIdx = splitIndex(seg)
		}
		st, ok := sectionOf(t)
		if !ok {
			return nil, &pathError{prefix: prefix, value: true}
		}
		if seen != nil {
			seen(joinKey(prefix, seg))
		}
		ks := sectionKeys(st, params)
		f, ok := ks.lookup(name)
		if !ok {
			return nil, &pathError{prefix: prefix, name: name, keys: ks, section: st}
		}
		t = f.typ
		if hasIdx {
			et, ok := listOf(t)
			if !ok {
				return nil, &pathError{prefix: prefix, name: name, notList: true}
			}
			t = et
		}
		prefix = joinKey(prefix, seg)
	}
	return t, nil
}

// unknownKey is the error for key, which a section whose keys are names
// does not have: msg, then the closest known key, or the known keys when
// they are few, or where to find them.
func unknownKey(msg, key string, names []string) error {
	switch s := suggest(key, names); {
	case s != "":
		msg += " (did you mean " + s + "?)"
	case len(names) <= 8:
		msg += " (known: " + strings.Join(names, ", ") + ")"
	default:
		msg += " (see migsim scenario explain)"
	}
	return errors.New(msg)
}

// keyType returns the Go type of the dotted scenario key: a field of the
// scenario or, below model, of any registered model's parameters. It is an
// error naming the closest key when no scenario has the key.
func keyType(key string) (reflect.Type, error) {
	var firstErr error
	for _, m := range models.Registry() {
		t, err := descend(key, reflect.TypeOf(m.Params()), true, nil)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	// A model key no model has: suggest from all of them.
	if rest, ok := strings.CutPrefix(key, "model."); ok && !strings.Contains(rest, ".") {
		names := sectionKeys(modelSpecType, nil).names()
		for _, m := range models.Registry() {
			for _, f := range fieldsOf(reflect.TypeOf(m.Params())) {
				if !slices.Contains(names, f.key) {
					names = append(names, f.key)
				}
			}
		}
		msg := "unknown key: no model has it"
		if s := suggest(rest, names); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		return nil, errors.New(msg)
	}
	return nil, firstErr
}

// modelsWithKey returns the registered models other than model whose
// parameters have key, directly below model.
func modelsWithKey(key, model string) []string {
	var out []string
	for _, m := range models.Registry() {
		if m.Name == model {
			continue
		}
		if _, ok := sectionKeys(reflect.TypeOf(m.Params()), nil).lookup(key); ok {
			out = append(out, m.Name)
		}
	}
	return out
}
