// Package sweep expands sweep files into points ([Spec], [Load]), runs
// them on all local cores and writes their results: JSON Lines, CSV and
// Parquet. A point is a scenario, run as migsim run runs it, or, for a
// sweep whose base is a fleet file, a fleet, evacuated as migsim
// evacuate does, whose result is one row: its [fleet.Summary].
//
// # Running
//
// [Run] simulates each point of a sweep (or of one shard of it) on
// Options.Workers goroutines, one model run each, and appends every
// finished point to a journal as soon as it ends. Runs that share a
// workload (generator spec, memory, page size and seed, or trace file)
// replay one in-memory copy of its trace from a [traces.Cache]; points
// are handed out grouped by workload, and a workload's trace leaves the
// cache with its last point, so the cache holds about one trace per
// worker. The workloads, and the points within each, go in a spread
// order (the first ones reach across every axis), which changes nothing
// in the outputs. Cancelling the context stops the run cleanly: points in
// flight are abandoned, finished ones are already in the journal.
//
// # Memory
//
// A run's memory does not grow with its points but for a few dozen bytes
// each. [Open] checks every point before anything runs and, with
// [LoadOptions].Index, keeps 12 bytes of each (its ID and its workload's
// group), not the point; a worker loads a point again when it takes it
// (the base is parsed once: see [scenarios.Base]); the journal's lines
// are located by a 16-byte index entry each; and the tables are written
// from the journal a line at a time, Parquet a row group of 16,384 rows
// at a time. A sweep loaded with its points ([Load]) runs the same way
// from them.
//
// # Time estimates
//
// [Progress] reports the time left from measured cost: each point's wall
// time as it ends, a cost model over the sweep's axes that predicts the
// points still to run from those like them, the points laid out on the
// workers in the order they will run, and the journal's fsyncs and the
// final tables as measured. [Estimate] (migsim sweep --dry-run) runs a
// sample of the points the same way, half spread over the axes and half
// where the first half says the time goes, and predicts the run from it
// (see estimate.go).
//
// # Output directory
//
// A run writes one directory:
//
//	sweep.json       the manifest: sweep name, fingerprint, point count, shard, axes
//	results.jsonl    one line per point, in point order once the run is complete
//	results.csv      one row per point: point, axis columns, metric columns
//	results.parquet  the same table, typed
//
// A line of results.jsonl is
//
//	{"point":3,"id":"1f0c…","axes":{"network.bandwidth_bps":1e+10,"seed":2},"result":{…}}
//
// where result is the [models.Result] as migsim run -o json writes it,
// without rounds_detail unless the run keeps detail ([Options].Detail):
// the per-pass detail is most of a line's bytes and of the time writing
// it takes, and no table column. A key that does not apply to the point
// is null (or left out, for the keys documented so) either way, and the
// tables are built from the lines, so they are the same with or without
// detail; the manifest records the choice, which a resume keeps. The table's
// columns are "point", then one per axis ([Axis].Column, with a
// unit suffix: _bytes, _bps for bits/s, _s for seconds), then the metrics
// of [models.Result] in its field order, nested fields joined with "_"
// (pages_total, pages_zero, pages_normal) and rounds_detail left out; a
// metric whose name is already an axis column ("seed" under repeat) is
// not repeated. Names and units follow the JSON result contract.
//
// # Crash safety and resume
//
// The journal is append-only: a single writer appends each batch of
// finished points, one complete line each, and fsyncs it before counting
// them as done (a group commit, so that fast points do not wait for one
// fsync each). A process killed at any moment, even by SIGKILL, leaves
// complete lines and at most one partial line at the end. Resuming
// ([Options].Resume) reads the journal, checks every line against the
// sweep (the point's ID must match, so a journal of another sweep is
// refused), truncates a partial last line, and runs only the points that
// have no line. When every point of the shard is in the journal, Run
// rewrites it in point order and writes the CSV and Parquet files from
// it, each to a temporary file renamed into place, so the outputs are
// byte for byte the same whatever the scheduling, the number of workers,
// the interruptions and the trace cache.
//
// # Shards
//
// [Shard] k/n (1 ≤ k ≤ n) takes the points whose index i has i mod n =
// k−1: a deterministic subset, balanced across the axes. Each shard writes
// its own directory; [Merge] checks that the directories hold every shard
// of one sweep, each complete, and writes the union exactly as an
// unsharded run would have: merged output equals unsharded output byte for
// byte.
package sweep
