#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS - run every libFuzzer target of a fuzz build.
#
# Runs each BUILD_DIR/tests/fuzz/fuzz_* executable for SECONDS seconds
# (-max_total_time) on a throw-away corpus seeded from
# tests/fuzz/seeds/<target>/ (and with tests/fuzz/<target>.dict when present),
# then prints "<target>: N execs, no crash" per target. Exits non-zero if any
# target crashes, leaks, trips a sanitizer or hits a timeout; its inputs are
# then kept in BUILD_DIR/fuzz-artifacts/<target>/ and the end of its log is
# shown. Build the targets first:
#   CC=clang cmake -S . -B build-fuzz -DBENCHFS_FUZZ=ON
#   cmake --build build-fuzz --target fuzz_all
set -euo pipefail

usage() {
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
}
[ $# -eq 2 ] || usage
build=$1
seconds=$2
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzzdir=$build/tests/fuzz

targets=()
for bin in "$fuzzdir"/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$bin")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets in $fuzzdir" >&2
    echo "fuzz.sh: configure with CC=clang -DBENCHFS_FUZZ=ON and build the fuzz_all target" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    corpus=$work/$name/corpus
    artifacts=$work/$name/artifacts
    log=$work/$name/log
    mkdir -p "$corpus" "$artifacts"
    if [ -d "$root/tests/fuzz/seeds/$name" ]; then
        cp -R "$root/tests/fuzz/seeds/$name/." "$corpus/"
    fi
    args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [ -f "$root/tests/fuzz/$name.dict" ]; then
        args+=(-dict="$root/tests/fuzz/$name.dict")
    fi

    if "$bin" "${args[@]}" "$corpus" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        echo "$name: ${execs:-unknown number of} execs, no crash"
    else
        rc=$?
        keep=$build/fuzz-artifacts/$name
        mkdir -p "$keep"
        cp -R "$artifacts/." "$keep/" 2>/dev/null || true
        echo "$name: FAILED (exit $rc); inputs kept in $keep" >&2
        tail -n 40 "$log" >&2
        failed=1
    fi
done
exit $failed
