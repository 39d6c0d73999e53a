/*
 * bfuse_node.c - the nodeid table of the FUSE daemon: which BenchFS path
 * each node id the kernel holds stands for (bfuse_int.h).
 *
 * Node ids come from a counter and are never reused, so a stale id from
 * the kernel can never name another file. Each node is in two hash
 * indexes: by id (every node until it is freed) and by path (while the
 * name still leads to it: `linked`). A rename rewrites the path of the
 * moved node and of every node below it (a scan of the table: renames of
 * directories are rare next to lookups, and the table only holds what the
 * kernel caches). A node is freed when the kernel forgot every lookup and
 * no file handle is open on it.
 *
 * Unlink of an open file (hard_remove off, the default): the node is
 * renamed to a hidden name in its directory and removed at its last
 * release, like libfuse's high-level library does, so the data stays
 * readable through the open descriptors whatever the client library does
 * with unlinked files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fuse/bfuse_int.h"

#define BFUSE_BUCKETS_MIN 1024

/* FNV-1a of a path, reduced to a bucket. */
static size_t hash_path(const char *p, size_t len, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h % nbuckets);
}

/* Fibonacci hash of a node id, reduced to a bucket. */
static size_t hash_id(uint64_t id, size_t nbuckets)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) % nbuckets;
}

/* The node with id `id`, or NULL. Lock held. */
static struct bfuse_node *node_by_id(struct bfuse *fs, uint64_t id)
{
    struct bfuse_node *n = fs->by_id[hash_id(id, fs->nbuckets)];

    while (n && n->nodeid != id)
        n = n->id_next;
    return n;
}

/* The node reachable at path `p`, or NULL. Lock held. */
static struct bfuse_node *node_by_path(struct bfuse *fs, const char *p, size_t len)
{
    struct bfuse_node *n = fs->by_path[hash_path(p, len, fs->nbuckets)];

    while (n && (n->path_len != len || memcmp(n->path, p, len) != 0))
        n = n->path_next;
    return n;
}

/* Index n under its path (it becomes `linked`). Lock held. */
static void path_index_add(struct bfuse *fs, struct bfuse_node *n)
{
    size_t b = hash_path(n->path, n->path_len, fs->nbuckets);

    n->path_next = fs->by_path[b];
    fs->by_path[b] = n;
    n->linked = true;
}

/* Remove n from the path index, if it is there. Lock held. */
static void path_index_del(struct bfuse *fs, struct bfuse_node *n)
{
    struct bfuse_node **pp;

    if (!n->linked)
        return;
    pp = &fs->by_path[hash_path(n->path, n->path_len, fs->nbuckets)];
    while (*pp && *pp != n)
        pp = &(*pp)->path_next;
    if (*pp)
        *pp = n->path_next;
    n->path_next = NULL;
    n->linked = false;
}

/* Double the buckets when the table is crowded; on ENOMEM keep going with
 * longer chains. */
static void table_grow(struct bfuse *fs)
{
    size_t nb = fs->nbuckets * 2;
    struct bfuse_node **ids = calloc(nb, sizeof(*ids));
    struct bfuse_node **paths = calloc(nb, sizeof(*paths));

    if (!ids || !paths) {
        free(ids);
        free(paths);
        return;
    }
    for (size_t b = 0; b < fs->nbuckets; b++) {
        struct bfuse_node *n = fs->by_id[b], *next;

        for (; n; n = next) {
            size_t h = hash_id(n->nodeid, nb);

            next = n->id_next;
            n->id_next = ids[h];
            ids[h] = n;
            if (n->linked) {
                h = hash_path(n->path, n->path_len, nb);
                n->path_next = paths[h];
                paths[h] = n;
            }
        }
    }
    free(fs->by_id);
    free(fs->by_path);
    fs->by_id = ids;
    fs->by_path = paths;
    fs->nbuckets = nb;
}

/* A new node for `path` with no references, in both indexes; NULL on ENOMEM. Lock held. */
static struct bfuse_node *node_new(struct bfuse *fs, const char *path, size_t len, mode_t type)
{
    struct bfuse_node *n = calloc(1, sizeof(*n));
    size_t b;

    if (!n)
        return NULL;
    n->path = malloc(len + 1);
    if (!n->path) {
        free(n);
        return NULL;
    }
    memcpy(n->path, path, len);
    n->path[len] = '\0';
    n->path_len = len;
    n->type = type;
    n->nodeid = fs->next_id++;
    b = hash_id(n->nodeid, fs->nbuckets);
    n->id_next = fs->by_id[b];
    fs->by_id[b] = n;
    path_index_add(fs, n);
    fs->nnodes++;
    if (fs->nnodes > 2 * fs->nbuckets)
        table_grow(fs);
    return n;
}

/* Remove n from both indexes and free it. Lock held. */
static void node_free(struct bfuse *fs, struct bfuse_node *n)
{
    struct bfuse_node **pp = &fs->by_id[hash_id(n->nodeid, fs->nbuckets)];

    while (*pp && *pp != n)
        pp = &(*pp)->id_next;
    if (*pp)
        *pp = n->id_next;
    path_index_del(fs, n);
    fs->nnodes--;
    free(n->path);
    free(n);
}

