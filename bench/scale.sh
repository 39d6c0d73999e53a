#!/usr/bin/env bash
# scale.sh - connection storm simulated on one machine: S servers and C client
# processes that all connect, create, stat and remove one file at once.
#
#   bash bench/scale.sh BUILD_DIR OUT_DIR      (run_all.sh calls it)
#
# 1. calibrates: 2 idle benchfsd (RSS of one) and 4 clients against them
#    (one client's RSS, server RSS per client);
# 2. checks that S idle servers + C clients fit in half of MemAvailable with
#    margin (60 %, figures doubled); if not, halves C, then S, and says so;
# 3. starts S servers (`benchfs cluster start -n S`; idle servers sleep in
#    epoll_wait and use no CPU), runs `benchfs-bench scale --clients C`, which
#    reports: clients that succeeded, time until every client was connected,
#    server RSS per connected client, sockets per server, one client's RSS;
# 4. counts what one client reads from the registry at connect (strace of
#    `benchfs ls /`: opens of .addr files, directory reads);
# 5. stops the servers by the pids `benchfs cluster` recorded.
# Output: OUT_DIR/scale.tsv, scale.json, scale.md, logs/scale-*.log.
# Knobs: BENCH_SCALE_SERVERS (64), BENCH_SCALE_CLIENTS (256),
# BENCH_SCALE_TRANSPORT (tcp: UCX_TLS=tcp,self on loopback, what a cluster
# uses between nodes; shm: UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0),
# BENCH_TMPFS_DIR (/dev/shm), BENCH_STEP_TIMEOUT (300). The clients keep the
# library's 30 s RPC deadline (so a storm that starves shows as ETIMEDOUT);
# BENCHFS_RPC_TIMEOUT_MS=200000 (with BENCH_STEP_TIMEOUT=400) lets them wait.
set -uo pipefail

BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "scale.sh: no build dir '${1:-build}'" >&2; exit 2; }
OUT=${2:-}
[ -n "$OUT" ] || { echo "usage: bash bench/scale.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)
CLI=$BUILD/bin/benchfs
BENCH=$BUILD/bin/benchfs-bench
S=${BENCH_SCALE_SERVERS:-64}
C=${BENCH_SCALE_CLIENTS:-256}
TR=${BENCH_SCALE_TRANSPORT:-tcp}
TMPFS_DIR=${BENCH_TMPFS_DIR:-/dev/shm}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-300}
REGS=()
BASES=()

cleanup() {
    local r d
    for r in "${REGS[@]}"; do "$CLI" cluster stop --registry "$r" >/dev/null 2>&1; done
    for d in "${BASES[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'echo "scale.sh: interrupted" >&2; exit 130' INT TERM
log() { printf '[scale %4ds] %s\n' $((SECONDS)) "$*"; }

case $TR in
tcp) export UCX_TLS=tcp,self UCX_NET_DEVICES=lo; unset BENCHFS_PEER_FAILURE ;;
shm) export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0; unset UCX_NET_DEVICES ;;
*) echo "scale.sh: BENCH_SCALE_TRANSPORT must be tcp or shm" >&2; exit 2 ;;
esac

