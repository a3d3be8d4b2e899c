package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSuiteCalibration: a suite's calibration key reaches every case's
// scenario (a file relative to the suite), and calibration still fits
// from the uncalibrated scenarios.
func TestSuiteCalibration(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "lab.yaml"), "name: lab\nvm: {memory: 256MiB}\nworkload: {generator: {kind: uniform, working_set: 64MiB}}\nmodel: {name: precopy, max_bandwidth: 200Mbit}\n")
	writeTestFile(t, filepath.Join(dir, "p.yaml"), "name: p\nsetup_time: 123ms\n")
	writeTestFile(t, filepath.Join(dir, "s.yaml"), "name: s\nbase: lab.yaml\ncalibration: p.yaml\ncases: [{name: a}, {name: b, set: [calibration=local-tcg]}]\n")
	s, err := LoadSuite(filepath.Join(dir, "s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Scenario(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Scenario(1)
	if err != nil {
		t.Fatal(err)
	}
	if a.CalibrationProfile() == nil || a.CalibrationProfile().Name != "p" || b.CalibrationProfile().Name != "local-tcg" {
		t.Errorf("suite calibration: case a %+v, case b %+v", a.CalibrationProfile(), b.CalibrationProfile())
	}
	plain, err := s.scenario(0, "calibration=")
	if err != nil || plain.CalibrationProfile() != nil {
		t.Errorf("calibration= override: %v, %+v", err, plain.CalibrationProfile())
	}
	writeTestFile(t, filepath.Join(dir, "w.yaml"), "name: s\nbase: lab.yaml\ncalibration_weights: {downtime: 2}\ncases: [{name: a}]\n")
	if _, err := LoadSuite(filepath.Join(dir, "w.yaml")); err == nil || !strings.Contains(err.Error(), "calibration_weights") {
		t.Errorf("bad calibration_weights: %v", err)
	}
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
