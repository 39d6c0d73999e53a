#!/usr/bin/env bash
# tests/jobs/test_slurm.sh - BenchFS in real Slurm batch jobs on this machine.
#
#   test_slurm.sh <path to bin/benchfs>      (benchfsd next to it)
#
# Starts its own single-node Slurm in a mktemp -d (as root): munged with a
# private key and socket, slurmctld and slurmd in the foreground (-D) with a
# private slurm.conf (free ports, state and spool dirs inside the temp dir,
# proctrack/linuxproc, task/none, select/cons_tres), waits until
# `scontrol ping` says UP and the node is idle. Then two sbatch jobs:
#  1. the integration: '#BFS' directives + `benchfs job run --directives
#     "$0" -- ...`: servers up via srun, a tree staged in, the benchfs CLI
#     run over it (checksums of every staged file, written into BenchFS),
#     results staged out; job COMPLETED, results correct.
#  2. the plain job-script pattern (job start, trap ... job stop
#     --stage-out EXIT) with an application that fails (exit 7): the job is
#     FAILED with exit code 7, yet the results were staged out, and no
#     server, data dir or job.state is left.
# Checked after the jobs ended (squeue empty, scontrol show job). The
# daemons are stopped by pid. Exit 0 pass, 1 fail, 77 skip (not root, or
# slurm-wlm / munge not installed).
set -u -o pipefail

