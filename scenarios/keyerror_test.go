package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratorErrorAtItsKey: a generator's bad value (a traces.KeyError)
// is reported at the file line of its own key, deep in a phase list too,
// not at workload.generator.
func TestGeneratorErrorAtItsKey(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		key  string
		line int
	}{
		{"workload:\n  generator:\n    kind: uniform\n    hot_fraction: 2\n", "workload.generator.hot_fraction", 4},
		{"workload:\n  generator:\n    kind: phases\n    phases:\n      - {kind: uniform, dirty_rate: 10, epoch: 10ms}\n      - kind: uniform\n        dirty_rate: 10\n        epoch: 20ms\n",
			"workload.generator.phases[1].epoch", 8},
	} {
		path := filepath.Join(t.TempDir(), "s.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, nil)
		var e *Error
		if !errors.As(err, &e) || e.Key != tc.key || e.Line != tc.line {
			t.Errorf("%q: %v, want it at line %d, key %s", tc.yaml, err, tc.line, tc.key)
		}
	}
}
