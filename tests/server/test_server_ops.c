/*
 * test_server_ops.c - real benchfsd processes driven by the raw proto+net
 * client: every op with its error statuses, malformed and unauthorized
 * messages, restart on the same data dir, SIGKILL + restart durability, the
 * daemon's start-up errors, orphan records with their holders (live,
 * gone, unknown; across restarts; a remote holder's failed connection), and
 * clients killed with replies in transfer (freed whole, no spinning). Transport from the
 * environment (CTest runs it with UCX_TLS=tcp,self and with shared memory).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "rawclient.h"

struct fixture {
    struct harness h;
    struct rawclient *c;
    pid_t stalled; /* a --stalled child still to be killed, or 0 */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(harness_init(&f->h, 1), 0);
    assert_int_equal(harness_start_all(&f->h, 20000), 0);
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &f->c), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->stalled > 0) {
        kill(f->stalled, SIGKILL);
        waitpid(f->stalled, NULL, 0);
    }
    rawclient_close(f->c);
    harness_cleanup(&f->h);
    free(f);
    return 0;
}

static int do_mkdir(struct rawclient *c, const char *path)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.mkdir_req.path_len = (uint32_t)strlen(path);
    b.mkdir_req.flags = PROTO_MKDIR_OWNER;
    b.mkdir_req.mode = 0755;
    return rawclient_call(c, PROTO_OP_MKDIR, &b, path, strlen(path), NULL, NULL, 0, NULL, 10000);
}

static int do_create(struct rawclient *c, const char *path, uint32_t flags, union proto_body *rep)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.create_req.path_len = (uint32_t)strlen(path);
    b.create_req.flags = flags;
    b.create_req.mode = 0644;
    return rawclient_call(c, PROTO_OP_CREATE, &b, path, strlen(path), rep, NULL, 0, NULL, 10000);
}

static int do_write(struct rawclient *c, uint64_t ino, uint64_t index, uint32_t off,
                    const void *buf, uint32_t len)
{
    union proto_body b, rep;
    int rc;

    memset(&b, 0, sizeof(b));
    b.chunk_io_req.ino = ino;
    b.chunk_io_req.index = index;
    b.chunk_io_req.offset = off;
    b.chunk_io_req.length = len;
    rc = rawclient_call(c, PROTO_OP_CHUNK_WRITE, &b, buf, len, &rep, NULL, 0, NULL, 10000);
    if (rc == 0 && rep.chunk_rep.length != len)
        return -EIO;
    return rc;
}

/* Returns bytes read or -errno. */
static long do_read(struct rawclient *c, uint64_t ino, uint64_t index, uint32_t off, void *buf,
                    uint32_t len)
{
    union proto_body b, rep;
    size_t got = 0;
    int rc;

    memset(&b, 0, sizeof(b));
    b.chunk_io_req.ino = ino;
    b.chunk_io_req.index = index;
    b.chunk_io_req.offset = off;
    b.chunk_io_req.length = len;
    rc = rawclient_call(c, PROTO_OP_CHUNK_READ, &b, NULL, 0, &rep, buf, len, &got, 10000);
    if (rc < 0)
        return rc;
    assert_int_equal(rep.chunk_rep.length, got);
    return (long)got;
}

static int do_setsize(struct rawclient *c, const char *path, uint64_t ino, uint64_t size,
                      uint32_t flags)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.setsize_req.path_len = (uint32_t)strlen(path);
    b.setsize_req.ino = ino;
    b.setsize_req.size = size;
    b.setsize_req.flags = flags;
    return rawclient_call(c, PROTO_OP_SETSIZE, &b, path, strlen(path), NULL, NULL, 0, NULL, 10000);
}

/* HELLO again on the same connection, telling who this client is. */
static int do_identify(struct rawclient *c, uint64_t session, uint64_t host, uint64_t pid)
{
    union proto_body b;
    const void *addr;
    size_t len;

    rawclient_address(c, &addr, &len);
    memset(&b, 0, sizeof(b));
    b.hello_req.addr_len = (uint32_t)len;
    b.hello_req.flags = rawclient_hello_flags(c);
    b.hello_req.session = session;
    b.hello_req.host_id = host;
    b.hello_req.pid = pid;
    return rawclient_call(c, PROTO_OP_HELLO, &b, addr, len, NULL, NULL, 0, NULL, 10000);
}

/* A file made an orphan (unlinked with KEEP) by this client; its ino. */
static uint64_t make_orphan(struct rawclient *c, const char *path)
{
    union proto_body rep;

    assert_int_equal(do_create(c, path, 0, &rep), 0);
    assert_int_equal(do_write(c, rep.create_rep.attr.ino, 0, 0, "orphan", 6), 0);
    assert_int_equal(rawclient_path_op(c, PROTO_OP_UNLINK, path, PROTO_UNLINK_KEEP, NULL), 0);
    return rep.create_rep.attr.ino;
}

/* ORPHAN_LIST: the entry of ino (0 when not listed); fills state and pid. */
static int orphan_entry(struct rawclient *c, uint64_t ino, uint64_t *state_p, uint64_t *pid_p)
{
    static uint8_t page[16 * PROTO_ORPHAN_LIST_ENTRY];
    union proto_body b, rep;
    size_t got = 0;

    memset(&b, 0, sizeof(b));
    b.chunk_list_req.max = 16;
    assert_int_equal(
        rawclient_call(c, PROTO_OP_ORPHAN_LIST, &b, NULL, 0, &rep, page, sizeof(page), &got, 5000),
        0);
    assert_int_equal(got, rep.list_rep.count * PROTO_ORPHAN_LIST_ENTRY);
    for (uint32_t i = 0; i < rep.list_rep.count; i++) {
        const uint8_t *p = page + i * PROTO_ORPHAN_LIST_ENTRY;

        if (proto_get_u64(p) == ino) {
            *state_p = proto_get_u64(p + 40);
            *pid_p = proto_get_u64(p + 24);
            return 1;
        }
    }
    return 0;
}

static int orphan_free_flags(struct rawclient *c, uint64_t ino, uint32_t flags)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.ino_req.ino = ino;
    b.ino_req.flags = flags;
    return rawclient_call(c, PROTO_OP_ORPHAN_FREE, &b, NULL, 0, NULL, NULL, 0, NULL, 5000);
}

static int orphan_free(struct rawclient *c, uint64_t ino)
{
    return orphan_free_flags(c, ino, 0);
}

/* A dead pid of this host (a child that exited and was reaped). */
static uint64_t dead_pid(void)
{
    pid_t child = fork();

    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    return (uint64_t)child;
}

/* Orphan records and their holders: unknown (no identity), live (this
 * process, same host) and gone (a dead pid on this host); ORPHAN_FREE
 * refuses the first two and frees the last, which the server also reclaims
 * by itself; its chunks are then gone and refuse late writes. */
