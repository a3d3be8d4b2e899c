package validate

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/migsim/migsim/calibration"
)

func TestWeightsParse(t *testing.T) {
	w := Weights{}
	for _, s := range []string{"downtime_s=3", " total_time_s = 0.5"} {
		if err := w.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.String(); got != "total_time_s=0.5 downtime_s=3" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []string{"downtime=3", "downtime_s", "downtime_s=-1", "downtime_s=x", "bandwidth_bps=1"} {
		if err := (Weights{}).Set(bad); err == nil {
			t.Errorf("--weight %s accepted", bad)
		}
	}
	zero := Weights{}
	for _, m := range calMetrics {
		zero[m] = 0
	}
	if err := zero.Check(); err == nil {
		t.Error("all-zero weights accepted")
	}
	if (Weights(nil)).String() != "equal" || weightedSumSq([][]float64{{1, 2, 0, 0}}, Weights{"downtime_s": 2}.vector()) != 1+2*4 {
		t.Error("nil weights are not equal weights")
	}
}

// dtSumSq is the sum of squared downtime errors of residuals.
func dtSumSq(errs [][]float64) float64 {
	j := 1 // calMetrics[1]
	var s float64
	for _, row := range errs {
		if !math.IsNaN(row[j]) {
			s += row[j] * row[j]
		}
	}
	return s
}

// TestWeightsChangeFit: weighting downtime heavily changes the fitted
// profile, and the downtime error of that fit is no worse than the
// equal-weight fit's nor the defaults'.
func TestWeightsChangeFit(t *testing.T) {
	if calMetrics[1] != "downtime_s" {
		t.Fatal("calMetrics order changed")
	}
	cases, err := prepareCases(context.Background(), loadCI(t), readGz(t))
	if err != nil {
		t.Fatal(err)
	}
	const evals = 300
	eq, err := calibrate(context.Background(), cases, evals, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := calibrate(context.Background(), cases, evals, Weights{"downtime_s": 20})
	if err != nil {
		t.Fatal(err)
	}
	base, err := caseErrors(context.Background(), cases, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("downtime sum of squares: defaults %.3f, equal weights %.3f, downtime×20 %.3f", dtSumSq(base), dtSumSq(eq.Residuals), dtSumSq(dw.Residuals))
	if eq.Profile == dw.Profile {
		t.Error("the weights did not change the fit")
	}
	if dtSumSq(dw.Residuals) > dtSumSq(eq.Residuals) || dtSumSq(dw.Residuals) > dtSumSq(base) {
		t.Errorf("downtime weighted ×20 fits downtime worse: %.3f, equal weights %.3f, defaults %.3f", dtSumSq(dw.Residuals), dtSumSq(eq.Residuals), dtSumSq(base))
	}
	if dw.Cost > dw.DefaultCost || !strings.Contains(dw.Weights.String(), "downtime_s=20") {
		t.Errorf("weighted fit: cost %v from %v, weights %v", dw.Cost, dw.DefaultCost, dw.Weights)
	}
}

// TestShippedProfileResimulated: under the shipped local-tcg profile the
// two quiet CI-suite recordings (the conditions CI runs in), simulated
// again, pass the CI gate; setup time and downtime are much closer to the
// real runs than with the defaults while bytes, already within a percent,
// stay within a point of them; on the recording with every model, total
// time and post-copy stall are closer too. quiet2 holds the profile's
// training runs (a regression test of the simulator under it, not a
// held-out figure); quiet is another run of the same machine. On the
// load-5 recording, made under other conditions the profile is not for,
// only setup time must improve (ACCURACY.md: fit where you run).
func TestShippedProfileResimulated(t *testing.T) {
	p, err := calibration.Builtin("local-tcg")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []struct {
		path    string
		better  []string // metrics the profile must improve
		noWorse []string // metrics it may worsen by at most a point
	}{
		{"testdata/ci-results-quiet2.json.gz", []string{"setup_time_s", "downtime_s", "total_time_s", "stall_time_s"}, []string{"transferred_bytes"}},
		{"testdata/ci-results-quiet.json.gz", []string{"setup_time_s", "downtime_s"}, []string{"transferred_bytes"}},
		{"testdata/ci-results-load5-full.json.gz", []string{"setup_time_s"}, nil},
	} {
		s, res := loadCI(t), readRecording(t, rec.path)
		cal, err := Resimulate(context.Background(), s, res, p)
		if err != nil {
			t.Fatal(err)
		}
		def, err := Resimulate(context.Background(), s, res, nil)
		if err != nil {
			t.Fatal(err)
		}
		ths := ResimulatedThresholds(ThresholdsFor(s.Gate, "local-tcg"), cal)
		if len(ths) < 5 {
			t.Fatalf("only %d pre-copy thresholds in the CI gate", len(ths))
		}
		if vs := cal.Gate(ths); len(vs) != 0 && rec.noWorse != nil {
			t.Errorf("%s: local-tcg fails the CI gate: %v", rec.path, vs)
		}
		med := func(r *SuiteResult, name string) float64 {
			for _, m := range r.Summary {
				if m.Name == name {
					return m.MedianAbsErr
				}
			}
			t.Fatalf("no %s", name)
			return 0
		}
		for _, m := range rec.better {
			if med(cal, m) >= med(def, m) {
				t.Errorf("%s: %s median |err| %.3f under local-tcg, %.3f with defaults", rec.path, m, med(cal, m), med(def, m))
			}
		}
		for _, m := range rec.noWorse {
			if med(cal, m) > med(def, m)+0.01 {
				t.Errorf("%s: %s median |err| %.3f under local-tcg, %.3f with defaults: worse by more than a point", rec.path, m, med(cal, m), med(def, m))
			}
		}
		if c := cal.Comparisons[0]; c.Sim.Calibration != "local-tcg" || c.Real == nil {
			t.Errorf("re-simulated comparison: calibration %q", c.Sim.Calibration)
		}
	}
}

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
