#!/usr/bin/env bash
# tests/cli/test_cli.sh - end-to-end test of the `benchfs` tool.
#
#   test_cli.sh <path to bin/benchfs>      (benchfsd must sit next to it)
#
# Starts a private 3-server cluster with `benchfs cluster start` in a fresh
# mktemp -d, runs every command (successes, error messages and exit codes),
# a put/get round trip, find with -name/-size/-newer and the IO500 MATCHED
# line, cluster status/stop, shutdown, and checks that no server it started
# is left. The transport comes from the environment (CTest sets UCX_TLS).
# Never a fixed sleep: readiness is `cluster start`'s own wait. Only the
# pids recorded in cluster.pids (with their start times) are ever signalled.
# Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_cli.sh BENCHFS_BINARY}
. "$(cd "$(dirname "$0")" && pwd)/../lib/common.sh"
bfs_setup "$BENCHFS"
unset BENCHFS_FIND_IO500

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-cli.XXXXXX")
REG=$T/reg
DATA=$T/data
L=$T/local
OUT=$T/out
ERR=$T/err
mkdir -p "$L"
FAILS=0
RECORDED="" # "pid:start" of every server any cluster start recorded

# ---------------------------------------------------------------- helpers

record_pids() {
    RECORDED="$RECORDED $(awk '$1 == "node" { printf "%s:%s ", $3, $4 }' "$REG/cluster.pids")"
}

