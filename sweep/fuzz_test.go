package sweep

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A fuzz target for the sweep loader (issue 20, item 11). Seeds are the
// f.Add calls below and the corpus in testdata/fuzz/FuzzLoadSweep; run it
// with
//
//	go test -run='^$' -fuzz='^FuzzLoadSweep$' -fuzztime=10m ./sweep
//
// The loader must never panic: whatever the input, it returns a sweep
// whose points validated, or an error.

// fuzzSkip reports whether a fuzz input names a device or process file,
// which the loader would open (a base, a trace or a calibration profile)
// and which could block the fuzzer rather than test the loader.
func fuzzSkip(data []byte) bool {
	for _, s := range []string{"/dev", "/proc", "/sys", "\\"} {
		if bytes.Contains(data, []byte(s)) {
			return true
		}
	}
	return false
}

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

// FuzzLoadSweep loads arbitrary bytes as a sweep file, checking every
// point of a sweep of at most 64 points. A sweep that loads has a
// fingerprint and points that match its length.
func FuzzLoadSweep(f *testing.F) {
	exampleSeeds(f, "../scenarios/papers/*/sweep.yaml")
	f.Add([]byte("name: a\ngrid:\n  network.bandwidth_schedule:\n    - [&s {at: 0s, bandwidth: 1Gbit}]\n    - [*s]\n"))
	f.Add([]byte("{name: f, base: {seed: 3, vm: {memory: 1GiB}}, grid: {model.downtime_limit: [100ms, 200ms]}}"))
	f.Add([]byte("base: {vm: {memory: 64MiB}}\nrandom: {n: 3, keys: {network.bandwidth: {min: 1Gbit, max: 2Gbit, log: true}}}\nlatin: {n: 3, keys: {model.name: {values: [precopy, postcopy]}}}\nrepeat: 2\n"))
	f.Add([]byte("zip:\n  network.bandwidth: [1Gbit, 2Gbit]\n  network.rtt: [1ms]\nseed: -1\n"))
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if fuzzSkip(data) {
			return
		}
		sf, err := parseSweep(path, data)
		if err != nil {
			return
		}
		n, err := sf.count()
		if err != nil || n > 64 {
			return
		}
		sw, err := sf.newSweep(nil)
		if err != nil {
			return
		}
		if err := sw.check(t.Context(), true, true, nil); err != nil {
			return
		}
		if sw.Len() != n || len(sw.Points) != n || len(sw.Fingerprint) != 16 {
			t.Errorf("a sweep of %d points has Len %d, %d points, fingerprint %q", n, sw.Len(), len(sw.Points), sw.Fingerprint)
		}
		for i := range sw.Points {
			if p := &sw.Points[i]; p.Index != i || len(p.Columns) != len(sw.Axes) || p.Spec == nil {
				t.Errorf("point %d: index %d, %d columns for %d axes", i, p.Index, len(p.Columns), len(sw.Axes))
			}
		}
	})
}
