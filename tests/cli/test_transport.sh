#!/usr/bin/env bash
# tests/cli/test_transport.sh - the UCX error handling chosen per endpoint
# (docs/transports.md): the default configuration on one node is shared
# memory, and a dead peer is still noticed at once.
#
#   test_transport.sh <path to bin/benchfs>      (benchfsd must sit next to it)
#
# Two benchfsd started by hand with no UCX_TLS and no BENCHFS_PEER_FAILURE
# (as mpirun or Slurm start them) in a fresh mktemp -d, TCP limited to
# loopback (UCX_NET_DEVICES=lo). They publish peer_failure=auto and their
# host id. Then:
#   - a client with no settings connects over shared memory (its debug log
#     names the transports of each endpoint: sysv/posix, never tcp), and put
#     and get return the same bytes;
#   - a client forcing BENCHFS_PEER_FAILURE=1, and one limited to
#     UCX_TLS=tcp,self, connect with peer failure over TCP and work too;
#   - a client SIGKILLed while connected leaves the servers' client tables
#     (`benchfs status` CLIENTS) within a few seconds, whether the server
#     noticed by its pid (shared memory) or UCX reported it (TCP);
#   - a server SIGKILLed during a `get` fails the get within 3 s naming the
#     server as dead, with either kind of endpoint;
#   - last, writers SIGKILLed during their transfer leave both servers
#     running with their buffers back (a full put/get by a TCP client works
#     afterwards; a killed writer may leave a server deaf to same-host
#     clients, see below).
# Readiness is a log line or a file, never a fixed sleep; only the pids this
# script started are signalled. Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_transport.sh BENCHFS_BINARY}
. "$(cd "$(dirname "$0")" && pwd)/../lib/common.sh"
bfs_setup "$BENCHFS"
unset UCX_TLS BENCHFS_PEER_FAILURE BENCHFS_LOG
export UCX_NET_DEVICES=lo

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-transport.XXXXXX")
export BENCHFS_REGISTRY=$T/reg
OUT=$T/out
ERR=$T/err
SERVERS=() # pids
HOLDER=""

