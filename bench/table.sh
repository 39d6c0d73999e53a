#!/usr/bin/env bash
# table.sh - issue 17's comparison table: every IO500-style phase on local
# POSIX and on BenchFS, side by side in one run, medians of BENCH_TABLE_REPS.
#
#   bash bench/table.sh BUILD_DIR OUT_DIR     (run_all.sh calls it first)
#   bash bench/table.sh --report OUT_DIR      (only rebuild table.md and the plot)
#
# Phases (IO500 shapes):
#   ior-easy     -F -t 1m -b EASY_BLOCK -w -r       (file per process)
#   ior-hard     -t 47008 -b 47008 -s HARD_SEGS -w -r (one shared file)
#   mdtest-easy  -n EASY_FILES -F -u                (create / stat / remove)
#   mdtest-hard  -n HARD_FILES -F -w 3901 -e 3901   (create / read)
# Programs: with BENCHFS_IOR_DIR set, the public IOR/mdtest built with the
# BENCHFS backend ($BUILD/ior/ior-benchfs, mdtest-benchfs; the local column is
# the same binary with -a POSIX); otherwise benchfs-bench ior (fpp, shared,
# mdtest mode), which measures BenchFS and the local directory in one call.
# Configurations:
#   1+1       1 benchfsd + 1 client, tmpfs data dir, shm transport
#   2+2       2 benchfsd + 2 client processes on this machine (co-located);
#             every phase as a ratio to 1+1
#   tcp       ior-easy read with 1+1 over TCP on loopback, next to `benchfs get`
#   put/get   `benchfs put` / `get` (timed into /dev/null, then checked) of 1 GiB, 1 server, data dir on disk
#             (BENCH_DISK_DIR), with no environment settings (the default
#             transport) and with shm
# Every number is stored with the 1-minute load average at the moment it was
# taken (the machine is shared). Output in OUT_DIR: table.tsv (config, phase,
# backend, value, load), table.md, table.png (bench/plot/table.gp).
# Knobs: BENCH_QUICK=1 (small sizes), BENCH_TABLE_REPS (3), BENCH_TMPFS_DIR
# (/dev/shm), BENCH_DISK_DIR (/var/tmp), BENCH_STEP_TIMEOUT (seconds per run,
# 300), BENCH_TABLE_PARTS ("1+1 2+2 tcp putget").
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMPFS_DIR=${BENCH_TMPFS_DIR:-/dev/shm}
DISK_DIR=${BENCH_DISK_DIR:-/var/tmp}
QUICK=${BENCH_QUICK:-0}
REPS=${BENCH_TABLE_REPS:-3}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-300}
PARTS=${BENCH_TABLE_PARTS:-1+1 2+2 tcp putget}
if [ "$QUICK" = 1 ]; then
    EASY_BLOCK=64m HARD_SEGS=500 EASY_FILES=2000 HARD_FILES=1000 PUTGET_MIB=256
else
    EASY_BLOCK=512m HARD_SEGS=4000 EASY_FILES=20000 HARD_FILES=10000 PUTGET_MIB=1024
fi

# The rows of the table: phase, unit, goal of BenchFS/local.
PHASES="ior-easy-write ior-easy-read ior-hard-write ior-hard-read mdtest-easy-create
mdtest-easy-stat mdtest-easy-remove mdtest-hard-create mdtest-hard-read"
goal() {
    case $1 in
    ior-easy-*) echo 0.9 ;; ior-hard-*) echo 0.8 ;; mdtest-easy-create | mdtest-easy-remove) echo 0.6 ;;
    mdtest-easy-stat) echo 0.7 ;; mdtest-hard-create) echo 0.5 ;; mdtest-hard-read) echo 0.6 ;;
    esac
}
unit() { case $1 in ior-*) echo "MiB/s" ;; *) echo "ops/s" ;; esac; }

# ---- report ----------------------------------------------------------------------

