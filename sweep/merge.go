package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MergeOptions configure [Merge].
type MergeOptions struct {
	// Formats are the tables to write.
	Formats Formats
	// Force lets Merge replace what dir holds: a sweep's outputs, or
	// output files migsim did not write. Without it either is an error.
	Force bool
}

// Merge joins the output directories of the shards of one sweep into dir,
// which then holds exactly what an unsharded run of the sweep writes. It
// is an error, before anything is written, when the directories hold
// different sweeps, a shard twice, not every shard, or an incomplete
// shard; and when dir already holds a sweep, or output files migsim did
// not write, unless o.Force. It holds dir's lock (see [LockFile]) while
// it writes.
func Merge(dir string, shardDirs []string, o MergeOptions) (err error) {
	formats := o.Formats
	if len(shardDirs) == 0 {
		return fmt.Errorf("merge: no shard directories given")
	}
	var first *Manifest
	seen := map[int]string{}
	var ix *lineIndex
	n := 0
	for _, sd := range shardDirs {
		m, err := ReadManifest(sd)
		if err != nil {
			return err
		}
		sh, _ := m.shard()
		if first == nil {
			first = m
			n = max(sh.N, 1)
			ix = newLineIndex(m.Points, true)
		} else if err := first.sameSweep(m); err != nil {
			return fmt.Errorf("merge: %s holds %v; %s holds sweep %q", sd, err, shardDirs[0], first.Sweep)
		} else if m.detail() != first.detail() {
			return fmt.Errorf("merge: %s holds results %s detail, %s %s: run the shards alike", sd, withOrWithout(m.detail()), shardDirs[0], withOrWithout(first.detail()))
		}
		if max(sh.N, 1) != n {
			return fmt.Errorf("merge: %s holds %s, but %s holds %s: give the directories of one split of the sweep",
				sd, describeShard(m.Shard), shardDirs[0], describeShard(first.Shard))
		}
		k := max(sh.K, 1)
		if prev, dup := seen[k]; dup {
			return fmt.Errorf("merge: %s and %s both hold shard %s", prev, sd, orWhole(m.Shard))
		}
		seen[k] = sd
		// Each shard's lines go into one index; a shard's journal holds
		// only its own points (a run refuses any other), which scanning
		// checks against those the index holds already.
		path := filepath.Join(sd, JournalFile)
		had := ix.lines
		if _, err := scanJournal(path, ix, nil); err != nil {
			return err
		}
		fi, _ := ix.file(path)
		want := sh.Points(m.Points)
		got := 0
		for _, p := range want {
			if ix.has(p) && ix.locs[p].file == fi {
				got++
			}
		}
		if ix.lines-had > got {
			return fmt.Errorf("merge: %s holds points that are not in shard %s", sd, orWhole(m.Shard))
		}
		if got != len(want) {
			return fmt.Errorf("merge: %s is incomplete: %d of its %d points are done; finish it with migsim sweep --shard %s --resume",
				sd, got, len(want), orWhole(m.Shard))
		}
	}
	if len(seen) != n {
		var missing []string
		for k := 1; k <= n; k++ {
			if _, ok := seen[k]; !ok {
				missing = append(missing, fmt.Sprintf("%d/%d", k, n))
			}
		}
		if len(missing) == 1 {
			return fmt.Errorf("merge: shard %s is missing", missing[0])
		}
		return fmt.Errorf("merge: shards %s are missing", strings.Join(missing, ", "))
	}
	h := sha256.New()
	for _, id := range ix.ids {
		h.Write([]byte(formatID(id)))
		h.Write([]byte{'\n'})
	}
	if fp := hex.EncodeToString(h.Sum(nil))[:16]; fp != first.Fingerprint {
		return fmt.Errorf("merge: the shards' point IDs give fingerprint %s, not the sweep's %s: a shard was run from another version of the sweep", fp, first.Fingerprint)
	}
	if slices.Contains(shardDirs, dir) {
		return fmt.Errorf("merge: the output directory %s is one of the shards", dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := lock.unlock(); err == nil {
			err = uerr
		}
	}()
	if err := removeStaleTemps(dir); err != nil {
		return err
	}
	if err := checkMergeDir(dir, o.Force); err != nil {
		return err
	}
	m := *first
	m.Shard, m.ShardPoints = "", m.Points
	points := Shard{}.Points(m.Points)
	return writeOutputs(dir, &m, points, ix, formats)
}

func describeShard(shard string) string {
	if shard == "" {
		return "the whole sweep"
	}
	return "shard " + shard
}

// checkMergeDir refuses a merge into dir when it holds a sweep's outputs
// or output files migsim did not write, unless force; with force it
// removes the tables the merge may not rewrite, so that none is left from
// before.
func checkMergeDir(dir string, force bool) error {
	m, err := ReadManifest(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return checkForeign(dir, force)
	case force:
	case err != nil:
		return fmt.Errorf("merge: %s holds a %s migsim cannot read (%v); pass --force to replace it", dir, ManifestFile, err)
	default:
		return fmt.Errorf("merge: %s already holds sweep %q (%d points); pass --force to replace it, or choose another output directory", dir, m.Sweep, m.Points)
	}
	for _, name := range []string{CSVFile, ParquetFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
