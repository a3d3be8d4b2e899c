#!/bin/bash
# Submit a sweep as a Slurm job array of SHARDS tasks, and a job that
# merges them once all succeed:
#
#   deploy/submit-slurm.sh [--wait] SWEEP.yaml SHARDS [OUTDIR] [-- SBATCH_OPTION...]
#
# Task k runs shard k/SHARDS into OUTDIR/shard-k (slurm-array.sh); the
# merge job writes OUTDIR/merged. Logs go to OUTDIR/logs. Options after
# -- go to the array's sbatch and override slurm-array.sh's #SBATCH lines
# (--cpus-per-task=4 --mem=8G --time=8:00:00); choices for both jobs
# (partition, account, QOS) go in SBATCH_PARTITION, SBATCH_ACCOUNT,
# SBATCH_QOS. The environment is passed to the jobs (sbatch's default),
# MIGSIM included: set it to the path of migsim on the nodes if it is not
# on their PATH.
#
# --wait stays until both jobs have left the queue (polling squeue every
# MIGSIM_SLURM_POLL seconds, 30 by default): exit 0 when the merge
# succeeded; else exit 1 naming each shard that failed with its exit code,
# its log and the log's last lines. The merge job runs only if every task
# succeeds (afterok) and is cancelled as soon as one fails.
#
# Exit status: 0 submitted (with --wait: merged), 1 the sweep does not
# load or a job failed, 2 usage.
set -euo pipefail

usage() {
	echo "usage: submit-slurm.sh [--wait] SWEEP.yaml SHARDS [OUTDIR] [-- SBATCH_OPTION...]" >&2
	exit 2
}

wait=false
while [ $# -gt 0 ]; do
	case $1 in
	--wait) wait=true; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--) usage ;;
	-*) echo "submit-slurm.sh: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
positional=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do positional+=("$1"); shift; done
[ $# -gt 0 ] && shift # the --
sbatch_opts=("$@")
if [ ${#positional[@]} -lt 2 ] || [ ${#positional[@]} -gt 3 ]; then usage; fi
sweep=${positional[0]}
shards=${positional[1]}
out=${positional[2]:-results}
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then
	echo "submit-slurm.sh: SHARDS must be a whole number of at least 1, not '$shards'" >&2
	usage
fi
migsim=${MIGSIM:-migsim}
poll=${MIGSIM_SLURM_POLL:-30}
here=$(cd "$(dirname "$0")" && pwd)

# Check the sweep before queueing anything: every point is loaded.
if ! "$migsim" sweep "$sweep" --dry-run --out "$out" >/dev/null; then
	echo "submit-slurm.sh: $sweep does not load (above); nothing was submitted" >&2
	exit 1
fi

logs=$out/logs
mkdir -p "$logs"
# append: a requeued task adds to its log instead of replacing it.
array=$(sbatch --parsable --array="1-$shards" --open-mode=append \
	--output="$logs/sweep-%A_%a.log" "${sbatch_opts[@]}" \
	"$here/slurm-array.sh" "$sweep" "$out")
array=${array%%;*} # "id;cluster" on multi-cluster sites
merge_cmd=$(printf '%q ' exec "$migsim" merge --out "$out/merged")
for k in $(seq "$shards"); do merge_cmd+=$(printf '%q ' "$out/shard-$k"); done
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes \
	--job-name=migsim-merge --time=00:30:00 --output="$logs/merge-%j.log" \
	--wrap="$merge_cmd")
merge=${merge%%;*}
echo "submitted job array $array ($shards shards) and merge job $merge; results in $out/merged, logs in $logs"
$wait || exit 0

# job_state JOB prints the job's state and exit code: from the controller
# while it remembers the job (MinJobAge), else from accounting (sacct).
job_state() {
	local rec state code
	if rec=$(scontrol -o show job "$1" 2>/dev/null) && [[ $rec =~ \ JobState=([A-Z_]+) ]]; then
		state=${BASH_REMATCH[1]}
		[[ $rec =~ \ ExitCode=([0-9:]+) ]] && code=${BASH_REMATCH[1]}
	elif rec=$(sacct -n -X -P -j "$1" -o State,ExitCode 2>/dev/null) && [ -n "$rec" ]; then
		IFS='|' read -r state code <<<"${rec%%$'\n'*}"
		state=${state%% *} # "CANCELLED by 0"
	fi
	echo "${state:-UNKNOWN} ${code:-?}"
}

final='^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED|REVOKED)$'
last=
while :; do
	if ! queue=$(squeue -h -t all -j "$array,$merge" -o '%i %T %r' 2>&1); then
		# The controller forgets finished jobs after MinJobAge seconds.
		[[ $queue == *"Invalid job id"* ]] && break
		echo "squeue failed ($queue); trying again in $poll s" >&2
		sleep "$poll"
		continue
	fi
	active=0 summary='' merge_now=gone
	declare -A count=()
	while read -r id state reason; do
		[ -n "$id" ] || continue
		[[ $state =~ $final ]] || active=$((active + 1))
		if [ "$id" = "$merge" ]; then
			merge_now="${state,,} ($reason)"
			# A merge that can never start (on a site that did not cancel it).
			if [ "$state" = PENDING ] && [ "$reason" = DependencyNeverSatisfied ]; then
				scancel "$merge" || true
			fi
		elif [ "$state" != PENDING ]; then
			count[$state]=$((${count[$state]:-0} + 1))
		fi
	done <<<"$queue"
	pending=$shards
	for state in $(printf '%s\n' "${!count[@]}" | sort); do
		summary+="${count[$state]} ${state,,}, "
		pending=$((pending - count[$state]))
	done
	summary="shards: ${pending} pending, ${summary}merge: $merge_now"
	if [ "$summary" != "$last" ]; then
		echo "$(date +%H:%M:%S) $summary" >&2
		last=$summary
	fi
	[ "$active" -gt 0 ] || break
	sleep "$poll"
done

read -r merge_state merge_code < <(job_state "$merge")
if [ "$merge_state" = COMPLETED ]; then
	echo "merged $shards shards into $out/merged"
	exit 0
fi
failed=0
for k in $(seq "$shards"); do
	read -r state code < <(job_state "${array}_$k")
	[ "$state" = COMPLETED ] && continue
	failed=$((failed + 1))
	log=$logs/sweep-${array}_$k.log
	echo "shard $k/$shards (job ${array}_$k) $state, exit code $code; log $log:" >&2
	tail -n 5 "$log" 2>/dev/null | sed 's/^/    /' >&2 || true
done
if [ "$failed" -gt 0 ]; then
	echo "the merge job $merge did not run ($merge_state): it runs only when every shard succeeds." >&2
	echo "Fix the cause above and submit the same command again: shards and points already done are not run again." >&2
else
	log=$logs/merge-$merge.log
	echo "every shard succeeded but the merge job $merge is $merge_state, exit code $merge_code; log $log:" >&2
	tail -n 5 "$log" 2>/dev/null | sed 's/^/    /' >&2 || true
fi
exit 1