# med CONFIG PHASE BACKEND: median of the stored values ("" if none).
med() {
    awk -F'\t' -v c="$1" -v p="$2" -v b="$3" '$1 == c && $2 == p && $3 == b { print $4 }' "$TTSV" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# loads CONFIG PHASE BACKEND: the load averages of those values, "a/b/c".
loads() {
    awk -F'\t' -v c="$1" -v p="$2" -v b="$3" '$1 == c && $2 == p && $3 == b { s = s (s == "" ? "" : "/") $5 }
        END { print s }' "$TTSV"
}
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
num() {
    [ -z "$1" ] && { echo "–"; return; }
    awk -v v="$1" 'BEGIN { if (v >= 10000) printf "%.0fk", v / 1000; else printf "%.0f", v }'
}
verdict() {
    [ -z "$1" ] && { echo "not measured"; return; }
    awk -v v="$1" -v g="$2" 'BEGIN { print (v >= g) ? "met" : "**not met**" }'
}

table_report() {
    local dir=$1 p l b r g
    TTSV=$dir/table.tsv
    [ -s "$TTSV" ] || { echo "table: no results in $dir" >&2; return 1; }
    {
        echo "## Issue 17 table ($(cat "$dir/table.programs" 2>/dev/null || echo '?'))"
        echo
        echo "1 benchfsd + 1 client process, tmpfs data dir, \`UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0\`;"
        echo "local POSIX = 1 process on tmpfs. Medians of the runs; \"load\" is the 1-minute load"
        echo "average when each run's number was taken (this machine is shared: a load above 1"
        echo "means the numbers are low). Sizes: $(cat "$dir/table.sizes" 2>/dev/null)."
        echo
        echo "| phase | local POSIX | BenchFS | BenchFS / local | goal | status | load (local; BenchFS) |"
        echo "|---|---|---|---|---|---|---|"
        for p in $PHASES; do
            l=$(med 1+1 "$p" local)
            b=$(med 1+1 "$p" benchfs)
            r=$(ratio "$b" "$l")
            g=$(goal "$p")
            echo "| $p $(unit "$p") | $(num "$l") | $(num "$b") | ${r:-–} | ≥ $g | $(verdict "$r" "$g") | $(loads 1+1 "$p" local); $(loads 1+1 "$p" benchfs) |"
        done
        echo
        echo "### Co-located: 2 servers + 2 client processes on 2 cores"
        echo
        echo "Aggregate rates; ratio = 2+2 / 1+1 of BenchFS (goal ≥ 0.5 for every phase)."
        echo
        echo "| phase | local POSIX np=2 | BenchFS 2+2 | BenchFS 1+1 | 2+2 / 1+1 | status | load |"
        echo "|---|---|---|---|---|---|---|"
        for p in $PHASES; do
            b=$(med 2+2 "$p" benchfs)
            r=$(ratio "$b" "$(med 1+1 "$p" benchfs)")
            echo "| $p | $(num "$(med 2+2 "$p" local)") | $(num "$b") | $(num "$(med 1+1 "$p" benchfs)") | ${r:-–} | $(verdict "$r" 0.5) | $(loads 2+2 "$p" benchfs) |"
        done
        echo
        echo "### Default configuration and TCP (1 server, MiB/s)"
        echo
        echo "| measure | value | reference | ratio | goal | status | load |"
        echo "|---|---|---|---|---|---|---|"
        for p in put get; do
            b=$(med default "$p" benchfs)
            l=$(med shm-disk "$p" benchfs)
            r=$(ratio "$b" "$l")
            echo "| \`benchfs $p\` $(cat "$dir/table.putget" 2>/dev/null), default environment, disk data dir | $(num "$b") | shm, same data dir: $(num "$l") | ${r:-–} | ≥ 0.9 | $(verdict "$r" 0.9) | $(loads default "$p" benchfs) |"
        done
        b=$(med tcp get benchfs)
        l=$(med tcp ior-easy-read benchfs)
        r=$(ratio "$b" "$l")
        echo "| \`benchfs get\` over TCP, tmpfs | $(num "$b") | ior-easy read over TCP: $(num "$l") | ${r:-–} | ≥ 0.8 | $(verdict "$r" 0.8) | $(loads tcp get benchfs) |"
    } >"$dir/table.md"
    # plot: BenchFS/local per phase (1+1) and 2+2/1+1
    for p in $PHASES; do
        r=$(ratio "$(med 1+1 "$p" benchfs)" "$(med 1+1 "$p" local)")
        g=$(ratio "$(med 2+2 "$p" benchfs)" "$(med 1+1 "$p" benchfs)")
        echo "$p ${r:-?} $(goal "$p") ${g:-?}"
    done >"$dir/table.dat"
    if command -v gnuplot >/dev/null; then
        gnuplot -e "datafile='$dir/table.dat'; outfile='$dir/table.png'; set terminal pngcairo size 900,480" \
            "$ROOT/bench/plot/table.gp" >>"$dir/gnuplot-table.log" 2>&1 ||
            gnuplot -e "datafile='$dir/table.dat'; outfile='$dir/table.png'; set terminal png size 900,480" \
                "$ROOT/bench/plot/table.gp" >>"$dir/gnuplot-table.log" 2>&1 ||
            echo "table: plot failed ($dir/gnuplot-table.log)" >&2
    fi
    return 0
}

if [ "${1:-}" = --report ]; then
    table_report "$(cd "$2" && pwd)"
    exit
fi

# ---- measurement ---------------------------------------------------------------------

BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "table.sh: no build dir '${1:-build}'" >&2; exit 2; }
OUT=${2:-}
[ -n "$OUT" ] || { echo "usage: bash bench/table.sh BUILD_DIR OUT_DIR" >&2; exit 2; }
mkdir -p "$OUT/logs" || exit 1
OUT=$(cd "$OUT" && pwd)
TTSV=$OUT/table.tsv
BIN=$BUILD/bin
CLI=$BIN/benchfs
BENCH=$BIN/benchfs-bench
IOR=$BUILD/ior/ior-benchfs
MDTEST=$BUILD/ior/mdtest-benchfs
USE_IOR=0
if [ -n "${BENCHFS_IOR_DIR:-}" ]; then
    if [ -x "$IOR" ] && [ -x "$MDTEST" ]; then
        USE_IOR=1
    else
        echo "table.sh: BENCHFS_IOR_DIR is set but $IOR / $MDTEST are not built" \
            "(cmake -DBENCHFS_IOR_DIR=...); using benchfs-bench" >&2
    fi
