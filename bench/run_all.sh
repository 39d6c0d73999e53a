#!/usr/bin/env bash
# run_all.sh - `make bench`: the BenchFS benchmark suite on one machine.
#
#   bash bench/run_all.sh BUILD_DIR
#   bash bench/run_all.sh --report RESULTS_DIR   (only rebuild summary.md and plots)
#
# Writes bench/results/run-<UTC time>/ (and the symlink bench/results/latest):
#   results.tsv   every number, one per line (label, benchmark, transport,
#                 backend, metric, value) - the source of everything below
#   json/*.json   each benchfs-bench run's own JSON
#   *.png         gnuplot plots (bench/plot/*.gp)
#   summary.md    tables and the targets (docs/performance.md), met or not
#   logs/         output of every step
#
# What runs (docs/performance.md explains each), in priority order so that
# the time budget (BENCH_BUDGET seconds, default 840, counted from the start)
# cuts the least important parts; "N+N" = N servers and N client processes:
#   0. bench/table.sh: issue 17's table (every IO500 phase, local POSIX vs
#      BenchFS 1+1 on shm, medians of 3; the co-located 2+2 case; default
#      put/get; get vs IOR read over TCP) - public IOR/mdtest when
#      BENCHFS_IOR_DIR is set, else benchfs-bench; then bench/scale.sh (the
#      connection storm: 64 servers + 256 clients, reduced to fit memory).
#      The tables replace the part of docs/performance.md between the
#      "bench:table" markers (BENCH_UPDATE_DOCS=0: leave the doc alone).
#   1. per transport (shm, then tcp on loopback only: UCX_NET_DEVICES=lo):
#      tmpfs 1+1 with idle server CPU (fresh), rpc, ior fpp 1 MiB, ior
#      shared 47008 B and mdtest (x3, medians), idle CPU after the traffic;
#      then ucx_perftest on that transport
#   2. the seed-002 small benchmark (server + client, shm)
#   3. shm: tmpfs 2+2 (x3; the "2+2 vs 1+1" ratio), disk 1+1 (x2), tmpfs
#      4+4, tmpfs 1+1 mdtest with metadata.durability=none
#   4. tcp: tmpfs 2+2 (x2) and 4+4; rpc with 2 clients on both transports;
#      shm disk 2+2; tcp disk 1+1
# Every run also records `benchfs-bench calib`, the load and the busiest
# processes at start and end (other engineers' jobs skew everything).
# Knobs: BENCH_BUDGET, BENCH_STEP_TIMEOUT (seconds per step, 120),
# BENCH_DISK_DIR (default /var/tmp), BENCH_TMPFS_DIR (default /dev/shm),
# BENCH_TRANSPORTS (default "shm tcp"), BENCH_QUICK=1 (smaller sizes, for a
# smoke test).
#
# Robustness: every cluster is started with `benchfs cluster start` and
# stopped by the pids it recorded; ucx_perftest servers are killed by pid;
# temp dirs are removed on exit (also on Ctrl+C / SIGTERM); each step has a
# timeout. A failed measurement is reported (summary.md "Failures", exit
# status 1) and the rest goes on.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMPFS_DIR=${BENCH_TMPFS_DIR:-/dev/shm}
DISK_DIR=${BENCH_DISK_DIR:-/var/tmp}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then FPP_BLOCK=32m SHARED_SEGS=300; else FPP_BLOCK=256m SHARED_SEGS=2000; fi

# ---- report: summary.md and plots from results.tsv (also: run_all.sh --report DIR) ----