static void test_orphan_holders(void **state)
{
    struct fixture *f = *state;
    uint64_t ino, st = 0, pid = 0;
    int rc, n;

    /* No identity (session 0): unknown, never freed by fsck. */
    ino = make_orphan(f->c, "/anon");
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_UNKNOWN);
    assert_int_equal(orphan_free(f->c, ino), -EBUSY);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/anon", 0, NULL), -ENOENT);
    {
        union proto_body b;

        memset(&b, 0, sizeof(b));
        b.ino_req.ino = ino;
        b.ino_req.path_len = 1;
        assert_int_equal(
            rawclient_call(f->c, PROTO_OP_RELEASE, &b, "/", 1, NULL, NULL, 0, NULL, 5000), 0);
    }
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 0);
    assert_int_equal(orphan_free(f->c, ino), -ENOENT);
    /* ...unless the operator says no such holder runs (--repair-unknown) */
    ino = make_orphan(f->c, "/anon2");
    assert_int_equal(orphan_free(f->c, ino), -EBUSY);
    assert_int_equal(orphan_free_flags(f->c, ino, PROTO_ORPHAN_FREE_UNKNOWN), 0);
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 0);
    assert_int_equal(do_write(f->c, ino, 0, 0, "late", 4), -ESTALE);

    /* This very process on this host: live. */
    assert_int_equal(do_identify(f->c, 0x5e55, registry_host_id(), (uint64_t)getpid()), 0);
    ino = make_orphan(f->c, "/mine");
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
    assert_int_equal(pid, (uint64_t)getpid());
    assert_int_equal(orphan_free(f->c, ino), -EBUSY);
    assert_int_equal(orphan_free_flags(f->c, ino, PROTO_ORPHAN_FREE_UNKNOWN), -EBUSY);

    /* A pid that exited: gone. Freed by ORPHAN_FREE, or by the server's
     * own check (once a second) if that came first. */
    assert_int_equal(do_identify(f->c, 0xdead, registry_host_id(), dead_pid()), 0);
    ino = make_orphan(f->c, "/dead");
    rc = orphan_free(f->c, ino);
    assert_true(rc == 0 || rc == -ENOENT);
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 0);
    assert_int_equal(do_write(f->c, ino, 0, 0, "late", 4), -ESTALE);

    /* The server alone: a gone holder's orphan goes within a few checks. */
    ino = make_orphan(f->c, "/dead2");
    for (n = 0; n < 1000 && orphan_entry(f->c, ino, &st, &pid) == 1; n++) {
        assert_int_equal(st, PROTO_HOLDER_GONE);
        poll(NULL, 0, 10);
    }
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 0);
    assert_int_equal(do_write(f->c, ino, 0, 0, "late", 4), -ESTALE);

    /* Rename over an open file, on one server and across two (INODE_PUT):
     * the replaced inode's orphan has this client as its holder too. */
    {
        union proto_body b, rep, put;
        char two[16];
        uint64_t replaced;

        assert_int_equal(do_identify(f->c, 0x5e55, registry_host_id(), (uint64_t)getpid()), 0);
        assert_int_equal(do_create(f->c, "/r1", 0, &rep), 0);
        assert_int_equal(do_create(f->c, "/r2", 0, &rep), 0);
        replaced = rep.create_rep.attr.ino;
        memset(&b, 0, sizeof(b));
        b.rename_req.path_len = 3;
        b.rename_req.path2_len = 3;
        b.rename_req.flags = PROTO_RENAME_KEEP;
        memcpy(two, "/r1/r2", 6);
        assert_int_equal(
            rawclient_call(f->c, PROTO_OP_RENAME, &b, two, 6, &rep, NULL, 0, NULL, 5000), 0);
        assert_int_equal(rep.rename_rep.has_replaced, 1);
        assert_int_equal(rep.rename_rep.replaced.ino, replaced);
        assert_int_equal(orphan_entry(f->c, replaced, &st, &pid), 1);
        assert_int_equal(st, PROTO_HOLDER_LIVE);
        assert_int_equal(pid, (uint64_t)getpid());

        assert_int_equal(do_create(f->c, "/r3", 0, &rep), 0);
        replaced = rep.create_rep.attr.ino;
        assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/r2", 0, &put), 0);
        memset(&b, 0, sizeof(b));
        b.inode_put_req.path_len = 3;
        b.inode_put_req.flags = PROTO_PUT_KEEP;
        b.inode_put_req.attr = put.attr_rep.attr;
        assert_int_equal(
            rawclient_call(f->c, PROTO_OP_INODE_PUT, &b, "/r3", 3, &rep, NULL, 0, NULL, 5000), 0);
        assert_int_equal(rep.rename_rep.has_replaced, 1);
        assert_int_equal(orphan_entry(f->c, replaced, &st, &pid), 1);
        assert_int_equal(st, PROTO_HOLDER_LIVE);
        assert_int_equal(pid, (uint64_t)getpid());
    }

    /* The live one is still there, and released normally. */
    assert_int_equal(do_identify(f->c, 0x5e55, registry_host_id(), (uint64_t)getpid()), 0);
    assert_int_equal(orphan_entry(f->c, make_orphan(f->c, "/mine2"), &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
}

/* Orphans and their holders survive a restart (SIGTERM and SIGKILL): a live
 * holder of this host is still live, a dead one's orphan is reclaimed at
 * once, a holder on "another host" is unknown until its session says HELLO
 * again, and then live. */
static void orphan_restart_case(void **state, int sig)
{
    struct fixture *f = *state;
    uint64_t other = registry_host_id() ^ 0x1234, live, dead, remote, st = 0, pid = 0;
    struct rawclient *c2;
    int n;

    assert_int_equal(do_identify(f->c, 0x11, registry_host_id(), (uint64_t)getpid()), 0);
    live = make_orphan(f->c, "/live");
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &c2), 0);
    assert_int_equal(do_identify(c2, 0x22, other, 77), 0);
    remote = make_orphan(c2, "/remote");
    assert_int_equal(orphan_entry(f->c, remote, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
    rawclient_close(c2);
    /* A dead holder that the stopped server had no time to notice. */
    assert_int_equal(do_identify(f->c, 0x33, registry_host_id(), dead_pid()), 0);
    dead = make_orphan(f->c, "/dead");
    /* Made durable: a SIGKILLed server keeps only synced metadata. */
    assert_int_equal(do_create(f->c, "/sync", 0, NULL), 0);
    {
        union proto_body rep;

        assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/sync", 0, &rep), 0);
        assert_int_equal(do_setsize(f->c, "/sync", rep.attr_rep.attr.ino, 1, PROTO_SETSIZE_SYNC),
                         0);
    }
    rawclient_close(f->c);
    f->c = NULL;
    harness_stop_server(&f->h, 0, sig, 10000);
    assert_int_equal(harness_start_server(&f->h, 0, 20000), 0);
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &f->c), 0);

    assert_int_equal(orphan_entry(f->c, live, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
    assert_int_equal(pid, (uint64_t)getpid());
    assert_int_equal(orphan_entry(f->c, remote, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_UNKNOWN);
    assert_int_equal(pid, 77);
    assert_int_equal(orphan_free(f->c, remote), -EBUSY);
    for (n = 0; n < 1000 && orphan_entry(f->c, dead, &st, &pid) == 1; n++)
        poll(NULL, 0, 10);
    assert_int_equal(orphan_entry(f->c, dead, &st, &pid), 0);
    /* the remote holder's session comes back */
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &c2), 0);
    assert_int_equal(do_identify(c2, 0x22, other, 77), 0);
    assert_int_equal(orphan_entry(f->c, remote, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
    rawclient_close(c2);
}

static void test_orphan_restart_graceful(void **state)
{
    orphan_restart_case(state, SIGTERM);
}

static void test_orphan_restart_sigkill(void **state)
{
    orphan_restart_case(state, SIGKILL);
}

/* A holder on another host is judged by its connection: live while
 * connected; when its endpoint fails (TCP with peer failure) unknown for a
 * grace of 10 s, then gone and reclaimed. Without peer-failure reports
 * (shared memory) it stays unknown: kept. */
static void test_orphan_remote_holder(void **state)
{
    struct fixture *f = *state;
    const char *pf = getenv("BENCHFS_PEER_FAILURE");
    bool failures = pf == NULL || strcmp(pf, "0") != 0;
    uint64_t other = registry_host_id() ^ 0x4321, ino, st = 0, pid = 0;
    struct rawclient *c2;
    int n;

    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &c2), 0);
    assert_int_equal(do_identify(c2, 0x77, other, 1), 0);
    ino = make_orphan(c2, "/far");
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_LIVE);
    rawclient_close(c2);
    for (n = 0;
         failures && n < 800 && orphan_entry(f->c, ino, &st, &pid) == 1 && st == PROTO_HOLDER_LIVE;
         n++)
        poll(NULL, 0, 10);
    if (!failures) {
        /* no report of the departure: the session just looks connected or
         * unknown, never gone */
        assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 1);
        assert_true(st == PROTO_HOLDER_LIVE || st == PROTO_HOLDER_UNKNOWN);
        assert_int_equal(orphan_free(f->c, ino), -EBUSY);
        return;
    }
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 1);
    assert_int_equal(st, PROTO_HOLDER_UNKNOWN);
    assert_int_equal(orphan_free(f->c, ino), -EBUSY);
    /* the grace runs out: reclaimed by the server */
    for (n = 0; n < 2000 && orphan_entry(f->c, ino, &st, &pid) == 1; n++) {
        assert_true(st == PROTO_HOLDER_UNKNOWN || st == PROTO_HOLDER_GONE);
        poll(NULL, 0, 10);
    }
    assert_int_equal(orphan_entry(f->c, ino, &st, &pid), 0);
    assert_int_equal(do_write(f->c, ino, 0, 0, "late", 4), -ESTALE);
}

