package lab

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// relayChunk is the largest read of one relay direction, bytes: 64 KiB is
// 2.6 ms of data at 200 Mbit/s, small beside the delays the relay adds.
const relayChunk = 64 << 10

// relaySocketBuffer is SO_RCVBUF and SO_SNDBUF of the relay's own
// sockets, bytes (the kernel doubles it): 128 KiB is 5 ms at 200 Mbit/s.
const relaySocketBuffer = 128 << 10

// relayQueue bounds the chunks one direction holds between its reader, its
// writer and its credit return (a count, not bytes: the window bounds the
// bytes).
const relayQueue = 1 << 14

// relay is the userspace long-path emulator of a shaped lab run: it
// accepts TCP connections on its listener and, for each, dials the real
// destination and copies both ways through a [delayPipe], which delivers
// every byte oneWay after it was read and keeps at most window bytes in
// flight per direction, a byte's credit returning oneWay after its
// delivery (the ACK's trip back). A stream through it therefore carries at
// most window per RTT = 2 × oneWay, as the simulator's TCP model says
// (see sim.Path.WindowLimitBps); the link's bandwidth is shaped elsewhere
// (tbf on the veth the relay dials over).
type relay struct {
	ln     net.Listener
	dial   func(ctx context.Context) (net.Conn, error)
	oneWay time.Duration
	window int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	errs   []error

	// forward and backward count the bytes delivered towards the
	// destination and back.
	forward, backward atomic.Int64
	// accepted counts the connections taken.
	accepted atomic.Int64
}

// newRelay starts a relay serving ln until close; dial opens the
// connection to the real destination for each accepted one. window is the
// bytes in flight per direction and connection; 0 means no bound.
func newRelay(ln net.Listener, dial func(ctx context.Context) (net.Conn, error), oneWay time.Duration, window int) *relay {
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{ln: ln, dial: dial, oneWay: oneWay, window: window, ctx: ctx, cancel: cancel}
	r.wg.Add(1)
	go r.serve()
	return r
}

// addr returns the address to connect to.
func (r *relay) addr() *net.TCPAddr { return r.ln.Addr().(*net.TCPAddr) }

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		a, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.accepted.Add(1)
		if !r.track(a) {
			return
		}
		b, err := r.dial(r.ctx)
		if err != nil {
			r.fail(err)
			a.Close()
			continue
		}
		if !r.track(b) {
			return
		}
		// Small socket buffers on the relay's side of both connections,
		// so that the bytes queued between the sender and the emulated
		// path are the sender's own send buffer, as on a real host, not
		// that plus megabytes of autotuned loopback and veth buffers.
		for _, c := range []net.Conn{a, b} {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(relaySocketBuffer)
				_ = tc.SetWriteBuffer(relaySocketBuffer)
			}
		}
		r.wg.Add(2)
		go r.direction(b, a, &r.forward)
		go r.direction(a, b, &r.backward)
	}
}

// track records c for close; false (and c closed) once the relay is closed.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		c.Close()
		return false
	}
	r.conns = append(r.conns, c)
	return true
}

func (r *relay) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// direction copies src to dst through a delay pipe; at src's end of file
// it half-closes dst, so that the far side sees the end too, a one-way
// delay after the last byte; on an error it closes both.
func (r *relay) direction(dst, src net.Conn, n *atomic.Int64) {
	defer r.wg.Done()
	err := delayPipe(r.ctx, dst, src, r.oneWay, r.window, n)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			return
		}
	}
	if err != nil && r.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		r.fail(err)
	}
	dst.Close()
	src.Close()
}

// close stops the relay: the listener, every connection and every
// goroutine are gone when it returns. It returns the first copy error.
func (r *relay) close() error {
	r.cancel()
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	// Connections accepted after the first close are closed by track.
	for _, c := range r.conns {
		c.Close()
	}
	return errors.Join(r.errs...)
}

// credit is a byte window: acquire takes up to n bytes of it, waiting
// while it is empty; release gives bytes back. It also keeps when the
// latest credit was due back, so that the reader can count its delays from
// there rather than from when the scheduler woke it.
type credit struct {
	mu      sync.Mutex
	cond    *sync.Cond
	avail   int
	readyAt time.Time
	closed  bool
}

