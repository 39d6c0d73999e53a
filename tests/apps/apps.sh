#!/usr/bin/env bash
# tests/apps/apps.sh - real, unmodified programs on a BenchFS directory.
#
#   tests/apps/apps.sh DIR
#
# Runs the program list shared by the interception library and the FUSE mount
# tests (docs/preload.md, docs/fuse.md) inside DIR, which must be an empty or
# absent directory on BenchFS: a FUSE mount point's subdirectory, or a path
# under BENCHFS_MOUNT with the interception library already in LD_PRELOAD
# (the caller sets the environment; this script and every program it starts
# inherit it). Reference data lives in a local temporary directory; every
# case checks contents by checksum, not only exit codes.
#
# Environment:
#   APPS_ONLY="a b"   run only these cases      APPS_SKIP="a b"  skip these
#   APPS_PYTHON       python with numpy/h5py (default /usr/bin/python3)
#   APPS_IOR_DIR      an IOR build tree (src/ior, src/mdtest): adds ior/mdtest
#   APPS_IO500        an io500 binary (built outside, like IOR): adds IO500
#                     with api = POSIX, its find phase included
# Prints "ok NAME", "skip NAME: why" or "FAIL NAME" per case, then
# "N passed, N failed, N skipped"; exit status 1 when a case failed.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
PY=${APPS_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
REF=$(mktemp -d "${TMPDIR:-/tmp}/bfs-apps-ref.XXXXXX")
trap 'rm -rf "$REF"' EXIT

passed=0 failed=0 skipped=0
failed_names=()

# A reference tree: small and empty files, a multi-MiB file, names with
# spaces, a deep directory.
make_ref_tree() {
    local t=$REF/tree
    mkdir -p "$t/a/b/c/d" "$t/empty dir" "$t/with space"
    head -c 3000000 /dev/urandom >"$t/big.bin"
    head -c 4096 /dev/urandom >"$t/a/small.bin"
    : >"$t/a/empty"
    echo "hello benchfs" >"$t/a/b/c/d/deep.txt"
    printf 'line %s\n' $(seq 1 200) >"$t/with space/lines.txt"
    # Modes and whole-second mtimes (tar keeps seconds) that differ per
    # entry, so tar x, rsync -a and cp -p are seen to restore them.
    chmod 600 "$t/a/small.bin" && chmod 755 "$t/a/b/c/d/deep.txt" && chmod 750 "$t/a/b" &&
        chmod 700 "$t/with space"
    local p n=0
    while IFS= read -r -d '' p; do
        touch -d "@$((1500000000 + n * 3607))" "$p"
        n=$((n + 1))
    done < <(find "$t" -depth -print0)
}

# "path mode mtime" of every entry under $1 (the root included), sorted.
tree_attrs() {
    (cd "$1" && find . -printf '%p %m %T@\n' | LC_ALL=C sort)
}

# Same modes and mtimes for two trees.
same_attrs() {
    local a b
    a=$(tree_attrs "$1")
    b=$(tree_attrs "$2")
    [ "$a" = "$b" ] || die "modes or mtimes differ: $1 vs $2:
$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -10)"
}

# sha256 of every regular file under $1, relative names, sorted.
tree_sums() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# Fails the current case with a message.
die() {
    echo "    $*" >&2
    exit 1
}

# Same checksums for two trees, and the same directory list.
same_tree() {
    [ "$(tree_sums "$1")" = "$(tree_sums "$2")" ] || die "file contents differ: $1 vs $2"
    local d1 d2
    d1=$(cd "$1" && find . -type d | LC_ALL=C sort)
    d2=$(cd "$2" && find . -type d | LC_ALL=C sort)
    [ "$d1" = "$d2" ] || die "directory lists differ: $1 vs $2"
}