cleanup() {
    local rc=$? p
    [ -n "$HOLDER" ] && kill -KILL "$HOLDER" 2>/dev/null
    for p in "${SERVERS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${SERVERS[@]}"; do
        wait "$p" 2>/dev/null
    done
    [ "$FAILS" -ne 0 ] && log_tails 15 "$T"/node_*.log
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

# start_server N: node_N by hand, no transport settings; waits for "ready:".
start_server() {
    local id=node_$1 p
    mkdir -p "$T/data/$id"
    # Few I/O buffers: requests a dead client left behind must not keep them.
    "$BIN_DIR/benchfsd" -n "$id" -d "$T/data/$id" -r "$BENCHFS_REGISTRY" -l debug \
        --set storage.buffer_count=8 >"$T/$id.log" 2>&1 &
    p=$!
    SERVERS[$1]=$p
    for _ in $(seq 400); do
        grep -q "ready:" "$T/$id.log" && return 0
        kill -0 "$p" 2>/dev/null || break
        nap 0.05
    done
    fail "$id did not start: $(tail -5 "$T/$id.log")"
    exit 1
}

# clients_of NODE: the CLIENTS column of `benchfs status` (this query counts itself).
clients_of() {
    "$BENCHFS" status 2>/dev/null | awk -v n="$1" '$1 == n { print $NF }'
}

# wait_clients NODE WANT LIMIT_MS: until NODE counts WANT clients; 0 when it did.
wait_clients() {
    local t0 got
    t0=$(now_ms)
    while :; do
        got=$(clients_of "$1")
        [ "$got" = "$2" ] && return 0
        [ $(($(now_ms) - t0)) -lt "$3" ] || break
        nap 0.1
    done
    fail "$1 counts ${got:-no} clients after $3 ms, expected $2 ($4)"
    return 1
}

mkdir -p "$BENCHFS_REGISTRY"
start_server 0
start_server 1
for id in node_0 node_1; do
    grep -q "^peer_failure=auto$" "$BENCHFS_REGISTRY/$id.addr" ||
        fail "$id does not publish peer_failure=auto: $(grep peer_failure "$BENCHFS_REGISTRY/$id.addr")"
    grep -Eq "^host_id=[0-9a-f]{16}$" "$BENCHFS_REGISTRY/$id.addr" || fail "$id publishes no host_id"
done

# ---------------------------------------------------- default: shared memory
run 0 env BENCHFS_LOG=debug "$BENCHFS" ping
for id in node_0 node_1; do
    grep -Eq "endpoint to $id created \(no error handling, over [^)]*(sysv|posix)" "$ERR" ||
        fail "default client to $id not over shared memory: $(grep "endpoint to $id" "$ERR")"
done
grep "endpoint to node_" "$ERR" | grep -q "tcp" && fail "default client uses tcp: $(grep "endpoint to" "$ERR")"
head -c $((24 << 20)) /dev/urandom >"$T/src"
run 0 "$BENCHFS" put "$T/src" /a
run 0 "$BENCHFS" get /a "$T/back"
cmp -s "$T/src" "$T/back" || fail "default client: get returned other bytes"
# The servers' endpoints back follow the client's HELLO.
grep -q "endpoint to client created (no error handling, over .*\(sysv\|posix\)" "$T/node_0.log" ||
    fail "node_0 did not connect back over shared memory"

# ----------------------------------- mixed: clients that want peer failure
run 0 env BENCHFS_LOG=debug BENCHFS_PEER_FAILURE=1 "$BENCHFS" ping
grep -q "endpoint to node_0 created (peer failure, over tcp" "$ERR" ||
    fail "BENCHFS_PEER_FAILURE=1 client: $(grep "endpoint to node_0" "$ERR")"
run 0 env BENCHFS_PEER_FAILURE=1 "$BENCHFS" get /a "$T/back2"
cmp -s "$T/src" "$T/back2" || fail "BENCHFS_PEER_FAILURE=1 client: get returned other bytes"
run 0 env BENCHFS_LOG=debug UCX_TLS=tcp,self "$BENCHFS" ping
grep -q "endpoint to node_0 created (peer failure, over tcp" "$ERR" ||
    fail "UCX_TLS=tcp,self client: $(grep "endpoint to node_0" "$ERR")"
run 0 env UCX_TLS=tcp,self "$BENCHFS" put "$T/src" /b
run 0 env BENCHFS_PEER_FAILURE=0 "$BENCHFS" get /b "$T/back3"
cmp -s "$T/src" "$T/back3" || fail "a file put over TCP reads back other bytes over shared memory"

# --------------------------- a killed client leaves the servers' client table
# killed_client LIMIT_MS [VAR=VALUE...]: a `get` blocked on a FIFO holds its
# connections to both servers; it is SIGKILLed; both must forget it.
killed_client() {
    local limit=$1 id
    shift
    rm -f "$T/pipe"
    mkfifo "$T/pipe"
    env "$@" "$BENCHFS" get /a - >"$T/pipe" 2>/dev/null &
    HOLDER=$!
    exec 3<"$T/pipe"
    head -c 4096 <&3 >/dev/null # connected, and blocked writing into the FIFO
    for id in node_0 node_1; do
        wait_clients $id 2 5000 "while a client is connected ($*)"
    done
    kill -KILL "$HOLDER"
    wait "$HOLDER" 2>/dev/null
    HOLDER=""
    exec 3<&-
    for id in node_0 node_1; do
        wait_clients $id 1 "$limit" "after SIGKILL of the client ($*)"
    done
}
# Earlier clients exited: by now every server has dropped them too.
for id in node_0 node_1; do
    wait_clients $id 1 5000 "after the earlier clients exited"
done
killed_client 5000
grep -q "client pid [0-9]* (this host) is gone" "$T/node_0.log" ||
    fail "node_0 did not notice a dead local client by its pid"
killed_client 5000 BENCHFS_PEER_FAILURE=1

# ------------------------------------- a server killed during `benchfs get`
# kill_during_get NODE_INDEX [VAR=VALUE...]: as in test_robust_cli.sh.
kill_during_get() {
    local n=$1 rc el
    shift
    head -c $((48 << 20)) /dev/urandom >"$T/big"
    run 0 env "$@" "$BENCHFS" put "$T/big" /big
    kill_mid_get "${SERVERS[$n]}" "$T/pipe" env "$@" "$BENCHFS" get /big -
    rc=$GET_RC
    el=$GET_MS
    { wait "${SERVERS[$n]}"; } 2>/dev/null
    echo "node_$n killed during get ($*): exit $rc after $el ms: $(head -c 300 "$ERR")"
    [ "$rc" -eq 1 ] || fail "get from a killed server exited $rc ($*)"
    # With peer-failure handling UCX can report the reset while the killed
    # process is still exiting (its pid alive for a few ms); the client
    # waits for the pid before it words the error, so either way it says
    # the server died or its connection was lost, never a bare timeout.
    grep -Eq "node_$n.*(died|not running|lost)" "$ERR" || fail "the error does not name node_$n as dead: $(cat "$ERR")"
    grep -q "timed out" "$ERR" && fail "a killed server reads as a timeout: $(cat "$ERR")"
    [ "$el" -lt 3000 ] || fail "get from a killed server failed only after $el ms ($*)"
}
kill_during_get 1
start_server 1
kill_during_get 1 BENCHFS_PEER_FAILURE=1
start_server 1

# ------------------------- writers killed mid-transfer over shared memory
# Last: a writer killed while a server takes its data must not take the
# server down (UCX aborts a process without peer-failure handling when a
# cross-memory-attach copy from a dead peer fails: BenchFS leaves cma out),
# nor keep its buffers (the server gives up what the dead client left in
# transfer). A writer killed in the middle of a message into the server's
# shared-memory queue can leave that queue blocked for good (UCX 1.13; in
# about one run of three under ASan here), so the servers' same-host clients
# may no longer be heard (docs/transports.md, "A killed peer can block a
# shared-memory queue"): the checks afterwards use peer-failure clients
# (TCP), which that queue does not carry. With 8 I/O buffers, leaked ones
# would make their full put/get time out.
head -c $((192 << 20)) /dev/urandom >"$T/w"
for i in $(seq 12); do
    "$BENCHFS" put -q "$T/w" /w 2>/dev/null &
    w=$!
    nap "0.$((RANDOM % 30 + 3))"
    kill -KILL "$w" 2>/dev/null
    { wait "$w"; } 2>/dev/null
done
for n in 0 1; do
    kill -0 "${SERVERS[$n]}" 2>/dev/null || fail "node_$n died after writers were killed"
done
export BENCHFS_PEER_FAILURE=1
"$BENCHFS" rm -f /w 2>/dev/null
for id in node_0 node_1; do
    wait_clients $id 1 5000 "after killed writers"
done
run 0 timeout 60 "$BENCHFS" put "$T/w" /after
run 0 timeout 60 "$BENCHFS" get /after "$T/back4"
cmp -s "$T/w" "$T/back4" || fail "put/get after killed writers returned other bytes"
echo "after 12 killed writers: $(grep -ho "[0-9]* request(s) it left in transfer" "$T"/node_*.log |
    awk '{ n += $1 } END { print n + 0 }') requests given up"
unset BENCHFS_PEER_FAILURE

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS failure(s)"
    exit 1
fi
echo "ok"
exit 0
