package traces

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Class is the memory class of a page. Models may treat classes
// differently: zero pages cost only a header, free pages can be skipped by a
// balloon or free-page hinting, clean page-cache pages can be restored from
// shared storage.
type Class uint8

// Page classes. Anon is every page not in another class.
const (
	ClassAnon      Class = 0 // ordinary memory, sent in full
	ClassZero      Class = 1 // never written: all-zero contents
	ClassFree      Class = 2 // free in the guest's allocator
	ClassPageCache Class = 3 // clean page cache backed by shared storage
)

// String returns the class name used in files, YAML and output.
func (c Class) String() string {
	switch c {
	case ClassAnon:
		return "anon"
	case ClassZero:
		return "zero"
	case ClassFree:
		return "free"
	case ClassPageCache:
		return "pagecache"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// MaxPages is the largest page count a trace may have: page numbers are
// uint32 so that page sets are plain 32-bit roaring bitmaps (2^32 pages of
// 4 KiB is 16 TiB).
const MaxPages = 1 << 32

// Header describes a trace: the guest memory it covers and how its epochs
// are timed. It is written once at the start of a trace file.
type Header struct {
	// PageSize is the page size in bytes (a power of two, 4096 by default).
	PageSize uint32
	// PageCount is the number of pages of guest memory (at most MaxPages).
	PageCount uint64
	// Epoch is the guest time covered by one epoch record.
	Epoch time.Duration
	// Zero, Free and PageCache are the pages of each class when the trace
	// starts; a page is in at most one of them and every other page is anon.
	// Nil means the empty set.
	Zero, Free, PageCache *roaring.Bitmap
	// Provenance says where the trace came from (generator and parameters,
	// capture tool and host, import source), free text.
	Provenance string
}

// MemoryBytes returns the guest memory size in bytes.
func (h *Header) MemoryBytes() uint64 { return h.PageCount * uint64(h.PageSize) }

// Validate checks the header's invariants and returns an error naming the
// field that breaks one.
func (h *Header) Validate() error {
	if h.PageSize == 0 || h.PageSize&(h.PageSize-1) != 0 {
		return fmt.Errorf("page size %d is not a power of two", h.PageSize)
	}
	if h.PageSize < 512 {
		return fmt.Errorf("page size %d is below 512 bytes", h.PageSize)
	}
	if h.PageCount == 0 {
		return errors.New("page count is 0")
	}
	if h.PageCount > MaxPages {
		return fmt.Errorf("page count %d exceeds the maximum %d", h.PageCount, uint64(MaxPages))
	}
	if h.Epoch <= 0 {
		return fmt.Errorf("epoch length %v is not positive", h.Epoch)
	}
	sets := []struct {
		name string
		bm   *roaring.Bitmap
	}{{"zero", h.Zero}, {"free", h.Free}, {"pagecache", h.PageCache}}
	for i, s := range sets {
		if s.bm == nil || s.bm.IsEmpty() {
			continue
		}
		if uint64(s.bm.Maximum()) >= h.PageCount {
			return fmt.Errorf("%s set holds page %d, beyond page count %d", s.name, s.bm.Maximum(), h.PageCount)
		}
		for _, t := range sets[i+1:] {
			if t.bm != nil && s.bm.Intersects(t.bm) {
				return fmt.Errorf("%s and %s sets overlap", s.name, t.name)
			}
		}
	}
	return nil
}

// ClassPages returns how many pages are in class c at the start of the trace.
func (h *Header) ClassPages(c Class) uint64 {
	card := func(b *roaring.Bitmap) uint64 {
		if b == nil {
			return 0
		}
		return b.GetCardinality()
	}
	switch c {
	case ClassZero:
		return card(h.Zero)
	case ClassFree:
		return card(h.Free)
	case ClassPageCache:
		return card(h.PageCache)
	case ClassAnon:
		return h.PageCount - card(h.Zero) - card(h.Free) - card(h.PageCache)
	}
	return 0
}

// Epoch is one epoch of guest activity: the pages written, and the pages
// read but not written, during [Index*Epoch, (Index+1)*Epoch) of guest time.
// Written and Read are disjoint.
type Epoch struct {
	// Index counts epochs from 0.
	Index uint64
	// Written holds the pages written at least once in the epoch.
	Written *roaring.Bitmap
	// Read holds the pages read, and not written, in the epoch.
	Read *roaring.Bitmap
	// Change is the change of memory composition at the start of the
	// epoch (trace record 0x02); its sets are nil or empty for an epoch
	// without one.
	Change ClassChange
}

// ClassChange is a change of memory composition that takes effect at the
// start of an epoch, before its writes and reads: the pages that move into
// each class. A page's old class is the one it was in (the header's sets
// and earlier changes); moving a page to the class it is in changes
// nothing. The four sets are disjoint; nil means the empty set. Typical
// changes are an allocation (free → anon: ToAnon), a free (anon → free:
// ToFree), page cache read in (free → pagecache: ToPageCache) and page
// cache dropped (pagecache → free: ToFree).
type ClassChange struct {
	// ToAnon holds the pages that become anonymous memory.
	ToAnon *roaring.Bitmap
	// ToZero holds the pages that become all-zero (e.g. freed and
	// zeroed by the guest).
	ToZero *roaring.Bitmap
	// ToFree holds the pages that become free in the guest's allocator.
	ToFree *roaring.Bitmap
	// ToPageCache holds the pages that become clean page cache.
	ToPageCache *roaring.Bitmap
}

// Sets returns the four sets in record order (anon, zero, free,
// pagecache), as pointers so that callers can fill them.
func (c *ClassChange) Sets() [4]**roaring.Bitmap {
	return [4]**roaring.Bitmap{&c.ToAnon, &c.ToZero, &c.ToFree, &c.ToPageCache}
}

// changeNames names the sets of a ClassChange in record order.
var changeNames = [4]string{"to_anon", "to_zero", "to_free", "to_pagecache"}

// ChangeClasses are the classes of a ClassChange's sets, in record order.
var ChangeClasses = [4]Class{ClassAnon, ClassZero, ClassFree, ClassPageCache}

// Empty reports whether the change moves no page.
func (c *ClassChange) Empty() bool {
	for _, s := range c.Sets() {
		if !noPages(*s) {
			return false
		}
	}
	return true
}

// Pages returns the number of pages the change moves.
func (c *ClassChange) Pages() uint64 {
	var n uint64
	for _, s := range c.Sets() {
		n += pagesIn(*s)
	}
	return n
}

// clear empties the change's sets, keeping their storage.
func (c *ClassChange) clear() {
	for _, s := range c.Sets() {
		if *s != nil {
			(*s).Clear()
		}
	}
}

// Apply moves the change's pages into their classes in the composition
// sets zero, free and pagecache (anon is every page in none of them),
// which must not be nil.
func (c *ClassChange) Apply(zero, free, pagecache *roaring.Bitmap) {
	if c.Empty() {
		return
	}
	classes := [4]*roaring.Bitmap{nil, zero, free, pagecache}
	for i, s := range c.Sets() {
		if noPages(*s) {
			continue
		}
		for j, cl := range classes {
			if cl == nil {
				continue
			}
			if i == j {
				cl.Or(*s)
			} else {
				cl.AndNot(*s)
			}
		}
	}
}

// Reset empties the epoch's sets, keeping their storage; the change's
// sets are emptied too (and left nil when nil).
func (e *Epoch) Reset() {
	e.Change.clear()
	if e.Written == nil {
		e.Written = roaring.New()
	} else {
		e.Written.Clear()
	}
	if e.Read == nil {
		e.Read = roaring.New()
	} else {
		e.Read.Clear()
	}
}

// Source yields the epochs of a trace in order. Next fills e with the next
// epoch (e's sets may be reused by the caller between calls) and returns
// io.EOF after the last one. The file reader and every synthetic generator
// implement Source.
type Source interface {
	Header() *Header
	Next(e *Epoch) error
}

// Opener opens a fresh Source at the trace's first epoch. Simulations that
// outlast a trace open it again to replay it from the start.
type Opener func() (Source, error)

// Close closes src if it holds resources (an open file).
func Close(src Source) error {
	if c, ok := src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
