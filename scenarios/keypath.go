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
// an item of a list. [Field] gives a key's type, [Get] its value in a
// scenario; the sweep package checks and types its axes with them.

// Field returns the Go type of the dotted scenario key: a field of the
// scenario or, below model, of any registered model's parameters. It is
// an error naming the closest key when no scenario has the key.
func Field(key string) (reflect.Type, error) { return keyType(key) }

// Get returns the value of the dotted key in s (pointers followed), and
// false when s has no such key or a pointer or list on the way is nil or
// too short.
func Get(s *Spec, key string) (reflect.Value, bool) { return specValue(s, key) }

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
// scenario, of the model's parameters, or of an item of a list.
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
		if v.Type() == modelSpecType && name != "name" {
			v = reflect.ValueOf(s.Model.Params)
			for v.Kind() == reflect.Pointer {
				v = v.Elem()
			}
		}
		found := false
		for _, f := range fieldsOf(v.Type()) {
			if f.key == name {
				v, found = v.FieldByIndex(f.index), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
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

// keyType returns the Go type of the dotted scenario key: a field of the
// scenario or, below model, of any registered model's parameters. It is an
// error naming the closest key when no scenario has the key.
func keyType(key string) (reflect.Type, error) {
	var firstErr error
	for _, params := range modelParamTypes() {
		t, err := keyTypeIn(key, params)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	// A model key no model has: suggest from all of them.
	if rest, ok := strings.CutPrefix(key, "model."); ok && !strings.Contains(rest, ".") {
		names := []string{"name"}
		for _, params := range modelParamTypes() {
			for _, f := range fieldsOf(params) {
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

func keyTypeIn(key string, params reflect.Type) (reflect.Type, error) {
	t, prefix := specType, ""
	for _, seg := range strings.Split(key, ".") {
		name, _, hasIdx := splitIndex(seg)
		st, ok := sectionOf(t)
		if !ok {
			return nil, fmt.Errorf("%s is a value, not a section", prefix)
		}
		ks := sectionKeys(st, params)
		f, ok := ks.lookup(name)
		if !ok {
			names := ks.names()
			msg := "unknown key"
			if s := suggest(name, names); s != "" {
				msg += " (did you mean " + s + "?)"
			} else if len(names) <= 8 {
				msg += " (known: " + strings.Join(names, ", ") + ")"
			} else {
				msg += " (see migsim scenario explain)"
			}
			return nil, errors.New(msg)
		}
		t = f.typ
		if hasIdx {
			et, ok := listOf(t)
			if !ok {
				return nil, fmt.Errorf("%s is not a list", joinKey(prefix, name))
			}
			t = et
		}
		prefix = joinKey(prefix, seg)
	}
	return t, nil
}

// modelParamTypes returns the parameter type of every registered model.
func modelParamTypes() []reflect.Type {
	var out []reflect.Type
	for _, m := range models.Registry() {
		out = append(out, reflect.TypeOf(m.Params()))
	}
	return out
}
