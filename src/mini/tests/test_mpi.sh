#!/usr/bin/env bash
# test_mpi.sh - mini_ior under mpirun on loopback, in both of seed 001's
# modes: (1) 4 ranks, the first 2 serve on background threads; (2) 2
# standalone benchfsd_mini servers started by mpirun (rank from the MPI
# environment), then 2 client-only ranks with --external. Readiness = registry files. Exits 77
# when mpirun is missing. Only the pids started here are signalled.
#
#   test_mpi.sh <mini_ior> <benchfsd_mini>
set -euo pipefail
MINI_IOR=$1
DAEMON=$2
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/mini_mpi.XXXXXX")
pids=()
cleanup() {
    # TERM first: mpirun forwards it to its daemons; KILL only if it lingers.
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

export UCX_TLS=${UCX_TLS:-tcp,self} BENCHFS_MINI_HOST=${BENCHFS_MINI_HOST:-127.0.0.1}
export BENCHFS_LOG=${BENCHFS_LOG:-warn} BENCHFS_MINI_TIMEOUT_MS=20000
# odls_base_sigkill_timeout: on SIGTERM mpirun forwards it to the ranks and
# SIGKILLs those still running 1 s later (the default); on a loaded machine a
# daemon may need longer to unregister, which left its registry file behind.
MPIRUN=(mpirun --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo
        --mca oob_tcp_if_include lo --mca odls_base_sigkill_timeout 30 -x UCX_TLS -x BENCHFS_MINI_HOST -x BENCHFS_LOG
        -x BENCHFS_MINI_TIMEOUT_MS)
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

echo "== embedded servers: 4 ranks, 2 serve =="
mkdir "$dir/reg1"
"${MPIRUN[@]}" -n 4 "$MINI_IOR" --registry "$dir/reg1" --servers 2 -t 1m -b 4m -s 2 \
    | tee "$dir/out1"
grep -q "data verification PASSED" "$dir/out1"
[ -z "$(ls -A "$dir/reg1")" ] || { echo "FAIL: registry files left: $(ls "$dir/reg1")"; exit 1; }

echo "== external servers: mpirun -n 2 benchfsd_mini (rank from MPI) + 2 client ranks =="
mkdir "$dir/reg2"
"${MPIRUN[@]}" -n 2 "$DAEMON" --registry "$dir/reg2" >"$dir/daemons.log" 2>&1 &
pids+=($!)
for r in 0 1; do
    for _ in $(seq 1 2000); do
        [ -e "$dir/reg2/server_$r.txt" ] && break
        kill -0 "${pids[0]}" 2>/dev/null || { cat "$dir/daemons.log"; exit 1; }
        sleep 0.01
    done
    [ -e "$dir/reg2/server_$r.txt" ] || { echo "FAIL: server $r never registered"; exit 1; }
done
"${MPIRUN[@]}" -n 2 "$MINI_IOR" --registry "$dir/reg2" --servers 2 --external \
    -t 256k -b 1m -s 3 | tee "$dir/out2"
grep -q "data verification PASSED" "$dir/out2"
# mpirun forwards SIGTERM to both daemons, which unregister and exit.
kill -TERM "${pids[0]}"
wait "${pids[0]}" || true
pids=()
grep -q "shutting down" "$dir/daemons.log" || { cat "$dir/daemons.log"; exit 1; }
[ -z "$(ls -A "$dir/reg2")" ] || { echo "FAIL: registry files left"; cat "$dir/daemons.log"; exit 1; }
echo "PASS"
