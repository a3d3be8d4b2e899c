package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/migsim/migsim/sim"
	"github.com/migsim/migsim/units"
)

// Shaping names how a local run shapes the path between its two QEMUs.
type Shaping string

const (
	// ShapingQEMU (the default) migrates over loopback TCP in the host's
	// network namespace; the only shaping is QEMU's max-bandwidth from the
	// scenario's model section, which QEMU lifts for the stop-and-copy
	// pass.
	ShapingQEMU Shaping = "qemu"
	// ShapingNetns runs each QEMU in its own network namespace, joined by
	// a veth pair whose egress a tbf qdisc holds to the scenario's
	// network.bandwidth, and routes the migration through a userspace
	// relay that adds network.rtt and bounds the bytes in flight to
	// network.tcp_window (see [NetShape]). It needs root and iproute2.
	ShapingNetns Shaping = "netns"
)

// ParseShaping checks a shaping name; "" means [ShapingQEMU].
func ParseShaping(s string) (Shaping, error) {
	switch Shaping(s) {
	case "", ShapingQEMU:
		return ShapingQEMU, nil
	case ShapingNetns:
		return ShapingNetns, nil
	}
	return "", fmt.Errorf("shaping %q: want %q (QEMU's max-bandwidth over loopback) or %q (network namespaces, tbf and the RTT relay)", s, ShapingQEMU, ShapingNetns)
}

// NetShape is the path a [ShapingNetns] run emulates.
type NetShape struct {
	// Bandwidth is the path's TCP goodput, bits per second, as the
	// simulator's network.bandwidth; the tbf rate is raised by the
	// header share of a segment (see [TBFRate]). 0 means no tbf.
	Bandwidth units.BitRate `json:"bandwidth_bps"`
	// RTT is the round-trip time the relay adds (half each way).
	RTT time.Duration `json:"rtt"`
	// Window is the most bytes in flight per stream and direction; 0
	// means no bound.
	Window units.Bytes `json:"tcp_window_bytes"`
	// MSS is the segment payload, bytes, for the header share (default
	// 1448).
	MSS units.Bytes `json:"mss_bytes"`
}

// wireOverhead is what one segment carries on the veth besides its
// payload, bytes: Ethernet (14), IPv4 (20), TCP (20) and the timestamp
// option (12). tbf counts it; the simulator's bandwidth is goodput.
const wireOverhead = 66

// TBFRate returns the tbf rate, bits per second, that lets TCP payload
// through at s.Bandwidth: Bandwidth × (MSS + 66) / MSS.
func (s NetShape) TBFRate() float64 {
	mss := float64(s.MSS)
	if mss <= 0 {
		mss = float64(sim.DefaultMSS)
	}
	return float64(s.Bandwidth) * (mss + wireOverhead) / mss
}

// WindowLimitBps is the relay's ceiling for one stream, Window × 8 / RTT,
// bits per second; +Inf without a window or an RTT.
func (s NetShape) WindowLimitBps() float64 {
	return sim.Path{RTT: s.RTT, Window: s.Window}.WindowLimitBps()
}

// Addresses of the veth pair, one /30 per run; each end is in its own
// namespace, so runs never collide.
const (
	labSrcAddr = "10.213.0.1"
	labDstAddr = "10.213.0.2"
	labSrcDev  = "msrc0"
	labDstDev  = "mdst0"
)

// ErrShapingSetup reports that a shaped run could not build its network;
// the message says what to install or which permission is missing.
var ErrShapingSetup = errors.New("shaping netns")

// labNetSeq numbers the lab networks of this process.
var labNetSeq atomic.Int64

// labNetName matches the namespaces a lab makes: migsim-<pid>-<n>-src|dst.
var labNetName = regexp.MustCompile(`^migsim-([0-9]+)-([0-9]+)-(src|dst)$`)

// labNet is one shaped run's network: two namespaces joined by a veth pair
// with tbf on both egresses, and the relay once started.
type labNet struct {
	shape    NetShape
	src, dst string // namespace names
	relay    *relay
	// borrowed marks one migration's view of a fleet's network
	// (fleet.go): its close stops its relay and leaves the
	// namespaces, which the fleet deletes.
	borrowed bool
}

// checkShapingTools returns the paths of ip and tc, or an error saying
// what to install and which permission is needed.
func checkShapingTools() (ip, tc string, err error) {
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("%w: network namespaces, veth and tbf need root (CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root, or use --shaping %s", ErrShapingSetup, ShapingQEMU)
	}
	if ip, err = exec.LookPath("ip"); err != nil {
		return "", "", fmt.Errorf("%w: the ip command is missing: install iproute2 (apt-get install -y iproute2, or validate/ci-install.sh)", ErrShapingSetup)
	}
	if tc, err = exec.LookPath("tc"); err != nil {
		return "", "", fmt.Errorf("%w: the tc command is missing: install iproute2 (apt-get install -y iproute2, or validate/ci-install.sh)", ErrShapingSetup)
	}
	return ip, tc, nil
}

