package lab

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/migsim/migsim/internal/labtest"
	"github.com/migsim/migsim/units"
)

// sink accepts one connection on ln and reads it to the end, recording
// the cumulative bytes received over time.
type sink struct {
	mu      sync.Mutex
	samples []sinkSample
	done    chan struct{}
}

type sinkSample struct {
	t time.Time
	n int64
}

func newSink(t *testing.T, ln net.Listener) *sink {
	s := &sink{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		var total int64
		for {
			n, err := c.Read(buf)
			total += int64(n)
			s.mu.Lock()
			s.samples = append(s.samples, sinkSample{time.Now(), total})
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// rate returns the bytes per second received between from and to after
// the first byte.
func (s *sink) rate(t *testing.T, from, to time.Duration) float64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		t.Fatal("the sink received nothing")
	}
	t0 := s.samples[0].t
	at := func(d time.Duration) sinkSample {
		i, _ := slices.BinarySearchFunc(s.samples, t0.Add(d), func(x sinkSample, tt time.Time) int { return x.t.Compare(tt) })
		return s.samples[min(i, len(s.samples)-1)]
	}
	a, b := at(from), at(to)
	if !b.t.After(a.t) {
		t.Fatalf("no samples between %v and %v", from, to)
	}
	return float64(b.n-a.n) / b.t.Sub(a.t).Seconds()
}

// flood writes to c until stop is closed, then closes it.
func flood(c net.Conn, stop <-chan struct{}) {
	defer c.Close()
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Write(buf); err != nil && !os.IsTimeout(err) {
			return
		}
	}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// loopbackRelay starts a relay on loopback in front of target.
func loopbackRelay(t *testing.T, target net.Listener, oneWay time.Duration, window int) *relay {
	t.Helper()
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target.Addr().String())
	}
	r := newRelay(listenLoopback(t), dial, oneWay, window)
	t.Cleanup(func() { r.close() })
	return r
}

// TestRelayWindowBound pushes a stream through the relay as fast as
// loopback goes: with the window binding, throughput is window / RTT.
func TestRelayWindowBound(t *testing.T) {
	for _, tc := range []struct {
		rtt    time.Duration
		window int
	}{
		{20 * time.Millisecond, 256 << 10}, // 104.9 Mbit/s
		{40 * time.Millisecond, 1 << 20},   // 209.7 Mbit/s
	} {
		// A CPU-starved relay runs late, never early: a burst of other
		// work is measured again, up to three times.
		labtest.Measure(t, 3, func(a *labtest.Attempt) {
			target := listenLoopback(t)
			s := newSink(t, target)
			r := loopbackRelay(t, target, tc.rtt/2, tc.window)
			c, err := net.Dial("tcp", r.addr().String())
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go flood(c, stop)
			time.Sleep(3 * time.Second)
			close(stop)
			got := s.rate(t, 500*time.Millisecond, 2500*time.Millisecond)
			want := float64(tc.window) / tc.rtt.Seconds()
			a.Logf("rtt %v window %d: %.1f Mbit/s, window/RTT %.1f Mbit/s (%+.1f%%)", tc.rtt, tc.window, got*8/1e6, want*8/1e6, 100*(got/want-1))
			// Timer lateness only lengthens the cycle: allow 5 % below, 1 % above.
			if got < 0.95*want || got > 1.01*want {
				a.Errorf("rtt %v window %d: %.2f MB/s, want window/RTT = %.2f MB/s within -5/+1 %%", tc.rtt, tc.window, got/1e6, want/1e6)
			}
			r.close()
			<-s.done
		})
	}
}

// TestRelayLatency sends small time-stamped messages through an idle
// relay: each arrives one-way (RTT/2) after it was sent, never earlier.
func TestRelayLatency(t *testing.T) {
	const oneWay = 15 * time.Millisecond
	target := listenLoopback(t)
	r := loopbackRelay(t, target, oneWay, 64<<10)
	got := make(chan []time.Duration, 1)
	go func() {
		c, err := target.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var lat []time.Duration
		var b [8]byte
		for {
			if _, err := io.ReadFull(c, b[:]); err != nil {
				got <- lat
				return
			}
			lat = append(lat, time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(b[:])))))
		}
	}()
	c, err := net.Dial("tcp", r.addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
		if _, err := c.Write(b[:]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * oneWay)
	}
	c.Close()
	lat := <-got
	if len(lat) != 20 {
		t.Fatalf("%d of 20 messages arrived", len(lat))
	}
	slices.Sort(lat)
	med := lat[len(lat)/2]
	t.Logf("one-way latency: min %v, median %v, max %v (want %v)", lat[0], med, lat[len(lat)-1], oneWay)
	if lat[0] < oneWay {
		t.Errorf("a message arrived after %v, before the one-way delay %v", lat[0], oneWay)
	}
	if med > oneWay+2*time.Millisecond {
		t.Errorf("median one-way latency %v, want %v within 2ms", med, oneWay)
	}
}

