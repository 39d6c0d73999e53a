#!/usr/bin/env bash
# tests/jobs/test_stage.sh - `benchfs stage-in` / `stage-out` against a real
# 2-server cluster (benchfs cluster start, private mktemp -d).
#
#   test_stage.sh <path to bin/benchfs>      (benchfsd must sit next to it)
#
# Covers: a tree with empty files, deep directories, odd names (spaces,
# newline, tab, backslash, unicode), multi-chunk files split across the
# workers; SHA-256 of every file compared after stage-in -> stage-out (both
# directions, and with --verify); modes and mtimes of files and directories
# kept both ways; reruns that skip everything (in and out) and recopy a
# touched source; the manifest; a stage-in whose worker is killed
# with SIGKILL mid-run (exit 1, the file named), then resumed and verified;
# 300 small files sent in batches (bytes, modes, mtimes, a rerun that
# copies nothing); a worker killed while its threads hold batches (every
# held file named, nothing partial left, resumed); --watch with a stop
# file; usage errors. As root, a second cluster on a
# 24 MiB tmpfs: a stage-in that does not fit must fail naming the file,
# leave no temporary file, and exit 1.
# Readiness is always a condition polled (cluster start's own wait, a
# child process appearing, a file appearing), never a fixed sleep.
# Exit 0 pass, 1 fail, 77 skip.
set -u -o pipefail

BENCHFS=${1:?usage: test_stage.sh BENCHFS_BINARY}
. "$(cd "$(dirname "$0")" && pwd)/../lib/common.sh"
bfs_setup "$BENCHFS"
export UCX_TLS=${UCX_TLS:-tcp,self}

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-stage.XXXXXX")
REG=$T/reg
SRC=$T/src
FAILS=0
TMPFS=""
BGPID=""

cleanup() {
    local rc=$?
    [ -n "$BGPID" ] && kill -KILL "$BGPID" 2>/dev/null
    for r in "$REG" "$T/reg2"; do
        [ -f "$r/cluster.pids" ] && "$BENCHFS" cluster stop --registry "$r" --timeout 10 >/dev/null 2>&1
    done
    [ -n "$TMPFS" ] && umount "$TMPFS" 2>/dev/null
    rm -rf "$T"
    [ "$FAILS" -ne 0 ] && rc=1
    exit $rc
}
trap cleanup EXIT

bfs() {
    "$BENCHFS" --registry "$REG" "$@"
}

# sums DIR: "sha256  relative path" of every file, sorted (names with a
# newline are hashed by their escaped form, so the list stays one line each).
sums() {
    (cd "$1" && find . -type f ! -name '.benchfs-manifest*' -print0 | sort -z |
        while IFS= read -r -d '' f; do
            printf '%s %q\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
        done)
}

# -------------------------------------------------------------- the tree
mkdir -p "$SRC/d1/d2/d3/d4/d5/d6/d7/d8" "$SRC/emptydir" "$SRC/odd dir"
: >"$SRC/empty"
: >"$SRC/d1/d2/also-empty"
echo deep >"$SRC/d1/d2/d3/d4/d5/d6/d7/d8/leaf"
printf 'space' >"$SRC/odd dir/with space"
printf 'newline' >"$SRC/odd dir/new"$'\n'"line"
printf 'tab' >"$SRC/odd dir/a"$'\t'"tab"
printf 'bs' >"$SRC/odd dir/back\\slash"
printf 'uni' >"$SRC/odd dir/ünïcødé-日本"
head -c 9437189 /dev/urandom >"$SRC/big.bin" # > 2 chunks of 4 MiB, odd size
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom >"$SRC/d1/f$i"; done
chmod 0600 "$SRC/d1/f1"
chmod 0755 "$SRC/d1/f2"
touch -d '2001-02-03 04:05:06' "$SRC/d1/f3"
touch -d '2003-04-05 06:07:08.123456789' "$SRC/big.bin" # split: set when the ranges are in
# Directories: modes and mtimes set after their contents exist.
chmod 0750 "$SRC/odd dir" && touch -d '2002-03-04 05:06:07.5' "$SRC/odd dir"
chmod 0700 "$SRC/d1/d2" && touch -d '2004-05-06 07:08:09' "$SRC/d1/d2"
touch -d '2005-06-07 08:09:10' "$SRC/emptydir"

