package lab

import (
	"testing"

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
// run turns XBZRLE or postcopy-preempt on, and that it asks for neither
// otherwise.
func TestXbzrleAndPreemptSettings(t *testing.T) {
	m := precopyMigration(0)
	m.Xbzrle, m.XbzrleCacheSize = true, 128*units.MiB
	if !capNames(m)["xbzrle"] || m.qmpParams()["xbzrle-cache-size"] != int64(128<<20) {
		t.Errorf("pre-copy with xbzrle: capabilities %v, parameters %v", capNames(m), m.qmpParams())
	}
	hy := postcopyMigration(0)
	hy.PostcopyAfterSyncs, hy.Xbzrle, hy.XbzrleCacheSize, hy.PostcopyPreempt = 2, true, 128*units.MiB, true
	if c := capNames(hy); !c["xbzrle"] || !c["postcopy-preempt"] || !c["postcopy-ram"] {
		t.Errorf("hybrid with xbzrle and preempt: capabilities %v", c)
	}
	post := postcopyMigration(0)
	if c := capNames(post); c["postcopy-preempt"] || c["xbzrle"] {
		t.Errorf("plain post-copy asks for %v", c)
	}
	post.PostcopyPreempt = true
	if c := capNames(post); !c["postcopy-preempt"] {
		t.Errorf("post-copy with postcopy_preempt: capabilities %v", c)
	}
	if _, ok := precopyMigration(0).qmpParams()["xbzrle-cache-size"]; ok {
		t.Error("plain pre-copy sets xbzrle-cache-size")
	}
	if (*xbzrleInfo)(nil).metrics() != nil {
		t.Error("no xbzrle-cache object gave figures")
	}
	info := &xbzrleInfo{CacheSize: 1 << 27, Bytes: 75537, Pages: 4341, CacheMiss: 13520, Overflow: 2}
	if got := *info.metrics(); got != (RealXbzrle{CacheSizeBytes: 1 << 27, Bytes: 75537, Pages: 4341, CacheMisses: 13520, Overflow: 2}) {
		t.Errorf("xbzrle-cache %+v mapped to %+v", *info, got)
	}
}
