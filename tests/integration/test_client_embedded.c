/*
 * test_client_embedded.c - seed 003's shape: two processes each start an
 * embedded server with benchfs_init(is_server=1) (node_0, node_1, waiting
 * for 2 servers), each writes a file, and after a barrier each reads the
 * other's file; benchfs_finalize stops the servers. A third process joins
 * as a pure client (is_server=0). No benchfsd binary involved.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client_itest.h"

#define NPROCS 3

static pthread_barrier_t *barrier;
static char root[256], registry[320];

static int proc(int idx, void *arg)
{
    struct benchfs_options o;
    char node[32], data[400], path[64], buf[64], want[64];
    int fd, other;

    (void)arg;
    benchfs_options_init(&o);
    o.expected_servers = 2;
    o.discovery_timeout_ms = 20000;
    snprintf(node, sizeof(node), "node_%d", idx);
    snprintf(data, sizeof(data), "%s/data_%d", root, idx);
    CHECK(benchfs_init(node, registry, data, idx < 2, &o) == 0);
    CHECK(benchfs_server_count() == 2);

    snprintf(path, sizeof(path), "/from_%d", idx);
    snprintf(buf, sizeof(buf), "written by process %d", idx);
    fd = benchfs_open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf));
    CHECK(benchfs_close(fd) == 0);
    pthread_barrier_wait(barrier);

    other = (idx + 1) % NPROCS;
    snprintf(path, sizeof(path), "/from_%d", other);
    snprintf(want, sizeof(want), "written by process %d", other);
    fd = benchfs_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    memset(buf, 0, sizeof(buf));
    CHECK(benchfs_read(fd, buf, sizeof(buf)) == (ssize_t)strlen(want));
    CHECK(strcmp(buf, want) == 0);
    CHECK(benchfs_close(fd) == 0);
    /* Servers stay up until every process is done with them. */
    pthread_barrier_wait(barrier);
    CHECK(benchfs_finalize() == 0);
    return 0;
}

int main(void)
{
    pthread_barrierattr_t attr;
    const char *tmp = getenv("TMPDIR");
    char cmd[300];

    barrier =
        mmap(NULL, sizeof(*barrier), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(barrier != MAP_FAILED);
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_barrier_init(barrier, &attr, NPROCS) == 0);
    snprintf(root, sizeof(root), "%s/benchfs-embedded-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(root) != NULL);
    snprintf(registry, sizeof(registry), "%s/registry", root);
    CHECK(mkdir(registry, 0700) == 0);

    CHECK(itest_fork_clients(NPROCS, proc, NULL) == 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    printf("ok\n");
    return 0;
}
