package sweep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// outputNames are the files [Run] and [Merge] write in an output
// directory.
var outputNames = []string{ManifestFile, JournalFile, CSVFile, ParquetFile}

// isStaleTemp reports whether name is a temporary file of an output
// (".results.csv.tmp123", as os.CreateTemp names them for
// writeOutputs and writeManifest; see tempPattern).
func isStaleTemp(name string) bool {
	for _, o := range outputNames {
		if strings.HasPrefix(name, "."+o+".tmp") {
			return true
		}
	}
	return false
}

// removeStaleTemps removes the temporary files a run killed while writing
// its outputs left in dir (kill -9 skips every clean-up). Call it holding
// dir's lock: no other migsim is writing there then.
func removeStaleTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isStaleTemp(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing a stale temporary file: %w", err)
		}
	}
	return nil
}

// foreignOutputs returns the output files in dir, which has no manifest:
// files of an output's name that migsim did not write (it writes the
// manifest first).
func foreignOutputs(dir string) []string {
	var out []string
	for _, name := range outputNames[1:] {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// checkForeign refuses to write over output files migsim did not write in
// dir, which has no manifest, unless force; with force it removes them.
func checkForeign(dir string, force bool) error {
	names := foreignOutputs(dir)
	if len(names) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("%s holds %s but no %s: migsim did not write them, and a sweep would replace them; pass --force to replace them, or choose another output directory",
			dir, strings.Join(names, ", "), ManifestFile)
	}
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
