package flock

import "errors"

// ErrUnsupported is returned, wrapped, with true by [TryLock] when the
// file system takes no locks: the caller holds nothing.
var ErrUnsupported = errors.New("file locks are not supported here")
