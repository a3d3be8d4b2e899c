package traces

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Cache keeps traces in memory so that many runs of one workload replay a
// single materialised copy instead of generating or decoding it again: a
// sweep that varies the network or the model over one generator spec pays
// for the generator once.
//
// Each trace is recorded lazily, as a tape: the first reader to need epoch
// i reads it from the wrapped Source (under the tape's lock) and appends
// it; later readers replay it. A run that stops early records only the
// epochs it used. The total size of the recorded page sets is bounded by
// the cache's limit: when a new epoch would exceed it, least recently
// opened tapes are dropped, and a tape that alone exceeds the limit stops
// recording. A reader past the end of a tape that stopped recording opens
// its own Source and skips to where it is, so results never depend on
// what the cache holds: a cached Opener yields exactly the epochs of the
// Opener it wraps.
//
// # Shared, read-only epochs
//
// To replay without copying, a cached Source fills the Epoch it is given
// with the tape's own sets: e.Written, e.Read and e.Change's sets are
// replaced, not filled in, and are shared by every reader of the trace.
// Callers must treat them as read-only (models only read a trace) and
// must not pass such an Epoch to another Source's Next, which could clear
// the shared sets in place; use a fresh Epoch for that. Shared sets are safe for concurrent reads.
//
// A Cache is safe for concurrent use. Sources it opens are not (each is
// read by one goroutine, as every Source is).
type Cache struct {
	limit int64

	mu    sync.Mutex
	size  int64                    // bytes held by tapes in the cache
	tapes map[string]*list.Element // key → element of lru holding a *tape
	lru   list.List                // front: most recently opened
	stats CacheStats               // Opens, Hits, Evicted

	generated, replayed atomic.Int64
}

// CacheStats counts what a [Cache] did.
type CacheStats struct {
	// Opens is the number of Sources opened through the cache.
	Opens int64
	// Hits is how many of those found their tape already in the cache.
	Hits int64
	// Generated is the number of epochs read from the wrapped Openers'
	// Sources to record them; Replayed the number copied from a tape.
	Generated, Replayed int64
	// Evicted is the number of tapes dropped to stay within the limit;
	// Dropped the number removed by Drop.
	Evicted, Dropped int64
	// Bytes is the memory the tapes in the cache hold now, in bytes (the
	// roaring sets' serialized size, a close estimate of their heap size).
	Bytes int64
}

// NewCache returns a cache that holds at most limit bytes of page sets. A
// limit of 0 or less caches nothing: its Opener returns open unchanged.
func NewCache(limit int64) *Cache {
	return &Cache{limit: limit, tapes: map[string]*list.Element{}}
}

// Opener returns an Opener that yields the epochs of open, replayed from
// memory when another Opener of the same key recorded them. key must
// identify the trace exactly: two Openers with one key must yield the same
// header and epochs (for a generator, the same spec, memory, page size and
// seed; for a file, the same contents).
func (c *Cache) Opener(key string, open Opener) Opener {
	if c == nil || c.limit <= 0 {
		return open
	}
	return func() (Source, error) {
		t, err := c.tape(key, open)
		if err != nil {
			return nil, err
		}
		return &tapeReader{t: t}, nil
	}
}

// Drop removes the trace of key from the cache, when a caller knows it
// will not be opened again; Sources open on it keep reading. Dropping a
// key the cache does not hold does nothing.
func (c *Cache) Drop(key string) {
	if c == nil || c.limit <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.tapes[key]; ok {
		c.dropLocked(el.Value.(*tape))
		c.stats.Evicted--
		c.stats.Dropped++
	}
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Bytes = c.size
	s.Generated, s.Replayed = c.generated.Load(), c.replayed.Load()
	return s
}

// tape returns the tape of key, creating it (and opening its Source, to
// read the header) when it is not in the cache.
func (c *Cache) tape(key string, open Opener) (*tape, error) {
	c.mu.Lock()
	c.stats.Opens++
	if el, ok := c.tapes[key]; ok {
		c.stats.Hits++
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*tape), nil
	}
	c.mu.Unlock()

	// Open outside the lock: opening may be slow (a file, a zipf law).
	src, err := open()
	if err != nil {
		return nil, err
	}
	t := &tape{c: c, key: key, open: open, src: src, hdr: src.Header()}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.tapes[key]; ok { // another goroutine won the race
		_ = Close(src)
		c.lru.MoveToFront(el)
		return el.Value.(*tape), nil
	}
	c.tapes[key] = c.lru.PushFront(t)
	return t, nil
}

