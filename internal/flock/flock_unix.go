//go:build unix

package flock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// TryLock takes an exclusive lock on f without waiting. It returns false,
// and no error, when another open file description holds a lock on the
// file (another process, or another os.Open of it in this one). On a file
// system that has no locks (an NFS mount without a lock daemon: ENOLCK,
// or EOPNOTSUPP) it takes none and returns true with [ErrUnsupported],
// which callers may take as a warning.
func TryLock(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP):
			return true, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		return false, err
	}
}
