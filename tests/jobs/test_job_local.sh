#!/usr/bin/env bash
# tests/jobs/test_job_local.sh - `benchfs job start/stop/run` outside any
# scheduler (the local launcher), in a private mktemp -d.
#
#   test_job_local.sh <path to bin/benchfs>      (benchfsd next to it)
#
# job start -n 2 with --stage-in: the export line, both servers registered,
# the staged tree readable; job stop --stage-out: results out, servers gone,
# data dirs removed, the summary line. job run with #BFS directives and a
# failing command: exit status of the command, stage-out done anyway,
# nothing left running or on disk. Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_job_local.sh BENCHFS_BINARY}
BIN_DIR=$(cd "$(dirname "$BENCHFS")" && pwd)
BENCHFS=$BIN_DIR/$(basename "$BENCHFS")
[ -x "$BIN_DIR/benchfsd" ] || { echo "SKIP: no benchfsd"; exit 77; }
unset BENCHFS_REGISTRY SLURM_JOB_ID PBS_NODEFILE PBS_JOBID
export UCX_TLS=${UCX_TLS:-tcp,self}

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-job.XXXXXX")
FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
# pids of benchfsd processes serving a data dir below $T
our_servers() {
    pgrep -f -- "--data-dir $T/" || true
}
cleanup() {
    local rc=$?
    for r in "$T/reg" "$T/reg2" "$T/reg3"; do
        [ -f "$r/job.state" ] && "$BENCHFS" job stop --registry "$r" --timeout 10 >/dev/null 2>&1
    done
    for p in $(our_servers); do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
    [ "$FAILS" -ne 0 ] && rc=1
    exit $rc
}
trap cleanup EXIT

mkdir -p "$T/in/sub"
for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom >"$T/in/sub/f$i"; done
: >"$T/in/empty"

"$BENCHFS" job --help | grep -q "benchfs job start" || fail "job --help"
"$BENCHFS" job start --stage-in nocolon 2>"$T/err"
[ $? -eq 2 ] && grep -q "is not SRC:DEST" "$T/err" || fail "bad --stage-in accepted"
"$BENCHFS" job stop --registry "$T/nothing" 2>"$T/err"
[ $? -eq 1 ] && grep -q "no job started" "$T/err" || fail "job stop without a job: $(cat "$T/err")"

# ------------------------------------------------------- start / stop
"$BENCHFS" job start -n 2 --registry "$T/reg" --data-dir "$T/local" \
    --stage-in "$T/in/:/input" -j 2 >"$T/env" 2>"$T/err" || fail "job start: $(cat "$T/err")"
grep -qx "export BENCHFS_REGISTRY=$T/reg" "$T/env" || fail "export line: $(cat "$T/env")"
. "$T/env"
[ -f "$T/reg/node_0.addr" ] && [ -f "$T/reg/node_1.addr" ] || fail "servers not registered"
[ -d "$T/local/node_0" ] && [ -d "$T/local/node_1" ] || fail "data dirs not created"
"$BENCHFS" cat /input/sub/f2 | cmp -s - "$T/in/sub/f2" || fail "staged-in file differs"
"$BENCHFS" mkdir /results
printf 'result\n' | "$BENCHFS" put - /results/r.txt
"$BENCHFS" job stop --stage-out "/results/:$T/out" >/dev/null 2>"$T/err" ||
    fail "job stop: $(cat "$T/err")"
grep -q "stopped 2 servers (graceful), data dirs removed, stage-out ok" "$T/err" ||
    fail "job stop summary: $(cat "$T/err")"
[ "$(cat "$T/out/r.txt" 2>/dev/null)" = result ] || fail "stage-out at job stop"
[ -e "$T/local" ] && fail "data dir $T/local left behind: $(ls -R "$T/local")"
[ -z "$(our_servers)" ] || fail "servers still running after job stop"
unset BENCHFS_REGISTRY

# ------------------------- a server dies before job stop: no long wait
"$BENCHFS" job start -n 2 --registry "$T/reg3" --data-dir "$T/local3" >"$T/env" 2>"$T/err" ||
    fail "job start (3): $(cat "$T/err")"
victim=$(pgrep -f -- "--data-dir $T/local3/node_1" | head -n 1)
[ -n "$victim" ] && kill -KILL "$victim"
"$BENCHFS" job stop --registry "$T/reg3" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] || fail "job stop after a dead server exited $rc, expected 1"
grep -q "stopped 2 servers (stopped by SIGTERM), data dirs removed" "$T/err" ||
    fail "job stop after a dead server: $(cat "$T/err")"
[ -e "$T/local3" ] && fail "data dirs left after a dead server"
[ -z "$(our_servers)" ] || fail "servers left after a dead server"

# ------------------------------------ job run: the application fails
cat >"$T/job.sh" <<EOF
#!/bin/bash
#BFS --registry $T/reg2 --data-dir $T/local2
#BFS --stage-in=$T/in/:/input "--stage-out=/output/:$T/results"
EOF
"$BENCHFS" job run --directives "$T/job.sh" -- bash -c \
    'benchfs() { "$0" "$@"; }; benchfs mkdir /output && benchfs cat /input/sub/f1 | benchfs put - /output/copy && exit 3' \
    "$BENCHFS" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 3 ] || fail "job run exited $rc, expected the command's 3: $(cat "$T/err")"
grep -q "failed (exit status 3): staging out anyway" "$T/err" || fail "failure not reported"
cmp -s "$T/results/copy" "$T/in/sub/f1" || fail "job run did not stage out after the failure"
[ -e "$T/local2" ] && fail "job run left its data dir"
[ -z "$(our_servers)" ] || fail "job run left servers running"
[ -f "$T/reg2/job.state" ] && fail "job run left job.state"

[ "$FAILS" -eq 0 ] && echo "PASS: test_job_local"
exit 0
