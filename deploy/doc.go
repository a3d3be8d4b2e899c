// Package deploy has no Go API: it holds the files that run migsim sweeps
// on existing distributed engines, Slurm job arrays and Kubernetes Indexed
// Jobs (README.md), and its tests check those files.
//
//   - TestKubernetesManifests decodes the manifests strictly into the
//     Kubernetes API's Go types (k8s.io/api) and checks the API rules the
//     types cannot express; the manifests are checked, not run.
//   - TestSlurm submits sweeps with submit-slurm.sh to a real Slurm cluster:
//     a job array and its merge, a requeued task, a failing shard, a sweep
//     that does not load. It runs only with MIGSIM_SLURM=1 and skips
//     otherwise; slurm-ci.sh starts a one-node cluster on this host and
//     runs it.
//
// The directory is a Go module of its own, so that the Kubernetes types
// are not dependencies of migsim: run its tests from here, go test ./...
package deploy
