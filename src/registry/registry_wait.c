/*
 * registry_wait.c - wait until the registry lists the whole server set
 * (docs/design.md#registry-and-cookie): poll registry_list() with backoff (1 ms doubling to 50 ms)
 * until `expected` servers are there, the cluster file's node_0..node_{N-1}
 * are all there, or (nothing expected) the set has stopped changing.
 *
 * Foreign files and a missing cookie are not fatal while waiting: a
 * restarted server replaces its old file when it publishes. A stale file (a
 * server of this host whose pid is gone or a zombie) is given a short grace
 * (REGISTRY_STALE_GRACE_NS) to be replaced, then fails discovery: the
 * process it names will never answer. Corrupt files and more servers than
 * expected are fatal at once: waiting cannot fix them.
 */
#include "registry/registry_int.h"

#include "common/timeutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REGISTRY_STABLE_NS   200000000ull /* expected == 0: set unchanged this long */
#define REGISTRY_POLL_MIN_MS 1
#define REGISTRY_POLL_MAX_MS 50
/* A file naming a dead (or zombie) pid on this host fails discovery once it
 * has stayed stale this long: long enough for a server being restarted to
 * replace it, far shorter than a discovery timeout. */
#define REGISTRY_STALE_GRACE_NS 500000000ull

/* Append to a bounded message buffer; ends in "..." when cut. */
struct registry_msg {
    char *buf;
    size_t cap, len;
};

static void registry_msg_add(struct registry_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void registry_msg_add(struct registry_msg *m, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (m->buf == NULL || m->cap == 0 || m->len >= m->cap - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= m->cap - m->len) {
        m->len = m->cap - 1;
        if (m->cap > 4)
            memcpy(m->buf + m->cap - 4, "...", 4);
        return;
    }
    m->len += (size_t)n;
}

/* Index of "node_<i>" with i < count, or -1. */
static long registry_rank_of(const char *node_id, unsigned count)
{
    uint64_t r;

    if (strncmp(node_id, "node_", 5) != 0 ||
        registry_parse_u64(node_id + 5, strlen(node_id + 5), &r) != 0 || r >= count)
        return -1;
    /* "node_01" is not node_1. */
    if (node_id[5] == '0' && node_id[6] != '\0')
        return -1;
    return (long)r;
}

/* One wait round's view of the directory. */
struct registry_wait_state {
    unsigned target;  /* servers to wait for, 0 when unknown */
    bool names_known; /* the set is node_0 .. node_{target-1} */
};

static void registry_wait_timeout_msg(const char *dir, double secs,
                                      const struct registry_wait_state *ws,
                                      const struct registry_entry *v, size_t n, char *err,
                                      size_t errlen)
{
    struct registry_msg m = {err, errlen, 0};
    size_t i;

    if (err == NULL || errlen == 0)
        return;
    err[0] = '\0';
    registry_msg_add(&m, "timed out after %.1f s waiting for servers in %s: ", secs, dir);
    if (ws->target == 0 && n == 0) {
        registry_msg_add(&m, "found none (no cluster file and no server has published yet)");
        return;
    }
    if (ws->target == 0)
        registry_msg_add(&m, "found %zu (number expected unknown)", n);
    else
        registry_msg_add(&m, "found %zu of %u", n, ws->target);
    if (n > 0) {
        registry_msg_add(&m, " (");
        for (i = 0; i < n; i++)
            registry_msg_add(&m, "%s%s", i > 0 ? " " : "", v[i].node_id);
        registry_msg_add(&m, ")");
    }
    if (ws->names_known) {
        unsigned r;
        size_t j = 0;

        /* v is sorted naturally, so node_<r> come in rank order. */
        registry_msg_add(&m, "; missing:");
        for (r = 0; r < ws->target; r++) {
            while (j < n && registry_rank_of(v[j].node_id, ws->target) < (long)r)
                j++;
            if (j < n && registry_rank_of(v[j].node_id, ws->target) == (long)r)
                continue;
            registry_msg_add(&m, " node_%u", r);
        }
    }
}

/* FNV-1a style hash of the (node id, pid) list, to notice a changed set. */
static uint64_t registry_set_sig(const struct registry_entry *v, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)v[i].node_id;

        for (; *p != '\0'; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
        h ^= (uint64_t)v[i].pid * 0x9e3779b97f4a7c15ull;
    }
    return h ^ n;
}

static void registry_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Decide what one listing means. Returns 1 when complete, 0 to keep
 * waiting, -errno (message in err) for a problem waiting cannot fix.
 */