// CheckShaping returns nil when this machine can shape a run's path
// ([ShapingNetns]: root, ip and tc), else an error wrapping
// [ErrShapingSetup] that says what to install or which permission is
// missing.
func CheckShaping() error {
	_, _, err := checkShapingTools()
	return err
}

// runTool runs ip or tc with a bound of its own; it does not take the
// run's context, so that cleanup works after a cancel too.
func runTool(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// labNamespaces lists the network namespaces named like a lab's.
func labNamespaces() []string {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if labNetName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// OwnNamespaces lists the lab network namespaces this process holds now:
// those of its shaped runs and fleets in progress. Every run removes its
// own when it ends.
func OwnNamespaces() []string {
	prefix := "migsim-" + strconv.Itoa(os.Getpid()) + "-"
	var out []string
	for _, ns := range labNamespaces() {
		if strings.HasPrefix(ns, prefix) {
			out = append(out, ns)
		}
	}
	return out
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// removeStaleNamespaces deletes the lab namespaces whose owning process is
// gone (an earlier lab killed with SIGKILL), and returns their names.
// Namespaces of live processes, this one included, are left alone.
func removeStaleNamespaces(ip string) []string {
	var gone []string
	for _, name := range labNamespaces() {
		m := labNetName.FindStringSubmatch(name)
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		if runTool(ip, "netns", "del", name) == nil {
			gone = append(gone, name)
		}
	}
	return gone
}

// setupLabNet builds a run's network: stale lab namespaces removed, two
// fresh namespaces with lo up, a veth pair between them addressed
// labSrcAddr/labDstAddr, and tbf at shape's rate on both ends' egress. On
// error nothing is left.
func setupLabNet(shape NetShape, logf func(string, ...any)) (_ *labNet, err error) {
	ip, tc, err := checkShapingTools()
	if err != nil {
		return nil, err
	}
	if gone := removeStaleNamespaces(ip); len(gone) > 0 {
		logf("removed stale namespaces of dead labs: %s", strings.Join(gone, " "))
	}
	base := fmt.Sprintf("migsim-%d-%d", os.Getpid(), labNetSeq.Add(1))
	n := &labNet{shape: shape, src: base + "-src", dst: base + "-dst"}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	steps := [][]string{
		{ip, "netns", "add", n.src},
		{ip, "netns", "add", n.dst},
		{ip, "-n", n.src, "link", "add", labSrcDev, "type", "veth", "peer", "name", labDstDev, "netns", n.dst},
		{ip, "-n", n.src, "addr", "add", labSrcAddr + "/30", "dev", labSrcDev},
		{ip, "-n", n.dst, "addr", "add", labDstAddr + "/30", "dev", labDstDev},
		{ip, "-n", n.src, "link", "set", "lo", "up"},
		{ip, "-n", n.dst, "link", "set", "lo", "up"},
		{ip, "-n", n.src, "link", "set", labSrcDev, "up"},
		{ip, "-n", n.dst, "link", "set", labDstDev, "up"},
	}
	for _, s := range steps {
		if err := runTool(s[0], s[1:]...); err != nil {
			return nil, fmt.Errorf("%w: building the lab network: %v (the kernel needs network namespaces and veth)", ErrShapingSetup, err)
		}
	}
	if shape.Bandwidth > 0 {
		for _, end := range [][2]string{{n.src, labSrcDev}, {n.dst, labDstDev}} {
			if err := runTool(tc, tbfArgs(end[0], end[1], shape.TBFRate())...); err != nil {
				return nil, fmt.Errorf("%w: tc could not set up tbf: %v (the kernel needs sch_tbf, CONFIG_NET_SCH_TBF)", ErrShapingSetup, err)
			}
		}
	}
	return n, nil
}

// tbfArgs returns tc's arguments for a tbf of rate bits/s on dev in ns.
// The bucket holds 2 ms at the rate, at least 64 KiB (a GSO packet on the
// veth); the queue holds 50 ms at the rate, at least 4 buckets. Neither
// changes the mean rate; they keep tbf from dropping a burst the relay's
// copies make.
func tbfArgs(ns, dev string, rate float64) []string {
	bps := rate / 8
	burst := max(int64(bps*0.002), 64<<10)
	limit := max(int64(bps*0.05), 4*burst)
	return []string{"-n", ns, "qdisc", "add", "dev", dev, "root", "tbf",
		"rate", strconv.FormatInt(int64(rate), 10) + "bit",
		"burst", strconv.FormatInt(burst, 10), "limit", strconv.FormatInt(limit, 10)}
}

// inNetns runs fn on an OS thread that has joined the named network
// namespace; sockets fn makes stay in it. The thread goes back to the
// lab's namespace afterwards, or dies if it cannot.
func inNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%w: namespace %s: %v", ErrShapingSetup, name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%w: joining namespace %s: %v", ErrShapingSetup, name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread exits with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leaving namespace %s: %v", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// startRelay starts the relay in the source namespace: it listens on the
// namespace's loopback and dials dstPort on the destination's veth
// address, so that the migration crosses the shaped veth. It returns the
// URI the source QEMU migrates to.
func (n *labNet) startRelay(dstPort string) (string, error) {
	var ln net.Listener
	err := inNetns(n.src, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("relay: listening in %s: %w", n.src, err)
	}
	target := net.JoinHostPort(labDstAddr, dstPort)
	dial := func(ctx context.Context) (c net.Conn, err error) {
		err = inNetns(n.src, func() error {
			d := net.Dialer{Timeout: 10 * time.Second}
			c, err = d.DialContext(ctx, "tcp", target)
			return err
		})
		return c, err
	}
	n.relay = newRelay(ln, dial, n.shape.RTT/2, int(n.shape.Window))
	return "tcp:127.0.0.1:" + strconv.Itoa(n.relay.addr().Port), nil
}

// incomingURI is what the destination QEMU listens on (port picked by
// QEMU).
func (n *labNet) incomingURI() string { return "tcp:" + labDstAddr + ":0" }

// close stops the relay and deletes both namespaces (which takes the veth
// pair and its qdiscs with it). Call it once the QEMUs are gone.
func (n *labNet) close() error {
	var errs []error
	if n.relay != nil {
		if err := n.relay.close(); err != nil {
			errs = append(errs, fmt.Errorf("relay: %w", err))
		}
	}
	if n.borrowed {
		return errors.Join(errs...)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, ns := range []string{n.src, n.dst} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if err := runTool(ip, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// netnsCommand returns the command that runs bin with args inside the
// named namespace (bin itself when ns is empty). ip netns exec execs bin
// in its own process, so its pid, process group and death signal stay.
func netnsCommand(ns, bin string, args []string) (string, []string) {
	if ns == "" {
		return bin, args
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "ip"
	}
	return ip, append([]string{"netns", "exec", ns, bin}, args...)
}

// setupShaping builds the run's network when opts.Shaping asks for it;
// with [ShapingQEMU] it does nothing.
func (h *localHost) setupShaping(opts LocalOptions) error {
	if opts.fleet != nil {
		// One of a fleet's migrations: the fleet's namespaces and
		// link, a relay of its own.
		h.net = opts.fleet.borrowNet()
		shape := h.net.shape
		h.shape = &shape
		return nil
	}
	sh, err := ParseShaping(string(opts.Shaping))
	if err != nil || sh != ShapingNetns {
		return err
	}
	logf := opts.logf()
	n, err := setupLabNet(opts.Network, logf)
	if err != nil {
		return err
	}
	h.net = n
	shape := opts.Network
	h.shape = &shape
	logf("shaped path: namespaces %s and %s, tbf %.1f Mbit/s on the veth (goodput %.1f), relay RTT %v, window %v",
		n.src, n.dst, shape.TBFRate()/1e6, float64(shape.Bandwidth)/1e6, shape.RTT, shape.Window)
	return nil
}

// netnsOf is the namespace a side's QEMU runs in ("" unshaped).
func (h *localHost) netnsOf(side string) string {
	switch {
	case h.net == nil:
		return ""
	case side == "destination":
		return h.net.dst
	}
	return h.net.src
}

// incomingURI is what the destination listens on: loopback unshaped, its
// veth address when shaped (port picked by QEMU).
func (h *localHost) incomingURI() string {
	if h.net == nil {
		return "tcp:127.0.0.1:0"
	}
	return h.net.incomingURI()
}

// migrateURI is where the source migrates to, given the destination's
// port: the destination itself unshaped, the relay when shaped.
func (h *localHost) migrateURI(port string) (string, error) {
	if h.net == nil {
		return "tcp:127.0.0.1:" + port, nil
	}
	return h.net.startRelay(port)
}

// closeNet stops the relay and deletes the namespaces; call it after the
// QEMUs are gone.
func (h *localHost) closeNet() {
	if h.net != nil {
		_ = h.net.close()
		h.net = nil
	}
}