fi
if [ $USE_IOR = 1 ]; then
    echo "public IOR/mdtest with the BENCHFS backend" >"$OUT/table.programs"
else
    echo "benchfs-bench ior/mdtest-like programs; mdtest-hard uses one directory per process" >"$OUT/table.programs"
fi
echo "$PUTGET_MIB MiB" >"$OUT/table.putget"
echo "ior-easy -b $EASY_BLOCK, ior-hard -s $HARD_SEGS, mdtest-easy -n $EASY_FILES, mdtest-hard -n $HARD_FILES, put/get $PUTGET_MIB MiB" >"$OUT/table.sizes"

FAILS=0
CLUSTERS=()
TMPROOTS=()
cleanup() {
    local r d
    for r in "${CLUSTERS[@]}"; do "$CLI" cluster stop --registry "$r" >/dev/null 2>&1; done
    for d in "${TMPROOTS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'echo "table.sh: interrupted" >&2; exit 130' INT TERM

log() { printf '[table %4ds] %s\n' $((SECONDS)) "$*"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# put CONFIG PHASE BACKEND VALUE: one number, with the load now.
put() {
    if [ -z "$4" ]; then
        log "FAILED: no number for $1 $2 $3"
        FAILS=$((FAILS + 1))
        return
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(load1)" >>"$TTSV"
    log "$1 $2 $3: $4 (load $(load1))"
}
# step NAME CMD...: run with a timeout, output in logs/NAME.log; status of CMD.
step() {
    local name=$1
    shift
    timeout -k 5 "$STEP_TIMEOUT" "$@" >"$OUT/logs/$name.log" 2>&1 && return 0
    log "FAILED: $name (logs/$name.log):"
    tail -5 "$OUT/logs/$name.log" | sed 's/^/    /'
    FAILS=$((FAILS + 1))
    return 1
}

set_env() {
    unset UCX_TLS UCX_NET_DEVICES BENCHFS_PEER_FAILURE
    case $1 in
    shm) export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0 ;;
    tcp) export UCX_TLS=tcp,self UCX_NET_DEVICES=lo ;;
    default) ;;
    esac
}

# cluster_start N DIR: sets BASE, REG, LOCAL.
cluster_start() {
    BASE=$(mktemp -d "$2/benchfs-table.XXXXXX") || return 1
    TMPROOTS+=("$BASE")
    REG=$BASE/reg
    LOCAL=$(mktemp -d "$TMPFS_DIR/benchfs-table-local.XXXXXX") || return 1
    TMPROOTS+=("$LOCAL")
    if ! "$CLI" cluster start -n "$1" --registry "$REG" --data-dir "$BASE/data" -l warn \
        >>"$OUT/logs/clusters.log" 2>&1; then
        "$CLI" cluster stop --registry "$REG" >/dev/null 2>&1
        log "FAILED: cluster start ($1 servers in $2)"
        FAILS=$((FAILS + 1))
        return 1
    fi
    CLUSTERS+=("$REG")
    export BENCHFS_REGISTRY=$REG
}
cluster_stop() {
    local keep=() r
    "$CLI" cluster stop --registry "$REG" >>"$OUT/logs/clusters.log" 2>&1
    for r in "${CLUSTERS[@]}"; do [ "$r" != "$REG" ] && keep+=("$r"); done
    CLUSTERS=("${keep[@]}")
    rm -rf "$BASE" "$LOCAL"
    unset BENCHFS_REGISTRY
}

