package validate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

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
	pre := models.DefaultPrecopyParams()
	if migParamsOf(t, pre).FreePageHint {
		t.Error("hinting on without model.free_page_hint")
	}
	pre.FreePageHint = true
	if !migParamsOf(t, pre).FreePageHint {
		t.Error("model.free_page_hint did not turn hinting on")
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

// TestHintedLayout checks the counts the simulator is given.
func TestHintedLayout(t *testing.T) {
	tz := roaring.New()
	tz.AddRange(0, 100)
	tf := roaring.New()
	tf.AddRange(100, 300)
	// More hintable pages than the region's untouched 300: the rest at the
	// top of RAM, zero pages below them (2400 zero pages counted, 1900 of
	// them among the free: 100 hinted pages were not zero).
	zero, free := hintedLayout(10000, 1000, tz, tf, 2000, 100, 2400)
	if free.GetCardinality() != 2000 || !free.Contains(9999) || !free.Contains(0) || free.Contains(8299) {
		t.Errorf("free %d pages (%v)", free.GetCardinality(), free)
	}
	if zero.GetCardinality() != 500 || zero.Intersects(free) || !zero.Contains(8299) || zero.Contains(7799) {
		t.Errorf("zero %d pages (%v)", zero.GetCardinality(), zero)
	}
	// Fewer: part of the region's untouched pages, the others stay zero.
	zero, free = hintedLayout(10000, 1000, tz, tf, 120, 0, 300)
	if free.GetCardinality() != 120 || zero.GetCardinality() != 180 || zero.Intersects(free) {
		t.Errorf("free %d, zero %d: want 120 and 180, disjoint", free.GetCardinality(), zero.GetCardinality())
	}
	if got := hintablePages("MIGSIM ready pages=1 hint_pages=4096 mem_free_kb=9"); got != 4096 {
		t.Errorf("hintablePages = %d", got)
	}
	if got := hintablePages("MIGSIM ready pages=1 hint_pages=-1"); got != 0 {
		t.Errorf("hintablePages of -1 = %d, want 0", got)
	}
}

// TestFreePageHintRun runs the suite's free-page-hint case for real: the
// guest's kernel must hint its free blocks (QEMU sends far fewer zero
// pages than the source held), the destination's memory must verify (hinted
// pages aside), and the simulator, given the hintable count, must skip it.
func TestFreePageHintRun(t *testing.T) {
	needQEMU(t)
	if _, err := FindKernel(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	c := runFullCase(t, "freehint-")
	r := c.Real
	guestPages := r.GuestMemoryBytes / 4096
	if r.FreePagesAtReady == 0 || r.FreePagesAtReady > guestPages {
		t.Fatalf("hintable pages %d of %d: the replayer did not report them", r.FreePagesAtReady, guestPages)
	}
	if r.Metrics.Pages.Total < guestPages {
		t.Errorf("ram.total %d pages, want the guest's %d: hinting leaves it unchanged", r.Metrics.Pages.Total, guestPages)
	}
	// Without hinting every all-zero page is sent at least once (as a
	// duplicate); hinted free pages, zero in a fresh guest, are not.
	if z := r.Metrics.Pages.Zero; z+r.FreePagesAtReady/2 > r.ZeroPagesAtStart {
		t.Errorf("QEMU sent %d zero pages of %d with %d hintable: fewer than half of those were skipped", z, r.ZeroPagesAtStart, r.FreePagesAtReady)
	}
	if c.Sim.SkippedFreePages == 0 || c.Sim.SkippedFreePages > r.FreePagesAtReady {
		t.Errorf("simulator skipped %d free pages, want 1..%d", c.Sim.SkippedFreePages, r.FreePagesAtReady)
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
	pre := models.DefaultPrecopyParams()
	pre.Balloon.Enabled = true
	if m := migParamsOf(t, pre); !m.Balloon || m.BalloonEfficiency != 0.95 {
		t.Errorf("model.balloon gave %+v", m)
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

// runFullCase runs the first case of suites/full.yaml whose name starts
// with prefix, for real, and logs its table.
func runFullCase(t *testing.T, prefix string) *Comparison {
	t.Helper()
	s, err := LoadSuite("suites/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(s.Cases, func(c SuiteCase) bool { return strings.HasPrefix(c.Name, prefix) })
	if i < 0 {
		t.Fatalf("suites/full.yaml has no %s case", prefix)
	}
	spec, err := s.Scenario(i)
	if err != nil {
		t.Fatal(err)
	}
	return runCase(t, spec, LocalOptions{WorkDir: t.TempDir()})
}

// TestBalloonRun runs the suite's DSB case for real: the guest's driver
// must give the balloon its target, QEMU must send the ballooned pages as
// zero pages (it does not skip them), and the simulator's balloon must
// reclaim as many pages as the real one holds (same free count, same
// efficiency).
func TestBalloonRun(t *testing.T) {
	needQEMU(t)
	if _, err := FindKernel(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	c := runFullCase(t, "balloon-")
	r := c.Real
	if r.BalloonPages == 0 || r.MemFreeAtReady == 0 || r.BalloonPages > r.MemFreeAtReady {
		t.Fatalf("balloon held %d pages of %d free: the guest did not inflate it", r.BalloonPages, r.MemFreeAtReady)
	}
	if r.Metrics.Pages.Zero < r.BalloonPages {
		t.Errorf("QEMU sent %d zero pages with %d ballooned: it sends ballooned pages as zero pages", r.Metrics.Pages.Zero, r.BalloonPages)
	}
	if d := math.Abs(float64(c.Sim.BalloonReclaimedPages) - float64(r.BalloonPages)); d > 0.02*float64(r.BalloonPages) {
		t.Errorf("simulator reclaimed %d pages, the real balloon %d", c.Sim.BalloonReclaimedPages, r.BalloonPages)
	}
}