# val LABEL BENCH BACKEND METRIC: the median of the matching values in $RTSV
# (repeated runs), "" if none. Ratios are medians of the per-run ratios.
val() {
    awk -F'\t' -v l="$1" -v b="$2" -v be="$3" -v m="$4" \
        '$1 == l && $2 == b && $4 == be && $5 == m { print $6 }' "$RTSV" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# nval ...: how many values val takes the median of.
nval() {
    awk -F'\t' -v l="$1" -v b="$2" -v be="$3" -v m="$4" \
        '$1 == l && $2 == b && $4 == be && $5 == m { n++ } END { print n + 0 }' "$RTSV"
}
# perf TRANSPORT TEST METRIC: a ucx_perftest number.
perf() {
    awk -F'\t' -v t="$1" -v n="$2" -v m="$3" \
        '$1 == n && $2 == "perftest" && $3 == t && $5 == m { v = $6 } END { if (v != "") print v }' "$RTSV"
}
# calc EXPR with a b c ...: awk arithmetic on values; "" when any is empty.
calc() {
    local expr=$1 a
    shift
    for a in "$@"; do [ -z "$a" ] && return; done
    awk -v a="${1:-0}" -v b="${2:-0}" -v c="${3:-0}" "BEGIN { v = $expr; printf \"%.6g\", v }"
}
fmt() { [ -z "$1" ] && { echo "–"; return; }; awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }'; }
# check VALUE OP GOAL: "met" / "**not met**" / "not measured".
check() {
    [ -z "$1" ] && { echo "not measured"; return; }
    awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? v >= g : (op == "<=") ? v <= g : v < g
        print ok ? "met" : "**not met**" }'
}
# trow DESCRIPTION LABEL BENCH BACKEND METRIC DIGITS OP GOAL: one target row,
# the median and, over repeated runs, the range.
trow() {
    local v n lo hi extra=""
    v=$(val "$2" "$3" "$4" "$5")
    n=$(nval "$2" "$3" "$4" "$5")
    if [ "$n" -gt 1 ]; then
        read -r lo hi < <(awk -F'\t' -v l="$2" -v b="$3" -v be="$4" -v m="$5" \
            '$1 == l && $2 == b && $4 == be && $5 == m { if (!n++ || $6 < lo) lo = $6; if (n == 1 || $6 > hi) hi = $6 }
             END { print lo, hi }' "$RTSV")
        extra=" (×$n: $(fmt "$lo" "$6")–$(fmt "$hi" "$6"))"
    fi
    echo "| $1 | $(fmt "$v" "$6")$extra | $(echo "$7" | sed 's/>=/≥/; s/<=/≤/') $8 | $(check "$v" "$7" "$8") |"
}
labels() { awk -F'\t' -v b="$1" '$2 == b && !seen[$1]++ { print $1 }' "$RTSV"; }

report() {
    local dir=$1 md term tr l b
    RTSV=$dir/results.tsv
    md=$dir/summary.md
    [ -s "$RTSV" ] || { echo "report: no results in $dir" >&2; return 1; }
    plots "$dir"
    {
        echo "# BenchFS benchmark results"
        echo
        echo '```'
        cat "$dir/env.txt" 2>/dev/null
        echo '```'
        echo
        echo "Transports: shm = \`BENCHFS_PEER_FAILURE=0 UCX_TLS=shm,self\`, tcp = \`UCX_TLS=tcp,self"
        echo "UCX_NET_DEVICES=lo\` (loopback). Configurations are named transport:storage:servers:clients;"
        echo "tmpfs is $TMPFS_DIR, disk is $DISK_DIR. Every BenchFS number has its local-POSIX"
        echo "counterpart from the same run on the same storage. See docs/performance.md."
        echo
        for f in table.md scale.md; do
            [ -f "$dir/$f" ] && { cat "$dir/$f"; echo; }
        done
        [ -f "$dir/table.png" ] && { echo "![table](table.png)"; echo; }
        echo "## Machine calibration (benchfs-bench calib)"
        echo
        echo "| when | pipe RTT, any CPU (sleep + wakeup) | pipe RTT, one CPU | shared-memory spin RTT |"
        echo "|---|---|---|---|"
        for l in start end; do
            echo "| $l | $(fmt "$(val $l calib host pipe_rtt_us)" 1) us | $(fmt "$(val $l calib host pipe_rtt_1cpu_us)" 1) us | $(fmt "$(val $l calib host spin_rtt_us)" 3) us |"
        done
        echo
        echo "## Targets (docs/performance.md)"
        echo
        echo "| target | measured | goal | status |"
        echo "|---|---|---|---|"
        local r
        for tr in shm tcp; do
            local c=$tr:tmpfs:1s:1p note=""
            [ "$tr" = tcp ] && note=" (tcp, informational)"
            [ "$tr" = tcp ] && [ -z "$(val $c ior-fpp ratio write)" ] && continue
            trow "fpp 1 MiB write, BenchFS/local$note" $c ior-fpp ratio write 2 '>=' 0.9
            trow "fpp 1 MiB read, BenchFS/local$note" $c ior-fpp ratio read 2 '>=' 0.9
            trow "shared 47008 B write, BenchFS/local$note" $c ior-shared ratio write 2 '>=' 0.8
            trow "shared 47008 B read, BenchFS/local$note" $c ior-shared ratio read 2 '>=' 0.8
            trow "create empty files/s$note" $c mdtest benchfs create_ops_s 0 '>=' 200000
            trow "stat/s$note" $c mdtest benchfs stat_ops_s 0 '>=' 450000
            trow "remove/s$note" $c mdtest benchfs remove_ops_s 0 '>=' 200000
            trow "create 3901-byte files/s$note" $c mdtest benchfs create-data_ops_s 0 '>=' 100000
            local c2=$tr:tmpfs:2s:2p m
            for m in "ior-fpp write_mib_s fpp write" "ior-fpp read_mib_s fpp read" "mdtest create_ops_s create"; do
                set -- $m
                r=$(calc 'a/b' "$(val $c2 "$1" benchfs "$2")" "$(val $c "$1" benchfs "$2")")
                echo "| 2+2 vs 1+1, $3 ${4:-} (aggregate)$note | $(fmt "$r" 2) | ≥ 0.5 | $(check "$r" '>=' 0.5) |"
            done
            r=$(awk -F'\t' -v t="$tr" '$2 == "idle" && $3 == t { if (n == 0 || $6 + 0 > m) m = $6 + 0; n++ } END { if (n) print m }' "$RTSV")
            echo "| idle server, % of a core (worst)$note | $(fmt "$r" 2) | < 1 | $(check "$r" '<' 1) |"
            local rtt=$(val $tr:tmpfs:1s:1c rpc benchfs ping_p50_us)
            r=$(calc 'a/(2*b)' "$rtt" "$(perf $tr am_lat p50_us)")
            echo "| ping RTT p50 / ucx_perftest am_lat RTT p50 [$tr] | $(fmt "$rtt" 2) us / $(fmt "$(calc '2*a' "$(perf $tr am_lat p50_us)")" 2) us = $(fmt "$r" 2) | ≤ 2 | $(check "$r" '<=' 2) |"
            r=$(calc 'a/(2*b)' "$rtt" "$(perf $tr ucp_am_lat p50_us)")
            echo "| ping RTT p50 / ucp_am_lat RTT p50 [$tr] (UCP, what BenchFS uses) | $(fmt "$rtt" 2) us / $(fmt "$(calc '2*a' "$(perf $tr ucp_am_lat p50_us)")" 2) us = $(fmt "$r" 2) | ≤ 2 | $(check "$r" '<=' 2) |"
        done
        trow "disk data dir: creates BenchFS/local" shm:disk:1s:1p mdtest ratio create 2 '>=' 2
        r=$(val shm:tmpfs:1s:1p:durability=none mdtest benchfs create-data_ops_s)
        [ -n "$r" ] && echo "| create 3901-byte files/s with metadata.durability=none (informational) | $(fmt "$r" 0) | ≥ 100000 | $(check "$r" '>=' 100000) |"
        echo
        echo "Numbers are medians over repeated runs where the tables below say ×N."
        echo
        echo "## IOR-like bandwidth (MiB/s)"
        echo
        echo "fpp: 1 MiB transfers, $FPP_BLOCK per process; shared: 47008-byte transfers into one file,"
        echo "$SHARED_SEGS per process. ×N = median of N runs (each run measures BenchFS, then local)."
        echo
        echo "| config | fpp write BenchFS | local | ratio | fpp read BenchFS | local | ratio | shared write BenchFS | local | ratio | shared read BenchFS | local | ratio |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        for l in $(labels ior-fpp; labels ior-shared); do echo "$l"; done | awk '!s[$0]++' | while read -r l; do
            printf '| %s (×%s) ' "$l" "$(nval "$l" ior-fpp benchfs write_mib_s)"
            for b in ior-fpp ior-shared; do
                for p in write read; do
                    printf '| %s | %s | %s ' "$(fmt "$(val "$l" $b benchfs ${p}_mib_s)" 0)" \
                        "$(fmt "$(val "$l" $b local ${p}_mib_s)" 0)" "$(fmt "$(val "$l" $b ratio $p)" 2)"
                done
            done
            echo "|"
        done
        echo
        echo "## Metadata (ops/s, mdtest mode, one directory per process)"
        echo
        echo "| config | create BenchFS | local | ratio | stat BenchFS | local | ratio | remove BenchFS | local | ratio | create 3901 B BenchFS | local | ratio |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        labels mdtest | while read -r l; do
            printf '| %s (×%s) ' "$l" "$(nval "$l" mdtest benchfs create_ops_s)"
            for p in create stat remove create-data; do
                printf '| %s | %s | %s ' "$(fmt "$(val "$l" mdtest benchfs ${p}_ops_s)" 0)" \
                    "$(fmt "$(val "$l" mdtest local ${p}_ops_s)" 0)" "$(fmt "$(val "$l" mdtest ratio $p)" 2)"
            done
            echo "|"
        done
        echo
        echo "## RPC level (benchfs-bench rpc: raw client, one RPC in flight per client)"
        echo
        echo "| config | ping p50 us | p99 us | mean us | min us | pings/s | server CPU us/ping |"
        echo "|---|---|---|---|---|---|---|"
        labels rpc | while read -r l; do
            echo "| $l | $(fmt "$(val "$l" rpc benchfs ping_p50_us)" 1) | $(fmt "$(val "$l" rpc benchfs ping_p99_us)" 1) | $(fmt "$(val "$l" rpc benchfs ping_mean_us)" 1) | $(fmt "$(val "$l" rpc benchfs ping_min_us)" 1) | $(fmt "$(val "$l" rpc benchfs ping_ops_s)" 0) | $(fmt "$(val "$l" rpc benchfs ping_srv_cpu_us_per_op)" 2) |"
        done
        echo
        echo "Chunk transfer bandwidth, MiB/s (1 client; sizes above max_xfer are sent as sequential"
        echo "max_xfer pieces), next to ucx_perftest ucp_am_bw (window of sends, one process):"
        echo
        echo "| size | shm write | shm read | shm ucp_am_bw | tcp write | tcp read | tcp ucp_am_bw | shm srv CPU s/GiB w/r | tcp srv CPU s/GiB w/r |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for sz in 4096 16384 65536 262144 1048576 4194304 16777216; do
            local ps pt name
            case $sz in 4096) name=ucp_am_bw_4k ;; 65536) name=ucp_am_bw_64k ;; 1048576) name=ucp_am_bw_1m ;;
                16777216) name=ucp_am_bw_16m ;; *) name=none ;; esac
            ps=$(perf shm $name mib_s); pt=$(perf tcp $name mib_s)
            [ -z "$(val shm:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s)$(val tcp:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s)" ] && continue
            echo "| $sz | $(fmt "$(val shm:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s)" 0) | $(fmt "$(val shm:tmpfs:1s:1c rpc benchfs read_${sz}_mib_s)" 0) | $(fmt "$ps" 0) | $(fmt "$(val tcp:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s)" 0) | $(fmt "$(val tcp:tmpfs:1s:1c rpc benchfs read_${sz}_mib_s)" 0) | $(fmt "$pt" 0) | $(fmt "$(val shm:tmpfs:1s:1c rpc benchfs write_${sz}_srv_cpu_s_per_gib)" 2)/$(fmt "$(val shm:tmpfs:1s:1c rpc benchfs read_${sz}_srv_cpu_s_per_gib)" 2) | $(fmt "$(val tcp:tmpfs:1s:1c rpc benchfs write_${sz}_srv_cpu_s_per_gib)" 2)/$(fmt "$(val tcp:tmpfs:1s:1c rpc benchfs read_${sz}_srv_cpu_s_per_gib)" 2) |"
        done
        echo
        echo "## ucx_perftest (loopback; latency is ucx_perftest's one-way figure = RTT/2)"
        echo
        echo "| test | transport | p50 us | avg us | MiB/s | msg/s |"
        echo "|---|---|---|---|---|---|"
        awk -F'\t' '$2 == "perftest" && !s[$1 FS $3]++ { print $1 "\t" $3 }' "$RTSV" | while IFS=$'\t' read -r n t; do
            echo "| $n | $t | $(fmt "$(perf "$t" "$n" p50_us)" 3) | $(fmt "$(perf "$t" "$n" avg_us)" 3) | $(fmt "$(perf "$t" "$n" mib_s)" 1) | $(fmt "$(perf "$t" "$n" msg_s)" 0) |"
        done
        echo
        echo "## Server CPU cost (STATUS counters before/after each phase, all servers)"
        echo
        echo "| config | fpp write s/GiB | fpp read s/GiB | shared write s/GiB | shared read s/GiB | create s/1000 ops | stat | remove | create 3901 B |"
        echo "|---|---|---|---|---|---|---|---|---|"
        for l in $(labels ior-fpp; labels mdtest); do echo "$l"; done | awk '!s[$0]++' | while read -r l; do
            echo "| $l | $(fmt "$(val "$l" ior-fpp benchfs write_srv_cpu_s_per_gib)" 3) | $(fmt "$(val "$l" ior-fpp benchfs read_srv_cpu_s_per_gib)" 3) | $(fmt "$(val "$l" ior-shared benchfs write_srv_cpu_s_per_gib)" 3) | $(fmt "$(val "$l" ior-shared benchfs read_srv_cpu_s_per_gib)" 3) | $(fmt "$(val "$l" mdtest benchfs create_srv_cpu_s_per_kop)" 4) | $(fmt "$(val "$l" mdtest benchfs stat_srv_cpu_s_per_kop)" 4) | $(fmt "$(val "$l" mdtest benchfs remove_srv_cpu_s_per_kop)" 4) | $(fmt "$(val "$l" mdtest benchfs create-data_srv_cpu_s_per_kop)" 4) |"
        done
        echo
        echo "Idle servers (CPU time from /proc/<pid>/stat over a few seconds):"
        echo
        echo "| when | transport | % of a core per server |"
        echo "|---|---|---|"
        awk -F'\t' '$2 == "idle" { printf "| %s | %s | %.2f |\n", $1, $3, $6 }' "$RTSV"
        echo
        echo "## Plots"
        echo
        for p in ior_ratio mdtest rpc_bw latency scaling; do
            [ -f "$dir/$p.png" ] && echo "![$p]($p.png)"
        done
        echo
        echo "## Failures"
        echo
        if [ -s "$dir/failures.txt" ] && [ -n "$(tr -d '[:space:]' <"$dir/failures.txt")" ]; then
            sed 's/^/- /' "$dir/failures.txt"
        else
            echo "none"
        fi
    } >"$md"
}

