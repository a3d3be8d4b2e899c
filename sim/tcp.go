package sim

import (
	"math"
	"time"

	"github.com/migsim/migsim/units"
)

// TCP constants of the stream model. The defaults are Linux's, the stack
// of the hosts QEMU migrates between.
const (
	// DefaultMSS is the payload of one segment on a 1500-byte MTU path
	// with TCP timestamps, as Linux negotiates it: 1500 − 20 (IPv4) − 20
	// (TCP) − 12 (timestamp option) bytes.
	DefaultMSS units.Bytes = 1448
	// MinMSS is the smallest MSS a Path accepts (RFC 1122's IPv4 default).
	MinMSS units.Bytes = 536
	// MaxMSS is the largest MSS a Path accepts: a 64 KiB IPv4 packet
	// without headers.
	MaxMSS units.Bytes = 65495
	// InitialWindow is the initial congestion window in segments (RFC
	// 6928; Linux TCP_INIT_CWND).
	InitialWindow = 10
	// LinuxTCPRmemMax is Linux's default net.ipv4.tcp_rmem[2], the largest
	// receive buffer autotuning grows a socket to: "between 131072 and
	// 6MB, depending on RAM size" (Documentation/networking/ip-sysctl.rst,
	// Linux 3.4 to 6.15; 6.16 raised it to 32 MB).
	LinuxTCPRmemMax units.Bytes = 6 * units.MiB
	// DefaultWindow is the largest window one stream reaches under
	// Linux's default autotuning: half of [LinuxTCPRmemMax], 3 MiB, since
	// tcp_adv_win_scale 1 (the default from Linux 3.4 to 6.5, Debian 12's
	// 6.1 included) keeps half of the receive buffer for overhead. From
	// 6.6 the share is measured per socket and is usually larger, and the
	// sender's tcp_wmem[2] (4 MiB) also caps the bytes in flight, so newer
	// kernels reach about 4 MiB; set tcp_window to model them.
	DefaultWindow = LinuxTCPRmemMax / 2
	// MinRTO is Linux's TCP_RTO_MIN, the floor of its RTT variance term.
	MinRTO = 200 * time.Millisecond
	// MathisC is the constant of Mathis et al.'s loss law for periodic
	// loss with an ACK per segment, √(3/2).
	MathisC = 1.2247448713915890491
)

// mss returns the segment size in bytes.
func (p Path) mss() float64 {
	if p.MSS > 0 {
		return float64(p.MSS)
	}
	return float64(DefaultMSS)
}

// streams returns the default number of streams, at least 1.
func (p Path) streams() int {
	if p.Streams > 0 {
		return p.Streams
	}
	return 1
}

// RTO returns the retransmission timeout against which a stream's idle
// time is measured: MeanRTT + max(MinRTO, 4 × Jitter), Linux's
// srtt + rttvar with rttvar floored at TCP_RTO_MIN and taken as four
// times the mean deviation.
func (p Path) RTO() time.Duration {
	return p.MeanRTT() + max(MinRTO, 4*p.Jitter)
}

// WindowLimitBps returns one stream's window-limited rate, Window × 8 /
// MeanRTT, in bits per second: +Inf when Window or MeanRTT is 0.
func (p Path) WindowLimitBps() float64 {
	rtt := p.MeanRTT().Seconds()
	if p.Window <= 0 || rtt <= 0 {
		return math.Inf(1)
	}
	return float64(p.Window) * 8 / rtt
}

// MathisBps returns one stream's loss-limited rate (Mathis, Semke,
// Mahdavi and Ott, CCR 27(3), 1997), MSS × 8 × C / (MeanRTT × √Loss) with
// C = [MathisC], in bits per second: +Inf when Loss or MeanRTT is 0.
func (p Path) MathisBps() float64 {
	rtt := p.MeanRTT().Seconds()
	if p.Loss <= 0 || rtt <= 0 {
		return math.Inf(1)
	}
	return p.mss() * 8 * MathisC / (rtt * math.Sqrt(p.Loss))
}

// StreamCeilingBps returns the most one stream can carry whatever the
// link: the lesser of [Path.WindowLimitBps] and [Path.MathisBps], in bits
// per second; +Inf when neither limits it.
func (p Path) StreamCeilingBps() float64 {
	return math.Min(p.WindowLimitBps(), p.MathisBps())
}

// changeIndex returns the index of the schedule entry in force at time
// at, or -1 before the first.
func (p Path) changeIndex(at Time) int {
	i := -1
	for j, c := range p.Schedule {
		if Time(c.At) > at {
			break
		}
		i = j
	}
	return i
}

