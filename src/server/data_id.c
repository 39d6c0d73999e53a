/*
 * data_id.c - the identity of a server's data directory, and the detection
 * of a data directory that is not the one the cluster knew.
 *
 * Why: a node restarted on an empty (wiped) or different data directory has
 * lost the chunks it held for files of other owners. A missing chunk file
 * must then read as an error, not as a hole of zeros. So:
 *
 *   <data_dir>/data_id      "BENCHFS-DATA 1\nid=<16 hex>\nlost=<0|1>\n",
 *                           made with a random id the first time the
 *                           directory is used; lost=1 once it is known to
 *                           have replaced another directory (kept for good:
 *                           the chunks it never got are lost forever).
 *   <registry>/<node>.data  "BENCHFS-DATA 1\ncookie=<32 hex>\nid=<16 hex>\n
 *                           ino_end=<decimal>\n", written by the server: the
 *                           cluster's memory of which data directory serves
 *                           node <node>, and of the end of the inode counter
 *                           range it reserved (rewritten whenever that moves,
 *                           once per 65536 creates, before any reply with a
 *                           number of the new range leaves). It survives a
 *                           clean stop (unlike the .addr file) and belongs
 *                           to one cluster (cookie): a new cluster has a new
 *                           cookie, and memories of older clusters are
 *                           ignored.
 *
 * The counter end matters because inode numbers are (node tag << 32) |
 * counter and chunks of an old number may still exist on other servers: a
 * node restarted on a fresh metadata store would count from 1 again and
 * hand out numbers whose old chunks show through the new files' holes. So
 * at start the store's counter is raised to the remembered end.
 *
 * At start (server_data_id_check, after the cookie is known and before the
 * server publishes itself): if the registry remembers another id for this
 * node in this cluster, the directory is marked lost=1 and a warning is
 * logged. A lost directory makes the chunk store answer -ENODATA for a
 * missing chunk (chunk_store_set_lost); the client, which knows the file's
 * size, turns that into EIO for data that should exist, naming the server.
 * The server still starts: the files it owns and the chunks written to it
 * from now on are fine, and the rest of the cluster keeps working.
 *
 * Both files are parsed strictly: a corrupt data_id stops the server (the
 * directory is not trusted); a corrupt or foreign .data memory is replaced
 * with a warning (it is only a memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server_int.h"

#define DATA_ID_MAGIC "BENCHFS-DATA 1\n"
#define DATA_ID_FILE  "data_id"
#define DATA_FILE_MAX 256

/* Read a small file into buf (NUL-terminated). 0, -ENOENT, -EINVAL (too
 * big) or -errno. */
static int data_file_read(const char *path, char *buf, size_t cap)
{
    ssize_t n;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, cap - 1);
    if (n < 0)
        rc = -errno;
    else if ((size_t)n == cap - 1)
        rc = -EINVAL;
    else
        buf[n] = '\0';
    close(fd);
    return rc;
}

/* Write path atomically: temp file, fsync, rename. 0 or -errno. */
static int data_file_write(const char *path, const char *text)
{
    char tmp[PATH_MAX + 32];
    size_t len = strlen(text);
    int fd, rc = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Parse exactly "<key>=<hex digits>\n" at *p (ndigits of them); advance. */
static bool data_parse_hex(const char **p, const char *key, unsigned ndigits, uint8_t *out)
{
    size_t klen = strlen(key);
    const char *s = *p;
    unsigned i;

    if (strncmp(s, key, klen) != 0 || s[klen] != '=')
        return false;
    s += klen + 1;
    for (i = 0; i < ndigits; i++) {
        char c = s[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(d << 4);
        else
            out[i / 2] |= (uint8_t)d;
    }
    if (s[ndigits] != '\n')
        return false;
    *p = s + ndigits + 1;
    return true;
}

static uint64_t data_id_from_bytes(const uint8_t b[8])
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Parse a data_id file. */
static bool data_id_parse(const char *text, uint64_t *id_p, bool *lost_p)
{
    const char *p = text;
    uint8_t b[8];

    if (strncmp(p, DATA_ID_MAGIC, strlen(DATA_ID_MAGIC)) != 0)
        return false;
    p += strlen(DATA_ID_MAGIC);
    if (!data_parse_hex(&p, "id", 16, b))
        return false;
    if (strcmp(p, "lost=0\n") != 0 && strcmp(p, "lost=1\n") != 0)
        return false;
    *id_p = data_id_from_bytes(b);
    *lost_p = p[5] == '1';
    return true;
}

static int data_id_store(const char *path, uint64_t id, bool lost)
{
    char text[DATA_FILE_MAX];

    snprintf(text, sizeof(text), DATA_ID_MAGIC "id=%016" PRIx64 "\nlost=%d\n", id, lost ? 1 : 0);
    return data_file_write(path, text);
}

/* Load or create <data_dir>/data_id. */
static int data_id_load(struct server *srv, uint64_t *id_p, bool *lost_p, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], text[DATA_FILE_MAX];
    uint64_t id;
    int rc;

    snprintf(path, sizeof(path), "%s/" DATA_ID_FILE, srv->cfg.data_dir);
    rc = data_file_read(path, text, sizeof(text));
    if (rc == 0) {
        if (!data_id_parse(text, id_p, lost_p)) {
            snprintf(err, errlen,
                     "%s is corrupt (expected the data directory identity written by benchfsd); "
                     "move the data directory aside or remove the file to start afresh",
                     path);
            return -EINVAL;
        }
        return 0;
    }
    if (rc != -ENOENT) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        rc = -errno;
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return rc;
    }
    rc = data_id_store(path, id, false);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
        return rc;
    }
    *id_p = id;
    *lost_p = false;
    return 0;
}

