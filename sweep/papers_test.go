package sweep

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/migsim/migsim/models"
)

// TestHines2009 runs scenarios/papers/hines2009/sweep.yaml and holds it to
// the findings its README sets beside the paper's: post-copy's time and
// bytes do not depend on the write rate and each page crosses once;
// pre-copy's time grows with the rate until Xen's 3× cap forces
// stop-and-copy; post-copy's network faults stay within the paper's 21 %
// of the working set.
func TestHines2009(t *testing.T) {
	sw, err := Load("../scenarios/papers/hines2009/sweep.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Run(t.Context(), sw, Options{Dir: dir, TraceCache: DefaultTraceCache}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type key struct {
		rate  float64
		model string
	}
	time := map[key]float64{}
	last := map[key]*models.Result{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r struct {
			Point  int            `json:"point"`
			Result *models.Result `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rate := sw.Points[r.Point].Spec.Workload.Generator.DirtyRate
		k := key{rate, r.Result.Model}
		time[k] += r.Result.TotalTimeS / 3
		last[k] = r.Result
	}
	const ram = 512 << 20
	const workingSet = 256 << 20 / 4096
	rates := []float64{0, 2000, 5000, 10000, 15000, 20000, 25000, 30000, 40000, 60000}
	for i, rate := range rates {
		post, pre := last[key{rate, "postcopy"}], last[key{rate, "precopy"}]
		if post == nil || pre == nil {
			t.Fatalf("no results at %v pages/s", rate)
		}
		if b := float64(post.TransferredBytes) / ram; b < 1 || b > 1.01 {
			t.Errorf("post-copy at %v pages/s sent %.3f× RAM, want each page once", rate, b)
		}
		if d := time[key{rate, "postcopy"}] - time[key{0, "postcopy"}]; d < -0.01 || d > 0.01 {
			t.Errorf("post-copy's time at %v pages/s differs from idle by %.3f s", rate, d)
		}
		if f := float64(post.PostcopyRequests) / workingSet; f > 0.21 {
			t.Errorf("post-copy at %v pages/s: network faults are %.0f%% of the working set, above the paper's 21%%", rate, 100*f)
		}
		if i > 0 && time[key{rate, "precopy"}] <= time[key{rates[i-1], "precopy"}] {
			t.Errorf("pre-copy's time does not grow from %v to %v pages/s: %.2f s then %.2f s",
				rates[i-1], rate, time[key{rates[i-1], "precopy"}], time[key{rate, "precopy"}])
		}
	}
	if r := last[key{60000, "precopy"}]; r.StopReason != models.StopMaxBytes {
		t.Errorf("pre-copy at 60000 pages/s stopped by %s, want max_bytes (Xen's 3× cap)", r.StopReason)
	}
	if r := last[key{10000, "precopy"}]; r.StopReason != models.StopDowntimeMet {
		t.Errorf("pre-copy at 10000 pages/s stopped by %s, want downtime_met", r.StopReason)
	}
}