# mpi_prefix NP: sets MPI, the launcher of NP ranks (none for 1: a singleton).
mpi_prefix() {
    MPI=()
    [ "$1" = 1 ] || MPI=(mpirun --oversubscribe --allow-run-as-root -n "$1")
}
ior_mib() { awk '/^Summary of all tests/ { s = 1 } s && $1 == "'"$2"'" { print $2; exit }' "$1"; }
md_ops() { awk -v w="$2" '$1 == "File" && $2 == w { print $3; exit }' "$1"; }

# ior_phases CONFIG NP REP WHAT: the IOR/mdtest runs of one configuration
# (WHAT: "all" or "easy-read" for the TCP reference).
ior_phases() {
    local cfg=$1 np=$2 rep=$3 what=$4 be api dir tag order="local benchfs"
    mpi_prefix "$np"
    # Alternate which side goes first, so that what the first leaves
    # behind (freed tmpfs pages, a warm cache) favours neither.
    [ $((rep % 2)) = 0 ] && order="benchfs local"
    for be in $order; do
        if [ $be = local ]; then
            api=(-a POSIX)
            dir=$LOCAL
        else
            api=(-a BENCHFS "--benchfs.registry=$REG")
            dir=""
            "$CLI" mkdir -p /ior_easy /ior_hard >/dev/null 2>&1
        fi
        mkdir -p "$LOCAL/ior_easy" "$LOCAL/ior_hard"
        tag=$cfg-$be-$rep
        if step "ior-easy-$tag" "${MPI[@]}" "$IOR" "${api[@]}" -F -t 1m -b "$EASY_BLOCK" -w -r -o "$dir/ior_easy/file"; then
            [ "$what" = all ] && put "$cfg" ior-easy-write $be "$(ior_mib "$OUT/logs/ior-easy-$tag.log" write)"
            put "$cfg" ior-easy-read $be "$(ior_mib "$OUT/logs/ior-easy-$tag.log" read)"
        fi
        [ "$what" = all ] || continue
        if step "ior-hard-$tag" "${MPI[@]}" "$IOR" "${api[@]}" -t 47008 -b 47008 -s "$HARD_SEGS" -w -r -o "$dir/ior_hard/file"; then
            put "$cfg" ior-hard-write $be "$(ior_mib "$OUT/logs/ior-hard-$tag.log" write)"
            put "$cfg" ior-hard-read $be "$(ior_mib "$OUT/logs/ior-hard-$tag.log" read)"
        fi
        if step "mdtest-easy-$tag" "${MPI[@]}" "$MDTEST" "${api[@]}" -n $((EASY_FILES / np)) -F -u -d "$dir/mdtest_easy-$rep"; then
            put "$cfg" mdtest-easy-create $be "$(md_ops "$OUT/logs/mdtest-easy-$tag.log" creation)"
            put "$cfg" mdtest-easy-stat $be "$(md_ops "$OUT/logs/mdtest-easy-$tag.log" stat)"
            put "$cfg" mdtest-easy-remove $be "$(md_ops "$OUT/logs/mdtest-easy-$tag.log" removal)"
        fi
        if step "mdtest-hard-$tag" "${MPI[@]}" "$MDTEST" "${api[@]}" -n $((HARD_FILES / np)) -F -w 3901 -e 3901 -d "$dir/mdtest_hard-$rep"; then
            put "$cfg" mdtest-hard-create $be "$(md_ops "$OUT/logs/mdtest-hard-$tag.log" creation)"
            put "$cfg" mdtest-hard-read $be "$(md_ops "$OUT/logs/mdtest-hard-$tag.log" read)"
        fi
    done
}

# tsv_get FILE BENCH BACKEND METRIC: a value from benchfs-bench's --tsv output.
tsv_get() { awk -F'\t' -v b="$2" -v be="$3" -v m="$4" '$2 == b && $4 == be && $5 == m { v = $6 } END { print v }' "$1"; }

