// Package scenarios reads scenario files: what to migrate, under which
// workload, over which network, with which model.
//
// # File format
//
// A scenario is a YAML mapping with these keys (the values shown are the
// built-in defaults, [DefaultSpec]):
//
//	name: default                  # text; defaults to the file's base name
//	seed: 1                        # seeds the generator and the engine
//	vm: {memory: 4GiB, page_size: 4KiB, vcpus: 2, device_state: 512KiB}
//	workload:
//	  trace: path/to/file.mgt      # a trace file to replay, or:
//	  generator: {kind: sequential, dirty_rate: 50000, working_set: 1GiB,
//	              zero_fraction: 0, read_rate: 0, duration: 600s, epoch: 10ms}
//	  at_end: loop                 # loop|idle when the trace ends first
//	  catch_up: false              # open-loop guest: catch up after post-copy stalls
//	  access_order: random         # post-copy: an epoch's accesses in random or ascending order
//	network: {profile: lan-10g}    # plus bandwidth: 10Gbit, rtt: 0.1ms, loss: 0,
//	                               # jitter: 0, tcp_window: 3MiB, mss: 1448B, streams: 1,
//	                               # bandwidth_schedule: [{at: 60s, bandwidth: 2Gbit}]
//	model: {name: precopy, downtime_limit: 300ms, max_bandwidth: 0, max_rounds: 0, auto_converge: false}
//
// `migsim scenario explain` lists every key with its default, unit and
// meaning ([Keys], [Explain]); the doc comments of [Spec] and its parts
// are the reference.
//
// # Values and units
//
// Sizes take binary or decimal units ("4GiB", "512KiB", "1.5GB"); a bare
// number is bytes and a negative size is an error. Rates take bits or
// bytes per second ("10Gbit", "100Mbit/s", "40MiB/s"); a bare number is
// bits per second. Durations need a unit ("300ms", "10s"); only 0 may be
// bare, since "600" could mean seconds or nanoseconds. See package units.
// Booleans are true or false (YAML 1.2: "yes" is text), and integers have
// no fraction.
//
// # Layers
//
// A scenario is built in layers, each key taken from the first that sets
// it: --set overrides (the last one given for a key wins), then the file,
// then [DefaultSpec]. There are no environment variables. Three keys
// change what the layers below mean:
//
//   - workload.trace replaces the default generator; a scenario that gives
//     both a trace and a generator is an error. Without vm.memory and
//     vm.page_size keys, the VM takes the trace header's; with them, they
//     must match it. A relative trace path is relative to the scenario
//     file's directory (to the working directory when given with --set).
//   - network.profile picks a built-in path ([Profiles]); bandwidth, rtt,
//     loss, jitter, tcp_window and mss given beside it override the
//     profile's values. An empty profile means none: bandwidth must then
//     be given, rtt, loss and jitter default to 0. Profile "custom" is the
//     same but needs rtt too. Without a profile, tcp_window and mss take
//     Linux's defaults (3MiB, 1448B). network.streams and
//     network.bandwidth_schedule belong to no profile.
//   - model.name picks a model ([models.Lookup]); the model section's
//     other keys are decoded into that model's parameters, starting from
//     its defaults, so a key of one model is an error for another.
//
// The generator is seeded from seed, as is the simulation engine, so the
// same scenario and seed give the same result, byte for byte.
//
// # Errors
//
// Loading is strict. An unknown key anywhere, a value of the wrong type, a
// value that does not parse and a value that fails validation are each
// reported as an [*Error] that names the file, the line and the dotted
// key, with a suggestion for a misspelt key:
//
//	demo.yaml:7: model.downtim_limit: unknown key for model precopy (did you mean downtime_limit?)
//	demo.yaml:3: vm.memory: 4000000B (4000000 bytes) is not a whole number of 4KiB pages
//	--set network.profile: unknown profile "lan-100g" (known: lan-1g, lan-10g, ...)
//
// [Load] reports every problem of a stage at once: unknown keys first,
// then values that do not decode, then values that fail validation.
package scenarios