case_coreutils() {
    local w=$DIR/coreutils
    mkdir -p "$w/x/y/z" || die "mkdir -p"
    cp -r "$REF/tree" "$w/tree" || die "cp -r in"
    same_tree "$REF/tree" "$w/tree"
    [ "$(cat "$w/tree/a/b/c/d/deep.txt")" = "hello benchfs" ] || die "cat"
    ls -l "$w/tree" | grep -q 'big.bin' || die "ls -l lacks big.bin"
    [ "$(stat -c %s "$w/tree/big.bin")" = 3000000 ] || die "stat size"
    [ "$(stat -c %F "$w/tree/a")" = directory ] || die "stat type"
    local du
    du=$(du -s -B1 --apparent-size "$w/tree" | cut -f1)
    [ "$du" -ge 3004096 ] || die "du -s says $du"
    mv "$w/tree/big.bin" "$w/x/y/z/moved.bin" || die "mv"
    [ ! -e "$w/tree/big.bin" ] || die "mv left the source"
    cmp "$REF/tree/big.bin" "$w/x/y/z/moved.bin" || die "mv changed data"
    dd if="$REF/tree/big.bin" of="$w/dd.bin" bs=1M status=none || die "dd in"
    dd if="$w/dd.bin" of="$REF/dd.out" bs=1M status=none || die "dd out"
    cmp "$REF/tree/big.bin" "$REF/dd.out" || die "dd round trip differs"
    local s1 s2
    s1=$(sha256sum <"$REF/tree/big.bin" | cut -d' ' -f1)
    s2=$(sha256sum "$w/dd.bin" | cut -d' ' -f1)
    [ "$s1" = "$s2" ] || die "sha256sum differs"
    cp -r "$w/tree" "$REF/back" || die "cp -r out"
    same_tree "$w/tree" "$REF/back"
    rm -rf "$w/tree" || die "rm -rf"
    [ ! -e "$w/tree" ] || die "rm -rf left the tree"
    rm -rf "$w" || die "rm -rf all"
    [ ! -e "$w" ] || die "rm -rf left $w"
}

case_find() {
    local w=$DIR/find
    mkdir -p "$w" && cp -r "$REF/tree" "$w/tree" || die "copy in"
    local got want
    got=$(cd "$w/tree" && find . -name '*.txt' | LC_ALL=C sort)
    want=$(cd "$REF/tree" && find . -name '*.txt' | LC_ALL=C sort)
    [ "$got" = "$want" ] || die "find -name: '$got' vs '$want'"
    got=$(cd "$w/tree" && find . -type f -size +1M)
    [ "$got" = "./big.bin" ] || die "find -size: '$got'"
    touch -d '2001-01-01' "$REF/stamp"
    got=$(find "$w/tree" -type f -newer "$REF/stamp" | wc -l)
    want=$(find "$REF/tree" -type f | wc -l)
    [ "$got" = "$want" ] || die "find -newer: $got of $want"
    got=$(find "$w/tree" -type d -empty | wc -l)
    [ "$got" = 1 ] || die "find -empty: $got"
}

case_shell() {
    local w=$DIR/shell
    mkdir -p "$w/sub" || die mkdir
    (
        cd "$w" || die "cd into $w"
        [ "$(pwd)" = "$w" ] || die "pwd says $(pwd)"
        echo one >out.txt && echo two >>out.txt && echo three >>./sub/../out.txt
        printf '%s\n' one two three >"$REF/expect"
        cmp out.txt "$REF/expect" || die "redirections"
        cd sub || die "cd sub"
        echo rel >../rel.txt
        [ "$(cat ../rel.txt)" = rel ] || die "relative path"
        cat <../out.txt >copy.txt
        cmp copy.txt "$REF/expect" || die "< redirection"
        exec 7>fd7.txt && echo via7 >&7 && exec 7>&-
        [ "$(cat fd7.txt)" = via7 ] || die "exec 7>"
    ) || exit 1
}

case_tar() {
    local w=$DIR/tar
    mkdir -p "$w/x" || die mkdir
    (cd "$REF" && tar cf - tree) | (cd "$w/x" && tar xf -) || die "tar x into"
    same_tree "$REF/tree" "$w/x/tree"
    same_attrs "$REF/tree" "$w/x/tree"
    (cd "$w/x" && tar cf "$w/t.tar" tree) || die "tar c on"
    mkdir -p "$REF/untar" && tar xf "$w/t.tar" -C "$REF/untar" || die "tar x from"
    same_tree "$REF/tree" "$REF/untar/tree"
    same_attrs "$REF/tree" "$REF/untar/tree"
}

