package scenarios

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/migsim/migsim/traces"
)

// A file's generator section starts from the generator's defaults, not
// from the built-in scenario's busy workload: {kind: idle} is idle, and a
// key the file leaves out takes the generator default.
func TestFileGeneratorStartsFromGeneratorDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "idle.yaml")
	if err := os.WriteFile(file, []byte("workload:\n  generator: {kind: idle}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := spec.Workload.Generator
	if g.Kind != traces.GenIdle || g.DirtyRate != 0 || g.WorkingSet != 0 {
		t.Fatalf("generator %+v, want an idle guest with the generator defaults", *g)
	}
	// --set alone still edits the built-in workload.
	spec, err = LoadDefault([]string{"workload.generator.dirty_rate=1000"})
	if err != nil {
		t.Fatal(err)
	}
	if g := spec.Workload.Generator; g.Kind != DefaultSpec().Workload.Generator.Kind || g.DirtyRate != 1000 || g.WorkingSet != DefaultWorkingSet {
		t.Fatalf("generator %+v, want the built-in workload at 1000 pages/s", *g)
	}
}
