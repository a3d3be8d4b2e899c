package sweep

import (
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
	entries := map[int]entry{}
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
		} else if err := first.sameSweep(m); err != nil {
			return fmt.Errorf("merge: %s holds %v; %s holds sweep %q", sd, err, shardDirs[0], first.Sweep)
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
		es, _, err := scanJournal(filepath.Join(sd, JournalFile), m.Points, nil)
		if err != nil {
			return err
		}
		want := sh.Points(m.Points)
		if len(es) != len(want) {
			return fmt.Errorf("merge: %s is incomplete: %d of its %d points are done; finish it with migsim sweep --shard %s --resume",
				sd, len(es), len(want), orWhole(m.Shard))
		}
		for _, p := range want {
			e, ok := es[p]
			if !ok {
				return fmt.Errorf("merge: %s lacks point %d of shard %s", sd, p, orWhole(m.Shard))
			}
			entries[p] = e
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
	ids := make([]string, first.Points)
	for p, e := range entries {
		ids[p] = e.id
	}
	if fp := Fingerprint(ids); fp != first.Fingerprint {
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
	return writeOutputs(dir, &m, points, entries, formats)
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