static void test_admin(void **state)
{
    struct fixture *f = *state;
    union proto_body b, rep;

    memset(&b, 0, sizeof(b));
    assert_int_equal(rawclient_call(f->c, PROTO_OP_PING, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_true(rep.ping_rep.max_xfer >= 4096);
    assert_true(rep.ping_rep.server_ns > 0);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATFS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_true(rep.statfs_rep.blocks > 0);
    assert_true(rep.statfs_rep.bsize > 0);
    assert_int_equal(rep.statfs_rep.namemax, 255);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_int_equal(rep.status_rep.pid, f->h.servers[0].pid);
    assert_true(rep.status_rep.ops >= 2);
    assert_true(rep.status_rep.dirs >= 1); /* the root */
    /* The passes that served the requests above count as busy; never more
     * than the server has been up. */
    assert_true(rep.status_rep.busy_ns > 0);
    assert_true(rep.status_rep.busy_ns <= rep.status_rep.uptime_ns);
}

static void test_namespace_errors(void **state)
{
    struct fixture *f = *state;
    union proto_body rep;
    char names[4096];
    size_t got = 0, off = 0;
    struct proto_dirent ent;
    union proto_body b;
    int n = 0;

    assert_int_equal(do_mkdir(f->c, "/d"), 0);
    assert_int_equal(do_mkdir(f->c, "/d"), -EEXIST);
    assert_int_equal(do_mkdir(f->c, "/nope/x"), -ENOENT);
    assert_int_equal(do_create(f->c, "/d/f", 0, &rep), 0);
    assert_int_equal(rep.create_rep.created, 1);
    assert_true(S_ISREG(rep.create_rep.attr.mode));
    assert_int_equal(do_create(f->c, "/d/f", 0, &rep), 0);
    assert_int_equal(rep.create_rep.created, 0);
    assert_int_equal(do_create(f->c, "/d/f", PROTO_CREATE_EXCL, &rep), -EEXIST);
    assert_int_equal(do_create(f->c, "/nope/f", 0, &rep), -ENOENT);
    assert_int_equal(do_create(f->c, "/d", 0, &rep), -EISDIR);
    assert_int_equal(do_mkdir(f->c, "/d/f"), -EEXIST);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d/f", 0, &rep), 0);
    assert_true(S_ISREG(rep.attr_rep.attr.mode));
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d", 0, &rep), 0);
    assert_true(S_ISDIR(rep.attr_rep.attr.mode));
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/missing", 0, &rep), -ENOENT);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/d", 0, &rep), -EISDIR);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_PREPARE, "/d", 0, &rep), -ENOTEMPTY);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_PREPARE, "/d/f", 0, &rep), -ENOTDIR);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_PREPARE, "/zz", 0, &rep), -ENOENT);

    /* readdir-plus sees the file and a subdir */
    assert_int_equal(do_mkdir(f->c, "/d/sub"), 0);
    memset(&b, 0, sizeof(b));
    b.readdir_req.path_len = 2;
    b.readdir_req.max_entries = 100;
    b.readdir_req.max_bytes = 65536;
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_READDIR, &b, "/d", 2, &rep, names, sizeof(names), &got, 5000),
        0);
    assert_int_equal(rep.readdir_rep.count, 2);
    assert_int_equal(rep.readdir_rep.done, 1);
    while (proto_dirent_next(names, got, &off, &ent) == 1) {
        if (ent.name_len == 1 && ent.name[0] == 'f')
            assert_true(S_ISREG(ent.mode));
        else
            assert_true(ent.name_len == 3 && memcmp(ent.name, "sub", 3) == 0 && S_ISDIR(ent.mode));
        n++;
    }
    assert_int_equal(n, 2);

    /* rename, truncate, setsize, unlink, rmdir two-phase */
    {
        union proto_body rb;
        const char *two = "/d/f/d/g";

        memset(&rb, 0, sizeof(rb));
        rb.rename_req.path_len = 4;
        rb.rename_req.path2_len = 4;
        assert_int_equal(
            rawclient_call(f->c, PROTO_OP_RENAME, &rb, two, 8, &rep, NULL, 0, NULL, 5000), 0);
        assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d/f", 0, &rep), -ENOENT);
        assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d/g", 0, &rep), 0);
    }
    assert_int_equal(do_setsize(f->c, "/d/g", 0, 5000, 0), 0);
    assert_int_equal(do_setsize(f->c, "/d/g", 0, 100, 0), 0); /* max semantics */
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d/g", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.size, 5000);
    assert_int_equal(do_setsize(f->c, "/d/g", rep.attr_rep.attr.ino + 1, 9000, 0), -ESTALE);
    {
        union proto_body tb;

        memset(&tb, 0, sizeof(tb));
        tb.truncate_req.path_len = 4;
        tb.truncate_req.size = 10;
        assert_int_equal(
            rawclient_call(f->c, PROTO_OP_TRUNCATE, &tb, "/d/g", 4, &rep, NULL, 0, NULL, 5000), 0);
        assert_int_equal(rep.truncate_rep.old_size, 5000);
        assert_int_equal(rep.truncate_rep.attr.size, 10);
    }
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/d/g", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.size, 10);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/d/g", 0, &rep), -ENOENT);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_PREPARE, "/d/sub", 0, &rep), 0);
    /* while removing, nothing can be created under it */
    assert_int_equal(do_create(f->c, "/d/sub/x", 0, &rep), -ENOENT);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_ABORT, "/d/sub", 0, &rep), 0);
    assert_int_equal(do_create(f->c, "/d/sub/x", 0, &rep), 0);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/d/sub/x", 0, &rep), 0);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_PREPARE, "/d/sub", 0, &rep), 0);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_RMDIR_COMMIT, "/d/sub", 0, &rep), 0);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/d/sub", 0, &rep), -ENOENT);
}

