/*
 * fuzz_common_path.c - libFuzzer target for path normalization.
 *
 * The input (as a C string, so it ends at its first NUL) goes through
 * path_normalize. Checked properties:
 *   - the result agrees with a simple stack-based reference implementation,
 *     error code included;
 *   - a result passes path_is_normalized, and normalizing it again gives the
 *     same bytes (idempotence);
 *   - the result fits an out buffer of exactly its size and fails one byte
 *     smaller, leaving the buffer untouched;
 *   - path_split of a result gives a normalized parent and a name;
 *   - raw input that path_is_normalized accepts is returned unchanged.
 */
#include "common/path.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* Left to right with an explicit component stack: slow and obviously right. */
static int ref_normalize(const char *in, char *out, size_t outlen)
{
    size_t len = strlen(in), depth = 0, i, n = 0;
    const char **starts = malloc((len + 1) * sizeof(*starts));
    size_t *lens = malloc((len + 1) * sizeof(*lens));
    const char *p = in;
    int rc = 0;

    CHECK(starts != NULL && lens != NULL);
    if (in[0] != '/') {
        rc = -EINVAL;
        goto out;
    }
    while (*p != '\0') {
        const char *s;

        while (*p == '/')
            p++;
        s = p;
        while (*p != '\0' && *p != '/')
            p++;
        if (p == s)
            break;
        if ((size_t)(p - s) > BFS_NAME_MAX) {
            rc = -ENAMETOOLONG;
            goto out;
        }
        if (p - s == 1 && s[0] == '.')
            continue;
        if (p - s == 2 && s[0] == '.' && s[1] == '.') {
            depth -= depth > 0;
            continue;
        }
        starts[depth] = s;
        lens[depth++] = (size_t)(p - s);
    }
    for (i = 0; i < depth; i++)
        n += 1 + lens[i];
    n = n == 0 ? 1 : n;
    if (n + 1 > outlen || n + 1 > BFS_PATH_MAX) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    out[0] = '/';
    for (i = 0, n = 0; i < depth; i++) {
        out[n++] = '/';
        memcpy(out + n, starts[i], lens[i]);
        n += lens[i];
    }
    n = n == 0 ? 1 : n;
    out[n] = '\0';
    rc = (int)n;
out:
    free(starts);
    free(lens);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[BFS_PATH_MAX], ref[BFS_PATH_MAX], again[BFS_PATH_MAX];
    char *in = malloc(size + 1);
    int n, r;

    CHECK(in != NULL);
    memcpy(in, data, size);
    in[size] = '\0';

    n = path_normalize(in, out, sizeof(out));
    r = ref_normalize(in, ref, sizeof(ref));
    CHECK(n == r);
    if (n >= 0) {
        size_t parent;
        const char *name;

        CHECK(strcmp(out, ref) == 0);
        CHECK((size_t)n == strlen(out));
        CHECK(path_is_normalized(out, (size_t)n));
        CHECK(path_normalize(out, again, sizeof(again)) == n);
        CHECK(memcmp(out, again, (size_t)n + 1) == 0);

        /* Exactly big enough works; one byte less fails and leaves `again` alone. */
        memset(again, 'Z', sizeof(again));
        CHECK(path_normalize(in, again, (size_t)n) == -ENAMETOOLONG);
        CHECK(again[0] == 'Z');
        CHECK(path_normalize(in, again, (size_t)n + 1) == n);

        if (n > 1) {
            CHECK(path_split(out, (size_t)n, &parent, &name) == 0);
            CHECK(path_is_normalized(out, parent));
            CHECK(name == out + (parent == 1 ? 1 : parent + 1));
            CHECK(strchr(name, '/') == NULL && name[0] != '\0');
        } else {
            CHECK(path_split(out, 1, &parent, &name) == -EINVAL);
        }
    } else {
        CHECK(n == -EINVAL || n == -ENAMETOOLONG);
    }

    /* A path already in normal form is a fixed point. */
    if (path_is_normalized((const char *)data, size)) {
        CHECK(n == (int)size);
        CHECK(memcmp(out, data, size) == 0);
    }
    free(in);
    return 0;
}
