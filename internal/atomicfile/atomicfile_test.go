package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails if dir holds anything but the names in want.
func noTemps(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != len(want) {
		t.Fatalf("%s holds %v, want %v", dir, names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("%s holds %v, want %v", dir, names, want)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}

	// A new file, then its content replaced.
	for _, s := range []string{"old\n", "new content\n"} {
		if err := WriteFile(path, "", write(s)); err != nil {
			t.Fatal(err)
		}
		if got := read(t, path); got != s {
			t.Errorf("content %q, want %q", got, s)
		}
		noTemps(t, dir, "out.txt")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}

	// A write that fails half-way leaves the old file and no temporary one.
	boom := errors.New("boom")
	err := WriteFile(path, ".out.txt.tmp*", func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failed write: %v, want %v", err, boom)
	}
	if got := read(t, path); got != "new content\n" {
		t.Errorf("after a failed write: %q, want the old content", got)
	}
	noTemps(t, dir, "out.txt")

	// A commit that fails (the rename, onto a directory) leaves no temp.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(sub, "", write("x")); err == nil {
		t.Errorf("renaming over a non-empty directory succeeded")
	}
	noTemps(t, dir, "out.txt", "sub")
}

func TestCreateAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Match(".a.*.tmp", filepath.Base(f.Name())); !m || filepath.Dir(f.Name()) != dir {
		t.Errorf("temporary file %s, want .a.*.tmp in %s", f.Name(), dir)
	}
	f.WriteString("new")
	f.Abort()
	f.Abort()
	if got := read(t, path); got != "old" {
		t.Errorf("after Abort: %q", got)
	}
	noTemps(t, dir, "a")
	if err := f.Commit(); err == nil {
		t.Errorf("Commit after Abort succeeded")
	}

	f, err = Create(path, "")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // does nothing after Commit
	if got := read(t, path); got != "new" {
		t.Errorf("after Commit: %q", got)
	}
	noTemps(t, dir, "a")
}
