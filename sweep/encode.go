package sweep

import (
	"reflect"

	"github.com/migsim/migsim/models"
)

// A result line of results.jsonl holds a point's result as migsim run -o
// json prints it, or, without detail (the default: see [Options].Detail),
// the same but for the per-round detail, rounds_detail: most of a line's
// bytes and of the time writing it takes, and no table column.

// briefResult is models.Result's JSON without rounds_detail: Result's
// fields in order with their tags, rounds_detail left out, and each
// metric that may not apply (models.MayNotApply) a pointer, nil where it
// does not apply (Result.Applies), as Result.MarshalJSON writes them:
// null, or left out for an omitempty field.
var briefResult, briefFields = func() (reflect.Type, []int) {
	t := reflect.TypeFor[models.Result]()
	var fields []reflect.StructField
	var from []int
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "rounds_detail" {
			continue
		}
		if name != "" && models.MayNotApply(name) && f.Type.Kind() != reflect.Pointer {
			f.Type = reflect.PointerTo(f.Type)
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		from = append(from, i)
	}
	return reflect.StructOf(fields), from
}()

// lineResult returns what a result line holds of res: res itself with
// detail, else its brief form (see briefResult).
func lineResult(res *models.Result, detail bool) any {
	if detail {
		return res
	}
	src := reflect.ValueOf(res).Elem()
	v := reflect.New(briefResult).Elem()
	for i, j := range briefFields {
		dst, sf := v.Field(i), src.Field(j)
		if dst.Type() == sf.Type() {
			dst.Set(sf)
			continue
		}
		if res.Applies(jsonName(src.Type().Field(j))) {
			p := reflect.New(sf.Type())
			p.Elem().Set(sf)
			dst.Set(p)
		}
	}
	return v.Interface()
}
