package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// calBase is a small pre-copy scenario with a live-round cap, quick to
// simulate, that sets none of the keys a calibration profile sets.
const calBase = `name: cal
vm: {memory: 256MiB, page_size: 4KiB, device_state: 256KiB}
workload:
  generator: {kind: uniform, dirty_rate: 2000, working_set: 64MiB, duration: 20s}
network: {profile: lan-10g}
model: {name: precopy, max_bandwidth: 400Mbit}
`

// plain loads calBase without calibration.
func plain(t *testing.T) *Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plain.yaml")
	writeFile(t, path, calBase)
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.WithoutCalibration() != s {
		t.Error("WithoutCalibration copied an uncalibrated spec")
	}
	return s
}

func precopyParams(t *testing.T, s *Spec) *models.PrecopyParams {
	t.Helper()
	pp, ok := s.Model.Params.(*models.PrecopyParams)
	if !ok {
		t.Fatalf("model params %T", s.Model.Params)
	}
	return pp
}

// TestCalibrationBuiltin: calibration: local-tcg sets the keys the
// scenario does not give from the embedded profile and scales the cap.
func TestCalibrationBuiltin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cal.yaml")
	writeFile(t, path, calBase+"calibration: local-tcg\n")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := calibration.Builtin("local-tcg")
	if err != nil {
		t.Fatal(err)
	}
	pp := precopyParams(t, s)
	if pp.SetupTime != p.SetupTime || pp.ResumeTime != p.ResumeTime || pp.SyncTimePerGiB != p.SyncTimePerGiB {
		t.Errorf("model times %v %v %v, profile %+v", pp.SetupTime, pp.ResumeTime, pp.SyncTimePerGiB, p)
	}
	if s.Network.Bandwidth != p.LinkBandwidth {
		t.Errorf("network.bandwidth %v, profile's link %v (over lan-10g's)", s.Network.Bandwidth, p.LinkBandwidth)
	}
	// local-tcg's single-stream factor is 1 (since 2026-12-07); that a
	// factor scales the cap, TestCalibrationDirection checks with one
	// of 0.5.
	if want := p.ScaleMaxBandwidth(400*units.Mbit, false); pp.MaxBandwidth != want {
		t.Errorf("max_bandwidth %v, want 400Mbit × %v = %v", pp.MaxBandwidth, p.BandwidthFactor, want)
	}
	if s.CalibrationProfile() == nil || s.CalibrationProfile().Name != "local-tcg" {
		t.Errorf("CalibrationProfile = %+v", s.CalibrationProfile())
	}
	// The real side of the validation lab runs the scenario as given.
	u := s.WithoutCalibration()
	up := precopyParams(t, u)
	if up.MaxBandwidth != 400*units.Mbit || up.SetupTime != models.DefaultPrecopyParams().SetupTime || u.Network.Bandwidth != 10*units.Gbit || u.Calibration != "" || u.CalibrationProfile() != nil {
		t.Errorf("WithoutCalibration: cap %v, setup %v, link %v, calibration %q", up.MaxBandwidth, up.SetupTime, u.Network.Bandwidth, u.Calibration)
	}
	if pp.SetupTime != p.SetupTime || plain(t).WithoutCalibration() == nil {
		t.Error("WithoutCalibration changed the calibrated spec")
	}
	// The same by --set, in a sweep-like override.
	s2, err := Load(filepath.Join(dir, "cal.yaml"), []string{"calibration=local-tcg"})
	if err != nil || precopyParams(t, s2).SetupTime != p.SetupTime {
		t.Errorf("--set calibration=local-tcg: %v", err)
	}
}

