package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Profile is a named network between migration source and destination,
// the value of the scenario key network.profile. Explicit network keys
// (bandwidth, rtt, loss) override its values.
//
// The WAN model will add fields (jitter, TCP window, streams); a profile
// that does not set them keeps today's fluid-link behaviour.
type Profile struct {
	// Name is the value of network.profile, e.g. "lan-10g".
	Name string
	// Bandwidth is the link's capacity in bits per second.
	Bandwidth units.BitRate
	// RTT is the round-trip time.
	RTT time.Duration
	// Loss is the packet loss probability, in [0, 1).
	Loss float64
	// Description says what kind of path the profile stands for, one line.
	Description string
	// Source says where the numbers come from, one line.
	Source string
}

// Path returns the profile as a simulated network path.
func (p Profile) Path() sim.Path {
	return sim.Path{Bandwidth: p.Bandwidth, RTT: p.RTT, Loss: p.Loss}
}

// DefaultProfile is the network of the built-in default scenario.
const DefaultProfile = "lan-10g"

// Profiles returns the built-in network profiles, fastest-nearest first.
// Each call returns a fresh slice.
//
//	name           bandwidth  RTT      loss  stands for
//	lan-1g         1 Gbit     0.2 ms   0     one switch hop of 1GbE
//	lan-10g        10 Gbit    0.1 ms   0     one top-of-rack hop of 10GbE
//	lan-25g        25 Gbit    0.05 ms  0     a 25GbE rack with cut-through switching
//	metro          10 Gbit    1 ms     0     two sites about 100 km apart
//	continental    10 Gbit    30 ms    0     regions about 2,500 km apart
//	transatlantic  10 Gbit    80 ms    0     North America to Europe
//
// Loss is 0 everywhere: the fluid link model has no loss process yet, and
// a lossless path is what migration tuning guides assume.
func Profiles() []Profile {
	return []Profile{
		{
			Name: "lan-1g", Bandwidth: 1 * units.Gbit, RTT: 200 * time.Microsecond,
			Description: "1GbE LAN, one switch hop (older clusters, management networks)",
			Source:      "typical ping RTT across one store-and-forward 1GbE switch with host stacks: 0.1-0.3 ms",
		},
		{
			Name: "lan-10g", Bandwidth: 10 * units.Gbit, RTT: 100 * time.Microsecond,
			Description: "10GbE LAN, one top-of-rack hop (the common migration network)",
			Source:      "typical ping RTT within a 10GbE rack: 0.05-0.15 ms",
		},
		{
			Name: "lan-25g", Bandwidth: 25 * units.Gbit, RTT: 50 * time.Microsecond,
			Description: "25GbE LAN with cut-through switching (current cloud hosts)",
			Source:      "typical ping RTT within a 25GbE rack with low-latency NICs: 0.03-0.08 ms",
		},
		{
			Name: "metro", Bandwidth: 10 * units.Gbit, RTT: 1 * time.Millisecond,
			Description: "10 Gbit metro link between data centres about 100 km apart",
			Source:      "light in fibre takes about 5 us/km each way: 100 km is 1 ms round trip",
		},
		{
			Name: "continental", Bandwidth: 10 * units.Gbit, RTT: 30 * time.Millisecond,
			Description: "10 Gbit wide-area link within a continent (e.g. Frankfurt-Madrid, US East-Central)",
			Source:      "about 2,500 km of fibre route at 5 us/km plus routing, as in published inter-region RTTs of 20-40 ms",
		},
		{
			Name: "transatlantic", Bandwidth: 10 * units.Gbit, RTT: 80 * time.Millisecond,
			Description: "10 Gbit transatlantic link (e.g. US East coast to Western Europe)",
			Source:      "New York-London fibre routes of about 6,000-7,000 km give 70-90 ms measured RTT",
		},
	}
}

// LookupProfile returns the built-in profile called name, or an error
// listing the known ones.
func LookupProfile(name string) (Profile, error) {
	all := Profiles()
	names := make([]string, len(all))
	for i, p := range all {
		if p.Name == name {
			return p, nil
		}
		names[i] = p.Name
	}
	return Profile{}, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(names, ", "))
}