/* Free n when nobody refers to it any more (never the root). */
static void node_maybe_free(struct bfuse *fs, struct bfuse_node *n)
{
    if (n->nodeid != FUSE_ROOT_ID && n->nlookup == 0 && n->nopen == 0)
        node_free(fs, n);
}

int bfuse_nodes_init(struct bfuse *fs)
{
    struct bfuse_node *root;

    if (pthread_mutex_init(&fs->lock, NULL) != 0)
        return -ENOMEM;
    fs->nbuckets = BFUSE_BUCKETS_MIN;
    fs->by_id = calloc(fs->nbuckets, sizeof(*fs->by_id));
    fs->by_path = calloc(fs->nbuckets, sizeof(*fs->by_path));
    if (!fs->by_id || !fs->by_path)
        goto err_free;
    fs->next_id = FUSE_ROOT_ID;
    /* Hidden names carry this mount's random id: mounts on other nodes
     * number their nodes and hidden files alike, and one's rename to a
     * hidden name must never replace another's hidden (open) file. */
    if (getrandom(&fs->mount_id, sizeof(fs->mount_id), GRND_NONBLOCK) != sizeof(fs->mount_id))
        fs->mount_id = (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
    root = node_new(fs, "/", 1, S_IFDIR);
    if (!root)
        goto err_free;
    root->nlookup = 1;
    return 0;

err_free:
    free(fs->by_id);
    free(fs->by_path);
    pthread_mutex_destroy(&fs->lock);
    return -ENOMEM;
}

void bfuse_nodes_destroy(struct bfuse *fs)
{
    for (size_t b = 0; b < fs->nbuckets; b++) {
        struct bfuse_node *n = fs->by_id[b], *next;

        for (; n; n = next) {
            next = n->id_next;
            free(n->path);
            free(n);
        }
    }
    free(fs->by_id);
    free(fs->by_path);
    fs->by_id = fs->by_path = NULL;
    pthread_mutex_destroy(&fs->lock);
}

int bfuse_node_path(struct bfuse *fs, uint64_t nodeid, struct bfuse_path *out)
{
    struct bfuse_node *n;
    int rc = -ESTALE;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n) {
        memcpy(out->p, n->path, n->path_len + 1);
        out->len = n->path_len;
        rc = 0;
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int bfuse_node_child_path(struct bfuse *fs, uint64_t parent, const char *name,
                          struct bfuse_path *out)
{
    size_t nlen = strlen(name);
    int rc = bfuse_node_path(fs, parent, out);

    if (rc < 0)
        return rc;
    if (nlen > 255)
        return -ENAMETOOLONG;
    if (out->len + 1 + nlen >= sizeof(out->p))
        return -ENAMETOOLONG;
    if (out->len > 1)
        out->p[out->len++] = '/';
    memcpy(out->p + out->len, name, nlen + 1);
    out->len += nlen;
    return 0;
}

uint64_t bfuse_node_ref(struct bfuse *fs, const char *path, size_t len, const struct stat *st)
{
    mode_t type = st->st_mode & S_IFMT;
    struct bfuse_node *n;
    uint64_t id = 0;

    pthread_mutex_lock(&fs->lock);
    n = node_by_path(fs, path, len);
    if (n && n->type != type && n->nodeid != FUSE_ROOT_ID) {
        /* The name now holds a file of another type: a new node, so the
         * kernel never sees an inode change its type. */
        path_index_del(fs, n);
        n = NULL;
    }
    if (!n)
        n = node_new(fs, path, len, type);
    if (n) {
        n->nlookup++;
        id = n->nodeid;
    }
    pthread_mutex_unlock(&fs->lock);
    return id;
}

void bfuse_node_forget(struct bfuse *fs, uint64_t nodeid, uint64_t count)
{
    struct bfuse_node *n;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n) {
        n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
        node_maybe_free(fs, n);
    }
    pthread_mutex_unlock(&fs->lock);
}

void bfuse_node_unlinked(struct bfuse *fs, const char *path, size_t len)
{
    struct bfuse_node *n;

    pthread_mutex_lock(&fs->lock);
    n = node_by_path(fs, path, len);
    if (n && n->nodeid != FUSE_ROOT_ID)
        path_index_del(fs, n);
    pthread_mutex_unlock(&fs->lock);
}

/* Give n the path `to` + (n->path after its first `flen` bytes). */
static int node_repath(struct bfuse_node *n, size_t flen, const char *to, size_t tlen)
{
    size_t rest = n->path_len - flen, len = tlen + rest;
    char *p;

    if (len >= BFUSE_PATH_MAX)
        return -ENAMETOOLONG;
    p = malloc(len + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, to, tlen);
    memcpy(p + tlen, n->path + flen, rest + 1);
    free(n->path);
    n->path = p;
    n->path_len = len;
    return 0;
}

void bfuse_node_renamed(struct bfuse *fs, const char *from, size_t flen, const char *to,
                        size_t tlen)
{
    struct bfuse_node *n, *moved[64], **list = moved;
    size_t count = 0, cap = 64;

    pthread_mutex_lock(&fs->lock);
    n = node_by_path(fs, to, tlen);
    if (n && n->nodeid != FUSE_ROOT_ID)
        path_index_del(fs, n);
    /* Collect first: re-indexing while walking the chains would revisit. */
    for (size_t b = 0; b < fs->nbuckets; b++) {
        for (n = fs->by_id[b]; n; n = n->id_next) {
            /* Hidden nodes move with their directory too (not indexed). */
            if ((!n->linked && !n->hidden) || n->path_len < flen ||
                memcmp(n->path, from, flen) != 0)
                continue;
            if (n->path_len != flen && n->path[flen] != '/')
                continue;
            if (count == cap) {
                struct bfuse_node **bigger = malloc(2 * cap * sizeof(*bigger));

                if (!bigger)
                    goto done; /* the rest keep stale paths: their calls fail ENOENT */
                memcpy(bigger, list, count * sizeof(*bigger));
                if (list != moved)
                    free(list);
                list = bigger;
                cap *= 2;
            }
            list[count++] = n;
        }
    }
done:
    for (size_t i = 0; i < count; i++) {
        bool was_linked = list[i]->linked;

        path_index_del(fs, list[i]);
        if (node_repath(list[i], flen, to, tlen) == 0 && was_linked)
            path_index_add(fs, list[i]);
    }
    if (list != moved)
        free(list);
    pthread_mutex_unlock(&fs->lock);
}

void bfuse_node_open_begin(struct bfuse *fs, uint64_t nodeid)
{
    struct bfuse_node *n;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n)
        n->nopen++;
    pthread_mutex_unlock(&fs->lock);
}

