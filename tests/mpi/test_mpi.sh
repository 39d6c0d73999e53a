#!/usr/bin/env bash
# test_mpi.sh BIN_DIR - benchfsd_mpi under mpirun (issue: MPI deployment).
#  1. mpirun -n 4 benchfsd_mpi + 4 concurrent client processes writing and
#     cross-verifying data; SIGINT to mpirun leaves no process, no .addr file.
#  2. one rank cannot start (its data dir is a file): every rank exits
#     non-zero in bounded time with the missing-ranks message.
#  3. a missing registry directory: the seed's error, non-zero exit.
# Exit 0 pass, 1 fail, 77 skip (no MPI build).
set -u
BIN=${1:?usage: test_mpi.sh BIN_DIR}
MPI_BIN=$BIN/benchfsd_mpi
CLI=$BIN/benchfs
[ -x "$MPI_BIN" ] || { echo "SKIP: $MPI_BIN not built"; exit 77; }
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
MPIRUN=(mpirun --oversubscribe -n 4)

TMP=$(mktemp -d /tmp/benchfs-mpi-XXXXXX)
MPIPID=""
fail() { echo "FAIL: $*"; [ -f "$TMP/mpi.log" ] && tail -30 "$TMP/mpi.log"; exit 1; }
cleanup() {
  if [ -n "$MPIPID" ] && kill -0 "$MPIPID" 2>/dev/null; then
    kill -TERM "$MPIPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$MPIPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MPIPID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# wait_until SECONDS CMD... : poll CMD until it succeeds (no fixed sleeps)
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while ! "$@"; do
    [ $SECONDS -ge $end ] && return 1
    kill -0 "$MPIPID" 2>/dev/null || return 2
    sleep 0.05
  done
}
all_registered() { [ "$(ls "$REG"/node_*.addr 2>/dev/null | wc -l)" -eq 4 ]; }

# ---- 1. four servers, four clients, SIGINT ---------------------------------
REG=$TMP/registry; mkdir -p "$REG"
cat > "$TMP/benchfs.toml" <<TOML
[node]
data_dir = "$TMP/data"
[log]
level = "info"
TOML
"${MPIRUN[@]}" "$MPI_BIN" "$REG" "$TMP/benchfs.toml" > "$TMP/mpi.log" 2>&1 &
MPIPID=$!
wait_until 60 all_registered || fail "servers did not register"
[ -f "$REG/cluster" ] || fail "no cluster file"
grep -q "servers=4" "$REG/cluster" || fail "cluster file does not say 4 servers"
for r in 0 1 2 3; do [ -d "$TMP/data/rank_$r" ] || fail "no data dir rank_$r"; done
echo "ok: 4 ranks registered"

export BENCHFS_REGISTRY=$REG
pids=()
for i in 0 1 2 3; do
  (
    head -c $((3 * 1024 * 1024 + i * 4099)) /dev/urandom > "$TMP/in$i"
    "$CLI" put "$TMP/in$i" "/client$i.bin" && "$CLI" get "/client$i.bin" "$TMP/out$i" &&
      cmp -s "$TMP/in$i" "$TMP/out$i"
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a client failed to write and verify its file"; done
# every client's data is visible to a different client process
for i in 0 1 2 3; do
  "$CLI" get "/client$i.bin" "$TMP/cross$i" || fail "cross read of /client$i.bin"
  cmp -s "$TMP/in$i" "$TMP/cross$i" || fail "cross read of /client$i.bin differs"
done
echo "ok: 4 clients wrote and cross-verified data"
grep -q "all 4 servers registered" "$TMP/mpi.log" || fail "rank 0 did not log readiness"

kill -INT "$MPIPID"
for _ in $(seq 300); do kill -0 "$MPIPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPIPID" 2>/dev/null && fail "mpirun still running 30 s after SIGINT"
wait "$MPIPID" 2>/dev/null
MPIPID=""
ls "$REG"/node_*.addr >/dev/null 2>&1 && fail ".addr files left after SIGINT"
pgrep -f "benchfsd_mpi $REG" >/dev/null && fail "benchfsd_mpi processes left after SIGINT"
grep -q "stopped:" "$TMP/mpi.log" || fail "no graceful stop logged"
echo "ok: SIGINT stopped every rank gracefully, nothing left"

# ---- 2. one rank cannot start ------------------------------------------------
REG=$TMP/registry2; mkdir -p "$REG" "$TMP/data2"
touch "$TMP/data2/rank_2" # a file where rank 2's data dir should be
cat > "$TMP/bad.toml" <<TOML
[node]
data_dir = "$TMP/data2"
[network]
startup_timeout_ms = 20000
TOML
start=$SECONDS
timeout 90 "${MPIRUN[@]}" "$MPI_BIN" "$REG" "$TMP/bad.toml" > "$TMP/mpi2.log" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "mpirun succeeded although rank 2 could not start"
[ $rc -ne 124 ] || fail "mpirun hung with a failed rank"
grep -q "missing:.*node_2" "$TMP/mpi2.log" || { cat "$TMP/mpi2.log"; fail "no missing-ranks message naming node_2"; }
ls "$REG"/node_*.addr >/dev/null 2>&1 && fail ".addr files left after a failed start"
echo "ok: failed rank reported in $((SECONDS - start)) s: $(grep -m1 'missing:' "$TMP/mpi2.log" | sed 's/.*ERROR//')"

# ---- 3. registry directory missing ---------------------------------------------
timeout 60 "${MPIRUN[@]}" "$MPI_BIN" "$TMP/no-such-dir" > "$TMP/mpi3.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "missing registry: exit $rc"
grep -qi "does not exist" "$TMP/mpi3.log" || { cat "$TMP/mpi3.log"; fail "no 'does not exist' message"; }
echo "ok: missing registry reported"
echo "test_mpi: all passed"