func newCredit(n int) *credit {
	c := &credit{avail: n}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// acquire returns between 1 and n bytes of credit, when the latest
// release was due, and whether it had to wait; 0 once closed.
func (c *credit) acquire(n int) (int, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	waited := false
	for c.avail == 0 && !c.closed {
		waited = true
		c.cond.Wait()
	}
	if c.closed {
		return 0, time.Time{}, waited
	}
	n = min(n, c.avail)
	c.avail -= n
	return n, c.readyAt, waited
}

// release gives n bytes back; due is when they were due back (zero for
// bytes the reader took and did not use).
func (c *credit) release(n int, due time.Time) {
	c.mu.Lock()
	c.avail += n
	if due.After(c.readyAt) {
		c.readyAt = due
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

func (c *credit) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cond.Broadcast()
}

type timedChunk struct {
	b   []byte
	due time.Time
}

type timedCredit struct {
	n   int
	due time.Time
}

// sleepUntil waits until t or ctx's end; false when ctx ended. It sleeps
// with clock_nanosleep in slices of at most 5 ms rather than with a Go
// timer: Go's timers wake up to a millisecond late on Linux.
func sleepUntil(ctx context.Context, t time.Time) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		ts := unix.NsecToTimespec(int64(min(d, 5*time.Millisecond)))
		_ = unix.Nanosleep(&ts, nil)
	}
}

// readWait is how long a read must block to count as waiting for data:
// one that returns sooner after a wait for credit found its data in the
// socket, and is stamped with the time the credit was due back. A message
// that arrives within readWait of such a read's start can thus leave up
// to that much early.
const readWait = time.Millisecond

// delayPipe copies src to dst as a long path would carry it: every byte
// read from src is written to dst oneWay later, and at most window bytes
// (0: no bound) are between their read and the return of their credit,
// oneWay after they were written (the ACK's way back). One stream through
// it therefore carries at most window per 2 × oneWay. The delays are
// constant: no loss, no reordering, no slow start.
//
// Delays are counted from when each step was due, not from when the
// scheduler ran it, so that wake-up latency (up to milliseconds on a
// loaded host, three hand-offs per round trip) does not lengthen the
// round trip. A chunk read after a wait for credit, from data already in
// the socket (see readWait), is stamped with the time the credit was due
// back; any other read with the time it returned. A chunk's delivery time
// is its due time, or the end of the previous write when that came later
// (backpressure: the shaped link or the receiver is slower), and its
// credit is due back oneWay after that; chunks not yet written keep their
// credit, so that the relay never holds more than window.
//
// It returns nil at src's end of file once everything read is written,
// the first read or write error otherwise, and ctx's error when ctx ends
// first; on an error it closes src, to stop its reader. Its goroutines
// are gone when it returns. delivered, when not nil, counts the bytes
// written.
func delayPipe(ctx context.Context, dst io.Writer, src io.ReadCloser, oneWay time.Duration, window int, delivered *atomic.Int64) (err error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if err != nil {
			src.Close() // a reader blocked in Read returns
		}
	}()
	var cr *credit
	if window > 0 {
		cr = newCredit(window)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			cr.close()
		}()
	}
	chunks := make(chan timedChunk, relayQueue)
	returns := make(chan timedCredit, relayQueue)
	readErr := make(chan error, 1)

	// Reader: takes credit, reads, stamps the delivery time.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		var last time.Time // the previous chunk's read time
		for {
			n := relayChunk
			waitStart := time.Now()
			var ready time.Time
			waited := false
			if cr != nil {
				if n, ready, waited = cr.acquire(n); n == 0 {
					readErr <- ctx.Err()
					return
				}
			}
			buf := make([]byte, n)
			readStart := time.Now()
			m, err := src.Read(buf)
			now := time.Now()
			at := now
			if waited && now.Sub(readStart) <= readWait {
				// The data waited for credit: it could go when the
				// credit was due back.
				at = later(waitStart, ready)
			}
			if cr != nil && m < n {
				cr.release(n-m, time.Time{})
			}
			if m > 0 {
				at = later(at, last)
				if at.After(now) {
					at = now
				}
				last = at
				select {
				case chunks <- timedChunk{buf[:m], at.Add(oneWay)}:
				case <-ctx.Done():
					readErr <- ctx.Err()
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()
	// Credit return: oneWay after delivery.
	if cr != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range returns {
				if !sleepUntil(ctx, r.due) {
					return
				}
				cr.release(r.n, r.due)
			}
		}()
	}
	// Writer: delivers each chunk when due.
	defer close(returns)
	var prevEnd time.Time
	for {
		var c timedChunk
		var ok bool
		select {
		case c, ok = <-chunks:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			break
		}
		if !sleepUntil(ctx, c.due) {
			return ctx.Err()
		}
		at := later(c.due, prevEnd)
		if _, err := dst.Write(c.b); err != nil {
			cancel()
			return err
		}
		prevEnd = time.Now()
		if delivered != nil {
			delivered.Add(int64(len(c.b)))
		}
		if cr != nil {
			select {
			case returns <- timedCredit{len(c.b), at.Add(oneWay)}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return <-readErr
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
