// Package validate compares the simulator with real migrations: it runs
// a scenario in the lab (package lab) and in the simulator on the trace
// the guest really achieved, and reports the error of each metric; it
// keeps validation suites, gates their accuracy in CI and appends their
// history. Calibration, which fits the models' free parameters to the
// same recorded runs, is package calibration/fit.
//
// # A comparison
//
// [Run] takes a scenario, maps its model's parts to QEMU settings
// ([MigrationParamsOf]; a setting the lab cannot run is refused at its
// key, mapping.go), writes its trace and builds the boot kit
// ([lab.BuildImage]), runs the real migration on this machine
// ([lab.RunLocal]) or on two hosts ([lab.RunRemote]), rebuilds the trace
// the guest really achieved from its per-epoch reports (achieved.go),
// simulates the same migration on that trace, and returns a [Comparison]
// with the relative error of each metric. A local run over loopback is
// simulated over the rate the link probe measured ([ProbeLink]).
//
// # Suites, gates and history
//
// [RunSuite] does that for every case of a [Suite]
// (validate/suites/ci.yaml) and summarises the errors; [SuiteResult.Gate]
// checks them against the suite's thresholds ([Threshold], gate.go), a
// [GateReport] writes them as JUnit, and [AppendHistory] keeps a line per
// CI run (validate/history). [Recordings] and [Resimulate] simulate a
// suite's recorded runs again, under a calibration profile or none.
//
// # Fleets
//
// [RunFleet] (fleetlab.go) runs a fleet file's migrations for real at
// once ([lab.RunFleet]: one shaped link, the migrate commands as the
// fleet's plan orders them), then [fleet.Run] simulates the fleet on the
// traces the guests achieved, and a [FleetComparison] compares each VM. A
// [Suite] can list fleet cases ([SuiteFleet]).
//
// # Field records
//
// [ImportRecords] needs no lab: it reads records of real migrations (QMP
// query-migrate replies, virsh domjobinfo --completed, KubeVirt
// migrationState), builds each one's scenario from what the record holds
// and a [FieldMapping] gives, and compares the simulator with the metrics
// the record measured ([FieldInfo]); the suite and results it writes are
// read by [SuiteResult.Gate] and calibration like the lab's
// (importrec*.go).
//
// validate/README.md describes the lab and its accuracy at length.
package validate
