// Package lab runs real live migrations: a guest that replays a dirty-page
// trace migrated between two QEMU processes, on this machine or on two
// hosts reached over SSH, verified page by page, with QEMU's figures under
// migsim's result keys. It knows QEMU, the guest replayer and the network;
// it knows no scenario and no model. Package validate maps a scenario to a
// run ([MigrationParams]) and compares the [RealRun] with the simulator.
//
// # A run
//
// [RunLocal] and [RunRemote] run one migration in three steps (run.go),
// the same on either host (host.go: this machine, or two hosts over SSH):
//
//   - boot: the boot kit ([BuildImage]: Debian's kernel plus an initramfs
//     whose /init is the replayer, cmd/migsim-guest, and which holds the
//     trace) boots on the source with -accel kvm when /dev/kvm is usable
//     and TCG otherwise; the destination waits with -incoming defer and
//     -S. Guest RAM is the trace's memory plus [DefaultGuestOverhead],
//     never a multiple of 256 KiB ([ErrRAMSize]);
//   - migrate: the capabilities and parameters of [MigrationParams],
//     the warm-up, the migrate command; query-migrate is polled every
//     100 ms ([MigrateSample]) and re-queried after completion until its
//     figures settle; the final figures are mapped to [RealMetrics].
//     Post-copy (postcopy.go) switches with migrate-start-postcopy when
//     dirty-sync-count reaches [MigrationParams.PostcopyAfterSyncs];
//   - verify: see below.
//
// # Hosts
//
// Locally, guest RAM is a file the lab maps, in a temporary folder under
// /dev/shm. Remotely ([RunRemote], remote.go, hosts named in a hosts file
// read by [LoadHosts]), QEMU runs as a remote command whose sockets the
// lab reaches through SSH channels, and RAM is compared by hash.
//
// # Shaping
//
// [Shaping] is by default QEMU's max-bandwidth over loopback TCP, which
// QEMU lifts for the stop-and-copy pass; the link probe ([ProbeLink],
// linkprobe.go) measures that loopback path. With [ShapingNetns] each
// QEMU runs in its own network namespace, the two joined by a veth pair
// with tbf at the path's bandwidth, and the migration crosses a userspace
// relay (relay.go) that adds the RTT and bounds the bytes in flight
// (netns.go). Every namespace, veth, qdisc and relay goes with the run;
// namespaces left by a lab killed outright are removed by the next one.
//
// # Fleets
//
// [RunFleet] (fleet.go) runs several migrations at once over one shaped
// link: every source in one namespace, every destination in another, the
// migrate commands as a [FleetPlan] orders them, every destination
// verified once all have ended.
//
// # Memory verification
//
// A "completed" status proves nothing (QEMU 7.2 under TCG can lose dirty
// pages), so every run is verified before it counts. After completion
// both QEMUs are paused (the source by the migration, the destination by
// -S) and their RAM is compared page by page. The destination is then
// resumed and its replayer checks its whole region against its own record
// of writes. Any difference fails the run with [ErrMemoryMismatch].
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
// QEMU runs in its own process group with a parent-death signal; every
// process, socket and file is gone when a run returns, on success, error,
// timeout or cancellation.
//
// # Also here
//
// [QMP] is the QMP client; [CaptureQEMU] records a running QEMU guest's
// dirty pages as a trace (migsim trace capture); [WriteTraceFile] writes
// a trace for a boot kit.
//
// # Requirements
//
// qemu-system-x86_64 ([ErrNoQEMU]) and a kernel in /boot ([ErrNoKernel]):
// validate/ci-install.sh installs Debian's qemu-system-x86 and
// linux-image-amd64. Building the replayer needs the go tool unless a built
// binary is given ([ImageOptions]). validate/README.md describes the lab
// at length.
package lab