# "mode mtime" of a local path and of a BenchFS path (benchfs stat prints
# the mtime as stat(1)'s %y does).
loc_attr() {
    stat -c '%a %y' "$1"
}
bfs_attr() {
    bfs stat "$1" | sed -n 's/^Access: (0*\([0-7]*\)\/.*/\1/p; s/^Modify: //p' | paste -sd' '
}

# ------------------------------------------------------------ usage
"$BENCHFS" stage-in --help | grep -q "Usage: benchfs stage-in" || fail "stage-in --help"
"$BENCHFS" stage-out --help | grep -q -- "--watch" || fail "stage-out --help"
"$BENCHFS" --registry "$REG" stage-in "$SRC" 2>"$T/err"
[ $? -eq 2 ] && grep -q "missing destination" "$T/err" || fail "stage-in with one operand"
"$BENCHFS" --registry "$REG" stage-in -j 0 "$SRC" /x 2>/dev/null
[ $? -eq 2 ] || fail "-j 0 accepted"
"$BENCHFS" --registry "$REG" stage-in --watch 1 "$SRC" /x 2>/dev/null
[ $? -eq 2 ] || fail "stage-in --watch accepted"

# ------------------------------------------------------------ cluster
"$BENCHFS" cluster start -n 2 --registry "$REG" --data-dir "$T/data" --timeout 20 >/dev/null ||
    { fail "cluster start"; exit 1; }

# Stage in: split files (1 MiB ranges) over 3 workers, checksums verified.
bfs stage-in -j 3 --split 1M --verify "$SRC" /in 2>"$T/err" || fail "stage-in: $(cat "$T/err")"
grep -Eq "stage-in: 49 files copied, 0 unchanged, .* 0 errors$" "$T/err" ||
    fail "stage-in summary: $(cat "$T/err")"
bfs ls /in/src/d1/d2/d3/d4/d5/d6/d7/d8 | grep -qx leaf || fail "deep leaf missing"
bfs ls /in/src/emptydir >/dev/null || fail "empty directory not staged"
bfs ls /in/src 2>/dev/null | grep -q '\.bfs-stage\.' && fail "temporary file left in /in/src"
# In: BenchFS keeps the sources' modes and mtimes (whole, split and empty
# files, directories, the staged root itself).
for p in d1/f1 d1/f2 d1/f3 big.bin empty "odd dir/with space" "odd dir" d1/d2 emptydir \
    d1/d2/d3/d4/d5/d6/d7/d8/leaf .; do
    want=$(loc_attr "$SRC/$p")
    got=$(bfs_attr "/in/src/$p")
    [ "$got" = "$want" ] || fail "stage-in: '$p' is '$got' in BenchFS, source '$want'"
done

# Stage out again (contents of /in/src into OUT) and compare every byte.
bfs stage-out -j 2 --split 1M "/in/src/" "$T/out" 2>"$T/err" || fail "stage-out: $(cat "$T/err")"
sums "$SRC" >"$T/a.sum"
sums "$T/out" >"$T/b.sum"
cmp -s "$T/a.sum" "$T/b.sum" || fail "trees differ after in+out: $(diff "$T/a.sum" "$T/b.sum" | head)"
[ "$(wc -l <"$T/a.sum")" -eq 49 ] || fail "expected 49 files, got $(wc -l <"$T/a.sum")"
[ -d "$T/out/emptydir" ] || fail "empty directory not staged out"
[ "$(stat -c %a "$T/out/d1/f1")" = 600 ] || fail "mode 0600 not kept: $(stat -c %a "$T/out/d1/f1")"
[ "$(stat -c %a "$T/out/d1/f2")" = 755 ] || fail "mode 0755 not kept"
# Out: the local copies get BenchFS's modes and mtimes, which are the
# sources' (a round trip keeps them), files and directories.
for p in d1/f3 d1/f4 big.bin "odd dir/with space" "odd dir" d1/d2 emptydir; do
    want=$(bfs_attr "/in/src/$p")
    [ -n "$want" ] || fail "no mode or Modify line in benchfs stat of /in/src/$p"
    got=$(loc_attr "$T/out/$p")
    [ "$got" = "$want" ] || fail "stage-out: '$p' is '$got' locally, '$want' in BenchFS"
    [ "$got" = "$(loc_attr "$SRC/$p")" ] || fail "stage-in+out: '$p' lost its mode or mtime"