# Data files for gnuplot, then the plots (bench/plot/*.gp).
plots() {
    local dir=$1 term l tr sz
    command -v gnuplot >/dev/null || { echo "report: gnuplot missing, no plots" >&2; return 0; }
    if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then term="pngcairo size 1000,560 font 'sans,10'"; else term="png size 1000,560"; fi
    for l in $(labels ior-fpp; labels ior-shared); do echo "$l"; done | awk '!s[$0]++' | while read -r l; do
        printf '"%s" %s %s %s %s\n' "$l" "$(val "$l" ior-fpp ratio write || true)" "$(val "$l" ior-fpp ratio read)" \
            "$(val "$l" ior-shared ratio write)" "$(val "$l" ior-shared ratio read)"
    done | awk '{ for (i = NF + 1; i <= 5; i++) $i = "?"; print }' >"$dir/ior_ratio.dat"
    for p in create stat remove create-data; do
        echo "\"$p\" $(val shm:tmpfs:1s:1p mdtest benchfs ${p}_ops_s) $(val shm:tmpfs:1s:1p mdtest local ${p}_ops_s) $(val tcp:tmpfs:1s:1p mdtest benchfs ${p}_ops_s) $(val shm:disk:1s:1p mdtest benchfs ${p}_ops_s) $(val shm:disk:1s:1p mdtest local ${p}_ops_s)"
    done | awk '{ for (i = 1; i <= 6; i++) if ($i == "") $i = "?"; print }' >"$dir/mdtest.dat"
    for sz in 4096 16384 65536 262144 1048576 4194304 16777216; do
        local name=none
        case $sz in 4096) name=ucp_am_bw_4k ;; 65536) name=ucp_am_bw_64k ;; 1048576) name=ucp_am_bw_1m ;; 16777216) name=ucp_am_bw_16m ;; esac
        echo "$sz ${sz}:$(val shm:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s):$(val shm:tmpfs:1s:1c rpc benchfs read_${sz}_mib_s):$(val tcp:tmpfs:1s:1c rpc benchfs write_${sz}_mib_s):$(val tcp:tmpfs:1s:1c rpc benchfs read_${sz}_mib_s):$(perf shm $name mib_s):$(perf tcp $name mib_s)"
    done | awk '{ n = split($2, f, ":"); printf "%s", $1; for (i = 2; i <= 7; i++) printf " %s", (f[i] == "" ? "?" : f[i]); print "" }' >"$dir/rpc_bw.dat"
    for tr in shm tcp; do
        echo "\"BenchFS ping ($tr)\" $(val $tr:tmpfs:1s:1c rpc benchfs ping_p50_us) $(val $tr:tmpfs:1s:1c rpc benchfs ping_p99_us)"
        echo "\"UCT am\\\\_lat x2 ($tr)\" $(calc '2*a' "$(perf $tr am_lat p50_us)") ?"
        echo "\"UCP am\\\\_lat x2 ($tr)\" $(calc '2*a' "$(perf $tr ucp_am_lat p50_us)") ?"
    done | awk '{ n = NF; if ($(n) == "") $n = "?"; print }' | awk 'NF >= 2' >"$dir/latency.dat"
    for n in 1 2 4; do
        printf '%s' "$n"
        for tr in shm tcp; do
            printf ' %s %s %s' "$(val $tr:tmpfs:${n}s:${n}p ior-fpp benchfs write_mib_s)" \
                "$(val $tr:tmpfs:${n}s:${n}p ior-fpp benchfs read_mib_s)" "$(val $tr:tmpfs:${n}s:${n}p mdtest benchfs create_ops_s)"
        done
        echo
    done | awk '{ for (i = 2; i <= 7; i++) if ($i == "") $i = "?"; print }' >"$dir/scaling.dat"
    local p
    for p in ior_ratio mdtest rpc_bw latency scaling; do
        gnuplot -e "datafile='$dir/$p.dat'; outfile='$dir/$p.png'; set terminal $term" \
            "$ROOT/bench/plot/$p.gp" >>"$dir/logs/gnuplot.log" 2>&1 ||
            echo "report: plot $p failed (logs/gnuplot.log)" >&2
    done
    return 0
}