case_attrs() {
    local w=$DIR/attrs got
    mkdir -p "$w" || die mkdir
    echo data >"$w/f" || die write
    touch -d @1500000000 "$w/f" && chmod 640 "$w/f" || die "touch -d, chmod"
    got=$(stat -c '%a %Y' "$w/f")
    [ "$got" = "640 1500000000" ] || die "touch -d @1500000000; chmod 640: stat says $got"
    chown "$(id -u):$(id -g)" "$w/f" || die chown
    [ "$(stat -c '%u %g' "$w/f")" = "$(id -u) $(id -g)" ] || die "chown: $(stat -c '%u %g' "$w/f")"
    # cp -p: writes, then sets times and mode (by descriptor) before close
    head -c 300000 /dev/urandom >"$REF/attrs.bin" && chmod 604 "$REF/attrs.bin" &&
        touch -d @1400000000 "$REF/attrs.bin" || die "local file"
    cp -p "$REF/attrs.bin" "$w/g" || die "cp -p in"
    got=$(stat -c '%a %Y %s' "$w/g")
    [ "$got" = "604 1400000000 300000" ] || die "cp -p in kept $got"
    cmp "$REF/attrs.bin" "$w/g" || die "cp -p in changed data"
    cp -p "$w/f" "$REF/attrs.out" || die "cp -p out"
    got=$(stat -c '%a %Y' "$REF/attrs.out")
    [ "$got" = "640 1500000000" ] || die "cp -p out kept $got"
    # a directory, and a file written after utimens: mtime moves on
    mkdir "$w/d" && chmod 710 "$w/d" && touch -d @1300000000 "$w/d" || die "directory"
    got=$(stat -c '%a %Y' "$w/d")
    [ "$got" = "710 1300000000" ] || die "directory: stat says $got"
    echo more >>"$w/f" || die append
    [ "$(stat -c %Y "$w/f")" -gt 1600000000 ] || die "a write did not move mtime"
    "$PY" - "$w/py" <<'PYEOF' || die "python os.chmod/os.utime"
import os, stat, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.write(b"x" * 5000)
os.chmod(p, 0o604)
os.utime(p, ns=(1400000000123456789, 1500000000987654321))
st = os.stat(p)
assert stat.S_IMODE(st.st_mode) == 0o604, oct(st.st_mode)
assert st.st_mtime_ns == 1500000000987654321, st.st_mtime_ns
assert st.st_atime_ns == 1400000000123456789, st.st_atime_ns
with open(p, "ab") as f:        # by descriptor, with a write not yet closed
    f.write(b"y" * 100); f.flush()
    os.chmod(f.fileno(), 0o640)
    os.utime(f.fileno(), ns=(1200000000000000000, 1300000000000000007))
    st = os.fstat(f.fileno())
    assert stat.S_IMODE(st.st_mode) == 0o640, oct(st.st_mode)
    assert st.st_mtime_ns == 1300000000000000007, st.st_mtime_ns
st = os.stat(p)
assert st.st_mtime_ns == 1300000000000000007, ("close moved mtime", st.st_mtime_ns)
assert st.st_size == 5100, st.st_size
os.utime(p)                     # now
assert abs(os.stat(p).st_mtime - __import__("time").time()) < 60
PYEOF
}