static void test_chunk_data(void **state)
{
    struct fixture *f = *state;
    size_t big = 1 << 20;
    uint8_t *wbuf = malloc(big), *rbuf = malloc(big);
    union proto_body rep, b;
    uint64_t ino;

    assert_non_null(wbuf);
    assert_non_null(rbuf);
    for (size_t i = 0; i < big; i++)
        wbuf[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(do_create(f->c, "/data", 0, &rep), 0);
    ino = rep.create_rep.attr.ino;
    assert_true(ino != 0);

    /* small (eager) and 1 MiB (rendezvous) */
    assert_int_equal(do_write(f->c, ino, 0, 0, wbuf, 4096), 0);
    assert_int_equal(do_read(f->c, ino, 0, 0, rbuf, 4096), 4096);
    assert_memory_equal(wbuf, rbuf, 4096);
    assert_int_equal(do_write(f->c, ino, 1, 0, wbuf, (uint32_t)big), 0);
    memset(rbuf, 0, big);
    assert_int_equal(do_read(f->c, ino, 1, 0, rbuf, (uint32_t)big), (long)big);
    assert_memory_equal(wbuf, rbuf, big);
    /* unaligned offset inside a chunk */
    assert_int_equal(do_write(f->c, ino, 0, 10000, wbuf + 5, 777), 0);
    assert_int_equal(do_read(f->c, ino, 0, 10000, rbuf, 777), 777);
    assert_memory_equal(wbuf + 5, rbuf, 777);
    /* past the end of a chunk file: short; missing chunk: a hole of 0 bytes */
    assert_int_equal(do_read(f->c, ino, 0, 10000, rbuf, 4096), 777);
    assert_int_equal(do_read(f->c, ino, 9, 0, rbuf, 4096), 0);
    /* larger than max_xfer is refused */
    memset(&b, 0, sizeof(b));
    b.chunk_io_req.ino = ino;
    b.chunk_io_req.length = (uint32_t)(big * 2);
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_CHUNK_READ, &b, NULL, 0, NULL, NULL, 0, NULL, 5000), -EPROTO);
    /* fsync, then remove chunk 1 and cut chunk 0 to 100 bytes */
    memset(&b, 0, sizeof(b));
    b.fsync_req.ino = ino;
    assert_int_equal(rawclient_call(f->c, PROTO_OP_FSYNC, &b, NULL, 0, NULL, NULL, 0, NULL, 5000),
                     0);
    memset(&b, 0, sizeof(b));
    b.chunk_remove_req.ino = ino;
    b.chunk_remove_req.first = 0;
    b.chunk_remove_req.last = 5;
    b.chunk_remove_req.keep_bytes = 100;
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_CHUNK_REMOVE, &b, NULL, 0, NULL, NULL, 0, NULL, 5000), 0);
    assert_int_equal(do_read(f->c, ino, 0, 0, rbuf, 4096), 100);
    assert_int_equal(do_read(f->c, ino, 1, 0, rbuf, 4096), 0);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_true(rep.status_rep.chunk_writes >= 3);
    assert_true(rep.status_rep.chunk_reads >= 5);
    free(wbuf);
    free(rbuf);
}

/* Build a request header by hand. */
static size_t mk_hdr(struct fixture *f, uint8_t *buf, unsigned op, uint32_t body_len,
                     uint32_t data_len, uint64_t id, const uint8_t *cookie)
{
    struct proto_hdr h;

    memset(&h, 0, sizeof(h));
    h.magic = PROTO_MAGIC;
    h.version = PROTO_VERSION;
    h.op = (uint16_t)op;
    h.req_id = id;
    h.body_len = body_len;
    h.data_len = data_len;
    memcpy(h.cookie, cookie ? cookie : rawclient_cookie(f->c), PROTO_COOKIE_LEN);
    proto_hdr_pack(&h, buf);
    return PROTO_HDR_SIZE + body_len;
}

static void assert_alive(struct fixture *f)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    assert_int_equal(rawclient_call(f->c, PROTO_OP_PING, &b, NULL, 0, NULL, NULL, 0, NULL, 5000),
                     0);
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[PROTO_MSG_MAX + 64];
    uint8_t bad_cookie[PROTO_COOKIE_LEN];
    union proto_body rep, b;
    uint64_t id;
    size_t n;

    memset(buf, 0, sizeof(buf));
    /* bad magic: dropped without a reply */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_PING, 8, 0, id, NULL);
    buf[0] ^= 0xff;
    assert_int_equal(rawclient_send_raw(f->c, buf, n, NULL, 0, id, 300), -ETIMEDOUT);
    assert_alive(f);
    /* truncated header: dropped */
    id = rawclient_next_id(f->c);
    mk_hdr(f, buf, PROTO_OP_PING, 8, 0, id, NULL);
    assert_int_equal(rawclient_send_raw(f->c, buf, 20, NULL, 0, id, 300), -ETIMEDOUT);
    assert_alive(f);
    /* body shorter than the op's body: -EPROTO */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_CREATE, 8, 0, id, NULL);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, NULL, 0, id, 5000), -EPROTO);
    /* unknown op: -EOPNOTSUPP */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, 999, 0, 0, id, NULL);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, NULL, 0, id, 5000), -EOPNOTSUPP);
    /* data_len larger than the protocol maximum */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_STAT, 8, PROTO_DATA_MAX + 1, id, NULL);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/x", 2, id, 5000), -EPROTO);
    /* data_len in the header disagrees with the data actually sent */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_STAT, 8, 5, id, NULL);
    proto_put_u32(buf + PROTO_HDR_SIZE, 5);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/x", 2, id, 5000), -EPROTO);
    /* path_len disagrees with data_len */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_STAT, 8, 2, id, NULL);
    proto_put_u32(buf + PROTO_HDR_SIZE, 7);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/x", 2, id, 5000), -EPROTO);
    /* oversized path length */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_STAT, 8, 2, id, NULL);
    proto_put_u32(buf + PROTO_HDR_SIZE, 100000);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/x", 2, id, 5000), -ENAMETOOLONG);
    /* wrong cookie: -EACCES, nothing done */
    memcpy(bad_cookie, rawclient_cookie(f->c), sizeof(bad_cookie));
    bad_cookie[3] ^= 0x55;
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_MKDIR, PROTO_SIZE_mkdir_req, 4, id, bad_cookie);
    memset(&b, 0, sizeof(b));
    b.mkdir_req.path_len = 4;
    b.mkdir_req.flags = PROTO_MKDIR_OWNER;
    proto_body_pack(PROTO_OP_MKDIR, false, &b, buf + PROTO_HDR_SIZE, PROTO_SIZE_mkdir_req);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/evl", 4, id, 5000), -EACCES);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/evl", 0, &rep), -ENOENT);
    /* the same message with the right cookie works */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_MKDIR, PROTO_SIZE_mkdir_req, 4, id, NULL);
    proto_body_pack(PROTO_OP_MKDIR, false, &b, buf + PROTO_HDR_SIZE, PROTO_SIZE_mkdir_req);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, "/evl", 4, id, 5000), 0);
    /* paths that are not normalized: -EINVAL */
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "relative", 0, &rep), -EINVAL);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/a//b", 0, &rep), -EINVAL);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/a/../b", 0, &rep), -EINVAL);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/a/", 0, &rep), -EINVAL);
    /* a reply flag on a request */
    id = rawclient_next_id(f->c);
    n = mk_hdr(f, buf, PROTO_OP_PING, 8, 0, id, NULL);
    proto_put_u32(buf + 8, PROTO_FLAG_REPLY);
    assert_int_equal(rawclient_send_raw(f->c, buf, n, NULL, 0, id, 5000), -EPROTO);

    assert_alive(f);
    memset(&b, 0, sizeof(b));
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_true(rep.status_rep.bad_requests >= 12);
}

