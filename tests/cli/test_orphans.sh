#!/usr/bin/env bash
# tests/cli/test_orphans.sh - unlinked open files of dead clients are
# reclaimed, those of live clients are not (issue 11; docs/semantics.md).
#
#   test_orphans.sh <path to bin/benchfs> <path to orphan_holder>
#
# Against a private 3-server cluster (`benchfs cluster start` in a fresh
# mktemp -d, 64 KiB chunks), with tests/cli/orphan_holder.c as the client:
#   1. a holder writes 1 MiB (chunks on every server), unlinks the file while
#      open, says "ready": fsck lists its orphan record with a live holder;
#      the holder is SIGKILLed: its owner drops the record by itself (the
#      holder's pid is gone) -- fsck lists no record any more -- and
#      `fsck --repair` frees the chunks left on the other servers: every
#      server's chunk usage is back to what it was before;
#   2. a live holder: `fsck --repair` and `--repair-unknown` leave its record
#      and data alone (the record stays listed, live), the holder then reads all its bytes back
#      correctly and frees everything at its close (usage back again), and a
#      last fsck is clean.
# Readiness: `cluster start`'s own wait, the holder's "ready" line, and a
# polled fsck with a deadline; never a fixed sleep. Only pids this test
# started are signalled. Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_orphans.sh BENCHFS_BINARY ORPHAN_HOLDER}
HOLDER=${2:?usage: test_orphans.sh BENCHFS_BINARY ORPHAN_HOLDER}
BIN_DIR=$(cd "$(dirname "$BENCHFS")" && pwd)
BENCHFS=$BIN_DIR/$(basename "$BENCHFS")
if [ ! -x "$BIN_DIR/benchfsd" ] || [ ! -x "$HOLDER" ]; then
    echo "SKIP: benchfsd or orphan_holder is not built"
    exit 77
fi
unset BENCHFS_REGISTRY
export BENCHFS_CHUNK_SIZE=65536 # 1 MiB = 16 chunks, on every server

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-orphans.XXXXXX")
FAILS=0
HOLDER_PID=""
REG=$T/reg
DATA=$T/data

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

