#!/usr/bin/env bash
# test_ior_benchfsmini.sh - real IOR (ior-benchfs, built against an external
# IOR tree) with the BENCHFSMINI backend on loopback: 4 ranks, the first 2
# also serve; file per process and a shared file; write, read, and IOR's own
# data checks (-W -R). Passes if IOR reports no errors and every server
# removed its registry file.
#
#   test_ior_benchfsmini.sh <ior-benchfs>
set -euo pipefail
IOR=$1
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/mini_ior_backend.XXXXXX")
trap 'rm -rf "$dir"' EXIT

export UCX_TLS=${UCX_TLS:-tcp,self} BENCHFS_MINI_HOST=${BENCHFS_MINI_HOST:-127.0.0.1}
export BENCHFS_LOG=${BENCHFS_LOG:-warn}
[ "$(id -u)" -ne 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe -n 4 --mca btl self,tcp --mca btl_tcp_if_include lo
        --mca oob_tcp_if_include lo -x UCX_TLS -x BENCHFS_MINI_HOST -x BENCHFS_LOG)

run() {
    local name=$1; shift
    echo "== $name: ior $* =="
    "${MPIRUN[@]}" "$IOR" -a BENCHFSMINI --benchfsmini.registry="$dir" \
        --benchfsmini.servers=2 "$@" >"$dir/$name.out" 2>&1 || { cat "$dir/$name.out"; exit 1; }
    cat "$dir/$name.out"
    if grep -E "ERROR|[1-9][0-9]* errors|inconsistent|Expected aggregate" "$dir/$name.out"; then
        echo "FAIL: $name"; exit 1
    fi
    grep -q "^Finished" "$dir/$name.out" || { echo "FAIL: $name did not finish"; exit 1; }
    [ -z "$(ls "$dir" | grep '^server_')" ] || { echo "FAIL: registry files left"; exit 1; }
}

run fpp -t 1m -b 4m -s 2 -F -w -r -W -R -C
run shared -t 256k -b 1m -s 3 -w -r -W -i 2
echo PASS
