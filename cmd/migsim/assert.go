package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/spf13/cobra"
)

// Assertions (--assert EXPR) are boolean expressions over the keys of a
// result's JSON object, evaluated by expr-lang/expr: for example
// "completed && downtime_s <= 0.3" or "total_time_s < 60". Keys are the
// JSON keys (nested ones with dots: pages.normal, rounds_detail[0].bytes);
// a key the result leaves out or writes as null is nil. Any command that
// prints a JSON object can take them: it compiles the flags once against
// a sample of its object ([jsonSample]) and checks each object it
// produces with [assertions.check].

// assertFlag registers --assert on cmd, appending to exprs.
func assertFlag(cmd *cobra.Command, exprs *[]string, what string) {
	cmd.Flags().StringArrayVar(exprs, "assert", nil,
		"fail with exit status 4 unless this expression over the JSON keys of "+what+" is true, "+
			`e.g. "completed && downtime_s <= 0.3" (repeatable; see 'migsim run --help')`)
}

// assertHelp is the help text of --assert, for the Long of the commands
// that take it.
const assertHelp = `Assertions (--assert EXPR, repeatable) check the result for CI: each EXPR
is a boolean expression (expr-lang syntax) over the result's JSON keys, e.g.
  --assert 'completed && downtime_s <= 0.3'
  --assert 'total_time_s < 60' --assert 'stop_reason != "max_time"'
  --assert 'pages.normal < 2 * pages.total && len(rounds_detail) <= 10'
Operators: == != < <= > >= && || ! + - * / % in, and functions such as
len, abs, max, min. A key that does not apply to the result is null (nil):
compare it only behind a guard (completed && ...), else the assertion fails
saying which key was null. An expression that does not parse, names an
unknown key or is not boolean is a usage error (exit 2) before anything
runs; an assertion that is false fails the command with exit status 4
after the output is written.`

// assertion is one compiled --assert expression.
type assertion struct {
	src  string
	prog *vm.Program
	// idents are the names the expression reads.
	idents []string
}

// assertions are the --assert expressions of a command.
type assertions []assertion

// compileAssertions compiles exprs against sample, an object of the kind
// the command will check (see [jsonSample]): an unknown key, a syntax
// error or a non-boolean expression is a usage error naming the
// expression.
func compileAssertions(exprs []string, sample map[string]any) (assertions, error) {
	var out assertions
	for _, src := range exprs {
		if strings.TrimSpace(src) == "" {
			return nil, usageErrorf("--assert: empty expression")
		}
		prog, err := expr.Compile(src, expr.Env(sample), expr.AsBool())
		if err != nil {
			return nil, usageErrorf("--assert %q: %s", src, firstLine(err.Error()))
		}
		a := assertion{src: src, prog: prog}
		node := prog.Node()
		ast.Walk(&node, identVisitor(func(name string) {
			if !slices.Contains(a.idents, name) {
				a.idents = append(a.idents, name)
			}
		}))
		out = append(out, a)
	}
	return out, nil
}

// identVisitor calls its function with each identifier an expression
// names.
type identVisitor func(name string)

// Visit implements ast.Visitor.
func (f identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		f(id.Value)
	}
}

// check evaluates every assertion on obj, a result's JSON object as
// map[string]any, whose keys missing from obj but present in sample are
// taken as nil. It returns one line per assertion that does not hold: the
// expression and why (false, or the error and the null keys it read).
func (as assertions) check(obj, sample map[string]any) []string {
	if len(as) == 0 {
		return nil
	}
	env := make(map[string]any, len(sample))
	for k := range sample {
		env[k] = nil
	}
	for k, v := range obj {
		env[k] = v
	}
	var failed []string
	for _, a := range as {
		out, err := expr.Run(a.prog, env)
		if err == nil {
			if ok, _ := out.(bool); ok {
				continue
			}
			failed = append(failed, fmt.Sprintf("%s is false", a.src))
			continue
		}
		msg := fmt.Sprintf("%s cannot be evaluated: %s", a.src, firstLine(err.Error()))
		var nulls []string
		for _, id := range a.idents {
			if v, ok := env[id]; ok && v == nil {
				nulls = append(nulls, id)
			}
		}
		if len(nulls) > 0 {
			msg += fmt.Sprintf(" (%s null: not applicable to this result; guard it, e.g. completed && ...)", strings.Join(nulls, ", "))
		}
		failed = append(failed, msg)
	}
	return failed
}

// firstLine returns s up to its first newline: expr's errors add the
// expression and a caret on further lines.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// jsonObject returns v's JSON encoding decoded as an object: the
// environment of an assertion.
func jsonObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// jsonSample returns an object with every JSON key of struct type T,
// omitempty ones included, each holding a zero value of the type JSON
// decodes it to (float64, bool, string, []any, map[string]any), so that
// assertions compile against every key a T can have and are type-checked.
func jsonSample[T any]() map[string]any {
	return sampleOf(reflect.TypeFor[T]())
}

func sampleOf(t reflect.Type) map[string]any {
	out := map[string]any{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range sampleOf(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = sampleValue(f.Type)
	}
	return out
}

var (
	textMarshaler = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
	rawMessage    = reflect.TypeFor[json.RawMessage]()
)

// sampleValue returns the zero value JSON decodes a t to.
func sampleValue(t reflect.Type) any {
	if t == rawMessage {
		return map[string]any{}
	}
	if t.Implements(textMarshaler) {
		return ""
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sampleValue(t.Elem())
	case reflect.Bool:
		return false
	case reflect.String:
		return ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return 0.0
	case reflect.Slice, reflect.Array:
		return []any{}
	case reflect.Struct:
		return sampleOf(t)
	}
	return map[string]any{}
}
