#!/usr/bin/env bash
# scripts/setup_env.sh [BUILD_DIR [REGISTRY_DIR]] - the environment BenchFS runs need.
#
# Source it (bash):            . scripts/setup_env.sh build
# or evaluate what it prints:  eval "$(scripts/setup_env.sh build)"
#
# Exports:
#   BENCHFS_BUILD     the build directory (absolute): BUILD_DIR, else $BENCHFS_BUILD,
#                     else <repo>/build
#   BENCHFS_BIN       $BENCHFS_BUILD/bin, also put first in PATH
#   BENCHFS_CLI, BENCHFSD, BENCHFSD_MPI
#                     the benchfs, benchfsd and benchfsd_mpi programs found there
#   IOR, MDTEST       IOR's ior/mdtest with the BENCHFS backend, when the build has
#                     them (cmake -DBENCHFS_IOR_DIR=..., docs/ior.md) and they are
#                     not set already; this script never builds or fetches IOR
#   BENCHFS_REGISTRY  REGISTRY_DIR, else the one already set, else
#                     ${TMPDIR:-/tmp}/benchfs-<user>/registry
#   OMPI_ALLOW_RUN_AS_ROOT=1, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
#                     only when running as root (Open MPI refuses root otherwise)
# Missing programs are reported on stderr; sourcing fails (status 1) only when
# the build directory does not exist. BENCHFS_ENV_QUIET=1 silences the summary.

if [ -z "${BASH_VERSION:-}" ]; then
    echo "setup_env.sh: needs bash (source it from bash, or eval its output)" >&2
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
fi

benchfs_env_main() {
    local here build registry user quiet=${BENCHFS_ENV_QUIET:-0} missing=""
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
    build=${1:-${BENCHFS_BUILD:-$here/../build}}
    if [ ! -d "$build" ]; then
        echo "setup_env.sh: build directory '$build' not found (argument, or BENCHFS_BUILD)" >&2
        return 1
    fi
    build=$(cd "$build" && pwd) || return 1
    user=$(id -un 2>/dev/null || id -u)
    registry=${2:-${BENCHFS_REGISTRY:-${TMPDIR:-/tmp}/benchfs-$user/registry}}
    case $registry in
    /*) ;;
    *) registry=$PWD/$registry ;;
    esac

    export BENCHFS_BUILD=$build
    export BENCHFS_BIN=$build/bin
    export BENCHFS_CLI=$BENCHFS_BIN/benchfs
    export BENCHFSD=$BENCHFS_BIN/benchfsd
    export BENCHFSD_MPI=$BENCHFS_BIN/benchfsd_mpi
    export BENCHFS_REGISTRY=$registry
    for p in "$BENCHFS_CLI" "$BENCHFSD" "$BENCHFSD_MPI"; do
        [ -x "$p" ] || missing="$missing ${p##*/}"
    done
    if [ -z "${IOR:-}" ] && [ -x "$build/ior/ior-benchfs" ]; then
        export IOR=$build/ior/ior-benchfs
    fi
    if [ -z "${MDTEST:-}" ] && [ -x "$build/ior/mdtest-benchfs" ]; then
        export MDTEST=$build/ior/mdtest-benchfs
    fi
    case ":$PATH:" in
    *":$BENCHFS_BIN:"*) ;;
    *) export PATH=$BENCHFS_BIN:$PATH ;;
    esac
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi

    if [ -n "$missing" ]; then
        echo "setup_env.sh: not built in $BENCHFS_BIN:$missing" \
            "(cmake --build $build; benchfsd_mpi needs MPI)" >&2
    fi
    if [ "$quiet" != 1 ]; then
        {
            echo "BENCHFS_BUILD=$BENCHFS_BUILD"
            echo "BENCHFS_REGISTRY=$BENCHFS_REGISTRY"
            echo "IOR=${IOR:-(not set: configure with -DBENCHFS_IOR_DIR, docs/ior.md)}"
            echo "MDTEST=${MDTEST:-(not set)}"
        } | sed 's/^/setup_env.sh: /' >&2
    fi
    return 0
}

# Sourced: set up this shell. Executed: print the export lines for eval.
if (return 0 2>/dev/null); then
    # The status of the last command is the status of '.'.
    if benchfs_env_main "$@"; then
        unset -f benchfs_env_main
    else
        unset -f benchfs_env_main
        false
    fi
else
    set -u
    benchfs_env_main "$@" || exit 1
    for v in BENCHFS_BUILD BENCHFS_BIN BENCHFS_CLI BENCHFSD BENCHFSD_MPI BENCHFS_REGISTRY \
        IOR MDTEST PATH OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM; do
        if [ -n "${!v+x}" ]; then
            printf 'export %s=%q\n' "$v" "${!v}"
        fi
    done
fi