/* Parse exactly "ino_end=<1..20 digits>\n" and the end of the text. */
static bool data_parse_end(const char *p, uint64_t *end_p)
{
    uint64_t v = 0;
    int i;

    if (strncmp(p, "ino_end=", 8) != 0)
        return false;
    p += 8;
    for (i = 0; p[i] >= '0' && p[i] <= '9'; i++) {
        if (i >= 19)
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (i == 0 || strcmp(p + i, "\n") != 0)
        return false;
    *end_p = v;
    return true;
}

/* The registry's memory of this node in this cluster: its data id and
 * inode counter end; *known_p false when there is none (or it is corrupt
 * or foreign). */
static void data_memory_read(struct server *srv, const char *path, uint64_t *id_p, uint64_t *end_p,
                             bool *known_p)
{
    char text[DATA_FILE_MAX], want[2 * PROTO_COOKIE_LEN + 1];
    uint8_t cookie[PROTO_COOKIE_LEN], b[8];
    const char *p = text;
    unsigned i;
    int rc;

    *known_p = false;
    rc = data_file_read(path, text, sizeof(text));
    if (rc == -ENOENT)
        return;
    if (rc == 0 && strncmp(p, DATA_ID_MAGIC, strlen(DATA_ID_MAGIC)) == 0) {
        p += strlen(DATA_ID_MAGIC);
        if (data_parse_hex(&p, "cookie", 2 * PROTO_COOKIE_LEN, cookie) &&
            data_parse_hex(&p, "id", 16, b) && data_parse_end(p, end_p)) {
            if (memcmp(cookie, srv->cookie, PROTO_COOKIE_LEN) != 0)
                return; /* another cluster's memory */
            *id_p = data_id_from_bytes(b);
            *known_p = true;
            return;
        }
    }
    for (i = 0; i < PROTO_COOKIE_LEN; i++)
        snprintf(want + 2 * i, 3, "%02x", srv->cookie[i]);
    log_warn("%s is unreadable or corrupt: replacing it (cluster %.8s...)", path, want);
}

/* Write the registry's memory of this node. 0 or -errno. */
static int data_memory_write(struct server *srv, uint64_t end)
{
    char path[PATH_MAX + 80], text[DATA_FILE_MAX], hex[2 * PROTO_COOKIE_LEN + 1];
    unsigned i;

    snprintf(path, sizeof(path), "%s/%s.data", srv->cfg.registry_dir, srv->cfg.node_id);
    for (i = 0; i < PROTO_COOKIE_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", srv->cookie[i]);
    snprintf(text, sizeof(text),
             DATA_ID_MAGIC "cookie=%s\nid=%016" PRIx64 "\nino_end=%" PRIu64 "\n", hex, srv->data_id,
             end);
    return data_file_write(path, text);
}

int server_data_id_check(struct server *srv, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], mem[PATH_MAX + 80];
    uint64_t id = 0, known_id = 0, known_end = 0;
    bool lost = false, known;
    int rc;

    rc = data_id_load(srv, &id, &lost, err, errlen);
    if (rc != 0)
        return rc;
    snprintf(mem, sizeof(mem), "%s/%s.data", srv->cfg.registry_dir, srv->cfg.node_id);
    data_memory_read(srv, mem, &known_id, &known_end, &known);
    if (known && known_id != id && !lost) {
        log_warn("data directory %s (id %016" PRIx64 ") is not the one node %s had in this "
                 "cluster (id %016" PRIx64 "): the chunks it held are lost, and reads of them "
                 "fail with EIO",
                 srv->cfg.data_dir, id, srv->cfg.node_id, known_id);
        lost = true;
        snprintf(path, sizeof(path), "%s/" DATA_ID_FILE, srv->cfg.data_dir);
        rc = data_id_store(path, id, true);
        if (rc != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
            return rc;
        }
    } else if (lost) {
        log_warn("data directory %s replaced an older one of node %s: chunks missing here read "
                 "as EIO",
                 srv->cfg.data_dir, srv->cfg.node_id);
    }
    /* Never count below what this node ever reserved in this cluster. */
    if (known && meta_ino_reserved_end(srv->meta) < known_end) {
        rc = meta_ino_floor(srv->meta, known_end);
        if (rc != 0) {
            snprintf(err, errlen, "cannot raise the inode counter to %" PRIu64 ": %s", known_end,
                     strerror(-rc));
            return rc;
        }
        log_info("inode counter continues at %" PRIu64 " (the end this node reserved before)",
                 known_end);
    }
    srv->data_id = id;
    srv->ino_end_saved = meta_ino_reserved_end(srv->meta);
    rc = data_memory_write(srv, srv->ino_end_saved);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %s: %s", mem, strerror(-rc));
        return rc;
    }
    chunk_store_set_lost(srv->chunks, lost);
    return 0;
}

void server_data_id_sync(struct server *srv)
{
    uint64_t end = meta_ino_reserved_end(srv->meta);
    int rc;

    if (end == srv->ino_end_saved || srv->data_id == 0)
        return;
    rc = data_memory_write(srv, end);
    if (rc != 0) {
        /* Retried at every pass; said once per failing end. */
        if (srv->ino_end_failed != end)
            log_error("cannot record the inode counter end %" PRIu64 " in %s/%s.data: %s", end,
                      srv->cfg.registry_dir, srv->cfg.node_id, strerror(-rc));
        srv->ino_end_failed = end;
        return;
    }
    srv->ino_end_saved = end;
}
