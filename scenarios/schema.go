package scenarios

import (
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/migsim/migsim/internal/editdist"
)

// field is one key of a scenario section, read from a struct's
// mapstructure tags.
type field struct {
	key   string       // the scenario key, e.g. "downtime_limit"
	name  string       // the Go field name, e.g. "DowntimeLimit"
	typ   reflect.Type // the field's type
	index []int        // the field's index path in its section's struct (reflect.Value.FieldByIndex)
	owner reflect.Type // the struct that declares the field (a part, for a part's key)
}

var (
	specType      = reflect.TypeFor[Spec]()
	modelSpecType = reflect.TypeFor[ModelSpec]()
)

// fieldsOf returns the keys of struct type t (or of the struct t points
// to) in declaration order. Fields without a mapstructure tag, or tagged
// "-", are not keys. An embedded struct tagged ",squash" (a part of a
// model's parameters, see models.Parts) is no key of its own: its keys
// are t's, in its place.
func fieldsOf(t reflect.Type) []field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if f.Anonymous && tag == "" && opts == "squash" {
			for _, sf := range fieldsOf(f.Type) {
				sf.index = append([]int{i}, sf.index...)
				out = append(out, sf)
			}
			continue
		}
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		out = append(out, field{key: tag, name: f.Name, typ: f.Type, index: []int{i}, owner: t})
	}
	out = slices.Clip(out) // a caller's append copies
	fieldCache.Store(t, out)
	return out
}

// fieldCache holds fieldsOf's answer for each struct type: every load
// walks the same few types (a sweep loads thousands of scenarios).
var fieldCache sync.Map // reflect.Type → []field

// sectionOf reports whether a value of type t is a section (a mapping of
// keys) and returns its struct type.
func sectionOf(t reflect.Type) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, t.Kind() == reflect.Struct
}

// listOf reports whether a value of type t is a list of sections and
// returns the sections' struct type.
func listOf(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Slice {
		return nil, false
	}
	return sectionOf(t.Elem())
}

// keySet is the set of keys one section accepts.
type keySet struct {
	fields []field
}

// sectionKeys returns the keys of the section of struct type t. The model
// section (ModelSpec) takes its name key plus the keys of params, the
// chosen model's parameter type; params is nil when the model is unknown.
func sectionKeys(t reflect.Type, params reflect.Type) keySet {
	fs := fieldsOf(t)
	if t == modelSpecType && params != nil {
		fs = append(fs, fieldsOf(params)...)
	}
	return keySet{fields: fs}
}

func (k keySet) lookup(key string) (field, bool) {
	for _, f := range k.fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func (k keySet) names() []string {
	out := make([]string, len(k.fields))
	for i, f := range k.fields {
		out[i] = f.key
	}
	return out
}

// suggest returns the known key closest to key when it is close enough
// to be a typo (edit distance at most 2, or 3 for long keys), else "".
func suggest(key string, known []string) string {
	best, bestD := "", 1<<30
	limit := 2
	if len(key) >= 10 {
		limit = 3
	}
	sorted := slices.Clone(known)
	slices.Sort(sorted)
	for _, k := range sorted {
		if d := editdist.Distance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= limit && bestD < len(key) {
		return best
	}
	return ""
}
