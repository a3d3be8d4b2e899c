package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// QMP is a client of the QEMU Machine Protocol over a unix socket.
//
// [DialQMP] reads the greeting and negotiates capabilities; after that,
// [QMP.Execute] may be called from several goroutines at once: each command
// carries its own id and its reply is matched by that id. Asynchronous
// events are queued apart from replies, in arrival order, and are read with
// [QMP.NextEvent] or [QMP.WaitEvent]; the queue keeps at most
// [qmpMaxEvents] events and drops the oldest beyond that.
//
// Every blocking call takes a context: its deadline bounds the wait, and
// cancelling it abandons the wait (a command already sent still runs in
// QEMU). When the connection breaks, every pending and later call fails
// with an error wrapping [ErrQMPClosed].
type QMP struct {
	conn net.Conn
	// Version is QEMU's version from the greeting.
	Version QEMUVersion

	wmu sync.Mutex // serialises writes
	mu  sync.Mutex // guards everything below
	id  uint64
	// pending holds the reply channel of each command in flight, by id.
	pending map[string]chan qmpMessage
	events  []Event
	evWake  chan struct{} // closed and replaced when an event arrives
	err     error         // set once, when the reader stops
	done    chan struct{} // closed when the reader stops
}

// QEMUVersion is QEMU's version as its QMP greeting gives it.
type QEMUVersion struct {
	Major, Minor, Micro int
}

func (v QEMUVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro) }

// Event is an asynchronous QMP event, e.g. STOP, RESUME or MIGRATION.
type Event struct {
	// Name is the event's name, e.g. "MIGRATION".
	Name string
	// Data is the event's data member, raw; nil when it has none.
	Data json.RawMessage
	// Time is the time QEMU stamped on the event.
	Time time.Time
}

