/*
 * test_reconnect.c - failures of a server seen by a client: a stopped
 * (SIGSTOP) server makes an RPC fail with -ETIMEDOUT at its deadline instead
 * of hanging, a killed server makes it fail promptly, and in both cases the
 * next call reconnects (to the restarted server's new port).
 *
 *   test_reconnect <path to benchfsd_mini>
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchfs_mini.h"
#include "mini/mini_time.h"
#include "mini_test.h"

int main(int argc, char **argv)
{
    char back[16], path[512];
    const char *dir;
    uint64_t t0, ms;
    pid_t pid;
    int ret, status;

    MT_CHECK(argc == 2);
    dir = mt_setup("mini_reconnect");
    setenv("BENCHFS_MINI_TIMEOUT_MS", "400", 1);
    pid = mt_daemon_start(argv[1], dir, 0);
    mt_daemon_wait(dir, 0, pid);
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), 0);
    MT_CHECK_EQ(benchfs_mini_write("/r", "one", 3, 0), 0);

    /* A server that stops answering: the RPC times out at its deadline. */
    MT_CHECK_EQ(kill(pid, SIGSTOP), 0);
    MT_CHECK_EQ(waitpid(pid, &status, WUNTRACED), pid); /* really stopped now */
    MT_CHECK(WIFSTOPPED(status));
    t0 = mini_now_ns();
    ret = benchfs_mini_read("/r", back, sizeof(back), 0);
    ms = (mini_now_ns() - t0) / 1000000;
    MT_CHECK_EQ(ret, -ETIMEDOUT);
    MT_CHECK(ms >= 350 && ms < 5000);
    MT_CHECK(strstr(benchfs_mini_errmsg(), "connection dropped") != NULL);
    MT_CHECK_EQ(kill(pid, SIGCONT), 0);
    /* The next call reconnects to the same server; its data is intact. */
    MT_CHECK_EQ(benchfs_mini_read("/r", back, sizeof(back), 0), 3);
    MT_CHECK(memcmp(back, "one", 3) == 0);

    /* A server that dies: the call fails promptly with a connection error. */
    MT_CHECK_EQ(kill(pid, SIGKILL), 0);
    MT_CHECK_EQ(waitpid(pid, &status, 0), pid);
    mt_daemon_forget(pid);
    t0 = mini_now_ns();
    ret = benchfs_mini_write("/r", "two", 3, 0);
    MT_CHECK(ret < 0);
    fprintf(stderr, "write to a killed server: %s (%d ms)\n", benchfs_mini_errmsg(),
            (int)((mini_now_ns() - t0) / 1000000));

    /* Restarted (new port; the dead server's stale file is replaced). */
    snprintf(path, sizeof(path), "%s/server_0.txt", dir);
    unlink(path);
    pid = mt_daemon_start(argv[1], dir, 0);
    mt_daemon_wait(dir, 0, pid);
    MT_CHECK_EQ(benchfs_mini_write("/r", "three", 5, 0), 0);
    MT_CHECK_EQ(benchfs_mini_read("/r", back, sizeof(back), 0), 5);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    MT_CHECK_EQ(mt_daemon_stop(pid), 0);
    mt_pass();
}
