package scenarios

import (
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// TestNetworkErrors checks the network keys of the WAN model: each
// mistake names the file, the line and the key.
func TestNetworkErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{
			name: "custom needs rtt",
			yaml: "network:\n  profile: custom\n  bandwidth: 1Gbit\n",
			want: "demo.yaml: network.rtt: required when network.profile is custom",
		},
		{
			name: "custom needs bandwidth and rtt",
			yaml: "network: {profile: custom}\n",
			want: "demo.yaml: network.bandwidth: required when network.profile is custom\n" +
				"demo.yaml: network.rtt: required when network.profile is custom",
		},
		{
			name: "no streams",
			yaml: "network:\n  streams: 0\n",
			want: "demo.yaml:2: network.streams: 0 must be at least 1",
		},
		{
			name: "window below a segment",
			yaml: "network:\n  tcp_window: 1000\n",
			want: "demo.yaml:2: network.tcp_window: 1000B is less than one segment (mss 1448B); 0 means no limit",
		},
		{
			name: "tiny mss",
			yaml: "network:\n  mss: 100B\n",
			want: "demo.yaml:2: network.mss: 100B must be between 536B and 65495B",
		},
		{
			name: "negative jitter",
			yaml: "network:\n  jitter: -1ms\n",
			want: `demo.yaml:2: network.jitter: duration "-1ms" is negative`,
		},
		{
			name: "jitter without a unit",
			yaml: "network:\n  jitter: 5\n",
			want: `demo.yaml:2: network.jitter: duration "5" has no unit (want e.g. 300ms, 10s, 5m)`,
		},
		{
			name: "schedule out of order",
			yaml: "network:\n  bandwidth_schedule:\n    - {at: 60s, bandwidth: 2Gbit}\n    - {at: 10s, bandwidth: 1Gbit}\n",
			want: "demo.yaml:4: network.bandwidth_schedule[1].at: 10s must be after the previous step's 1m0s",
		},
		{
			name: "schedule misspelt key",
			yaml: "network:\n  bandwidth_schedule:\n    - {at: 0s, bandwith: 1Gbit}\n",
			want: "demo.yaml:3: network.bandwidth_schedule[0].bandwith: unknown key (did you mean bandwidth?)",
		},
		{
			name: "schedule all cross traffic",
			yaml: "network:\n  bandwidth_schedule:\n    - at: 0s\n      cross_traffic: 1\n",
			want: "demo.yaml:4: network.bandwidth_schedule[0].cross_traffic: 1 must be a fraction in [0, 1)",
		},
		{
			name: "schedule not a list of mappings",
			yaml: "network:\n  bandwidth_schedule: 10Gbit\n",
			want: `demo.yaml:2: network.bandwidth_schedule: want a list of mappings, got "10Gbit"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load("demo.yaml", []byte(tc.yaml), nil)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *scenarios.Error", err)
			}
		})
	}
}

// TestNetworkResolve checks where each network value comes from: keys
// given, else the profile, else (empty or custom profile) the defaults.
func TestNetworkResolve(t *testing.T) {
	for _, tc := range []struct {
		name      string
		yaml      string
		overrides []string
		want      sim.Path
	}{
		{
			name: "profile values",
			yaml: "network: {profile: transatlantic}\n",
			want: sim.Path{Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond, Jitter: time.Millisecond,
				Loss: 1e-7, Window: 3 * units.MiB, MSS: 1448, Streams: 1},
		},
		{
			name:      "keys over the profile",
			yaml:      "network: {profile: transatlantic, tcp_window: 16MiB, streams: 8}\n",
			overrides: []string{"network.jitter=0", "network.mss=8948B", "network.loss=0"},
			want: sim.Path{Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond,
				Window: 16 * units.MiB, MSS: 8948, Streams: 8},
		},
		{
			name: "custom",
			yaml: "network: {profile: custom, bandwidth: 40Gbit, rtt: 12ms}\n",
			want: sim.Path{Bandwidth: 40 * units.Gbit, RTT: 12 * time.Millisecond, Window: sim.DefaultWindow, MSS: sim.DefaultMSS, Streams: 1},
		},
		{
			name: "no profile, no window limit",
			yaml: "network: {profile: \"\", bandwidth: 1Gbit, tcp_window: 0}\n",
			want: sim.Path{Bandwidth: units.Gbit, MSS: sim.DefaultMSS, Streams: 1},
		},
		{
			name: "schedule",
			yaml: "network:\n  profile: lan-10g\n  bandwidth_schedule:\n    - {at: 0s, bandwidth: 10Gbit}\n    - {at: 60s, bandwidth: 2Gbit}\n    - {at: 90s, cross_traffic: 0.5}\n",
			want: sim.Path{Bandwidth: 10 * units.Gbit, RTT: 100 * time.Microsecond, Window: sim.DefaultWindow, MSS: sim.DefaultMSS, Streams: 1,
				Schedule: []sim.RateChange{
					{At: 0, Bandwidth: 10 * units.Gbit},
					{At: 60 * time.Second, Bandwidth: 2 * units.Gbit},
					{At: 90 * time.Second, CrossTraffic: 0.5},
				}},
		},
		{
			name:      "schedule by --set, emptied again",
			overrides: []string{"network.bandwidth_schedule=[{at: 1s, bandwidth: 1Gbit}]", "network.bandwidth_schedule=[]"},
			want:      DefaultSpec().Path(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := load("x.yaml", []byte(tc.yaml), tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Path()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("path\n got %+v\nwant %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestProfileRates checks the TCP view of the built-in profiles: a LAN
// fills its link with one stream, a long path does not, and the profiles
// that stand for Biswas's site pairs are 10 Gb/s.
func TestProfileRates(t *testing.T) {
	for _, p := range Profiles() {
		path := p.Path()
		one := path.SteadyBps(1, 0, 0)
		if one > path.GoodputBps()*(1+1e-12) {
			t.Errorf("%s: one stream %v bit/s above the link's %v", p.Name, one, path.GoodputBps())
		}
		k := path.StreamsToFill(0)
		if all := path.SteadyBps(k, 0, 0); math.Abs(all-path.GoodputBps()) > 1e-6*path.GoodputBps() {
			t.Errorf("%s: %d streams carry %v bit/s, want the link's %v", p.Name, k, all, path.GoodputBps())
		}
		switch {
		case strings.HasPrefix(p.Name, "lan-"):
			if k != 1 {
				t.Errorf("%s: a LAN needs %d streams to fill, want 1", p.Name, k)
			}
		case p.RTT >= 30*time.Millisecond:
			if one >= 0.2*path.GoodputBps() {
				t.Errorf("%s: one stream reaches %v of %v bit/s over %v", p.Name, one, path.GoodputBps(), p.RTT)
			}
		}
		if strings.HasPrefix(p.Name, "biswas-") && p.Bandwidth != 10*units.Gbit {
			t.Errorf("%s: %v, want 10 Gb/s as in the paper", p.Name, p.Bandwidth)
		}
	}
}

// The Biswas replication scenarios all load, each over one of the three
// site pairs.
func TestBiswasScenariosLoad(t *testing.T) {
	files, err := filepath.Glob("papers/biswas2016/*.yaml")
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "sweep.yaml" })
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d scenarios in papers/biswas2016, want the paper's grid", len(files))
	}
	sites := map[string]int{}
	for _, f := range files {
		s, err := Load(f, nil)
		if err != nil {
			t.Error(err)
			continue
		}
		sites[s.Network.Profile]++
	}
	for _, want := range []string{"lan-10g", "biswas-ni-dublin", "biswas-ni-halifax"} {
		if sites[want] == 0 {
			t.Errorf("no Biswas scenario over %s (have %v)", want, sites)
		}
	}
}