case_python() {
    local w=$DIR/python
    mkdir -p "$w" || die mkdir
    "$PY" - "$w" "$REF/tree" <<'PYEOF' || exit 1
import hashlib, os, shutil, sys, tempfile
w, ref = sys.argv[1], sys.argv[2]
def digest(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out
with open(os.path.join(w, "t.txt"), "w") as f:
    f.write("héllo\nworld\n")
with open(os.path.join(w, "t.txt")) as f:
    assert f.read() == "héllo\nworld\n", "text round trip"
data = os.urandom(1 << 20)
with open(os.path.join(w, "b.bin"), "wb") as f:
    f.write(data); f.seek(10); f.write(b"XYZ")
with open(os.path.join(w, "b.bin"), "rb") as f:
    got = f.read()
assert got == data[:10] + b"XYZ" + data[13:], "binary round trip"
with open(os.path.join(w, "t.txt"), "a") as f:
    f.write("more\n")
with open(os.path.join(w, "t.txt")) as f:
    assert f.readlines()[-1] == "more\n", "append"
assert sorted(os.listdir(w)) == ["b.bin", "t.txt"], os.listdir(w)
shutil.copytree(ref, os.path.join(w, "copy"))
assert digest(ref) == digest(os.path.join(w, "copy")), "copytree"
walked = sum(len(f) for _, _, f in os.walk(os.path.join(w, "copy")))
assert walked == len(digest(ref)), "walk"
shutil.rmtree(os.path.join(w, "copy"))
assert not os.path.exists(os.path.join(w, "copy")), "rmtree"
with tempfile.NamedTemporaryFile(dir=w, delete=False) as tf:
    tf.write(b"temp"); name = tf.name
with open(name, "rb") as f:
    assert f.read() == b"temp"
os.unlink(name)
with tempfile.TemporaryFile(dir=w) as tf:   # unlinked while open
    tf.write(b"x" * 100000); tf.seek(0)
    assert tf.read() == b"x" * 100000, "unlinked temp file"
d = tempfile.mkdtemp(dir=w); os.rmdir(d)
st = os.stat(os.path.join(w, "b.bin"))
assert st.st_size == len(data), st
os.rename(os.path.join(w, "b.bin"), os.path.join(w, "c.bin"))
assert os.path.exists(os.path.join(w, "c.bin"))
import numpy as np
a = np.arange(300000, dtype=np.float64).reshape(600, 500)
np.save(os.path.join(w, "a.npy"), a)
assert (np.load(os.path.join(w, "a.npy")) == a).all(), "numpy"
np.savez_compressed(os.path.join(w, "z.npz"), a=a, b=a[:3])
z = np.load(os.path.join(w, "z.npz"))
assert (z["a"] == a).all() and (z["b"] == a[:3]).all(), "npz"
PYEOF
}

case_hdf5() {
    "$PY" -c 'import h5py' 2>/dev/null || { echo "skip: no h5py"; return 77; }
    local w=$DIR/hdf5
    mkdir -p "$w" || die mkdir
    "$PY" - "$w/d.h5" <<'PYEOF' || exit 1
import sys, h5py, numpy as np
p = sys.argv[1]
a = np.random.default_rng(7).random((256, 1024))
with h5py.File(p, "w") as f:
    f.create_dataset("x", data=a, chunks=(64, 256))
    f.create_group("g").attrs["note"] = "benchfs"
with h5py.File(p, "a") as f:
    f["x"][0, :] = 5.0
    a[0, :] = 5.0
with h5py.File(p, "r") as f:
    assert (f["x"][...] == a).all(), "dataset differs"
    assert f["g"].attrs["note"] == "benchfs"
PYEOF
    if command -v h5ls >/dev/null; then
        h5ls "$w/d.h5" | grep -q '^x ' || die "h5ls does not list x"
    fi
}

case_fio() {
    command -v fio >/dev/null || { echo "skip: no fio"; return 77; }
    local w=$DIR/fio
    mkdir -p "$w" || die mkdir
    # --verify_state_save=0: no local-*-verify.state files in the caller's cwd.
    fio --name=bfs --directory="$w" --ioengine=psync --rw=write --bs=64k --size=8m \
        --numjobs=2 --verify=crc32c --do_verify=1 --verify_state_save=0 \
        --output="$REF/fio.out" >/dev/null 2>&1 ||
        die "fio write+verify failed: $(tail -5 "$REF/fio.out" 2>/dev/null)"
    fio --name=bfs --directory="$w" --ioengine=psync --rw=write --bs=64k --size=8m \
        --numjobs=2 --verify=crc32c --verify_only --verify_state_save=0 \
        --output="$REF/fio2.out" >/dev/null 2>&1 ||
        die "fio verify_only failed"
}

case_rsync() {
    command -v rsync >/dev/null || { echo "skip: no rsync"; return 77; }
    local w=$DIR/rsync
    mkdir -p "$w" || die mkdir
    rsync -a "$REF/tree/" "$w/tree/" || die "rsync -a in"
    same_tree "$REF/tree" "$w/tree"
    same_attrs "$REF/tree" "$w/tree"
    rsync -a "$w/tree/" "$REF/rs/" || die "rsync -a out"
    same_tree "$REF/tree" "$REF/rs"
    same_attrs "$REF/tree" "$REF/rs"
    # a second run finds nothing to copy: sizes and mtimes are equal
    [ -z "$(rsync -a --itemize-changes "$REF/tree/" "$w/tree/")" ] ||
        die "rsync -a again copies: $(rsync -a -n --itemize-changes "$REF/tree/" "$w/tree/" | head -3)"
}

case_git() {
    command -v git >/dev/null || { echo "skip: no git"; return 77; }
    local w=$DIR/git
    mkdir -p "$w" || die mkdir
    (
        cd "$w" || exit 1
        git init -q . && git config user.email t@example.org && git config user.name t &&
            cp -r "$REF/tree/a" a && echo v1 >f.txt && git add -A && git commit -qm one &&
            echo v2 >f.txt && git commit -qam two && git log --oneline | wc -l | grep -qx 2 &&
            git fsck --no-progress >/dev/null 2>&1 && git checkout -q HEAD~1 && [ "$(cat f.txt)" = v1 ]
    ) || die "git init/add/commit/checkout failed"
}

case_mmap() {
    local w=$DIR/mmap
    mkdir -p "$w" || die mkdir
    "$PY" - "$w/m.bin" <<'PYEOF' || exit 1
import mmap, os, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.truncate(1 << 20)
with open(p, "r+b") as f:
    m = mmap.mmap(f.fileno(), 1 << 20)
    for i in range(0, 1 << 20, 4096):
        m[i:i + 8] = i.to_bytes(8, "little")
    m.flush(); m.close()
with open(p, "rb") as f:
    d = f.read()
assert len(d) == 1 << 20
for i in range(0, 1 << 20, 4096):
    assert int.from_bytes(d[i:i + 8], "little") == i, i
with open(p, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    assert m[4096:4104] == (4096).to_bytes(8, "little"); m.close()
PYEOF
}

case_twoproc() {
    local w=$DIR/twoproc
    mkdir -p "$w" || die mkdir
    head -c 200000 /dev/urandom >"$REF/tp"
    "$PY" -c 'import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$REF/tp" "$w/f" ||
        die "writer"
    cmp "$REF/tp" "$w/f" || die "reader sees different data"
    "$PY" -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' "$w/f" "$w/g" || die rename
    [ -e "$w/g" ] && [ ! -e "$w/f" ] || die "other process does not see the rename"
}

case_ior() {
    [ -n "${APPS_IOR_DIR:-}" ] || { echo "skip: APPS_IOR_DIR not set"; return 77; }
    local w=$DIR/ior
    mkdir -p "$w" || die mkdir
    "$APPS_IOR_DIR/src/ior" -a POSIX -F -t 1m -b 8m -w -r -R -C -e -o "$w/easy" \
        >"$REF/ior1" 2>&1 || die "ior easy: $(tail -5 "$REF/ior1")"
    "$APPS_IOR_DIR/src/ior" -a POSIX -t 47008 -b 47008 -s 50 -w -r -R -o "$w/hard" \
        >"$REF/ior2" 2>&1 || die "ior hard: $(tail -5 "$REF/ior2")"
    "$APPS_IOR_DIR/src/mdtest" -a POSIX -n 200 -F -u -d "$w/md" >"$REF/md" 2>&1 ||
        die "mdtest: $(tail -5 "$REF/md")"
    grep -q 'File creation' "$REF/md" || die "mdtest printed no rates"
}

# IO500 with api = POSIX, every phase on DIR (find is its built-in pfind:
# opendir/readdir/stat through the same path as any program). No stonewall
# cut (the limit is far above the run), so the file counts are exact: find
# must examine every file the phases made (2 * N mdtest files + 2 IOR files)
# and match the mdtest-hard files (3901 bytes) whose number contains "01".
case_io500() {
    [ -n "${APPS_IO500:-}" ] || { echo "skip: APPS_IO500 not set"; return 77; }
    local n=300 ini=$REF/io500.ini res=$REF/io500-results
    mkdir -p "$res" || die mkdir
    cat >"$ini" <<EOF_INI
[global]
datadir = $DIR/io500
resultdir = $res
api = POSIX
[debug]
stonewall-time = 120
[ior-easy]
transferSize = 1m
blockSize = 16m
[ior-hard]
segmentCount = 200
[mdtest-easy]
n = $n
[mdtest-hard]
n = $n
EOF_INI
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$APPS_IO500" "$ini" \
        >"$REF/io500.out" 2>&1 || die "io500: $(tail -5 "$REF/io500.out")"
    local phases
    phases=$(grep -c '^\[RESULT\]' "$REF/io500.out")
    [ "$phases" -eq 12 ] || die "io500: $phases of 12 phases reported"
    local r want_found found total
    r=$(ls "$res"/*/result.txt) || die "no result.txt"
    want_found=$(seq 0 $((n - 1)) | grep -c 01)
    found=$(sed -n '/^\[find\]/,/^\[/s/^found *= *//p' "$r")
    total=$(sed -n '/^\[find\]/,/^\[/s/^total-files *= *//p' "$r")
    [ "$total" = $((2 * n + 2)) ] || die "find examined $total files, want $((2 * n + 2))"
    [ "$found" = "$want_found" ] || die "find matched $found files, want $want_found"
}

CASES="coreutils find shell tar attrs python hdf5 fio rsync git mmap twoproc ior io500"

mkdir -p "$DIR" || { echo "apps: cannot create $DIR" >&2; exit 1; }
make_ref_tree
for name in $CASES; do
    if [ -n "${APPS_ONLY:-}" ] && [[ " $APPS_ONLY " != *" $name "* ]]; then continue; fi
    if [[ " ${APPS_SKIP:-} " == *" $name "* ]]; then
        echo "skip $name: APPS_SKIP"
        skipped=$((skipped + 1))
        continue
    fi
    out=$( (set -u; "case_$name") 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "ok $name"
        passed=$((passed + 1))
    elif [ $rc -eq 77 ]; then
        echo "skip $name: ${out#skip: }"
        skipped=$((skipped + 1))
    else
        echo "FAIL $name"
        printf '%s\n' "$out" | tail -20 | sed 's/^/    /'
        failed=$((failed + 1))
        failed_names+=("$name")
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