/* Restart on the same data dir: metadata and data survive, both after a
 * graceful stop and after SIGKILL (durability close, files closed). */
static void restart_case(void **state, int sig)
{
    struct fixture *f = *state;
    union proto_body rep;
    uint8_t data[3000], back[3000];
    uint64_t ino;
    int status;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ 0x5a);
    assert_int_equal(do_mkdir(f->c, "/keep"), 0);
    assert_int_equal(do_create(f->c, "/keep/file", 0, &rep), 0);
    ino = rep.create_rep.attr.ino;
    assert_int_equal(do_write(f->c, ino, 0, 0, data, sizeof(data)), 0);
    /* "close": push the size with the sync flag */
    assert_int_equal(do_setsize(f->c, "/keep/file", ino, sizeof(data), PROTO_SETSIZE_SYNC), 0);
    rawclient_close(f->c);
    f->c = NULL;

    status = harness_stop_server(&f->h, 0, sig, 10000);
    if (sig == SIGTERM) {
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        /* graceful stop removed the registry file */
        char addr[600];
        snprintf(addr, sizeof(addr), "%s/node_0.addr", f->h.registry);
        assert_int_equal(access(addr, F_OK), -1);
    } else {
        assert_true(WIFSIGNALED(status));
    }
    assert_int_equal(harness_start_server(&f->h, 0, 20000), 0);
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &f->c), 0);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/keep", 0, &rep), 0);
    assert_true(S_ISDIR(rep.attr_rep.attr.mode));
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/keep/file", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.ino, ino);
    assert_int_equal(rep.attr_rep.attr.size, sizeof(data));
    assert_int_equal(do_read(f->c, ino, 0, 0, back, sizeof(back)), (long)sizeof(back));
    assert_memory_equal(data, back, sizeof(data));
    /* new inodes never reuse old numbers */
    assert_int_equal(do_create(f->c, "/keep/new", 0, &rep), 0);
    assert_true(rep.create_rep.attr.ino != ino);
}

static void test_restart_graceful(void **state)
{
    restart_case(state, SIGTERM);
}

static void test_restart_sigkill(void **state)
{
    restart_case(state, SIGKILL);
}

/* Run benchfsd with args; return its exit status and its output. */
static int run_benchfsd(char *const extra[], char *out, size_t outlen)
{
    char bin[512], *argv[16];
    int pipefd[2], status, argc = 0;
    ssize_t n, total = 0;
    pid_t pid;

    harness_bin("benchfsd", bin, sizeof(bin));
    argv[argc++] = bin;
    for (int i = 0; extra[i] != NULL && argc < 15; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execv(bin, argv);
        _exit(127);
    }
    close(pipefd[1]);
    while (total < (ssize_t)outlen - 1 &&
           (n = read(pipefd[0], out + total, outlen - 1 - (size_t)total)) > 0)
        total += n;
    out[total] = '\0';
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_daemon_errors(void **state)
{
    struct fixture *f = *state;
    char out[8192], cfg_path[600], reg[600];
    FILE *cfg;

    /* a second server on the same data dir is refused */
    char *same_dir[] = {"--node-id",  "other",       "--data-dir", f->h.servers[0].data_dir,
                        "--registry", f->h.registry, NULL};
    assert_int_equal(run_benchfsd(same_dir, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "in use by another server"));

    /* bad configuration: file:line in the message, exit 2 */
    snprintf(cfg_path, sizeof(cfg_path), "%s/bad.toml", f->h.root);
    cfg = fopen(cfg_path, "w");
    assert_non_null(cfg);
    fprintf(cfg, "[storage]\nchunk_size = 1\n");
    fclose(cfg);
    char *bad_cfg[] = {"-c", cfg_path, NULL};
    assert_int_equal(run_benchfsd(bad_cfg, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "bad.toml:2"));

    /* registry directory missing */
    snprintf(reg, sizeof(reg), "%s/no-such-registry", f->h.root);
    char *no_reg[] = {"--node-id", "x", "--data-dir", "/tmp", "--registry", reg, NULL};
    assert_int_equal(run_benchfsd(no_reg, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "does not exist"));

    /* unknown flag: usage, exit 2 */
    char *bad_flag[] = {"--bogus", NULL};
    assert_int_equal(run_benchfsd(bad_flag, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "Usage"));
}

/* A client that stops progressing with a rendezvous reply pending must not
 * keep the server from stopping: the drain gives up after its bound and the
 * server still exits 0 (it used to abort inside UCX). */
static void test_drain_stalled_client(void **state)
{
    struct fixture *f = *state;
    static uint8_t big[1 << 20];
    struct rawclient *mon;
    union proto_body b, rep;
    uint64_t id;
    int status, inflight = 0;

    memset(big, 'x', sizeof(big));
    assert_int_equal(do_write(f->c, 42, 0, 0, big, sizeof(big)), 0);
    memset(&b, 0, sizeof(b));
    b.chunk_io_req.ino = 42;
    b.chunk_io_req.length = sizeof(big);
    assert_true(rawclient_send_only(f->c, PROTO_OP_CHUNK_READ, &b, NULL, 0, &id) >= 0);
    /* f->c never progresses again; a second client watches the server */
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &mon), 0);
    for (int i = 0; i < 5000 && inflight < 2; i++) {
        memset(&b, 0, sizeof(b));
        assert_int_equal(
            rawclient_call(mon, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000), 0);
        inflight = (int)rep.status_rep.inflight; /* the read and this STATUS */
    }
    assert_true(inflight >= 2);
    rawclient_close(mon);
    status = harness_stop_server(&f->h, 0, SIGTERM, 30000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* With a tiny storage queue, an FSYNC behind a burst of writes is retried
 * by the server, never refused with EAGAIN (it used to be, 11 of 20 times). */
static void test_fsync_behind_burst(void **state)
{
    struct fixture *f = *state;
    static uint8_t page[4096];
    union proto_body b;
    uint64_t id;

    rawclient_close(f->c);
    f->c = NULL;
    harness_stop_server(&f->h, 0, SIGTERM, 10000);
    snprintf(f->h.extra_args[f->h.nextra++], 128, "--set=storage.queue_size=8");
    assert_int_equal(harness_start_server(&f->h, 0, 20000), 0);
    assert_int_equal(rawclient_connect(f->h.registry, "node_0", &f->c), 0);
    for (int round = 0; round < 10; round++) {
        kill(f->h.servers[0].pid, SIGSTOP); /* let the burst pile up */
        for (int i = 0; i < 40; i++) {
            memset(&b, 0, sizeof(b));
            b.chunk_io_req.ino = 7;
            b.chunk_io_req.index = (uint64_t)i;
            b.chunk_io_req.length = sizeof(page);
            assert_true(
                rawclient_send_only(f->c, PROTO_OP_CHUNK_WRITE, &b, page, sizeof(page), NULL) >= 0);
        }
        memset(&b, 0, sizeof(b));
        b.fsync_req.ino = 7;
        assert_true(rawclient_send_only(f->c, PROTO_OP_FSYNC, &b, NULL, 0, &id) >= 0);
        kill(f->h.servers[0].pid, SIGCONT);
        assert_int_equal(rawclient_wait(f->c, id, 10000), 0);
    }
}

static int do_setattr(struct rawclient *c, const char *path, uint32_t flags, uint64_t ino,
                      uint32_t valid, uint32_t mode, uint64_t mtime_ns, union proto_body *rep)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.setattr_req.path_len = (uint32_t)strlen(path);
    b.setattr_req.flags = flags;
    b.setattr_req.ino = ino;
    b.setattr_req.valid = valid;
    b.setattr_req.mode = mode;
    b.setattr_req.mtime_ns = mtime_ns;
    return rawclient_call(c, PROTO_OP_SETATTR, &b, path, strlen(path), rep, NULL, 0, NULL, 5000);
}

