package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// guestModuleNames are the modules the boot kit carries when the kernel
// builds them as modules (Debian's does): the virtio PCI transport and the
// balloon driver, for balloon and free-page-hint runs.
var guestModuleNames = []string{"virtio_pci", "virtio_balloon"}

// kernelModule is one module file for the initramfs.
type kernelModule struct {
	// Name is the module file's name ("virtio_balloon.ko").
	Name string
	Data []byte
}

// findGuestModules returns guestModuleNames and their dependencies, in an
// order that loads dependencies first, read from /lib/modules/VERSION of
// the kernel at kernelPath (VERSION from its name, vmlinuz-VERSION). A
// kernel whose module tree is not installed gets none: the kit then boots
// without them and a run that needs the balloon says so.
func findGuestModules(kernelPath string) ([]kernelModule, error) {
	ver, ok := strings.CutPrefix(filepath.Base(kernelPath), "vmlinuz-")
	if !ok {
		return nil, nil
	}
	return modulesFrom(filepath.Join("/lib/modules", ver), guestModuleNames)
}

// modulesFrom resolves names against root's modules.dep.
func modulesFrom(root string, names []string) ([]kernelModule, error) {
	f, err := os.Open(filepath.Join(root, "modules.dep"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{} // path -> its dependencies' paths
	byName := map[string]string{} // module name -> path
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, fmt.Errorf("%s line %d: %q: want \"module: dependencies\"", f.Name(), line, sc.Text())
		}
		deps[mod] = strings.Fields(rest)
		byName[moduleName(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		// modules.dep lists every dependency, direct or not; visiting
		// them first still gives a valid order.
		for _, d := range deps[p] {
			visit(d)
		}
		order = append(order, p)
	}
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			continue // built into the kernel, or not built at all
		}
		visit(p)
	}
	out := make([]kernelModule, 0, len(order))
	for _, p := range order {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, fmt.Errorf("reading module: %w", err)
		}
		out = append(out, kernelModule{Name: filepath.Base(p), Data: b})
	}
	return out, nil
}

// moduleName is a module's name from its path: "kernel/drivers/virtio/
// virtio_pci.ko.xz" is "virtio_pci".
func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