# start N: a cluster of N servers; sets BASE, REG.
start() {
    BASE=$(mktemp -d "$TMPFS_DIR/benchfs-scale.XXXXXX") || return 1
    BASES+=("$BASE")
    REG=$BASE/reg
    if ! timeout -k 5 "$STEP_TIMEOUT" "$CLI" cluster start -n "$1" --registry "$REG" \
        --data-dir "$BASE/data" -l warn >>"$OUT/logs/scale-clusters.log" 2>&1; then
        log "FAILED: cluster start -n $1 (logs/scale-clusters.log)"
        return 1
    fi
    REGS+=("$REG")
}
stop() {
    "$CLI" cluster stop --registry "$REG" >>"$OUT/logs/scale-clusters.log" 2>&1
    rm -rf "$BASE"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# 1. calibration: 2 idle servers, then 4 clients against them
start 2 || exit 1
pid=$(awk '$1 == "node" { print $3; exit }' "$REG/cluster.pids")
IDLE_KIB=$(rss_kib "$pid")
timeout -k 5 "$STEP_TIMEOUT" "$BENCH" scale --registry "$REG" --clients 4 --timeout 60 \
    --tsv "$OUT/logs/scale-calib.tsv" >"$OUT/logs/scale-calib.log" 2>&1
CLIENT_KIB=$(awk -F'\t' '$5 == "client_rss_kib" { printf "%d", $6 }' "$OUT/logs/scale-calib.tsv" 2>/dev/null)
PER_KIB=$(awk -F'\t' '$5 == "server_rss_kib_per_client" { printf "%d", $6 < 0 ? 0 : $6 }' "$OUT/logs/scale-calib.tsv" 2>/dev/null)
stop
[ -n "$IDLE_KIB" ] && [ -n "$CLIENT_KIB" ] || { log "FAILED: calibration (logs/scale-calib.log)"; exit 1; }
log "calibration ($TR): idle benchfsd RSS $IDLE_KIB KiB, one client $CLIENT_KIB KiB, ~${PER_KIB:-0} KiB per client per server"

# 2. fit into 60 % of MemAvailable (clients and connections counted at 2x the calibration)
AVAIL_KIB=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
need() { echo $(($1 * IDLE_KIB + $2 * 2 * CLIENT_KIB + $1 * $2 * 2 * ${PER_KIB:-0})); }
ASKED="$S servers + $C clients"
while [ "$(need "$S" "$C")" -gt $((AVAIL_KIB * 6 / 10)) ] && [ "$C" -gt 8 ]; do C=$((C / 2)); done
while [ "$(need "$S" "$C")" -gt $((AVAIL_KIB * 6 / 10)) ] && [ "$S" -gt 4 ]; do S=$((S / 2)); done
NOTE=""
[ "$ASKED" != "$S servers + $C clients" ] &&
    NOTE="reduced from $ASKED to fit 60 % of MemAvailable ($((AVAIL_KIB / 1024)) MiB)"
log "running $S servers + $C clients ${NOTE:+($NOTE)}; estimate $(($(need "$S" "$C") / 1024)) MiB"

# 3. the storm
t0=$(date +%s.%N)
start "$S" || exit 1
t1=$(date +%s.%N)
STARTUP=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "$S servers up in $STARTUP s; load $(cut -d' ' -f1 /proc/loadavg)"
RC=0
timeout -k 5 "$STEP_TIMEOUT" "$BENCH" scale --registry "$REG" --clients "$C" --timeout 120 \
    --tsv "$OUT/scale.tsv" --label "$TR:${S}s:${C}c" --json "$OUT/scale.json" \
    >"$OUT/logs/scale-run.log" 2>&1 || RC=1
sed 's/^/    /' "$OUT/logs/scale-run.log" | grep -v '^    benchfs-bench scale: client' | head -20
ERRS=$(grep -c '^benchfs-bench scale: client' "$OUT/logs/scale-run.log")
[ "$ERRS" -gt 0 ] && log "$ERRS client error lines in logs/scale-run.log"

# 4. what one client reads from the registry at connect
ADDR_OPENS="?"
DIR_READS="?"
if command -v strace >/dev/null; then
    strace -f -e trace=openat,getdents64 -o "$OUT/logs/scale-strace.log" \
        "$CLI" --registry "$REG" ls / >/dev/null 2>&1
    ADDR_OPENS=$(grep -c '\.addr"' "$OUT/logs/scale-strace.log")
    DIR_READS=$(grep -c 'getdents64(' "$OUT/logs/scale-strace.log")
fi
log "one client's connect: $ADDR_OPENS opens of .addr files, $DIR_READS getdents64 calls ($S servers)"
stop

# 5. report
{
    tv() { awk -F'\t' -v m="$1" '$5 == m { v = $6 } END { print v }' "$OUT/scale.tsv" 2>/dev/null; }
    echo "## Scale simulation ($S servers + $C client processes, $TR, one machine)"
    echo
    [ -n "$NOTE" ] && echo "Counts $NOTE." && echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| load average (1, 5, 15 min) at the end | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo "| RSS of one idle benchfsd | $((IDLE_KIB / 1024)) MiB ($IDLE_KIB KiB) |"
    echo "| $S servers started and registered | $STARTUP s |"
    echo "| clients that connected, created, stat'ed, removed | $(tv clients_ok) of $C |"
    echo "| time until every (successful) client was connected | $(printf '%.2f' "$(tv connect_all_s)") s (p50 $(printf '%.2f' "$(tv connect_p50_s)") s) |"
    echo "| time until every client had done its 3 operations | $(printf '%.2f' "$(tv done_all_s)") s |"
    [ -n "$(tv first_fail_s)" ] && echo "| failed clients gave up (first error: $(grep -m1 'first error' "$OUT/logs/scale-run.log" | sed 's/.*first error: //')) | between $(printf '%.2f' "$(tv first_fail_s)") s and $(printf '%.2f' "$(tv last_fail_s)") s |"
    echo "| server RSS, idle / with $C clients connected | $(awk -v a="$(tv server_idle_rss_kib)" -v b="$(tv server_rss_kib)" 'BEGIN { printf "%.1f / %.1f MiB", a / 1024, b / 1024 }') |"
    echo "| server RSS per connected client | $(awk -v a="$(tv server_rss_kib_per_client)" 'BEGIN { printf "%.1f KiB", a }') |"
    echo "| sockets added per server (= connections) | $(tv server_sockets_per_client_set) for $C clients |"
    echo "| one client: RSS, sockets | $(awk -v a="$(tv client_rss_kib)" 'BEGIN { printf "%.1f MiB", a / 1024 }'), $(tv client_sockets) |"
    echo "| registry files one client opens at connect | $ADDR_OPENS .addr (+ $DIR_READS getdents64) |"
} >"$OUT/scale.md"
cat "$OUT/scale.md"
exit $RC
