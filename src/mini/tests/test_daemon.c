/*
 * test_daemon.c - benchfsd_mini as a process: its registry file names the
 * advertised host and the real port; a client killed in the middle of a
 * frame does not disturb the server or its other clients; SIGTERM makes it
 * remove its registry file and exit 0.
 *
 *   test_daemon <path to benchfsd_mini>
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchfs_mini.h"
#include "mini/mini_client.h"
#include "mini/mini_frame.h"
#include "mini/mini_registry.h"
#include "mini_test.h"

/* Child: connect, send half a WRITE, tell the parent, wait to be killed. */
static void half_frame_client(const char *dir, int ready_fd)
{
    struct mini_client *cli;
    struct mini_req_hdr hdr = {MINI_RPC_WRITE, 6, 1000};
    uint8_t buf[MINI_REQ_HDR_SIZE + 6 + 100] = {0};

    if (mini_client_create(dir, 10000, &cli) != 0 || mini_client_connect(cli, 3) != 0)
        _exit(3);
    mini_req_hdr_pack(&hdr, buf);
    memcpy(buf + MINI_REQ_HDR_SIZE, "/half1", 6);
    if (mini_client_send_raw(cli, 3, buf, sizeof(buf)) != 0)
        _exit(4);
    if (write(ready_fd, "r", 1) != 1)
        _exit(5);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    char host[MINI_REGISTRY_HOST_MAX + 1], path[512], back[16];
    const char *dir;
    int fds[2], status;
    uint16_t port;
    pid_t pid, child;

    MT_CHECK(argc == 2);
    dir = mt_setup("mini_daemon");
    pid = mt_daemon_start(argv[1], dir, 3);
    mt_daemon_wait(dir, 3, pid);
    MT_CHECK_EQ(mini_registry_lookup(dir, 3, 0, host, sizeof(host), &port), 0);
    MT_CHECK(strcmp(host, "127.0.0.1") == 0);
    MT_CHECK(port > 0);

    /* A client dies with half a frame on the wire. */
    MT_CHECK_EQ(pipe(fds), 0);
    child = fork();
    MT_CHECK(child >= 0);
    if (child == 0) {
        close(fds[0]);
        half_frame_client(dir, fds[1]);
    }
    close(fds[1]);
    MT_CHECK_EQ(read(fds[0], back, 1), 1);
    close(fds[0]);
    kill(child, SIGKILL);
    MT_CHECK_EQ(waitpid(child, &status, 0), child);
    MT_CHECK(WIFSIGNALED(status));

    /* The server keeps serving (the daemon only exits on a signal). */
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), 0);
    MT_CHECK_EQ(benchfs_mini_write("/after-kill", "alive", 5, 3), 0);
    MT_CHECK_EQ(benchfs_mini_read("/after-kill", back, sizeof(back), 3), 5);
    MT_CHECK(memcmp(back, "alive", 5) == 0);
    /* The half-sent object was never stored. */
    MT_CHECK_EQ(benchfs_mini_read("/half1", back, sizeof(back), 3), -ENOENT);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    MT_CHECK_EQ(kill(pid, 0), 0);

    /* SIGTERM: clean exit, registry file gone. */
    MT_CHECK_EQ(mt_daemon_stop(pid), 0);
    snprintf(path, sizeof(path), "%s/server_3.txt", dir);
    MT_CHECK(access(path, F_OK) != 0 && errno == ENOENT);
    mt_pass();
}