/* One PUT file for put_build. */
struct put_in {
    const char *path, *data;
    uint32_t mode, flags;
    uint64_t mtime_ns;
};

/* A PUT's data part for files in[n] into buf; returns its length. */
static uint32_t put_build(uint8_t *buf, const struct put_in *in, uint32_t n)
{
    uint32_t len = n * PROTO_PUTFILE_ENTRY;

    for (uint32_t k = 0; k < n; k++) {
        struct proto_putfile pf = {.length = (uint32_t)strlen(in[k].data),
                                   .path_len = (uint32_t)strlen(in[k].path),
                                   .mode = in[k].mode,
                                   .flags = in[k].flags,
                                   .mtime_ns = in[k].mtime_ns};

        proto_putfile_pack(buf, k, &pf);
        memcpy(buf + len, in[k].data, pf.length);
        memcpy(buf + len + pf.length, in[k].path, pf.path_len);
        len += pf.length + pf.path_len;
    }
    return len;
}

/* Inode numbers that have chunk files on the server (CHUNK_LIST), up to max. */
static size_t chunk_inos(struct rawclient *c, uint64_t *inos, size_t max)
{
    union proto_body b, rep;
    uint8_t page[64 * PROTO_CHUNK_LIST_ENTRY];
    size_t got = 0, n;

    memset(&b, 0, sizeof(b));
    b.chunk_list_req.max = 64;
    assert_int_equal(
        rawclient_call(c, PROTO_OP_CHUNK_LIST, &b, NULL, 0, &rep, page, sizeof(page), &got, 10000),
        0);
    n = got / PROTO_CHUNK_LIST_ENTRY;
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++)
        inos[i] = proto_get_u64(page + i * PROTO_CHUNK_LIST_ENTRY);
    return n;
}

/*
 * PUT: files made whole with their mode and mtime, each with its own
 * status; the bytes of a file that could not be made do not stay behind
 * (its name taken before or by an earlier file of the same request, a
 * missing parent, a bad path); a request whose table does not fit its
 * data, or with a bad chunk size, is refused whole.
 */
static void test_put(void **state)
{
    struct fixture *f = *state;
    const struct put_in in[] = {
        {"/p/a", "hello", 0640, PROTO_PUTFILE_MTIME, 1234567890123456789ull},
        {"/p/empty", "", 0600, 0, 0},
        {"/p/x", "taken", 0644, 0, 0},      /* created before */
        {"/nodir/y", "orphan", 0644, 0, 0}, /* no parent */
        {"/p//bad", "bad", 0644, 0, 0},     /* not normalized */
        {"/p/a", "again", 0644, 0, 0},      /* the first file's name */
        {"/p", "dir", 0644, 0, 0},          /* a directory */
    };
    const int32_t want[] = {0, 0, -EEXIST, -ENOENT, -EINVAL, -EEXIST, -EEXIST};
    uint32_t n = sizeof(in) / sizeof(in[0]), len;
    uint8_t buf[4096], status[4 * 8], rbuf[16];
    union proto_body b, rep;
    uint64_t inos[8], t0;
    size_t got = 0;

    assert_int_equal(do_mkdir(f->c, "/p"), 0);
    assert_int_equal(do_create(f->c, "/p/x", PROTO_CREATE_EXCL, &rep), 0);
    memset(&b, 0, sizeof(b));
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    t0 = rep.status_rep.chunk_writes;
    len = put_build(buf, in, n);
    memset(&b, 0, sizeof(b));
    b.put_req.count = n;
    b.put_req.uid = 1000;
    b.put_req.gid = 100;
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len, &rep, status, sizeof(status), &got, 10000),
        0);
    assert_int_equal(rep.put_rep.count, n);
    assert_int_equal(got, 4 * n);
    for (uint32_t k = 0; k < n; k++)
        assert_int_equal((int32_t)proto_get_u32(status + 4 * k), want[k]);

    /* /p/a: its bytes, size, mode, owner and the given mtime */
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/p/a", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.size, 5);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFREG | 0640);
    assert_int_equal(rep.attr_rep.attr.uid, 1000);
    assert_int_equal(rep.attr_rep.attr.gid, 100);
    assert_int_equal(rep.attr_rep.attr.mtime_ns, 1234567890123456789ull);
    assert_int_equal(do_read(f->c, rep.attr_rep.attr.ino, 0, 0, rbuf, sizeof(rbuf)), 5);
    assert_memory_equal(rbuf, "hello", 5);
    /* the empty file: no chunk, the server's clock */
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/p/empty", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.size, 0);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFREG | 0600);
    assert_true(rep.attr_rep.attr.mtime_ns > 1234567890123456789ull);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/nodir/y", 0, NULL), -ENOENT);
    /* one chunk file on the server: /p/a's; the others' bytes are gone */
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/p/a", 0, &rep), 0);
    assert_int_equal(chunk_inos(f->c, inos, 8), 1);
    assert_int_equal(inos[0], rep.attr_rep.attr.ino);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    assert_int_equal(rep.status_rep.chunk_writes, t0 + 1);

    /* refused whole: a table that does not fit its data, a bad chunk size */
    memset(&b, 0, sizeof(b));
    b.put_req.count = 2;
    len = put_build(buf, in, 2);
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len - 1, NULL, NULL, 0, NULL, 5000), -EPROTO);
    b.put_req.count = 1;
    assert_int_equal(rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len, NULL, NULL, 0, NULL, 5000),
                     -EPROTO);
    b.put_req.count = 2;
    b.put_req.chunk_size = 3000;
    assert_int_equal(rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len, NULL, NULL, 0, NULL, 5000),
                     -EINVAL);
    assert_int_equal(chunk_inos(f->c, inos, 8), 1);
    assert_alive(f);
}

/* A GET of paths[n] with room for max_bytes: status, entries in out[n],
 * the reply's data in buf. */
