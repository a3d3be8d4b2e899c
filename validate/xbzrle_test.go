package validate

import (
	"testing"

	"github.com/migsim/migsim/lab"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

// TestCompareXbzrle maps QEMU's xbzrle-cache figures to the simulator's.
func TestCompareXbzrle(t *testing.T) {
	real := lab.RealMetrics{Xbzrle: &lab.RealXbzrle{CacheSizeBytes: 1 << 27, Bytes: 75537, Pages: 4341, CacheMisses: 13520, Overflow: 2}}
	sim := &models.Result{XbzrlePages: 3950, XbzrleBytes: 55300, XbzrleCacheMisses: 13107}
	got := map[string]MetricError{}
	for _, m := range compareXbzrle(real, sim) {
		got[m.Name] = m
	}
	if m := got["xbzrle_pages"]; m.Real != 4341 || m.Sim != 3950 {
		t.Errorf("xbzrle_pages %+v", m)
	}
	if m := got["xbzrle_bytes"]; m.Real != 75537 || m.Sim != 55300 {
		t.Errorf("xbzrle_bytes %+v", m)
	}
	if m := got["xbzrle_cache_misses"]; m.Real != 13520 || m.Sim != 13107 {
		t.Errorf("xbzrle_cache_misses %+v", m)
	}
}

// TestXbzrleAndPreemptMapped checks the settings a scenario's XBZRLE and
// postcopy_preempt map to, and that other runs have neither.
func TestXbzrleAndPreemptMapped(t *testing.T) {
	pre := models.DefaultPrecopyParams()
	pre.Xbzrle.Enabled = true
	pre.Xbzrle.CacheSize = 128 * units.MiB
	if m := migParamsOf(t, pre); !m.Xbzrle || m.XbzrleCacheSize != 128*units.MiB {
		t.Errorf("pre-copy with xbzrle: %+v", m)
	}
	hy := models.DefaultHybridParams()
	hy.Xbzrle = pre.Xbzrle
	hy.Preempt = true
	if m := migParamsOf(t, hy); !m.Xbzrle || !m.PostcopyPreempt || !m.Postcopy {
		t.Errorf("hybrid with xbzrle and preempt: %+v", m)
	}
	post := models.DefaultPostcopyParams()
	if m := migParamsOf(t, post); m.PostcopyPreempt || m.Xbzrle {
		t.Errorf("plain post-copy: %+v", m)
	}
	post.Preempt = true
	if m := migParamsOf(t, post); !m.PostcopyPreempt {
		t.Errorf("post-copy with postcopy_preempt: %+v", m)
	}
	if m := migParamsOf(t, models.DefaultPrecopyParams()); m.Xbzrle {
		t.Error("plain pre-copy turns xbzrle on")
	}
}
