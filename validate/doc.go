// Package validate runs migsim scenarios as real QEMU migrations and
// compares the real figures with the simulator's, to calibrate the models
// and, later, to gate their accuracy in CI.
//
// # The lab
//
// [Run] takes a scenario, writes its trace, builds a boot kit for it
// ([BuildImage]: Debian's kernel plus an initramfs whose /init is the
// replayer, cmd/migsim-guest, and which holds the trace), migrates a guest
// that replays the trace between two QEMU processes on this machine
// ([RunLocal]) or on two hosts reached over SSH ([RunRemote], hosts named
// in a hosts file read by [LoadHosts]; see remote.go), rebuilds the trace the guest really achieved from its
// per-epoch reports, simulates the same migration on that trace, and
// returns a [Comparison] with the relative error of each metric. [RunSuite]
// does that for every case of a [Suite] (validate/suites/ci.yaml) and
// summarises the errors.
//
// # Local runs
//
// The source boots with -accel kvm when /dev/kvm is usable and TCG
// otherwise; the destination waits with -incoming defer and -S. Guest RAM is
// the trace's memory plus [DefaultGuestOverhead], never a multiple of
// 256 KiB ([ErrRAMSize]). Migration capabilities and parameters come from
// the scenario's model section ([MigrationParams]); query-migrate is polled
// every 100 ms ([MigrateSample]) and re-queried after completion until its
// figures settle; the final figures are mapped to migsim's result keys
// ([RealMetrics]). Shaping ([Shaping]) is by default QEMU's max-bandwidth
// over loopback TCP, which QEMU lifts for the stop-and-copy pass; with
// [ShapingNetns] each QEMU runs in its own network namespace, the two
// joined by a veth pair with tbf at the scenario's network.bandwidth, and
// the migration crosses a userspace relay (relay.go) that adds
// network.rtt and bounds the bytes in flight to network.tcp_window
// (netns.go). Every namespace, veth, qdisc and relay goes with the run;
// namespaces left by a lab killed outright are removed by the next one.
//
// # Fleets
//
// [RunFleet] (fleetlab.go) runs a fleet file's migrations for real at
// once: every VM a lab guest of its own, every source QEMU in one network
// namespace and every destination in another, joined by one veth pair
// whose tbf is the fleet's link, each migration through a relay of its
// own. The migrate commands follow the fleet's plan; every destination is
// verified; [fleet.Run] then simulates the fleet on the traces the guests
// achieved, and a [FleetComparison] compares each VM. A [Suite] can list
// fleet cases ([SuiteFleet]).
//
// # Memory verification
//
// A "completed" status proves nothing (QEMU 7.2 under TCG can lose dirty
// pages), so every run is verified before it counts. Guest RAM is a file
// the lab holds open on both sides; after completion both QEMUs are paused
// (the source by the migration, the destination by -S) and their RAM is
// compared page by page. The destination is then resumed and its replayer
// checks its whole region against its own record of writes. Any difference
// fails the run with [ErrMemoryMismatch].
//
// # Guest protocol
//
// The replayer talks over its second serial port (ttyS1, a unix socket on
// the host) in lines that start with "MIGSIM "; the kernel console is the
// first port, logged to a file. The host sends "start", "verify", "stop"
// and "poweroff"; the replayer sends "ready", one "e" line per epoch (see
// [EpochReport]) and "verify" results. cmd/migsim-guest documents the
// grammar.
//
// # Cleanup
//
// Each run works in a temporary folder under /dev/shm (sockets, console
// logs, RAM files, removed as soon as QEMU holds them open). QEMU runs in
// its own process group with a parent-death signal; every process, socket
// and file is gone when [RunLocal] returns, on success, error, timeout or
// cancellation.
//
// # Field records
//
// [ImportRecords] needs no lab: it reads records of real migrations (QMP
// query-migrate replies, virsh domjobinfo --completed, KubeVirt
// migrationState), builds each one's scenario from what the record holds
// and a [FieldMapping] gives, and compares the simulator with the metrics
// the record measured ([FieldInfo]); the suite and results it writes are
// read by [SuiteResult.Gate] and [Calibrate] like the lab's (importrec*.go).
//
// # Requirements
//
// qemu-system-x86_64 ([ErrNoQEMU]) and a kernel in /boot ([ErrNoKernel]):
// validate/ci-install.sh installs Debian's qemu-system-x86 and
// linux-image-amd64. Building the replayer needs the go tool unless a built
// binary is given ([ImageOptions]).
package validate
