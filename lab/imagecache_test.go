package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// buildKits builds n kits for n different traces sharing one kernel and
// replayer, and ages each kit's use time so that kit i was used i hours
// ago (kit 0 most recently).
func buildKits(t *testing.T, n int, opts ImageOptions) []*Image {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var kits []*Image
	for i := range n {
		trace := filepath.Join(dir, fmt.Sprintf("trace%d.mgt", i))
		if err := os.WriteFile(trace, []byte(fmt.Sprintf("trace %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := BuildImage(ctx, trace, opts)
		if err != nil {
			t.Fatal(err)
		}
		kits = append(kits, img)
	}
	for i, k := range kits {
		when := time.Now().Add(-time.Duration(n-i) * time.Hour)
		if err := os.Chtimes(filepath.Dir(k.Kernel), when, when); err != nil {
			t.Fatal(err)
		}
	}
	kernels, _ := filepath.Glob(filepath.Join(opts.CacheDir, "kernels", "*"))
	old := time.Now().Add(-time.Duration(n+1) * time.Hour)
	for _, k := range kernels {
		if err := os.Chtimes(k, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return kits
}

func labInputs(t *testing.T, kernelSize int) (kernel, guest string) {
	t.Helper()
	dir := t.TempDir()
	kernel, guest = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "guest")
	if err := os.WriteFile(kernel, make([]byte, kernelSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(guest, []byte("guest"), 0o644); err != nil {
		t.Fatal(err)
	}
	return kernel, guest
}

func TestKitsShareOneKernel(t *testing.T) {
	kernel, guest := labInputs(t, 1<<20)
	opts := ImageOptions{CacheDir: t.TempDir(), Kernel: kernel, Guest: guest, CacheMax: -1}
	kits := buildKits(t, 3, opts)
	var ino uint64
	for i, k := range kits {
		info, err := os.Stat(k.Kernel)
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if i == 0 {
			ino = st.Ino
		} else if st.Ino != ino {
			t.Errorf("kit %d's kernel is inode %d, kit 0's is %d: want one shared copy", i, st.Ino, ino)
		}
	}
	list, err := ListImages(opts.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("ListImages found %d kits, want 3", len(list))
	}
	// Each kit's share of the 1 MiB kernel is a quarter (three kits and
	// the store link it), plus its own small initramfs.
	for _, k := range list {
		if k.Bytes < 256*units.KiB || k.Bytes > 300*units.KiB {
			t.Errorf("kit %s counts %v, want about a quarter of the shared 1 MiB kernel", k.Key, k.Bytes)
		}
	}
	for i := 1; i < len(list); i++ {
		if list[i].Used.Before(list[i-1].Used) {
			t.Errorf("ListImages is not least recently used first: %v", list)
		}
	}
}

func TestPruneRemovesLeastRecentlyUsed(t *testing.T) {
	kernel, guest := labInputs(t, 64<<10)
	opts := ImageOptions{CacheDir: t.TempDir(), Kernel: kernel, Guest: guest, CacheMax: -1}
	kits := buildKits(t, 4, opts)
	list, err := ListImages(opts.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	per := list[0].Bytes
	// Room for two kits: the two used longest ago go, and kits[0] (the
	// oldest) is kept because it is named.
	removed, err := PruneImages(opts.CacheDir, 2*per+per/2, kits[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 || removed[0].Key != kits[1].Key || removed[1].Key != kits[2].Key {
		t.Fatalf("removed %v, want kits 1 and 2 (least recently used, kit 0 kept by name)", removed)
	}
	for i, k := range kits {
		gone := !fileExists(k.Initramfs)
		if gone != (i == 1 || i == 2) {
			t.Errorf("kit %d: removed=%v", i, gone)
		}
	}
	// A kit used just now is never pruned, whatever the limit.
	touch(filepath.Dir(kits[3].Kernel))
	if removed, err = PruneImages(opts.CacheDir, 0, ""); err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Key != kits[0].Key || !fileExists(kits[3].Initramfs) {
		t.Errorf("with limit 0 removed %v, want only kit 0 (kit 3 was just used)", removed)
	}
	// The shared kernel stays while kit 3 links it.
	if ks, _ := filepath.Glob(filepath.Join(opts.CacheDir, "kernels", "*")); len(ks) != 1 {
		t.Errorf("kernel store holds %v, want the one kernel kit 3 still uses", ks)
	}
}

func TestBuildPrunesToCacheMax(t *testing.T) {
	kernel, guest := labInputs(t, 64<<10)
	opts := ImageOptions{CacheDir: t.TempDir(), Kernel: kernel, Guest: guest, CacheMax: -1}
	kits := buildKits(t, 3, opts)
	opts.CacheMax = 1 // bytes: everything not protected goes
	dir := t.TempDir()
	trace := filepath.Join(dir, "new.mgt")
	if err := os.WriteFile(trace, []byte("new trace"), 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := BuildImage(context.Background(), trace, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Pruned) != 3 || !fileExists(img.Initramfs) || !fileExists(img.Kernel) {
		t.Errorf("build pruned %d kits (want the 3 older ones) and kept its own: %v", len(img.Pruned), img)
	}
	for _, k := range kits {
		if fileExists(k.Initramfs) {
			t.Errorf("kit %s survived a 1-byte cache limit", k.Key)
		}
	}
}
