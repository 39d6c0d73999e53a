/*
 * path.c - path normalization and checks (path.h, docs/design.md#namespace-and-placement).
 *
 * path_normalize scans the input from right to left. Seen from the end, a
 * ".." simply means "drop the next real component to the left", so a counter
 * replaces the component stack a left-to-right scan would need: no scratch
 * memory, O(length) time, and an input of any length (say "/a/.." repeated a
 * million times) is handled without ever building an over-long intermediate
 * path. ".." in excess at the left end would climb above "/" and is dropped.
 *
 * The scan runs twice: the first pass checks every component and measures the
 * result, the second writes it, from its end backwards, into `out`. Both
 * passes take the same decisions, so `out` is touched only once the result is
 * known to fit.
 */
#include "common/path.h"

#include <errno.h>
#include <string.h>

static bool path_is_dot(const char *c, size_t len)
{
    return len == 1 && c[0] == '.';
}

static bool path_is_dotdot(const char *c, size_t len)
{
    return len == 2 && c[0] == '.' && c[1] == '.';
}

/*
 * One right-to-left pass over in[0..inlen). With out == NULL it only checks
 * and measures: returns the summed length of the kept "/name" parts, or
 * -ENAMETOOLONG for an over-long component or once the kept part reaches
 * `limit` (components further left can only make the result longer). With
 * out != NULL it writes those parts so that they end at out + total.
 */
static long path_scan(const char *in, size_t inlen, size_t limit, char *out, size_t total)
{
    size_t end = inlen, start, clen, skip = 0, kept = 0;

    for (;;) {
        while (end > 0 && in[end - 1] == '/')
            end--;
        start = end;
        while (start > 0 && in[start - 1] != '/')
            start--;
        clen = end - start;
        if (clen == 0)
            break; /* only the leading '/' is left */
        if (clen > BFS_NAME_MAX)
            return -ENAMETOOLONG;

        if (path_is_dotdot(in + start, clen)) {
            skip++;
        } else if (path_is_dot(in + start, clen)) {
            /* "." names the directory itself: nothing to keep. */
        } else if (skip > 0) {
            skip--; /* removed by a ".." to its right */
        } else {
            kept += 1 + clen;
            if (out != NULL) {
                memcpy(out + total - kept + 1, in + start, clen);
                out[total - kept] = '/';
            } else if (kept >= limit) {
                return -ENAMETOOLONG;
            }
        }
        end = start;
    }
    return (long)kept;
}

int path_normalize(const char *in, char *out, size_t outlen)
{
    size_t inlen, limit, total;
    long kept;

    if (in == NULL || in[0] != '/')
        return -EINVAL; /* relative, or empty ("" starts with NUL) */
    if (out == NULL)
        return -EINVAL;
    limit = outlen < BFS_PATH_MAX ? outlen : BFS_PATH_MAX;
    inlen = strlen(in);

    kept = path_scan(in, inlen, limit, NULL, 0);
    if (kept < 0)
        return (int)kept;
    total = kept == 0 ? 1 : (size_t)kept; /* nothing kept: the root "/" */
    if (total + 1 > limit)
        return -ENAMETOOLONG;

    if (kept == 0)
        out[0] = '/';
    else
        path_scan(in, inlen, limit, out, total);
    out[total] = '\0';
    return (int)total;
}

bool path_is_normalized(const char *p, size_t len)
{
    size_t i, start;

    if (p == NULL || len == 0 || len >= BFS_PATH_MAX || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (p[len - 1] == '/')
        return false;

    /* Here p = "/c1/c2/.../cn" with every ci non-empty unless there is a "//". */
    for (i = 1; i < len; i++) {
        start = i;
        while (i < len && p[i] != '/') {
            if (p[i] == '\0')
                return false;
            i++;
        }
        if (i == start || i - start > BFS_NAME_MAX)
            return false;
        if (path_is_dot(p + start, i - start) || path_is_dotdot(p + start, i - start))
            return false;
    }
    return true;
}

int path_split(const char *p, size_t len, size_t *parent_len_p, const char **name_p)
{
    size_t slash;

    if (len < 2 || !path_is_normalized(p, len))
        return -EINVAL;
    slash = len - 1;
    while (p[slash] != '/')
        slash--;
    *parent_len_p = slash == 0 ? 1 : slash;
    *name_p = p + slash + 1;
    return 0;
}