done

# The manifest: one line per file, names escaped.
M=$T/out/.benchfs-manifest
[ -f "$M" ] || fail "no manifest in the stage-out destination"
[ "$(grep -c '^copied ' "$M")" -eq 49 ] || fail "manifest: $(grep -c '^copied ' "$M") copied lines"
grep -q '^copied 7 0644 [0-9]* - odd dir/new\\nline$' "$M" || fail "manifest escaping: $(grep new "$M")"
grep -q '^copied 0 0644 ' "$M" || fail "manifest lacks the empty file"

# Rerun: everything unchanged (size + mtime), nothing copied.
bfs stage-out -j 2 "/in/src/" "$T/out" 2>"$T/err" || fail "stage-out rerun"
grep -Eq "0 files copied, 49 unchanged" "$T/err" || fail "rerun copied again: $(cat "$T/err")"
# --verify compares checksums of the unchanged-looking files: a corrupted
# local copy with the same size and mtime is found and copied again.
ts=$(stat -c %y "$T/out/d1/f5")
# (a byte that differs from the one there: the data is random)
old=$(dd if="$T/out/d1/f5" bs=1 skip=10 count=1 2>/dev/null | od -An -tx1 | tr -d ' ')
if [ "$old" = 58 ]; then new=Y; else new=X; fi
printf '%s' "$new" | dd of="$T/out/d1/f5" bs=1 seek=10 conv=notrunc 2>/dev/null
touch -d "$ts" "$T/out/d1/f5"
bfs stage-out --verify "/in/src/" "$T/out" 2>"$T/err" || fail "stage-out --verify"
grep -Eq "1 files copied, 48 unchanged" "$T/err" || fail "--verify did not recopy: $(cat "$T/err")"
cmp -s "$SRC/d1/f5" "$T/out/d1/f5" || fail "--verify left a corrupted copy"

# Stage-in again: the copies have the sources' sizes and mtimes, nothing is
# copied; a source touched since (same size, newer) is copied again and its
# copy takes the new mtime.
bfs stage-in -j 2 "$SRC" /in 2>"$T/err" || fail "stage-in rerun: $(cat "$T/err")"
grep -Eq "0 files copied, 49 unchanged" "$T/err" || fail "stage-in rerun copied: $(cat "$T/err")"
touch "$SRC/d1/f6"
bfs stage-in -j 2 "$SRC" /in 2>"$T/err" || fail "stage-in after touch: $(cat "$T/err")"
grep -Eq "1 files copied, 48 unchanged" "$T/err" || fail "touched source not recopied: $(cat "$T/err")"
[ "$(bfs_attr /in/src/d1/f6)" = "$(loc_attr "$SRC/d1/f6")" ] || fail "recopied file's mtime"

# ------------------------------------------ ranks share the files
# As under mpirun: the rank and size from Open MPI's environment; the two
# ranks' files together are the whole tree, each rank has its own manifest.
for r in 0 1; do
    OMPI_COMM_WORLD_RANK=$r OMPI_COMM_WORLD_SIZE=2 "$BENCHFS" --registry "$REG" stage-in -j 2 \
        "$SRC/d1/" /ranks 2>"$T/err.$r" &
done
wait
for r in 0 1; do
    grep -Eq "stage-in \(rank $r of 2\): 2[0-9] files copied, 0 unchanged, .* 0 errors$" "$T/err.$r" ||
        fail "rank $r: $(cat "$T/err.$r")"
done
bfs stage-out "/ranks/" "$T/ranks" 2>/dev/null || fail "stage-out of the ranks' tree"
diff -rq "$SRC/d1" "$T/ranks" -x '.benchfs-manifest*' >/dev/null || fail "the ranks' tree differs"
bfs ls /ranks | grep -qx ".benchfs-manifest.rank1" || fail "no per-rank manifest"

# ------------------------------------------ interrupted stage-in, resumed
mkdir -p "$T/src2"
for i in 1 2 3 4 5 6; do head -c 524288 /dev/urandom >"$T/src2/part$i"; done
# one file in flight per worker: each holds one while it waits for --bwlimit
"$BENCHFS" --registry "$REG" stage-in -j 2 --threads 1 --bwlimit 1M "$T/src2/" /resume 2>"$T/err" &
BGPID=$!
victim=""
for _ in $(seq 1 500); do
    # a worker still running: one that found nothing left to claim may be
    # a zombie already (the parent reaps them at the end)
    victim=$(ps --ppid "$BGPID" -o pid=,stat= | awk '$2 !~ /^Z/ { print $1; exit }')
    [ -n "$victim" ] && bfs ls /resume 2>/dev/null | grep -q . && break
    victim=""
    sleep 0.02
