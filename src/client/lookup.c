/*
 * lookup.c - looking a path up: STAT on the owner of the path, and the POSIX
 * answer for a path that is not there (client.h). Shared by ns.c, dir.c and
 * file.c, which all sit above it (docs/architecture.md#client-layers).
 *
 * A file's inode record lives on the owner of its path; directories are on
 * every server. Servers answer -ENOENT when the parent directory is missing
 * *on that server*, which includes "a component is a file" (files are only
 * known to their owner): ns_refine_enoent walks up the ancestors to give
 * POSIX's ENOTDIR in that case.
 */
#include <errno.h>
#include <sys/stat.h>

#include "client/client.h"

int ns_stat_raw(struct client *c, const char *path, size_t len, struct proto_attr *attr_p)
{
    size_t server = placement_path(&c->place, path, len);
    struct rpc_call call;
    int rc;

    /* The owner runs on this host: read its store here (direct.c). */
    rc = direct_stat(c, server, path, len, attr_p);
    if (rc != -EAGAIN)
        return rc;
    rpc_call_path(&call, PROTO_OP_STAT, server, path, len);
    rc = rpc_run_one(c, &call);
    if (rc == 0)
        *attr_p = call.rep.attr_rep.attr;
    return rc;
}

int ns_refine_enoent(struct client *c, const char *path, size_t len)
{
    struct proto_attr attr;
    const char *name;
    size_t plen = len, parent_len;
    int rc;

    for (;;) {
        if (path_split(path, plen, &parent_len, &name) < 0 || parent_len <= 1)
            return -ENOENT; /* the root always exists and is a directory */
        plen = parent_len;
        rc = ns_stat_raw(c, path, plen, &attr);
        if (rc == 0)
            return S_ISDIR(attr.mode) ? -ENOENT : -ENOTDIR;
        if (rc != -ENOENT)
            return -ENOENT;
    }
}

int ns_lookup(struct client *c, const char *path, size_t len, struct proto_attr *attr_p)
{
    int rc = ns_stat_raw(c, path, len, attr_p);

    return rc == -ENOENT ? ns_refine_enoent(c, path, len) : rc;
}

int ns_resolve(struct client *c, const char *upath, char *path, struct proto_attr *attr_p)
{
    int len = client_path(upath, path);
    int rc;

    if (len < 0)
        return len;
    rc = ns_lookup(c, path, (size_t)len, attr_p);
    return rc < 0 ? rc : len;
}
