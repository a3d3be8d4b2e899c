package scenarios

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/migsim/migsim/units"
)

// validateLinkFloor refuses a path too slow to move one page and the
// device state (what every migration sends, the latter while the guest
// is stopped) within the model's max_time: over it no migration can
// complete before it is abandoned, so a run would only report max_time,
// with a downtime longer than the run itself. The rate is the least of network.bandwidth × (1 − loss), what
// the TCP streams carry over the RTT (window and loss limits) and
// model.max_bandwidth; the error names the key that binds. The bandwidth
// schedule is not considered: a link may be slow for a while and recover.
func (l *loader) validateLinkFloor(s *Spec) {
	maxTime, ok := specValue(s, "model.max_time")
	if !ok || maxTime.Type() != durationType {
		return
	}
	limit := time.Duration(maxTime.Int())
	n := s.Network
	// The least any migration moves: one page and the device state.
	page := float64(s.VM.PageSize+max(s.VM.DeviceState, 0)) * 8 // bits
	what := fmt.Sprintf("one %v page", s.VM.PageSize)
	if s.VM.DeviceState > 0 {
		what += fmt.Sprintf(" and the %v of device state", s.VM.DeviceState)
	}
	if limit <= 0 || page <= 0 || !(n.Bandwidth > 0) {
		return // reported by the other checks
	}
	path := s.Path()
	if path.Validate() != nil {
		return
	}
	key, why := "network.bandwidth", fmtRate(float64(n.Bandwidth))
	rate := path.GoodputBps()
	if n.Loss > 0 {
		why += " less " + units.BitRate(float64(n.Bandwidth)*n.Loss).String() + " of loss"
	}
	if k := float64(max(n.Streams, 1)); k*path.StreamCeilingBps() < rate {
		rate = k * path.StreamCeilingBps()
		key, why = "network.rtt", "TCP over network.rtt "+n.RTT.String()+" (tcp_window, loss)"
		if n.Streams > 1 {
			why += " on " + strconv.Itoa(n.Streams) + " streams"
		}
	}
	if mb, ok := specValue(s, "model.max_bandwidth"); ok && mb.Type() == rateType {
		if c := mb.Float(); c > 0 && c < rate {
			rate, key, why = c, "model.max_bandwidth", fmtRate(c)
		}
	}
	secs := page / rate
	if secs <= limit.Seconds() {
		return
	}
	if l.given("model.max_time") && !l.given(key) {
		// The path is the profile's or the default; the limit is what
		// the scenario set.
		l.addf("model.max_time", "%v is shorter than the %s the path needs to move %s (%s): no migration can complete within it",
			limit, fmtSeconds(secs), what, why)
		return
	}
	need := page / limit.Seconds()
	var fix string
	switch key {
	case "network.bandwidth":
		fix = "give at least " + fmtRate(ceil3(need/(1-n.Loss)))
	case "model.max_bandwidth":
		fix = "give at least " + fmtRate(ceil3(need)) + ", or 0 for no cap"
	default:
		fix = "give a shorter network.rtt or a larger network.tcp_window"
	}
	l.addf(key, "%s moves %s in %s, longer than model.max_time (%v): no migration over it can complete; %s (or a longer model.max_time)",
		why, what, fmtSeconds(secs), limit, fix)
}

// ceil3 rounds x > 0 up to three significant digits.
func ceil3(x float64) float64 {
	f := math.Pow(10, math.Floor(math.Log10(x))-2)
	return math.Ceil(x/f) * f
}

// fmtRate writes a rate with three significant digits.
func fmtRate(bps float64) string {
	r := units.BitRate(bps).String()
	num, unit := splitRate(r)
	if f, err := strconv.ParseFloat(num, 64); err == nil {
		return strconv.FormatFloat(f, 'g', 3, 64) + unit
	}
	return r
}

// splitRate splits "9.1bit" into "9.1" and "bit".
func splitRate(s string) (string, string) {
	i := 0
	for i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == '+' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	return s[:i], s[i:]
}

// fmtSeconds writes a long time in the largest unit that keeps it readable.
func fmtSeconds(s float64) string {
	switch {
	case s >= 365*24*3600:
		return strconv.FormatFloat(s/(365*24*3600), 'g', 3, 64) + " years"
	case s >= 3600:
		return strconv.FormatFloat(s/3600, 'g', 3, 64) + " h"
	case s >= 100:
		return strconv.FormatFloat(s, 'f', 0, 64) + " s"
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + " s"
}