static int registry_wait_check(const char *dir, const struct registry_wait_state *ws,
                               const struct registry_entry *v, size_t n, bool stable, char *err,
                               size_t errlen)
{
    size_t i;

    if (ws->names_known) {
        for (i = 0; i < n; i++) {
            if (registry_rank_of(v[i].node_id, ws->target) < 0) {
                registry_err(err, errlen,
                             "registry %s: server file %s.addr is not one of "
                             "node_0..node_%u (the cluster file says %u servers; left over "
                             "from an earlier run? remove it)",
                             dir, v[i].node_id, ws->target - 1, ws->target);
                return -EINVAL;
            }
        }
        return n == ws->target ? 1 : 0;
    }
    if (ws->target != 0) {
        if (n > ws->target) {
            registry_err(err, errlen,
                         "registry %s: found %zu servers but %u are expected "
                         "(left over files from an earlier run? remove them)",
                         dir, n, ws->target);
            return -EINVAL;
        }
        return n == ws->target ? 1 : 0;
    }
    return (n > 0 && stable) ? 1 : 0;
}

int registry_wait(const char *dir, unsigned expected, int timeout_ms,
                  struct registry_entry **entries_p, size_t *count_p, char *err, size_t errlen)
{
    uint64_t start = time_mono_ns(), deadline, sig = 0, sig_since = 0, stale_since = 0;
    struct registry_entry *v = NULL;
    struct registry_wait_state ws;
    unsigned delay_ms = REGISTRY_POLL_MIN_MS;
    char last_err[1024];
    size_t n = 0;
    int rc;

    if (timeout_ms < 0) {
        registry_err(err, errlen, "registry: negative timeout");
        return -EINVAL;
    }
    deadline = start + (uint64_t)timeout_ms * 1000000ull;
    last_err[0] = '\0';

    for (;;) {
        unsigned cluster_n = 0;
        uint64_t now;
        bool have_list = false;

        ws.target = expected;
        ws.names_known = false;
        rc = registry_cluster_read(dir, &cluster_n, last_err, sizeof(last_err));
        if (rc == 0) {
            if (expected == 0)
                ws.target = cluster_n;
            ws.names_known = ws.target == cluster_n;
        } else if (rc != -ENOENT) {
            registry_err(err, errlen, "%s", last_err);
            return rc;
        }

        rc = registry_list(dir, &v, &n, last_err, sizeof(last_err));
        now = time_mono_ns();
        if (rc == 0) {
            uint64_t s = registry_set_sig(v, n);

            have_list = true;
            if (s != sig || sig_since == 0) {
                sig = s;
                sig_since = now;
                delay_ms = REGISTRY_POLL_MIN_MS;
            }
            rc = registry_wait_check(dir, &ws, v, n, now - sig_since >= REGISTRY_STABLE_NS, err,
                                     errlen);
            if (rc == 1) {
                *entries_p = v;
                *count_p = n;
                return 0;
            }
            if (rc < 0) {
                registry_entries_free(v, n);
                return rc;
            }
        } else if (rc == -ESRCH) {
            if (stale_since == 0)
                stale_since = now;
            if (now - stale_since >= REGISTRY_STALE_GRACE_NS && now < deadline) {
                registry_err(err, errlen, "%s (restart that server, or remove the file)", last_err);
                return rc;
            }
        } else if (rc != -EACCES && rc != -ENOENT) {
            registry_err(err, errlen, "%s", last_err);
            return rc;
        }
        if (rc != -ESRCH)
            stale_since = 0;

        if (now >= deadline) {
            double secs = (double)timeout_ms / 1000.0;

            if (have_list) {
                registry_wait_timeout_msg(dir, secs, &ws, v, n, err, errlen);
                registry_entries_free(v, n);
            } else {
                registry_err(err, errlen, "timed out after %.1f s waiting for servers in %s: %s",
                             secs, dir, last_err);
            }
            return -ETIMEDOUT;
        }
        if (have_list)
            registry_entries_free(v, n);
        v = NULL;
        n = 0;

        {
            uint64_t left_ms = (deadline - now + 999999) / 1000000;

            registry_sleep_ms(left_ms < delay_ms ? (unsigned)left_ms : delay_ms);
        }
        if (delay_ms < REGISTRY_POLL_MAX_MS)
            delay_ms = delay_ms * 2 < REGISTRY_POLL_MAX_MS ? delay_ms * 2 : REGISTRY_POLL_MAX_MS;
    }
}
