#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR - the `make demo` walk-through of BenchFS.
#
# Starts a 4-server cluster on this machine in a fresh temporary directory
# (UCX picks its transports: shared memory between local processes), copies
# a directory tree of small files and one 256 MiB random file into BenchFS,
# copies everything back, compares SHA-256 checksums, lists the files, shows
# the servers' statistics and the put/get throughput; then, where /dev/fuse
# can be opened, uses the FUSE mount (`cluster start --mount`) with plain
# cp, ls -l and python3; runs sha256sum and tar through the interception
# library and stages a tree out; stops the cluster (which unmounts first),
# checks that none of its servers is left and removes the temporary
# directory. Exits non-zero on any error or mismatch.
set -euo pipefail

BUILD=${1:?usage: scripts/demo.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
BENCHFS=$BUILD/bin/benchfs
for bin in benchfs benchfsd; do
    if [ ! -x "$BUILD/bin/$bin" ]; then
        echo "demo: $BUILD/bin/$bin is missing: build first (make build)" >&2
        exit 1
    fi
done

BIG_MIB=256
unset UCX_TLS BENCHFS_REGISTRY # let UCX choose; use only our own registry
WORK=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-demo.XXXXXX")
REG=$WORK/registry
DATA=$WORK/data
SRC=$WORK/src
BACK=$WORK/back
MNT=$WORK/mnt
MOUNT_OPT=()
if (exec 9<>/dev/fuse) 2>/dev/null && command -v fusermount3 >/dev/null; then
    MOUNT_OPT=(--mount "$MNT")
fi
PIDS=""
STEP=0

BOLD="" PLAIN=""
if [ -t 1 ]; then
    BOLD=$(printf '\033[1m') PLAIN=$(printf '\033[0m')
fi

step() {
    STEP=$((STEP + 1))
    printf '\n%s[%d] %s%s\n' "$BOLD" "$STEP" "$*" "$PLAIN"
}

say() {
    printf '    %s\n' "$*"
}

# Is pid (with its recorded start time) still a live process? A zombie
# waiting for its parent to reap it counts as gone.
pid_alive() {
    local pid=$1 start=$2 info
    info=$(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[1], f[20] }' \
        "/proc/$pid/stat" 2>/dev/null) || return 1
    [ -n "$info" ] || return 1
    set -- $info
    [ "$2" = "$start" ] && [ "$1" != Z ] && [ "$1" != X ]
}

cleanup() {
    local rc=$?
    trap - EXIT
    if [ -f "$REG/cluster.pids" ]; then
        echo "demo: stopping the cluster after a failure" >&2
        "$BENCHFS" cluster stop --registry "$REG" --timeout 10 >&2 || true
    fi
    if grep -q " $MNT fuse" /proc/self/mounts 2>/dev/null; then
        fusermount3 -u -z "$MNT" || true
    fi
    for p in $PIDS; do
        if pid_alive "${p%%:*}" "${p##*:}"; then
            echo "demo: killing leftover server pid ${p%%:*}" >&2
            kill -KILL "${p%%:*}" 2>/dev/null || true
        fi
    done
    if [ "$rc" -ne 0 ] && [ -d "$DATA/logs" ]; then
        for log in "$DATA"/logs/*.log; do
            echo "--- $log (last 10 lines)" >&2
            tail -n 10 "$log" >&2 || true
        done
    fi
    rm -rf "$WORK"
    if [ "$rc" -ne 0 ]; then
        echo "demo: FAILED (exit $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

# Space for the source files, the servers' copy and the copy back.
avail_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ "$avail_kib" -lt $((3 * BIG_MIB * 1024 + 65536)) ]; then
    echo "demo: $WORK has $((avail_kib / 1024)) MiB free; needs about $((3 * BIG_MIB + 64)) MiB" >&2
    exit 1
fi

echo "BenchFS demo: a 4-server file system on this machine, in $WORK"

step "Start 4 servers (benchfs cluster start)"
"$BENCHFS" cluster start -n 4 --registry "$REG" --data-dir "$DATA" "${MOUNT_OPT[@]}" \
    >"$WORK/export.sh"
# shellcheck disable=SC1091
. "$WORK/export.sh"
PIDS=$(awk '$1 == "node" { printf "%s:%s ", $3, $4 }' "$REG/cluster.pids")
say "registry:  $BENCHFS_REGISTRY (servers publish their addresses here)"
say "data dirs: $DATA/node_0 .. node_3, logs in $DATA/logs"
say "pids:      $(echo "$PIDS" | sed 's/:[0-9]*//g')"
"$BENCHFS" ping | sed 's/^/    /'

step "Create local files: a small tree and one ${BIG_MIB} MiB random file"
mkdir -p "$SRC/docs/notes" "$SRC/data/run1" "$SRC/data/run2" "$SRC/empty"
printf 'BenchFS keeps a job'"'"'s files on the compute nodes.\n' >"$SRC/docs/readme.txt"
seq 1 20000 >"$SRC/docs/notes/numbers.txt"
: >"$SRC/docs/notes/empty.txt"
for run in run1 run2; do
    for i in 01 02 03; do
        head -c $((3901 * 10#$i)) /dev/urandom >"$SRC/data/$run/part$i.bin"
    done
done
head -c $((1024 * 1024 + 1)) /dev/urandom >"$SRC/data/one-mib-plus-one.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$SRC/big.bin"
(cd "$SRC" && find . -type f | sort | xargs sha256sum) >"$WORK/sha-src"
say "$(grep -c . "$WORK/sha-src") files, $(du -sh "$SRC" | cut -f1) in total"

step "Copy them into BenchFS (benchfs mkdir -p, benchfs put)"
(cd "$SRC" && find . -type d | sort) | while read -r d; do
    "$BENCHFS" mkdir -p "/demo/${d#./}"
done
(cd "$SRC" && find . -type f ! -name big.bin | sort) | while read -r f; do
    "$BENCHFS" put "$SRC/${f#./}" "/demo/${f#./}"
done
say "small files copied"
"$BENCHFS" put -v "$SRC/big.bin" /demo/big.bin 2>"$WORK/put.log"
PUT_LINE=$(tail -n 1 "$WORK/put.log")
say "$PUT_LINE"

step "List them (benchfs ls -l, benchfs find)"
for d in /demo /demo/docs /demo/docs/notes /demo/data/run1; do
    say "$d:"
    "$BENCHFS" ls -l "$d" | sed 's/^/      /'
done
say "benchfs find /demo -name 'part0*' -size -20k:"
"$BENCHFS" find /demo -name 'part0*' -size -20k | sort | sed 's/^/      /'

step "Copy everything back (benchfs get) and compare SHA-256 checksums"
mkdir -p "$BACK"
(cd "$SRC" && find . -type d | sort) | while read -r d; do mkdir -p "$BACK/${d#./}"; done
(cd "$SRC" && find . -type f ! -name big.bin | sort) | while read -r f; do
    "$BENCHFS" get "/demo/${f#./}" "$BACK/${f#./}"
done
"$BENCHFS" get -v /demo/big.bin "$BACK/big.bin" 2>"$WORK/get.log"
GET_LINE=$(tail -n 1 "$WORK/get.log")
say "$GET_LINE"
(cd "$BACK" && find . -type f | sort | xargs sha256sum) >"$WORK/sha-back"
if ! diff -u "$WORK/sha-src" "$WORK/sha-back"; then
    echo "demo: MISMATCH: the files read back differ from the originals" >&2
    exit 1
fi
say "all $(grep -c . "$WORK/sha-back") checksums match"
say "big.bin sha256 $(awk '$2 == "./big.bin" { print $1 }' "$WORK/sha-back")"

step "Server statistics (benchfs status, benchfs df -h)"
"$BENCHFS" status | sed 's/^/    /'
"$BENCHFS" df -h | sed 's/^/    /'

step "Throughput of the ${BIG_MIB} MiB file (one client, 16 MiB requests)"
say "put: $(echo "$PUT_LINE" | sed 's/.*, \([0-9.]* MiB\/s\)$/\1/')"
say "get: $(echo "$GET_LINE" | sed 's/.*, \([0-9.]* MiB\/s\)$/\1/')"

if [ ${#MOUNT_OPT[@]} -gt 0 ]; then
    step "The same files through the FUSE mount $MNT: plain cp, ls -l, python3"
    say "\$ ls -l $MNT/demo/docs"
    ls -l "$MNT/demo/docs" | sed 's/^/      /'
    say "\$ cp -r $SRC/docs $MNT/copied-with-cp"
    cp -r "$SRC/docs" "$MNT/copied-with-cp"
    ls -l "$MNT/copied-with-cp" | sed 's/^/      /'
    say "\$ /usr/bin/python3: sha256 of big.bin through the mount, a numpy array saved and loaded"
    /usr/bin/python3 - "$MNT" "$(awk '$2 == "./big.bin" { print $1 }' "$WORK/sha-src")" <<'PYEOF' |
import hashlib, os, sys, time
mnt, want = sys.argv[1], sys.argv[2]
t = time.time()
h = hashlib.sha256()
with open(os.path.join(mnt, "demo/big.bin"), "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
dt = time.time() - t
assert h.hexdigest() == want, "big.bin differs through the mount"
print("big.bin: sha256 matches, read at %.0f MiB/s" % (os.path.getsize(f.name) / dt / 2**20))
try:
    import numpy as np
    a = np.arange(1000000, dtype=np.float64)
    np.save(os.path.join(mnt, "array.npy"), a)
    assert (np.load(os.path.join(mnt, "array.npy")) == a).all()
    print("numpy: 8 MB array saved and loaded back equal")
except ImportError:
    print("numpy: not installed (python3-numpy), skipped")
print("os.listdir:", sorted(os.listdir(mnt)))
PYEOF
        sed 's/^/      /'
    "$BENCHFS" ls -l /copied-with-cp | sed 's/^/      /'
    say "(the benchfs tool sees what cp wrote: one namespace)"
    df -h "$MNT" | sed 's/^/      /'
fi

step "Unmodified programs through the interception library (benchfs run), and staging"
say "\$ benchfs run --mount /benchfs -- sh -c 'cd /benchfs/demo && sha256sum big.bin && tar cf /benchfs/demo.tar docs'"
"$BENCHFS" run --mount /benchfs -- sh -c 'cd /benchfs/demo && sha256sum big.bin && tar cf /benchfs/demo.tar docs' |
    sed 's/^/      /'
"$BENCHFS" ls -l /demo.tar | sed 's/^/      /'
say "\$ benchfs stage-out -j 2 --verify /demo/docs $WORK/out   (parallel copy out, checksums compared)"
"$BENCHFS" stage-out -j 2 --verify /demo/docs "$WORK/out" 2>&1 | tail -1 | sed 's/^/      /'
diff -r "$SRC/docs" "$WORK/out/docs" >/dev/null && say "staged-out tree equals the source tree"

step "Stop the cluster (benchfs cluster stop) and check nothing is left"
"$BENCHFS" cluster stop --registry "$REG"
for p in $PIDS; do
    if pid_alive "${p%%:*}" "${p##*:}"; then
        echo "demo: server pid ${p%%:*} is still running after cluster stop" >&2
        exit 1
    fi
done
if ls "$REG"/*.addr >/dev/null 2>&1; then
    echo "demo: registry files left behind: $(ls "$REG")" >&2
    exit 1
fi
if grep -q " $MNT fuse" /proc/self/mounts; then
    echo "demo: $MNT is still mounted after cluster stop" >&2
    exit 1
fi
say "no server process of this demo is left; registry is empty; nothing mounted"
PIDS=""

step "Remove $WORK"
trap - EXIT
rm -rf "$WORK"
echo
echo "demo: OK"