done
[ -n "$victim" ] || fail "no stage-in worker appeared"
kill -KILL "$victim" 2>/dev/null
wait "$BGPID"
rc=$?
BGPID=""
[ $rc -eq 1 ] || fail "interrupted stage-in exited $rc, expected 1"
grep -q "killed by signal 9" "$T/err" || fail "worker death not reported: $(cat "$T/err")"
grep -Eq "'$T/src2/part[1-6]' was not staged \(its worker died\)" "$T/err" ||
    fail "the interrupted file is not named: $(cat "$T/err")"
# What the interrupted run left: whole files only (a partial one is removed).
bfs ls -l /resume | awk '$NF ~ /^part/ && $2 != 524288 { bad = bad " " $NF } END { print bad }' >"$T/partial"
[ -s "$T/partial" ] && [ -n "$(tr -d ' \n' <"$T/partial")" ] && fail "partial files left:$(cat "$T/partial")"
bfs stage-in -j 2 --verify "$T/src2/" /resume 2>"$T/err" || fail "resumed stage-in: $(cat "$T/err")"
grep -Eq "unchanged, .* 0 errors$" "$T/err" || fail "resume summary: $(cat "$T/err")"
bfs ls /resume | grep -q '\.bfs-stage\.' && fail "temporary file left after the resume"
bfs stage-out "/resume/" "$T/resumed" 2>/dev/null || fail "stage-out of the resumed tree"
sums "$T/src2" >"$T/a.sum"
sums "$T/resumed" >"$T/b.sum"
cmp -s "$T/a.sum" "$T/b.sum" || fail "resumed tree differs"

# ------------------------------------------ many small files, in batches
# 300 files in 3 directories over 2 workers of 8 threads: each thread sends
# its new small files several to a request (PUT). Every byte, mode and
# mtime arrives, a rerun finds them all unchanged.
mkdir -p "$T/many/a" "$T/many/b" "$T/many/c"
for i in $(seq 1 300); do
    d=$(printf 'abc' | cut -c$((i % 3 + 1)))
    head -c $((i * 37 % 3000)) /dev/urandom >"$T/many/$d/f$i"
done
chmod 0600 "$T/many/a/f3" && touch -d '2006-07-08 09:10:11.25' "$T/many/a/f3"
bfs stage-in -j 2 --verify "$T/many/" /many 2>"$T/err" || fail "stage-in of many files: $(cat "$T/err")"
grep -Eq "300 files copied, 0 unchanged, .* 0 errors$" "$T/err" || fail "many: $(cat "$T/err")"
[ "$(bfs_attr /many/a/f3)" = "$(loc_attr "$T/many/a/f3")" ] || fail "many: mode or mtime of a/f3"
bfs stage-out -j 2 "/many/" "$T/many.out" 2>"$T/err" || fail "stage-out of many files: $(cat "$T/err")"
diff -rq -x '.benchfs-manifest*' "$T/many" "$T/many.out" >/dev/null || fail "many files differ after in+out"
[ "$(loc_attr "$T/many.out/a/f3")" = "$(loc_attr "$T/many/a/f3")" ] || fail "many: a/f3 out"
bfs stage-in -j 2 "$T/many/" /many 2>"$T/err" || fail "many: rerun"
grep -Eq "0 files copied, 300 unchanged" "$T/err" || fail "many: rerun copied: $(cat "$T/err")"

# A worker killed while its threads hold batches (several files each: 24
# files over 2 workers of 2 threads, waiting for --bwlimit):
# each file it held is named, exit 1, and what exists is whole (a batch's
# files appear with all their bytes or not at all); a rerun completes it.
mkdir -p "$T/src4"
for i in $(seq 1 24); do head -c 32768 /dev/urandom >"$T/src4/g$i"; done
"$BENCHFS" --registry "$REG" stage-in -j 2 --threads 2 --bwlimit 256K "$T/src4/" /batches \
    2>"$T/err" &