static int do_get(struct rawclient *c, const char *const *paths, uint32_t n, uint32_t max_bytes,
                  struct proto_getfile *out, uint8_t *buf, size_t cap)
{
    uint8_t req[1024];
    uint32_t len = 4 * n;
    union proto_body b, rep;
    size_t got = 0;
    int rc;

    for (uint32_t k = 0; k < n; k++) {
        proto_put_u32(req + 4 * k, (uint32_t)strlen(paths[k]));
        memcpy(req + len, paths[k], strlen(paths[k]));
        len += (uint32_t)strlen(paths[k]);
    }
    memset(&b, 0, sizeof(b));
    b.get_req.count = n;
    b.get_req.max_bytes = max_bytes;
    rc = rawclient_call(c, PROTO_OP_GET, &b, req, len, &rep, buf, cap, &got, 10000);
    if (rc < 0)
        return rc;
    assert_int_equal(rep.get_rep.count, n);
    assert_true(got <= (size_t)n * PROTO_GETFILE_ENTRY + max_bytes);
    return proto_getfile_parse(buf, (uint32_t)got, n, out);
}

/*
 * GET: each path's status and attributes, the bytes of regular files
 * while the room lasts (a file is carried whole or not at all), a request
 * whose lengths do not add up refused whole.
 */
static void test_get(void **state)
{
    struct fixture *f = *state;
    const struct put_in in[] = {
        {"/g/a", "hello", 0640, PROTO_PUTFILE_MTIME, 42},
        {"/g/e", "", 0600, 0, 0},
    };
    const char *paths[] = {"/g/a", "/g/e", "/g/d", "/g/none", "/g//bad", "/g/a"};
    struct proto_getfile out[6];
    uint8_t buf[8192], status[8];
    union proto_body b;
    uint32_t len;

    assert_int_equal(do_mkdir(f->c, "/g"), 0);
    assert_int_equal(do_mkdir(f->c, "/g/d"), 0);
    len = put_build(buf, in, 2);
    memset(&b, 0, sizeof(b));
    b.put_req.count = 2;
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len, NULL, status, sizeof(status), NULL, 10000),
        0);

    assert_int_equal(do_get(f->c, paths, 6, 100, out, buf, sizeof(buf)), 0);
    assert_int_equal(out[0].status, 0);
    assert_int_equal(out[0].attr.size, 5);
    assert_int_equal(out[0].attr.mode, S_IFREG | 0640);
    assert_int_equal(out[0].attr.mtime_ns, 42);
    assert_int_equal(out[0].data_len, 5);
    assert_memory_equal(buf + out[0].data_off, "hello", 5);
    assert_int_equal(out[1].status, 0); /* empty: no bytes to carry */
    assert_int_equal(out[1].attr.mode, S_IFREG | 0600);
    assert_int_equal(out[1].data_len, 0);
    assert_int_equal(out[2].status, 0);
    assert_true(S_ISDIR(out[2].attr.mode));
    assert_int_equal(out[2].data_len, 0);
    assert_int_equal(out[3].status, -ENOENT);
    assert_int_equal(out[4].status, -EINVAL);
    assert_int_equal(out[5].data_len, 5);
    assert_memory_equal(buf + out[5].data_off, "hello", 5);
    /* no room: attributes only; room for one: the second goes without */
    assert_int_equal(do_get(f->c, paths, 6, 0, out, buf, sizeof(buf)), 0);
    assert_int_equal(out[0].status, 0);
    assert_int_equal(out[0].attr.size, 5);
    assert_int_equal(out[0].data_len, 0);
    assert_int_equal(do_get(f->c, paths, 6, 7, out, buf, sizeof(buf)), 0);
    assert_int_equal(out[0].data_len, 5);
    assert_int_equal(out[5].data_len, 0);
    assert_int_equal(out[5].attr.size, 5);
    /* lengths that do not add up to the data, no path */
    memset(&b, 0, sizeof(b));
    b.get_req.count = 1;
    proto_put_u32(buf, 9);
    memcpy(buf + 4, "/g/a", 4);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_GET, &b, buf, 8, NULL, NULL, 0, NULL, 5000),
                     -EPROTO);
    proto_put_u32(buf, 3);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_GET, &b, buf, 8, NULL, NULL, 0, NULL, 5000),
                     -EPROTO);
    proto_put_u32(buf, 0);
    assert_int_equal(rawclient_call(f->c, PROTO_OP_GET, &b, buf, 4, NULL, NULL, 0, NULL, 5000),
                     -EPROTO);
    assert_alive(f);
}

/* The paths of the files test_dead_getter's GET asks for. */
#define DEAD_GET_FILES 64
#define DEAD_GET_SIZE  8000

static uint32_t dead_get_paths(uint8_t *buf)
{
    uint32_t len = 4 * DEAD_GET_FILES;

    for (uint32_t k = 0; k < DEAD_GET_FILES; k++) {
        int n = snprintf((char *)buf + len, 16, "/z/f%u", k);

        proto_put_u32(buf + 4 * k, (uint32_t)n);
        len += (uint32_t)n;
    }
    return len;
}

/* The child of the dead-client tests (run as `test_server_ops --stalled
 * REGISTRY MODE`): says HELLO with its pid, sends MODE's requests, tells its
 * parent on stdout and never progresses again. MODE "get": one GET whose
 * reply is half a megabyte; "flood": 2000 PINGs first, more replies than its
 * shared-memory queue takes (those that the server's queue does not take at
 * once, the GET among them, may wait here for ever). */
static int stalled_client(const char *registry, const char *mode)
{
    static uint8_t req[4 * DEAD_GET_FILES + 16 * DEAD_GET_FILES];
    struct rawclient *c;
    union proto_body b;
    const void *addr;
    size_t addr_len;
    uint32_t len;
    int rc = 0;

    if (rawclient_connect_opts(registry, "node_0", false, &c) < 0)
        return 1;
    rawclient_address(c, &addr, &addr_len);
    memset(&b, 0, sizeof(b));
    b.hello_req.addr_len = (uint32_t)addr_len;
    b.hello_req.flags = rawclient_hello_flags(c);
    b.hello_req.host_id = registry_host_id();
    b.hello_req.pid = (uint64_t)getpid();
    if (rawclient_call(c, PROTO_OP_HELLO, &b, addr, addr_len, NULL, NULL, 0, NULL, 10000) < 0)
        return 1;
    for (int i = 0; strcmp(mode, "flood") == 0 && i < 2000 && rc >= 0; i++) {
        memset(&b, 0, sizeof(b));
        rc = rawclient_send_only(c, PROTO_OP_PING, &b, NULL, 0, NULL);
    }
    len = dead_get_paths(req);
    memset(&b, 0, sizeof(b));
    b.get_req.count = DEAD_GET_FILES;
    b.get_req.max_bytes = DEAD_GET_FILES * DEAD_GET_SIZE;
    if (rc >= 0)
        rc = rawclient_send_only(c, PROTO_OP_GET, &b, req, len, NULL);
    if (rc < 0 || write(1, "g", 1) != 1)
        return 1;
    for (;;)
        pause();
}

/* The requests in progress on the server (STATUS counts itself), and the
 * requests it received. */
