/*
 * fuzz_mini_frame.c - libFuzzer target for the BenchFS Mini request decoder
 * (src/mini/mini_frame.c), the code that parses untrusted bytes from the
 * network.
 *
 * The first input byte picks a chunking pattern; the rest is the byte stream
 * of one connection. It is decoded twice, whole and in pattern-sized pieces,
 * and both runs must yield the same frames (framing must not depend on how
 * the stream was split). Every frame must satisfy the documented invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mini/mini_frame.h"

#define FUZZ_MAX_FRAMES 256

struct fuzz_frame {
    uint16_t id;
    int32_t status;
    uint32_t path_len;
    uint32_t len;
    uint64_t digest; /* of path and data */
};

static uint64_t digest(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void check_frame(const struct mini_req *req)
{
    if (req->status == 0) {
        if (req->id != MINI_RPC_WRITE && req->id != MINI_RPC_READ)
            abort();
        if (req->path_len == 0 || req->path_len > MINI_MAX_PATH)
            abort();
        if (strlen(req->path) != req->path_len || req->len > MINI_MAX_DATA)
            abort();
        if (req->id == MINI_RPC_WRITE && (req->data != NULL) != (req->len > 0))
            abort();
        if (req->id == MINI_RPC_READ && req->data != NULL)
            abort();
    } else {
        if (req->status > 0 || req->data != NULL || req->path[0] != '\0')
            abort();
    }
}

/* Decode `len` bytes in pieces given by `pattern` (0 = all at once). */
static size_t decode(const uint8_t *buf, size_t len, uint8_t pattern, struct fuzz_frame *out)
{
    struct mini_req_decoder *dec = malloc(sizeof(*dec));
    size_t off = 0, count = 0, step = 0;

    if (dec == NULL)
        return 0;
    mini_req_decoder_init(dec);
    while (off < len) {
        size_t piece = pattern == 0 ? len - off : (size_t)(((pattern >> (step++ % 8)) & 7) + 1);
        if (piece > len - off)
            piece = len - off;
        size_t used = 0;
        while (used < piece) {
            struct mini_req req;
            int done;
            size_t n = mini_req_decoder_feed(dec, buf + off + used, piece - used, &req, &done);
            if (n > piece - used || (n == 0 && !done))
                abort();
            used += n;
            if (!done)
                continue;
            check_frame(&req);
            if (count < FUZZ_MAX_FRAMES) {
                struct fuzz_frame *f = &out[count];
                f->id = req.id;
                f->status = req.status;
                f->path_len = req.path_len;
                f->len = req.len;
                f->digest = digest(digest(0xcbf29ce484222325ULL, req.path, req.path_len), req.data,
                                   req.data != NULL ? req.len : 0);
            }
            count++;
            free(req.data);
        }
        off += piece;
    }
    mini_req_decoder_cleanup(dec);
    free(dec);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_frame whole[FUZZ_MAX_FRAMES], split[FUZZ_MAX_FRAMES];
    size_t n1, n2;

    if (size < 1)
        return 0;
    n1 = decode(data + 1, size - 1, 0, whole);
    n2 = decode(data + 1, size - 1, data[0] | 1, split);
    if (n1 != n2)
        abort();
    for (size_t i = 0; i < n1 && i < FUZZ_MAX_FRAMES; i++) {
        const struct fuzz_frame *a = &whole[i], *b = &split[i];
        if (a->id != b->id || a->status != b->status || a->path_len != b->path_len ||
            a->len != b->len || a->digest != b->digest)
            abort();
    }
    return 0;
}
