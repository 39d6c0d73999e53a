#!/usr/bin/env bash
# profile.sh - where the time goes, in counts that do not depend on load:
# requests per operation and instructions per operation (callgrind) of the
# client library and of benchfsd, for the IO500-shaped workloads.
#
#   bash bench/profile.sh BUILD_DIR OUT_DIR
#
# 1. RPCs per operation: benchfs-bench ior (mdtest mode with a read-data
#    phase, fpp 1 MiB, shared 47008 B) against 1 server, from the servers'
#    request counters around each phase (`*_rpcs_per_op` in rpcs.tsv).
# 2. Instructions: one benchfsd under `valgrind --tool=callgrind`, spin
#    budgets 0 on both sides (so that waiting costs no instructions and the
#    counts are work only), and each client workload under callgrind too;
#    the server's counters are dumped after each workload
#    (callgrind_control -d). bench/cg_ops.py then gives, per public API call
#    (benchfs_open, _pwrite, _pread, _close, _stat, _unlink) and per server
#    handler (server_op_*), calls and instructions per call; and the total
#    server instructions per request of each workload.
# Output in OUT_DIR: profile.md (tables), rpcs.tsv, cg/ (callgrind files: open
# them with callgrind_annotate or kcachegrind for the call trees).
# Knobs: BENCH_PROFILE_FILES (files per mdtest phase, 1000),
# BENCH_TMPFS_DIR (/dev/shm). Needs valgrind; a run takes 1-3 minutes.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "profile.sh: no build dir '${1:-build}'" >&2; exit 2; }
OUT=${2:-}
[ -n "$OUT" ] || { echo "usage: bash bench/profile.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT/cg" "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)
BIN=$BUILD/bin
N=${BENCH_PROFILE_FILES:-1000}
TMPFS_DIR=${BENCH_TMPFS_DIR:-/dev/shm}
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is not installed" >&2; exit 2; }
export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0
BASE=$(mktemp -d "$TMPFS_DIR/benchfs-profile.XXXXXX") || exit 1
LOCAL=$BASE/local
mkdir -p "$LOCAL"
REG=""
SPID=""
cleanup() {
    [ -n "$REG" ] && "$BIN/benchfs" cluster stop --registry "$REG" >/dev/null 2>&1
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[profile %4ds] %s\n' $((SECONDS)) "$*"; }

WORKLOADS=(
    "mdtest|ior --mode mdtest --files $N --data-files $N --file-size 3901"
    "fpp|ior --mode fpp --transfer 1m --block 64m"
    "shared|ior --mode shared --transfer 47008 --block 47008 --segments 1000"
)

# 1. requests per operation, at full speed
REG=$BASE/reg1
"$BIN/benchfs" cluster start -n 1 --registry "$REG" --data-dir "$BASE/data1" -l warn >"$OUT/logs/cluster.log" 2>&1 ||
    { log "FAILED: cluster start"; exit 1; }
: >"$OUT/rpcs.tsv"
for w in "${WORKLOADS[@]}"; do
    # shellcheck disable=SC2086
    "$BIN/benchfs-bench" ${w#*|} --registry "$REG" --tsv "$OUT/rpcs.tsv" --label "${w%%|*}" \
        >"$OUT/logs/rpcs-${w%%|*}.log" 2>&1 || log "FAILED: ${w%%|*} (logs/rpcs-${w%%|*}.log)"
done
"$BIN/benchfs" cluster stop --registry "$REG" >>"$OUT/logs/cluster.log" 2>&1
REG=""

# 2. callgrind: one server, dumped after each client workload
export BENCHFS_SPIN_US=0 BENCHFS_DATA_SPIN_US=0
mkdir -p "$BASE/reg2" "$BASE/data2"
valgrind --tool=callgrind --callgrind-out-file="$OUT/cg/server.out" \
    "$BIN/benchfsd" -n node_0 -d "$BASE/data2" -r "$BASE/reg2" -l warn --set network.spin_us=0 \
    >"$OUT/logs/server.log" 2>&1 &
SPID=$!
for i in $(seq 600); do
    [ -s "$BASE/reg2/node_0.addr" ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
done
[ -s "$BASE/reg2/node_0.addr" ] || { log "FAILED: benchfsd under callgrind did not start (logs/server.log)"; exit 1; }
callgrind_control -z "$SPID" >/dev/null 2>&1
for w in "${WORKLOADS[@]}"; do
    name=${w%%|*}
    log "callgrind: $name"
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg/client-$name.%p" \
        "$BIN/benchfs-bench" ${w#*|} --registry "$BASE/reg2" --expected-servers 1 --timeout 120 \
        >"$OUT/logs/cg-$name.log" 2>&1 || log "FAILED: $name under callgrind (logs/cg-$name.log)"
    callgrind_control --dump="$name" "$SPID" >/dev/null 2>&1
done
kill -INT "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
SPID=""

# 3. tables
API='^benchfs_(open|close|pwrite|write|pread|read|stat|unlink)$'
SRV='^server_op_'
{
    echo "## Where the time goes: counts (bench/profile.sh, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "1 server + 1 client, shm, tmpfs; $N files per mdtest phase. Requests per operation from the"
    echo "server's counters (full speed); instructions from callgrind with spin budgets 0 (work only)."
    echo
    echo "| workload | phase | requests per op (file or transfer) |"
    echo "|---|---|---|"
    awk -F'\t' '$4 == "benchfs" && $5 ~ /_rpcs_per_op$/ { p = $5; sub(/_rpcs_per_op$/, "", p); printf "| %s | %s | %.2f |\n", $1, p, $6 }' "$OUT/rpcs.tsv"
    echo
    echo "Client library, instructions per call (inclusive; the worker process of each workload):"
    echo
    echo "| workload | function | calls | instructions per call |"
    echo "|---|---|---|---|"
    for w in "${WORKLOADS[@]}"; do
        name=${w%%|*}
        # the worker is the file with the most instructions (the coordinator forks and waits)
        f=$(for c in "$OUT"/cg/client-"$name".*; do
            printf '%s %s\n' "$(/usr/bin/python3 "$ROOT/bench/cg_ops.py" "$c" '^$' | awk '{ print $2 }')" "$c"
        done | sort -n | tail -1 | cut -d' ' -f2)
        [ -n "$f" ] || continue
        /usr/bin/python3 "$ROOT/bench/cg_ops.py" "$f" "$API" | awk -F'\t' -v w="$name" \
            'NR > 1 { printf "| %s | %s | %d | %d |\n", w, $1, $2, $4 }'
    done
    echo
    echo "Server (benchfsd), per workload: handlers' instructions per call, and all server"
    echo "instructions of the workload (event loop, UCX, storage) per request:"
    echo
    echo "| workload | handler | calls | instructions per call |"
    echo "|---|---|---|---|"
    for w in "${WORKLOADS[@]}"; do
        name=${w%%|*}
        f=$(ls "$OUT"/cg/server.out.* 2>/dev/null | while read -r c; do
            grep -q "^desc: Trigger: .*$name" "$c" && echo "$c"; done | head -1)
        [ -n "$f" ] || continue
        /usr/bin/python3 "$ROOT/bench/cg_ops.py" "$f" "$SRV" | awk -F'\t' -v w="$name" \
            'NR == 1 { tot = $2; next } { printf "| %s | %s | %d | %d |\n", w, $1, $2, $4; n += $2 }
             END { if (n) printf "| %s | **all server instructions / requests** | %d | %d |\n", w, n, tot / n }'
    done
} >"$OUT/profile.md"
cat "$OUT/profile.md"
