/*
 * bench_spawn.c - `--spawn-servers M`: start M real benchfsd processes for
 * one benchmark run with the test harness (tests/harness/harness.h) and stop
 * them afterwards (by pid), removing the private temp tree.
 *
 * Data dirs live under $TMPDIR (default /tmp): set TMPDIR=/dev/shm for
 * tmpfs. The servers inherit the environment, so UCX_TLS and
 * BENCHFS_PEER_FAILURE select the transport exactly as for the clients.
 * The spawned servers run with log level warn so that their logs stay
 * small; --set options reach every server as --set=KEY=VALUE.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

struct bench_spawn {
    struct harness h;
};

int bench_spawn_start(int nservers, const char *const *sets, int nsets, char *registry, size_t len,
                      struct bench_spawn **sp_p)
{
    struct bench_spawn *sp;
    int rc;

    if (nservers < 1 || nservers > HARNESS_MAX_SERVERS)
        return -EINVAL;
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return -ENOMEM;
    rc = harness_init(&sp->h, nservers);
    if (rc < 0) {
        fprintf(stderr, "benchfs-bench: cannot create a temp dir for the servers: %s\n",
                strerror(-rc));
        free(sp);
        return rc;
    }
    snprintf(sp->h.extra_args[sp->h.nextra++], sizeof(sp->h.extra_args[0]), "--log-level=warn");
    for (int i = 0; i < nsets; i++) {
        if (sp->h.nextra == (int)(sizeof(sp->h.extra_args) / sizeof(sp->h.extra_args[0])) ||
            strlen(sets[i]) + 7 > sizeof(sp->h.extra_args[0])) {
            fprintf(stderr, "benchfs-bench: too many or too long --set options\n");
            rc = -E2BIG;
            goto err_cleanup;
        }
        snprintf(sp->h.extra_args[sp->h.nextra++], sizeof(sp->h.extra_args[0]), "--set=%s",
                 sets[i]);
    }
    rc = harness_start_all(&sp->h, 30000);
    if (rc < 0) {
        fprintf(stderr, "benchfs-bench: could not start %d server(s): %s\n", nservers,
                strerror(-rc));
        goto err_cleanup;
    }
    snprintf(registry, len, "%s", sp->h.registry);
    fprintf(stderr, "benchfs-bench: started %d server(s), registry %s\n", nservers, sp->h.registry);
    *sp_p = sp;
    return 0;

err_cleanup:
    harness_cleanup(&sp->h);
    free(sp);
    return rc;
}

void bench_spawn_stop(struct bench_spawn *sp)
{
    if (sp == NULL)
        return;
    harness_cleanup(&sp->h);
    free(sp);
}
