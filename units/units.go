package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bytes is a size in bytes.
type Bytes int64

// BitRate is a data rate in bits per second.
type BitRate float64

// Common sizes.
const (
	KiB Bytes = 1 << 10
	MiB Bytes = 1 << 20
	GiB Bytes = 1 << 30
	TiB Bytes = 1 << 40
)

// Common rates.
const (
	Kbit BitRate = 1e3
	Mbit BitRate = 1e6
	Gbit BitRate = 1e9
)

var sizeSuffixes = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"pib", 1 << 50},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"pb", 1e15},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30}, {"ti", 1 << 40},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// ParseBytes parses a size such as "4GiB", "512 KiB", "1.5GB" or "4096".
// Negative sizes are an error.
func ParseBytes(s string) (Bytes, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty size (want e.g. 4GiB)")
	}
	num, suffix := splitNumber(in)
	mult := 1.0
	if suffix != "" {
		found := false
		for _, c := range sizeSuffixes {
			if strings.EqualFold(suffix, c.suffix) {
				mult, found = c.mult, true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("size %q: unknown unit %q (want B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", s, suffix)
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number", s, num)
	}
	return bytesFromFloat(s, v*mult)
}

func bytesFromFloat(orig string, v float64) (Bytes, error) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("size %q is not finite", orig)
	case v < 0:
		return 0, fmt.Errorf("size %q is negative", orig)
	case v > math.MaxInt64/2:
		return 0, fmt.Errorf("size %q is too large", orig)
	case v != math.Trunc(v):
		return 0, fmt.Errorf("size %q is not a whole number of bytes", orig)
	}
	return Bytes(v), nil
}

// String prints the size with the largest binary unit that divides it,
// e.g. "4GiB", "1536KiB", "100B".
func (b Bytes) String() string {
	for _, u := range []struct {
		name string
		v    Bytes
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b != 0 && b%u.v == 0 {
			return strconv.FormatInt(int64(b/u.v), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseBytes].
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with [Bytes.String].
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

var rateSuffixes = []struct {
	suffix string
	mult   float64 // bits per second per unit
}{
	{"kib/s", 8 << 10}, {"mib/s", 8 << 20}, {"gib/s", 8 << 30}, {"tib/s", 8 << 40},
	{"kb/s", 8e3}, {"mb/s", 8e6}, {"gb/s", 8e9}, {"tb/s", 8e12}, {"b/s", 8},
	{"kbit/s", 1e3}, {"mbit/s", 1e6}, {"gbit/s", 1e9}, {"tbit/s", 1e12}, {"bit/s", 1},
	{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12}, {"bit", 1},
	{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9}, {"tbps", 1e12}, {"bps", 1},
}

// ParseBitRate parses a rate such as "10Gbit", "10Gbps", "100Mbit/s",
// "40MiB/s" or "1.25GB/s". Unit names are case-insensitive except that
// "B" (bytes) and "b" (bits) are told apart in the "/s" forms: "MB/s" is
// megabytes and "Mb/s" is megabits. A bare number is bits per second.
func ParseBitRate(s string) (BitRate, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty rate (want e.g. 10Gbit or 40MiB/s)")
	}
	num, suffix := splitNumber(in)
	mult := 1.0
	if suffix != "" {
		found := false
		// "Mb/s" (bits) versus "MB/s" (bytes): decide on the exact letter.
		if strings.HasSuffix(suffix, "b/s") && !strings.HasSuffix(strings.ToLower(suffix), "bit/s") {
			if p := strings.TrimSuffix(suffix, "b/s"); len(p) <= 1 {
				if m, ok := siMult(p); ok {
					mult, found = m, true
				}
			}
		}
		if !found {
			for _, c := range rateSuffixes {
				if strings.EqualFold(suffix, c.suffix) {
					mult, found = c.mult, true
					break
				}
			}
		}
		if !found {
			return 0, fmt.Errorf("rate %q: unknown unit %q (want bit, Kbit, Mbit, Gbit, Mbps, Gbps, MB/s, MiB/s, GiB/s)", s, suffix)
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %q is not a number", s, num)
	}
	r := v * mult
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("rate %q is not finite", s)
	}
	if r < 0 {
		return 0, fmt.Errorf("rate %q is negative", s)
	}
	return BitRate(r), nil
}

// ParseByteRate parses a rate in bytes per second such as "2GB/s",
// "500MiB/s" or "64KB/s" and returns it in bytes per second. Only byte
// units are taken (B/s with an SI or binary prefix, the B capital): a bit
// rate ("10Gbit", "Mb/s", "Gbps") or a bare number is an error, since
// the caller wants bytes and a bare number means something else there.
func ParseByteRate(s string) (float64, error) {
	in := strings.TrimSpace(s)
	_, suffix := splitNumber(in)
	p, ok := strings.CutSuffix(suffix, "B/s")
	if !ok || len(p) > 2 || (len(p) == 2 && p[1] != 'i') {
		return 0, fmt.Errorf("rate %q: want bytes per second, e.g. 2GB/s or 500MiB/s", s)
	}
	r, err := ParseBitRate(in)
	if err != nil {
		return 0, err
	}
	return r.BytesPerSecond(), nil
}

func siMult(p string) (float64, bool) {
	switch strings.ToLower(p) {
	case "":
		return 1, true
	case "k":
		return 1e3, true
	case "m":
		return 1e6, true
	case "g":
		return 1e9, true
	case "t":
		return 1e12, true
	}
	return 0, false
}

// BytesPerSecond returns the rate in bytes per second.
func (r BitRate) BytesPerSecond() float64 { return float64(r) / 8 }

// String prints the rate in the largest decimal bit unit that keeps it at
// or above one, e.g. "10Gbit", "1.5Mbit", "0bit".
func (r BitRate) String() string {
	v := float64(r)
	for _, u := range []struct {
		name string
		v    float64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"Kbit", 1e3}} {
		if v >= u.v {
			return strconv.FormatFloat(v/u.v, 'g', -1, 64) + u.name
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64) + "bit"
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParseBitRate].
func (r *BitRate) UnmarshalText(text []byte) error {
	v, err := ParseBitRate(string(text))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalText implements encoding.TextMarshaler with [BitRate.String].
func (r BitRate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// ParseDuration parses a non-negative duration such as "300ms", "1.5s" or
// "10m" (Go's time.ParseDuration syntax). A bare number other than 0 is an
// error, because its unit would be a guess.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		if _, numErr := strconv.ParseFloat(in, 64); numErr == nil {
			return 0, fmt.Errorf("duration %q has no unit (want e.g. 300ms, 10s, 5m)", s)
		}
		return 0, fmt.Errorf("duration %q: want e.g. 300ms, 10s, 5m", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

// splitNumber splits "4.5 GiB" into "4.5" and "GiB".
func splitNumber(s string) (num, suffix string) {
	i := 0
	for i < len(s) {
		c := s[i]
		if (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || ((c == 'e' || c == 'E') && i > 0 && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '-' || s[i+1] == '+')) {
			i++
			continue
		}
		break
	}
	return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
}
