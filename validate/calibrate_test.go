package validate

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// readGz reads the gzipped suite results with real runs recorded at load 5.
func readGz(t *testing.T) *SuiteResult {
	t.Helper()
	return readRecording(t, "testdata/ci-results-load5-full.json.gz")
}

// readRecording reads gzipped suite results with epochs.
func readRecording(t *testing.T, path string) *SuiteResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var r SuiteResult
	if err := json.NewDecoder(zr).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestResimulateReproduces: simulating a recorded run again on its rebuilt
// achieved trace with the default profile gives the errors recorded by
// the lab, so calibration fits the same simulator the lab compared.
func TestResimulateReproduces(t *testing.T) {
	res := readGz(t)
	cases, err := prepareCases(context.Background(), loadCI(t), res)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(res.Comparisons) {
		t.Fatalf("%d of %d recorded runs prepared", len(cases), len(res.Comparisons))
	}
	for _, c := range cases {
		p := defaultProfile(c)
		r, err := c.simulate(context.Background(), &p)
		if err != nil {
			t.Fatal(err)
		}
		want := c.rec.Metrics
		for j, m := range compareMetrics(c.real, r) {
			if math.Abs(m.RelErr-want[j].RelErr) > 1e-9 {
				t.Errorf("%s %s: resimulated error %v, recorded %v", c.name, m.Name, m.RelErr, want[j].RelErr)
			}
		}
	}
}

func TestCalParamTransform(t *testing.T) {
	for _, c := range calParams {
		for _, v := range []float64{c.lo * 1.01, (c.lo + c.hi) / 2, c.hi * 0.99} {
			if got := c.fromFree(c.toFree(v)); math.Abs(got-v) > 1e-6*v {
				t.Errorf("%s: fromFree(toFree(%v)) = %v", c.name, v, got)
			}
		}
		for _, x := range []float64{-1e3, 0, 1e3} {
			if v := c.fromFree(x); v < c.lo || v > c.hi || math.IsNaN(v) {
				t.Errorf("%s: fromFree(%v) = %v outside [%v, %v]", c.name, x, v, c.lo, c.hi)
			}
		}
	}
}

// TestCalibrationHeldOut: 2-fold cross-validation on the recorded runs
// (a short search) lowers the held-out sum of squared relative errors
// below the defaults'.
func TestCalibrationHeldOut(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates the suite a few hundred times")
	}
	h, err := CrossValidate(context.Background(), loadCI(t), readGz(t), 2, 25, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out: defaults %.3f, calibrated %.3f; medians defaults %v calibrated %v", h.DefaultCost, h.CalibratedCost, h.Default, h.Calibrated)
	if h.CalibratedCost >= h.DefaultCost {
		t.Errorf("held-out cost %v calibrated, not below %v with defaults", h.CalibratedCost, h.DefaultCost)
	}
}

// TestShippedProfile reads the shipped profile back.
func TestShippedProfile(t *testing.T) {
	p, err := LoadProfile("../calibration/profiles/local-tcg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "local-tcg" || p.SetupTime <= 0 || p.LinkBandwidth <= 0 {
		t.Errorf("profile %+v", p)
	}
}
