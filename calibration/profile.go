package calibration

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/migsim/migsim/units"
)

// Profile is a calibration profile: the physical parameters the models
// leave free, fitted to lab runs by "migsim calibrate". A zero field is
// not part of the profile and changes nothing when the profile is
// applied.
type Profile struct {
	// Name names the profile (e.g. "local-tcg"), text.
	Name string `yaml:"name"`
	// BandwidthFactor scales model.max_bandwidth for the live rounds: the
	// share of the cap the migration thread really achieves, a fraction
	// (1 = all of it).
	BandwidthFactor float64 `yaml:"bandwidth_factor"`
	// MultifdBandwidthFactor replaces BandwidthFactor for a migration
	// with multifd channels: QEMU accounts their bytes against the cap a
	// packet at a time, and they can beat it (1.14-1.19 in the TCG lab),
	// a fraction. 0 or absent: BandwidthFactor applies.
	MultifdBandwidthFactor float64 `yaml:"multifd_bandwidth_factor,omitempty"`
	// LinkBandwidth is the path's rate, used uncapped by stop-and-copy,
	// bits per second (sets network.bandwidth).
	LinkBandwidth units.BitRate `yaml:"link_bandwidth"`
	// SetupTime is model.setup_time, a duration.
	SetupTime time.Duration `yaml:"setup_time"`
	// ResumeTime is model.resume_time (fixed downtime), a duration.
	ResumeTime time.Duration `yaml:"resume_time"`
	// SyncTimePerGiB is model.sync_time_per_gib, a duration per GiB of
	// guest memory synced.
	SyncTimePerGiB time.Duration `yaml:"sync_time_per_gib"`
	// PageHeader is model.page_header: the bytes each page sent carries
	// beyond its contents (the per-page overhead), bytes.
	PageHeader units.Bytes `yaml:"page_header,omitempty"`
	// DeviceState is vm.device_state: the CPU and device state sent at
	// the stop, bytes.
	DeviceState units.Bytes `yaml:"device_state,omitempty"`
	// FaultServiceTime is model.fault_service_time of the post-copy
	// models: the work per page fault besides the round trip, a duration.
	FaultServiceTime time.Duration `yaml:"fault_service_time,omitempty"`
	// CostFactor scales every per-page CPU cost (model.costs.* and
	// model.multifd.costs.*, the durations) the scenario does not give
	// itself: the speed of this host's cores against the defaults' (2 =
	// every stage takes twice as long). It matters where CPU bounds the
	// migration: multifd channels, or cpu_bound.
	CostFactor float64 `yaml:"cost_factor,omitempty"`
}

// ModelKeys returns the model parameters p sets, scenario key (below
// model.) to value (a time.Duration or a units.Bytes), for the fields p
// has (non-zero). max_bandwidth and the costs are not among them:
// BandwidthFactor and CostFactor scale them instead.
func (p *Profile) ModelKeys() map[string]any {
	out := map[string]any{}
	for k, v := range map[string]time.Duration{
		"setup_time": p.SetupTime, "resume_time": p.ResumeTime, "sync_time_per_gib": p.SyncTimePerGiB,
		"fault_service_time": p.FaultServiceTime,
	} {
		if v != 0 {
			out[k] = v
		}
	}
	if p.PageHeader != 0 {
		out["page_header"] = p.PageHeader
	}
	return out
}

// ScaleCost returns the per-page CPU cost d scaled by CostFactor, rounded
// to a whole nanosecond; d unchanged when the profile has no factor.
func (p *Profile) ScaleCost(d time.Duration) time.Duration {
	if p.CostFactor <= 0 {
		return d
	}
	return time.Duration(math.Round(float64(d) * p.CostFactor))
}

