package lab

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/migsim/migsim/units"
)

// Image is a boot kit for the lab's guests: a Linux kernel and an
// initramfs whose /init is the replayer (cmd/migsim-guest) and which holds
// the trace to replay at /trace.mgt.
type Image struct {
	// Kernel is the path of the kernel (bzImage).
	Kernel string
	// Initramfs is the path of the initramfs (newc cpio, gzip).
	Initramfs string
	// Key is the content hash the image is cached under: it changes when
	// the kernel, the replayer, the trace or the layout changes.
	Key string
	// Cached is true when the image was found in the cache, not built.
	Cached bool
	// Modules are the kernel modules in the initramfs, in load order
	// (the replayer loads them at boot): the virtio PCI transport and
	// balloon driver when the kernel builds them as modules.
	Modules []string
	// Pruned are the least recently used kits removed after this one was
	// built, to keep the cache within [ImageOptions.CacheMax].
	Pruned []CachedImage
}

// ImageOptions say where BuildImage finds its inputs and keeps its output.
type ImageOptions struct {
	// CacheDir is where images are kept, one folder per content hash.
	// Empty means [DefaultCacheDir].
	CacheDir string
	// Kernel is the kernel to boot. Empty means the newest
	// /boot/vmlinuz-* (Debian's linux-image-amd64 puts one there).
	Kernel string
	// Guest is a built migsim-guest binary (static, CGO_ENABLED=0). Empty
	// means build it with the go tool from the migsim module that contains
	// the working directory.
	Guest string
	// CacheMax is the size the cache is pruned to, least recently used
	// kits first, after a kit is built. Zero means [DefaultCacheMax];
	// negative means never prune.
	CacheMax units.Bytes
}

// imageLayout versions the initramfs layout: bump it when the file list,
// modes or device nodes change, so that cached images are rebuilt.
const imageLayout = "migsim-initramfs-2"

// ErrNoKernel reports that no kernel was found to boot.
var ErrNoKernel = errors.New("no kernel found in /boot: install Debian's linux-image-amd64 package " +
	"(apt-get install -y --no-install-recommends linux-image-amd64), run validate/ci-install.sh, or pass a kernel path")

// DefaultCacheDir returns $XDG_CACHE_HOME/migsim, or ~/.cache/migsim.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory: %w", err)
	}
	return filepath.Join(d, "migsim"), nil
}

