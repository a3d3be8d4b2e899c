package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// TestFreePageHintArgs checks the devices and kernel settings of a hinting
// run, and that other runs are unchanged.
func TestFreePageHintArgs(t *testing.T) {
	img := &Image{Kernel: "k", Initramfs: "i"}
	plain := qemuArgs(img, "/d", "source", 256*units.MiB+8*units.KiB, "tcg", models.AtEndLoop, false)
	hint := withFreePageHint(plain)
	if strings.Contains(strings.Join(plain, " "), "balloon") {
		t.Errorf("plain run has a balloon: %v", plain)
	}
	j := strings.Join(hint, " ")
	for _, want := range []string{"-object iothread,id=hint0", "-device virtio-balloon-pci,id=balloon0,free-page-hint=on,iothread=hint0"} {
		if !strings.Contains(j, want) {
			t.Errorf("hint args lack %q: %v", want, hint)
		}
	}
	ap := hint[slices.Index(hint, "-append")+1]
	if !strings.Contains(ap, " migsim.free=1") || !strings.Contains(ap, " init_on_alloc=0") || !strings.HasPrefix(ap, plain[slices.Index(plain, "-append")+1]) {
		t.Errorf("hint kernel command line %q", ap)
	}
}

// TestCompareRAMHinted: a page the destination holds zero where the source
// does not is hinted; any other difference is bad.
func TestCompareRAMHinted(t *testing.T) {
	a := make([]byte, 4*4096)
	b := make([]byte, 4*4096)
	a[0], b[0] = 1, 1 // same
	a[4096+7] = 2     // hinted: zero on the destination
	a[2*4096] = 3     // bad: differs, not zero
	b[2*4096] = 4
	same, hinted, bad, first := compareRAMHinted(a, b)
	if same != 2 || hinted != 1 || bad != 1 || first != 2 {
		t.Errorf("compareRAMHinted = same %d hinted %d bad %d first %d, want 2 1 1 2", same, hinted, bad, first)
	}
}

// TestBalloonSettings checks the DSB run's devices and target.
func TestBalloonSettings(t *testing.T) {
	img := &Image{Kernel: "k", Initramfs: "i"}
	args := withBalloon(qemuArgs(img, "/d", "source", 256*units.MiB+8*units.KiB, "tcg", models.AtEndLoop, false))
	j := strings.Join(args, " ")
	if !strings.Contains(j, "-device virtio-balloon-pci,id=balloon0") || strings.Contains(j, "free-page-hint") || !strings.Contains(j, " migsim.free=1") {
		t.Errorf("balloon args %v", args)
	}
	mem := 256 * units.MiB
	// 100 MiB free, 20 MiB kept: 0.95 × 80 MiB taken, in whole pages.
	got := balloonTarget(mem, 100*1024, 0.95, 20*units.MiB)
	if take := mem - got; take%(4*units.KiB) != 0 || take > 76*units.MiB || take < 76*units.MiB-4*units.KiB {
		t.Errorf("balloonTarget took %v, want 76 MiB", take)
	}
	if got := balloonTarget(mem, 10*1024, 0.95, 20*units.MiB); got != mem {
		t.Errorf("balloonTarget below min_free = %v, want the whole %v", got, mem)
	}
}

// TestHintablePages reads the replayer's count of hintable pages.
func TestHintablePages(t *testing.T) {
	if got := hintablePages("MIGSIM ready pages=1 hint_pages=4096 mem_free_kb=9"); got != 4096 {
		t.Errorf("hintablePages = %d", got)
	}
	if got := hintablePages("MIGSIM ready pages=1 hint_pages=-1"); got != 0 {
		t.Errorf("hintablePages of -1 = %d, want 0", got)
	}
}
