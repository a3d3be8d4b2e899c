package sweep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/migsim/migsim/internal/flock"
)

// LockFile is the lock file of an output directory. [Run] and [Merge]
// hold an exclusive advisory lock on it (flock(2) on Unix) for as long as
// they write to the directory; the kernel releases it when the process
// exits, however it exits (kill -9 included), so a lock is never left
// stale. The file holds the process ID of the last holder, for the
// message a second run gets. It stays in the directory: removing it
// would let two runs lock two different files of one name. On a file
// system without locks (an NFS mount without a lock daemon) runs go
// unprotected.
const LockFile = ".migsim.lock"

// ErrDirInUse is returned, wrapped, when another process holds an output
// directory's lock.
var ErrDirInUse = errors.New("output directory in use")

// dirLock is a held lock on an output directory.
type dirLock struct {
	f *os.File
}

// lockDir creates dir if needed and takes its lock without waiting. When
// another process holds it, the error wraps [ErrDirInUse] and names that
// process's ID.
func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	held, err := flock.TryLock(f)
	if errors.Is(err, flock.ErrUnsupported) {
		// A file system without locks: run unprotected rather than not
		// at all (see LockFile).
		err = nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if !held {
		f.Close()
		who := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				who = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%w: %s is in use by %s (another migsim sweep or merge writing to it); wait for it to end, or choose another directory",
			ErrDirInUse, dir, who)
	}
	// Record who holds it. A failure here does not lose the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock; closing the file releases it.
func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
