#!/usr/bin/env bash
# agent.sh - Open MPI launch agent for the namespace cluster (plm_rsh_agent).
#
# mpirun calls it like ssh: `agent.sh [options] HOST COMMAND...`. Instead of
# logging in somewhere, it runs COMMAND with `sh -c` inside network
# namespace $CLUSTER_PREFIX-HOST, in a private UTS namespace whose host name
# is HOST (so gethostname() and the registry files say "server1", and every
# namespace resolves the names through /etc/netns/<ns>/hosts).
set -euo pipefail
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
    shift # ssh-style options are meaningless here
done
[ $# -ge 2 ] || { echo "agent.sh: usage: agent.sh HOST COMMAND..." >&2; exit 255; }
host=$1
shift
prefix=${CLUSTER_PREFIX:?agent.sh: CLUSTER_PREFIX is not set}
case "$host" in
controller | server1 | server2 | client1 | client2) ;;
*) echo "agent.sh: unknown cluster host '$host'" >&2; exit 255 ;;
esac
exec ip netns exec "$prefix-$host" unshare --uts \
    sh -c 'hostname "$1" && exec sh -c "$2"' agent "$host" "$*"
