/*
 * net_scope.c - where UCX's TCP transport listens.
 *
 * Every UCX 1.13 TCP interface opens a listening socket on its device's
 * address, and the TCP transport trusts the bytes that arrive there: one
 * connection that looks like a UCX connection request and then sends a bad
 * length aborts the process (tcp_ep.c assertions), before BenchFS sees a
 * byte. That code cannot be changed here, so BenchFS keeps it off the
 * interfaces where no cluster peer is: UCX_NET_DEVICES limits UCX's network
 * devices, and this file chooses its value from BENCHFS_NET_INTERFACE
 * (servers set it from [network] interface):
 *   auto   the interface that holds this host's address (the name
 *          gethostname() resolves to: what the registry publishes), e.g.
 *          "lo" on a one-node setup or "eth0" on a cluster; left to UCX
 *          when InfiniBand devices exist (UCX_NET_DEVICES would hide them)
 *          or when no interface holds that address
 *   all    every interface (UCX's default)
 *   NAME   that interface (checked to exist)
 * An UCX_NET_DEVICES already in the environment always wins.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Does any InfiniBand (or RoCE) device exist? */
static bool scope_have_ib(void)
{
    DIR *d = opendir("/sys/class/infiniband");
    struct dirent *de;
    bool found = false;

    if (d == NULL)
        return false;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            found = true;
    closedir(d);
    return found;
}

/* Is `a` inside ifa's subnet (or equal to its address)? */
static bool scope_same_net(const struct sockaddr *a, const struct ifaddrs *ifa)
{
    if (ifa->ifa_addr == NULL || ifa->ifa_netmask == NULL ||
        a->sa_family != ifa->ifa_addr->sa_family)
        return false;
    if (a->sa_family == AF_INET) {
        uint32_t x = ((const struct sockaddr_in *)a)->sin_addr.s_addr;
        uint32_t y = ((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
        uint32_t m = ((const struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr;

        return (x & m) == (y & m);
    }
    if (a->sa_family == AF_INET6) {
        const uint8_t *x = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        const uint8_t *y = ((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr.s6_addr;
        const uint8_t *m = ((const struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr.s6_addr;

        for (int i = 0; i < 16; i++)
            if ((x[i] & m[i]) != (y[i] & m[i]))
                return false;
        return true;
    }
    return false;
}

/* The interface whose subnet holds this host's (first IPv4, else any)
 * address, into name. 0 or -ENOENT. */
static int scope_host_interface(char *name, size_t namelen)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct ifaddrs *ifs = NULL, *ifa;
    char host[256];
    int rc = -ENOENT;

    if (gethostname(host, sizeof(host) - 1) != 0)
        return -ENOENT;
    host[sizeof(host) - 1] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return -ENOENT;
    if (getifaddrs(&ifs) != 0) {
        freeaddrinfo(res);
        return -ENOENT;
    }
    /* IPv4 first: UCX 1.13's TCP transport prefers it. */
    for (int pass = 0; pass < 2 && rc != 0; pass++) {
        for (ai = res; ai != NULL && rc != 0; ai = ai->ai_next) {
            if ((pass == 0) != (ai->ai_family == AF_INET))
                continue;
            for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
                if ((ifa->ifa_flags & IFF_UP) && scope_same_net(ai->ai_addr, ifa)) {
                    snprintf(name, namelen, "%s", ifa->ifa_name);
                    rc = 0;
                    break;
                }
            }
        }
    }
    freeifaddrs(ifs);
    freeaddrinfo(res);
    return rc;
}

int net_scope_apply(char *err, size_t errlen)
{
    const char *want = getenv("BENCHFS_NET_INTERFACE");
    const char *have = getenv("UCX_NET_DEVICES");
    char name[IF_NAMESIZE + 1];

    if (have != NULL && have[0] != '\0')
        return 0;
    if (want == NULL || want[0] == '\0')
        want = "auto";
    if (strcmp(want, "all") == 0)
        return 0;
    if (strcmp(want, "auto") != 0) {
        if (strlen(want) > IF_NAMESIZE - 1 || if_nametoindex(want) == 0) {
            snprintf(err, errlen,
                     "network interface '%s' does not exist (network.interface / "
                     "BENCHFS_NET_INTERFACE: auto, all or an interface name, see ip link)",
                     want);
            return -ENODEV;
        }
        setenv("UCX_NET_DEVICES", want, 1);
        log_debug("net: UCX network devices limited to %s", want);
        return 0;
    }
    if (scope_have_ib()) {
        log_debug("net: InfiniBand present; UCX network devices left to UCX (set "
                  "network.interface or UCX_NET_DEVICES to limit TCP)");
        return 0;
    }
    if (scope_host_interface(name, sizeof(name)) != 0) {
        log_warn("net: no interface holds this host's address; UCX's TCP transport listens on "
                 "every interface (set network.interface to limit it)");
        return 0;
    }
    setenv("UCX_NET_DEVICES", name, 1);
    log_debug("net: UCX network devices limited to %s (this host's address)", name);
    return 0;
}
