package scenarios

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/units"
)

// decode decodes input onto out, a pointer, with the units hook and no
// weak typing ("yes" is not a bool, 2.5 not an integer). Errors name keys
// below root. Unknown keys were reported before decoding; the model's
// parameters are decoded apart, so Spec ignores them.
func decode(input map[string]any, out any, root string) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.DecodeHookFuncType(unitsHook),
		WeaklyTypedInput: false,
		ErrorUnused:      root != "",
		RootName:         root,
		TagName:          "mapstructure",
		Result:           out,
	})
	if err != nil {
		return err
	}
	return dec.Decode(input)
}

// decodeErrors records the errors of a mapstructure decode, each at its
// key (mapstructure's field path).
func (l *loader) decodeErrors(err error) {
	switch e := err.(type) {
	case nil:
	case interface{ Unwrap() []error }:
		for _, part := range e.Unwrap() {
			l.decodeErrors(part)
		}
	case *mapstructure.DecodeError:
		inner := e.Unwrap()
		var nested *mapstructure.DecodeError
		if errors.As(inner, &nested) {
			l.decodeErrors(inner)
			return
		}
		var ute *mapstructure.UnconvertibleTypeError
		var pe *mapstructure.ParseError
		switch {
		case errors.As(inner, &ute):
			l.addf(e.Name(), "want %s, got %s", describeType(ute.Expected.Type()), describeValue(ute.Value))
		case errors.As(inner, &pe):
			l.addf(e.Name(), "want %s, got %s: %v", describeType(pe.Expected.Type()), describeValue(pe.Value), pe.Err)
		default:
			l.add(e.Name(), inner)
		}
	default:
		// mapstructure wraps joined errors in a message of its own.
		if inner := errors.Unwrap(err); inner != nil {
			l.decodeErrors(inner)
			return
		}
		l.add("", err)
	}
}

var (
	bytesType    = reflect.TypeFor[units.Bytes]()
	rateType     = reflect.TypeFor[units.BitRate]()
	durationType = reflect.TypeFor[time.Duration]()
)

// unitsHook decodes human units: sizes into units.Bytes (a bare number is
// bytes), rates into units.BitRate (a bare number is bits/s) and durations
// into time.Duration (a bare number other than 0 is an error). It also
// refuses integers with a fraction or a sign their field cannot hold, and
// takes numbers and booleans as text where text is wanted.
func unitsHook(from, to reflect.Type, data any) (any, error) {
	s, isString := data.(string)
	num, isNum := number(data)
	switch to {
	case bytesType:
		if isString {
			return units.ParseBytes(s)
		}
		if isNum {
			return units.ParseBytes(strconv.FormatFloat(num, 'f', -1, 64))
		}
	case rateType:
		if isString {
			return units.ParseBitRate(s)
		}
		if isNum {
			return units.ParseBitRate(strconv.FormatFloat(num, 'g', -1, 64))
		}
	case durationType:
		if isString {
			return units.ParseDuration(s)
		}
		if isNum {
			return units.ParseDuration(fmt.Sprint(data))
		}
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if isNum && num != math.Trunc(num) {
			return nil, fmt.Errorf("want an integer, got %v", data)
		}
		if isNum {
			if err := checkIntNumber(data, to); err != nil {
				return nil, err
			}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if isNum && (num != math.Trunc(num) || num < 0) {
			return nil, fmt.Errorf("want a non-negative integer, got %v", data)
		}
		if isNum {
			if err := checkIntNumber(data, to); err != nil {
				return nil, err
			}
		}
	case reflect.String:
		if isNum || from.Kind() == reflect.Bool {
			return fmt.Sprint(data), nil
		}
	}
	return data, nil
}

// number returns data as a float64 when it is a number.
func number(data any) (float64, bool) {
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

// describeType says in words what a key of type t wants.
func describeType(t reflect.Type) string {
	switch t {
	case bytesType:
		return "a size such as 4GiB"
	case rateType:
		return "a rate such as 10Gbit or 40MiB/s"
	case durationType:
		return "a duration such as 300ms"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "text"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "a mapping of keys"
	}
	return t.String()
}

// describeValue says in words what a decoded YAML value is.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}
