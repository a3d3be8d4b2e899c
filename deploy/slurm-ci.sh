#!/bin/bash
# A real one-node Slurm cluster on this host, and the tests of deploy/
# against it (what .ci/run calls; see README.md, "What CI proves"):
#
#   bash deploy/slurm-ci.sh            # as root, from anywhere
#
# It installs Debian's Slurm (slurmctld, slurmd, slurm-client: the parts
# of slurm-wlm it needs) and munge if they are missing, starts munged,
# slurmctld and slurmd with a minimal slurm.conf in a fresh directory
# (this host as the only node, 2 CPUs, one partition), waits until sinfo
# shows the node idle, vets deploy/'s Go module and runs its tests with
# MIGSIM_SLURM=1 (the Kubernetes manifests' check and the Slurm tests),
# and stops the daemons when it exits, even on failure. Nothing outside
# that directory is changed but the packages: the daemons use their own
# key, socket, state, logs and configuration, so a site's /etc/slurm and
# /etc/munge are left alone. They listen on Slurm's default ports, 6817
# and 6818, which must be free.
#
# Environment: MIGSIM, a migsim binary for the tests (default: they build
# one); MIGSIM_SLURM_KEEP=1 keeps the directory with the daemons' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ "$(id -u)" != 0 ]; then
	echo "slurm-ci.sh: run as root (it installs packages and starts slurmd, which runs jobs as their users)" >&2
	exit 1
fi

# Packages: Debian 12 ships Slurm 22.05 and MUNGE 0.5.15.
missing=()
for p in slurmctld slurmd slurm-client munge; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
slurmctld -V

# The daemons listen on Slurm's default ports: another cluster's daemons
# (or this script's, killed without its trap) would answer in their stead.
for port in 6817 6818; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "slurm-ci.sh: something already listens on port $port (a slurmctld or slurmd still running?); stop it first" >&2
		exit 1
	fi
done

run=$(mktemp -d /tmp/migsim-slurm.XXXXXX)
chmod 755 "$run"
mkdir -p "$run/ctld" "$run/d"
host=$(hostname -s)
export SLURM_CONF=$run/slurm.conf

daemons=(munged slurmctld slurmd)
# start NAME COMMAND... runs a daemon in the foreground of a background
# job of this script, so that its PID is known at once.
start() {
	local name=$1
	shift
	"$@" >>"$run/$name.out" 2>&1 &
	echo $! >"$run/$name.pid"
}
# running NAME: the daemon is alive (not exited, not a zombie).
running() {
	local pid state
	pid=$(cat "$run/$1.pid" 2>/dev/null) || return 1
	read -r _ _ state _ 2>/dev/null <"/proc/$pid/stat" || return 1
	[ "$state" != Z ]
}
# stop ends every daemon this script started, waits for it (10 s, then
# SIGKILL), and on failure shows the ends of their logs.
stop() {
	local status=$? d pid f
	set +e
	# Jobs a failed test left behind run under slurmstepd, not slurmd.
	if running slurmctld && [ -n "$(timeout 5 squeue -h -o %A 2>/dev/null)" ]; then
		timeout 10 scancel --user="$(id -un)"
		for _ in $(seq 30); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
	fi
	for d in slurmd slurmctld munged; do
		running "$d" || continue
		pid=$(cat "$run/$d.pid")
		kill "$pid"
		for _ in $(seq 50); do running "$d" || break; sleep 0.2; done
		running "$d" && { echo "$d ($pid) ignored SIGTERM for 10 s: killing it"; kill -9 "$pid"; }
		wait "$pid" 2>/dev/null
	done
	if [ "$status" != 0 ]; then
		for d in "${daemons[@]}"; do
			f=$run/$d.log
			[ -s "$f" ] || f=$run/$d.out # what it said before it had a log
			[ -s "$f" ] && { echo "--- last lines of $f"; tail -n 30 "$f"; }
		done
	fi
	if [ "${MIGSIM_SLURM_KEEP:-}" = 1 ]; then
		echo "daemons stopped; their logs are in $run"
	else
		rm -rf "$run"
		echo "daemons stopped"
	fi
	exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# MUNGE authenticates every Slurm message: a key of our own, a socket of
# our own.
mungekey --create --keyfile="$run/munge.key"
start munged munged --foreground --key-file="$run/munge.key" --socket="$run/munge.sock" \
	--pid-file="$run/munged.pid" --log-file="$run/munged.log" --seed-file="$run/munged.seed" --force
for _ in $(seq 100); do [ -S "$run/munge.sock" ] || ! running munged && break; sleep 0.1; done
if ! [ -S "$run/munge.sock" ]; then
	echo "slurm-ci.sh: munged did not create its socket (its log below)" >&2
	exit 1
fi

cat >"$SLURM_CONF" <<EOF
# One-node cluster for migsim's CI (deploy/slurm-ci.sh).
ClusterName=migsim-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start
# again: 120 s by default, 10 s here.
AuthInfo=socket=$run/munge.sock,cred_expire=10
StateSaveLocation=$run/ctld
SlurmdSpoolDir=$run/d
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$run/slurmctld.log
SlurmdLogFile=$run/slurmd.log
# No cgroups (containers may not delegate them): processes are tracked
# by parentage, as on many small clusters.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no sacct: jobs are followed with squeue and scontrol,
# which keep a finished job for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
KillWait=10
# The node is this host with 2 CPUs, whatever the hardware (config_overrides).
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=2048 State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

start slurmctld slurmctld -D -f "$SLURM_CONF"
start slurmd slurmd -D -f "$SLURM_CONF"

# Wait until the node is idle, a minute at most.
deadline=$((SECONDS + 60))
until [ "$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; do
	for d in "${daemons[@]}"; do
		if ! running "$d"; then
			echo "slurm-ci.sh: $d exited while the cluster was starting (its log below)" >&2
			exit 1
		fi
	done
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "slurm-ci.sh: the Slurm node $host is not idle after 60 s (sinfo: '$(timeout 5 sinfo -h -n "$host" -o %T 2>&1)')" >&2
		exit 1
	fi
	sleep 0.5
done
sinfo

# deploy/ is a Go module of its own (the Kubernetes API types are not
# migsim's dependencies): vet and staticcheck it here, then run its tests,
# the Kubernetes manifests' schema check and the Slurm tests.
cd "$repo/deploy"
go vet ./...
if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi
MIGSIM_SLURM=1 go test -count=1 -v -timeout 10m ./...