static uint64_t server_inflight_ops(struct fixture *f, uint64_t *ops_p)
{
    union proto_body b, rep;

    memset(&b, 0, sizeof(b));
    assert_int_equal(rawclient_call(f->c, PROTO_OP_STATUS, &b, NULL, 0, &rep, NULL, 0, NULL, 5000),
                     0);
    if (ops_p != NULL)
        *ops_p = rep.status_rep.ops;
    return rep.status_rep.inflight;
}

static uint64_t server_inflight(struct fixture *f)
{
    return server_inflight_ops(f, NULL);
}

static unsigned long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* CPU time (user + system) of process pid, in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
    unsigned long long u = 0, s = 0;
    char path[64];
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "r");
    assert_non_null(fp);
    /* after "pid (comm)": fields 3..13, then utime and stime */
    assert_int_equal(
        fscanf(fp, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s),
        2);
    fclose(fp);
    return u + s;
}

/*
 * A client (test_server_ops --stalled, MODE) that sends its requests, stops
 * progressing and is killed: the server gives up what it left in transfer
 * (shared memory: by the dead pid; TCP: UCX reports the peer), frees all of
 * it (under ASan a leak fails the server's exit), does not spin on the core
 * for the replies that can never leave, and stops at SIGTERM.
 */
static void dead_client_case(struct fixture *f, const char *mode)
{
    static char data[DEAD_GET_SIZE + 1];
    static uint8_t buf[DEAD_GET_FILES * (PROTO_PUTFILE_ENTRY + DEAD_GET_SIZE + 16)];
    struct put_in in[DEAD_GET_FILES];
    char paths[DEAD_GET_FILES][16];
    union proto_body b;
    uint32_t len;
    char self[4096], go;
    unsigned long long t0, ms0;
    uint64_t ops0, ops;
    ssize_t n;
    pid_t child;
    int out[2], status;

    /* the files the GET asks for */
    memset(data, 'q', DEAD_GET_SIZE);
    assert_int_equal(do_mkdir(f->c, "/z"), 0);
    for (uint32_t k = 0; k < DEAD_GET_FILES; k++) {
        snprintf(paths[k], sizeof(paths[k]), "/z/f%u", k);
        in[k] = (struct put_in){paths[k], data, 0644, 0, 0};
    }
    len = put_build(buf, in, DEAD_GET_FILES);
    memset(&b, 0, sizeof(b));
    b.put_req.count = DEAD_GET_FILES;
    assert_int_equal(
        rawclient_call(f->c, PROTO_OP_PUT, &b, buf, len, NULL, buf, sizeof(buf), NULL, 10000), 0);

    server_inflight_ops(f, &ops0);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    assert_true(n > 0);
    self[n] = '\0';
    assert_int_equal(pipe(out), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* exec at once: UCX is not fork-safe */
        dup2(out[1], 1);
        execl(self, self, "--stalled", f->h.registry, mode, (char *)NULL);
        _exit(127);
    }
    f->stalled = child;
    close(out[1]);
    assert_int_equal(read(out[0], &go, 1), 1);
    close(out[0]);
    if (strcmp(mode, "get") == 0) {
        for (int i = 0; i < 1000 && server_inflight(f) < 2; i++)
            usleep(5000); /* the GET and this STATUS */
        assert_true(server_inflight(f) >= 2);
    } else {
        /* more PINGs than its queue has room for replies (64) */
        for (int i = 0; i < 1000 && (server_inflight_ops(f, &ops), ops < ops0 + 100); i++)
            usleep(5000);
        assert_true(ops >= ops0 + 100);
    }
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    f->stalled = 0;
    for (int i = 0; i < 300 && server_inflight(f) > 1; i++)
        usleep(50000); /* the pid is checked every second */
    assert_int_equal(server_inflight(f), 1);
    /* Idle now: less than half a core (it used to spin at 100% after the
     * flood, refusing SIGTERM), however slow the machine. */
    t0 = cpu_ticks(f->h.servers[0].pid);
    ms0 = mono_ms();
    sleep(1);
    assert_true((cpu_ticks(f->h.servers[0].pid) - t0) * 1000 /
                    (unsigned long long)sysconf(_SC_CLK_TCK) <
                (mono_ms() - ms0) / 2);
    status = harness_stop_server(&f->h, 0, SIGTERM, 30000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Killed with the reply to a GET in transfer (sent from the request's state). */
static void test_dead_getter(void **state)
{
    dead_client_case(*state, "get");
}

/* Killed with more replies than its queue takes (the server's close of its
 * endpoint is abandoned with sends still waiting in UCX). */
static void test_dead_flooder(void **state)
{
    dead_client_case(*state, "flood");
}

/* SETATTR: files, directories, orphans, the inode check, bad input. */
static void test_setattr(void **state)
{
    struct fixture *f = *state;
    const uint64_t old = 1500000000ull * 1000000000ull;
    union proto_body rep;
    uint64_t ino;

    assert_int_equal(do_mkdir(f->c, "/a"), 0);
    assert_int_equal(do_create(f->c, "/a/f", 0, &rep), 0);
    ino = rep.create_rep.attr.ino;
    assert_int_equal(
        do_setattr(f->c, "/a/f", 0, 0, PROTO_SETATTR_MODE | PROTO_SETATTR_MTIME, 0640, old, &rep),
        0);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFREG | 0640);
    assert_true(rep.attr_rep.attr.mtime_ns == old);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_STAT, "/a/f", 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFREG | 0640);
    assert_true(rep.attr_rep.attr.mtime_ns == old);
    assert_int_equal(do_setattr(f->c, "/a", 0, 0, PROTO_SETATTR_MODE, 0711, 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFDIR | 0711);
    /* by inode: the wrong one is ESTALE, an orphan works without a name */
    assert_int_equal(do_setattr(f->c, "/a/f", 0, ino + 1, PROTO_SETATTR_MODE, 0600, 0, &rep),
                     -ESTALE);
    assert_int_equal(rawclient_path_op(f->c, PROTO_OP_UNLINK, "/a/f", PROTO_UNLINK_KEEP, &rep), 0);
    assert_int_equal(do_setattr(f->c, "/a/f", 0, 0, PROTO_SETATTR_MODE, 0600, 0, &rep), -ENOENT);
    assert_int_equal(
        do_setattr(f->c, "/a/f", PROTO_INO_ORPHAN, ino, PROTO_SETATTR_MODE, 0600, 0, &rep), 0);
    assert_int_equal(rep.attr_rep.attr.mode, S_IFREG | 0600);
    /* bad input: the store's EINVAL, the wire's EPROTO, unnormalized paths */
    assert_int_equal(do_setattr(f->c, "/a", 0, 0, 0x100, 0, 0, &rep), -EINVAL);
    assert_int_equal(do_setattr(f->c, "/a", 0, 0, PROTO_SETATTR_MODE, 010644, 0, &rep), -EINVAL);
    assert_int_equal(do_setattr(f->c, "/a", PROTO_INO_ORPHAN, 0, PROTO_SETATTR_MODE, 0, 0, &rep),
                     -EPROTO);
    assert_int_equal(do_setattr(f->c, "/a/../a", 0, 0, PROTO_SETATTR_MODE, 0700, 0, &rep), -EINVAL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namespace_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_graceful, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daemon_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_stalled_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_behind_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_getter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_flooder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_holders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_restart_graceful, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_restart_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_remote_holder, setup, teardown),
    };

    if (argc == 4 && strcmp(argv[1], "--stalled") == 0)
        return stalled_client(argv[2], argv[3]);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
