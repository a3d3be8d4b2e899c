package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// csvHeader is the header row of "migsim run -o csv".
var csvHeader = []string{
	"scenario", "model", "seed", "round", "start_s", "duration_s", "pages", "zero_pages", "bytes",
	"dirtied_pages", "bandwidth_bps", "throttle_pct", "stop_and_copy", "downtime_s", "stop_reason",
}

// writeCSV writes one row per round and a totals row (round "total").
func writeCSV(w io.Writer, res *models.Result) error {
	cw := csv.NewWriter(w)
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	head := []string{res.Scenario, res.Model, u(res.Seed)}
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	var pages, zero, dirtied uint64
	for _, r := range res.RoundsDetail {
		pages += r.Pages
		zero += r.ZeroPages
		dirtied += r.DirtiedPages
		row := append(head[:3:3], strconv.Itoa(r.Round), f(r.StartS), f(r.DurationS), u(r.Pages), u(r.ZeroPages), u(r.Bytes),
			u(r.DirtiedPages), f(r.BandwidthBps), f(r.ThrottlePct), strconv.FormatBool(r.StopAndCopy), "", "")
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	downtime := "" // empty when the guest was never stopped
	if res.Applies("downtime_s") {
		downtime = f(res.DowntimeS)
	}
	total := append(head[:3:3], "total", "0", f(res.TotalTimeS), u(pages), u(zero), u(res.TransferredBytes),
		u(dirtied), f(res.BandwidthBps), f(res.ThrottlePct), "", downtime, res.StopReason.String())
	if err := cw.Write(total); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// writeTable writes a readable summary and a per-round table.
func writeTable(w io.Writer, spec *scenarios.Spec, res *models.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	status := "converged"
	switch {
	case !res.Completed:
		status = "did not complete"
	case res.StopReason.Forced():
		status = "completed, not converged (forced stop-and-copy)"
	case !res.Converged:
		status = "completed"
	}
	net := spec.Network
	profile := net.Profile
	if profile == "" {
		profile = "custom"
	}
	memory := float64(spec.VM.Memory)
	lines := [][2]string{
		{"scenario", res.Scenario},
		{"model", res.Model},
		{"seed", strconv.FormatUint(res.Seed, 10)},
		{"vm", fmt.Sprintf("%v in %v pages, %d vCPUs", spec.VM.Memory, spec.VM.PageSize, spec.VM.VCPUs)},
		{"network", fmt.Sprintf("%s: %v, RTT %v, loss %v", profile, net.Bandwidth, net.RTT, net.Loss)},
		{"result", fmt.Sprintf("%s (%s)", status, res.StopReason)},
		{"total time", seconds(res.TotalTimeS)},
		{"downtime", downtimeLine(res)},
		{"setup time", seconds(res.SetupTimeS)},
		{"transferred", fmt.Sprintf("%s (%d bytes, %.2f× memory)", humanBytes(res.TransferredBytes), res.TransferredBytes, float64(res.TransferredBytes)/memory)},
		{"rounds", fmt.Sprintf("%d (%d dirty syncs)", res.Rounds, res.DirtySyncCount)},
		{"pages", fmt.Sprintf("%d total, %d zero, %d normal", res.Pages.Total, res.Pages.Zero, res.Pages.Normal)},
		{"bandwidth", fmt.Sprintf("%.4g Gbit/s mean over the live phase", res.BandwidthBps/1e9)},
		{"dirty rate", dirtyRateLine(res)},
		{"throttle", fmt.Sprintf("%g%%", res.ThrottlePct)},
		{"guest time", seconds(res.GuestTimeS)},
	}
	if res.StopReason == models.StopNoProgress {
		lines = append(lines, [2]string{"verdict", fmt.Sprintf("no progress: the dirty set stopped shrinking at %d pages (%s), which need %s of downtime at the measured rate",
			res.SteadyStateDirtyPages, humanBytes(res.SteadyStateDirtyPages*uint64(spec.VM.PageSize)), seconds(res.ExpectedDowntimeS))})
	}
	if res.Bottleneck != "" {
		lines = append(lines, [2]string{"cpu", fmt.Sprintf("bound by %s; %.3g s source, %.3g s destination (core-seconds)",
			res.Bottleneck, res.CPUSecondsSource, res.CPUSecondsDestination)})
	}
	if res.XbzrleCacheSizeBytes > 0 {
		lines = append(lines, [2]string{"xbzrle", fmt.Sprintf("%d pages as deltas (%s), %d misses (%.1f%%), %d overflows, encoding rate %.2f",
			res.XbzrlePages, humanBytes(res.XbzrleBytes), res.XbzrleCacheMisses, 100*res.XbzrleCacheMissRate, res.XbzrleOverflow, res.XbzrleEncodingRate)})
	}
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\n", l[0], l[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tstart\tduration\tpages\tzero\tbytes\tdirtied\tGbit/s\tthrottle\t")
	stop := false
	for _, r := range res.RoundsDetail {
		mark := ""
		if r.StopAndCopy {
			mark, stop = "*", true
		}
		fmt.Fprintf(tw, "%d%s\t%.3f\t%.3f\t%d\t%d\t%s\t%d\t%.3f\t%g%%\t\n",
			r.Round, mark, r.StartS, r.DurationS, r.Pages, r.ZeroPages, humanBytes(r.Bytes), r.DirtiedPages, r.BandwidthBps/1e9, r.ThrottlePct)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if stop {
		_, err := fmt.Fprintln(w, "* stop-and-copy: the guest was stopped")
		return err
	}
	return nil
}

// seconds prints a time in seconds, with milliseconds below one second.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1e3)
	}
	return fmt.Sprintf("%.3f s", s)
}

// humanBytes prints n bytes with a binary unit, e.g. "4.00 GiB".
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.2f %s", v, [...]string{"B", "KiB", "MiB", "GiB", "TiB"}[i])
}

// notApplicable is what the table prints for a value that does not apply.
const notApplicable = "n/a"

// dirtyRateLine prints the dirty rate of the last sync, or n/a without a
// pre-copy round.
func dirtyRateLine(res *models.Result) string {
	if !res.Applies("dirty_pages_rate") {
		return notApplicable + " (no pre-copy round)"
	}
	return fmt.Sprintf("%.0f pages/s at the last sync", res.DirtyPagesRate)
}

// downtimeLine prints the downtime and, where the model predicted one at
// its last sync (pre-copy), the expected downtime beside it; n/a when the
// guest was never stopped.
func downtimeLine(res *models.Result) string {
	if !res.Applies("downtime_s") {
		return notApplicable + " (the guest was never stopped)"
	}
	if res.ExpectedDowntimeS == 0 || !res.Applies("expected_downtime_s") {
		return seconds(res.DowntimeS)
	}
	return fmt.Sprintf("%s (expected %s)", seconds(res.DowntimeS), seconds(res.ExpectedDowntimeS))
}
