#!/usr/bin/env bash
# tests/cli/test_robust_cli.sh - bad input and sick servers (issue 12).
#
#   test_robust_cli.sh <path to bin/benchfs>      (benchfsd must sit next to it)
#
# Against a private 3-server cluster (`benchfs cluster start`, in a fresh
# mktemp -d): unreadable BENCHFS_* numbers are errors; a frozen server
# (SIGSTOP) fails a new `benchfs ls` within 1.2x the RPC timeout (plus a
# healthy ls's own time) with an error naming it, and everything recovers
# after SIGCONT; the waiting client uses < 5% of a core (measured from
# /proc); a FIFO or symlink planted as a
# registry file fails at once (no hang) and a server starting under that
# node id replaces it; a server killed with SIGKILL whose parent has not
# reaped it yet (a zombie) can be restarted at once; a dead server's file
# fails discovery in about a second, not after the discovery timeout; a
# server killed during `benchfs get` fails it at once as dead, not timed out,
# also in the default configuration (shared memory, no UCX peer failure).
# Readiness is always a file or a log line, never a fixed sleep; only pids
# this script started are signalled. Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_robust_cli.sh BENCHFS_BINARY}
. "$(cd "$(dirname "$0")" && pwd)/../lib/common.sh"
bfs_setup "$BENCHFS"
BENCHFSD=$BIN_DIR/benchfsd
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-robust.XXXXXX")
REG=$T/reg
DATA=$T/data
OUT=$T/out
ERR=$T/err
STOPPED=""

