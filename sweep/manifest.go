package sweep

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/migsim/migsim/internal/buildinfo"
)

// Output file names inside an output directory.
const (
	ManifestFile = "sweep.json"
	JournalFile  = "results.jsonl"
	CSVFile      = "results.csv"
	ParquetFile  = "results.parquet"
)

// manifestFormat is the version of sweep.json; readers refuse others.
const manifestFormat = 1

// Shard is a deterministic share of a sweep: the points whose index i has
// i mod N = K−1. The zero Shard, like 1/1, is the whole sweep.
type Shard struct {
	K, N int
}

// ParseShard parses "k/n" with 1 ≤ k ≤ n.
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want k/n, e.g. 2/8 for the second of 8 shards", s)
	}
	sh := Shard{K: k, N: n}
	return sh, sh.check()
}

func (s Shard) check() error {
	switch {
	case s == Shard{}:
		return nil
	case s.N < 1:
		return fmt.Errorf("shard %d/%d: the shard count must be at least 1", s.K, s.N)
	case s.K < 1 || s.K > s.N:
		return fmt.Errorf("shard %d/%d: k must be between 1 and %d", s.K, s.N, s.N)
	}
	return nil
}

// Whole reports whether s is the whole sweep (the zero Shard, or 1/1).
func (s Shard) Whole() bool { return s.N <= 1 }

// String returns "k/n", or "" for the whole sweep.
func (s Shard) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// Points returns the indexes of the shard's points among n, in order.
func (s Shard) Points(n int) []int {
	if s.Whole() {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := s.K - 1; i < n; i += s.N {
		out = append(out, i)
	}
	return out
}

// AxisInfo describes an axis in the manifest.
type AxisInfo struct {
	Key    string     `json:"key"`
	Kind   string     `json:"kind"`
	Column string     `json:"column"`
	Type   ColumnType `json:"type"`
}

func axisInfos(axes []Axis) []AxisInfo {
	out := make([]AxisInfo, len(axes))
	for i, a := range axes {
		out[i] = AxisInfo(a)
	}
	return out
}

// Manifest is sweep.json: what an output directory holds.
type Manifest struct {
	// Format is the manifest's version, 1.
	Format int `json:"format"`
	// Sweep is the sweep's name.
	Sweep string `json:"sweep"`
	// Fingerprint identifies the sweep's points ([Spec].Fingerprint).
	Fingerprint string `json:"fingerprint"`
	// Points is the number of points of the whole sweep.
	Points int `json:"points"`
	// Shard is "k/n", or empty for the whole sweep (and for merged shards).
	Shard string `json:"shard,omitempty"`
	// ShardPoints is the number of points in the directory when complete.
	ShardPoints int `json:"shard_points"`
	// Axes are the sweep's axes, in column order.
	Axes []AxisInfo `json:"axes"`
	// MigsimVersion is the version of migsim that wrote the directory's
	// outputs (see migsim version); each result line carries its own.
	MigsimVersion string `json:"migsim_version,omitempty"`
	// BaseFile is the file of the base scenario ("" for the built-in
	// one), as the sweep file names it.
	BaseFile string `json:"base_file,omitempty"`
	// BaseScenario is the base scenario's text as written (YAML), which
	// every point starts from; empty for the built-in scenario.
	BaseScenario string `json:"base_scenario,omitempty"`
	// BaseSets are the --set overrides applied to the base of every point.
	BaseSets []string `json:"base_sets,omitempty"`
	// Detail tells whether the result lines hold each point's detail:
	// rounds_detail, or a fleet's order and vms ([Options].Detail). A
	// manifest without the key comes from a migsim that always wrote it.
	Detail *bool `json:"detail,omitempty"`
	// Kind is "fleet" for a sweep over fleets, whose result lines hold
	// fleet summaries ([KindFleet]); omitted for a sweep of scenarios.
	Kind string `json:"kind,omitempty"`
}

// detail reports whether the directory's result lines hold detail.
func (m *Manifest) detail() bool { return m.Detail == nil || *m.Detail }

// shape returns what the directory's result lines hold.
func (m *Manifest) shape() *resultShape {
	if m.Kind == KindFleet {
		return fleetShape
	}
	return scenarioShape
}

func newManifest(sw *Spec, sh Shard, detail bool) *Manifest {
	return &Manifest{
		Format:      manifestFormat,
		Sweep:       sw.Name,
		Fingerprint: sw.Fingerprint,
		Points:      sw.Len(),
		Shard:       sh.String(),
		ShardPoints: sh.Count(sw.Len()),
		Detail:      &detail,
		Kind:        kindKey(sw.Kind),
		Axes:        axisInfos(sw.Axes),

		MigsimVersion: buildinfo.Version(),
		BaseFile:      sw.BaseFile,
		BaseScenario:  sw.Base,
		BaseSets:      sw.BaseSets,
	}
}

// shard returns the manifest's shard.
func (m *Manifest) shard() (Shard, error) {
	if m.Shard == "" {
		return Shard{}, nil
	}
	return ParseShard(m.Shard)
}

func (m *Manifest) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadManifest reads the manifest of the output directory dir.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Format != manifestFormat {
		return nil, fmt.Errorf("%s: format %d, this migsim reads format %d", path, m.Format, manifestFormat)
	}
	if _, err := m.shard(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// sameSweep returns an error when m and o describe different sweeps.
func (m *Manifest) sameSweep(o *Manifest) error {
	if m.Fingerprint != o.Fingerprint || m.Points != o.Points {
		return fmt.Errorf("sweep %q (%d points, fingerprint %s), not %q (%d points, fingerprint %s)",
			o.Sweep, o.Points, o.Fingerprint, m.Sweep, m.Points, m.Fingerprint)
	}
	return nil
}

// kindKey is the manifest's kind key of a sweep of kind: "" for
// scenarios, so that their manifests read as before.
func kindKey(kind string) string {
	if kind == KindFleet {
		return kind
	}
	return ""
}