# update_docs DIR: put DIR's table.md and scale.md between the markers of
# docs/performance.md (<!-- bench:table begin/end -->), with the run's name.
update_docs() {
    local dir=$1 doc=$ROOT/docs/performance.md tmp
    grep -q '^<!-- bench:table begin -->$' "$doc" || return 0
    [ -f "$dir/table.md" ] || return 0
    tmp=$(mktemp) || return 0
    {
        echo "Generated by \`make bench\` ($(basename "$dir"), $(head -1 "$dir/env.txt" 2>/dev/null);"
        echo "$(grep '^load at start' "$dir/env.txt" 2>/dev/null)). The plot is \`table.png\` in that run's directory."
        echo
        sed 's/^## /#### /; s/^### /#### /' "$dir/table.md"
        [ -f "$dir/scale.md" ] && { echo; sed 's/^## /#### /' "$dir/scale.md"; }
    } >"$tmp.body"
    awk -v body="$tmp.body" '
        /^<!-- bench:table begin -->$/ { print; while ((getline l < body) > 0) print l; skip = 1; next }
        /^<!-- bench:table end -->$/ { skip = 0 }
        !skip { print }' "$doc" >"$tmp" && cat "$tmp" >"$doc"
    rm -f "$tmp" "$tmp.body"
    log "docs/performance.md: table updated from $(basename "$dir")"
}

