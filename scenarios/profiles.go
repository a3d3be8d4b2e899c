package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// NetworkProfile is a named network between migration source and
// destination, the value of the scenario key network.profile. Explicit
// network keys (bandwidth, rtt, loss, jitter, tcp_window, mss) override its
// values. (Not to be confused with calibration.Profile, a calibration's
// fitted parameters.)
type NetworkProfile struct {
	// Name is the value of network.profile, e.g. "lan-10g".
	Name string
	// Bandwidth is the link's capacity in bits per second.
	Bandwidth units.BitRate
	// RTT is the base round-trip time.
	RTT time.Duration
	// Loss is the packet loss probability, in [0, 1).
	Loss float64
	// Jitter is the mean queueing delay cross traffic adds to the RTT.
	Jitter time.Duration
	// Window is the largest window one TCP stream reaches, bytes; 0 means
	// no limit.
	Window units.Bytes
	// MSS is the TCP maximum segment size, bytes.
	MSS units.Bytes
	// Description says what kind of path the profile stands for, one line.
	Description string
	// Source says where the numbers come from, one line.
	Source string
}

// Path returns the profile as a simulated network path with one stream.
func (p NetworkProfile) Path() sim.Path {
	return sim.Path{
		Bandwidth: p.Bandwidth, RTT: p.RTT, Loss: p.Loss,
		Jitter: p.Jitter, Window: p.Window, MSS: p.MSS, Streams: 1,
	}
}

// DefaultProfile is the network of the built-in default scenario.
const DefaultProfile = "lan-10g"

// CustomProfile is the network.profile value for a path described by its
// keys alone: network.bandwidth and network.rtt are then required, loss
// and jitter default to 0 and the TCP keys to Linux's defaults.
const CustomProfile = "custom"

// WAN defaults shared by the wide-area built-in profiles.
const (
	// wanLoss is the loss of a clean but shared long-haul path: one packet
	// in ten million. Fibre at a bit error rate of 1e-12 alone loses about
	// one 1500-byte packet in 1e8; congestion elsewhere on the path adds
	// the rest. Set network.loss for a measured path.
	wanLoss = 1e-7
)

// Profiles returns the built-in network profiles, fastest-nearest first,
// then the site pairs of Biswas et al. (SOSE 2016). Each call returns a
// fresh slice.
//
//	name               bandwidth  RTT      jitter   loss   window  stands for
//	lan-1g             1 Gbit     0.2 ms   0        0      3 MiB   one switch hop of 1GbE
//	lan-10g            10 Gbit    0.1 ms   0        0      3 MiB   one top-of-rack hop of 10GbE
//	lan-25g            25 Gbit    0.05 ms  0        0      3 MiB   a 25GbE rack with cut-through switching
//	metro              10 Gbit    1 ms     0.05 ms  1e-7   3 MiB   two sites about 100 km apart
//	continental        10 Gbit    30 ms    0.5 ms   1e-7   3 MiB   regions about 2,500 km apart
//	transatlantic      10 Gbit    80 ms    1 ms     1e-7   3 MiB   North America to Europe
//	biswas-ni-dublin   10 Gbit    4 ms     0        0      3 MiB   Coleraine (NI) to Dublin
//	biswas-ni-halifax  10 Gbit    50 ms    0        0      3 MiB   Coleraine (NI) to Halifax (Canada)
//
// Every window is Linux's default ([sim.DefaultWindow]) and every MSS
// 1448 bytes (1500-byte MTU): a migration over an untuned host stack. LANs
// are taken idle (no cross traffic, no loss); the WAN profiles are shared
// paths with a little queueing jitter and a loss of 1e-7.
func Profiles() []NetworkProfile {
	w, mss := sim.DefaultWindow, sim.DefaultMSS
	return []NetworkProfile{
		{
			Name: "lan-1g", Bandwidth: 1 * units.Gbit, RTT: 200 * time.Microsecond, Window: w, MSS: mss,
			Description: "1GbE LAN, one switch hop (older clusters, management networks)",
			Source:      "typical ping RTT across one store-and-forward 1GbE switch with host stacks: 0.1-0.3 ms",
		},
		{
			Name: "lan-10g", Bandwidth: 10 * units.Gbit, RTT: 100 * time.Microsecond, Window: w, MSS: mss,
			Description: "10GbE LAN, one top-of-rack hop (the common migration network)",
			Source:      "typical ping RTT within a 10GbE rack: 0.05-0.15 ms",
		},
		{
			Name: "lan-25g", Bandwidth: 25 * units.Gbit, RTT: 50 * time.Microsecond, Window: w, MSS: mss,
			Description: "25GbE LAN with cut-through switching (current cloud hosts)",
			Source:      "typical ping RTT within a 25GbE rack with low-latency NICs: 0.03-0.08 ms",
		},
		{
			Name: "metro", Bandwidth: 10 * units.Gbit, RTT: 1 * time.Millisecond,
			Jitter: 50 * time.Microsecond, Loss: wanLoss, Window: w, MSS: mss,
			Description: "10 Gbit metro link between data centres about 100 km apart",
			Source:      "light in fibre takes about 5 us/km each way: 100 km is 1 ms round trip; jitter and loss assumed for a shared path",
		},
		{
			Name: "continental", Bandwidth: 10 * units.Gbit, RTT: 30 * time.Millisecond,
			Jitter: 500 * time.Microsecond, Loss: wanLoss, Window: w, MSS: mss,
			Description: "10 Gbit wide-area link within a continent (e.g. Frankfurt-Madrid, US East-Central)",
			Source:      "about 2,500 km of fibre route at 5 us/km plus routing, as in published inter-region RTTs of 20-40 ms; jitter and loss assumed",
		},
		{
			Name: "transatlantic", Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond,
			Jitter: 1 * time.Millisecond, Loss: wanLoss, Window: w, MSS: mss,
			Description: "10 Gbit transatlantic link (e.g. US East coast to Western Europe)",
			Source:      "New York-London fibre routes of about 6,000-7,000 km give 70-90 ms measured RTT; jitter and loss assumed",
		},
		{
			Name: "biswas-ni-dublin", Bandwidth: 10 * units.Gbit, RTT: 4 * time.Millisecond, Window: w, MSS: mss,
			Description: "Biswas et al. SOSE'16 testbed: Coleraine (Northern Ireland) to Dublin over dedicated 10 Gb/s fibre",
			Source:      "10 Gb/s from the paper's title and abstract; RTT estimated (the paper's measured RTT is not in our copy): 200 km great circle, about 1.5x that in fibre at 5 us/km, plus equipment",
		},
		{
			Name: "biswas-ni-halifax", Bandwidth: 10 * units.Gbit, RTT: 50 * time.Millisecond, Window: w, MSS: mss,
			Description: "Biswas et al. SOSE'16 testbed: Coleraine (Northern Ireland) to Halifax (Canada) over Project Kelvin and the Hibernia transatlantic cable, 10 Gb/s",
			Source:      "10 Gb/s from the paper's title and abstract; RTT estimated (the paper's measured RTT is not in our copy): above the 40 ms great-circle bound (4,100 km), below the 65-67 ms quoted for Kelvin's Northern Ireland-US east coast route",
		},
	}
}

// profileNames lists the values network.profile takes.
func profileNames() string {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ") + ", or " + CustomProfile
}

// LookupProfile returns the built-in profile called name, or an error
// listing the known ones.
func LookupProfile(name string) (NetworkProfile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return NetworkProfile{}, fmt.Errorf("unknown profile %q (known: %s)", name, profileNames())
}
