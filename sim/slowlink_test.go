package sim

import (
	"testing"
	"time"

	"github.com/migsim/migsim/units"
)

// TestSlowLinkTransferTime: a transfer too long for time.Duration (1 TiB
// at a few bits per second, issue 20 item 2) takes MaxTransferTime, not
// an overflowed duration; before, the conversion gave a negative or zero
// time, so a round "took" 0 s at +Inf bit/s.
func TestSlowLinkTransferTime(t *testing.T) {
	for _, p := range []Path{
		{Bandwidth: 2},
		{Bandwidth: 2, RTT: 100 * time.Microsecond, Window: DefaultWindow},
		{Bandwidth: 3, RTT: 80 * time.Millisecond, Loss: 1e-7, Jitter: time.Millisecond, Window: DefaultWindow, Streams: 4},
		{Bandwidth: 10, Schedule: []RateChange{{At: time.Second, Bandwidth: 1}}},
	} {
		n := float64(units.TiB)
		if got := p.TransferTime(n, 0); got != MaxTransferTime {
			t.Errorf("%+v: TransferTime(1TiB) = %v, want MaxTransferTime", p, got)
		}
		x, c := p.Send(p.Open(0), Time(time.Second), n, 0)
		if x.Duration != MaxTransferTime {
			t.Errorf("%+v: Send(1TiB) takes %v, want MaxTransferTime", p, x.Duration)
		}
		if bps := x.Bps(); !(bps > 0) || bps > float64(p.Bandwidth) {
			t.Errorf("%+v: Send(1TiB) at %v bit/s, want a positive finite rate at most the link's", p, bps)
		}
		if c.LastSend < Time(time.Second) {
			t.Errorf("%+v: connection last sent at %v, before the transfer started", p, c.LastSend)
		}
		for i, sp := range x.Spans {
			if sp.Start < 0 || sp.End <= sp.Start || sp.End > x.Duration {
				t.Errorf("%+v: span %d [%v, %v] outside [0, %v]", p, i, sp.Start, sp.End, x.Duration)
			}
		}
	}
	// A short transfer on a fast link still takes at least a nanosecond.
	p := Path{Bandwidth: 400 * units.Gbit}
	if got := p.TransferTime(1, 0); got != time.Nanosecond {
		t.Errorf("1 byte at 400 Gbit/s takes %v, want 1ns", got)
	}
	if x, _ := p.Send(p.Open(0), 0, 1, 0); x.Duration != time.Nanosecond {
		t.Errorf("Send of 1 byte at 400 Gbit/s takes %v, want 1ns", x.Duration)
	}
}