if [ "${1:-}" = --report ]; then
    report "$(cd "$2" && pwd)"
    exit
fi

BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || { echo "run_all.sh: no build dir '${1:-build}'" >&2; exit 2; }
BIN=$BUILD/bin
BENCH=$BIN/benchfs-bench
CLI=$BIN/benchfs
for b in "$BENCH" "$CLI" "$BIN/benchfsd"; do
    [ -x "$b" ] || { echo "run_all.sh: $b is not built" >&2; exit 2; }
done

STAMP=$(date -u +%Y%m%d-%H%M%S)
OUT=$ROOT/bench/results/run-$STAMP
mkdir -p "$OUT/json" "$OUT/logs" || exit 1
ln -sfn "run-$STAMP" "$ROOT/bench/results/latest"
TSV=$OUT/results.tsv
: >"$TSV"
BUDGET=${BENCH_BUDGET:-840}
STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-120}   # one benchfs-bench run; a hang must not eat the budget
TRANSPORTS=${BENCH_TRANSPORTS:-shm tcp}

if [ "$QUICK" = 1 ]; then
    SHARED_SEGS=300; MD_TOTAL=2000; MD_DATA_TOTAL=500; RPC_DUR=0.2; RPC_SIZES=4k,64k,1m,16m; REPS=1
    PERF_LAT_N=20000; IDLE_S=2
