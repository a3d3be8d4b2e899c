package fit

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/validate"
)

func TestWeightsParse(t *testing.T) {
	w := calibration.Weights{}
	for _, s := range []string{"downtime_s=3", " total_time_s = 0.5"} {
		if err := w.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.String(); got != "total_time_s=0.5 downtime_s=3" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []string{"downtime=3", "downtime_s", "downtime_s=-1", "downtime_s=x", "bandwidth_bps=1"} {
		if err := (calibration.Weights{}).Set(bad); err == nil {
			t.Errorf("--weight %s accepted", bad)
		}
	}
	zero := calibration.Weights{}
	for _, m := range calMetrics {
		zero[m] = 0
	}
	if err := zero.Check(); err == nil {
		t.Error("all-zero weights accepted")
	}
	if (calibration.Weights(nil)).String() != "equal" || weightedSumSq([][]float64{{1, 2, 0, 0}}, calibration.Weights{"downtime_s": 2}.Vector()) != 1+2*4 {
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
	cases, err := validate.Recordings(context.Background(), loadCI(t), readGz(t))
	if err != nil {
		t.Fatal(err)
	}
	const evals = 300
	eq, err := calibrate(context.Background(), cases, evals, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := calibrate(context.Background(), cases, evals, calibration.Weights{"downtime_s": 20}, nil)
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

// TestShippedProfileResimulated: under the shipped local-tcg profile a
// clean-clone CI-suite recording held out of its fit (the conditions CI
// runs in), simulated again as CI does, passes the CI gate; setup time and
// post-copy stall are closer to the real runs than with the defaults
// while bytes stay within a point of them. (Total time and downtime are
// not: their medians over every model go from 2.9 and 11.7 % to 4.8 and
// 13.6 % on this run, see local-tcg.yaml and ACCURACY.md.) On
// the older recordings, made when the lab synced per pass and measured
// QEMU's own downtime, only setup time must improve: the profile was
// fitted under QEMU's sync policy (ACCURACY.md: fit where you run).
func TestShippedProfileResimulated(t *testing.T) {
	p, err := calibration.Builtin("local-tcg")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []struct {
		path    string
		suite   func(testing.TB) *validate.Suite
		better  []string // metrics the profile must improve
		noWorse []string // metrics it may worsen by at most a point
	}{
		{recordingCI26, loadCIQEMU, []string{"setup_time_s", "stall_time_s"}, []string{"transferred_bytes"}},
		{recordingQuiet2, loadCI, []string{"setup_time_s"}, nil},
		{recordingQuiet, loadCI, []string{"setup_time_s"}, nil},
		{recordingLoad, loadCI, []string{"setup_time_s"}, nil},
	} {
		s, res := rec.suite(t), readRecording(t, rec.path)
		cal, err := validate.Resimulate(context.Background(), s, res, p)
		if err != nil {
			t.Fatal(err)
		}
		def, err := validate.Resimulate(context.Background(), s, res, nil)
		if err != nil {
			t.Fatal(err)
		}
		ths := validate.ResimulatedThresholds(validate.ThresholdsFor(s.Gate, "local-tcg"), cal)
		if len(ths) < 5 {
			t.Fatalf("only %d pre-copy thresholds in the CI gate", len(ths))
		}
		if vs := cal.Gate(ths); len(vs) != 0 && rec.noWorse != nil {
			t.Errorf("%s: local-tcg fails the CI gate: %v", rec.path, vs)
		}
		med := func(r *validate.SuiteResult, name string) float64 {
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
