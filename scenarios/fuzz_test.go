package scenarios

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz targets for the scenario loader, the sweep loader and --set
// parsing (issue 20, item 11). Seeds are the f.Add calls below and the
// corpora in testdata/fuzz/<target>; run one with, e.g.,
//
//	go test -run='^$' -fuzz='^FuzzLoad$' -fuzztime=10m ./scenarios
//
// The loaders must never panic: whatever the input, they return a
// scenario or sweep that validated, or an error.

// fuzzSkip reports whether a fuzz input names a device or process file,
// which a loader would open (a trace, a base or a calibration profile)
// and which could block the fuzzer (reading /dev/stdin) rather than test
// the loader.
func fuzzSkip(data []byte) bool {
	for _, s := range []string{"/dev", "/proc", "/sys", "\\"} {
		if bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

// exampleSeeds adds every example scenario to f.
func exampleSeeds(f *testing.F, glob string) {
	paths, err := filepath.Glob(glob)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzLoad loads arbitrary bytes as a scenario file. A scenario that
// loads must be one its own checks accept: it builds a model and input.
func FuzzLoad(f *testing.F) {
	exampleSeeds(f, "examples/*.yaml")
	f.Add([]byte("name: x\nseed: 18446744073709551616\nvm: {vcpus: 99999999999999999999}\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("network: {bandwidth: 2bit}\nworkload: {generator: {epoch: 1ns}}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if fuzzSkip(data) {
			return
		}
		spec, err := load(filepath.Join(dir, "fuzz.yaml"), data, nil)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("empty error message")
			}
			return
		}
		if _, _, err := spec.Build(); err != nil && !strings.Contains(err.Error(), "trace") {
			t.Errorf("a scenario that loaded does not build: %v", err)
		}
	})
}

// FuzzSet applies an arbitrary --set override to the built-in scenario.
func FuzzSet(f *testing.F) {
	for _, s := range []string{
		"model.downtime_limit=30ms", "seed=18446744073709551616", "vm.vcpus=99999999999999999999",
		"network={profile: metro}", "network.bandwidth=2bit", "workload.generator.epoch=1ns",
		"model={name: postcopy, prepaging: bubbling}", "network.bandwidth_schedule=[{at: 0s, bandwidth: 1Gbit}]",
		"workload.generator.phases[1].dirty_rate=5", "=", "x", "model.name=", "vm=[1, 2]", "seed=&a [*a]",
	} {
		key, val, _ := strings.Cut(s, "=")
		f.Add(key, val)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		if fuzzSkip([]byte(key + value)) {
			return
		}
		_, err := LoadDefault([]string{key + "=" + value})
		var se *Error
		if err != nil && !errors.As(err, &se) {
			t.Errorf("--set %s=%s: error %T %v is not an *Error naming the key", key, value, err, err)
		}
	})
}