else
    SHARED_SEGS=2000; MD_TOTAL=30000; MD_DATA_TOTAL=4000; RPC_DUR=1; RPC_SIZES=4k,16k,64k,256k,1m,4m,16m; REPS=3
    PERF_LAT_N=200000; IDLE_S=5
fi

CLUSTERS=()   # registry dirs of running clusters
TMPROOTS=()   # temp dirs to remove
BGPIDS=()     # background processes we started
FAILS=()

cleanup() {
    local r p d
    for r in "${CLUSTERS[@]}"; do
        "$CLI" cluster stop --registry "$r" >/dev/null 2>&1
    done
    for p in "${BGPIDS[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    for d in "${TMPROOTS[@]}"; do
        rm -rf "$d"
    done
}
trap cleanup EXIT
trap 'echo "run_all.sh: interrupted" >&2; exit 130' INT TERM

# Processes using CPU right now (other engineers' builds skew everything).
busy_procs() {
    top -b -n 2 -d 0.5 -w 200 2>/dev/null | awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 {
        printf "  %5s%% %s\n", $9, $12 }' | head -5
}
log() { printf '[%4ds] %s\n' $((SECONDS)) "$*"; }
have_time() { [ $((SECONDS + ${1:-0})) -lt "$BUDGET" ]; }
fail() { FAILS+=("$1"); log "FAILED: $1 (see logs/)"; }
tsv() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }

set_transport() {
    case $1 in
    shm) export UCX_TLS=shm,self BENCHFS_PEER_FAILURE=0; unset UCX_NET_DEVICES ;;
    tcp) export UCX_TLS=tcp,self UCX_NET_DEVICES=lo; unset BENCHFS_PEER_FAILURE ;;
    esac
    TRANSPORT=$1
}

storage_dir() { [ "$1" = disk ] && echo "$DISK_DIR" || echo "$TMPFS_DIR"; }

# cluster_start N STORAGE [--set K=V ...]: sets BASE, REG, LOCAL.
cluster_start() {
    local n=$1 st=$2
    shift 2
    BASE=$(mktemp -d "$(storage_dir "$st")/benchfs-bench.XXXXXX") || return 1
    TMPROOTS+=("$BASE")
    REG=$BASE/reg
    LOCAL=$BASE/local
    mkdir -p "$LOCAL"
    if ! "$CLI" cluster start -n "$n" --registry "$REG" --data-dir "$BASE/data" -l warn "$@" \
        >>"$OUT/logs/clusters.log" 2>&1; then
        "$CLI" cluster stop --registry "$REG" >/dev/null 2>&1
        return 1
    fi
    CLUSTERS+=("$REG")
}

cluster_stop() {
    local keep=() r
    "$CLI" cluster stop --registry "$REG" >>"$OUT/logs/clusters.log" 2>&1
    for r in "${CLUSTERS[@]}"; do [ "$r" != "$REG" ] && keep+=("$r"); done
    CLUSTERS=("${keep[@]}")
    rm -rf "$BASE"
}

cluster_pids() { awk '$1 == "node" { print $3 }' "$REG/cluster.pids"; }

# run NAME CMD...: run one benchfs-bench step, output to the terminal and logs/NAME.log.
run() {
    local name=$1
    shift
    log "$name"
    if timeout -k 5 "$STEP_TIMEOUT" "$@" >"$OUT/logs/$name.log" 2>&1; then
        sed 's/^/        /' "$OUT/logs/$name.log" | grep -v 'started .* server' 
    else
        sed 's/^/        /' "$OUT/logs/$name.log" | tail -15
        fail "$name"
    fi
}

# idle_cpu LABEL: CPU% of each server of the current cluster over IDLE_S seconds.
idle_cpu() {
    local label=$1 tck pids p t0=() t1=() i=0 total=0 n=0
    tck=$(getconf CLK_TCK)
    pids=$(cluster_pids)
    for p in $pids; do t0+=("$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo x)"); done
    sleep "$IDLE_S"
    for p in $pids; do t1+=("$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo x)"); done
    for p in $pids; do
        if [ "${t0[$i]}" != x ] && [ "${t1[$i]}" != x ]; then
            total=$((total + t1[i] - t0[i]))
            n=$((n + 1))
        fi
        i=$((i + 1))
    done
    if [ "$n" -eq 0 ]; then
        fail "idle-$label"
        return
    fi
    local pct
    pct=$(awk -v t="$total" -v n="$n" -v hz="$tck" -v s="$IDLE_S" 'BEGIN { printf "%.3f", t / hz / s * 100 / n }')
    log "idle server CPU ($label, $TRANSPORT): $pct % of a core per server (over ${IDLE_S} s, $n server(s))"
    tsv "$label" idle "$TRANSPORT" benchfs idle_cpu_pct "$pct"
}

