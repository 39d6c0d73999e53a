#!/usr/bin/env bash
# scripts/run_ior.sh - one IOR (or mdtest) run on a BenchFS cluster started for it.
#
#   scripts/run_ior.sh [OPTIONS] [--] IOR_ARGS...
#
# 1. starts `mpirun -n S benchfsd_mpi <registry> <config>` in the background
#    (S servers, node ids node_0 .. node_{S-1}),
# 2. waits until the registry holds the cluster file and every node_<r>.addr
#    and every server answers `benchfs ping` (bounded by --timeout),
# 3. creates the parent directory of IOR's -o file in BenchFS,
# 4. runs `mpirun -n N $IOR -a BENCHFS IOR_ARGS...` (N clients; -a BENCHFS is
#    added unless IOR_ARGS has -a),
# 5. stops the servers (SIGINT to their mpirun, bounded wait),
# and keeps everything in the results directory. Exits with IOR's status
# (2 for usage errors, 3 when the servers did not start).
#
# IOR must be an ior (or mdtest) built with the BENCHFS backend
# (cmake -DBENCHFS_IOR_DIR=..., docs/ior.md). This script never builds or
# downloads IOR.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/run_ior.sh [OPTIONS] [--] IOR_ARGS...
Start BenchFS servers with benchfsd_mpi, run IOR on them, stop them.

Options:
  -n, --clients N       IOR ranks (default 4)
  -s, --servers N       benchfsd_mpi ranks (default 2)
  -i, --ior PATH        ior/mdtest built with the BENCHFS backend (default $IOR)
  -b, --build DIR       BenchFS build directory with bin/benchfsd_mpi
                        (default $BENCHFS_BUILD, else <repo>/build)
  -r, --results DIR     results directory (default ./results/ior-<date>-<pid>)
  -c, --config FILE     benchfs.toml for the servers (default: one written to the
                        results directory, data under <results>/data)
  -t, --timeout SEC     wait at most SEC for the servers to start (default 60)
                        and to stop (the same)
  -m, --mpirun-args STR extra arguments for both mpiruns, split on blanks
                        (default with Open MPI: --oversubscribe)
  -k, --keep-data       keep <results>/data (removed by default: it can be big)
  -h, --help            this help

Environment: IOR, BENCHFS_BUILD; UCX_TLS and BENCHFS_PEER_FAILURE are passed to
servers and clients when set (docs/transports.md). As root, Open MPI's
OMPI_ALLOW_RUN_AS_ROOT* are set for you.

Results directory: run.txt (commands, environment, uptime, status),
benchfs.toml, servers.log (every server rank), ior.log (IOR's output, also
shown), status.log (benchfs ping and status before IOR).

Example:
  IOR=build/ior/ior-benchfs scripts/run_ior.sh -n 4 -s 2 -- \
      -F -t 1m -b 64m -w -r -R -C -o /ior_easy/file
EOF
}

die_usage() {
    echo "run_ior.sh: $*" >&2
    echo "Try 'scripts/run_ior.sh --help'." >&2
    exit 2
}

orig_args=("$@")
clients=4
servers=2
ior_bin=${IOR:-}
build=${BENCHFS_BUILD:-}
results=""
config=""
timeout=60
mpirun_args=""
mpirun_args_set=0
keep_data=0

need_arg() {
    [ $# -ge 2 ] || die_usage "option '$1' needs an argument"
}

while [ $# -gt 0 ]; do
    case $1 in
    -n | --clients) need_arg "$@"; clients=$2; shift 2 ;;
    -s | --servers) need_arg "$@"; servers=$2; shift 2 ;;
    -i | --ior) need_arg "$@"; ior_bin=$2; shift 2 ;;
    -b | --build) need_arg "$@"; build=$2; shift 2 ;;
    -r | --results) need_arg "$@"; results=$2; shift 2 ;;
    -c | --config) need_arg "$@"; config=$2; shift 2 ;;
    -t | --timeout) need_arg "$@"; timeout=$2; shift 2 ;;
    -m | --mpirun-args) need_arg "$@"; mpirun_args=$2; mpirun_args_set=1; shift 2 ;;
    -k | --keep-data) keep_data=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die_usage "unknown option '$1' (IOR's own options go after --)" ;;
    *) break ;;
    esac
done
ior_args=("$@")