// availableIdx is AvailableBps under schedule entry i (-1: none).
func (p Path) availableIdx(i int) float64 {
	bw, cross := float64(p.Bandwidth), 0.0
	if i >= 0 {
		c := p.Schedule[i]
		if c.Bandwidth > 0 {
			bw = float64(c.Bandwidth)
		}
		cross = c.CrossTraffic
	}
	return bw * (1 - p.Loss) * (1 - cross)
}

// steadyIdx is SteadyBps under schedule entry i for k streams.
func (p Path) steadyIdx(k float64, i int, capBps float64) float64 {
	rate := math.Min(p.availableIdx(i), k*p.StreamCeilingBps())
	if capBps > 0 && capBps < rate {
		rate = capBps
	}
	return rate
}

// AvailableBps returns what the link leaves for the migration at time
// at: its bandwidth then × (1 − Loss) × (1 − cross traffic then), in bits
// per second.
func (p Path) AvailableBps(at Time) float64 { return p.availableIdx(p.changeIndex(at)) }

// SteadyBps returns the rate k parallel streams reach together at time at
// once past slow start, in bits per second: the least of capBps (when
// positive), [Path.AvailableBps] and k × [Path.StreamCeilingBps]. Streams
// share the bottleneck fairly, so each carries 1/k of it. k ≤ 0 means the
// path's Streams.
func (p Path) SteadyBps(k int, at Time, capBps float64) float64 {
	if k <= 0 {
		k = p.streams()
	}
	return p.steadyIdx(float64(k), p.changeIndex(at), capBps)
}

// StreamsToFill returns the fewest parallel streams whose steady rate
// reaches what the link leaves at time at: 1 when one stream fills it.
func (p Path) StreamsToFill(at Time) int {
	ceil := p.StreamCeilingBps()
	if math.IsInf(ceil, 1) {
		return 1
	}
	// The small tolerance keeps an exact multiple from asking for one more.
	return max(1, int(math.Ceil(p.AvailableBps(at)/ceil-1e-9)))
}

// Conn is the congestion state of a migration connection: Streams
// parallel TCP streams that carry one bulk transfer between them, each
// with the same window. The zero Conn, or one from [Path.Open], has not
// sent yet; [Path.Send] returns the state after each transfer. A Conn is
// a value: keep the one Send returns.
type Conn struct {
	// Streams is the number of parallel streams; 0 means the path's
	// Streams.
	Streams int
	// Cwnd is each stream's congestion window in bytes; 0 for a connection
	// that has not sent yet, which starts at the initial window.
	Cwnd float64
	// LastSend is when the connection last finished sending.
	LastSend Time
}

// Open returns a connection of k streams that has not sent yet; k ≤ 0
// means the path's Streams.
func (p Path) Open(k int) Conn {
	if k <= 0 {
		k = p.streams()
	}
	return Conn{Streams: k}
}

// window returns each stream's congestion window when the connection
// starts sending at time at: the initial window for a new connection;
// after an idle time longer than the RTO, halved for each RTO elapsed
// past the first, down to the restart window min(initial window, cwnd)
// (RFC 2861 and RFC 5681 §4.1, as Linux's tcp_cwnd_restart does it).
func (c Conn) window(p Path, at Time) float64 {
	iw := InitialWindow * p.mss()
	if c.Cwnd <= 0 {
		return iw
	}
	w := c.Cwnd
	rto := p.RTO()
	if idle := at.Sub(c.LastSend); idle > rto {
		restart := math.Min(iw, w)
		for d := idle - rto; d > 0 && w > restart; d -= rto {
			w /= 2
		}
		w = math.Max(w, restart)
	}
	return w
}

// Transfer is the outcome of one [Path.Send].
type Transfer struct {
	// Bytes is what was sent.
	Bytes float64
	// Duration is how long the bytes took to leave the sender, rounded up
	// to whole nanoseconds and at most [MaxTransferTime]. It excludes the
	// last byte's propagation to the receiver, which request/response RTTs
	// account for.
	Duration time.Duration
	// Spans split the transfer into pieces sent at a constant aggregate
	// rate, in time order; their bytes add up to Bytes. A throughput meter
	// fed with them sees the slow-start ramp.
	Spans []Span

	// seconds is the unrounded duration; 0 when not known.
	seconds float64
}

