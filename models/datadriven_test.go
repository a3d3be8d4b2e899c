package models_test

// Data-driven golden tests of the models: each file in testdata/ is a
// sequence of commands (cockroachdb/datadriven) whose output is compared
// with the expected text below the "----" line. Regenerate with
//
//	go test ./models -run TestDataDriven -rewrite
//
// and review the diff like code.
//
// Commands:
//
//	scenario
//	<YAML scenario body>
//	----
//	ok
//
// sets the scenario that later runs use (the YAML must be complete; keys
// follow README's scenario section).
//
//	run [set=key=value ...]
//
// runs the current scenario with optional overrides (any dotted scenario
// key, as with --set) and prints: each pass (round, start and duration in
// seconds, pages, zero pages, MiB sent, pages dirtied meanwhile, throttle;
// "*" marks stop-and-copy, "p" the post-copy pass), then the totals (and,
// after a switch to post-copy, its faults, stalls and bytes), then a hash
// of the full JSON result, so that any change to any field shows up. A
// run with a CPU model adds its bottleneck, CPU seconds, compression
// ratio and per-worker MiB; one with XBZRLE its cache counters. A
// failing run prints "error: ..." instead.
//
// Leftover or unknown arguments fail the test.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/migsim/migsim/models"
	"github.com/migsim/migsim/scenarios"
)

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var scenarioFile string
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "scenario":
				if len(d.CmdArgs) != 0 {
					d.Fatalf(t, "scenario takes no arguments")
				}
				scenarioFile = filepath.Join(t.TempDir(), "scenario.yaml")
				if err := os.WriteFile(scenarioFile, []byte(d.Input), 0o644); err != nil {
					d.Fatalf(t, "%v", err)
				}
				if _, err := scenarios.Load(scenarioFile, nil); err != nil {
					return "error: " + strings.ReplaceAll(err.Error(), scenarioFile, "scenario.yaml") + "\n"
				}
				return "ok\n"
			case "run":
				if scenarioFile == "" {
					d.Fatalf(t, "run before scenario")
				}
				var sets []string
				for _, a := range d.CmdArgs {
					if a.Key != "set" || len(a.Vals) != 1 {
						d.Fatalf(t, "unknown argument %q (want set=key=value)", a.String())
					}
					sets = append(sets, a.Vals[0])
				}
				return runGolden(t, scenarioFile, sets)
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}

func runGolden(t *testing.T, file string, sets []string) string {
	spec, err := scenarios.Load(file, sets)
	if err != nil {
		return "error: " + strings.ReplaceAll(err.Error(), file, "scenario.yaml") + "\n"
	}
	m, in, err := spec.Build()
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return formatGolden(t, res)
}

func formatGolden(t *testing.T, res *models.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5s %9s %9s %9s %8s %10s %9s %5s\n", "round", "start_s", "dur_s", "pages", "zero", "MiB", "dirtied", "thr%")
	for _, r := range res.RoundsDetail {
		mark := ""
		if r.StopAndCopy {
			mark = "*"
		}
		if r.Postcopy {
			mark = "p"
		}
		fmt.Fprintf(&b, "%5s %9.3f %9.3f %9d %8d %10.1f %9d %5.0f\n", fmt.Sprint(r.Round, mark), r.StartS, r.DurationS,
			r.Pages, r.ZeroPages, float64(r.Bytes)/(1<<20), r.DirtiedPages, r.ThrottlePct)
	}
	fmt.Fprintf(&b, "model=%s converged=%v completed=%v stop=%s rounds=%d syncs=%d\n",
		res.Model, res.Converged, res.Completed, res.StopReason, res.Rounds, res.DirtySyncCount)
	fmt.Fprintf(&b, "total=%.3fs downtime=%.1fms setup=%.1fms transferred=%.1fMiB guest=%.3fs throttle=%.0f%%\n",
		res.TotalTimeS, res.DowntimeS*1e3, res.SetupTimeS*1e3, float64(res.TransferredBytes)/(1<<20), res.GuestTimeS, res.ThrottlePct)
	if res.StopReason == models.StopPostcopy {
		fmt.Fprintf(&b, "requests=%d minor=%d stall=%.3fs slowdown=%.4f full_speed=%.2fs at_risk=%.3fs precopy=%.1fMiB postcopy=%.1fMiB\n",
			res.PostcopyRequests, res.MinorFaults, res.StallTimeS, res.GuestSlowdown, res.TimeToFullSpeedS, res.VMAtRiskS,
			float64(res.PrecopyBytes)/(1<<20), float64(res.PostcopyBytes)/(1<<20))
	}
	if res.Bottleneck != "" {
		fmt.Fprintf(&b, "bottleneck=%s cpu_src=%.3fs cpu_dst=%.3fs ratio=%.2f", res.Bottleneck, res.CPUSecondsSource, res.CPUSecondsDestination, res.CompressionRatio)
		if len(res.WorkerBytes) > 0 {
			fmt.Fprint(&b, " worker_MiB=[")
			for i, w := range res.WorkerBytes {
				if i > 0 {
					fmt.Fprint(&b, " ")
				}
				fmt.Fprintf(&b, "%.1f", float64(w)/(1<<20))
			}
			fmt.Fprint(&b, "]")
		}
		fmt.Fprintln(&b)
	}
	if res.XbzrleCacheSizeBytes > 0 {
		fmt.Fprintf(&b, "xbzrle pages=%d MiB=%.1f misses=%d miss_rate=%.3f overflow=%d encoding_rate=%.2f\n",
			res.XbzrlePages, float64(res.XbzrleBytes)/(1<<20), res.XbzrleCacheMisses, res.XbzrleCacheMissRate, res.XbzrleOverflow, res.XbzrleEncodingRate)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "json[%x]\n", sha256.Sum256(js))
	return b.String()
}
