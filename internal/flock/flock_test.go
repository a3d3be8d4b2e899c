package flock

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestTryLock: a second open of a locked file cannot lock it until the
// first is closed.
func TestTryLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "lock")
	a, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := TryLock(a); !ok || err != nil {
		t.Fatalf("first lock: %v, %v", ok, err)
	}
	b, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ok, err := TryLock(b); ok || err != nil {
		t.Errorf("second lock while the first is held: %v, %v; want false, nil", ok, err)
	}
	a.Close()
	if ok, err := TryLock(b); !ok || err != nil {
		t.Errorf("second lock after the first was closed: %v, %v; want true, nil", ok, err)
	}
}
