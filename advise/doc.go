// Package advise answers the question a capacity planner asks before a
// migration: which of the settings I can change make this one meet my
// limits on downtime and total time? It runs a documented set of
// candidate settings ([Candidates]) on the scenario, each on
// model.engine auto (the fluid engine where it covers the candidate,
// the page engine elsewhere), all cores at once, and ranks the options
// that meet the limits ([Advise]). The result says, for every candidate,
// which engine ran it and why it fails when it does, and what none of
// the options that meet the limits can do ([Report.NoneCan]).
//
// # Candidates
//
// The set is fixed and small, not a grid: each candidate is a setting
// QEMU (and libvirt, OpenStack, KubeVirt) expose for this purpose, on
// top of the scenario as written (its vm, workload, network and the
// parts of its model section the candidate's model shares):
//
//	as-is               the scenario's own model and settings
//	downtime-limit      pre-copy, model.downtime_limit the largest that meets
//	                    the limit: the limit less the stop's fixed costs (one
//	                    dirty-log sync, the device state over the link, the
//	                    destination's resume_time and one round trip)
//	auto-converge       downtime-limit and QEMU's auto-converge (20 % then
//	                    +10 % CPU throttle steps up to 99 %)
//	multifd-4, -8       downtime-limit and 4 or 8 multifd channels
//	multifd-8-zstd      downtime-limit and 8 channels compressing with zstd
//	auto-converge+zstd  auto-converge and multifd-8-zstd together
//	xbzrle              downtime-limit and XBZRLE with a cache of an eighth
//	                    of memory (at least QEMU's 64 MiB; a power of two)
//	max-bandwidth       downtime-limit with the scenario's max_bandwidth cap
//	                    lifted (only when the scenario sets one)
//	postcopy            post-copy with QEMU's defaults (forward pre-paging)
//	hybrid              one pre-copy pass at downtime-limit, then post-copy
//	                    (libvirt's --postcopy-after-precopy)
//
// Every candidate runs with model.engine auto and model.max_time set to
// the time limit, so that a run that cannot finish in time stops there
// (or earlier, by pre-copy's early verdict, stop reason no_progress).
// A candidate that resolves to the same model settings as an earlier
// one is left out. Its settings are listed as the model keys whose
// resolved values differ from the scenario's (engine and max_time
// aside), so that --set can reproduce it.
//
// # Meeting the limits and ranking
//
// An option meets the limits when it completes (the guest runs on the
// destination with all of its memory) within the time limit with a
// downtime of at most the downtime limit. Those that do are ranked by
// total time (or downtime, bytes or guest slowdown: [Options.RankBy]),
// ties broken by the others in that order and then by the candidate
// order above. Runs are deterministic: the same scenario, seed and
// limits give the same report, whatever the number of workers.
package advise