cleanup() {
    local rc=$?
    [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
    for r in "$REG" "$T/reg4"; do
        [ -f "$r/cluster.pids" ] && "$BENCHFS" cluster stop --registry "$r" --timeout 10 >/dev/null 2>&1
    done
    [ "$FAILS" -ne 0 ] && log_tails 10 "$DATA"/logs/*.log
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

bfs() {
    "$BENCHFS" --registry "$REG" "$@"
}

# ------------------------------------------------- environment numbers
for bad in BENCHFS_CHUNK_SIZE=abc BENCHFS_RPC_TIMEOUT_MS=xyz BENCHFS_DISCOVERY_TIMEOUT_MS=-5 \
    BENCHFS_MAX_INFLIGHT=1e3 BENCHFS_RPC_TIMEOUT_MS=99999999999; do
    run 1 env "$bad" "$BENCHFS" --registry "$T" ls /
    expect_err "environment variable ${bad%%=*}"
done

# ------------------------------------------------------------ cluster up
run 0 "$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA" --timeout 20 || exit 1
pid_of() {
    awk -v n="$1" '$1 == "node" && $2 == n { print $3 }' "$REG/cluster.pids"
}
run 0 bfs mkdir /d || exit 1

# ------------------------------------------------------- df
# Three servers on one file system count it once: the size is that of the
# file system, not three times it.
run 0 bfs df
got=$(awk 'NR == 2 { print $2 }' "$OUT")
want=$(df -k --output=size "$DATA" | tail -n 1 | tr -d ' ')
[ "$got" = "$want" ] || fail "df counts the shared file system more than once: $got vs $want 1K-blocks"

# ------------------------------------------------------- ls quoting
# Names with newlines and control characters are quoted like GNU ls on a
# terminal (-b forces that style here, where stdout is a file).
echo hi >"$T/f"
for name in $'/a\nb' "/it's x" $'/esc\e[31m' /plain.txt; do
    run 0 bfs put "$T/f" "$name"
done
run 0 bfs ls -b /
printf '%s\n' "'a'\$'\\n''b'" d "'esc'\$'\\033''[31m'" "'it'\\''s x'" plain.txt >"$T/want"
cmp -s "$OUT" "$T/want" || fail "ls -b: got $(od -c "$OUT" | head -5)"
run 0 bfs ls -N /
[ "$(grep -c '' "$OUT")" -eq 6 ] || fail "ls -N does not print names raw"

# ------------------------------------------------------- frozen server
# A new `benchfs ls` fails within 1.2x the RPC timeout, naming the server;
# its CPU time comes from /proc/<pid>/stat while it waits.
# The budget is 1.2x the timeout plus what a healthy `ls` takes (process
# start and discovery, slow under ASan on a loaded host), but always under
# two timeouts: a client that waits once per server or retries fails.
TIMEOUT_MS=2000
t0=$(now_ms)
run 0 "$BENCHFS" --registry "$REG" ls /
BASE_MS=$(($(now_ms) - t0))
LIMIT_MS=$((TIMEOUT_MS * 12 / 10 + BASE_MS))
[ "$LIMIT_MS" -lt $((TIMEOUT_MS * 19 / 10)) ] || LIMIT_MS=$((TIMEOUT_MS * 19 / 10))
P1=$(pid_of node_1)
kill -STOP "$P1" && STOPPED=$P1
t0=$(now_ms)
BENCHFS_RPC_TIMEOUT_MS=$TIMEOUT_MS "$BENCHFS" --registry "$REG" ls / >"$OUT" 2>"$ERR" &
LS=$!
ticks=0
while kill -0 "$LS" 2>/dev/null; do
    # utime + stime (fields 14, 15), after the command name in parentheses.
    t=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' \
        "/proc/$LS/stat" 2>/dev/null) && [ -n "$t" ] && ticks=$t
    nap 0.05
done
wait "$LS"
rc=$?
t1=$(now_ms)
elapsed=$((t1 - t0))
hz=$(getconf CLK_TCK)
cpu_pct=$((ticks * 1000 * 100 / hz / (elapsed > 0 ? elapsed : 1)))
echo "frozen node_1: ls exited $rc after $elapsed ms, CPU ${cpu_pct}% of a core (from /proc)"
[ "$rc" -eq 1 ] || fail "ls with a frozen server exited $rc"
expect_err "node_1"
[ "$elapsed" -le "$LIMIT_MS" ] ||
    fail "ls with a frozen server took $elapsed ms (RPC timeout $TIMEOUT_MS ms, healthy ls $BASE_MS ms, limit $LIMIT_MS ms)"
[ "$cpu_pct" -lt 5 ] || fail "a client waiting for a frozen server used ${cpu_pct}% of a core"
kill -CONT "$P1" && STOPPED=""
run 0 bfs ls /
run 0 bfs ping

# ------------------------------------------- FIFO and symlink in the registry
mkfifo "$REG/node_7.addr"
t0=$(now_ms)
run 1 timeout 20 "$BENCHFS" --registry "$REG" --timeout 10 ls /
expect_err "node_7.addr: not a regular file"
[ $(($(now_ms) - t0)) -lt 5000 ] || fail "a FIFO in the registry was not refused at once"
rm -f "$REG/node_7.addr"
ln -s /dev/zero "$REG/node_7.addr"
run 1 timeout 20 "$BENCHFS" --registry "$REG" --timeout 10 ls /
expect_err "node_7.addr: is a symbolic link"
rm -f "$REG/node_7.addr"

# A server starting under a node id whose file is a FIFO replaces it.
R2=$T/reg2
mkdir -p "$R2"
mkfifo "$R2/node_0.addr"
"$BENCHFSD" -n node_0 -d "$T/fifo-data" -r "$R2" >"$T/fifo.log" 2>&1 &
FP=$!
for _ in $(seq 200); do
    grep -q "ready:" "$T/fifo.log" && break
    kill -0 "$FP" 2>/dev/null || break
    nap 0.05
done
grep -q "ready:" "$T/fifo.log" || fail "benchfsd under a FIFO node id: $(cat "$T/fifo.log")"
[ -f "$R2/node_0.addr" ] && [ ! -p "$R2/node_0.addr" ] || fail "FIFO not replaced"
kill -TERM "$FP"
wait "$FP"

# ------------------------------- restart right after SIGKILL (zombie)
# A parent that does not reap: the killed server stays a zombie while a new
# one starts under the same node id.
cat >"$T/zombie.py" <<'EOF'
import os, signal, subprocess, sys, time
daemon, reg, data = sys.argv[1:4]
def start(tag):
    log = open(f"{data}-{tag}.log", "w")
    p = subprocess.Popen([daemon, "-n", "node_z", "-d", data, "-r", reg], stdout=log,
                         stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "ready:" in open(f"{data}-{tag}.log").read():
            return p
        if p.poll() is not None:
            break
        time.sleep(0.02)
    print(open(f"{data}-{tag}.log").read())
    sys.exit(f"server {tag} did not start")
first = start("a")
os.kill(first.pid, signal.SIGKILL)
while True:  # wait for the zombie state without reaping
    state = open(f"/proc/{first.pid}/stat").read().rsplit(")", 1)[1].split()[0]
    if state == "Z":
        break
    time.sleep(0.01)
second = start("b")
print("restarted while pid", first.pid, "was a zombie")
second.terminate()
second.wait()
first.wait()
EOF
mkdir -p "$T/reg3"
run 0 $PY "$T/zombie.py" "$BENCHFSD" "$T/reg3" "$T/zdata"
grep -q "restarted while pid" "$OUT" || fail "zombie restart: $(cat "$OUT" "$ERR")"

# ------------------------ a server restarted by hand, then cluster stop
P1=$(pid_of node_1)
kill -TERM "$P1"
while kill -0 "$P1" 2>/dev/null; do nap 0.02; done
"$BENCHFSD" -n node_1 -d "$DATA/node_1" -r "$REG" >"$T/hand.log" 2>&1 &
HAND=$!
for _ in $(seq 400); do
    grep -q "ready:" "$T/hand.log" && break
    kill -0 "$HAND" 2>/dev/null || break
    nap 0.05
done
run 0 "$BENCHFS" cluster status --registry "$REG"
grep -Eq "^node_1 +$HAND +running +yes" "$OUT" || fail "cluster status misses the hand-restarted node_1 (pid $HAND): $(cat "$OUT")"
expect_err "restarted by hand"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
    chmod 755 "$T" && chmod -R a+rX "$REG"
    setpriv --reuid=65534 --regid=65534 --clear-groups "$BENCHFS" cluster stop --registry "$REG" \
        >"$OUT" 2>"$ERR"
    rc=$?
    [ "$rc" -ne 0 ] || fail "cluster stop by another user exited 0"
    grep -q "stopped 3 servers" "$ERR" && fail "cluster stop by another user claims: $(cat "$ERR")"
    kill -0 "$HAND" || fail "another user's cluster stop stopped the server"
fi
run 0 "$BENCHFS" cluster stop --registry "$REG" --timeout 10
expect_err "stopped 3 servers"
wait "$HAND"
run 0 "$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA" --timeout 20 || exit 1

# ------------------------------- a server killed during `benchfs get`
# kill_during_get REGISTRY LIMIT_MS [VAR=VALUE...]: the get writes into a
# FIFO this script reads; after the first MiB it is blocked mid-transfer,
# node_1 dies, the rest is drained. The get must fail within LIMIT_MS
# naming node_1 as dead or lost, not as a timeout.
kill_during_get() {
    local reg=$1 limit=$2 pk rc el
    shift 2
    head -c $((64 << 20)) /dev/urandom >"$T/big"
    run 0 env "$@" "$BENCHFS" --registry "$reg" put "$T/big" /big
    pk=$(awk '$1 == "node" && $2 == "node_1" { print $3 }' "$reg/cluster.pids")
    kill_mid_get "$pk" "$T/pipe" env "$@" "$BENCHFS" --registry "$reg" get /big -
    rc=$GET_RC
    el=$GET_MS
    echo "node_1 killed during get ($*): exit $rc after $el ms: $(head -c 300 "$ERR")"
    [ "$rc" -eq 1 ] || fail "get from a killed server exited $rc ($*)"
    expect_err "node_1"
    expect_err "died|not running|connection to server node_1 .* lost"
    grep -q "timed out" "$ERR" && fail "a killed server reads as a timeout: $(cat "$ERR")"
    [ "$el" -lt "$limit" ] || fail "get from a killed server failed only after $el ms ($*)"
    rm -f "$T/big"
    # Exits 1: one server was already gone.
    "$BENCHFS" cluster stop --registry "$reg" --timeout 10 >/dev/null 2>&1
}
kill_during_get "$REG" 5000
run 0 "$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA" --timeout 20 || exit 1

# The default configuration (no UCX_TLS, no BENCHFS_PEER_FAILURE): `cluster
# start` servers publish peer_failure=0, clients follow (shared memory) and
# watch the servers' pids. A client forcing the other mode fails at once
# with an error naming the setting (UCX 1.13 cannot join the two modes), and
# the servers keep serving.
R4=$T/reg4
mkdir -p "$R4"
run 0 env -u UCX_TLS -u BENCHFS_PEER_FAILURE "$BENCHFS" cluster start -n 2 --registry "$R4" \
    --data-dir "$T/data4" --timeout 20 || exit 1
grep -q "^peer_failure=0$" "$R4/node_0.addr" || fail "cluster start servers do not default to shared memory"
T0=$(now_ms)
run 1 env -u UCX_TLS BENCHFS_PEER_FAILURE=1 "$BENCHFS" --registry "$R4" ls /
[ $(($(now_ms) - T0)) -lt 5000 ] || fail "a client forcing the other error mode took $(($(now_ms) - T0)) ms to fail"
expect_err "takes only endpoints without UCX peer-failure handling .*BENCHFS_PEER_FAILURE=1"
run 0 env -u UCX_TLS -u BENCHFS_PEER_FAILURE "$BENCHFS" --registry "$R4" ping
kill_during_get "$R4" 3000 -u UCX_TLS -u BENCHFS_PEER_FAILURE

# --------------------------------- a dead server fails discovery fast
P2=$(pid_of node_2)
kill -KILL "$P2"
while kill -0 "$P2" 2>/dev/null && ! grep -q '^Z' <(awk '{ s = $0; sub(/.*\) /, "", s); print s }' "/proc/$P2/stat" 2>/dev/null); do
    nap 0.02
done
t0=$(now_ms)
run 1 "$BENCHFS" --registry "$REG" --timeout 30 ls /
el=$(($(now_ms) - t0))
expect_err "node_2"
expect_err "not running"
[ "$el" -lt 5000 ] || fail "discovery with a dead server took $el ms (timeout 30 s)"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS failure(s)"
    exit 1
fi
echo "ok"
exit 0