BENCHFS=${1:?usage: test_slurm.sh BENCHFS_BINARY}
BIN_DIR=$(cd "$(dirname "$BENCHFS")" && pwd)
BENCHFS=$BIN_DIR/$(basename "$BENCHFS")
[ -x "$BIN_DIR/benchfsd" ] || { echo "SKIP: no benchfsd"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the Slurm daemons need root"; exit 77; }
for b in munged slurmctld slurmd sbatch srun squeue scontrol; do
    command -v "$b" >/dev/null || { echo "SKIP: $b not installed (slurm-wlm, munge)"; exit 77; }
done
unset BENCHFS_REGISTRY SLURM_JOB_ID PBS_NODEFILE
export UCX_TLS=${UCX_TLS:-tcp,self}

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-slurm.XXXXXX")
chmod 755 "$T"
FAILS=0
PIDS="" # daemons we started, stopped in reverse order
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
our_servers() {
    pgrep -f -- "--data-dir $T/" || true
}
cleanup() {
    local rc=$?
    if [ -n "$PIDS" ]; then
        scancel --full "--user=root" >/dev/null 2>&1 # only this private cluster's jobs
        for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
        for p in $PIDS; do
            for _ in $(seq 1 250); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
            kill -KILL "$p" 2>/dev/null
        done
    fi
    for p in $(our_servers); do kill -KILL "$p" 2>/dev/null; done
    if [ "$FAILS" -ne 0 ]; then
        for f in "$T"/log/*.log "$T"/w/slurm-*.out; do
            [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
        done
    fi
    rm -rf "$T"
    [ "$FAILS" -ne 0 ] && rc=1
    exit $rc
}
trap cleanup EXIT

# A TCP port pair below the ephemeral range that no socket uses (ss -tan).
free_port() {
    local p
    while :; do
        p=$((10000 + RANDOM % 22000))
        ss -Htan "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null | grep -q . || {
            echo $p
            return
        }
    done
}

# ------------------------------------------------------------- munged
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/w"
chmod 700 "$T/munge"
head -c 1024 /dev/urandom >"$T/munge/key"
chmod 600 "$T/munge/key"
munged -F -f --key-file="$T/munge/key" --socket="$T/munge/sock" --log-file="$T/log/munged.log" \
    --pid-file="$T/munge/pid" --seed-file="$T/munge/seed" >"$T/log/munged.out" 2>&1 &
PIDS="$!"
for _ in $(seq 1 250); do [ -S "$T/munge/sock" ] && break; sleep 0.02; done
[ -S "$T/munge/sock" ] || { fail "munged did not create its socket"; exit 1; }

# ------------------------------------------------------- slurm.conf
# write_conf: a private slurm.conf on fresh ports.
HOST=$(hostname -s)
write_conf() {
    PORT=$(free_port)
    cat >"$T/slurm.conf" <<EOF
ClusterName=benchfstest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=bfs Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}
export SLURM_CONF=$T/slurm.conf
# start_slurm: slurmctld and slurmd in the foreground (-D), ready when
# `scontrol ping` says UP and the node is idle. A port taken meanwhile
# (slurmctld exits "Address already in use") means a retry on new ports.
CTLD="" SLURMD=""
start_slurm() {
    write_conf
    slurmctld -D -f "$SLURM_CONF" >"$T/log/slurmctld.out" 2>&1 &
    CTLD=$!
    slurmd -D -f "$SLURM_CONF" >"$T/log/slurmd.out" 2>&1 &
    SLURMD=$!
    PIDS="$SLURMD $CTLD $PIDS"
    for _ in $(seq 1 300); do
        if scontrol ping 2>/dev/null | grep -q "is UP" &&
            [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then
            return 0
        fi
        kill -0 "$CTLD" 2>/dev/null && kill -0 "$SLURMD" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$CTLD" "$SLURMD" 2>/dev/null
    wait "$CTLD" "$SLURMD" 2>/dev/null
    PIDS=${PIDS#"$SLURMD $CTLD "} # reaped: never signal those pids again
    return 1
}
up=""
for attempt in 1 2 3; do
    start_slurm && { up=1; break; }
    echo "note: Slurm did not come up (attempt $attempt): $(grep -h fatal "$T"/log/*.log | tail -1)"
    rm -rf "$T/state"/* "$T/spool"/* "$T"/log/slurm*.log
done
[ -n "$up" ] || { fail "slurmctld/slurmd did not come up: $(sinfo 2>&1)"; exit 1; }

# ------------------------------------------------------------- input
mkdir -p "$T/input/sub dir"
for i in 1 2 3 4 5; do head -c $((i * 70000)) /dev/urandom >"$T/input/sub dir/part$i"; done
head -c 9000000 /dev/urandom >"$T/input/big"
: >"$T/input/empty"
(cd "$T/input" && find . -type f | sort | while read -r f; do sha256sum "$f"; done) >"$T/expected.sum"

# ------------------------------------- job 1: directives + job run
cat >"$T/w/job1.sh" <<EOF
#!/bin/bash
#SBATCH --job-name=bfs-ok --nodes=1 --ntasks=1 --cpus-per-task=2 --output=$T/w/slurm-%j.out
#BFS --stage-in=$T/input/:/in --stage-out=/out/:$T/results1
#BFS --data-dir=$T/nodelocal1 --registry=$T/w/reg1 -j 2
set -eu
export BFS=$BENCHFS
"\$BFS" job run --directives "\$0" -- bash $T/w/app1.sh
EOF
cat >"$T/w/app1.sh" <<EOF
#!/bin/bash
# The application: checksums of every staged-in file, computed through
# the BenchFS CLI, written back into BenchFS as /out/sums.
set -eu
"\$BFS" mkdir -p /out
"\$BFS" find /in -type f | grep -v '/\.benchfs-manifest' | sort | while read -r f; do
    printf '%s  .%s\n' "\$("\$BFS" cat "\$f" | sha256sum | cut -c1-64)" "\${f#/in}"
done | "\$BFS" put - /out/sums
echo "servers: \$("\$BFS" ping | grep -c '^node_')"
EOF
# ----------------------------- job 2: start / trap stop, failing app
cat >"$T/w/job2.sh" <<EOF
#!/bin/bash
#SBATCH --job-name=bfs-fail --nodes=1 --ntasks=1 --cpus-per-task=2 --output=$T/w/slurm-%j.out
set -eu
BFS=$BENCHFS
trap '"\$BFS" job stop --stage-out "/out/:$T/results2"' EXIT
eval "\$("\$BFS" job start --registry $T/w/reg2 --data-dir $T/nodelocal2 --stage-in $T/input/:/in)"
"\$BFS" mkdir /out
"\$BFS" cat "/in/sub dir/part3" | "\$BFS" put - /out/partial-result
echo "application crashes now"
exit 7
EOF
J1=$(sbatch --parsable "$T/w/job1.sh") || fail "sbatch job1"
J2=$(sbatch --parsable "$T/w/job2.sh") || fail "sbatch job2"
done_=""
for _ in $(seq 1 900); do
    [ -z "$(squeue -h 2>/dev/null)" ] && { done_=1; break; }
    sleep 0.1
done
[ -n "$done_" ] || fail "jobs still queued/running after 90 s: $(squeue)"

state() { scontrol show job "$1" 2>/dev/null | grep -o "JobState=[A-Z]*\|ExitCode=[0-9:]*" | tr '\n' ' '; }
S1=$(state "$J1")
S2=$(state "$J2")
echo "job $J1: $S1"
echo "job $J2: $S2"
case "$S1" in *"JobState=COMPLETED ExitCode=0:0"*) ;; *) fail "job 1: $S1" ;; esac
case "$S2" in *"JobState=FAILED ExitCode=7:0"*) ;; *) fail "job 2: $S2" ;; esac

# Job 1: the application's checksums of the staged tree == the input's.
cmp -s "$T/expected.sum" "$T/results1/sums" ||
    fail "job 1 results differ: $(diff "$T/expected.sum" "$T/results1/sums" | head -5)"
grep -q "servers: 1" "$T/w/slurm-$J1.out" || fail "job 1: no server answered"
grep -q "job: 1 server up .*(srun" "$T/w/slurm-$J1.out" || fail "job 1 did not use srun"
grep -q "stopped 1 server (graceful), data dirs removed, stage-out ok" "$T/w/slurm-$J1.out" ||
    fail "job 1 stop summary"
# Job 2: failed, yet staged out and clean.
cmp -s "$T/results2/partial-result" "$T/input/sub dir/part3" || fail "job 2 did not stage out"
grep -q "stopped 1 server (graceful), data dirs removed, stage-out ok" "$T/w/slurm-$J2.out" ||
    fail "job 2 stop summary"
for d in "$T/nodelocal1" "$T/nodelocal2"; do
    [ -e "$d" ] && fail "data dir $d left behind"
done
for r in "$T/w/reg1" "$T/w/reg2"; do
    [ -e "$r/job.state" ] && fail "$r/job.state left behind"
    ls "$r"/*.addr >/dev/null 2>&1 && fail "registry files left in $r"
done
[ -z "$(our_servers)" ] || fail "benchfsd still running: $(our_servers)"

[ "$FAILS" -eq 0 ] && echo "PASS: test_slurm"
exit 0