// TestCalibrationExplicitWins: keys the file or --set give beat the
// profile's; the others still come from it.
func TestCalibrationExplicitWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cal.yaml")
	writeFile(t, path, `name: cal
calibration: local-tcg
network: {bandwidth: 5Gbit, rtt: 0.1ms}
model: {name: precopy, setup_time: 1s}
`)
	s, err := Load(path, []string{"model.resume_time=7ms"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := calibration.Builtin("local-tcg")
	pp := precopyParams(t, s)
	if pp.SetupTime != time.Second || pp.ResumeTime != 7*time.Millisecond || s.Network.Bandwidth != 5*units.Gbit {
		t.Errorf("explicit keys lost: setup %v resume %v bandwidth %v", pp.SetupTime, pp.ResumeTime, s.Network.Bandwidth)
	}
	if pp.SyncTimePerGiB != p.SyncTimePerGiB {
		t.Errorf("sync_time_per_gib %v, the profile's %v", pp.SyncTimePerGiB, p.SyncTimePerGiB)
	}
	// A scenario without network.bandwidth nor a network profile takes the
	// profile's link rate instead of failing.
	writeFile(t, path, "calibration: local-tcg\nnetwork: {profile: \"\", rtt: 0.1ms}\n")
	if s, err := Load(path, nil); err != nil || s.Network.Bandwidth != p.LinkBandwidth {
		t.Errorf("no network.bandwidth: %v", err)
	}
}

// TestCalibrationFileAndErrors: a .yaml value is a file beside the
// scenario; an unknown name is an error at the key's line listing the
// built-in profiles.
func TestCalibrationFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mine.yaml"), "name: mine\nsetup_time: 2s\n")
	path := filepath.Join(dir, "cal.yaml")
	writeFile(t, path, calBase+"calibration: mine.yaml\n")
	s, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	pp := precopyParams(t, s)
	if pp.SetupTime != 2*time.Second || pp.MaxBandwidth != 400*units.Mbit || s.Network.Bandwidth != 10*units.Gbit {
		t.Errorf("mine.yaml: setup %v, cap %v, link %v (only setup_time should change)", pp.SetupTime, pp.MaxBandwidth, s.Network.Bandwidth)
	}

	writeFile(t, path, "name: cal\ncalibration: local-tgc\n")
	_, err = Load(path, nil)
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Key != "calibration" {
		t.Fatalf("unknown name: %v", err)
	}
	for _, want := range append([]string{path + ":2: calibration:", `"local-tgc"`}, calibration.Names()...) {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := Load(path, []string{"calibration=nope.yaml"}); err == nil || !strings.Contains(err.Error(), "--set calibration: ") {
		t.Errorf("missing file by --set: %v", err)
	}
}

// TestCalibrationDirection: a profile moves the simulated result the way
// its parameters say, and the result names it; without the key the JSON
// has no calibration field.
func TestCalibrationDirection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cal.yaml")
	writeFile(t, path, calBase)
	run := func(sets ...string) *models.Result {
		t.Helper()
		s, err := Load(path, sets)
		if err != nil {
			t.Fatal(err)
		}
		m, in, err := s.Build()
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := run()
	if b, _ := json.Marshal(base); strings.Contains(string(b), `"calibration"`) {
		t.Error("an uncalibrated result has a calibration field")
	}
	profile := func(name, text string) string {
		writeFile(t, filepath.Join(dir, name), text)
		return "calibration=" + filepath.Join(dir, name)
	}
	slow := run(profile("slow.yaml", "name: slow\nbandwidth_factor: 0.5\nsetup_time: 500ms\n"))
	if slow.Calibration == "" || !strings.HasSuffix(slow.Calibration, "slow.yaml") {
		t.Errorf("result calibration %q", slow.Calibration)
	}
	if slow.SetupTimeS <= base.SetupTimeS || slow.BandwidthBps >= 0.6*base.BandwidthBps || slow.TotalTimeS <= base.TotalTimeS+0.5 {
		t.Errorf("half the cap and 500ms setup: setup %v→%v s, bandwidth %v→%v, total %v→%v s",
			base.SetupTimeS, slow.SetupTimeS, base.BandwidthBps, slow.BandwidthBps, base.TotalTimeS, slow.TotalTimeS)
	}
	// A slower link and a fixed resume cost lengthen the downtime.
	thin := run(profile("thin.yaml", "name: thin\nlink_bandwidth: 1Gbit\nresume_time: 50ms\n"))
	if thin.DowntimeS <= base.DowntimeS+0.05 {
		t.Errorf("1 Gbit link and 50ms resume: downtime %v → %v s", base.DowntimeS, thin.DowntimeS)
	}
}

// WithMaxTime sets the model's max_time on a copy, calibrated and
// uncalibrated values alike: the spec it came from keeps its parameters.
func TestWithMaxTime(t *testing.T) {
	spec, err := LoadDefault([]string{"calibration=local-tcg"})
	if err != nil {
		t.Fatal(err)
	}
	limited, err := spec.WithMaxTime(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	get := func(s *Spec) time.Duration {
		p, _ := models.PartsOf(s.Model.Params)
		return p.Stream.MaxTime
	}
	if get(limited) != time.Minute || get(limited.WithoutCalibration()) != time.Minute {
		t.Errorf("max_time %v, uncalibrated %v; want 1m0s on both", get(limited), get(limited.WithoutCalibration()))
	}
	if get(spec) != models.DefaultMaxTime || get(spec.WithoutCalibration()) != models.DefaultMaxTime {
		t.Errorf("the original's max_time became %v (uncalibrated %v), want the default %v", get(spec), get(spec.WithoutCalibration()), models.DefaultMaxTime)
	}
	pc, err := LoadDefault([]string{"model.name=postcopy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WithMaxTime(time.Minute); err != nil {
		t.Errorf("post-copy has max_time too: %v", err)
	}
}
