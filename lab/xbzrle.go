package lab

// xbzrleInfo is query-migrate's xbzrle-cache object (QEMU 7.2), present
// when the xbzrle capability is on.
type xbzrleInfo struct {
	CacheSize     uint64  `json:"cache-size"`
	Bytes         uint64  `json:"bytes"`
	Pages         uint64  `json:"pages"`
	CacheMiss     uint64  `json:"cache-miss"`
	CacheMissRate float64 `json:"cache-miss-rate"`
	EncodingRate  float64 `json:"encoding-rate"`
	Overflow      uint64  `json:"overflow"`
}

// RealXbzrle is what QEMU reports of XBZRLE at the end of a run, under the
// simulator's result names.
type RealXbzrle struct {
	// CacheSizeBytes is xbzrle-cache.cache-size, bytes.
	CacheSizeBytes uint64 `json:"xbzrle_cache_size_bytes"`
	// Bytes is xbzrle-cache.bytes: what the delta pages put on the wire.
	Bytes uint64 `json:"xbzrle_bytes"`
	// Pages is xbzrle-cache.pages: pages sent as deltas, a count.
	Pages uint64 `json:"xbzrle_pages"`
	// CacheMisses is xbzrle-cache.cache-miss, a count.
	CacheMisses uint64 `json:"xbzrle_cache_misses"`
	// Overflow is xbzrle-cache.overflow: hits sent in full because the
	// encoding was too long, a count.
	Overflow uint64 `json:"xbzrle_overflow"`
}

// metrics maps QEMU's figures to [RealXbzrle]; nil when XBZRLE was off.
func (x *xbzrleInfo) metrics() *RealXbzrle {
	if x == nil {
		return nil
	}
	return &RealXbzrle{CacheSizeBytes: x.CacheSize, Bytes: x.Bytes, Pages: x.Pages, CacheMisses: x.CacheMiss, Overflow: x.Overflow}
}
