#!/bin/bash
# A real one-node Slurm cluster on this host, and deploy/'s Slurm tests
# against it (what .ci/run calls; see README.md, "What CI proves"):
#
#   bash deploy/slurm-ci.sh            # as root, from anywhere
#
# It installs Debian's slurm-wlm and munge if they are missing, starts
# munged, slurmctld and slurmd with a minimal slurm.conf in a fresh
# directory (this host as the only node, 2 CPUs, one partition), waits
# until sinfo shows the node idle, runs 'go test ./deploy -run Slurm'
# with MIGSIM_SLURM=1, and stops the daemons when it exits, even on
# failure. Nothing outside that directory is changed but the packages:
# the daemons use their own key, socket, state, logs and configuration,
# so a site's /etc/slurm and /etc/munge are left alone.
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

run=$(mktemp -d /tmp/migsim-slurm.XXXXXX)
chmod 755 "$run"
mkdir -p "$run/ctld" "$run/d"
host=$(hostname -s)
export SLURM_CONF=$run/slurm.conf

daemons=(munged slurmctld slurmd)
# stop ends every daemon this script started (by the PID it wrote), waits
# for it, and on failure shows the ends of their logs.
stop() {
	local status=$? d pid
	set +e
	for d in slurmd slurmctld munged; do
		pid=$(cat "$run/$d.pid" 2>/dev/null) || continue
		kill "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && { echo "$d ($pid) ignored SIGTERM for 10 s: killing it"; kill -9 "$pid"; }
	done
	if [ "$status" != 0 ]; then
		for d in "${daemons[@]}"; do
			[ -s "$run/$d.log" ] && { echo "--- last lines of $run/$d.log"; tail -n 30 "$run/$d.log"; }
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
munged --key-file="$run/munge.key" --socket="$run/munge.sock" --pid-file="$run/munged.pid" \
	--log-file="$run/munged.log" --seed-file="$run/munged.seed" --force

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

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Wait until the node is idle.
state=
for _ in $(seq 120); do
	state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
	[ "$state" = idle ] && break
	sleep 0.5
done
if [ "$state" != idle ]; then
	echo "the Slurm node $host is not idle after 60 s (sinfo says '${state:-nothing}')" >&2
	exit 1
fi
sinfo

# deploy/ is a Go module of its own (the Kubernetes API types are not
# migsim's dependencies): vet and staticcheck it here, then run its tests,
# the Kubernetes manifests' schema check and the Slurm tests.
cd "$repo/deploy"
go vet ./...
if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; fi
MIGSIM_SLURM=1 go test -count=1 -v -timeout 10m ./...
