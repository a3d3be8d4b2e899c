package units

import (
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	good := []struct {
		in   string
		want Bytes
	}{
		{"4GiB", 4 * GiB}, {"4 GiB", 4 * GiB}, {"512KiB", 512 * KiB}, {"4096", 4096},
		{"1.5GiB", 3 * GiB / 2}, {"1TiB", TiB}, {"10GB", 10_000_000_000}, {"4kib", 4096},
		{"0", 0}, {"1B", 1}, {"8Ki", 8192},
	}
	for _, c := range good {
		got, err := ParseBytes(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "-1GiB", "4XB", "GiB", "1.5B", "NaN", "1e30GiB", "four"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %v, want an error", in, got)
		}
	}
}

func TestBytesStringRoundTrip(t *testing.T) {
	for _, b := range []Bytes{0, 1, 4096, 4 * GiB, 1536 * KiB, TiB, 12345} {
		got, err := ParseBytes(b.String())
		if err != nil || got != b {
			t.Errorf("%d -> %q -> %v, %v", b, b.String(), got, err)
		}
	}
}

func TestParseBitRate(t *testing.T) {
	good := []struct {
		in   string
		want BitRate
	}{
		{"10Gbit", 10e9}, {"10Gbps", 10e9}, {"100Mbit/s", 100e6}, {"40MiB/s", 40 * 8 << 20},
		{"1.25GB/s", 10e9}, {"1Gb/s", 1e9}, {"1GB/s", 8e9}, {"1000", 1000}, {"0", 0},
		{"25 Gbit", 25e9}, {"1kbit", 1000},
	}
	for _, c := range good {
		got, err := ParseBitRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseBitRate(%q) = %v, %v; want %v", c.in, float64(got), err, float64(c.want))
		}
	}
	for _, in := range []string{"", "-1Gbit", "10Gfoo", "fast", "1e400bit"} {
		if got, err := ParseBitRate(in); err == nil {
			t.Errorf("ParseBitRate(%q) = %v, want an error", in, got)
		}
	}
	if s := BitRate(10e9).String(); s != "10Gbit" {
		t.Errorf("String = %q", s)
	}
}

func TestParseByteRate(t *testing.T) {
	for in, want := range map[string]float64{
		"2GB/s": 2e9, "500MiB/s": 500 << 20, "64KB/s": 64e3, "1.5 GiB/s": 1.5 * (1 << 30), "100B/s": 100, "0B/s": 0,
	} {
		got, err := ParseByteRate(in)
		if err != nil || got != want {
			t.Errorf("ParseByteRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10Gbit", "100Mb/s", "8Gbps", "2000", "2GB", "2 GHz", "", "-1GB/s", "2XB/s", "2KiiB/s"} {
		if got, err := ParseByteRate(in); err == nil {
			t.Errorf("ParseByteRate(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := ParseDuration("300ms"); err != nil || d != 300*time.Millisecond {
		t.Fatalf("300ms: %v %v", d, err)
	}
	if d, err := ParseDuration("0"); err != nil || d != 0 {
		t.Fatalf("0: %v %v", d, err)
	}
	for _, in := range []string{"600", "-1s", "soon", ""} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): want an error", in)
		}
	}
}