cleanup() {
    local rc=$?
    if [ -f "$REG/cluster.pids" ]; then
        "$BENCHFS" cluster stop --registry "$REG" --timeout 10 >/dev/null 2>&1
    fi
    for p in $RECORDED; do
        if recorded_alive "$p"; then
            echo "cleanup: killing leftover server pid ${p%%:*}"
            kill -KILL "${p%%:*}" 2>/dev/null
        fi
    done
    [ "$FAILS" -ne 0 ] && log_tails 15 "$DATA"/logs/*.log
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

# run EXPECTED_RC CMD...: run with stdout in $OUT, stderr in $ERR.
bfs() {
    "$BENCHFS" --registry "$REG" "$@"
}

# ------------------------------------------------------- usage, no cluster
run 2 "$BENCHFS"
expect_err "missing command"
run 2 "$BENCHFS" frobnicate
expect_err "unknown command 'frobnicate'"
run 0 "$BENCHFS" --help
expect_out "^Commands:"
for cmd in ls stat mkdir rm rmdir put get cat find df ping status shutdown cluster; do
    run 0 "$BENCHFS" "$cmd" --help && expect_out "Usage: benchfs $cmd"
done
run 0 "$BENCHFS" cluster start --help
run 2 "$BENCHFS" ls --bogus
expect_err "unrecognized option '--bogus'"
expect_err "Try 'benchfs ls --help'"
run 2 "$BENCHFS" ls
expect_err "no registry directory"
run 2 "$BENCHFS" --registry "$REG" mkdir
expect_err "missing operand"
run 2 "$BENCHFS" --registry "$REG" put only-one
expect_err "missing destination operand"
run 2 "$BENCHFS" --registry "$REG" find /x -bogus
expect_err "unknown predicate '-bogus'"
run 2 "$BENCHFS" --registry "$REG" find /x -size 12q
run 2 "$BENCHFS" cluster start --registry "$REG" --data-dir "$DATA"
expect_err "missing -n"
run 1 "$BENCHFS" cluster stop --registry "$REG"
expect_err "no cluster started"

# ------------------------------------------------------------ cluster up
run 0 "$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA" --timeout 20 || exit 1
REG_ABS=$(cd "$REG" && pwd -P)
expect_out "^export BENCHFS_REGISTRY=$REG_ABS\$"
record_pids
[ "$(echo $RECORDED | wc -w)" -eq 3 ] || fail "cluster.pids does not list 3 servers"
for i in 0 1 2; do
    [ -f "$REG/node_$i.addr" ] || fail "node_$i.addr missing after start"
done
eval "$(cat "$OUT")" # export BENCHFS_REGISTRY: the default from now on
[ "${BENCHFS_REGISTRY:-}" = "$REG_ABS" ] || fail "export line did not set BENCHFS_REGISTRY"

run 1 "$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$DATA"
expect_err "already running"
run 0 "$BENCHFS" cluster status
[ "$(grep -Ec '^node_[0-2] +[0-9]+ +running +yes +yes' "$OUT")" -eq 3 ] ||
    fail "cluster status: $(cat "$OUT")"

# ------------------------------------------------------------ admin
# Nothing below can pass when the client cannot reach the servers.
run 0 bfs ping -c 3 || exit 1
[ "$(grep -Ec '^node_[0-2] ' "$OUT")" -eq 3 ] || fail "ping: $(cat "$OUT")"
run 0 bfs status
expect_out "^NODE +HOST +PID +UPTIME +OPS"
[ "$(grep -Ec '^node_[0-2] ' "$OUT")" -eq 3 ] || fail "status: $(cat "$OUT")"
run 0 bfs status --raw
# BUSY (the loop's working passes, ns) is a number between 1 (the pings and
# this query were served) and UPTIME; CLIENTS stays the last column.
expect_out "^NODE .* CPU\(usr\+sys\) +BUSY +INODES +DIRS +CLIENTS$"
awk '$1 ~ /^node_/ { if (!($13 ~ /^[0-9]+$/) || $13 < 1 || $13 + 0 > $4 + 0) bad = bad " " $1 "=" $13 "/" $4 }
     END { if (bad != "") { print "status --raw BUSY out of range:" bad; exit 1 } }' "$OUT" ||
    fail "status --raw: $(cat "$OUT")"
run 0 bfs df
expect_out "^benchfs +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+% +3$"
run 0 bfs df -h
expect_out "^Filesystem +Size +Used +Avail +Use%"

# ------------------------------------------------------------ namespace
run 0 bfs mkdir -p /t/sub/deep /t/empty
run 0 bfs mkdir -p /t/sub # existing: fine with -p
run 1 bfs mkdir /t
expect_err "^benchfs: cannot create directory '/t': File exists$"
run 1 bfs mkdir /missing/x
expect_err "^benchfs: cannot create directory '/missing/x': No such file or directory$"

printf 'hello benchfs\n' >"$L/small.txt"
run 0 bfs put "$L/small.txt" /t/small.txt
run 0 bfs put "$L/small.txt" /t/sub # into a directory: keeps its name
run 0 bfs cat /t/small.txt /t/sub/small.txt
[ "$(cat "$OUT")" = "$(printf 'hello benchfs\nhello benchfs')" ] || fail "cat: $(cat "$OUT")"
printf 'from stdin' | bfs put - /t/stdin.txt >"$OUT" 2>"$ERR" || fail "put from stdin"
run 0 bfs cat /t/stdin.txt
[ "$(cat "$OUT")" = "from stdin" ] || fail "put - / cat: $(cat "$OUT")"

run 0 bfs ls /t
[ "$(cat "$OUT" | tr '\n' ' ')" = "empty small.txt stdin.txt sub " ] || fail "ls /t: $(cat "$OUT")"
run 0 bfs ls -l /t
expect_out '^-rw-r--r-- +14 [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} small.txt$'
expect_out '^d[rwx-]{9} +[0-9]+ .* sub$'
run 1 bfs ls /nope /t/small.txt
expect_err "^benchfs: cannot access '/nope': No such file or directory$"
expect_out "^/t/small.txt$"
run 0 bfs stat /t/small.txt /t
expect_out "Size: 14 .*regular file"
expect_out "directory$"
run 1 bfs stat /nope
expect_err "^benchfs: cannot stat '/nope': No such file or directory$"
run 1 bfs cat /nope
expect_err "^benchfs: cannot open '/nope': No such file or directory$"

# ------------------------------------------------------------ transfer
# An odd size over several small buffers: chunk and buffer edges differ.
head -c 9437185 /dev/urandom >"$L/big.bin"
run 0 bfs put -v -b 1M "$L/big.bin" /t/big.bin
expect_err "put '.*big.bin' -> '/t/big.bin': 9437185 bytes in .* MiB/s"
grep -q $'\r' "$ERR" && fail "progress bar drawn although stderr is not a terminal"
run 0 bfs get -v /t/big.bin "$L/big.out"
cmp -s "$L/big.bin" "$L/big.out" || fail "get: round trip differs"
mkdir "$L/dl"
run 0 bfs get /t/big.bin "$L/dl" # into a local directory: keeps its name
cmp -s "$L/big.bin" "$L/dl/big.bin" || fail "get into a directory"
bfs get /t/big.bin - 2>"$ERR" | cmp -s - "$L/big.bin" || fail "get to stdout differs"
run 0 bfs ls -l /t/big.bin
expect_out "^-rw-r--r-- 9437185 .* /t/big.bin$"
run 1 bfs get /nope "$L/x"
expect_err "^benchfs: cannot open '/nope': No such file or directory$"
run 1 bfs put "$L/does-not-exist" /t/x
expect_err "cannot open '.*does-not-exist' for reading: No such file or directory"
run 1 bfs get /t "$L/x"
expect_err "Is a directory"

# ------------------------------------------------------------ find
# Timestamps: -newer against a BenchFS marker compares server clocks only.
touch -d '2000-01-01 00:00' "$L/ts-old"
touch -d '+1 hour' "$L/ts-future"
head -c 3901 /dev/zero >"$L/f3901"
run 0 bfs mkdir -p /io/a /io/b
run 0 bfs put "$L/f3901" /io/a/old01
run 0 bfs put "$L/small.txt" /io/a/small01
run 0 bfs put "$L/f3901" /io/marker
run 0 bfs put "$L/f3901" /io/a/new01
run 0 bfs put "$L/f3901" /io/b/x01y
run 0 bfs put "$L/f3901" /io/b/new02
run 0 bfs find /io
[ "$(sort "$OUT" | tr '\n' ' ')" = "/io /io/a /io/a/new01 /io/a/old01 /io/a/small01 /io/b /io/b/new02 /io/b/x01y /io/marker " ] ||
    fail "find /io: $(cat "$OUT")"
run 0 bfs find /io -newer /io/marker -size 3901c -name '*01*'
[ "$(sort "$OUT" | tr '\n' ' ')" = "/io/a/new01 /io/b/x01y " ] || fail "find -newer: $(cat "$OUT")"
run 0 bfs find /io/ -newer /io/marker -size 3901c -name '*01*' --io500
[ "$(cat "$OUT")" = "MATCHED 2/9" ] || fail "find --io500: $(cat "$OUT")"
BENCHFS_FIND_IO500=1 run 0 bfs find /io -newer "$L/ts-old" -size 3901c -name "*01*"
[ "$(cat "$OUT")" = "MATCHED 3/9" ] || fail "find local -newer: $(cat "$OUT")"
run 0 bfs find /io -newer "local:$L/ts-future" --io500
[ "$(cat "$OUT")" = "MATCHED 0/9" ] || fail "find future -newer: $(cat "$OUT")"
run 0 bfs find /io -type d -maxdepth 1
[ "$(sort "$OUT" | tr '\n' ' ')" = "/io /io/a /io/b " ] || fail "find -type d: $(cat "$OUT")"
run 0 bfs find /io -type f -size -1000c
[ "$(cat "$OUT")" = "/io/a/small01" ] || fail "find -size -1000c: $(cat "$OUT")"
run 1 bfs find /nope
expect_err "^benchfs: cannot access '/nope': No such file or directory$"
run 1 bfs find /io -newer /no/such/file
expect_err "cannot stat '/no/such/file'"

# ------------------------------------------------------------ removal
run 1 bfs rm /t
expect_err "^benchfs: cannot remove '/t': Is a directory$"
run 1 bfs rmdir /t
expect_err "^benchfs: failed to remove '/t': Directory not empty$"
run 1 bfs rm /nope /t/stdin.txt # fails on one, still removes the other
expect_err "^benchfs: cannot remove '/nope': No such file or directory$"
run 1 bfs stat /t/stdin.txt
run 0 bfs rm -f /nope
run 0 bfs rm -f
run 2 bfs rm
run 0 bfs rmdir /t/empty
run 1 bfs rm -r /
expect_err "dangerous"
run 0 bfs rm -r /t /io
run 0 bfs ls /
[ -s "$OUT" ] && fail "ls / after rm -r: $(cat "$OUT")"

# ------------------------------------------------------------ cluster stop
run 0 "$BENCHFS" cluster stop --registry "$REG"
for p in $RECORDED; do
    recorded_alive "$p" && fail "server pid ${p%%:*} still running after cluster stop"
done
ls "$REG"/*.addr >/dev/null 2>&1 && fail "registry files left: $(ls "$REG")"
[ -e "$REG/cluster.pids" ] && fail "cluster.pids left after stop"
[ -e "$REG/cluster" ] && fail "cluster file left after stop"
run 1 "$BENCHFS" cluster status --registry "$REG"
expect_err "no cluster started"

# ------------------------------------------------------------ shutdown
run 0 "$BENCHFS" cluster start -n 2 --registry "$REG" --data-dir "$DATA" --timeout 20 || exit 1
record_pids
run 0 bfs shutdown --wait
expect_out "shutdown requested for 2 servers"
run 1 "$BENCHFS" cluster status --registry "$REG" # processes gone
run 0 "$BENCHFS" cluster stop --registry "$REG"
for p in $RECORDED; do
    recorded_alive "$p" && fail "server pid ${p%%:*} still running at the end"
done

if [ "$FAILS" -ne 0 ]; then
    echo "test_cli: $FAILS failure(s)"
    exit 1
fi
echo "test_cli: all passed (UCX_TLS=${UCX_TLS:-<unset>})"
exit 0