for v in clients servers timeout; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die_usage "--$v must be a positive integer (got '${!v}')"
done
[ ${#ior_args[@]} -gt 0 ] || die_usage "no IOR arguments (e.g. -- -F -t 1m -b 16m -w -r -o /f)"

# --- programs --------------------------------------------------------------
if [ -z "$ior_bin" ]; then
    die_usage "no IOR binary: set IOR or pass --ior PATH (an ior built with the BENCHFS" \
        "backend: cmake -DBENCHFS_IOR_DIR=<IOR tree>, target ior-benchfs; see docs/ior.md)"
fi
if [ ! -f "$ior_bin" ] || [ ! -x "$ior_bin" ]; then
    echo "run_ior.sh: IOR binary '$ior_bin' not found or not executable." >&2
    echo "run_ior.sh: build it with: cmake -S . -B build -DBENCHFS_IOR_DIR=<built IOR tree> &&" \
        "cmake --build build --target ior-benchfs (docs/ior.md); this script does not build IOR." >&2
    exit 2
fi
ior_bin=$(cd "$(dirname "$ior_bin")" && pwd)/$(basename "$ior_bin")
command -v mpirun >/dev/null || die_usage "mpirun not found in PATH"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -n "$build" ] && [ ! -d "$build" ]; then
    die_usage "build directory '$build' not found"
fi
# Exports BENCHFS_BUILD, BENCHFSD_MPI, BENCHFS_CLI, the OMPI root variables.
# shellcheck source=setup_env.sh disable=SC1091 # found next to this script
BENCHFS_ENV_QUIET=1 . "$here/setup_env.sh" "$build" ||
    die_usage "cannot set up the environment (--build DIR or BENCHFS_BUILD)"
for p in "$BENCHFSD_MPI" "$BENCHFS_CLI"; do
    [ -x "$p" ] || die_usage "$p missing: build BenchFS first (benchfsd_mpi needs MPI)"
done

# --- results directory --------------------------------------------------------
if [ -z "$results" ]; then
    results=results/ior-$(date +%Y%m%d-%H%M%S)-$$
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
registry=$results/registry
export BENCHFS_REGISTRY=$registry
if [ -e "$registry" ]; then
    # Our own registry: never one a live cluster uses.
    if compgen -G "$registry/*.addr" >/dev/null; then
        echo "run_ior.sh: $registry has .addr files: a cluster from an earlier run" \
            "may still be up (benchfs --registry $registry shutdown), or remove them" >&2
        exit 3
    fi
fi
mkdir -p "$registry"
if [ -z "$config" ]; then
    config=$results/benchfs.toml
    printf '# Written by scripts/run_ior.sh\n[node]\ndata_dir = "%s"\n' "$results/data" >"$config"
    own_data=$results/data
else
    [ -f "$config" ] || die_usage "config file '$config' not found"
    config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
    cp "$config" "$results/benchfs.toml"
    own_data=""
fi

is_ompi=0
if mpirun --version 2>&1 | grep -q "Open MPI"; then
    is_ompi=1
fi
if [ "$mpirun_args_set" = 0 ] && [ "$is_ompi" = 1 ]; then
    mpirun_args="--oversubscribe"
fi
read -r -a mpi_extra <<<"$mpirun_args"
# Open MPI passes only the variables named with -x to remote ranks; other
# MPIs (Slurm, MPICH's hydra) pass the whole environment.
mpi_env=()
if [ "$is_ompi" = 1 ]; then
    for v in BENCHFS_REGISTRY UCX_TLS BENCHFS_PEER_FAILURE BENCHFS_LOG; do
        [ -z "${!v+x}" ] || mpi_env+=(-x "$v")
    done
fi

have_a=0
for a in "${ior_args[@]}"; do
    case $a in
    -a | -a* | --api | --api=*) have_a=1 ;;
    esac
done
ior_cmd=("$ior_bin")
[ "$have_a" = 1 ] || ior_cmd+=(-a BENCHFS)
ior_cmd+=("${ior_args[@]}")

log() {
    printf '%s %s\n' "$(date '+%F %T')" "$*" | tee -a "$results/run.txt" >&2
}

{
    echo "# scripts/run_ior.sh run, $(date -Iseconds) on $(hostname)"
    printf 'command:'
    printf ' %q' "$0" "${orig_args[@]}"
    echo
    echo "clients=$clients servers=$servers timeout=$timeout"
    echo "ior=$ior_bin"
    echo "benchfsd_mpi=$BENCHFSD_MPI"
    echo "registry=$registry config=$config"
    echo "UCX_TLS=${UCX_TLS-(unset)} BENCHFS_PEER_FAILURE=${BENCHFS_PEER_FAILURE-(unset)}"
    echo "uptime before:$(uptime)"
} >"$results/run.txt"

