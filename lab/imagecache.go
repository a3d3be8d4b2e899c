package lab

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/migsim/migsim/internal/atomicfile"
	"github.com/migsim/migsim/units"
)

// DefaultCacheMax is the size the boot-kit cache is pruned to after a
// build when [ImageOptions.CacheMax] is zero. A kit is about 9 MiB (the
// kernel is most of it and is stored once per kernel, hard-linked into
// each kit), so this keeps a few hundred kits.
const DefaultCacheMax = 2 * units.GiB

// pruneGrace is how recently a kit must have been used to be safe from
// pruning: a run that has just looked a kit up has not necessarily started
// QEMU on it yet.
const pruneGrace = 10 * time.Minute

// CachedImage is one boot kit in the cache, as [ListImages] finds it.
type CachedImage struct {
	// Key is the kit's content hash (its folder name).
	Key string
	// Dir is the kit's folder.
	Dir string
	// Bytes is the space the kit alone holds: files whose other hard
	// links (a kernel shared with other kits) are elsewhere are not
	// counted.
	Bytes units.Bytes
	// Used is when the kit was last built or looked up.
	Used time.Time
}

// ListImages returns the boot kits in cacheDir, least recently used first.
// A cache that does not exist yet holds no kits.
func ListImages(cacheDir string) ([]CachedImage, error) {
	root := filepath.Join(cacheDir, "images")
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the boot-kit cache: %w", err)
	}
	var out []CachedImage
	for _, e := range ents {
		if !e.IsDir() || strings.Contains(e.Name(), ".tmp-") {
			continue
		}
		dir := filepath.Join(root, e.Name())
		info, err := os.Stat(dir)
		if err != nil {
			continue // removed meanwhile by a concurrent prune
		}
		out = append(out, CachedImage{Key: e.Name(), Dir: dir, Bytes: ownBytes(dir), Used: info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Used.Equal(out[j].Used) {
			return out[i].Used.Before(out[j].Used)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// ownBytes is the size of the files in dir that have no hard link
// elsewhere, plus each shared file's size divided among its links.
func ownBytes(dir string) units.Bytes {
	var n float64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		links := 1.0
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			links = float64(st.Nlink)
		}
		n += float64(info.Size()) / links
	}
	return units.Bytes(n)
}

// PruneImages removes the least recently used boot kits from cacheDir
// until the kits take at most max bytes, never removing keep or a kit used
// in the last ten minutes (a run may be about to boot it). It then removes
// stored kernels no kit links to any more. It returns the kits removed.
func PruneImages(cacheDir string, max units.Bytes, keep string) ([]CachedImage, error) {
	kits, err := ListImages(cacheDir)
	if err != nil {
		return nil, err
	}
	var total units.Bytes
	for _, k := range kits {
		total += k.Bytes
	}
	var removed []CachedImage
	now := time.Now()
	for _, k := range kits {
		if total <= max {
			break
		}
		if k.Key == keep || now.Sub(k.Used) < pruneGrace {
			continue
		}
		if err := os.RemoveAll(k.Dir); err != nil {
			return removed, fmt.Errorf("pruning boot kit %s: %w", k.Key, err)
		}
		total -= k.Bytes
		removed = append(removed, k)
	}
	return removed, pruneKernels(cacheDir)
}

// pruneKernels removes stored kernels whose only link is the store's own.
func pruneKernels(cacheDir string) error {
	root := filepath.Join(cacheDir, "kernels")
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if time.Since(info.ModTime()) < pruneGrace {
			continue // a build may be about to link it
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
			if err := os.Remove(filepath.Join(root, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// storeKernel places the kernel's bytes at dst as a hard link to one copy
// kept per kernel hash under cacheDir/kernels, so kits built for different
// traces share it; where hard links fail (another file system) it writes a
// copy.
func storeKernel(cacheDir, hash string, kernel []byte, dst string) error {
	root := filepath.Join(cacheDir, "kernels")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	shared := filepath.Join(root, hash)
	if !fileExists(shared) {
		err := atomicfile.WriteFile(shared, hash+".tmp-", func(w io.Writer) error {
			_, err := w.Write(kernel)
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := os.Link(shared, dst); err == nil {
		return nil
	}
	return os.WriteFile(dst, kernel, 0o644)
}

// touch marks a kit as used now, for least-recently-used pruning.
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}
