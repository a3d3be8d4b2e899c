package scenarios

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/migsim/migsim/models"
)

// runBiswas runs one scenario of papers/biswas2016 with overrides.
func runBiswas(t *testing.T, file string, sets ...string) *models.Result {
	t.Helper()
	s, err := Load(filepath.Join("papers/biswas2016", file), sets)
	if err != nil {
		t.Fatal(err)
	}
	m, in, err := s.Build()
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBiswasShape holds the replication to the paper's findings (Biswas
// et al., SOSE 2016, abstract): a memory-stressed guest that pre-copy
// migrates on the LAN does not converge over the high-latency site pair,
// where one TCP stream is held to its window per round trip; an idle guest
// migrates everywhere; post-copy completes over the same path.
func TestBiswasShape(t *testing.T) {
	short := "model.max_time=600s" // the stressed Halifax run never converges; do not simulate Nova's hour

	lan := runBiswas(t, "lan-stress.yaml")
	if !lan.Converged {
		t.Fatalf("stressed guest on the LAN: %v, want converged", lan.StopReason)
	}
	if r := runBiswas(t, "dublin-stress.yaml"); !r.Converged {
		t.Errorf("stressed guest to Dublin: %v, want converged", r.StopReason)
	}
	far := runBiswas(t, "halifax-stress.yaml", short)
	if far.Converged || far.Completed || (far.StopReason != models.StopMaxTime && far.StopReason != models.StopNoProgress) {
		t.Errorf("stressed guest to Halifax: converged %v, stop %v; want no convergence (max_time, or no_progress when the dirty set stops shrinking first)", far.Converged, far.StopReason)
	}
	// The cause is the stream, not the link: one window per round trip.
	if far.EffectiveBandwidthBps > 0.06*10e9 || far.NetworkRTTS != 0.050 {
		t.Errorf("Halifax: %v bit/s over %v s RTT, want one 3 MiB window per 50 ms (about 0.5 Gbit/s)", far.EffectiveBandwidthBps, far.NetworkRTTS)
	}

	for _, f := range []string{"lan-idle.yaml", "dublin-idle.yaml", "halifax-idle.yaml"} {
		if r := runBiswas(t, f); !r.Converged || r.Rounds != 2 {
			t.Errorf("%s: %v in %d passes, want converged after one pass and stop-and-copy", f, r.StopReason, r.Rounds)
		}
	}

	// Lighter stress converges over the long path, but takes far longer.
	light := runBiswas(t, "halifax-light.yaml")
	if !light.Converged || light.TotalTimeS < 10*lan.TotalTimeS {
		t.Errorf("lightly stressed guest to Halifax: %v after %v s, want converged, ≥ 10× the LAN's %v s", light.StopReason, light.TotalTimeS, lan.TotalTimeS)
	}
	// Parallel streams (multifd) lift the window limit: pre-copy converges.
	if r := runBiswas(t, "halifax-stress-16streams.yaml", short); !r.Converged {
		t.Errorf("stressed guest to Halifax over 16 streams: %v, want converged", r.StopReason)
	}

	if _, err := models.Lookup("postcopy"); err != nil {
		t.Skip("post-copy is not registered")
	}
	if r := runBiswas(t, "halifax-stress-postcopy.yaml"); !r.Completed || r.StopReason != models.StopPostcopy {
		t.Errorf("stressed guest to Halifax by post-copy: completed %v, stop %v; want completed by post-copy", r.Completed, r.StopReason)
	}
}