# bench_phases CONFIG NP REP WHAT: the same with benchfs-bench (both backends per call).
bench_phases() {
    local cfg=$1 np=$2 rep=$3 what=$4 t be tag=$1-$3
    t=$OUT/logs/bench-$tag.tsv
    : >"$t"
    local common=(--procs "$np" --registry "$REG" --local "$LOCAL" --tsv "$t" --label "$cfg")
    if step "fpp-$tag" "$BENCH" ior --mode fpp --transfer 1m --block "$EASY_BLOCK" "${common[@]}"; then
        for be in local benchfs; do
            [ "$what" = all ] && put "$cfg" ior-easy-write $be "$(tsv_get "$t" ior-fpp $be write_mib_s)"
            put "$cfg" ior-easy-read $be "$(tsv_get "$t" ior-fpp $be read_mib_s)"
        done
    fi
    [ "$what" = all ] || return
    if step "shared-$tag" "$BENCH" ior --mode shared --transfer 47008 --block 47008 \
        --segments "$HARD_SEGS" "${common[@]}"; then
        for be in local benchfs; do
            put "$cfg" ior-hard-write $be "$(tsv_get "$t" ior-shared $be write_mib_s)"
            put "$cfg" ior-hard-read $be "$(tsv_get "$t" ior-shared $be read_mib_s)"
        done
    fi
    if step "mdtest-$tag" "$BENCH" ior --mode mdtest --files $((EASY_FILES / np)) \
        --data-files $((HARD_FILES / np)) --file-size 3901 "${common[@]}"; then
        for be in local benchfs; do
            put "$cfg" mdtest-easy-create $be "$(tsv_get "$t" mdtest $be create_ops_s)"
            put "$cfg" mdtest-easy-stat $be "$(tsv_get "$t" mdtest $be stat_ops_s)"
            put "$cfg" mdtest-easy-remove $be "$(tsv_get "$t" mdtest $be remove_ops_s)"
            put "$cfg" mdtest-hard-create $be "$(tsv_get "$t" mdtest $be create-data_ops_s)"
            put "$cfg" mdtest-hard-read $be "$(tsv_get "$t" mdtest $be read-data_ops_s)"
        done
    fi
}

# config NAME TRANSPORT N REPS WHAT: N servers + N clients on tmpfs.
config() {
    local cfg=$1 tr=$2 n=$3 reps=$4 what=$5 r
    set_env "$tr"
    for r in $(seq "$reps"); do
        log "=== $cfg ($n server(s) + $n client(s), $tr), run $r/$reps ==="
        cluster_start "$n" "$TMPFS_DIR" || continue
        if [ $USE_IOR = 1 ]; then
            ior_phases "$cfg" "$n" "$r" "$what"
        else
            bench_phases "$cfg" "$n" "$r" "$what"
        fi
        cluster_stop
    done
}

# putget CONFIG TRANSPORT DIR PHASES: benchfs put / get of PUTGET_MIB MiB, 1 server.
putget() {
    local cfg=$1 tr=$2 dir=$3 phases=$4 src rate
    set_env "$tr"
    log "=== $cfg: benchfs put/get $PUTGET_MIB MiB, data dir under $dir ==="
    cluster_start 1 "$dir" || return
    src=$LOCAL/src.bin
    head -c $((PUTGET_MIB << 20)) /dev/urandom >"$src"
    if step "put-$cfg" "$CLI" put -v -q "$src" /big.bin; then
        rate=$(grep -o '[0-9.]* MiB/s' "$OUT/logs/put-$cfg.log" | tail -1 | cut -d' ' -f1)
        case " $phases " in *" put "*) put "$cfg" put benchfs "$rate" ;; esac
        # Timed into /dev/null, as IOR's read writes nothing either (a new
        # 1 GiB file on tmpfs costs this VM as much as the read: `cp` of one
        # took 2.3 s); then once more into a file, untimed, to check bytes.
        if step "get-$cfg" "$CLI" get -v -q /big.bin /dev/null &&
            step "get-$cfg-check" "$CLI" get -q /big.bin "$LOCAL/back.bin"; then
            rate=$(grep -o '[0-9.]* MiB/s' "$OUT/logs/get-$cfg.log" | tail -1 | cut -d' ' -f1)
            if cmp -s "$src" "$LOCAL/back.bin"; then
                put "$cfg" get benchfs "$rate"
            else
                log "FAILED: $cfg get returned different bytes"
                FAILS=$((FAILS + 1))
            fi
        fi
    fi
    cluster_stop
}

: >"$TTSV"
log "programs: $(cat "$OUT/table.programs"); sizes: $(cat "$OUT/table.sizes"); load $(load1)"
for part in $PARTS; do
    case $part in
    1+1) config 1+1 shm 1 "$REPS" all ;;
    2+2) config 2+2 shm 2 "$REPS" all ;;
    tcp)
        config tcp tcp 1 1 easy-read
        putget tcp tcp "$TMPFS_DIR" get
        ;;
    putget)
        putget default default "$DISK_DIR" "put get"
        putget shm-disk shm "$DISK_DIR" "put get"
        ;;
    esac
done
table_report "$OUT"
cat "$OUT/table.md"
[ $FAILS = 0 ] || { log "$FAILS failure(s)"; exit 1; }
exit 0
