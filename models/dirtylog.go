package models

import (
	"math/bits"

	"github.com/RoaringBitmap/roaring/v2"
)

// dirtyLog is a flat bitmap over guest pages with a running count of set
// bits, as KVM and QEMU keep the dirty log. Adding an epoch's pages costs
// O(pages added) whatever the log already holds, which a compressed set
// cannot promise: OR-ing scattered pages into roaring array containers
// rewrites the containers each time. 2^28 pages (1 TiB of 4 KiB pages)
// take 32 MiB.
type dirtyLog struct {
	words  []uint64
	count  uint64
	lo, hi int // words outside [lo, hi) are all zero
	buf    []uint32
}

func newDirtyLog(pages uint64) *dirtyLog {
	n := int((pages + 63) / 64)
	return &dirtyLog{words: make([]uint64, n), lo: n, buf: make([]uint32, 4096)}
}

// add sets the bits of every page in b.
func (d *dirtyLog) add(b *roaring.Bitmap) {
	it := b.ManyIterator()
	for {
		n := it.NextMany(d.buf)
		if n == 0 {
			return
		}
		d.lo = min(d.lo, int(d.buf[0]>>6))
		d.hi = max(d.hi, int(d.buf[n-1]>>6)+1)
		for _, p := range d.buf[:n] {
			w, m := p>>6, uint64(1)<<(p&63)
			if d.words[w]&m == 0 {
				d.words[w] |= m
				d.count++
			}
		}
	}
}

// or sets the bits of every page in o.
func (d *dirtyLog) or(o *dirtyLog) {
	if o.lo >= o.hi {
		return
	}
	d.lo, d.hi = min(d.lo, o.lo), max(d.hi, o.hi)
	var c uint64
	for i := d.lo; i < d.hi; i++ {
		d.words[i] |= o.words[i]
		c += uint64(bits.OnesCount64(d.words[i]))
	}
	d.count = c
}

// clear empties the log.
func (d *dirtyLog) clear() {
	if d.lo < d.hi {
		clear(d.words[d.lo:d.hi])
	}
	d.count, d.lo, d.hi = 0, len(d.words), 0
}

// bitmap returns the log's pages as a new roaring bitmap.
func (d *dirtyLog) bitmap() *roaring.Bitmap {
	b := roaring.FromDense(d.words, true)
	b.RunOptimize()
	return b
}
