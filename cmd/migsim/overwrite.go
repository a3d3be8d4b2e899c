package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/migsim/migsim/internal/atomicfile"
	"github.com/migsim/migsim/internal/flock"
)

// checkOverwrite refuses to let a command write its output over an
// existing path, unless force: migsim replaces no file it was not asked
// to replace. "-" (stdout) and "" (no output) are always fine. Commands
// call it before they do any work, so a refusal costs nothing.
func checkOverwrite(path string, force bool) error {
	if path == "" || path == "-" {
		return nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory: give a file name", path)
	case !force:
		return fmt.Errorf("%s exists: refusing to replace it (pass --force to overwrite it)", path)
	}
	return nil
}

// writeFileOutput calls write with the file at path, or with stdout when
// path is "-". A file is written under a temporary name in the same
// directory, ".NAME.*.tmp", locked while it is written (see
// removeStaleTemps), and moved to path only when write succeeds, so a
// failed or interrupted run leaves no partial file. With replace false
// the move fails, leaving path alone, if path exists by then.
func writeFileOutput(path string, stdout io.Writer, replace bool, write func(io.Writer) error) (err error) {
	if path == "-" {
		return write(stdout)
	}
	removeStaleTemps(path)
	f, err := atomicfile.Create(path, tempPattern(path))
	if err != nil {
		return err
	}
	defer f.Abort() // nothing once committed
	// The lock only tells removeStaleTemps this file is live; where the
	// file system has none, go on without it.
	_, _ = flock.TryLock(f.File)
	if err := write(f); err != nil {
		return err
	}
	if !replace {
		// A hard link fails if path exists: no window in which a file
		// created meanwhile is replaced.
		if err := os.Link(f.Name(), path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: refusing to replace it (pass --force to overwrite it)", path)
			}
			// No hard links here: fall back on the check done at start.
			if _, serr := os.Lstat(path); serr == nil {
				return fmt.Errorf("%s exists: refusing to replace it (pass --force to overwrite it)", path)
			}
			return f.Commit()
		}
		cerr := f.Close()
		f.Abort() // path holds the content now: drop the temporary name
		return cerr
	}
	return f.Commit()
}

// tempPattern is the os.CreateTemp pattern of path's temporary files.
func tempPattern(path string) string { return atomicfile.Pattern(path) }

// removeStaleTemps removes the temporary files of path that a run killed
// while writing it left behind (kill -9 skips every clean-up): those no
// process holds a lock on. A temporary file another run is still writing
// is locked and stays. Failures are ignored: this is housekeeping.
func removeStaleTemps(path string) {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(tempPattern(path))))
	if err != nil {
		return
	}
	for _, m := range matches {
		f, err := os.OpenFile(m, os.O_RDONLY, 0)
		if err != nil {
			continue
		}
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			f.Close()
			continue
		}
		if held, err := flock.TryLock(f); err == nil && held {
			os.Remove(m)
		}
		f.Close()
	}
}

// globEscape escapes the glob metacharacters of pattern except its one
// '*' (which tempPattern puts there).
func globEscape(pattern string) string {
	before, after, _ := strings.Cut(pattern, "*")
	esc := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if strings.ContainsRune(`*?[]\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	return esc(before) + "*" + esc(after)
}
