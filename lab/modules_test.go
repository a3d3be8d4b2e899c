package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModulesFromDependencyOrder(t *testing.T) {
	root := t.TempDir()
	dep := `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_balloon.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/unrelated.ko:
`
	if err := os.WriteFile(filepath.Join(root, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "kernel/drivers/virtio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_balloon"} {
		if err := os.WriteFile(filepath.Join(dir, n+".ko"), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mods, err := modulesFrom(root, guestModuleNames)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		if string(m.Data) != m.Name[:len(m.Name)-3] {
			t.Errorf("module %s holds %q", m.Name, m.Data)
		}
		pos[m.Name] = i
	}
	if len(mods) != 6 {
		t.Fatalf("got %d modules %v, want the 6 of virtio_pci and virtio_balloon's closure", len(mods), pos)
	}
	for _, before := range [][2]string{
		{"virtio_ring.ko", "virtio.ko"}, {"virtio.ko", "virtio_pci.ko"}, {"virtio_pci_modern_dev.ko", "virtio_pci.ko"},
		{"virtio_pci_legacy_dev.ko", "virtio_pci.ko"}, {"virtio.ko", "virtio_balloon.ko"},
	} {
		if pos[before[0]] > pos[before[1]] {
			t.Errorf("%s loads after %s", before[0], before[1])
		}
	}
	if mods, err := modulesFrom(t.TempDir(), guestModuleNames); err != nil || mods != nil {
		t.Errorf("a kernel without a module tree gave %v, %v; want none and no error", mods, err)
	}
}
