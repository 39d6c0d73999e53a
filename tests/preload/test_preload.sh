#!/usr/bin/env bash
# tests/preload/test_preload.sh - the interception library against real
# servers (docs/preload.md).
#
#   test_preload.sh BENCHFS_BINARY TEST_PRELOAD_BINARY [unit|apps]
#
# Starts a private 2-server cluster with `benchfs cluster start` (readiness
# is its own wait; only the pids it recorded are stopped), then runs under
# `benchfs run --mount /benchfs` (the prefix need not exist locally):
#   unit  test_preload, the call-coverage program
#   apps  tests/apps/apps.sh on /benchfs/apps (coreutils, find, shell, tar,
#         python+numpy, h5py, fio, rsync, git, mmap, two processes; ior and
#         mdtest when APPS_IOR_DIR names an IOR build)
# The transport comes from the environment (CTest sets UCX_TLS).
# Exit 0 pass, 1 fail, 77 skip.
set -u

BENCHFS=${1:?usage: test_preload.sh BENCHFS TEST_PRELOAD [unit|apps]}
TEST_BIN=${2:?usage}
WHAT=${3:-unit}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN_DIR=$(cd "$(dirname "$BENCHFS")" && pwd)
if [ ! -x "$BIN_DIR/benchfsd" ]; then
    echo "SKIP: $BIN_DIR/benchfsd is not built"
    exit 77
fi
unset BENCHFS_REGISTRY BENCHFS_MOUNT LD_PRELOAD

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-preload.XXXXXX")
REG=$T/reg
cleanup() {
    "$BENCHFS" cluster stop --registry "$REG" --timeout 10 >/dev/null 2>&1
    if [ -z "${BENCHFS_KEEP_TEST_DIRS:-}" ]; then rm -rf "$T"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

if ! "$BENCHFS" cluster start -n 2 --registry "$REG" --data-dir "$T/data" >"$T/start.out" 2>&1; then
    echo "FAIL: cluster start"
    cat "$T/start.out"
    exit 1
fi

case $WHAT in
unit)
    "$BENCHFS" run --registry "$REG" --mount /benchfs -- "$TEST_BIN" /benchfs/unit
    rc=$?
    ;;
apps)
    # Python must not write bytecode caches next to the system's modules
    # through us, and the reference tree lives in $T.
    TMPDIR=$T "$BENCHFS" run --registry "$REG" --mount /benchfs -- \
        bash "$HERE/../apps/apps.sh" /benchfs/apps
    rc=$?
    ;;
*)
    echo "unknown test '$WHAT'"
    rc=2
    ;;
esac
exit $rc