BGPID=$!
victim=""
for _ in $(seq 1 500); do
    victim=$(ps --ppid "$BGPID" -o pid=,stat= | awk '$2 !~ /^Z/ { print $1; exit }')
    [ -n "$victim" ] && bfs ls /batches 2>/dev/null | grep -q . && break
    victim=""
    sleep 0.02
done
[ -n "$victim" ] || fail "batches: no stage-in worker appeared"
kill -KILL "$victim" 2>/dev/null
wait "$BGPID"
rc=$?
BGPID=""
[ $rc -eq 1 ] || fail "batches: interrupted stage-in exited $rc, expected 1"
grep -Eq "'$T/src4/g[0-9]+' was not staged \(its worker died\)" "$T/err" ||
    fail "batches: no interrupted file named: $(cat "$T/err")"
bfs ls -l /batches | awk '$NF ~ /^g/ && $2 != 32768 { bad = bad " " $NF } END { print bad }' >"$T/partial"
[ -n "$(tr -d ' \n' <"$T/partial")" ] && fail "batches: partial files left:$(cat "$T/partial")"
bfs stage-in -j 2 --verify "$T/src4/" /batches 2>"$T/err" || fail "batches: resume: $(cat "$T/err")"
bfs stage-out "/batches/" "$T/batches" 2>/dev/null || fail "batches: stage-out"
diff -rq -x '.benchfs-manifest*' "$T/src4" "$T/batches" >/dev/null || fail "batches: the resumed tree differs"

# ------------------------------------------------------------ --watch
bfs mkdir -p /app/out
printf one | bfs put - /app/out/result1
"$BENCHFS" --registry "$REG" stage-out --watch 0.2 --stop-file "$T/stop" /app/out "$T/watched" 2>"$T/err" &
BGPID=$!
for _ in $(seq 1 500); do [ -f "$T/watched/out/result1" ] && break; sleep 0.02; done
[ -f "$T/watched/out/result1" ] || fail "--watch: the first pass did not copy result1"
printf two | bfs put - /app/out/result2
for _ in $(seq 1 500); do [ -f "$T/watched/out/result2" ] && break; sleep 0.02; done
[ -f "$T/watched/out/result2" ] || fail "--watch: a new file was not staged while watching"
printf three | bfs put - /app/out/result3
touch "$T/stop"
wait "$BGPID" || fail "stage-out --watch exited non-zero: $(cat "$T/err")"
BGPID=""
[ "$(cat "$T/watched/out/result3" 2>/dev/null)" = three ] || fail "--watch: the final pass missed result3"

# Errors name the file and exit 1.
bfs stage-out /nonexistent "$T/x" 2>"$T/err"
[ $? -eq 1 ] && grep -q "cannot stat '/nonexistent'" "$T/err" || fail "missing source: $(cat "$T/err")"
"$BENCHFS" cluster stop --registry "$REG" >/dev/null 2>&1 || fail "cluster stop"

# ------------------------------------------ a destination that fills up
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=24m tmpfs "$T/small" 2>/dev/null; then
    TMPFS=$T/small
    "$BENCHFS" cluster start -n 1 --registry "$T/reg2" --data-dir "$T/small/data" --timeout 20 \
        >/dev/null || fail "cluster start on tmpfs"
    mkdir -p "$T/src3"
    head -c 40000000 /dev/zero >"$T/src3/too-big.dat"
    echo ok >"$T/src3/small.txt"
    "$BENCHFS" --registry "$T/reg2" stage-in -j 2 "$T/src3/" /full 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] || fail "stage-in into a full file system exited $rc"
    grep -q "too-big.dat" "$T/err" && grep -q "No space left on device" "$T/err" ||
        fail "ENOSPC not reported with the file name: $(cat "$T/err")"
    "$BENCHFS" --registry "$T/reg2" ls /full >"$T/ls" 2>&1
    grep -q too-big "$T/ls" && fail "a partial too-big.dat is in place"
    grep -q '\.bfs-stage\.' "$T/ls" && fail "the temporary file of the failed copy is left"
    grep -q small.txt "$T/ls" || fail "the file that fits was not staged"
    "$BENCHFS" cluster stop --registry "$T/reg2" >/dev/null 2>&1
else
    echo "note: not root or no tmpfs: the full-destination case is skipped"
fi

[ "$FAILS" -eq 0 ] && echo "PASS: test_stage"
exit 0
