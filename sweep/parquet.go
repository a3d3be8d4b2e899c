package sweep

import (
	"fmt"
	"io"
	"reflect"

	"github.com/parquet-go/parquet-go"

	"github.com/migsim/migsim/scenarios"
)

// parquetWriter writes the table as a Parquet file: one required column
// per table column (int64, double, boolean or UTF-8 string), Snappy
// compressed, one row group.
type parquetWriter struct {
	typ reflect.Type // a struct with one field per column, in order
	w   *parquet.Writer
	row reflect.Value
}

func newParquetWriter(w io.Writer, t *table) (*parquetWriter, error) {
	fields := make([]reflect.StructField, len(t.columns))
	for i, c := range t.columns {
		var ft reflect.Type
		switch c.Type {
		case scenarios.ColumnInt:
			ft = reflect.TypeFor[int64]()
		case scenarios.ColumnFloat:
			ft = reflect.TypeFor[float64]()
		case scenarios.ColumnBool:
			ft = reflect.TypeFor[bool]()
		default:
			ft = reflect.TypeFor[string]()
		}
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("C%d", i),
			Type: ft,
			Tag:  reflect.StructTag(fmt.Sprintf(`parquet:%q`, c.Name)),
		}
	}
	typ := reflect.StructOf(fields)
	schema := parquet.NewSchema("results", parquet.SchemaOf(reflect.New(typ).Interface()))
	pw := &parquetWriter{
		typ: typ,
		w:   parquet.NewWriter(w, schema, parquet.Compression(&parquet.Snappy)),
		row: reflect.New(typ),
	}
	return pw, nil
}

func (pw *parquetWriter) write(vals []any) error {
	r := pw.row.Elem()
	for i, v := range vals {
		f := r.Field(i)
		switch x := v.(type) {
		case int64:
			f.SetInt(x)
		case float64:
			f.SetFloat(x)
		case bool:
			f.SetBool(x)
		case string:
			f.SetString(x)
		default:
			return fmt.Errorf("parquet: column %d: unexpected %T", i, v)
		}
	}
	return pw.w.Write(pw.row.Interface())
}

func (pw *parquetWriter) close() error { return pw.w.Close() }