# The IOR-like runs of one configuration: fpp 1 MiB, shared 47008 B, mdtest
# (MD_TOTAL files per phase over all processes). REP numbers repeated runs.
ior_set() {
    local tag=$1 procs=$2 rep=$3 what=${4:-fpp shared mdtest} w
    for w in $what; do
        case $w in
        fpp) run "fpp-$tag-$rep" "$BENCH" ior --mode fpp --procs "$procs" --transfer 1m --block "$FPP_BLOCK" \
                --registry "$REG" --local "$LOCAL" --label "$tag" --tsv "$TSV" --json "$OUT/json/fpp-$tag-$rep.json" ;;
        shared) run "shared-$tag-$rep" "$BENCH" ior --mode shared --procs "$procs" --transfer 47008 --block 47008 \
                --segments "$SHARED_SEGS" --registry "$REG" --local "$LOCAL" --label "$tag" --tsv "$TSV" \
                --json "$OUT/json/shared-$tag-$rep.json" ;;
        mdtest) run "mdtest-$tag-$rep" "$BENCH" ior --mode mdtest --procs "$procs" --files $((MD_TOTAL / procs)) \
                --data-files $((MD_DATA_TOTAL / procs)) \
                --registry "$REG" --local "$LOCAL" --label "$tag" --tsv "$TSV" --json "$OUT/json/mdtest-$tag-$rep.json" ;;
        esac
    done
}

# config TRANSPORT STORAGE N REPS [full|md|-] [--set K=V ...]: one cluster of N
# servers, N client processes, REPS repetitions (the report takes medians).
# full: also idle CPU and the rpc benchmark; md: only mdtest, tagged with the --set.
config() {
    local tr=$1 st=$2 n=$3 reps=$4 mode=${5:--} tag r what="fpp shared mdtest"
    shift 5 2>/dev/null || shift $#
    set_transport "$tr"
    tag="$tr:$st:${n}s:${n}p"
    if [ "$mode" = md ]; then
        what=mdtest
        tag="$tag:$(echo "$*" | sed 's/--set //g; s/metadata.//g; s/ /,/g')"
    fi
    log "=== $tag: $n server(s), $n client process(es), $st data dir, $tr transport, $reps run(s) ==="
    if ! cluster_start "$n" "$st" "$@"; then
        fail "cluster-$tag"
        return
    fi
    if [ "$mode" = full ]; then
        idle_cpu "$tag:fresh"
        run "rpc-$tr:$st:${n}s:1c" "$BENCH" rpc --registry "$REG" --clients 1 --sizes "$RPC_SIZES" \
            --duration "$RPC_DUR" --label "$tr:$st:${n}s:1c" --tsv "$TSV" --json "$OUT/json/rpc-$tr-1c.json"
    fi
    for r in $(seq "$reps"); do
        ior_set "$tag" "$n" "$r" "$what"
    done
    if [ "$mode" = full ]; then
        idle_cpu "$tag:after"
    fi
    cluster_stop
}

# ---- ucx_perftest on loopback --------------------------------------------------

# perftest NAME ARGS...: server in the background on a free port, client on 127.0.0.1.
perftest() {
    local name=$1 port spid line i
    shift
    port=$((20000 + RANDOM % 20000))
    ucx_perftest -p "$port" "$@" >"$OUT/logs/perftest-$name-server.log" 2>&1 &
    spid=$!
    BGPIDS+=("$spid")
    for i in $(seq 100); do
        ss -ltn 2>/dev/null | grep -q ":$port " && break
        sleep 0.05
    done
    line=$(timeout 60 ucx_perftest 127.0.0.1 -p "$port" "$@" -f 2>"$OUT/logs/perftest-$name.log" | tail -1)
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    # final line: iterations p50 avg overall(lat us) bw_avg bw_overall(MB/s) rate_avg rate_overall
    set -- $line
    if [ $# -lt 8 ]; then
        fail "perftest-$name"
        return
    fi
    log "ucx_perftest $name ($TRANSPORT): p50 $2 us, avg $3 us, bw $6 MB/s, rate $8 msg/s"
    tsv "$name" perftest "$TRANSPORT" ucx p50_us "$2"
    tsv "$name" perftest "$TRANSPORT" ucx avg_us "$3"
    tsv "$name" perftest "$TRANSPORT" ucx mib_s "$6"
    tsv "$name" perftest "$TRANSPORT" ucx msg_s "$8"
}

perftest_set() {
    local tr=$1
    set_transport "$tr"
    if ! command -v ucx_perftest >/dev/null; then
        fail "perftest (ucx_perftest not installed)"
        return
    fi
    log "=== ucx_perftest, $tr (loopback) ==="
    if [ "$tr" = shm ]; then
        perftest am_lat -t am_lat -x posix -d memory -n "$PERF_LAT_N"
        perftest am_bw -t am_bw -x posix -d memory -n "$PERF_LAT_N"
    else
        perftest am_lat -t am_lat -x tcp -d lo -n $((PERF_LAT_N / 4))
        perftest am_bw -t am_bw -x tcp -d lo -n $((PERF_LAT_N / 4))
    fi
    perftest ucp_am_lat -t ucp_am_lat -s 64 -n $((PERF_LAT_N / 2))
    perftest ucp_am_bw_4k -t ucp_am_bw -s 4096 -n 20000
    perftest ucp_am_bw_64k -t ucp_am_bw -s 65536 -n 5000
    perftest ucp_am_bw_1m -t ucp_am_bw -s 1048576 -n 500
    perftest ucp_am_bw_16m -t ucp_am_bw -s 16777216 -n 40
}

# ---- seed 002: the small benchmark ---------------------------------------------

small_seed() {
    local base spid i
    set_transport shm
    base=$(mktemp -d "$TMPFS_DIR/benchfs-bench.XXXXXX") || return
    TMPROOTS+=("$base")
    log "=== seed 002: benchfs-bench small (server + client, shm) ==="
    "$BENCH" small --mode server --registry-dir "$base/reg" --data-dir "$base/data" \
        >"$OUT/logs/small-server.log" 2>&1 &
    spid=$!
    BGPIDS+=("$spid")
    run small-client "$BENCH" small --mode client --registry-dir "$base/reg" --timeout 30 \
        --json "$OUT/json/small.json"
    kill -INT "$spid" 2>/dev/null
    for i in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    rm -rf "$base"
}

# ---- the run -----------------------------------------------------------------------

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host: $(uname -n), $(nproc) cpus, kernel $(uname -r)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "ucx: $(ucx_info -v 2>/dev/null | head -1)"
    bt=$(grep -s CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2)
    echo "build: $BUILD (${bt:-RelWithDebInfo, the CMakeLists default})"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" status --short 2>/dev/null | wc -l) modified/untracked files"
    echo "busiest processes at start (top, % of a core):"
    busy_procs
    echo "calibration at start:"
    "$BENCH" calib --tsv "$TSV" --label start | sed 's/^/  /'
} >"$OUT/env.txt"
log "results in $OUT (budget ${BUDGET} s)"
sed 's/^/        /' "$OUT/env.txt"

