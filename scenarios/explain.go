package scenarios

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

//go:generate go test . -run TestFieldDocs -update

// KeyDoc documents one scenario key.
type KeyDoc struct {
	// Key is the dotted key, e.g. "model.downtime_limit".
	Key string
	// Model is, for a model parameter, the model it belongs to; "" for
	// the other keys.
	Model string
	// Section is true for a key whose value is a mapping of further keys.
	Section bool
	// Default is the built-in default in scenario syntax, e.g. "300ms";
	// "" for a section.
	Default string
	// Unit says what the value is: "bytes", "bits/s", "duration",
	// "integer", "number", "bool", "text", "list" or "section".
	Unit string
	// Doc is the doc comment of the key's Go field.
	Doc string
}

// Keys returns every scenario key with its default, unit and doc, in file
// order: the keys of the built-in scenario, then the parameters of each
// registered model (model.name picks one). Lists of sections
// (workload.generator.phases) are one key; their items take the keys of
// their section.
func Keys() []KeyDoc {
	var out []KeyDoc
	add := func(k Key) bool {
		kd := KeyDoc{Key: k.Path, Model: k.Model, Doc: k.Doc()}
		if k.Section() {
			kd.Section, kd.Unit = true, "section"
			out = append(out, kd)
			return true
		}
		kd.Unit, kd.Default = unitOf(k.Type), formatDefault(k.Value)
		out = append(out, kd)
		return false
	}
	// The built-in scenario's keys, then every model's parameters.
	Walk(DefaultSpec(), func(k Key) bool { return k.Model == "" && add(k) })
	for _, m := range models.Registry() {
		walkParams("model", m.Name, m.Params(), add)
	}
	return out
}

// unitOf names what a value of type t is.
func unitOf(t reflect.Type) string {
	switch t {
	case bytesType:
		return "bytes"
	case rateType:
		return "bits/s"
	case durationType:
		return "duration"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "text"
	case reflect.Slice:
		return "list"
	}
	return t.String()
}

// formatDefault prints v in scenario syntax.
func formatDefault(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case units.Bytes:
		return x.String()
	case units.BitRate:
		return x.String()
	case time.Duration:
		return x.String()
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice:
		if v.Len() == 0 {
			return "[]"
		}
	}
	return fmt.Sprint(v.Interface())
}

// Explain writes every scenario key with its default, unit and doc, as
// `migsim scenario explain` prints it.
func Explain(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Scenario keys with their built-in defaults (see migsim run with no file).\n")
	b.WriteString("# Precedence: --set key=value > scenario file > default. Sizes take units\n")
	b.WriteString("# (4GiB; a bare number is bytes), rates too (10Gbit, 40MiB/s; a bare number\n")
	b.WriteString("# is bits/s), durations must (300ms, 10s; only 0 may be bare). The value after\n")
	b.WriteString("# = is the built-in scenario's; a default named in the text is that of the\n")
	b.WriteString("# Go type, used where the built-in scenario does not set the key.\n")
	model := ""
	for _, k := range Keys() {
		if k.Model != model {
			model = k.Model
			fmt.Fprintf(&b, "\n# Parameters of model %s (model.name: %s)\n", model, model)
		}
		b.WriteByte('\n')
		if k.Section {
			fmt.Fprintf(&b, "%s:\n", k.Key)
		} else {
			fmt.Fprintf(&b, "%s = %s  (%s)\n", k.Key, k.Default, k.Unit)
		}
		wrap(&b, k.Doc, "    ", 80)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes text in lines of at most width columns, each after indent.
func wrap(b *strings.Builder, text, indent string, width int) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
}
