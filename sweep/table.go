package sweep

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/migsim/migsim/models"
)

// Column is one column of the result table.
type Column struct {
	// Name is the column's name, with its unit as a suffix where it has one.
	Name string
	// Type is the type of its values.
	Type ColumnType
	// Optional is true for a metric that may not apply to a point
	// (models.MayNotApply): its cell is then empty in CSV, null in
	// Parquet.
	Optional bool
}

// metric is a column taken from a point's result.
type metric struct {
	Column
	field int   // the top-level field of the result: an index into its view
	index []int // the field index path below it; nil for the field itself
}

// resultShape is what the points of a sweep produce, as a type whose
// fields are the JSON keys of a line's result: its table columns, and
// the view a line's result decodes into, which tells a key that does not
// apply (null or left out) from one that is 0.
type resultShape struct {
	typ      reflect.Type
	optional func(key string) bool // the top-level keys that may not apply
	detail   []string              // the keys left out of the table (and, without detail, of the lines)
	metrics  []metric
	view     reflect.Type // a struct of the table's top-level fields, each a pointer
	fields   []int        // view field i is typ's field fields[i]
}

// scenarioShape is the shape of scenario points: models.Result.
var scenarioShape = newShape(reflect.TypeFor[models.Result](), models.MayNotApply, "rounds_detail")

// newShape describes the JSON of t, whose top-level keys optional may
// not apply and whose keys detail are not table columns.
func newShape(t reflect.Type, optional func(string) bool, detail ...string) *resultShape {
	sh := &resultShape{typ: t, optional: optional, detail: detail}
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" || sh.isDetail(name) {
			continue
		}
		ft := f.Type
		if ft.Kind() != reflect.Pointer {
			ft = reflect.PointerTo(ft)
		}
		top := len(fields)
		fields = append(fields, reflect.StructField{Name: f.Name, Type: ft, Tag: reflect.StructTag(fmt.Sprintf(`json:%q`, name))})
		sh.fields = append(sh.fields, i)
		sh.walk(f.Type, name, top, nil, optional(name))
	}
	sh.view = reflect.StructOf(fields)
	return sh
}

// jsonName returns the JSON key of field f, "" when JSON leaves it out.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	return name
}

func (sh *resultShape) isDetail(key string) bool {
	for _, d := range sh.detail {
		if d == key {
			return true
		}
	}
	return false
}

// walk adds the columns of a field of type t named name (its top-level
// field top, at index below it): nested structs are flattened with "_"
// (pages_total), a pointer to one gives optional columns; calibration (a
// scenario key, an axis column when a sweep varies it, so that tables
// without it keep their columns) and migsim_version (in the manifest and
// each journal line; a column would make rows from two builds of a
// resumed sweep differ in text) are left out, as are maps and lists
// other than of text.
func (sh *resultShape) walk(t reflect.Type, name string, top int, index []int, optional bool) {
	if index == nil && (name == "calibration" || name == "migsim_version") {
		return
	}
	var typ ColumnType
	switch {
	case t == reflect.TypeFor[models.StopReason]():
		typ = ColumnText
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		sh.walk(t.Elem(), name, top, index, true)
		return
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			sub := jsonName(f)
			if sub == "" {
				continue
			}
			sh.walk(f.Type, name+"_"+sub, top, append(append([]int(nil), index...), i), optional)
		}
		return
	default:
		switch t.Kind() {
		case reflect.Bool:
			typ = ColumnBool
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			typ = ColumnInt
		case reflect.Float32, reflect.Float64:
			typ = ColumnFloat
		case reflect.String:
			typ = ColumnText
		case reflect.Slice:
			if t.Elem().Kind() != reflect.String {
				return // lists of sections do not fit a flat table
			}
			typ = ColumnText // names, separated by spaces
		default:
			return
		}
	}
	sh.metrics = append(sh.metrics, metric{Column: Column{Name: name, Type: typ, Optional: optional}, field: top, index: index})
}

// value returns the metric of v, a decoded view of a result, as an
// int64, float64, bool or string, or nil when it does not apply (null or
// left out, for an Optional column; 0 otherwise).
func (m metric) value(v reflect.Value) any {
	f := v.Field(m.field)
	for _, i := range m.index {
		for f.Kind() == reflect.Pointer {
			if f.IsNil() {
				if m.Optional {
					return nil // a section that does not apply (planner)
				}
				f = reflect.Zero(f.Type().Elem())
			} else {
				f = f.Elem()
			}
		}
		f = f.Field(i)
	}
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			if m.Optional {
				return nil
			}
			f = reflect.Zero(f.Type().Elem())
		} else {
			f = f.Elem()
		}
	}
	if sr, ok := f.Interface().(models.StopReason); ok {
		return sr.String()
	}
	switch f.Kind() {
	case reflect.Bool:
		return f.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return f.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(f.Uint())
	case reflect.Float32, reflect.Float64:
		return f.Float()
	case reflect.Slice:
		return strings.Join(f.Interface().([]string), " ")
	}
	return f.String()
}