// QMPError is a QMP error reply: QEMU understood the command and refused
// it or failed to carry it out.
type QMPError struct {
	// Command is the command that failed.
	Command string
	// Class is QMP's error class, e.g. "GenericError" or "CommandNotFound".
	Class string
	// Desc is QEMU's human-readable description.
	Desc string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// ErrQMPClosed reports a QMP connection that is closed or broken (QEMU
// exited, or Close was called).
var ErrQMPClosed = errors.New("qmp connection closed")

// qmpMaxEvents is the most events the queue keeps.
const qmpMaxEvents = 4096

// qmpMessage is any message QEMU sends: a greeting, a reply or an event.
type qmpMessage struct {
	QMP *struct {
		Version struct {
			QEMU struct {
				Major int `json:"major"`
				Minor int `json:"minor"`
				Micro int `json:"micro"`
			} `json:"qemu"`
		} `json:"version"`
	} `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	ID        json.RawMessage `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// DialQMP connects to the QMP unix socket at path, reads QEMU's greeting and
// leaves capabilities negotiation mode with qmp_capabilities. It retries
// the connection until the socket accepts or ctx ends, so it can be called
// right after starting QEMU.
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	var d net.Dialer
	return dialQMP(ctx, path, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", path) })
}

// dialQMP is [DialQMP] over connections made by dial (a local unix socket,
// or one reached through SSH); path names the socket in messages.
func dialQMP(ctx context.Context, path string, dial func(context.Context) (net.Conn, error)) (*QMP, error) {
	var conn net.Conn
	for {
		c, err := dial(ctx)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: connecting to %s: %w (last error: %v)", path, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	q := &QMP{
		conn:    conn,
		pending: make(map[string]chan qmpMessage),
		evWake:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	dec := json.NewDecoder(bufio.NewReader(conn))

	// The greeting comes first, before any reply or event.
	greeting := make(chan error, 1)
	go func() {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			greeting <- fmt.Errorf("qmp: reading greeting from %s: %w", path, err)
			return
		}
		if m.QMP == nil {
			greeting <- fmt.Errorf("qmp: %s sent no greeting (is it a QMP socket?)", path)
			return
		}
		v := m.QMP.Version.QEMU
		q.Version = QEMUVersion{v.Major, v.Minor, v.Micro}
		greeting <- nil
	}()
	select {
	case err := <-greeting:
		if err != nil {
			conn.Close()
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		<-greeting
		return nil, fmt.Errorf("qmp: waiting for the greeting on %s: %w", path, ctx.Err())
	}
	go q.readLoop(dec)
	if err := q.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// readLoop dispatches replies and queues events until the connection ends.
func (q *QMP) readLoop(dec *json.Decoder) {
	var err error
	for {
		var m qmpMessage
		if err = dec.Decode(&m); err != nil {
			break
		}
		switch {
		case m.Event != "":
			ev := Event{Name: m.Event, Data: m.Data}
			if m.Timestamp != nil {
				ev.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			q.mu.Lock()
			if len(q.events) >= qmpMaxEvents {
				q.events = q.events[1:]
			}
			q.events = append(q.events, ev)
			close(q.evWake)
			q.evWake = make(chan struct{})
			q.mu.Unlock()
		case m.ID != nil:
			q.mu.Lock()
			ch := q.pending[string(m.ID)]
			delete(q.pending, string(m.ID))
			q.mu.Unlock()
			if ch != nil {
				ch <- m // buffered: never blocks
			}
		}
		// Anything else (a reply without id) answers no command of ours.
	}
	q.mu.Lock()
	q.err = fmt.Errorf("%w: %v", ErrQMPClosed, err)
	q.mu.Unlock()
	close(q.done)
}

// Execute runs the QMP command cmd with arguments args (nil for none; any
// value that encodes to a JSON object) and decodes its return value into
// out (nil to ignore it). An error reply is returned as a [*QMPError].
func (q *QMP) Execute(ctx context.Context, cmd string, args any, out any) error {
	q.mu.Lock()
	if q.err != nil {
		err := q.err
		q.mu.Unlock()
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	q.id++
	id := strconv.Quote("m" + strconv.FormatUint(q.id, 10))
	ch := make(chan qmpMessage, 1)
	q.pending[id] = ch
	q.mu.Unlock()
	forget := func() {
		q.mu.Lock()
		delete(q.pending, id)
		q.mu.Unlock()
	}

	req := struct {
		Execute   string          `json:"execute"`
		Arguments any             `json:"arguments,omitempty"`
		ID        json.RawMessage `json:"id"`
	}{cmd, args, json.RawMessage(id)}
	b, err := json.Marshal(req)
	if err != nil {
		forget()
		return fmt.Errorf("qmp %s: encoding arguments: %w", cmd, err)
	}
	q.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = q.conn.SetWriteDeadline(dl)
	} else {
		_ = q.conn.SetWriteDeadline(time.Time{})
	}
	_, err = q.conn.Write(append(b, '\n'))
	q.wmu.Unlock()
	if err != nil {
		forget()
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
			// QEMU closed its end before our reader saw the end of the
			// stream: the connection is closed all the same.
			return fmt.Errorf("qmp %s: sending: %w: %v", cmd, ErrQMPClosed, err)
		}
		return fmt.Errorf("qmp %s: sending: %w", cmd, err)
	}

	select {
	case m := <-ch:
		if m.Error != nil {
			return &QMPError{Command: cmd, Class: m.Error.Class, Desc: m.Error.Desc}
		}
		if out != nil {
			if err := json.Unmarshal(m.Return, out); err != nil {
				return fmt.Errorf("qmp %s: decoding reply %s: %w", cmd, truncate(m.Return, 200), err)
			}
		}
		return nil
	case <-q.done:
		forget()
		q.mu.Lock()
		err := q.err
		q.mu.Unlock()
		return fmt.Errorf("qmp %s: %w", cmd, err)
	case <-ctx.Done():
		forget()
		return fmt.Errorf("qmp %s: waiting for the reply: %w", cmd, ctx.Err())
	}
}

// NextEvent removes and returns the oldest queued event, waiting for one
// until ctx ends.
func (q *QMP) NextEvent(ctx context.Context) (Event, error) {
	return q.WaitEvent(ctx, "")
}

// WaitEvent removes and returns the oldest queued event named name (any
// event when name is empty), waiting for one until ctx ends. Events of
// other names stay queued.
func (q *QMP) WaitEvent(ctx context.Context, name string) (Event, error) {
	for {
		q.mu.Lock()
		for i, ev := range q.events {
			if name == "" || ev.Name == name {
				q.events = append(q.events[:i], q.events[i+1:]...)
				q.mu.Unlock()
				return ev, nil
			}
		}
		wake, err := q.evWake, q.err
		q.mu.Unlock()
		if err != nil {
			return Event{}, fmt.Errorf("qmp: waiting for event %q: %w", name, err)
		}
		select {
		case <-wake:
		case <-q.done:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("qmp: waiting for event %q: %w", name, ctx.Err())
		}
	}
}

// Events returns a copy of the queued events, oldest first, without
// removing them.
func (q *QMP) Events() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Event(nil), q.events...)
}

// Close closes the connection; pending calls fail with [ErrQMPClosed].
func (q *QMP) Close() error {
	err := q.conn.Close()
	<-q.done
	return err
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