int bfuse_node_open_end(struct bfuse *fs, uint64_t nodeid, struct bfuse_path *out)
{
    struct bfuse_node *n;
    int remove = 0;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n && n->nopen > 0) {
        n->nopen--;
        if (n->nopen == 0 && n->hidden) {
            memcpy(out->p, n->path, n->path_len + 1);
            out->len = n->path_len;
            n->hidden = false;
            path_index_del(fs, n);
            remove = 1;
        }
        node_maybe_free(fs, n);
    }
    pthread_mutex_unlock(&fs->lock);
    return remove;
}

int bfuse_node_hide_prepare(struct bfuse *fs, const char *path, size_t len,
                            struct bfuse_path *hidden)
{
    struct bfuse_node *n;
    size_t dir_len;
    int rc = 0, w;

    if (fs->set.hard_remove)
        return 0;
    pthread_mutex_lock(&fs->lock);
    n = node_by_path(fs, path, len);
    if (n && n->nopen > 0 && n->type == S_IFREG) {
        dir_len = (size_t)(strrchr(path, '/') - path);
        w = snprintf(hidden->p, sizeof(hidden->p), "%.*s/" BFUSE_HIDDEN "%08x_%llx_%llx",
                     (int)dir_len, path, fs->mount_id, (unsigned long long)n->nodeid,
                     (unsigned long long)++fs->hidden_seq);
        if (w > 0 && (size_t)w < sizeof(hidden->p)) {
            hidden->len = (size_t)w;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

int bfuse_node_hide_done(struct bfuse *fs, const char *path, size_t len,
                         const struct bfuse_path *hidden)
{
    struct bfuse_node *n;
    int orphaned = 1;

    pthread_mutex_lock(&fs->lock);
    n = node_by_path(fs, path, len);
    if (n) {
        path_index_del(fs, n);
        /* Its last release may have come between the prepare and now: then
         * nobody will remove the hidden name but the caller. */
        if (n->nopen > 0 && node_repath(n, n->path_len, hidden->p, hidden->len) == 0) {
            n->hidden = true;
            n->linked = false; /* reachable only through its open handles */
            orphaned = 0;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return orphaned;
}

bool bfuse_node_cache_check(struct bfuse *fs, uint64_t nodeid, const struct stat *st)
{
    struct bfuse_node *n;
    bool keep = false;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n) {
        keep = n->cache_valid && n->cache_ino == (uint64_t)st->st_ino &&
               n->cache_size == st->st_size && n->cache_mtime.tv_sec == st->st_mtim.tv_sec &&
               n->cache_mtime.tv_nsec == st->st_mtim.tv_nsec;
        n->cache_valid = true;
        n->cache_ino = (uint64_t)st->st_ino;
        n->cache_size = st->st_size;
        n->cache_mtime = st->st_mtim;
    }
    pthread_mutex_unlock(&fs->lock);
    return keep;
}

void bfuse_node_cache_drop(struct bfuse *fs, uint64_t nodeid)
{
    struct bfuse_node *n;

    pthread_mutex_lock(&fs->lock);
    n = node_by_id(fs, nodeid);
    if (n)
        n->cache_valid = false;
    pthread_mutex_unlock(&fs->lock);
}
