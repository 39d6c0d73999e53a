#!/usr/bin/env bash
# tests/fuse/test_fuse.sh - the FUSE mount (`benchfs mount`, docs/fuse.md)
# against a real 3-server cluster, through /dev/fuse.
#
#   test_fuse.sh <path to bin/benchfs>      (benchfsd must sit next to it)
#
# In a private mktemp -d: `cluster start --mount` mounts M1; the shared
# program list (tests/apps/apps.sh: coreutils, find, shell, tar, python3 +
# numpy, h5py, fio, rsync, git, shared mmap writer, two processes, and
# ior/mdtest -a POSIX when APPS_IOR_DIR is set) runs on M1; a second mount
# M2 (a second daemon = a second client) sees M1's files right after
# close(2) and the other way round, and the modes, owners and mtimes M1
# sets (chmod, chown, touch -d); an open file unlinked keeps its data;
# df on the mount shows the cluster's totals; SIGTERM unmounts; a daemon
# killed with SIGKILL leaves ENOTCONN (bounded by `timeout`, never a hang)
# until `benchfs umount`; a normal user can mount when /dev/fuse lets it;
# `cluster stop` unmounts M1. Every mount made here is unmounted and only
# the daemons whose pid files this test wrote are ever signalled.
# Exit 0 pass, 1 fail, 77 skip (no usable /dev/fuse).
set -u -o pipefail

BENCHFS=${1:?usage: test_fuse.sh BENCHFS_BINARY}
BIN_DIR=$(cd "$(dirname "$BENCHFS")" && pwd)
BENCHFS=$BIN_DIR/$(basename "$BENCHFS")
HERE=$(cd "$(dirname "$0")" && pwd)
APPS=$HERE/../apps/apps.sh
PY=/usr/bin/python3
unset BENCHFS_REGISTRY

if ! (exec 9<>/dev/fuse) 2>/dev/null; then
    echo "SKIP: /dev/fuse cannot be opened"
    exit 77
fi
if ! command -v fusermount3 >/dev/null; then
    echo "SKIP: fusermount3 missing (Debian package fuse3)"
    exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-fuse.XXXXXX")
REG=$T/reg
REG2=$T/reg2 # the cluster whose server a test kills
M1=$T/m1
M2=$T/m2
M3=$T/m3
FAILS=0
MOUNTS=""   # every mount point this test mounted
PIDFILES="" # pid files of the daemons this test started

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

is_mounted() {
    grep -q " $1 fuse" /proc/self/mounts
}

# The daemon's pid from its pid file, only while it is a benchfs process.
daemon_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "benchfs" &&
        echo "$pid"
}

