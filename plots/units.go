package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/migsim/migsim/units"
)

// unitKind is what a column's values measure, from its name.
type unitKind int

const (
	unitNone unitKind = iota
	unitBytes
	unitBitRate
	unitSeconds
	unitPercent
	unitPagesPerS
)

// columnUnit returns the kind of values column holds: by its unit suffix
// (_bytes, _bps, _s, _pct, _pages_per_s), or for the few columns without
// one, by name (dirty_rate and read_rate are pages per second).
func columnUnit(column string) unitKind {
	last := column[strings.LastIndexByte(column, '.')+1:]
	switch {
	case strings.HasSuffix(last, "_pages_per_s"):
		return unitPagesPerS
	case strings.HasSuffix(last, "_bytes"):
		return unitBytes
	case strings.HasSuffix(last, "_bps"):
		return unitBitRate
	case strings.HasSuffix(last, "_s"):
		return unitSeconds
	case strings.HasSuffix(last, "_pct"):
		return unitPercent
	}
	if knownUnits[last] == "pages/s" {
		return unitPagesPerS
	}
	return unitNone
}

// formatValue writes a cell of column for a reader, with its unit: a
// legend entry or a panel title ("10 Gbit", "4 GiB", "300 ms",
// "20000 pages/s"). Cells that are not numbers are returned as they are.
func formatValue(column, cell string) string {
	v, err := strconv.ParseFloat(cell, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return cell
	}
	switch columnUnit(column) {
	case unitBytes:
		return withUnit(v, []unitStep{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}}, "B")
	case unitBitRate:
		return withUnit(v, []unitStep{{1e12, "Tbit"}, {1e9, "Gbit"}, {1e6, "Mbit"}, {1e3, "kbit"}}, "bit")
	case unitSeconds:
		if v != 0 && math.Abs(v) < 1 {
			return withUnit(v*1e3, []unitStep{{1, "ms"}}, "ms")
		}
		return withUnit(v, nil, "s")
	case unitPercent:
		return strconv.FormatFloat(v, 'g', 4, 64) + " %"
	case unitPagesPerS:
		return strconv.FormatFloat(v, 'f', -1, 64) + " pages/s"
	}
	return cell
}

type unitStep struct {
	size float64
	name string
}

// withUnit prints v in the largest unit of steps it reaches, to at most 4
// significant digits, else in base.
func withUnit(v float64, steps []unitStep, base string) string {
	for _, s := range steps {
		if math.Abs(v) >= s.size {
			return strconv.FormatFloat(roundSig(v/s.size, 4), 'f', -1, 64) + " " + s.name
		}
	}
	return strconv.FormatFloat(roundSig(v, 4), 'f', -1, 64) + " " + base
}

// roundSig rounds v to n significant digits.
func roundSig(v float64, n int) float64 {
	if v == 0 {
		return 0
	}
	p, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', n, 64), 64)
	if err != nil {
		return v
	}
	return p
}

// parseValue reads the value of a --where filter on column: a number in
// the column's own unit as the CSV holds it, or a quantity with a unit the
// scenario files accept, converted to the column's unit ("10Gbit" for a
// _bps column, "4GiB" for _bytes, "300ms" for _s). ok is false for text
// that is neither, which is then compared as text.
func parseValue(column, s string) (v float64, ok bool, err error) {
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		return x, true, nil
	}
	if s == "true" || s == "false" {
		return 0, false, nil
	}
	switch columnUnit(column) {
	case unitBytes:
		b, err := units.ParseBytes(s)
		if err != nil {
			return 0, false, fmt.Errorf("%s holds sizes in bytes: %w", column, err)
		}
		return float64(b), true, nil
	case unitBitRate:
		r, err := units.ParseBitRate(s)
		if err != nil {
			return 0, false, fmt.Errorf("%s holds rates in bits/s: %w", column, err)
		}
		return float64(r), true, nil
	case unitSeconds:
		d, err := units.ParseDuration(s)
		if err != nil {
			return 0, false, fmt.Errorf("%s holds times in seconds: %w", column, err)
		}
		return d.Seconds(), true, nil
	case unitPercent:
		if x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64); err == nil {
			return x, true, nil
		}
		return 0, false, fmt.Errorf("%s holds percentages: %q is not one", column, s)
	case unitPagesPerS:
		num := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "pages/s"))
		if x, err := strconv.ParseFloat(num, 64); err == nil {
			return x, true, nil
		}
		return 0, false, fmt.Errorf("%s holds pages per second: %q is not a number of pages/s", column, s)
	}
	return 0, false, nil
}

// sameNumber reports whether a and b are equal to within rounding: a
// value written with a unit ("2.5Gbit") and the CSV's shortest form of
// the same number agree.
func sameNumber(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}
