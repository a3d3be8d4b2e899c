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
	def := DefaultSpec()
	var out []KeyDoc
	walkKeys("", reflect.ValueOf(def).Elem(), "", &out)
	for _, m := range models.Registry() {
		params := reflect.ValueOf(m.Params()).Elem()
		walkKeys("model", params, m.Name, &out)
	}
	return out
}

// walkKeys appends the keys of struct value v, the section at prefix.
func walkKeys(prefix string, v reflect.Value, model string, out *[]KeyDoc) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		kd := KeyDoc{
			Key:   joinKey(prefix, f.key),
			Model: model,
			Doc:   fieldDocs[f.owner.String()+"."+f.name],
		}
		if st, ok := sectionOf(f.typ); ok {
			kd.Section, kd.Unit = true, "section"
			*out = append(*out, kd)
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					fv = reflect.New(st)
				}
				fv = fv.Elem()
			}
			walkKeys(kd.Key, fv, model, out)
			continue
		}
		kd.Unit, kd.Default = unitOf(f.typ), formatDefault(fv)
		*out = append(*out, kd)
	}
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
