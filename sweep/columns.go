package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/migsim/migsim/scenarios"
	"github.com/migsim/migsim/units"
)

// specID hashes the resolved scenario.
func specID(s *scenarios.Spec) (string, error) {
	b, err := json.Marshal(struct {
		*scenarios.Spec
		Params any
	}{s, s.Model.Params})
	if err != nil {
		return "", fmt.Errorf("hashing scenario: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// columnValue returns the value of key in s typed for a result column,
// its type and the column name's unit suffix. set is the point's
// key=value, used for sections.
func columnValue(s *scenarios.Spec, key, set string) (any, ColumnType, string) {
	v, ok := scenarios.Get(s, key)
	return typedColumn(v, ok, key, set)
}

// typedColumn returns v, the value of a swept key (ok false when it has
// none), typed for a result column, its type and the column name's unit
// suffix: sizes in bytes (_bytes), rates in bits/s (_bps), durations in
// seconds (_s), and page rates (_pages_per_s) when scenarioKey, the key
// within a scenario, is one. set is the point's key=value, whose text a
// section, a list or a value without a type takes.
func typedColumn(v reflect.Value, ok bool, scenarioKey, set string) (any, ColumnType, string) {
	_, text, _ := strings.Cut(set, "=")
	if !ok {
		return text, ColumnText, ""
	}
	if v.Kind() == reflect.Struct || v.Kind() == reflect.Slice {
		// A whole section: its YAML, in a column that does not take the
		// name of a result field (model).
		return text, ColumnText, "_spec"
	}
	switch x := v.Interface().(type) {
	case units.Bytes:
		return int64(x), ColumnInt, "_bytes"
	case units.BitRate:
		return float64(x), ColumnFloat, "_bps"
	case time.Duration:
		return x.Seconds(), ColumnFloat, "_s"
	}
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool(), ColumnBool, ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), ColumnInt, ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() <= math.MaxInt64 {
			return int64(v.Uint()), ColumnInt, ""
		}
	case reflect.Float32, reflect.Float64:
		suffix := ""
		if scenarios.PageRateKey(scenarioKey) {
			suffix = "_pages_per_s"
		}
		return v.Float(), ColumnFloat, suffix
	case reflect.String:
		return v.String(), ColumnText, ""
	}
	return text, ColumnText, ""
}
