#!/usr/bin/env bash
# Installs the Debian packages BenchFS needs to build, test and benchmark.
# This is the one place the package list lives. Idempotent and quiet when
# everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libucx-dev ucx-utils liburing-dev liblmdb-dev libxxhash-dev
  libopenmpi-dev openmpi-bin libfuse3-dev fuse3 libcmocka-dev
  iproute2 procps psmisc gnuplot-nox fio valgrind
  python3
  slurm-wlm munge python3-numpy python3-h5py hdf5-tools rsync git
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
