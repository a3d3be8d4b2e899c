package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// File is the temporary file that becomes path on Commit. Write to it
// through its embedded *os.File.
type File struct {
	*os.File
	path string
	done bool // committed or aborted
}

// Pattern is the default os.CreateTemp pattern of path's temporary file:
// ".NAME.*.tmp", NAME being path's base name.
func Pattern(path string) string { return "." + filepath.Base(path) + ".*.tmp" }

// Create creates the temporary file for path, in path's directory, named
// by pattern as os.CreateTemp names files ("" means [Pattern](path)), with
// mode 0644.
func Create(path, pattern string) (*File, error) {
	if pattern == "" {
		pattern = Pattern(path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Path is the file the temporary file becomes.
func (f *File) Path() string { return f.path }

// Commit fsyncs and closes the temporary file, renames it to the file's
// path and fsyncs the directory. On an error before the rename it removes
// the temporary file, leaving path as it was.
func (f *File) Commit() (err error) {
	if f.done {
		return errors.New("atomicfile: " + f.path + " already committed or aborted")
	}
	defer func() {
		if err != nil && !f.done {
			f.Abort()
		}
	}()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		return err
	}
	f.done = true
	return SyncDir(filepath.Dir(f.path))
}

// Abort closes and removes the temporary file unless it was committed; it
// leaves path alone. It may be deferred: after Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes path atomically: write's output goes to a temporary
// file (see [Create]; pattern "" is the default), which Commit renames to
// path when write succeeds. When write or the commit fails, path is left
// as it was and no temporary file stays.
func WriteFile(path, pattern string, write func(w io.Writer) error) error {
	f, err := Create(path, pattern)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

// SyncDir fsyncs directory dir, so that a rename in it is durable. File
// systems that cannot sync a directory are let be.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