# --- servers -------------------------------------------------------------------
srv_pid=""
stop_servers() {
    local rc=0 waited=0
    [ -n "$srv_pid" ] || return 0
    if kill -0 "$srv_pid" 2>/dev/null; then
        log "stopping servers (SIGINT to mpirun $srv_pid)"
        kill -INT "$srv_pid" 2>/dev/null || true
        while kill -0 "$srv_pid" 2>/dev/null && [ $waited -lt $((timeout * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$srv_pid" 2>/dev/null; then
            log "servers still running after ${timeout}s: SIGTERM, then SIGKILL"
            kill -TERM "$srv_pid" 2>/dev/null || true
            sleep 2
            kill -KILL "$srv_pid" 2>/dev/null || true
        fi
    fi
    wait "$srv_pid" 2>/dev/null || rc=$?
    srv_pid=""
    # mpirun reports the signal it forwarded as a failure; what matters is
    # that every server left the registry (graceful shutdown removes .addr).
    if compgen -G "$registry/*.addr" >/dev/null; then
        log "WARNING: servers did not shut down cleanly (mpirun status $rc; left:" \
            "$(cd "$registry" && echo ./*.addr)); see servers.log"
    else
        log "servers stopped (mpirun status $rc)"
    fi
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_servers
    if [ -n "$own_data" ] && [ "$keep_data" = 0 ]; then
        rm -rf "$own_data"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "starting $servers servers: mpirun -n $servers ${mpi_extra[*]} benchfsd_mpi $registry $config"
mpirun -n "$servers" "${mpi_extra[@]}" "${mpi_env[@]}" "$BENCHFSD_MPI" "$registry" "$config" \
    </dev/null >"$results/servers.log" 2>&1 &
srv_pid=$!

# Ready when the cluster file names $servers servers, every node_<r>.addr is
# published and every server answers a ping. Bounded; no fixed sleep.
ready() {
    local r
    grep -qx "servers=$servers" "$registry/cluster" 2>/dev/null || return 1
    for ((r = 0; r < servers; r++)); do
        [ -f "$registry/node_$r.addr" ] || return 1
    done
}
deadline=$((SECONDS + timeout))
while ! ready; do
    if ! kill -0 "$srv_pid" 2>/dev/null; then
        log "ERROR: the servers exited during start-up; end of servers.log:"
        tail -n 20 "$results/servers.log" >&2
        exit 3
    fi
    if [ $SECONDS -ge $deadline ]; then
        log "ERROR: servers not registered after ${timeout}s in $registry; end of servers.log:"
        tail -n 20 "$results/servers.log" >&2
        exit 3
    fi
    sleep 0.1
done
if ! "$BENCHFS_CLI" --timeout "$timeout" ping >"$results/status.log" 2>&1; then
    log "ERROR: the servers do not answer (benchfs ping):"
    cat "$results/status.log" >&2
    exit 3
fi
log "servers ready: all $servers registered and answering (benchfs ping in status.log)"

# IOR opens -o's file but does not create its directory.
out_path=""
for ((i = 0; i < ${#ior_args[@]}; i++)); do
    case ${ior_args[i]} in
    -o) out_path=${ior_args[i + 1]:-} ;;
    -o=*) out_path=${ior_args[i]#-o=} ;;
    --testFile=*) out_path=${ior_args[i]#--testFile=} ;;
    esac
done
if [ -n "$out_path" ] && [ "${out_path%/*}" != "$out_path" ] && [ -n "${out_path%/*}" ]; then
    "$BENCHFS_CLI" mkdir -p "${out_path%/*}" 2>>"$results/status.log" ||
        log "WARNING: cannot create ${out_path%/*} in BenchFS"
fi

# --- IOR -----------------------------------------------------------------------
log "running: mpirun -n $clients ${mpi_extra[*]} ${ior_cmd[*]}"
ior_rc=0
mpirun -n "$clients" "${mpi_extra[@]}" "${mpi_env[@]}" "${ior_cmd[@]}" </dev/null 2>&1 |
    tee "$results/ior.log" || ior_rc=${PIPESTATUS[0]}
{
    echo "uptime after:$(uptime)"
    echo "ior status: $ior_rc"
} >>"$results/run.txt"
"$BENCHFS_CLI" status >>"$results/status.log" 2>&1 || true
log "IOR exited with status $ior_rc; results in $results"
stop_servers
exit "$ior_rc"
