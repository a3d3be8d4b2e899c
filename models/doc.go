// Package models holds migsim's live-migration algorithms, one per file,
// all behind the small [Model] interface.
//
// # Models
//
//   - precopy ([Precopy], precopy.go): iterative pre-copy as QEMU 7.2
//     implements it: dirty-log syncs between passes, the
//     bandwidth × downtime-limit stop condition, optional round and byte
//     caps (Xen), auto-converge throttling, and the early verdict
//     (verdict.go): a run whose dirty set has stopped shrinking, with
//     nothing pending that could change that, stops with stop reason
//     no_progress instead of running on to max_time.
//   - postcopy ([Postcopy], postcopy.go; push orders in prepaging.go):
//     post-copy after Hines and Gopalan (VEE'09) and QEMU's postcopy-ram:
//     stop, send device state, resume on the destination at once; demand
//     paging (network and minor faults), active push, and pre-paging
//     (model.prepaging: none, forward, bubbling, multi-pivot).
//   - hybrid ([Hybrid], hybrid.go): model.precopy_rounds rounds of the
//     pre-copy model's own code, then post-copy for the pages still dirty,
//     as QEMU's migrate-start-postcopy.
//   - enlightened ([Enlightened], enlightened.go): enlightened post-copy
//     after Abe et al. (VEE'16): the guest's working set goes first, free
//     pages are never sent; its figure of merit is time_to_full_speed_s.
//   - parallel ([Parallel], parallel.go; parameters in parallel_params.go,
//     CPU hooks in costs.go): PMigrate after Song et al. (VEE'13): the
//     pre-copy model's rounds moved by model.workers pipelined workers
//     over disjoint memory ranges, a global or range address-space lock,
//     and the CPU cost model of sim.Pipeline.
//
// Pre-copy also takes QEMU's multifd ([Multifd], multifd.go): channels
// as separate TCP streams, 512 KiB packets, and none, zlib, zstd or
// qatzip-like compression at per-page CPU costs ([Codecs]).
//
// Pre-copy and post-copy also take the memory-composition options
// (composition.go, [BalloonParams], [PagecacheParams]): free-page hinting
// (QEMU virtio-balloon free-page-hint), dynamic self-ballooning (Hines and
// Gopalan, VEE'09) and page-cache skip or drop over shared storage
// (Akiyama et al., CLOUD'14).
//
// Each model documents its semantics, its closed form where one exists,
// and where it knowingly departs from the implementation it follows.
//
// # Engines
//
// Every model replays its trace page by page (the page engine). A
// generator workload can instead be run on its expectation, from the
// closed forms of traces.Expect: [FluidPrecopy] (fluid_precopy.go, with
// the guest in fluid_guest.go and the qemu policy's bitmap in
// fluid_bitmap.go) is pre-copy and parallel on the fluid engine, exact in
// expectation over seeds at a cost per round instead of per page;
// [FluidPostcopy] (fluid_postcopy.go, the rate limiter's wait in
// fluid_ratelimit.go), [FluidHybrid] and [FluidEnlightened] are the
// post-copy family's, their faults from a model over blocks of memory;
// XBZRLE, the hint and the balloon have theirs in fluid_xbzrle.go and
// fluid_composition.go.
// [NewEngine] builds a model for the scenario key model.engine (page,
// fluid or auto; engine.go) and [FluidSupport] says what the fluid
// engine covers; the result's engine, engine_fallback and
// verdict_margin say which engine ran, why not fluid, and how close the
// fluid verdict is.
//
// # Parameters
//
// A model's parameters (its scenario section, model.*) are built from
// shared parts (parts.go): [Rounds], [RoundCaps], [Throttle], [Stream],
// [Faults], [Push], [Switch], [Memory], [CPU], and the sections
// [Multifd] and [Xbzrle], embedded with `mapstructure:",squash"` so that
// the keys stay flat, plus the model's own keys. Each part has its named
// defaults and one Validate; the parameters' Parts method declares them,
// and [PartsOf] is how the validation lab, calibration and the fluid
// engine reach them without knowing the model's type. Validate returns a
// [FieldError] per bad key, joined; [FieldErrors] lists them.
//
// A new model is a file for the model, a file for its parameters (its
// parts, its own keys, Parts and Validate), a line in [Registry], and a
// golden file in testdata; the scenario docs come from `go generate
// ./scenarios`.
//
// # Running a model
//
// A model is built from its registered [Info] (see [Registry] and
// [Lookup]) with parameters decoded from a scenario's model section, then
// run with an [Input]: the guest ([VM]), its trace (a traces.Opener), the
// network (sim.Path) and a seed. Run returns a [Result] whose JSON field
// names are a contract: they mirror QEMU's query-migrate and carry units
// in their names (total_time_s, transferred_bytes).
//
// # The guest
//
// All models share one guest replayer: the guest runs through its trace in
// guest time, which a throttle slows and a stop halts; its writes reach the
// dirty log at epoch ends, or in deterministic shares when a sync falls in
// the middle of an epoch. After a switch to post-copy the same trace
// position carries on on the destination, where the post-copy models
// replay each epoch's accesses (written and read pages) one by one, in
// ascending page order spread evenly over the epoch, and stall the guest
// on pages that have not arrived.
package models