# Is pid running (a zombie waiting for its reaper counts as gone)?
running() {
    local st
    st=$(awk '{ s = $0; sub(/.*\) /, "", s); print substr(s, 1, 1) }' 2>/dev/null \
        <"/proc/$1/stat") || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Wait (bounded, polling) until pid is gone. 0 when it exited.
wait_gone() {
    local i
    for i in $(seq 1 500); do
        running "$1" || return 0
        sleep 0.02
    done
    return 1
}

cleanup() {
    local rc=$? m f pid r
    for m in $MOUNTS; do
        is_mounted "$m" && fusermount3 -u -z "$m" 2>/dev/null
    done
    for f in $PIDFILES; do
        pid=$(daemon_pid "$f") && kill -KILL "$pid" 2>/dev/null
    done
    for r in "$REG" "$REG2"; do
        if [ -f "$r/cluster.pids" ]; then
            "$BENCHFS" cluster stop --registry "$r" --timeout 10 >/dev/null 2>&1
        fi
    done
    if [ "$FAILS" -ne 0 ]; then
        for log in "$T"/data/logs/*.log "$T"/*.mount.log; do
            [ -f "$log" ] || continue
            echo "--- $log (last 15 lines)"
            tail -n 15 "$log"
        done
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

mount_at() { # mount_at DIR NAME [benchfs mount options...]
    local dir=$1 name=$2
    shift 2
    mkdir -p "$dir"
    MOUNTS="$MOUNTS $dir"
    PIDFILES="$PIDFILES $T/$name.pid"
    "$BENCHFS" mount "$dir" --registry "$REG" --pid-file "$T/$name.pid" \
        --log "$T/$name.mount.log" "$@"
}

# ------------------------------------------------ cluster start --mount
"$BENCHFS" cluster start -n 3 --registry "$REG" --data-dir "$T/data" --timeout 30 \
    --mount "$M1" >"$T/start.out" 2>"$T/start.err" || {
    cat "$T/start.err"
    fail "cluster start --mount"
    exit 1
}
MOUNTS="$MOUNTS $M1"
PIDFILES="$PIDFILES $REG/cluster.mount.pid"
is_mounted "$M1" || fail "cluster start --mount: $M1 is not mounted"
grep -q "$M1" "$REG/cluster.mount" || fail "cluster.mount does not record $M1"

# ------------------------------------------------------------- programs
echo "== tests/apps/apps.sh on the mount"
if ! APPS_PYTHON=$PY bash "$APPS" "$M1/apps"; then
    fail "apps.sh on the mount"
fi
rm -rf "$M1/apps" || fail "rm -rf of the apps tree"

# ---------------------------------------------------- two processes, one mount
echo "== second process sees a file after close"
head -c 3000000 /dev/urandom >"$T/ref.bin"
want=$(sha256sum <"$T/ref.bin" | cut -d' ' -f1)
dd if="$T/ref.bin" of="$M1/p1.bin" bs=1M status=none || fail "dd into the mount"
got=$($PY -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' \
    "$M1/p1.bin")
[ "$got" = "$want" ] || fail "second process reads $got, want $want"

# ------------------------------------------------------------ second mount
echo "== a second mount (second client) sees the first's files after close"
mount_at "$M2" m2 || fail "second mount"
got=$(sha256sum <"$M2/p1.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "M2 reads p1.bin as $got, want $want"
# Rewrite on M1 (same size, new bytes) after M2 has cached the old ones.
head -c 3000000 /dev/urandom >"$T/ref2.bin"
want2=$(sha256sum <"$T/ref2.bin" | cut -d' ' -f1)
cp "$T/ref2.bin" "$M1/p1.bin" || fail "rewrite on M1"
got=$(sha256sum <"$M2/p1.bin" | cut -d' ' -f1)
[ "$got" = "$want2" ] || fail "M2 reads stale data after M1's close: $got, want $want2"
# Append on M2 through an open descriptor; M1 sees the new size after close.
printf 'tail' >>"$M2/p1.bin" || fail "append on M2"
[ "$(stat -c %s "$M1/p1.bin")" = 3000004 ] || fail "M1 size after M2 append: $(stat -c %s "$M1/p1.bin")"
[ "$(tail -c 4 "$M1/p1.bin")" = tail ] || fail "M1 does not read M2's appended bytes"
mkdir "$M2/d2" && echo two >"$M2/d2/f" || fail "create on M2"
[ "$(cat "$M1/d2/f" 2>/dev/null)" = two ] || fail "M1 does not see M2's new file"
mv "$M1/d2" "$M1/d3" || fail "rename on M1"
[ ! -e "$M2/d2/f" ] && [ "$(cat "$M2/d3/f" 2>/dev/null)" = two ] ||
    fail "M2 does not see M1's rename"
rm -rf "$M2/d3" && [ ! -e "$M1/d3" ] || fail "M1 still sees M2's removal"

# ------------------------------------------------------------ write-behind
echo "== write-behind and spliced reads: writes land in order, reads see them, errors reach close"
$PY - "$M1" "$M2" <<'PYEOF' || fail "write-behind"
import hashlib, os, random, sys
m1, m2 = sys.argv[1], sys.argv[2]
p1, p2 = os.path.join(m1, "wb.bin"), os.path.join(m2, "wb.bin")
rng = random.Random(17)
model = bytearray()
a = os.open(p1, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
b = os.open(p1, os.O_WRONLY)
# O_DIRECT: every read is a READ request to the daemon, not the page cache.
r = os.open(p1, os.O_RDONLY | os.O_DIRECT)
for i in range(300):
    fd = a if i % 2 else b
    # Over three chunks (4 MiB by default): reads of chunks 1 and 2 are
    # spliced from the chunk files, with holes between the writes.
    off = rng.randrange(0, 11 << 20)
    n = rng.choice([1, 4096, 65536, 1 << 20, (1 << 20) + 4097])
    data = bytes([i % 251 + 1]) * n
    assert os.pwrite(fd, data, off) == n
    if off > len(model):
        model.extend(bytes(off - len(model)))
    model[off:off + n] = data
    if i % 3 == 2:
        # Right behind the write: the range it is still writing.
        got = os.pread(r, n, off)
        assert got == data, "O_DIRECT read at %d differs" % off
    if i % 10 == 9:
        assert os.fstat(a).st_size == len(model), ("size", os.fstat(a).st_size, len(model))
for fd in (a, b, r):
    os.close(fd)
want = hashlib.sha256(model).hexdigest()
with open(p2, "rb") as f:
    got = hashlib.sha256(f.read()).hexdigest()
assert got == want, "second mount reads %s, want %s" % (got, want)
os.unlink(p1)

# Sparse: chunk files that end before their chunk does, read spliced up to
# where they end and as zeros after (the hole), and the same via O_DIRECT.
fd = os.open(p1, os.O_WRONLY | os.O_CREAT, 0o644)
marks = {(4 << 20) + 10: b"a" * 100, (9 << 20) + 4096: b"b" * 5000, 13 << 20: b"c"}
for at, data in marks.items():
    os.pwrite(fd, data, at)
os.close(fd)
model = bytearray((13 << 20) + 1)
for at, data in marks.items():
    model[at:at + len(data)] = data
with open(p2, "rb") as f:
    assert f.read() == model, "a sparse file reads wrong on the second mount"
r = os.open(p2, os.O_RDONLY | os.O_DIRECT)
# Some across a chunk boundary: a hole read through memory, then a splice.
for at in (0, (4 << 20) - 65536, 4 << 20, (4 << 20) + 5, (8 << 20) - 4096, (9 << 20) + 1000,
           (12 << 20) + 77):
    got = os.pread(r, 1 << 20, at)
    assert got == bytes(model[at:at + (1 << 20)]), "sparse O_DIRECT read at %d" % at
os.close(r)
os.unlink(p1)

# A write that fails after its reply (the file was removed through another
# client, whose removal frees its chunks) must fail a later write or the
# close: also when each write(2) spans several requests (the kernel then
# returns the count before the failed one), and when a forked child's exit
# flushes the handle before the parent closes it.
def removed_then_written(size, fork):
    fd = os.open(p1, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 4096)
    os.fsync(fd)
    os.unlink(p2)
    errors = []
    try:
        for _ in range(4):
            os.write(fd, b"y" * size)
    except OSError as e:
        errors.append(("write", e.errno))
    if fork:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    try:
        os.close(fd)
    except OSError as e:
        errors.append(("close", e.errno))
    assert errors, "writes of %d bytes to a removed file%s: no error" % (
        size, " (and a fork)" if fork else "")

removed_then_written(1 << 20, False)
removed_then_written(4 << 20, False)
removed_then_written(1 << 20, True)
PYEOF

# ---------------------------------------------------------- attributes
echo "== chmod, chown, touch -d on M1 are seen on M2"
echo data >"$M1/at.txt" && touch -d @1500000000 "$M1/at.txt" && chmod 640 "$M1/at.txt" ||
    fail "touch -d, chmod on M1"
got=$(stat -c '%a %Y' "$M2/at.txt")
[ "$got" = "640 1500000000" ] || fail "M2 sees at.txt as '$got', want '640 1500000000'"
if [ "$(id -u)" = 0 ]; then # the kernel lets only root give files away
    chown 65534:65534 "$M1/at.txt" || fail "chown on M1"
    got=$(stat -c '%u %g' "$M2/at.txt")
    [ "$got" = "65534 65534" ] || fail "M2 sees the owner of at.txt as '$got'"
fi
mkdir "$M1/atd" && chmod 705 "$M1/atd" && touch -d @1400000000 "$M1/atd" ||
    fail "chmod, touch -d of a directory on M1"
got=$(stat -c '%a %Y' "$M2/atd")
[ "$got" = "705 1400000000" ] || fail "M2 sees atd as '$got', want '705 1400000000'"
rm -rf "$M1/at.txt" "$M1/atd" || fail "rm of the attribute files"

# ---------------------------------------- hidden names of two mounts
echo "== two mounts hide open files under names of their own"
$PY - "$M1" "$M2" <<'PYEOF' || fail "hidden names of two mounts"
import os, sys, time
m1, m2 = sys.argv[1], sys.argv[2]
os.mkdir(os.path.join(m1, "hid"))
fds = []
for m in (m1, m2):
    p = os.path.join(m, "hid", "t")
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, m.encode())
    os.unlink(p)  # open on this mount: hidden, not removed
    fds.append(fd)
names = [n for n in os.listdir(os.path.join(m1, "hid")) if n.startswith(".benchfs_hidden_")]
ids = {n.split("_")[2] for n in names}
assert len(names) == 2 and len(ids) == 2, "hidden names %s" % names
for fd, m in zip(fds, (m1, m2)):
    assert os.pread(fd, 100, 0) == m.encode(), "data of the open file lost"
    os.close(fd)
deadline = time.monotonic() + 10
while os.listdir(os.path.join(m1, "hid")) and time.monotonic() < deadline:
    time.sleep(0.01)
os.rmdir(os.path.join(m1, "hid"))
PYEOF

# ------------------------------------------------------- unlink while open
echo "== an unlinked open file keeps its data"
$PY - "$M1" <<'PYEOF' || fail "unlink of an open file"
import os, sys
d = sys.argv[1]
p = os.path.join(d, "u.bin")
data = os.urandom(300000)
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, data)
os.unlink(p)
assert not os.path.exists(p), "name still there"
os.write(fd, b"more")
assert os.pread(fd, len(data) + 4, 0) == data + b"more", "data lost after unlink"
os.close(fd)
# The kernel sends the release that removes the hidden name after close(2)
# has returned: wait for it (10 s at most), never for a fixed time.
import time
deadline = time.monotonic() + 10
while True:
    left = [n for n in os.listdir(d) if n.startswith(".benchfs_hidden")]
    if not left or time.monotonic() > deadline:
        break
    time.sleep(0.01)
assert not left, "hidden files left: %s" % left
PYEOF

# ---------------------------------------------------------------- df
echo "== df on the mount shows the cluster"
fuse_kb=$(df -k --output=size "$M1" | tail -1 | tr -d ' ')
api_kb=$("$BENCHFS" --registry "$REG" df | awk 'NR == 2 { print $2 }')
if [ -z "$fuse_kb" ] || [ -z "$api_kb" ] || [ $((fuse_kb - api_kb)) -gt 1 ] ||
    [ $((api_kb - fuse_kb)) -gt 1 ]; then
    fail "df size on the mount $fuse_kb KiB, benchfs df $api_kb KiB"
fi
[ "$(df --output=fstype "$M1" | tail -1)" = fuse.benchfs ] || fail "df type"

# ------------------------------------------------------------ SIGTERM
echo "== SIGTERM unmounts"
pid=$(daemon_pid "$T/m2.pid") || fail "no daemon pid for M2"
if [ -n "${pid:-}" ]; then
    kill -TERM "$pid"
    wait_gone "$pid" || fail "daemon $pid still running after SIGTERM"
    is_mounted "$M2" && fail "$M2 still mounted after SIGTERM"
fi

# ---------------------------------------------------------- SIGKILL
echo "== a killed daemon: ENOTCONN, then benchfs umount"
mount_at "$M3" m3 || fail "third mount"
echo x >"$M3/k" || fail "write on M3"
pid=$(daemon_pid "$T/m3.pid") || fail "no daemon pid for M3"
if [ -n "${pid:-}" ]; then
    kill -KILL "$pid"
    wait_gone "$pid" || fail "daemon $pid survives SIGKILL"
    out=$(timeout 10 stat "$M3" 2>&1)
    rc=$?
    # The kernel aborts the connection when the daemon's /dev/fuse file is
    # released, which can come just after the process is reaped: a request
    # queued in between fails with ECONNABORTED; every later one ENOTCONN.
    if [ $rc -ne 0 ] && [[ "$out" == *"connection abort"* ]]; then
        out=$(timeout 10 stat "$M3" 2>&1)
        rc=$?
    fi
    [ $rc -eq 124 ] && fail "stat on a dead mount hangs"
    [ $rc -ne 0 ] && [[ "$out" == *"not connected"* ]] ||
        fail "stat on a dead mount: rc $rc, '$out' (want ENOTCONN)"
    out=$(timeout 10 "$BENCHFS" mount "$M3" --registry "$REG" 2>&1) &&
        fail "mount over a dead mount succeeded"
    [[ "$out" == *"benchfs umount"* ]] || fail "mount over a dead mount says: $out"
    timeout 20 "$BENCHFS" umount "$M3" || fail "benchfs umount of a dead mount"
    is_mounted "$M3" && fail "$M3 still mounted after benchfs umount"
fi

# ------------------------------------------------------- a normal user
echo "== a normal user"
NOBODY=65534
if command -v setpriv >/dev/null &&
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sh -c '(exec 9<>/dev/fuse)' \
        2>/dev/null; then
    chmod 755 "$T" && chmod -R a+rX "$REG"
    mkdir -p "$T/um" && chown $NOBODY:$NOBODY "$T/um"
    MOUNTS="$MOUNTS $T/um"
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env HOME="$T/um" \
        "$BENCHFS" mount "$T/um" --registry "$REG" || fail "mount as uid $NOBODY"
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sh -c \
        "echo mine >'$T/um/nobody.txt' && [ \"\$(stat -c %u '$T/um/nobody.txt')\" = $NOBODY ]" ||
        fail "create as uid $NOBODY"
    [ "$(cat "$M1/nobody.txt" 2>/dev/null)" = mine ] || fail "root's mount lacks the user's file"
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$BENCHFS" umount "$T/um" ||
        fail "umount as uid $NOBODY"
else
    echo "skip: uid $NOBODY cannot open /dev/fuse here (docs/fuse.md: normal users)"
fi

# ------------------------------------------------------ a server killed
echo "== a server killed: reads fail or are right, never another read's bytes"
# A cluster of its own, whose node_0 this test kills. One worker thread,
# so every read uses the same spliced-read pipe: a read that fails after
# some pieces went into it must not leave them to the next.
"$BENCHFS" cluster start -n 3 --registry "$REG2" --data-dir "$T/data2" --timeout 30 \
    >/dev/null 2>"$T/start2.err" || { cat "$T/start2.err"; fail "second cluster start"; }
mkdir -p "$T/m4" "$T/m5"
MOUNTS="$MOUNTS $T/m4 $T/m5"
PIDFILES="$PIDFILES $T/m4.pid $T/m5.pid"
"$BENCHFS" mount "$T/m4" --registry "$REG2" --pid-file "$T/m4.pid" -o max_threads=1 &&
    "$BENCHFS" mount "$T/m5" --registry "$REG2" --pid-file "$T/m5.pid" ||
    fail "mounts of the second cluster"
$PY - "$T/m5" "$T/m4" "$REG2/cluster.pids" <<'PYEOF' || fail "reads after a server was killed"
import os, random, signal, sys, time
m5, m4, pids = sys.argv[1], sys.argv[2], sys.argv[3]
M = 1 << 20
rng = random.Random(7)
# Files of 17 MiB (five chunks): some have a chunk on node_0 after one on a
# live server, so a read across that boundary fails after its first piece.
files = {}
for i in range(6):
    files["k%d.bin" % i] = rng.randbytes(17 * M + 5)
sparse = bytearray(6 * M)
sparse[5 * M:5 * M + 4096] = b"x" * 4096
files["sp.bin"] = bytes(sparse)
for n, data in files.items():
    with open(os.path.join(m5, n), "wb") as f:
        f.write(data)
fds = {n: os.open(os.path.join(m4, n), os.O_RDONLY | os.O_DIRECT) for n in files}
pid = [int(l.split()[2]) for l in open(pids) if l.startswith("node node_0 ")][0]
os.kill(pid, signal.SIGKILL)
deadline = time.monotonic() + 10
while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.3)  # past the client's 100 ms check of its servers' pids
errors = wrong = 0

def check(n, off, ln):
    global errors, wrong
    try:
        got = os.pread(fds[n], ln, off)
    except OSError:
        errors += 1
        return
    # A read cut short by a failed request returns the bytes before it.
    if got != files[n][off:off + len(got)]:
        wrong += 1
        print("wrong bytes: %s at %d, %d of %d bytes" % (n, off, len(got), ln))

for n in sorted(files):
    if n == "sp.bin":
        continue
    for c in range(17):
        check(n, c * M + 100, 2 * M)
        check("sp.bin", 5 * M, 4096)  # right after: leftovers would show here
assert wrong == 0, "%d reads returned wrong bytes" % wrong
assert errors > 0, "no read failed with a server dead"
for fd in fds.values():
    os.close(fd)
PYEOF
for m in "$T/m4" "$T/m5"; do
    fusermount3 -u "$m" || fail "unmount $m"
done
"$BENCHFS" cluster stop --registry "$REG2" --timeout 20 >/dev/null 2>&1 # node_0 died: not 0

# ------------------------------------------------------- cluster stop
echo "== cluster stop unmounts"
pid=$(daemon_pid "$REG/cluster.mount.pid") || fail "no daemon pid for M1"
"$BENCHFS" cluster stop --registry "$REG" --timeout 20 2>"$T/stop.err" ||
    { cat "$T/stop.err"; fail "cluster stop"; }
is_mounted "$M1" && fail "$M1 still mounted after cluster stop"
[ -n "${pid:-}" ] && running "$pid" && fail "M1's daemon $pid survives cluster stop"
[ -e "$REG/cluster.mount" ] && fail "cluster.mount left behind"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS failure(s)"
    exit 1
fi
echo "PASS"
