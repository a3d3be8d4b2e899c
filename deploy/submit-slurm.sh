#!/bin/bash
# Submit a sweep as a Slurm job array of N shards, and a job that merges
# them once all succeed:
#
#   deploy/submit-slurm.sh sweep.yaml 16 results
set -euo pipefail

sweep=${1:?usage: submit-slurm.sh SWEEP.yaml SHARDS [OUTDIR]}
shards=${2:?usage: submit-slurm.sh SWEEP.yaml SHARDS [OUTDIR]}
out=${3:-results}
migsim=${MIGSIM:-migsim}
here=$(cd "$(dirname "$0")" && pwd)

# Check the sweep before queueing anything: every point is loaded.
"$migsim" sweep "$sweep" --dry-run --out "$out" >/dev/null

array=$(sbatch --parsable --array="1-$shards" "$here/slurm-array.sh" "$sweep" "$out")
sbatch --dependency="afterok:$array" --job-name=migsim-merge --time=00:30:00 \
	--output="migsim-merge-%j.log" \
	--wrap="'$migsim' merge -o '$out/merged' '$out'/shard-*"
echo "submitted job array $array ($shards shards) and its merge; results in $out/merged"
