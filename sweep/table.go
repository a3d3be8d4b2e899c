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

// metric is a column taken from a models.Result.
type metric struct {
	Column
	index []int  // field index path in models.Result
	key   string // the top-level JSON key, for Optional columns
}

var resultType = reflect.TypeFor[models.Result]()

// metrics returns the table columns of models.Result, in field order:
// nested structs flattened with "_", rounds_detail left out, and so are
// calibration (a scenario key, an axis column when a sweep varies it, so
// that tables without it keep their columns) and migsim_version (in the
// manifest and each journal line; a column would make rows from two
// builds of a resumed sweep differ in text).
func metrics() []metric {
	var out []metric
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "" || name == "-" || name == "rounds_detail" || name == "calibration" || name == "migsim_version" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			full := prefix + name
			var typ ColumnType
			switch {
			case f.Type == reflect.TypeFor[models.StopReason]():
				typ = ColumnText
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, full+"_", idx)
				continue
			default:
				switch f.Type.Kind() {
				case reflect.Bool:
					typ = ColumnBool
				case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
					typ = ColumnInt
				case reflect.Float32, reflect.Float64:
					typ = ColumnFloat
				case reflect.String:
					typ = ColumnText
				default:
					continue // slices and maps do not fit a flat table
				}
			}
			// Only top-level keys can be not applicable.
			optional := prefix == "" && models.MayNotApply(name)
			out = append(out, metric{Column: Column{Name: full, Type: typ, Optional: optional}, index: idx, key: name})
		}
	}
	walk(resultType, "", nil)
	return out
}

// value returns the metric of res as an int64, float64, bool or string,
// or nil when it does not apply to res (models.Result.Applies).
func (m metric) value(res *models.Result) any {
	if m.Optional && !res.Applies(m.key) {
		return nil
	}
	v := reflect.ValueOf(res).Elem().FieldByIndex(m.index)
	if sr, ok := v.Interface().(models.StopReason); ok {
		return sr.String()
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return v.String()
}

// table is the layout of the result table of one sweep.
type table struct {
	axes    []AxisInfo
	metrics []metric
	columns []Column // point, axes, metrics
}

func newTable(axes []AxisInfo) *table {
	t := &table{axes: axes}
	t.columns = append(t.columns, Column{Name: "point", Type: ColumnInt})
	taken := map[string]bool{"point": true}
	for _, a := range axes {
		t.columns = append(t.columns, Column{Name: a.Column, Type: a.Type})
		taken[a.Column] = true
	}
	for _, m := range metrics() {
		if taken[m.Name] {
			continue
		}
		t.metrics = append(t.metrics, m)
		t.columns = append(t.columns, m.Column)
	}
	return t
}

// Columns returns the columns of the result table of a sweep with the
// given axes: "point", the axes' columns, then the metrics.
func Columns(axes []Axis) []Column {
	return newTable(axisInfos(axes)).columns
}

// values returns the table row of a journal line.
func (t *table) values(r *row) ([]any, error) {
	out := make([]any, 0, len(t.columns))
	out = append(out, int64(r.Point))
	axes, err := r.axisValues(t.axes)
	if err != nil {
		return nil, err
	}
	out = append(out, axes...)
	for _, m := range t.metrics {
		out = append(out, m.value(r.Result))
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

// axisValues decodes the row's axes in the order of axes, typed.
func (r *row) axisValues(axes []AxisInfo) ([]any, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Axes, &m); err != nil {
		return nil, fmt.Errorf("point %d: axes: %w", r.Point, err)
	}
	out := make([]any, len(axes))
	for i, a := range axes {
		raw, ok := m[a.Column]
		if !ok {
			return nil, fmt.Errorf("point %d: axes lack column %s", r.Point, a.Column)
		}
		v, err := decodeAxis(raw, a.Type)
		if err != nil {
			return nil, fmt.Errorf("point %d: axis %s: %w", r.Point, a.Column, err)
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
