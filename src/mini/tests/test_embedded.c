/*
 * test_embedded.c - a server on the library's background thread, as a
 * server MPI rank runs it (no MPI needed here): the same process serves and
 * is a client of itself and of another server; a separate process is its
 * client too; finalize removes the registry file and a new init works.
 *
 *   test_embedded <path to benchfsd_mini>
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchfs_mini.h"
#include "mini_test.h"

/* Child (forked before any UCX use): use the embedded server (rank 0). */
static int remote_client(const char *dir, int go_fd)
{
    char back[16], c;

    if (read(go_fd, &c, 1) != 1 || benchfs_mini_init(dir, 0) != 0)
        return 1;
    if (benchfs_mini_write("/from-child", "kid", 3, 0) != 0)
        return 2;
    if (benchfs_mini_read("/from-parent", back, sizeof(back), 0) != 6 ||
        memcmp(back, "parent", 6) != 0)
        return 3;
    benchfs_mini_finalize();
    return 0;
}

int main(int argc, char **argv)
{
    char back[16], path[512];
    const char *dir;
    int fds[2], status;
    pid_t daemon, child;

    MT_CHECK(argc == 2);
    dir = mt_setup("mini_embedded");
    MT_CHECK_EQ(pipe(fds), 0);
    child = fork();
    MT_CHECK(child >= 0);
    if (child == 0) {
        close(fds[1]);
        _exit(remote_client(dir, fds[0]));
    }
    close(fds[0]);
    daemon = mt_daemon_start(argv[1], dir, 1);
    mt_daemon_wait(dir, 1, daemon);

    MT_CHECK_EQ(benchfs_mini_init_rank(dir, 1, 0), 0);
    MT_CHECK(benchfs_mini_server_port() > 0);
    snprintf(path, sizeof(path), "%s/server_0.txt", dir);
    MT_CHECK_EQ(access(path, F_OK), 0);
    MT_CHECK_EQ(benchfs_mini_start_server(), 0);
    MT_CHECK_EQ(benchfs_mini_start_server(), -EALREADY);

    /* Client of its own server and of the daemon at the same time. */
    MT_CHECK_EQ(benchfs_mini_write("/from-parent", "parent", 6, 0), 0);
    MT_CHECK_EQ(benchfs_mini_write("/on-daemon", "daemon", 6, 1), 0);
    MT_CHECK_EQ(benchfs_mini_read("/from-parent", back, sizeof(back), 0), 6);
    MT_CHECK_EQ(benchfs_mini_read("/on-daemon", back, sizeof(back), 1), 6);
    MT_CHECK(memcmp(back, "daemon", 6) == 0);

    /* Another process uses the embedded server. */
    MT_CHECK_EQ(write(fds[1], "g", 1), 1);
    close(fds[1]);
    MT_CHECK_EQ(waitpid(child, &status, 0), child);
    MT_CHECK(WIFEXITED(status));
    MT_CHECK_EQ(WEXITSTATUS(status), 0);
    MT_CHECK_EQ(benchfs_mini_read("/from-child", back, sizeof(back), 0), 3);
    MT_CHECK(memcmp(back, "kid", 3) == 0);

    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    MT_CHECK(access(path, F_OK) != 0);
    /* A fresh server starts empty. */
    MT_CHECK_EQ(benchfs_mini_init_rank(dir, 1, 0), 0);
    MT_CHECK_EQ(benchfs_mini_start_server(), 0);
    MT_CHECK_EQ(benchfs_mini_read("/from-parent", back, sizeof(back), 0), -ENOENT);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);

    MT_CHECK_EQ(mt_daemon_stop(daemon), 0);
    mt_pass();
}
