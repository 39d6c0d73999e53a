#!/usr/bin/env bash
# bench_stage.sh - staging speed: `benchfs stage-in` / `stage-out -j 2` against
# `cp -r` between two local directories on the same disk, same run.
#
#   bash bench/bench_stage.sh BENCHFS_BINARY [--dir DIR] [--tsv FILE] [--quick]
#        [--jobs N] [--servers N]
#
# Two data sets under DIR (default /var/tmp, a disk): 1 GiB in 64 MiB files
# and 10,000 files of 4 KiB (--quick: 256 MiB in 16 files, 2,000 files).
# For each: cp -r SRC -> DIR/cp (the baseline), stage-in SRC -> BenchFS
# (servers' data dirs on the same disk), stage-out BenchFS -> DIR/out.
# Every copy is followed by `sync` inside the timed region, so the page cache
# does not flatter either side; the sources are read warm by all three.
# Nothing is deleted until the end, and the cleanup syncs: ext4 without a
# journal (the development VM's disk) passes over inodes deleted in the last
# 5 s (300 s while their table block is dirty) when it allocates new ones,
# which made file creation up to 10x slower right after a removal and the
# ratios depend on what ran before (docs/jobs.md#speed).
# Prints one line per measurement and the ratios cp_time / stage_time
# (>= 1: staging is as fast as cp). --tsv appends run_all.sh-style lines
# (label, bench, transport, backend, metric, value). UCX_TLS from the
# environment (default shm,self with BENCHFS_PEER_FAILURE=0).
set -uo pipefail

BENCHFS=${1:?usage: bench_stage.sh BENCHFS_BINARY [--dir DIR] [--tsv FILE] [--quick]}
shift
DIR=/var/tmp
TSV=""
QUICK=0
JOBS=2
SERVERS=2
while [ $# -gt 0 ]; do
    case $1 in
    --dir) DIR=$2; shift ;;
    --tsv) TSV=$2; shift ;;
    --quick) QUICK=1 ;;
    --jobs) JOBS=$2; shift ;;
    --servers) SERVERS=$2; shift ;;
    *) echo "bench_stage.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "${UCX_TLS:-}" ]; then
    export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0
fi
TR=$(echo "$UCX_TLS" | cut -d, -f1)

W=$(mktemp -d "$DIR/benchfs-stage-bench.XXXXXX")
REG=$W/reg
cleanup() {
    [ -f "$REG/cluster.pids" ] && "$BENCHFS" cluster stop --registry "$REG" >/dev/null 2>&1
    rm -rf "$W"
    sync
}
trap cleanup EXIT INT TERM

if [ "$QUICK" = 1 ]; then BIG_N=16 BIG_MB=16 SMALL_N=2000; else BIG_N=16 BIG_MB=64 SMALL_N=10000; fi

mkdir -p "$W/big" "$W/small"
for i in $(seq 1 $BIG_N); do
    head -c $((BIG_MB << 20)) /dev/urandom >"$W/big/f$i"
done
for d in $(seq 0 99); do
    mkdir -p "$W/small/d$d"
done
# 4 KiB files, 100 per directory (one shared random block, made unique).
head -c 4096 /dev/urandom >"$W/block"
for i in $(seq 0 $((SMALL_N - 1))); do
    printf '%08d' "$i" | dd of="$W/block" bs=8 count=1 conv=notrunc status=none
    cp "$W/block" "$W/small/d$((i % 100))/f$i"
done
sync

"$BENCHFS" cluster start -n "$SERVERS" --registry "$REG" --data-dir "$W/data" >/dev/null 2>&1 || {
    echo "bench_stage.sh: cluster start failed" >&2
    exit 1
}
export BENCHFS_REGISTRY=$REG

# timed CMD...: seconds, with a sync of the destination inside the timing.
timed() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>"$W/last.err" || { cat "$W/last.err" >&2; echo fail; return; }
    sync
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
row() { # set metric seconds bytes
    local mibs
    mibs=$(awk -v s="$3" -v b="$4" 'BEGIN { if (s > 0) printf "%.1f", b / 1048576 / s; else print 0 }')
    printf '%-8s %-10s %8s s %9s MiB/s\n' "$1" "$2" "$3" "$mibs"
    [ -n "$TSV" ] && printf 'stage:%s\tstage\t%s\tbenchfs\t%s_s\t%s\n' "$1" "$TR" "$2" "$3" >>"$TSV"
}

echo "staging benchmark: $SERVERS servers ($UCX_TLS), -j $JOBS, data under $DIR"
for set in big small; do
    bytes=$(du -sb "$W/$set" | cut -f1)
    cp_s=$(timed cp -r "$W/$set" "$W/cp-$set")
    in_s=$(timed "$BENCHFS" stage-in -q -j "$JOBS" --no-manifest "$W/$set" /)
    out_s=$(timed "$BENCHFS" stage-out -q -j "$JOBS" --no-manifest "/$set" "$W/out-$set")
    if [ "$cp_s" = fail ] || [ "$in_s" = fail ] || [ "$out_s" = fail ]; then
        echo "bench_stage.sh: a copy of '$set' failed" >&2
        exit 1
    fi
    diff -rq "$W/$set" "$W/out-$set/$set" >/dev/null || { echo "bench_stage.sh: $set differs after staging" >&2; exit 1; }
    row "$set" cp "$cp_s" "$bytes"
    row "$set" stage-in "$in_s" "$bytes"
    row "$set" stage-out "$out_s" "$bytes"
    ri=$(awk -v c="$cp_s" -v s="$in_s" 'BEGIN { printf "%.2f", c / s }')
    ro=$(awk -v c="$cp_s" -v s="$out_s" 'BEGIN { printf "%.2f", c / s }')
    echo "$set: speed relative to cp -r: stage-in ${ri}x, stage-out ${ro}x (target >= 0.8)"
    if [ -n "$TSV" ]; then
        printf 'stage:%s\tstage\t%s\tbenchfs\tin_vs_cp\t%s\n' "$set" "$TR" "$ri" >>"$TSV"
        printf 'stage:%s\tstage\t%s\tbenchfs\tout_vs_cp\t%s\n' "$set" "$TR" "$ro" >>"$TSV"
    fi
done