log "=== issue 17 table (bench/table.sh) ==="
bash "$ROOT/bench/table.sh" "$BUILD" "$OUT" >"$OUT/logs/table.log" 2>&1 || fail "table"
grep -a '^\[table' "$OUT/logs/table.log" | grep -v ' (load ' | sed 's/^/        /'
if [ "${BENCH_SCALE:-1}" = 1 ]; then
    log "=== scale simulation (bench/scale.sh) ==="
    bash "$ROOT/bench/scale.sh" "$BUILD" "$OUT" >"$OUT/logs/scale.log" 2>&1 || fail "scale"
    grep '^\[scale' "$OUT/logs/scale.log"
fi

for tr in $TRANSPORTS; do
    have_time 90 && config "$tr" tmpfs 1 "$REPS" full
    have_time 30 && perftest_set "$tr"
done
have_time 10 && small_seed
case " $TRANSPORTS " in *" shm "*)
    have_time 60 && config shm tmpfs 2 "$REPS"
    have_time 60 && config shm disk 1 2
    have_time 30 && config shm tmpfs 4 1
    have_time 20 && config shm tmpfs 1 1 md --set metadata.durability=none
    ;;
esac
case " $TRANSPORTS " in *" tcp "*)
    have_time 40 && config tcp tmpfs 2 2
    have_time 30 && config tcp tmpfs 4 1
    ;;
esac
for tr in $TRANSPORTS; do
    if have_time 30; then
        set_transport "$tr"
        if cluster_start 1 tmpfs; then
            run "rpc-$tr:tmpfs:1s:2c" "$BENCH" rpc --registry "$REG" --clients 2 --sizes 4k,1m \
                --duration "$RPC_DUR" --label "$tr:tmpfs:1s:2c" --tsv "$TSV" --json "$OUT/json/rpc-$tr-2c.json"
            cluster_stop
        else
            fail "cluster-rpc-$tr-2c"
        fi
    fi
done
have_time 60 && config shm disk 2 1
have_time 60 && config tcp disk 1 1
# Staging vs cp -r on the same disk (bench/bench_stage.sh, docs/jobs.md).
have_time 120 && run stage-vs-cp bash "$ROOT/bench/bench_stage.sh" "$BIN/benchfs" --dir "$DISK_DIR" \
    --tsv "$TSV" $([ "$QUICK" = 1 ] && echo --quick)

{
    echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest processes at end:"
    busy_procs
    echo "calibration at end:"
    "$BENCH" calib --tsv "$TSV" --label end | sed 's/^/  /'
} >>"$OUT/env.txt"
log "measurements done; load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report --------------------------------------------------------------------------
printf '%s\n' "${FAILS[@]}" >"$OUT/failures.txt"
report "$OUT" || fail "report"
# A quick run (BENCH_QUICK=1) is a smoke test: it leaves the doc alone unless asked.
[ "${BENCH_UPDATE_DOCS:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}" = 1 ] && update_docs "$OUT"
log "summary: $OUT/summary.md"
[ -f "$OUT/summary.md" ] && sed -n '/^## Targets/,/^## IOR/p' "$OUT/summary.md" | sed '$d'
if [ ${#FAILS[@]} -gt 0 ]; then
    log "${#FAILS[@]} measurement(s) failed: ${FAILS[*]}"
    log "done in $SECONDS s"
    exit 1
fi
log "done in $SECONDS s"
exit 0
