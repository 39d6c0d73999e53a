#!/usr/bin/env bash
# bench/preload_bench.sh - the interception library's speed (docs/preload.md).
#
#   bash bench/preload_bench.sh BUILD_DIR
#
# Side by side, alternated BENCH_PRELOAD_REPS times (default 3; medians
# printed), on a private cluster of BENCH_PRELOAD_SERVERS servers (default
# 1: with more spinning processes than cores every run is a draw of the
# scheduler) with tmpfs data, UCX_TLS from the environment, default shm:
#   - IOR 1 MiB file-per-process and 47008-byte shared-file, `-a POSIX`
#     through libbenchfs_preload.so vs `-a BENCHFS` (ior-benchfs, the native
#     backend); mdtest -F `-a POSIX` vs `-a BENCHFS`. Needs ior-benchfs in
#     BUILD_DIR (cmake -DBENCHFS_IOR_DIR=<ior-src>) and <ior-src>/src/ior;
#     skipped with a message otherwise.
#   - a local-I/O-only program (dd with 512-byte blocks, 1M syscalls; find
#     over /usr/include) with and without the library loaded.
# Prints the numbers and the ratios; never fails the build on a slow result.
# BENCH_PRELOAD_LOCAL_ONLY=1 runs only the local-only comparison.
set -u
BUILD=$(cd "${1:?usage: preload_bench.sh BUILD_DIR}" && pwd)
BENCHFS=$BUILD/bin/benchfs
LIB=$BUILD/lib/libbenchfs_preload.so
IOR_DIR=${BENCHFS_IOR_DIR:-$(sed -n 's/^BENCHFS_IOR_DIR:PATH=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)}
export UCX_TLS=${UCX_TLS:-shm,self} BENCHFS_PEER_FAILURE=${BENCHFS_PEER_FAILURE:-0}
[ -x "$BENCHFS" ] && [ -f "$LIB" ] || { echo "preload_bench: build $BUILD first"; exit 0; }

T=$(mktemp -d "${BENCH_TMPFS_DIR:-/dev/shm}/bfs-preload-bench.XXXXXX")
cleanup() {
    "$BENCHFS" cluster stop --registry "$T/reg" --timeout 10 >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
"$BENCHFS" cluster start -n "${BENCH_PRELOAD_SERVERS:-1}" --registry "$T/reg" --data-dir "$T/data" >/dev/null 2>&1 ||
    { echo "preload_bench: cluster start failed"; exit 0; }
export BENCHFS_REGISTRY=$T/reg

# Column 4 of IOR's "Summary of all tests" max MiB/s line for an operation.
ior_mib() { awk -v op="$1" '$1 == op && $2 ~ /^[0-9.]+$/ { print $2; exit }' "$2"; }
# mdtest "File creation" / "File stat" max rate.
md_rate() { awk -v op="$1" 'index($0, op) == 4 || index($0, "   " op) { print $(NF-3); exit }' "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
REPS=${BENCH_PRELOAD_REPS:-3}
# Median of the numbers on stdin ("" if none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

NATIVE=""
for c in "$BUILD/ior/ior-benchfs" "$BUILD/bin/ior-benchfs"; do [ -x "$c" ] && NATIVE=$c; done
if [ -z "$IOR_DIR" ] || [ ! -x "$IOR_DIR/src/ior" ] || [ -z "$NATIVE" ]; then
    echo "skip IOR/mdtest comparison: needs an IOR build (BENCHFS_IOR_DIR) and ior-benchfs in $BUILD"
else
    MDN=$(dirname "$NATIVE")/mdtest-benchfs
    run_pair() { # name, args...
        local name=$1 r
        shift
        for r in $(seq 1 "$REPS"); do
            # Which goes first alternates: the second run of a pair finds
            # the pages the first one freed (tmpfs), which alone moved a
            # ratio by 0.1-0.15 when the library always ran first.
            if [ $((r % 2)) = 1 ]; then
                "$NATIVE" -a BENCHFS --benchfs.registry="$T/reg" -o "/$name.n" "$@" \
                    >"$T/$name.native.$r" 2>&1
            fi
            "$BENCHFS" run --mount /benchfs -- "$IOR_DIR/src/ior" -a POSIX -o "/benchfs/$name" "$@" \
                >"$T/$name.posix.$r" 2>&1
            if [ $((r % 2)) = 0 ]; then
                "$NATIVE" -a BENCHFS --benchfs.registry="$T/reg" -o "/$name.n" "$@" \
                    >"$T/$name.native.$r" 2>&1
            fi
        done
        for op in write read; do
            local p n
            p=$(for r in $(seq 1 "$REPS"); do ior_mib "$op" "$T/$name.posix.$r"; done | median)
            n=$(for r in $(seq 1 "$REPS"); do ior_mib "$op" "$T/$name.native.$r"; done | median)
            printf '%-22s %-5s POSIX+preload %10s MiB/s  BENCHFS %10s MiB/s  ratio %s\n' \
                "$name" "$op" "${p:-?}" "${n:-?}" "$(ratio "${p:-0}" "${n:-0}")"
        done
    }
    if [ -n "${BENCH_PRELOAD_LOCAL_ONLY:-}" ]; then :; else
    run_pair ior-fpp-1m -F -t 1m -b 256m -w -r -e
    run_pair ior-shared-47008 -t 47008 -b 47008 -s 4000 -w -r -e
    # 10,000 files: with 2,000 a phase lasts tens of milliseconds and a
    # process's first creates (page faults, caches) weighed in its rate.
    for r in $(seq 1 "$REPS"); do
        [ $((r % 2)) = 1 ] &&
            "$MDN" -a BENCHFS --benchfs.registry="$T/reg" -n 10000 -F -u -d "/mdn$r" >"$T/md.native.$r" 2>&1
        "$BENCHFS" run --mount /benchfs -- "$IOR_DIR/src/mdtest" -a POSIX -n 10000 -F -u \
            -d "/benchfs/md$r" >"$T/md.posix.$r" 2>&1
        [ $((r % 2)) = 0 ] &&
            "$MDN" -a BENCHFS --benchfs.registry="$T/reg" -n 10000 -F -u -d "/mdn$r" >"$T/md.native.$r" 2>&1
    done
    for op in "File creation" "File stat" "File read" "File removal"; do
        p=$(for r in $(seq 1 "$REPS"); do md_rate "$op" "$T/md.posix.$r"; done | median)
        n=$(for r in $(seq 1 "$REPS"); do md_rate "$op" "$T/md.native.$r"; done | median)
        printf '%-22s POSIX+preload %10s ops/s  BENCHFS %10s ops/s  ratio %s\n' "mdtest $op" \
            "${p:-?}" "${n:-?}" "$(ratio "${p:-0}" "${n:-0}")"
    done
    fi
fi

# Local I/O only: 7 rounds, each running the command without and with the
# library (alternated, so drift hits both alike); median wall times in
# seconds, from the nanosecond clock.
wall() { # command...: seconds
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}
timeit_pair() { # command...: prints "plain preload" medians
    local i p=() q=()
    for i in 1 2 3 4 5 6 7; do
        p+=("$(wall "$@")")
        q+=("$(wall env LD_PRELOAD="$LIB" BENCHFS_MOUNT=/benchfs "$@")")
    done
    echo "$(printf '%s\n' "${p[@]}" | median) $(printf '%s\n' "${q[@]}" | median)"
}
L=$T/local
mkdir -p "$L"
DD=(dd if=/dev/zero of="$L/dd" bs=512 count=1000000 status=none)
# /usr: ~0.3-1.5 s of stat-heavy work (/usr/include alone took 0.03 s).
FIND=(find /usr -name '*.h' -newer /etc/hostname)
for w in DD FIND; do
    declare -n cmd=$w
    read -r plain pre < <(timeit_pair "${cmd[@]}")
    printf 'local-only %-5s without %7ss  with library %7ss  ratio %s\n' "$w" "$plain" "$pre" \
        "$(ratio "$pre" "$plain")"
done
