#!/usr/bin/env bash
# fuzz_diff.sh BUILD_DIR SECONDS - long runs of the differential test of
# descriptors (tests/integration/test_client_diff.c): fresh seeds (starting
# at the current time, printed) for SECONDS seconds per transport, over TCP
# and over shared memory. A mismatch prints the seed and the minimized
# operation sequence; replay it with
#   BENCHFS_DIFF_SEED=<seed> BUILD_DIR/tests/integration/itest_client_diff
# DIFF_OPS (default 200) sets the operations per seed.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; }
build=$1
seconds=$2
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; }
bin=$build/tests/integration/itest_client_diff
if [ ! -x "$bin" ]; then
    echo "fuzz_diff.sh: $bin not built (make build)" >&2
    exit 1
fi
tmp=${TMPDIR:-/tmp}
[ -d /dev/shm ] && tmp=/dev/shm

failed=0
for tls in tcp shm; do
    env=(UCX_TLS="$tls,self" TMPDIR="$tmp" BENCHFS_DIFF_FIRST="$(date +%s)"
         BENCHFS_DIFF_SEEDS=1000000000 BENCHFS_DIFF_SECONDS="$seconds"
         BENCHFS_DIFF_OPS="${DIFF_OPS:-200}")
    [ "$tls" = shm ] && env+=(BENCHFS_PEER_FAILURE=0)
    echo "== differential test over $tls, $seconds s =="
    env "${env[@]}" "$bin" || failed=1
done
exit $failed
