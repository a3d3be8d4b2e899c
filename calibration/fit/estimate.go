package fit

import (
	"context"
	"math"
	"slices"

	"github.com/migsim/migsim/calibration"
	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/validate"
)

// initialEstimate improves start, parameter by parameter, from the
// closed forms that tie a parameter to one measured quantity, by
// comparing the real runs with their simulation under start:
//
//   - setup_time: setup time is the parameter plus fixed work, so it
//     moves by the median of real − simulated setup time;
//   - resume_time: downtime moves one for one with it (the cases calSkip
//     leaves downtime out of excluded);
//   - page_header: the bytes per normal page are 4096 plus the header
//     plus the same stream overheads on both sides, so it moves by the
//     median difference of bytes per normal page;
//   - bandwidth_factor and multifd_bandwidth_factor: a live phase held to
//     max_bandwidth runs at the cap times the factor, so the factor scales
//     by the median ratio of real to simulated live bandwidth, over the
//     runs whose simulation sits at its cap (single-stream and multifd
//     runs apart).
//
// fault_service_time has no closed form: a request that leaves a little
// later can miss the source's rate-limit burst and wait a whole window
// (postcopy_ratelimit.go), so the stall per request is a step function of
// it; the search fits it.
//
// Only the parameters in active move, each clamped to its range. The
// joint search then starts inside the right basin instead of wandering
// from the defaults across the objective's jumps (whole rounds coming and
// going), where it can settle in a valley that trades one parameter for
// another (a larger page header against a faster live phase).
func initialEstimate(ctx context.Context, cases []*validate.Recording, start calibration.Profile, active []calParam) (calibration.Profile, error) {
	var setup, down, bpp, bwSingle, bwMultifd []float64
	for _, c := range cases {
		r, err := c.Simulate(ctx, &start)
		if err != nil {
			return start, err
		}
		real := c.Real.Metrics
		// A field record measured some metrics only (c.measures).
		if c.Measures("setup_time_s") {
			setup = append(setup, real.SetupTimeS-r.SetupTimeS)
		}
		if !slices.Contains(calSkip[c.Rec.Model], "downtime_s") && real.DowntimeS > 0 && c.Measures("downtime_s") {
			down = append(down, real.DowntimeS-r.DowntimeS)
		}
		simBytes := float64(r.TransferredBytes - r.DeviceStateBytes)
		if real.Pages.Normal > 0 && r.Pages.Normal > 0 && c.Measures("transferred_bytes") {
			bpp = append(bpp, float64(real.TransferredBytes)/float64(real.Pages.Normal)-simBytes/float64(r.Pages.Normal))
		}
		if cap, multifd := liveCap(c, &start); cap > 0 && r.BandwidthBps > 0 && math.Abs(r.BandwidthBps/cap-1) < 0.02 && c.Measures("bandwidth_bps") {
			if ratio := real.MeanBandwidthBps() / r.BandwidthBps; ratio > 0 {
				if multifd {
					bwMultifd = append(bwMultifd, ratio)
				} else {
					bwSingle = append(bwSingle, ratio)
				}
			}
		}
	}
	p := start
	move := func(name string, f func(v float64) float64, xs []float64) {
		if len(xs) == 0 {
			return
		}
		for _, c := range active {
			if c.name == name {
				v := f(median(xs))
				c.set(&p, min(max(v, c.lo), c.hi))
			}
		}
	}
	move("setup_time_s", func(d float64) float64 { return start.SetupTime.Seconds() + d }, setup)
	move("resume_time_s", func(d float64) float64 { return start.ResumeTime.Seconds() + d }, down)
	move("page_header_bytes", func(d float64) float64 { return float64(start.PageHeader) + d }, bpp)
	move("bandwidth_factor", func(k float64) float64 { return start.BandwidthFactor * k }, bwSingle)
	move("multifd_bandwidth_factor", func(k float64) float64 { return start.MultifdBandwidthFactor * k }, bwMultifd)
	return p, nil
}

// liveCap returns the live phase's cap of c's simulation under start
// (max_bandwidth times the factor that applies, see
// [calibration.Profile.ScaleMaxBandwidth]) in bits per second, 0 if it has none,
// and whether multifd channels send.
func liveCap(c *validate.Recording, start *calibration.Profile) (float64, bool) {
	parts, _ := models.PartsOf(c.Spec.Model.Params)
	if parts.Rounds == nil { // no live rounds, no cap (post-copy)
		return 0, false
	}
	multifd := parts.Multifd != nil && parts.Multifd.Channels > 0
	return float64(start.ScaleMaxBandwidth(parts.Rounds.MaxBandwidth, multifd)), multifd
}

// median is the middle of x, the mean of the middle two for an even
// count.
func median(x []float64) float64 {
	s := slices.Sorted(slices.Values(x))
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