// Span is a piece of a transfer sent at a constant rate.
type Span struct {
	// Start and End are offsets from the start of the transfer.
	Start, End time.Duration
	// Bytes is what the piece carried.
	Bytes float64
}

// Bps returns the transfer's effective rate, Bytes × 8 / Duration, in bits
// per second; 0 for an empty transfer. A transfer cut to
// [MaxTransferTime] gives its rate over its whole, unrounded time.
func (t Transfer) Bps() float64 {
	if t.Duration <= 0 {
		return 0
	}
	if t.Duration == MaxTransferTime && t.seconds > 0 {
		return t.Bytes * 8 / t.seconds
	}
	return t.Bytes * 8 / t.Duration.Seconds()
}

// Send returns how n bytes, split evenly over c's streams, leave the
// sender from time at on, capped in aggregate at capBps when capBps > 0
// (a migration's max-bandwidth), and the connection's state afterwards.
// It is the closed form of the stream model, one call per transfer
// however long, so models need no per-packet events.
//
// Each stream starts from its window at time at (see [Conn]: the initial
// window, or the window left by the last transfer, reduced after an idle
// time longer than [Path.RTO]). While its window w is below its share of
// the steady rate, w < SteadyBps × MeanRTT / k, it is in slow start: each
// round trip it sends w and doubles it, so from w0 it reaches a target
// window W in ⌈log2(W/w0)⌉ round trips having sent w0 × (2^m − 1) bytes.
// From then on it sends at its share of [Path.SteadyBps], its window
// following that share as the schedule changes it (and ramping again, by
// doubling, when the share grows). With MeanRTT 0 there is no ramp and
// the time is n × 8 / SteadyBps, exactly [Path.TransferTime]'s when
// nothing else limits the streams.
//
// Cost: O(ramp round trips + schedule changes crossed).
func (p Path) Send(c Conn, at Time, n float64, capBps float64) (Transfer, Conn) {
	if n <= 0 {
		return Transfer{}, c
	}
	if c.Streams <= 0 {
		c.Streams = p.streams()
	}
	k := float64(c.Streams)
	rtt := p.MeanRTT().Seconds()
	w := c.window(p, at)
	idx := p.changeIndex(at)

	var spans []span
	t, left := 0.0, n // seconds since at; bytes still to send
	step := rtt       // time left in the current slow-start round trip
	ramp, target := false, 0.0
	for left > 0 {
		rate := p.steadyIdx(k, idx, capBps) // bits/s
		target = rate * rtt / (8 * k)       // each stream's window at that rate
		ramp = rtt > 0 && w < target
		if ramp {
			rate = k * w * 8 / rtt
		} else {
			if rtt > 0 {
				w = target
			}
			step = rtt // a later ramp starts a fresh round trip
		}
		h := math.Inf(1) // time to the next schedule change
		if idx+1 < len(p.Schedule) {
			h = math.Max(0, float64(p.Schedule[idx+1].At-time.Duration(at))/1e9-t)
		}
		byStep := false
		if ramp && step < h {
			h, byStep = step, true
		}
		if dt := left * 8 / rate; dt <= h {
			spans = append(spans, span{t, t + dt, left})
			t += dt
			step -= dt
			break
		}
		sent := rate * h / 8
		spans = append(spans, span{t, t + h, sent})
		t += h
		left -= sent
		if byStep {
			w *= 2
			step = rtt
		} else {
			idx++
			if ramp {
				step -= h
			}
		}
	}
	if ramp { // the round trip in progress has grown the window part way
		w = math.Min(w*math.Exp2((rtt-step)/rtt), target)
	}

	d := ceilDuration(t)
	out := Transfer{Bytes: n, Duration: d, Spans: make([]Span, 0, len(spans)), seconds: t}
	carry := 0.0 // bytes of pieces too short to keep, given to the next
	for i, s := range spans {
		sp := Span{Start: roundDuration(s.start), End: roundDuration(s.end), Bytes: s.bytes + carry}
		if i == len(spans)-1 {
			sp.End = d
		}
		if sp.End > sp.Start {
			out.Spans = append(out.Spans, sp)
			carry = 0
		} else {
			carry = sp.Bytes
		}
	}
	if carry > 0 && len(out.Spans) > 0 {
		out.Spans[len(out.Spans)-1].Bytes += carry
	}
	if rtt > 0 {
		c.Cwnd = w
	}
	c.LastSend = at.Add(d)
	return out, c
}

// span is a Span in float seconds while Send works.
type span struct{ start, end, bytes float64 }