// reserve accounts n more bytes for tape t, dropping least recently opened
// tapes other than t to make room. It returns false, and accounts nothing,
// when t has been dropped or cannot fit.
func (c *Cache) reserve(t *tape, n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.dropped.Load() {
		return false
	}
	if t.size+n > c.limit {
		c.dropLocked(t)
		return false
	}
	for c.size+n > c.limit {
		el := c.lru.Back()
		victim := el.Value.(*tape)
		if victim == t {
			el = el.Prev()
			if el == nil {
				break
			}
			victim = el.Value.(*tape)
		}
		c.dropLocked(victim)
	}
	c.size += n
	t.size += n
	return true
}

// dropLocked removes t from the cache; readers that hold it keep reading
// what it recorded. c.mu must be held.
func (c *Cache) dropLocked(t *tape) {
	if t.dropped.Swap(true) {
		return
	}
	if el, ok := c.tapes[t.key]; ok && el.Value == t {
		c.lru.Remove(el)
		delete(c.tapes, t.key)
	}
	c.size -= t.size
	c.stats.Evicted++
}

// tape is one trace being recorded. epochs only grows, and an epoch once
// appended is never changed, so readers copy from it without holding mu
// once they have the slice element.
type tape struct {
	c    *Cache
	key  string
	open Opener
	hdr  *Header

	mu     sync.Mutex
	src    Source  // positioned at len(epochs); nil once done, failed or stopped
	epochs []Epoch // recorded epochs, in order
	done   bool    // src returned io.EOF after the last recorded epoch
	err    error   // src failed after the last recorded epoch

	size    int64       // bytes accounted in c; guarded by c.mu
	dropped atomic.Bool // no longer in c: record nothing more
}

// at returns epoch i: recorded, generated now, or, when the tape stopped
// recording before i, ok false. It returns io.EOF after the last epoch.
func (t *tape) at(i int) (ep *Epoch, ok bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < len(t.epochs) {
		return &t.epochs[i], true, nil
	}
	switch {
	case t.done:
		return nil, true, io.EOF
	case t.err != nil:
		return nil, true, t.err
	case t.src == nil:
		return nil, false, nil
	}
	var e Epoch
	if err := t.src.Next(&e); err != nil {
		_ = Close(t.src)
		t.src = nil
		if err == io.EOF {
			t.done = true
		} else {
			t.err = err
		}
		return nil, true, err
	}
	t.c.generated.Add(1)
	size := int64(e.Written.GetSerializedSizeInBytes() + e.Read.GetSerializedSizeInBytes())
	for _, s := range e.Change.Sets() {
		if *s != nil {
			size += int64((*s).GetSerializedSizeInBytes())
		}
	}
	if !t.c.reserve(t, size) {
		// Stop recording; hand this epoch to the caller alone.
		_ = Close(t.src)
		t.src = nil
		return &e, true, nil
	}
	t.epochs = append(t.epochs, e)
	return &t.epochs[len(t.epochs)-1], true, nil
}

// tapeReader is one Source reading a tape.
type tapeReader struct {
	t    *tape
	next int    // index of the next epoch
	own  Source // past the end of a tape that stopped recording: a private Source
	err  error
	// shared is true while the caller's Epoch holds a tape's sets.
	shared bool
}

func (r *tapeReader) Header() *Header { return r.t.hdr }

// Next points e at the next epoch's shared, read-only sets (see [Cache]).
func (r *tapeReader) Next(e *Epoch) error {
	if r.err != nil {
		return r.err
	}
	if r.own != nil {
		if r.shared {
			// e holds a tape's sets; the private Source must not reuse them.
			*e = Epoch{}
			r.shared = false
		}
		r.err = r.own.Next(e)
		return r.err
	}
	ep, ok, err := r.t.at(r.next)
	if err != nil {
		r.err = err
		return err
	}
	if !ok {
		if err := r.openOwn(); err != nil {
			r.err = err
			return err
		}
		return r.Next(e)
	}
	e.Index, e.Written, e.Read, e.Change = ep.Index, ep.Written, ep.Read, ep.Change
	r.shared = true
	r.next++
	r.t.c.replayed.Add(1)
	return nil
}

// openOwn opens the wrapped Opener and skips the epochs already read.
func (r *tapeReader) openOwn() error {
	src, err := r.t.open()
	if err != nil {
		return fmt.Errorf("trace cache: reopening %s: %w", r.t.key, err)
	}
	var e Epoch
	for i := 0; i < r.next; i++ {
		if err := src.Next(&e); err != nil {
			_ = Close(src)
			if err == io.EOF {
				err = errors.New("trace ended early on replay")
			}
			return fmt.Errorf("trace cache: skipping to epoch %d of %s: %w", r.next, r.t.key, err)
		}
	}
	r.own = src
	return nil
}

// Close releases the private Source, if any.
func (r *tapeReader) Close() error {
	if r.own != nil {
		err := Close(r.own)
		r.own = nil
		return err
	}
	return nil
}