// ScaleMaxBandwidth returns the live-round cap max scaled by
// BandwidthFactor (MultifdBandwidthFactor, if the profile has one, when
// multifd channels send), rounded to a whole bit/s; max unchanged when
// the profile has no factor or there is no cap (0).
func (p *Profile) ScaleMaxBandwidth(max units.BitRate, multifd bool) units.BitRate {
	f := p.BandwidthFactor
	if multifd && p.MultifdBandwidthFactor > 0 {
		f = p.MultifdBandwidthFactor
	}
	if f <= 0 || max <= 0 {
		return max
	}
	return units.BitRate(math.Round(float64(max) * f))
}

// Validate checks that every field is physically meaningful: a bandwidth
// factor in (0, 10], a cost factor in (0, 1000], a page header up to
// 64 KiB, a finite non-negative link rate, non-negative durations. A
// fitted profile is also within its fit's bounds, checked by package
// calibration/fit (LoadProfile).
func (p *Profile) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		v   float64
	}{{"bandwidth_factor", p.BandwidthFactor}, {"multifd_bandwidth_factor", p.MultifdBandwidthFactor}} {
		if f.v < 0 || f.v > 10 || math.IsNaN(f.v) {
			errs = append(errs, fmt.Errorf("%s: %v must be a fraction in (0, 10] (0 or absent: not set)", f.key, f.v))
		}
	}
	if f := p.CostFactor; f < 0 || f > 1000 || math.IsNaN(f) {
		errs = append(errs, fmt.Errorf("cost_factor: %v must be a factor in (0, 1000] (0 or absent: not set)", f))
	}
	if p.PageHeader < 0 || p.PageHeader > 64*units.KiB {
		errs = append(errs, fmt.Errorf("page_header: %v must be in [0, 64KiB]", p.PageHeader))
	}
	if p.DeviceState < 0 {
		errs = append(errs, fmt.Errorf("device_state: %v must not be negative", p.DeviceState))
	}
	if b := p.LinkBandwidth; b < 0 || math.IsInf(float64(b), 0) || math.IsNaN(float64(b)) {
		errs = append(errs, fmt.Errorf("link_bandwidth: %v must be a positive rate (0 or absent: not set)", b))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"setup_time", p.SetupTime}, {"resume_time", p.ResumeTime}, {"sync_time_per_gib", p.SyncTimePerGiB}, {"fault_service_time", p.FaultServiceTime}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v must not be negative", d.key, d.v))
		}
	}
	return errors.Join(errs...)
}

// Parse reads a profile from YAML strictly: an unknown key or a bad value
// is an error naming file (which only labels the errors).
func Parse(file string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &p, nil
}

// Load reads the profile file at path (see [Parse]).
func Load(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

//go:embed profiles/*.yaml
var builtin embed.FS

// Names returns the names of the built-in profiles, sorted.
func Names() []string {
	ents, err := builtin.ReadDir("profiles")
	if err != nil {
		panic("calibration: embedded profiles: " + err.Error()) // broken build
	}
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// Builtin returns the built-in profile name, or an error listing the
// built-in names.
func Builtin(name string) (*Profile, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("unknown calibration profile %q (built-in: %s; or a profile file ending in .yaml)", name, strings.Join(Names(), ", "))
	}
	file := path.Join("profiles", name+".yaml")
	b, err := builtin.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse("built-in "+file, b)
}

// IsFile reports whether the value of a calibration key names a profile
// file (it ends in .yaml or .yml) rather than a built-in profile.
func IsFile(value string) bool {
	ext := strings.ToLower(filepath.Ext(value))
	return ext == ".yaml" || ext == ".yml"
}

// Resolve returns the profile a calibration key's value names: a profile
// file when it ends in .yaml or .yml, relative to dir unless absolute,
// else a built-in profile.
func Resolve(value, dir string) (*Profile, error) {
	if !IsFile(value) {
		return Builtin(value)
	}
	if !filepath.IsAbs(value) && dir != "" {
		value = filepath.Join(dir, value)
	}
	return Load(value)
}
