// Package capture records the page writes of a running Linux process as a
// migsim trace: every epoch it samples which pages of the process's
// writable private anonymous memory were written since the last sample and
// appends them as one epoch record to a [traces.Writer].
//
// # Mechanisms
//
// Two kernel mechanisms can tell which pages a process wrote; [Detect]
// probes the running kernel on a page of the calling process and [Capture]
// names the one it used in the trace's provenance:
//
//   - [SoftDirty]: write "4" to /proc/PID/clear_refs, then read bit 55 of
//     each page's entry in /proc/PID/pagemap. Needs CONFIG_MEM_SOFT_DIRTY and
//     the same access rights as reading /proc/PID/pagemap (same user, or
//     root); no ptrace. A write that lands between reading pagemap and
//     clearing the bits is lost (the kernel offers no atomic read-and-clear).
//   - [UffdWP]: userfaultfd write-protection in asynchronous mode
//     (UFFD_FEATURE_WP_ASYNC, Linux 6.7+) read and re-armed atomically with
//     the PAGEMAP_SCAN ioctl on /proc/PID/pagemap (PM_SCAN_WP_MATCHING).
//     A userfaultfd belongs to the process that creates it, so Capture
//     attaches to the target with ptrace for a few microseconds, makes it
//     call userfaultfd(2), takes the descriptor with pidfd_getfd(2), makes
//     the target close its own copy and detaches. The registration and the
//     write-protection then live only as long as capture's descriptor:
//     when Capture returns, or its process dies, the kernel unregisters the
//     target's memory and drops every write-protect bit. Async faults are
//     resolved by the kernel; the target never waits for the capturer.
//     Needs ptrace rights (root, CAP_SYS_PTRACE, or the same user with
//     kernel.yama.ptrace_scope 0) and, on amd64 only, the injection.
//
// [Capture] prefers SoftDirty when the kernel has it (it needs no ptrace
// and never touches the target's page tables' protection) and falls back
// to UffdWP.
// The Debian kernel of the migsim lab (6.18, built without
// CONFIG_MEM_SOFT_DIRTY: clear_refs accepts "4" but never sets bit 55) has
// only UffdWP.
//
// # What is captured
//
// The writable private anonymous mappings of the target when the capture
// starts (heap, stacks, anonymous mmap), in address order, become pages
// 0..N-1 of the trace; [Result.Regions] maps them back to addresses.
// Mappings created later are not followed; a region the target unmaps or
// replaces is dropped from sampling and counted in [Result.DroppedRegions].
// Transparent huge pages are reported as the kernel tracks them: a write to
// a 2 MiB huge page marks its 512 pages.
//
// The trace is a normal migsim trace (see traces/FORMAT.md); its
// provenance holds the mechanism, pid, command, host, epoch and regions.
package capture
