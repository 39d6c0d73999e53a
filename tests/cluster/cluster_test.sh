#!/usr/bin/env bash
# cluster_test.sh - the namespace cluster as one test (CTest mini.cluster,
# and `make check` in tests/cluster):
#   up -> test-ior (mini_ior) -> test-ior with real IOR when ior-benchfs was
#   built -> test-benchfs (skipped if the main binaries are absent) -> down,
# then checks that no namespace, link, /etc/netns entry or process of the
# cluster is left. Exits 77 with the reason where namespaces cannot be made.
#
#   cluster_test.sh <build dir>
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:?usage: cluster_test.sh <build dir>}" && pwd)
export BUILD
# A private prefix and state dir: runs never collide with each other or with
# a cluster someone brought up by hand.
export CLUSTER_PREFIX=${CLUSTER_PREFIX:-t$(($$ % 10000000))}
CLUSTER_STATE=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-cluster-test.XXXXXX")
export CLUSTER_STATE
CLUSTER="$HERE/cluster.sh"

if ! reason=$("$CLUSTER" can-run); then
    rm -rf "$CLUSTER_STATE"
    echo "SKIP: mini.cluster: network namespaces cannot be created here: ${reason#no: }"
    exit 77
fi

# Processes of this cluster carry CLUSTER_PREFIX in their environment.
leftover_procs() {
    local p env
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] || continue
        [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" != $$ ] || continue
        env=$({ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null) || continue
        if grep -qx "CLUSTER_PREFIX=$CLUSTER_PREFIX" <<<"$env"; then
            echo "$p $(cat "/proc/$p/comm" 2>/dev/null)"
        fi
    done
}

verify_gone() {
    local bad=0
    if ip netns list | awk '{print $1}' | grep -q "^$CLUSTER_PREFIX-"; then
        echo "LEFT: namespaces: $(ip netns list | grep "^$CLUSTER_PREFIX-" | tr '\n' ' ')"
        bad=1
    fi
    if ip -o link show | awk -F': ' '{print $2}' | grep -q "^$CLUSTER_PREFIX-"; then
        echo "LEFT: links: $(ip -o link show | awk -F': ' '{print $2}' | grep "^$CLUSTER_PREFIX-")"
        bad=1
    fi
    if compgen -G "/etc/netns/$CLUSTER_PREFIX-*" >/dev/null; then
        echo "LEFT: /etc/netns entries"
        bad=1
    fi
    local procs
    procs=$(leftover_procs)
    if [ -n "$procs" ]; then
        echo "LEFT: processes: $procs"
        bad=1
    fi
    return $bad
}

finish() {
    local rc=$?
    "$CLUSTER" clean >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        verify_gone || true
    fi
    exit $rc
}
trap finish EXIT

start=$(date +%s)
"$CLUSTER" up
"$CLUSTER" status
"$CLUSTER" test-ior
"$CLUSTER" show-registry
if [ -x "$BUILD/ior/ior-benchfs" ]; then
    IOR="$BUILD/ior/ior-benchfs" "$CLUSTER" test-ior
else
    echo "cluster: real IOR not built (configure with -DBENCHFS_IOR_DIR=...): only mini_ior ran"
fi
"$CLUSTER" test-benchfs
"$CLUSTER" down
verify_gone || { echo "FAIL: teardown left things behind"; exit 1; }
"$CLUSTER" clean >/dev/null
[ ! -e "$CLUSTER_STATE" ] || { echo "FAIL: state dir left"; exit 1; }
echo "PASS: mini.cluster in $(($(date +%s) - start)) s, nothing left behind"
