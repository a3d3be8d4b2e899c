package validate

import (
	"testing"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/units"
)

func capNames(p MigrationParams) map[string]bool {
	out := map[string]bool{}
	for _, c := range p.extraCaps() {
		out[c["capability"].(string)] = true
	}
	return out
}

// TestXbzrleAndPreemptSettings checks what the lab asks QEMU for when a
// scenario turns XBZRLE or postcopy_preempt on, and that it asks for
// neither otherwise.
func TestXbzrleAndPreemptSettings(t *testing.T) {
	pre := models.DefaultPrecopyParams()
	pre.Xbzrle.Enabled = true
	pre.Xbzrle.CacheSize = 128 * units.MiB
	m := migParamsOf(t, pre)
	if !capNames(m)["xbzrle"] || m.qmpParams()["xbzrle-cache-size"] != int64(128<<20) {
		t.Errorf("pre-copy with xbzrle: capabilities %v, parameters %v", capNames(m), m.qmpParams())
	}
	hy := models.DefaultHybridParams()
	hy.Xbzrle = pre.Xbzrle
	hy.Preempt = true
	if c := capNames(migParamsOf(t, hy)); !c["xbzrle"] || !c["postcopy-preempt"] || !c["postcopy-ram"] {
		t.Errorf("hybrid with xbzrle and preempt: capabilities %v", c)
	}
	post := models.DefaultPostcopyParams()
	if c := capNames(migParamsOf(t, post)); c["postcopy-preempt"] || c["xbzrle"] {
		t.Errorf("plain post-copy asks for %v", c)
	}
	post.Preempt = true
	if c := capNames(migParamsOf(t, post)); !c["postcopy-preempt"] {
		t.Errorf("post-copy with postcopy_preempt: capabilities %v", c)
	}
	if _, ok := migParamsOf(t, models.DefaultPrecopyParams()).qmpParams()["xbzrle-cache-size"]; ok {
		t.Error("plain pre-copy sets xbzrle-cache-size")
	}
}

// TestCompareXbzrle maps QEMU's xbzrle-cache figures to the simulator's.
func TestCompareXbzrle(t *testing.T) {
	info := &xbzrleInfo{CacheSize: 1 << 27, Bytes: 75537, Pages: 4341, CacheMiss: 13520, Overflow: 2}
	real := RealMetrics{Xbzrle: info.metrics()}
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
	if (*xbzrleInfo)(nil).metrics() != nil {
		t.Error("no xbzrle-cache object gave figures")
	}
}
