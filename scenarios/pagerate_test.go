package scenarios

import (
	"path/filepath"
	"strings"
	"testing"
)

// Page rates take byte rates, converted with the scenario's page size.
func TestPageRatesInBytes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "db.yaml")
	writeFile(t, file, `name: db
vm: {memory: 64GiB, page_size: 4KiB}
workload:
  generator: {kind: uniform, dirty_rate: 2GB/s, read_rate: 500MiB/s, working_set: 16GiB, duration: 10s}
network: {bandwidth: 10Gbit}
`)
	s, err := Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Workload.Generator
	if want := 2e9 / 4096; g.DirtyRate != want {
		t.Errorf("dirty_rate 2GB/s over 4KiB pages = %v pages/s, want %v", g.DirtyRate, want)
	}
	if want := float64(500<<20) / 4096; g.ReadRate != want {
		t.Errorf("read_rate 500MiB/s = %v pages/s, want %v", g.ReadRate, want)
	}

	// A --set byte rate, and a page size that is not the default.
	s, err = Load(file, []string{"workload.generator.dirty_rate=1GiB/s", "vm.page_size=2MiB", "vm.memory=64GiB"})
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Workload.Generator; g.DirtyRate != 512 {
		t.Errorf("1GiB/s over 2MiB pages = %v pages/s, want 512", g.DirtyRate)
	}
	// Numbers stay pages per second.
	s, err = Load(file, []string{"workload.generator.dirty_rate=1000"})
	if err != nil || s.Workload.Generator.DirtyRate != 1000 {
		t.Errorf("dirty_rate 1000: %v, %v", s.Workload.Generator.DirtyRate, err)
	}

	// Phases take them too.
	phases := filepath.Join(dir, "phases.yaml")
	writeFile(t, phases, `vm: {memory: 1GiB}
workload:
  generator:
    kind: phases
    phases:
      - {kind: uniform, dirty_rate: 40MiB/s, working_set: 256MiB, duration: 1s}
      - {kind: idle, duration: 1s}
`)
	s, err = Load(phases, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Workload.Generator.Phases[0].DirtyRate; got != 10240 {
		t.Errorf("phase dirty_rate 40MiB/s = %v pages/s, want 10240", got)
	}
}

func TestPageRateErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	writeFile(t, file, `vm: {memory: 1GiB}
workload:
  generator: {kind: uniform, dirty_rate: 10Gbit, working_set: 256MiB}
`)
	_, err := Load(file, nil)
	if err == nil {
		t.Fatal("a bit rate as dirty_rate loaded")
	}
	want := file + `:3: workload.generator.dirty_rate: want pages/s (a number) or a byte rate such as 2GB/s or 500MiB/s (converted with vm.page_size), got "10Gbit"`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	_, err = Load(file, []string{"workload.generator.dirty_rate=fast", "workload.generator.read_rate=1GB/s"})
	if err == nil || !strings.Contains(err.Error(), `--set workload.generator.dirty_rate: want pages/s`) || strings.Contains(err.Error(), "read_rate") {
		t.Errorf("--set dirty_rate=fast: %v", err)
	}
}
