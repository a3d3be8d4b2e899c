#!/bin/bash
# Run one shard of a migsim sweep per task of a Slurm job array. Submit
# with submit-slurm.sh, or by hand:
#
#   sbatch --array=1-16 slurm-array.sh sweep.yaml results
#
# Task k of n runs 'migsim sweep --shard k/n' into results/shard-k. A task
# that is requeued (preempted, node failure) resumes where it stopped:
# --resume continues what results/shard-k holds, and starts afresh when it
# holds nothing. Merge when every task is done:
#
#   migsim merge --out results/merged results/shard-*
#
#SBATCH --job-name=migsim-sweep
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@60
#SBATCH --output=migsim-sweep-%A_%a.log
set -euo pipefail

sweep=${1:?usage: sbatch --array=1-N slurm-array.sh SWEEP.yaml [OUTDIR]}
out=${2:-results}
migsim=${MIGSIM:-migsim}

# Array tasks are numbered from SLURM_ARRAY_TASK_MIN; shards from 1.
k=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1))
n=${SLURM_ARRAY_TASK_COUNT:?run this script as a job array (sbatch --array=1-N)}

mkdir -p "$out"
# exec: Slurm's SIGTERM (at the time limit, or scancel) reaches migsim,
# which stops cleanly; everything finished is already in the journal.
exec "$migsim" sweep "$sweep" --shard "$k/$n" --out "$out/shard-$k" --resume \
	--workers "${SLURM_CPUS_PER_TASK:-0}" --progress lines --progress-interval 60s
