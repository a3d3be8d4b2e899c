// Package models holds migsim's live-migration algorithms, one per file,
// all behind the small [Model] interface.
//
// # Models
//
//   - precopy ([Precopy], precopy.go): iterative pre-copy as QEMU 7.2
//     implements it: dirty-log syncs between passes, the
//     bandwidth × downtime-limit stop condition, optional round and byte
//     caps (Xen), auto-converge throttling.
//
// Each model documents its semantics, its closed form where one exists,
// and where it knowingly departs from the implementation it follows.
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
// the middle of an epoch.
package models