// table is the layout of the result table of one sweep.
type table struct {
	shape   *resultShape
	axes    []AxisInfo
	metrics []metric
	columns []Column // point, axes, metrics
	line    reflect.Type
}

func newTable(shape *resultShape, axes []AxisInfo) *table {
	t := &table{shape: shape, axes: axes}
	t.columns = append(t.columns, Column{Name: "point", Type: ColumnInt})
	taken := map[string]bool{"point": true}
	for _, a := range axes {
		t.columns = append(t.columns, Column{Name: a.Column, Type: a.Type})
		taken[a.Column] = true
	}
	for _, m := range shape.metrics {
		if taken[m.Name] {
			continue
		}
		t.metrics = append(t.metrics, m)
		t.columns = append(t.columns, m.Column)
	}
	// A journal line: the row's keys, its result decoded into the view.
	t.line = reflect.StructOf([]reflect.StructField{
		{Name: "Point", Type: reflect.TypeFor[int](), Tag: `json:"point"`},
		{Name: "Axes", Type: reflect.TypeFor[json.RawMessage](), Tag: `json:"axes"`},
		{Name: "Result", Type: reflect.PointerTo(shape.view), Tag: `json:"result"`},
	})
	return t
}

// Columns returns the columns of the result table of a sweep of
// scenarios with the given axes: "point", the axes' columns, then the
// metrics.
func Columns(axes []Axis) []Column {
	return newTable(scenarioShape, axisInfos(axes)).columns
}

// FleetColumns returns the columns of the result table of a sweep over
// fleets with the given axes: "point", the axes' columns, then the
// fleet summary's metrics.
func FleetColumns(axes []Axis) []Column {
	return newTable(fleetShape, axisInfos(axes)).columns
}

// values returns the table row of a journal line (of file, for errors).
func (t *table) values(line []byte, file string, off int64) ([]any, error) {
	lv := reflect.New(t.line)
	if err := json.Unmarshal(line, lv.Interface()); err != nil {
		return nil, fmt.Errorf("%s at offset %d: %w", file, off, err)
	}
	point := int(lv.Elem().Field(0).Int())
	res := lv.Elem().Field(2)
	if res.IsNil() {
		return nil, fmt.Errorf("%s at offset %d: point %d has no result", file, off, point)
	}
	out := make([]any, 0, len(t.columns))
	out = append(out, int64(point))
	axes, err := axisValues(lv.Elem().Field(1).Interface().(json.RawMessage), point, t.axes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	out = append(out, axes...)
	view := res.Elem()
	for _, m := range t.metrics {
		out = append(out, m.value(view))
	}
	return out, nil
}

// formatValue formats a table value for CSV: integers in decimal, floats
// in the shortest form that reads back exactly ('g'), booleans as true or
// false, a metric that does not apply (nil) as an empty cell.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// csvWriter writes the table as CSV.
type csvWriter struct {
	t   *table
	w   *csv.Writer
	rec []string
}

func newCSVWriter(w io.Writer, t *table) (*csvWriter, error) {
	cw := &csvWriter{t: t, w: csv.NewWriter(w), rec: make([]string, len(t.columns))}
	for i, c := range t.columns {
		cw.rec[i] = c.Name
	}
	return cw, cw.w.Write(cw.rec)
}

func (cw *csvWriter) write(vals []any) error {
	for i, v := range vals {
		cw.rec[i] = formatValue(v)
	}
	return cw.w.Write(cw.rec)
}

func (cw *csvWriter) close() error {
	cw.w.Flush()
	return cw.w.Error()
}

// axisValues decodes a line's axes in the order of axes, typed.
func axisValues(raw json.RawMessage, point int, axes []AxisInfo) ([]any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("point %d: axes: %w", point, err)
	}
	out := make([]any, len(axes))
	for i, a := range axes {
		raw, ok := m[a.Column]
		if !ok {
			return nil, fmt.Errorf("point %d: axes lack column %s", point, a.Column)
		}
		v, err := decodeAxis(raw, a.Type)
		if err != nil {
			return nil, fmt.Errorf("point %d: axis %s: %w", point, a.Column, err)
		}
		out[i] = v
	}
	return out, nil
}

func decodeAxis(raw json.RawMessage, typ ColumnType) (any, error) {
	switch typ {
	case ColumnInt:
		var v int64
		err := json.Unmarshal(raw, &v)
		return v, err
	case ColumnFloat:
		var v float64
		err := json.Unmarshal(raw, &v)
		return v, err
	case ColumnBool:
		var v bool
		err := json.Unmarshal(raw, &v)
		return v, err
	}
	var v string
	err := json.Unmarshal(raw, &v)
	return v, err
}

// encodeAxes encodes the axis columns of a point as a JSON object in axis
// order.
func encodeAxes(axes []AxisInfo, vals []any) (json.RawMessage, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, a := range axes {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(a.Column)
		b.Write(k)
		b.WriteByte(':')
		v := vals[i]
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("axis %s: %v is not a finite number", a.Column, f)
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("axis %s: %w", a.Column, err)
		}
		b.Write(j)
	}
	b.WriteByte('}')
	return json.RawMessage(b.String()), nil
}