// FindKernel returns the newest /boot/vmlinuz-* by name, or an error
// wrapping [ErrNoKernel].
func FindKernel() (string, error) {
	m, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(m) == 0 {
		return "", ErrNoKernel
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// BuildImage returns the boot kit for replaying the trace file at trace,
// building it unless the cache holds it already. The build is
// reproducible: the same kernel, replayer and trace give the same bytes,
// so the cache key is a hash of the inputs.
func BuildImage(ctx context.Context, trace string, opts ImageOptions) (*Image, error) {
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		cacheDir = d
	}
	kernel := opts.Kernel
	if kernel == "" {
		k, err := FindKernel()
		if err != nil {
			return nil, err
		}
		kernel = k
	}
	kernelBytes, err := os.ReadFile(kernel)
	if err != nil {
		return nil, fmt.Errorf("reading kernel: %w", err)
	}
	traceBytes, err := os.ReadFile(trace)
	if err != nil {
		return nil, fmt.Errorf("reading trace: %w", err)
	}
	guest := opts.Guest
	if guest == "" {
		tmp, err := os.MkdirTemp("", "migsim-guest-build-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		guest = filepath.Join(tmp, "migsim-guest")
		if err := BuildGuest(ctx, guest); err != nil {
			return nil, err
		}
	}
	guestBytes, err := os.ReadFile(guest)
	if err != nil {
		return nil, fmt.Errorf("reading replayer: %w", err)
	}

	mods, err := findGuestModules(kernel)
	if err != nil {
		return nil, fmt.Errorf("finding the kernel's modules: %w", err)
	}
	parts := [][]byte{[]byte(imageLayout), kernelBytes, guestBytes, traceBytes}
	var modNames []string
	for _, m := range mods {
		parts = append(parts, []byte(m.Name), m.Data)
		modNames = append(modNames, m.Name)
	}
	h := sha256.New()
	var kernelHash string
	for i, part := range parts {
		sum := sha256.Sum256(part)
		h.Write(sum[:])
		if i == 1 {
			kernelHash = hex.EncodeToString(sum[:])
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	dir := filepath.Join(cacheDir, "images", key)
	img := &Image{Kernel: filepath.Join(dir, "vmlinuz"), Initramfs: filepath.Join(dir, "initramfs.cpio.gz"), Key: key, Modules: modNames}
	if fileExists(img.Kernel) && fileExists(img.Initramfs) {
		img.Cached = true
		touch(dir)
		return img, nil
	}

	initramfs, err := buildInitramfs(guestBytes, traceBytes, mods)
	if err != nil {
		return nil, err
	}
	// Build in a temporary folder beside the final one and rename it, so
	// that a concurrent or interrupted build never leaves half an image.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), key+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := storeKernel(cacheDir, kernelHash, kernelBytes, filepath.Join(tmp, "vmlinuz")); err != nil {
		return nil, fmt.Errorf("storing the kernel in the boot-kit cache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "initramfs.cpio.gz"), initramfs, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if fileExists(img.Kernel) && fileExists(img.Initramfs) {
			return img, nil // another build won the race
		}
		return nil, err
	}
	if opts.CacheMax >= 0 {
		limit := opts.CacheMax
		if limit == 0 {
			limit = DefaultCacheMax
		}
		img.Pruned, err = PruneImages(cacheDir, limit, key)
		if err != nil {
			return img, fmt.Errorf("boot kit built, but pruning the cache failed: %w", err)
		}
	}
	return img, nil
}

// BuildGuest builds cmd/migsim-guest, static and reproducible
// (CGO_ENABLED=0, -trimpath, no VCS stamp), to out. It runs the go tool in
// the working directory, which must be inside the migsim module.
func BuildGuest(ctx context.Context, out string) error {
	if _, err := exec.LookPath("go"); err != nil {
		return errors.New("building the replayer needs the go tool in PATH (or pass a built migsim-guest binary)")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=",
		"-o", out, "github.com/migsim/migsim/cmd/migsim-guest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building migsim-guest (run from inside the migsim module, or pass a built binary): %v\n%s",
			err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// buildInitramfs returns the gzipped newc archive: the device nodes the
// replayer and the kernel need, /init, /trace.mgt and the modules in
// /modules (numbered in load order), in sorted order with fixed inodes,
// owners and times.
func buildInitramfs(guest, trace []byte, mods []kernelModule) ([]byte, error) {
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.CharDev("dev/ttyS0", 0o600, 4, 64),
		cpio.CharDev("dev/ttyS1", 0o600, 4, 65),
		cpio.StaticRecord(guest, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755}),
		cpio.Directory("proc", 0o555),
		cpio.StaticRecord(trace, cpio.Info{Name: "trace.mgt", Mode: cpio.S_IFREG | 0o644}),
	}
	if len(mods) > 0 {
		recs = append(recs, cpio.Directory("modules", 0o755))
	}
	for i, m := range mods {
		name := fmt.Sprintf("modules/%02d-%s", i+1, m.Name)
		recs = append(recs, cpio.StaticRecord(m.Data, cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o644}))
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	var raw bytes.Buffer
	w := cpio.Newc.Writer(&raw)
	for i, r := range recs {
		r = cpio.MakeReproducible(r)
		r.Ino = uint64(i + 1)
		r.NLink = 1
		if err := w.WriteRecord(r); err != nil {
			return nil, fmt.Errorf("writing initramfs entry %s: %w", r.Name, err)
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, &raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