// TestRelayPassesBothWaysAndEnds checks that the relay is transparent: an
// echo through it returns the bytes sent, and each side's end of stream
// reaches the other.
func TestRelayPassesBothWaysAndEnds(t *testing.T) {
	target := listenLoopback(t)
	go func() {
		c, err := target.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	r := loopbackRelay(t, target, 2*time.Millisecond, 100<<10)
	c, err := net.Dial("tcp", r.addr().String())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 3<<20)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	go func() {
		_, _ = c.Write(want)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back, want) {
		t.Errorf("echo through the relay returned %d bytes, not the %d sent", len(back), len(want))
	}
	if err := r.close(); err != nil {
		t.Errorf("relay close: %v", err)
	}
	if f, b := r.forward.Load(), r.backward.Load(); f != int64(len(want)) || b != int64(len(want)) {
		t.Errorf("relay counted %d bytes forward and %d back, want %d each", f, b, len(want))
	}
}

// needRoot skips a test that builds network namespaces when the process
// is not root or iproute2 is missing.
func needRoot(t *testing.T) {
	t.Helper()
	if _, _, err := checkShapingTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// TestLabNetShaped sends a stream from the source namespace through the
// relay and the tbf-shaped veth to the destination namespace: its goodput
// is the lesser of the bandwidth and window/RTT, and nothing is left after
// close.
func TestLabNetShaped(t *testing.T) {
	needRoot(t)
	for _, shape := range []NetShape{
		{Bandwidth: 200 * units.Mbit, RTT: 20 * time.Millisecond, Window: 3 * units.MiB}, // tbf binds: the QEMU test's profile
		{Bandwidth: 1 * units.Gbit, RTT: 20 * time.Millisecond, Window: 256 * units.KiB}, // window binds
	} {
		// A CPU-starved relay runs late, never early: a burst of other
		// work is measured again, up to three times.
		labtest.Measure(t, 3, func(a *labtest.Attempt) {
			n, err := setupLabNet(shape, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			var ln net.Listener
			if err := inNetns(n.dst, func() (err error) {
				ln, err = net.Listen("tcp", labDstAddr+":0")
				return err
			}); err != nil {
				n.close()
				t.Fatal(err)
			}
			s := newSink(t, ln)
			uri, err := n.startRelay(strings.TrimPrefix(ln.Addr().String(), labDstAddr+":"))
			if err != nil {
				n.close()
				t.Fatal(err)
			}
			var c net.Conn
			if err := inNetns(n.src, func() (err error) {
				c, err = net.Dial("tcp", strings.TrimPrefix(uri, "tcp:"))
				return err
			}); err != nil {
				n.close()
				t.Fatal(err)
			}
			stop := make(chan struct{})
			go flood(c, stop)
			time.Sleep(4 * time.Second)
			close(stop)
			got := s.rate(t, time.Second, 3500*time.Millisecond) * 8
			want := math.Min(float64(shape.Bandwidth), shape.WindowLimitBps())
			a.Logf("%+v: goodput %.1f Mbit/s, predicted %.1f Mbit/s (%+.1f%%)", shape, got/1e6, want/1e6, 100*(got/want-1))
			if math.Abs(got/want-1) > 0.05 {
				a.Errorf("%+v: goodput %.1f Mbit/s, want min(bandwidth, window/RTT) = %.1f Mbit/s within 5 %%", shape, got/1e6, want/1e6)
			}
			ln.Close()
			if err := n.close(); err != nil {
				t.Errorf("close: %v", err)
			}
			<-s.done
			for _, ns := range []string{n.src, n.dst} {
				if slices.Contains(labNamespaces(), ns) {
					t.Errorf("namespace %s left after close", ns)
				}
			}
		})
	}
}

// TestRemoveStaleNamespaces leaves namespaces named after a dead pid and a
// live one: only the dead one's go.
func TestRemoveStaleNamespaces(t *testing.T) {
	needRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	deadNS := "migsim-" + strconv.Itoa(dead.Process.Pid) + "-1-src"
	liveNS := "migsim-" + strconv.Itoa(live.Process.Pid) + "-1-dst"
	for _, ns := range []string{deadNS, liveNS} {
		if err := runTool("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = runTool("ip", "netns", "del", ns) }()
	}
	gone := removeStaleNamespaces("ip")
	left := labNamespaces()
	if !slices.Contains(gone, deadNS) || slices.Contains(left, deadNS) {
		t.Errorf("stale %s not removed (removed %v, left %v)", deadNS, gone, left)
	}
	if !slices.Contains(left, liveNS) {
		t.Errorf("%s of a live process was removed", liveNS)
	}
}

// TestRelayCloseLeavesNoGoroutine closes a relay in the middle of a
// stream: its goroutines, and those of the test's ends, are all gone.
func TestRelayCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(ln, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target.Addr().String())
	}, 10*time.Millisecond, 256<<10)
	c, err := net.Dial("tcp", r.addr().String())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() { flood(c, stop); close(flooded) }()
	time.Sleep(500 * time.Millisecond)
	if r.forward.Load() == 0 {
		t.Error("nothing relayed in 0.5s")
	}
	_ = r.close()
	close(stop)
	<-flooded
	<-s.done
	target.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
