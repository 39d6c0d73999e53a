# tests/lib/common.sh - what the shell tests share. Source it after `set -u`:
#
#   . "$(dirname "$0")/../lib/common.sh"
#   bfs_setup "$1"     # $BENCHFS (absolute) and $BIN_DIR; exit 77 without
#                      # benchfsd next to it; BENCHFS_REGISTRY unset
#
# fail MSG              print "FAIL: MSG" and count it in $FAILS
# proc_info PID         "state start_time" from /proc/PID/stat, empty when gone
# recorded_alive P:S    pid P with start time S still runs (not a zombie, not
#                       a reused pid)
# run RC CMD...         run CMD with stdout in $OUT and stderr in $ERR; a
#                       failure (counted) unless it exits RC; returns 0/1
# expect_err / expect_out PATTERN   $ERR / $OUT matches (grep -E)
# now_ms                milliseconds since the epoch
# nap SECONDS           a bounded pause inside a wait loop (no sleep process)
# log_tails N FILE...   the last N lines of each existing FILE, headed
# kill_mid_get PID FIFO CMD...   run CMD (a `benchfs get ... -`) into a new
#                       FIFO, SIGKILL PID after its first MiB, drain the
#                       rest; GET_RC = CMD's exit status, GET_MS = ms from
#                       the kill to its end; stderr in $ERR. CMD reads
#                       over RPCs (BENCHFS_DIRECT=0): directly it would read
#                       the dead server's chunk files and succeed.

FAILS=${FAILS:-0}

bfs_setup() {
    BIN_DIR=$(cd "$(dirname "${1:?bfs_setup: the benchfs binary}")" && pwd)
    BENCHFS=$BIN_DIR/$(basename "$1")
    if [ ! -x "$BIN_DIR/benchfsd" ]; then
        echo "SKIP: $BIN_DIR/benchfsd is not built"
        exit 77
    fi
    unset BENCHFS_REGISTRY
}

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

proc_info() {
    [ -r "/proc/$1/stat" ] || return 0
    awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[1], f[20] }' \
        "/proc/$1/stat" 2>/dev/null || true
}

recorded_alive() {
    local pid=${1%%:*} start=${1##*:} info
    info=$(proc_info "$pid")
    [ -n "$info" ] || return 1
    set -- $info
    [ "$2" = "$start" ] && [ "$1" != Z ] && [ "$1" != X ]
}

run() {
    local want=$1 got
    shift
    "$@" >"$OUT" 2>"$ERR"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "'$*' exited $got, expected $want; stderr: $(head -c 600 "$ERR")"
        return 1
    fi
    return 0
}

expect_err() {
    grep -Eq -- "$1" "$ERR" || fail "stderr lacks /$1/: $(head -c 600 "$ERR")"
}

expect_out() {
    grep -Eq -- "$1" "$OUT" || fail "stdout lacks /$1/: $(head -c 600 "$OUT")"
}

now_ms() {
    date +%s%3N
}

nap() {
    read -r -t "$1" <> <(:) || true
}

log_tails() {
    local n=$1 log
    shift
    for log in "$@"; do
        [ -f "$log" ] || continue
        echo "--- $log (last $n lines)"
        tail -n "$n" "$log"
    done
}

kill_mid_get() {
    local pid=$1 fifo=$2 get t0
    shift 2
    rm -f "$fifo"
    mkfifo "$fifo"
    BENCHFS_DIRECT=0 "$@" >"$fifo" 2>"$ERR" &
    get=$!
    exec 3<"$fifo"
    head -c $((1 << 20)) <&3 >/dev/null
    t0=$(now_ms)
    kill -KILL "$pid"
    cat <&3 >/dev/null
    exec 3<&-
    wait "$get"
    GET_RC=$?
    GET_MS=$(($(now_ms) - t0))
    rm -f "$fifo"
}
