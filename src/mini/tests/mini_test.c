/*
 * mini_test.c - see mini_test.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mini_test.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MT_MAX_DAEMONS 8
#define MT_READY_MS    20000
#define MT_STOP_MS     10000

static char mt_dir[256];
static pid_t mt_pids[MT_MAX_DAEMONS];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void mt_cleanup(void)
{
    for (int i = 0; i < MT_MAX_DAEMONS; i++) {
        if (mt_pids[i] > 0) {
            kill(mt_pids[i], SIGKILL);
            waitpid(mt_pids[i], NULL, 0);
            mt_pids[i] = 0;
        }
    }
    if (mt_dir[0] != '\0')
        nftw(mt_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    mt_dir[0] = '\0';
}

void mt_fail(void)
{
    mt_cleanup();
    exit(1);
}

void mt_pass(void)
{
    mt_cleanup();
    exit(0);
}

const char *mt_setup(const char *name)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(mt_dir, sizeof(mt_dir), "%s/%s.XXXXXX", tmp != NULL ? tmp : "/tmp", name);
    if (mkdtemp(mt_dir) == NULL) {
        perror("mkdtemp");
        mt_dir[0] = '\0';
        exit(1);
    }
    setenv("UCX_TLS", "tcp,self", 0);
    setenv("BENCHFS_MINI_HOST", "127.0.0.1", 0);
    return mt_dir;
}

pid_t mt_daemon_start(const char *daemon, const char *dir, int rank)
{
    char rank_s[16];
    pid_t pid;
    int slot;

    for (slot = 0; slot < MT_MAX_DAEMONS && mt_pids[slot] != 0; slot++)
        ;
    MT_CHECK(slot < MT_MAX_DAEMONS);
    snprintf(rank_s, sizeof(rank_s), "%d", rank);
    pid = fork();
    MT_CHECK(pid >= 0);
    if (pid == 0) {
        execl(daemon, daemon, "--registry", dir, "--rank", rank_s, (char *)NULL);
        perror("exec benchfsd_mini");
        _exit(127);
    }
    mt_pids[slot] = pid;
    return pid;
}

void mt_daemon_forget(pid_t pid)
{
    for (int i = 0; i < MT_MAX_DAEMONS; i++) {
        if (mt_pids[i] == pid)
            mt_pids[i] = 0;
    }
}

void mt_daemon_wait(const char *dir, int rank, pid_t pid)
{
    char path[512];
    struct timespec ts = {0, 5 * 1000 * 1000};
    int status;

    snprintf(path, sizeof(path), "%s/server_%d.txt", dir, rank);
    /* Readiness is the registry file (published atomically), never a fixed sleep. */
    for (int waited = 0; waited < MT_READY_MS; waited += 5) {
        if (access(path, F_OK) == 0)
            return;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            mt_daemon_forget(pid);
            fprintf(stderr, "daemon %d exited before registering (status 0x%x)\n", (int)pid,
                    status);
            mt_fail();
        }
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "daemon %d did not register %s in time\n", (int)pid, path);
    mt_fail();
}

int mt_daemon_stop(pid_t pid)
{
    struct timespec ts = {0, 5 * 1000 * 1000};
    int status;

    kill(pid, SIGTERM);
    for (int waited = 0; waited < MT_STOP_MS; waited += 5) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            mt_daemon_forget(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "daemon %d ignored SIGTERM\n", (int)pid);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    mt_daemon_forget(pid);
    return -1;
}

static uint8_t mt_byte(size_t i, unsigned seed)
{
    uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u + 0x9e37u;
    return (uint8_t)(x ^ (x >> 13) ^ (x >> 24));
}

void mt_fill(void *buf, size_t len, unsigned seed)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++)
        p[i] = mt_byte(i, seed);
}

int mt_check_fill(const void *buf, size_t len, unsigned seed)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        if (p[i] != mt_byte(i, seed))
            return 0;
    }
    return 1;
}
