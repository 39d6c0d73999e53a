/*
 * harness.c - start and stop real benchfsd processes for tests (harness.h).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry.h"

#ifndef BENCHFS_BUILD_BIN_DIR
#define BENCHFS_BUILD_BIN_DIR "."
#endif

const char *harness_bin(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("BENCHFS_BIN_DIR");

    snprintf(buf, len, "%s/%s", dir ? dir : BENCHFS_BUILD_BIN_DIR, name);
    return buf;
}

static long harness_ms_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void harness_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

int harness_init(struct harness *h, int nservers)
{
    const char *tmp = getenv("TMPDIR");
    char path[600];

    if (nservers < 1 || nservers > HARNESS_MAX_SERVERS)
        return -EINVAL;
    memset(h, 0, sizeof(*h));
    snprintf(h->root, sizeof(h->root), "%s/benchfs-test-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(h->root) == NULL)
        return -errno;
    snprintf(h->registry, sizeof(h->registry), "%s/registry", h->root);
    if (mkdir(h->registry, 0700) < 0)
        return -errno;
    snprintf(path, sizeof(path), "%s/logs", h->root);
    if (mkdir(path, 0700) < 0)
        return -errno;
    snprintf(path, sizeof(path), "%s/data", h->root);
    if (mkdir(path, 0700) < 0)
        return -errno;
    h->nservers = nservers;
    for (int i = 0; i < nservers; i++) {
        struct harness_server *s = &h->servers[i];

        char root[sizeof(h->root)], id[sizeof(s->node_id)];

        /* local copies: source and destination may not share an object */
        memcpy(root, h->root, sizeof(root));
        snprintf(id, sizeof(id), "node_%d", i);
        memcpy(s->node_id, id, sizeof(id));
        snprintf(s->data_dir, sizeof(s->data_dir), "%s/data/%s", root, id);
        snprintf(s->log_path, sizeof(s->log_path), "%s/logs/%s.log", root, id);
    }
    return 0;
}

static void harness_print_log(const struct harness_server *s)
{
    char line[512];
    FILE *f = fopen(s->log_path, "r");

    fprintf(stderr, "---- %s (%s) ----\n", s->node_id, s->log_path);
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
    fprintf(stderr, "----\n");
}

/* fork + exec one benchfsd; does not wait for readiness. */
static int harness_spawn(struct harness *h, int i)
{
    struct harness_server *s = &h->servers[i];
    char bin[512];
    char *argv[32];
    int argc = 0, fd;
    pid_t pid;

    /* A killed server leaves its registry file behind: readiness is the
     * new file, so remove the old one first (the registry is ours). */
    {
        char addr[600];

        snprintf(addr, sizeof(addr), "%s/%s.addr", h->registry, s->node_id);
        unlink(addr);
    }
    harness_bin("benchfsd", bin, sizeof(bin));
    argv[argc++] = bin;
    argv[argc++] = "--node-id";
    argv[argc++] = s->node_id;
    argv[argc++] = "--data-dir";
    argv[argc++] = s->data_dir;
    argv[argc++] = "--registry";
    argv[argc++] = h->registry;
    for (int k = 0; k < h->nextra && argc < 30; k++)
        argv[argc++] = h->extra_args[k];
    argv[argc] = NULL;

    pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* If the test process dies (an ASan abort, a crash) its servers die
         * with it instead of outliving the test. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(bin, argv);
        fprintf(stderr, "harness: cannot exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    return 0;
}

/* Wait until server i's registry file exists, or it died, or timeout. */
static int harness_wait_ready(struct harness *h, int i, const struct timespec *t0, int timeout_ms)
{
    struct harness_server *s = &h->servers[i];
    char addr[600];
    int status;

    snprintf(addr, sizeof(addr), "%s/%s.addr", h->registry, s->node_id);
    for (;;) {
        if (access(addr, F_OK) == 0)
            return 0;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "harness: %s exited before becoming ready (status %d)\n", s->node_id,
                    status);
            s->pid = 0;
            harness_print_log(s);
            return -ECHILD;
        }
        if (harness_ms_since(t0) > timeout_ms) {
            fprintf(stderr, "harness: %s not ready after %d ms\n", s->node_id, timeout_ms);
            harness_print_log(s);
            return -ETIMEDOUT;
        }
        harness_sleep_ms(2);
    }
}

int harness_start_server(struct harness *h, int i, int timeout_ms)
{
    struct timespec t0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = harness_spawn(h, i);
    if (rc < 0)
        return rc;
    return harness_wait_ready(h, i, &t0, timeout_ms);
}

int harness_start_all(struct harness *h, int timeout_ms)
{
    struct timespec t0;
    char err[256];
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < h->nservers; i++) {
        rc = harness_spawn(h, i);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < h->nservers; i++) {
        rc = harness_wait_ready(h, i, &t0, timeout_ms);
        if (rc < 0)
            return rc;
    }
    return registry_cluster_write(h->registry, (unsigned)h->nservers, err, sizeof(err));
}

int harness_stop_server(struct harness *h, int i, int sig, int timeout_ms)
{
    struct harness_server *s = &h->servers[i];
    struct timespec t0;
    int status;

    if (s->pid <= 0)
        return -ESRCH;
    kill(s->pid, sig);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);

        if (r == s->pid)
            break;
        if (r < 0) {
            s->pid = 0;
            return -errno;
        }
        if (harness_ms_since(&t0) > timeout_ms) {
            fprintf(stderr, "harness: %s did not exit after signal %d; killing\n", s->node_id, sig);
            harness_print_log(s);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            s->pid = 0;
            return -ETIMEDOUT;
        }
        harness_sleep_ms(2);
    }
    s->pid = 0;
    return status;
}

static void harness_rm_rf(const char *path)
{
    char cmd[700];

    /* The tree is ours (mkdtemp); a shell rm keeps this short and robust. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: could not remove %s\n", path);
}

void harness_cleanup(struct harness *h)
{
    for (int i = 0; i < h->nservers; i++)
        if (h->servers[i].pid > 0)
            harness_stop_server(h, i, SIGTERM, 10000);
    if (getenv("BENCHFS_KEEP_TEST_DIRS") == NULL && h->root[0] != '\0')
        harness_rm_rf(h->root);
    else
        fprintf(stderr, "harness: kept %s\n", h->root);
}
