package scenarios

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// intRange returns the least and greatest values of the integer type t
// (a pointer is its element), and false when t is not an integer type or
// is a size or a duration, which take units and are checked when parsed.
func intRange(t reflect.Type) (lo, hi *big.Int, ok bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == bytesType || t == durationType {
		return nil, nil, false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := uint(t.Bits())
		hi = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits-1), big.NewInt(1))
		lo = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), bits-1))
		return lo, hi, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		bits := uint(t.Bits())
		hi = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits), big.NewInt(1))
		return big.NewInt(0), hi, true
	}
	return nil, nil, false
}

// checkIntScalar returns an error when n, the value of a key of integer
// type t, is an integer literal outside t's range, quoting the literal as
// written: YAML reads an integer too large for 64 bits as a float, which
// decoding would silently round or wrap ("seed=18446744073709551616" ran
// with seed 9223372036854775808). Other values are left to decoding.
func checkIntScalar(n *yaml.Node, t reflect.Type) error {
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return nil
	}
	lo, hi, ok := intRange(t)
	if !ok {
		return nil
	}
	v, isInt := new(big.Int).SetString(strings.ReplaceAll(n.Value, "_", ""), 0)
	if !isInt || (v.Cmp(lo) >= 0 && v.Cmp(hi) <= 0) || (lo.Sign() == 0 && v.Sign() < 0) {
		return nil // in range, or negative for an unsigned key: decoding says so
	}
	return fitError(n.Value, lo, hi)
}

// fitError says that the integer text does not fit in [lo, hi].
func fitError(text string, lo, hi *big.Int) error {
	if lo.Sign() == 0 {
		return fmt.Errorf("%s does not fit: want an integer from 0 to %s", text, hi)
	}
	return fmt.Errorf("%s does not fit: want an integer from %s to %s", text, lo, hi)
}

// checkIntNumber is checkIntScalar for a decoded number bound for a field
// of type to: an integer, or an integer-valued float (a YAML float such as
// 1e20, or an integer YAML read as a float), beyond the type's range is an
// error instead of a wrapped value.
func checkIntNumber(data any, to reflect.Type) error {
	lo, hi, ok := intRange(to)
	if !ok {
		return nil
	}
	var b *big.Int
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b = big.NewInt(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b = new(big.Int).SetUint64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		b, _ = new(big.Float).SetFloat64(f).Int(nil)
	default:
		return nil
	}
	if b.Cmp(lo) >= 0 && b.Cmp(hi) <= 0 {
		return nil
	}
	return fitError(b.String(), lo, hi)
}
