#!/bin/sh
# epilog-benchfs.sh - Slurm Epilog for BenchFS (docs/jobs.md): runs as root on
# every node after each job and removes the job's default node-local BenchFS
# data dir, ${TMPDIR:-/tmp}/benchfs.$SLURM_JOB_ID, when the job was killed
# before `benchfs job stop` (or the `job _server` wrapper) could remove it.
# Slurm's process tracking has already killed the job's servers. A job that
# used --data-dir elsewhere: set BENCHFS_EPILOG_DIRS to the parent dirs
# (space separated), e.g. "/local/nvme /tmp".
#
# Install: copy to /etc/slurm/epilog.d/ and set Epilog=/etc/slurm/epilog.d/*
# in slurm.conf (or call it from the site's existing epilog).
[ -n "${SLURM_JOB_ID:-}" ] || exit 0
case $SLURM_JOB_ID in *[!0-9_]*) exit 0 ;; esac
for base in ${BENCHFS_EPILOG_DIRS:-${TMPDIR:-/tmp}}; do
    d=$base/benchfs.$SLURM_JOB_ID
    [ -d "$d" ] || continue
    rm -rf -- "$d" && logger -t benchfs-epilog "removed $d of job $SLURM_JOB_ID" 2>/dev/null
done
exit 0
