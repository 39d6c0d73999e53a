/*
 * test_concurrent.c - two benchfsd_mini servers and four client processes at
 * once: every client writes objects of varying sizes spread over both
 * servers and reads them back; then one process checks all of them.
 *
 *   test_concurrent <path to benchfsd_mini>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchfs_mini.h"
#include "mini_test.h"

#define CLIENTS 4
#define OBJECTS 40
#define MAXSIZE (200 * 1024)

static size_t obj_size(int c, int i)
{
    return ((size_t)(c * 131 + i) * 7919) % MAXSIZE + 1;
}

/* Write and verify this client's objects; returns the number of errors. */
static int client_run(const char *dir, int c)
{
    uint8_t *buf = malloc(MAXSIZE);
    char path[64];
    int errors = 0;

    if (buf == NULL || benchfs_mini_init(dir, 0) != 0)
        return 1;
    for (int i = 0; i < OBJECTS; i++) {
        snprintf(path, sizeof(path), "/cc/%d/%d", c, i);
        mt_fill(buf, obj_size(c, i), (unsigned)(c * 1000 + i));
        errors += benchfs_mini_write(path, buf, obj_size(c, i), i % 2) != 0;
    }
    for (int i = 0; i < OBJECTS; i++) {
        snprintf(path, sizeof(path), "/cc/%d/%d", c, i);
        errors += benchfs_mini_read(path, buf, MAXSIZE, i % 2) != (ssize_t)obj_size(c, i);
        errors += !mt_check_fill(buf, obj_size(c, i), (unsigned)(c * 1000 + i));
    }
    benchfs_mini_finalize();
    free(buf);
    return errors;
}

int main(int argc, char **argv)
{
    pid_t servers[2], clients[CLIENTS];
    uint8_t *buf = malloc(MAXSIZE);
    const char *dir;
    char path[64];
    int status;

    MT_CHECK(argc == 2 && buf != NULL);
    dir = mt_setup("mini_concurrent");
    for (int s = 0; s < 2; s++)
        servers[s] = mt_daemon_start(argv[1], dir, s);
    for (int s = 0; s < 2; s++)
        mt_daemon_wait(dir, s, servers[s]);

    for (int c = 0; c < CLIENTS; c++) {
        clients[c] = fork();
        MT_CHECK(clients[c] >= 0);
        if (clients[c] == 0)
            _exit(client_run(dir, c) == 0 ? 0 : 1);
    }
    for (int c = 0; c < CLIENTS; c++) {
        MT_CHECK_EQ(waitpid(clients[c], &status, 0), clients[c]);
        MT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    /* Everything written by everyone is visible to a new client. */
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), 0);
    for (int c = 0; c < CLIENTS; c++) {
        for (int i = 0; i < OBJECTS; i++) {
            snprintf(path, sizeof(path), "/cc/%d/%d", c, i);
            MT_CHECK_EQ(benchfs_mini_read(path, buf, MAXSIZE, i % 2), obj_size(c, i));
            MT_CHECK(mt_check_fill(buf, obj_size(c, i), (unsigned)(c * 1000 + i)));
        }
    }
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    for (int s = 0; s < 2; s++)
        MT_CHECK_EQ(mt_daemon_stop(servers[s]), 0);
    free(buf);
    mt_pass();
}
