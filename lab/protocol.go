package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EpochReport is what the replayer reported for one epoch it played.
type EpochReport struct {
	// Index is the epoch's global index: epochs replayed again after the
	// trace looped keep counting, so the trace's own epoch is Index mod
	// its epoch count.
	Index uint64 `json:"index"`
	// Wrote and Read are the pages written and read.
	Wrote uint64 `json:"wrote"`
	Read  uint64 `json:"read"`
	// LateNs is how far behind its schedule the epoch finished, in guest
	// nanoseconds.
	LateNs int64 `json:"late_ns"`
	// DoneNs is the guest's monotonic time since start, in nanoseconds.
	DoneNs int64 `json:"done_ns"`
	// At is when the host received the report, seconds since the
	// migration started (negative before it).
	At float64 `json:"at_s"`
	// Side is "source" or "destination": who reported it.
	Side string `json:"side"`
}

// guestLink is the host's end of a replayer's control port (its serial
// line ttyS1). It reads the replayer's lines as they come, stamps them with
// the host's clock, keeps epoch reports, and hands every other MIGSIM line
// to whoever waits for it.
type guestLink struct {
	side string
	conn net.Conn

	mu      sync.Mutex
	epochs  []EpochReport
	lines   []string // non-epoch MIGSIM lines not yet taken
	wake    chan struct{}
	stamped []time.Time
	err     error
	done    chan struct{}
}

// dialGuest connects to the unix socket of a replayer's serial line,
// retrying until it accepts or ctx ends.
func dialGuest(ctx context.Context, side, path string) (*guestLink, error) {
	var d net.Dialer
	return dialGuestWith(ctx, side, path, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", path) })
}

// dialGuestWith is [dialGuest] over connections made by dial (a local unix
// socket, or one reached through SSH); path names the socket in messages.
func dialGuestWith(ctx context.Context, side, path string, dial func(context.Context) (net.Conn, error)) (*guestLink, error) {
	for {
		c, err := dial(ctx)
		if err == nil {
			g := &guestLink{side: side, conn: c, wake: make(chan struct{}), done: make(chan struct{})}
			go g.read()
			return g, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to the %s guest's control port %s: %w", side, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (g *guestLink) read() {
	sc := bufio.NewScanner(g.conn)
	for sc.Scan() {
		now := time.Now()
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, "MIGSIM ")
		if i < 0 {
			continue
		}
		line = line[i:]
		g.mu.Lock()
		if r, ok := parseEpochLine(line); ok {
			r.Side = g.side
			g.epochs = append(g.epochs, r)
			g.stamped = append(g.stamped, now)
		} else {
			g.lines = append(g.lines, line)
			close(g.wake)
			g.wake = make(chan struct{})
		}
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.err = sc.Err()
	if g.err == nil {
		g.err = io.EOF
	}
	g.mu.Unlock()
	close(g.done)
}

// parseEpochLine parses "MIGSIM e INDEX WROTE READ LATE_NS DONE_NS".
func parseEpochLine(line string) (EpochReport, bool) {
	f := strings.Fields(line)
	if len(f) != 7 || f[1] != "e" {
		return EpochReport{}, false
	}
	var v [5]int64
	for i := range v {
		n, err := strconv.ParseInt(f[2+i], 10, 64)
		if err != nil || n < 0 {
			return EpochReport{}, false
		}
		v[i] = n
	}
	return EpochReport{Index: uint64(v[0]), Wrote: uint64(v[1]), Read: uint64(v[2]), LateNs: v[3], DoneNs: v[4]}, true
}

// send writes a command line to the replayer.
func (g *guestLink) send(cmd string) error {
	_ = g.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.WriteString(g.conn, cmd+"\n")
	if err != nil {
		return fmt.Errorf("sending %q to the %s guest: %w", cmd, g.side, err)
	}
	return nil
}

// wait removes and returns the first pending line starting with prefix. A
// "MIGSIM error" line from the replayer ends the wait with that error.
func (g *guestLink) wait(ctx context.Context, prefix string) (string, error) {
	for {
		g.mu.Lock()
		for i, l := range g.lines {
			if strings.HasPrefix(l, "MIGSIM error ") {
				g.mu.Unlock()
				return "", fmt.Errorf("%s guest: %s", g.side, strings.TrimPrefix(l, "MIGSIM error "))
			}
			if strings.HasPrefix(l, prefix) {
				g.lines = append(g.lines[:i], g.lines[i+1:]...)
				g.mu.Unlock()
				return l, nil
			}
		}
		wake, err := g.wake, g.err
		g.mu.Unlock()
		if err != nil {
			return "", fmt.Errorf("%s guest's control port closed while waiting for %q: %v", g.side, prefix, err)
		}
		select {
		case <-wake:
		case <-g.done:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %q from the %s guest: %w", prefix, g.side, ctx.Err())
		}
	}
}

// reports returns the epoch reports so far with At measured from origin.
func (g *guestLink) reports(origin time.Time) []EpochReport {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]EpochReport, len(g.epochs))
	for i, r := range g.epochs {
		r.At = g.stamped[i].Sub(origin).Seconds()
		out[i] = r
	}
	return out
}

func (g *guestLink) close() {
	g.conn.Close()
	<-g.done
}

// lineFields parses "key=value" fields of a MIGSIM line into a map.
func lineFields(line string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}
