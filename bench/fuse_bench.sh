#!/usr/bin/env bash
# fuse_bench.sh - the FUSE mount next to the native API, on one cluster in
# one run (part of `make bench`; docs/fuse.md "Performance").
#
#   bash bench/fuse_bench.sh BUILD_DIR
#
# Starts a 2-server cluster on tmpfs with `benchfs cluster start --mount`
# and measures, each time side by side on the same cluster:
#   1. 1 MiB sequential write/read, one process: benchfs-bench ior --mode
#      fpp, whose "benchfs" line is the native API and whose "local" line is
#      plain POSIX on the mount (x3, medians; goal FUSE >= 0.7x native)
#   2. file creation through one mount by 1 and by 4 processes (benchfs-bench
#      ior --mode mdtest; goal 4 procs >= 1.5x 1 proc), native alongside
#   3. file creation by 1 and by 4 threads of one process through the API
#      (benchfs-bench threads, rounds 1,4,1,4, medians; goal 4 >= 1.5x 1)
#   4. with an IOR build (BENCH_IOR_DIR or APPS_IOR_DIR = an IOR tree with
#      src/ior, src/mdtest): ior/mdtest -a POSIX on the mount, and the native
#      BENCHFS backend ($BUILD/ior/ior-benchfs) when it was built
# Prints a summary and writes it to bench/results/fuse-<UTC time>.md.
# Knobs: BENCH_TMPFS_DIR (/dev/shm), BENCH_FUSE_BLOCK (256m per run),
# BENCH_FUSE_FILES (1000 per process), BENCH_TRANSPORT (shm | tcp).
# Skips (exit 0 with a note) when /dev/fuse cannot be opened.
set -uo pipefail

BUILD=$(cd "${1:?usage: fuse_bench.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$BUILD/bin
IOR=${BENCH_IOR_DIR:-${APPS_IOR_DIR:-}}
BLOCK=${BENCH_FUSE_BLOCK:-256m}
FILES=${BENCH_FUSE_FILES:-1000}
TRANSPORT=${BENCH_TRANSPORT:-shm}

if ! (exec 9<>/dev/fuse) 2>/dev/null; then
    echo "fuse_bench: /dev/fuse cannot be opened: skipped"
    exit 0
fi
case $TRANSPORT in
shm) export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0 ;;
tcp) export UCX_TLS=tcp,self UCX_NET_DEVICES=lo ;;
*)
    echo "fuse_bench: BENCH_TRANSPORT must be shm or tcp" >&2
    exit 2
    ;;
esac

T=$(mktemp -d "${BENCH_TMPFS_DIR:-/dev/shm}/benchfs-fusebench.XXXXXX")
REG=$T/reg
MNT=$T/mnt
OUT=$ROOT/bench/results/fuse-$(date -u +%Y%m%d-%H%M%S).md
mkdir -p "$ROOT/bench/results" "$T/logs"
STATUS=0