cleanup() {
    local rc=$? log
    exec 7>&- 2>/dev/null
    if [ -n "$HOLDER_PID" ]; then
        kill -KILL "$HOLDER_PID" 2>/dev/null
        wait "$HOLDER_PID" 2>/dev/null
    fi
    [ -f "$REG/cluster.pids" ] && "$BENCHFS" cluster stop --registry "$REG" --timeout 10 >/dev/null 2>&1
    if [ "$FAILS" -ne 0 ]; then
        for log in "$DATA"/logs/*.log "$DATA"/*/logs/*.log "$T"/holder*.err; do
            [ -f "$log" ] || continue
            echo "--- $log (last 15 lines)"
            tail -n 15 "$log"
        done
    fi
    rm -rf "$T"
    [ "$FAILS" -ne 0 ] && rc=1
    exit $rc
}
trap cleanup EXIT

bfs() { "$BENCHFS" --registry "$REG" "$@"; }

# Bytes of chunk files under one directory (allocated blocks).
chunk_bytes() {
    find "$1" -path '*/chunks/*' -type f -printf '%b\n' 2>/dev/null |
        awk '{ s += $1 * 512 } END { print s + 0 }'
}

# Chunk usage of every server, one "node=bytes" word each.
usage_all() {
    local d out=""
    for d in "$DATA"/node_*; do
        out="$out $(basename "$d")=$(chunk_bytes "$d")"
    done
    echo "$out"
}

# start_holder NAME PATH SEED: run orphan_holder, its stdin a FIFO on fd 7,
# and wait (bounded) for its "ready".
start_holder() {
    rm -f "$T/in"
    mkfifo "$T/in"
    "$HOLDER" "$REG" "$2" $((1 << 20)) "$3" <"$T/in" >"$T/$1.out" 2>"$T/$1.err" &
    HOLDER_PID=$!
    exec 7>"$T/in"
    for _ in $(seq 1 3000); do
        grep -q '^ready$' "$T/$1.out" 2>/dev/null && return 0
        kill -0 "$HOLDER_PID" 2>/dev/null || break
        read -r -t 0.01 <>"$T/in.wait" 2>/dev/null # a bounded 10 ms pause
    done
    fail "holder $1 not ready: $(cat "$T/$1.err")"
    exit 1
}

mkfifo "$T/in.wait" # never written: read -t on it is a pause, not a sleep loop

mkdir -p "$REG"
"$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA" \
    --set storage.chunk_size=65536 >/dev/null || {
    fail "cluster start"
    exit 1
}
[ -d "$DATA/node_0" ] && [ -d "$DATA/node_2" ] || {
    fail "no per-node data dirs under $DATA: $(ls "$DATA")"
    exit 1
}
before=$(usage_all)

# ------------------------------------------------ 1. the holder dies
start_holder dead /dead 1
during=$(usage_all)
for w in $during; do
    [ "${w#*=}" -gt 0 ] || fail "no chunks on ${w%%=*} while the holder writes: $during"
done
bfs fsck >"$T/fsck1" 2>&1
grep -q "^orphan record: inode .* holder pid $HOLDER_PID (this host, .*) live" "$T/fsck1" ||
    fail "fsck does not list the live holder's orphan record: $(cat "$T/fsck1")"
grep -q "orphan records: 1 (1 live, 0 gone, 0 unknown)" "$T/fsck1" ||
    fail "fsck summary of orphan records: $(cat "$T/fsck1")"
kill -KILL "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
dead=$HOLDER_PID
HOLDER_PID=""
exec 7>&-
# The owner checks the pids of same-host holders once a second: wait for
# the record to go (fsck's own repair would also take it; list only here).
gone=0
for _ in $(seq 1 300); do
    bfs fsck >"$T/fsck2" 2>&1
    if ! grep -q "^orphan record:" "$T/fsck2"; then
        gone=1
        break
    fi
    read -r -t 0.1 <>"$T/in.wait" 2>/dev/null
done
[ "$gone" -eq 1 ] || fail "the dead holder's orphan record stays: $(cat "$T/fsck2")"
grep -q "orphan records: 0 " "$T/fsck2" || fail "fsck summary after the holder died: $(cat "$T/fsck2")"
# (grep reads the files itself: `cat | grep -q` fails under pipefail when
# grep stops early and cat gets SIGPIPE.)
grep -q "orphan inode .* freed: its holder (pid $dead) is gone" "$DATA"/logs/*.log ||
    fail "no server logged freeing the dead holder's orphan (pid $dead)"
# Its chunks on the other servers belong to no inode now.
grep -q "^orphan: inode" "$T/fsck2" || fail "fsck lists no chunks left by the dead holder: $(cat "$T/fsck2")"
bfs fsck --repair >"$T/fsck3" 2>&1 || fail "fsck --repair: $(cat "$T/fsck3")"
grep -q "(freed)" "$T/fsck3" || fail "fsck --repair freed nothing: $(cat "$T/fsck3")"
after=$(usage_all)
[ "$after" = "$before" ] || fail "chunk usage not back after the dead holder: $before -> $during -> $after"
bfs fsck >"$T/fsck4" 2>&1 || fail "fsck after the repair: $(cat "$T/fsck4")"
grep -q "orphans: 0 chunk sets" "$T/fsck4" || fail "orphans left after repair: $(cat "$T/fsck4")"

# ------------------------------------------------ 2. the holder lives
before=$(usage_all)
start_holder live /live 2
during=$(usage_all)
bfs fsck --repair >"$T/fsck5" 2>&1 || fail "fsck --repair with a live holder: $(cat "$T/fsck5")"
grep -q "^orphan record: inode .* holder pid $HOLDER_PID (this host, .*) live$" "$T/fsck5" ||
    fail "fsck --repair does not report the live holder's record: $(cat "$T/fsck5")"
grep -q "orphan records: 1 (1 live, 0 gone, 0 unknown); freed 0" "$T/fsck5" ||
    fail "fsck --repair touched a live holder's record: $(cat "$T/fsck5")"
grep -q "(freed)" "$T/fsck5" && fail "fsck --repair freed something of a live holder: $(cat "$T/fsck5")"
[ "$(usage_all)" = "$during" ] || fail "fsck --repair changed chunks of a live holder: $during -> $(usage_all)"
# Even --repair-unknown (no holder elsewhere runs) leaves a live one alone.
bfs fsck --repair-unknown >"$T/fsck5u" 2>&1 || fail "fsck --repair-unknown with a live holder: $(cat "$T/fsck5u")"
grep -q "orphan records: 1 (1 live, 0 gone, 0 unknown); freed 0" "$T/fsck5u" ||
    fail "fsck --repair-unknown touched a live holder's record: $(cat "$T/fsck5u")"
[ "$(usage_all)" = "$during" ] || fail "fsck --repair-unknown changed chunks of a live holder"
echo go >&7
wait "$HOLDER_PID"
rc=$?
HOLDER_PID=""
exec 7>&-
[ "$rc" -eq 0 ] && grep -q '^ok$' "$T/live.out" ||
    fail "the live holder could not read its data back (exit $rc): $(cat "$T/live.err")"
after=$(usage_all)
[ "$after" = "$before" ] || fail "chunk usage not back after the live holder closed: $before -> $during -> $after"
bfs fsck >"$T/fsck6" 2>&1 || fail "final fsck: $(cat "$T/fsck6")"
grep -q "orphan records: 0 " "$T/fsck6" || fail "orphan record left after the close: $(cat "$T/fsck6")"

"$BENCHFS" cluster stop --registry "$REG" >/dev/null || fail "cluster stop"
[ "$FAILS" -eq 0 ] && echo "PASS: orphans of dead holders reclaimed, live ones kept"
exit 0
