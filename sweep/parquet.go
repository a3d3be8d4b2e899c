package sweep

import (
	"fmt"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// parquetWriter writes the table as a Parquet file: one column per table
// column (int64, double, boolean or UTF-8 string), required, or optional
// (null where the metric does not apply) for an Optional column; Snappy
// compressed, in row groups of parquetGroupRows rows (the last one
// shorter), so that writing the table holds at most one group.
type parquetWriter struct {
	w        *parquet.GenericWriter[any]
	row      parquet.Row
	optional []bool // per column
}

// parquetGroupRows is the number of rows of a Parquet row group: a sweep
// of up to 16,384 points is one group; a larger one is not held whole
// (about 600 bytes a row) while it is written.
const parquetGroupRows = 1 << 14

func newParquetWriter(w io.Writer, t *table) (*parquetWriter, error) {
	fields := make([]reflect.StructField, len(t.columns))
	for i, c := range t.columns {
		var ft reflect.Type
		switch c.Type {
		case ColumnInt:
			ft = reflect.TypeFor[int64]()
		case ColumnFloat:
			ft = reflect.TypeFor[float64]()
		case ColumnBool:
			ft = reflect.TypeFor[bool]()
		default:
			ft = reflect.TypeFor[string]()
		}
		tag := c.Name
		if c.Optional {
			tag += ",optional"
		}
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("C%d", i),
			Type: ft,
			Tag:  reflect.StructTag(fmt.Sprintf(`parquet:%q`, tag)),
		}
	}
	// A struct type gives the schema its column order.
	typ := reflect.StructOf(fields)
	schema := parquet.NewSchema("results", parquet.SchemaOf(reflect.New(typ).Interface()))
	pw := &parquetWriter{
		w:        parquet.NewGenericWriter[any](w, schema, parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(parquetGroupRows)),
		row:      make(parquet.Row, len(t.columns)),
		optional: make([]bool, len(t.columns)),
	}
	for i, c := range t.columns {
		pw.optional[i] = c.Optional
	}
	return pw, nil
}

func (pw *parquetWriter) write(vals []any) error {
	for i, v := range vals {
		var pv parquet.Value
		switch x := v.(type) {
		case nil:
			if !pw.optional[i] {
				return fmt.Errorf("parquet: column %d: no value in a required column", i)
			}
			pw.row[i] = parquet.NullValue().Level(0, 0, i)
			continue
		case int64:
			pv = parquet.Int64Value(x)
		case float64:
			pv = parquet.DoubleValue(x)
		case bool:
			pv = parquet.BooleanValue(x)
		case string:
			pv = parquet.ByteArrayValue([]byte(x))
		default:
			return fmt.Errorf("parquet: column %d: unexpected %T", i, v)
		}
		def := 0
		if pw.optional[i] {
			def = 1
		}
		pw.row[i] = pv.Level(0, def, i)
	}
	_, err := pw.w.WriteRows([]parquet.Row{pw.row})
	return err
}

func (pw *parquetWriter) close() error { return pw.w.Close() }
