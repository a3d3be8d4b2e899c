package validate

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
)

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
}

// TestFreePageHintRun runs the suite's free-page-hint case for real: the
// guest's kernel must hint its free blocks (QEMU sends far fewer zero
// pages than the source held), the destination's memory must verify (hinted
// pages aside), and the simulator, given the hintable count, must skip it.
func TestFreePageHintRun(t *testing.T) {
	needLab(t)
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
	return runCase(t, spec, lab.LocalOptions{WorkDir: t.TempDir()})
}

// TestBalloonRun runs the suite's DSB case for real: the guest's driver
// must give the balloon its target, QEMU must send the ballooned pages as
// zero pages (it does not skip them), and the simulator's balloon must
// reclaim as many pages as the real one holds (same free count, same
// efficiency).
func TestBalloonRun(t *testing.T) {
	needLab(t)
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

// TestMemoryMapped checks the settings model.free_page_hint and
// model.balloon map to, and that they are off without them.
func TestMemoryMapped(t *testing.T) {
	pre := models.DefaultPrecopyParams()
	if m := migParamsOf(t, pre); m.FreePageHint || m.Balloon {
		t.Errorf("hinting or the balloon on without their keys: %+v", m)
	}
	pre.FreePageHint = true
	if !migParamsOf(t, pre).FreePageHint {
		t.Error("model.free_page_hint did not turn hinting on")
	}
	pre.FreePageHint, pre.Balloon.Enabled = false, true
	if m := migParamsOf(t, pre); !m.Balloon || m.BalloonEfficiency != 0.95 {
		t.Errorf("model.balloon gave %+v", m)
	}
}
