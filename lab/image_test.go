package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

func TestBuildInitramfsIsReproducible(t *testing.T) {
	mods := []kernelModule{{Name: "virtio_ring.ko", Data: []byte("ring")}, {Name: "virtio.ko", Data: []byte("virtio")}}
	a, err := buildInitramfs([]byte("guest"), []byte("trace"), mods)
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildInitramfs([]byte("guest"), []byte("trace"), mods)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds from the same inputs differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
		if r.MTime != 0 || r.UID != 0 {
			t.Errorf("%s: mtime %d uid %d, want 0 and 0", r.Name, r.MTime, r.UID)
		}
		switch r.Name {
		case "init":
			if r.Mode != cpio.S_IFREG|0o755 {
				t.Errorf("init mode %o, want an executable file", r.Mode)
			}
		case "dev/console":
			if r.Mode&cpio.S_IFMT != cpio.S_IFCHR || r.Rmajor != 5 || r.Rminor != 1 {
				t.Errorf("dev/console = mode %o %d:%d, want the char device 5:1", r.Mode, r.Rmajor, r.Rminor)
			}
		}
	}
	// Modules keep their load order (dependencies first) in their names.
	want := []string{"dev", "dev/console", "dev/null", "dev/ttyS0", "dev/ttyS1", "init",
		"modules", "modules/01-virtio_ring.ko", "modules/02-virtio.ko", "proc", "trace.mgt"}
	if len(names) != len(want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %v, want %v in that order", names, want)
		}
	}
}

func TestBuildImageCaches(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	guest := filepath.Join(dir, "guest")
	trace := filepath.Join(dir, "trace.mgt")
	for _, f := range []string{kernel, guest, trace} {
		if err := os.WriteFile(f, []byte(filepath.Base(f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := ImageOptions{CacheDir: filepath.Join(dir, "cache"), Kernel: kernel, Guest: guest}
	first, err := BuildImage(ctx, trace, opts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := BuildImage(ctx, trace, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || !second.Cached || first.Key != second.Key || first.Initramfs != second.Initramfs {
		t.Errorf("first %+v, second %+v: want a build, then the same image from the cache", first, second)
	}
	if err := os.WriteFile(trace, []byte("another trace"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := BuildImage(ctx, trace, opts)
	if err != nil {
		t.Fatal(err)
	}
	if third.Cached || third.Key == first.Key {
		t.Errorf("a new trace gave %+v, want a new build under a new key", third)
	}
}
