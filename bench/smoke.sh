#!/usr/bin/env bash
# smoke.sh - CTest bench.smoke: the benchmark programs that make bench relies
# on still run and still check what they measure, in a few seconds.
#
#   bash bench/smoke.sh BIN_DIR      (BIN_DIR holds benchfs, benchfsd, benchfs-bench)
#
# Starts 2 servers (benchfs cluster start, private temp dir, TCP unless
# UCX_TLS is set), then:
#   - benchfs-bench ior --mode mdtest on BenchFS and a local directory: every
#     phase, including read-data (open + read + close of 3901-byte files, the
#     content compared), must report a rate for both, and requests per
#     operation for BenchFS (fewer than one for read-data with direct reads
#     of this host's servers, at least one without: BENCHFS_DIRECT=0);
#   - benchfs-bench scale with 4 clients: all 4 connect, create, stat and
#     remove, and the servers gained sockets.
# Exit 0 pass, 1 fail, 77 skip (programs not built).
set -uo pipefail
BIN=${1:?usage: smoke.sh BIN_DIR}
for p in benchfs benchfsd benchfs-bench; do [ -x "$BIN/$p" ] || exit 77; done
: "${UCX_TLS:=tcp,self}"
export UCX_TLS
D=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX") || exit 1
trap '"$BIN/benchfs" cluster stop --registry "$D/reg" >/dev/null 2>&1; rm -rf "$D"' EXIT
fail() { echo "bench.smoke: FAIL: $*" >&2; exit 1; }
mkdir -p "$D/local"
"$BIN/benchfs" cluster start -n 2 --registry "$D/reg" --data-dir "$D/data" -l warn >"$D/start.log" 2>&1 ||
    { cat "$D/start.log"; fail "cluster start"; }

"$BIN/benchfs-bench" ior --mode mdtest --procs 2 --files 20 --data-files 10 --registry "$D/reg" \
    --local "$D/local" --tsv "$D/md.tsv" --label smoke >"$D/md.log" 2>&1 || { cat "$D/md.log"; fail "mdtest mode"; }
for be in benchfs local; do
    for ph in create stat remove create-data read-data; do
        v=$(awk -F'\t' -v be=$be -v m="${ph}_ops_s" '$4 == be && $5 == m { print $6 }' "$D/md.tsv")
        awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || fail "no $ph rate for $be"
    done
done
# Requests per operation are counted: on this host the servers' stores and
# chunk files are read directly (docs/architecture.md#direct-metadata-reads),
# so read-data needs less than one request per file; through the servers
# (BENCHFS_DIRECT=0) at least one.
v=$(awk -F'\t' '$4 == "benchfs" && $5 == "read-data_rpcs_per_op" { print $6 }' "$D/md.tsv")
awk -v v="$v" 'BEGIN { exit !(v != "" && v + 0 < 1) }' || fail "read-data requests per op (direct): '$v'"
BENCHFS_DIRECT=0 "$BIN/benchfs-bench" ior --mode mdtest --procs 2 --files 20 --data-files 10 \
    --registry "$D/reg" --tsv "$D/md0.tsv" --label smoke-rpc >"$D/md0.log" 2>&1 ||
    { cat "$D/md0.log"; fail "mdtest mode (BENCHFS_DIRECT=0)"; }
v=$(awk -F'\t' '$4 == "benchfs" && $5 == "read-data_rpcs_per_op" { print $6 }' "$D/md0.tsv")
awk -v v="$v" 'BEGIN { exit !(v + 0 >= 1) }' || fail "read-data requests per op (BENCHFS_DIRECT=0): '$v'"

"$BIN/benchfs-bench" scale --registry "$D/reg" --clients 4 --tsv "$D/scale.tsv" >"$D/scale.log" 2>&1 ||
    { cat "$D/scale.log"; fail "scale"; }
grep -q '^clients: 4 of 4 succeeded' "$D/scale.log" || { cat "$D/scale.log"; fail "scale: not all clients"; }
v=$(awk -F'\t' '$5 == "server_sockets_per_client_set" { print $6 }' "$D/scale.tsv")
echo "bench.smoke: mdtest phases and scale ok (sockets added per server: $v)"
exit 0
