package fit

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/migsim/migsim/calibration"
)

// Fixed holds calibration parameters at given values instead of fitting
// them (migsim calibrate --fix name=value): a rate the lab's probe
// measures, say, so that the fit bends only what no one measured. Names
// are those of the fit's table (see [ParamNames]); values are in the
// units the names say (seconds for _s, bytes for _bytes, bits per
// second for _bps, plain factors otherwise).
type Fixed map[string]float64

// ParamNames returns the names of the parameters calibration fits.
func ParamNames() []string {
	var out []string
	for _, c := range calParams {
		out = append(out, c.name)
	}
	return out
}

// Set parses "name=value" into f.
func (f Fixed) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q: want name=value", s)
	}
	name = strings.TrimSpace(name)
	if !slices.Contains(ParamNames(), name) {
		return fmt.Errorf("%q: no parameter %q (parameters: %s)", s, name, strings.Join(ParamNames(), ", "))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%q: %s must be a non-negative number", s, name)
	}
	if _, dup := f[name]; dup {
		return fmt.Errorf("%q: %s is fixed twice", s, name)
	}
	f[name] = v
	return nil
}

// check names the first parameter f holds that the fit does not know.
func (f Fixed) check() error {
	for name, v := range f {
		if !slices.Contains(ParamNames(), name) {
			return fmt.Errorf("fixed parameter %q: no such parameter (parameters: %s)", name, strings.Join(ParamNames(), ", "))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("fixed parameter %s: %v is not a non-negative number", name, v)
		}
	}
	return nil
}

// apply sets f's parameters in p.
func (f Fixed) apply(p *calibration.Profile) {
	for _, c := range calParams {
		if v, ok := f[c.name]; ok {
			c.set(p, v)
		}
	}
}

// String lists f as name=value pairs in the fit's order.
func (f Fixed) String() string {
	var parts []string
	for _, c := range calParams {
		if v, ok := f[c.name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%g", c.name, v))
		}
	}
	return strings.Join(parts, " ")
}
