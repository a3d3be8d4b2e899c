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
}

// ModelKeys returns the model parameters p sets, scenario key (below
// model.) to value, for the fields p has (non-zero). max_bandwidth is
// not among them: BandwidthFactor scales it instead.
func (p *Profile) ModelKeys() map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range map[string]time.Duration{
		"setup_time": p.SetupTime, "resume_time": p.ResumeTime, "sync_time_per_gib": p.SyncTimePerGiB,
	} {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// ScaleMaxBandwidth returns the live-round cap max scaled by
// BandwidthFactor, rounded to a whole bit/s; max unchanged when the
// profile has no factor or there is no cap (0).
func (p *Profile) ScaleMaxBandwidth(max units.BitRate) units.BitRate {
	if p.BandwidthFactor <= 0 || max <= 0 {
		return max
	}
	return units.BitRate(math.Round(float64(max) * p.BandwidthFactor))
}

// Validate checks that every field is physically meaningful: a factor in
// (0, 10], a finite non-negative link rate, non-negative durations. A
// fitted profile is also within its fit's bounds, checked by package
// validate.
func (p *Profile) Validate() error {
	var errs []error
	if f := p.BandwidthFactor; f < 0 || f > 10 || math.IsNaN(f) {
		errs = append(errs, fmt.Errorf("bandwidth_factor: %v must be a fraction in (0, 10] (0 or absent: not set)", f))
	}
	if b := p.LinkBandwidth; b < 0 || math.IsInf(float64(b), 0) || math.IsNaN(float64(b)) {
		errs = append(errs, fmt.Errorf("link_bandwidth: %v must be a positive rate (0 or absent: not set)", b))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"setup_time", p.SetupTime}, {"resume_time", p.ResumeTime}, {"sync_time_per_gib", p.SyncTimePerGiB}} {
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