cleanup() {
    if [ -f "$REG/cluster.pids" ]; then
        "$BIN/benchfs" cluster stop --registry "$REG" --timeout 20 >/dev/null 2>&1
    fi
    grep -q " $MNT fuse" /proc/self/mounts && fusermount3 -u -z "$MNT"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/benchfs" cluster start -n 2 --registry "$REG" --data-dir "$T/data" --mount "$MNT" \
    >/dev/null 2>"$T/logs/start.err" || {
    cat "$T/logs/start.err" >&2
    exit 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# 1. sequential 1 MiB, native vs mount
: >"$T/seq.tsv"
for i in 1 2 3; do
    mkdir -p "$MNT/seq"
    if "$BIN/benchfs-bench" ior --mode fpp -p 1 -t 1m -b "$BLOCK" -r "$REG" -l "$MNT/seq" \
        >"$T/logs/seq$i.out" 2>&1; then
        awk '$1 == "benchfs" || $1 == "local" { print $1, $2, $3 }' "$T/logs/seq$i.out" >>"$T/seq.tsv"
    else
        echo "fuse_bench: sequential run $i failed:" >&2
        tail -5 "$T/logs/seq$i.out" >&2
        STATUS=1
    fi
    rm -rf "$MNT/seq"
done
nw=$(awk '$1 == "benchfs" { print $2 }' "$T/seq.tsv" | median)
nr=$(awk '$1 == "benchfs" { print $3 }' "$T/seq.tsv" | median)
fw=$(awk '$1 == "local" { print $2 }' "$T/seq.tsv" | median)
fr=$(awk '$1 == "local" { print $3 }' "$T/seq.tsv" | median)

# 2. creates through one mount, 1 vs 4 processes
md_rates() { # PROCS -> "native_create fuse_create native_stat fuse_stat"
    mkdir -p "$MNT/md"
    "$BIN/benchfs-bench" ior --mode mdtest -p "$1" -F "$FILES" -r "$REG" -l "$MNT/md" \
        >"$T/logs/md$1.out" 2>&1 || {
        echo "fuse_bench: mdtest with $1 processes failed" >&2
        tail -5 "$T/logs/md$1.out" >&2
        STATUS=1
    }
    rm -rf "$MNT/md"
    awk '$1 == "benchfs" { nc = $2; ns = $3 } $1 == "local" { fc = $2; fs = $3 }
         END { print nc, fc, ns, fs }' "$T/logs/md$1.out"
}
read -r nc1 fc1 ns1 fs1 < <(md_rates 1)
read -r nc4 fc4 ns4 fs4 < <(md_rates 4)

# 3. creates by threads of one process (API), 1 vs 4
if "$BIN/benchfs-bench" threads --registry-dir "$REG" --threads 1,4,1,4 >"$T/logs/threads.out" 2>&1; then
    t1=$(awk '$2 == "thread" { print $3 }' "$T/logs/threads.out" | median)
    t4=$(awk '$1 == 4 && $2 == "threads" { print $3 }' "$T/logs/threads.out" | median)
else
    echo "fuse_bench: benchfs-bench threads failed:" >&2
    tail -5 "$T/logs/threads.out" >&2
    STATUS=1
fi
tbusy=$(awk '/servers busy/ { printf "%s%s%%", sep, $(NF - 1); sep = " " }' "$T/logs/threads.out")

# 4. IOR through the mount
ior_rows=""
if [ -n "$IOR" ] && [ -x "$IOR/src/ior" ]; then
    mkdir -p "$MNT/ior"
    "$IOR/src/ior" -a POSIX -F -t 1m -b 64m -w -r -e -C -o "$MNT/ior/f" >"$T/logs/ior.out" 2>&1 ||
        STATUS=1
    ior_w=$(awk '$1 == "write" && $2 ~ /^[0-9.]+$/ { print $2; exit }' "$T/logs/ior.out")
    ior_r=$(awk '$1 == "read" && $2 ~ /^[0-9.]+$/ { print $2; exit }' "$T/logs/ior.out")
    ior_rows="| ior -a POSIX -F -t 1m -b 64m, mount | ${ior_w:--} MiB/s write, ${ior_r:--} MiB/s read |"
    if [ -x "$BUILD/ior/ior-benchfs" ]; then
        "$BUILD/ior/ior-benchfs" -a BENCHFS --benchfs.registry="$REG" -F -t 1m -b 64m -w -r -e -C \
            -o /iorn >"$T/logs/iorn.out" 2>&1 || STATUS=1
        nw2=$(awk '$1 == "write" && $2 ~ /^[0-9.]+$/ { print $2; exit }' "$T/logs/iorn.out")
        nr2=$(awk '$1 == "read" && $2 ~ /^[0-9.]+$/ { print $2; exit }' "$T/logs/iorn.out")
        ior_rows="$ior_rows
| ior -a BENCHFS (native) same sizes | ${nw2:--} MiB/s write, ${nr2:--} MiB/s read |"
    fi
    "$IOR/src/mdtest" -a POSIX -n "$FILES" -F -u -d "$MNT/ior/md" >"$T/logs/mdtest.out" 2>&1 ||
        STATUS=1
    mc=$(awk '/File creation/ { print $3; exit }' "$T/logs/mdtest.out")
    ms=$(awk '/File stat/ { print $3; exit }' "$T/logs/mdtest.out")
    ior_rows="$ior_rows
| mdtest -a POSIX -n $FILES -F, mount | ${mc:--} creates/s, ${ms:--} stats/s |"
    rm -rf "$MNT/ior"
fi

{
    echo "# FUSE mount vs native API ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "2 servers on tmpfs, transport $TRANSPORT, load $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Native = libbenchfs calls; mount = plain POSIX calls on \`benchfs mount\`."
    echo
    echo "| measurement | native | mount | mount/native | goal |"
    echo "|---|---|---|---|---|"
    echo "| 1 MiB sequential write, 1 process (MiB/s, median of 3) | $nw | $fw | $(ratio "$fw" "$nw") | >= 0.7 |"
    echo "| 1 MiB sequential read, 1 process (MiB/s, median of 3) | $nr | $fr | $(ratio "$fr" "$nr") | >= 0.7 |"
    echo "| creates/s, 1 process | $nc1 | $fc1 | $(ratio "$fc1" "$nc1") | |"
    echo "| creates/s, 4 processes | $nc4 | $fc4 | $(ratio "$fc4" "$nc4") | |"
    echo "| stats/s, 1 / 4 processes | $ns1 / $ns4 | $fs1 / $fs4 | | |"
    echo
    echo "| scaling | native | mount | goal |"
    echo "|---|---|---|---|"
    echo "| creates/s 4 processes / 1 process | $(ratio "$nc4" "$nc1") | $(ratio "$fc4" "$fc1") | mount >= 1.5 |"
    echo "| creates/s 4 threads / 1 thread of one process ($t1 -> $t4 /s, medians; servers busy ${tbusy:--}) | $(ratio "$t4" "$t1") | | native >= 1.5 |"
    if [ -n "$ior_rows" ]; then
        echo
        echo "| IOR | result |"
        echo "|---|---|"
        echo "$ior_rows"
    fi
} | tee "$OUT"
echo "fuse_bench: written to $OUT"
exit $STATUS
