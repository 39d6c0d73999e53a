/*
 * test_frame.c - unit test of the BenchFS Mini wire format (mini_frame.c):
 * header packing, validation, and the request decoder across arbitrary
 * splits, including every malformed-frame rule of include/benchfs_mini.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mini/mini_frame.h"
#include "mini_test.h"

/* Build a frame into `out` (large enough); returns its length. */
static size_t frame(uint8_t *out, uint16_t id, uint32_t path_len, uint32_t len, const char *path,
                    size_t path_bytes, const uint8_t *payload, size_t payload_bytes)
{
    struct mini_req_hdr hdr = {id, path_len, len};

    mini_req_hdr_pack(&hdr, out);
    memcpy(out + MINI_REQ_HDR_SIZE, path, path_bytes);
    if (payload_bytes > 0)
        memcpy(out + MINI_REQ_HDR_SIZE + path_bytes, payload, payload_bytes);
    return MINI_REQ_HDR_SIZE + path_bytes + payload_bytes;
}

/* Feed `len` bytes in pieces of `chunk`, collecting up to `max` requests. */
static int feed_all(struct mini_req_decoder *dec, const uint8_t *buf, size_t len, size_t chunk,
                    struct mini_req *reqs, char paths[][64], int max)
{
    int count = 0;
    size_t off = 0;

    while (off < len) {
        size_t piece = len - off < chunk ? len - off : chunk;
        size_t used = 0;
        while (used < piece) {
            int done;
            struct mini_req req;
            size_t n = mini_req_decoder_feed(dec, buf + off + used, piece - used, &req, &done);
            MT_CHECK(n <= piece - used);
            MT_CHECK(n > 0 || done);
            used += n;
            if (done) {
                MT_CHECK(count < max);
                reqs[count] = req;
                /* The path is only valid until the next feed: keep a copy. */
                snprintf(paths[count], 64, "%s", req.path);
                reqs[count].path = paths[count];
                count++;
            }
        }
        off += piece;
    }
    return count;
}

static void test_le_and_header(void)
{
    uint8_t b[MINI_REQ_HDR_SIZE];
    struct mini_req_hdr in = {MINI_RPC_READ, 0x01020304, 0xa0b0c0d0}, out;

    mini_req_hdr_pack(&in, b);
    MT_CHECK_EQ(b[0], 2);
    MT_CHECK_EQ(b[1], 0);
    MT_CHECK_EQ(b[2], 0x04); /* little-endian */
    MT_CHECK_EQ(b[5], 0x01);
    MT_CHECK_EQ(b[6], 0xd0);
    mini_req_hdr_unpack(b, &out);
    MT_CHECK_EQ(out.id, in.id);
    MT_CHECK_EQ(out.path_len, in.path_len);
    MT_CHECK_EQ(out.len, in.len);

    mini_reply_status_pack(-ENOENT, b);
    MT_CHECK_EQ(mini_reply_status_unpack(b), -ENOENT);
    MT_CHECK_EQ(b[0], (uint8_t)-ENOENT);
    MT_CHECK_EQ(b[3], 0xff);
}

static void test_hdr_check(void)
{
    struct mini_req_hdr h = {MINI_RPC_WRITE, 1, 0};

    MT_CHECK_EQ(mini_req_hdr_check(&h), 0);
    h.id = 3;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -ENOSYS);
    h.id = 0;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -ENOSYS);
    h.id = MINI_RPC_READ;
    h.path_len = 0;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -EINVAL);
    h.path_len = MINI_MAX_PATH;
    MT_CHECK_EQ(mini_req_hdr_check(&h), 0);
    h.path_len = MINI_MAX_PATH + 1;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -ENAMETOOLONG);
    h.path_len = 4;
    h.len = MINI_MAX_DATA;
    MT_CHECK_EQ(mini_req_hdr_check(&h), 0);
    h.len = MINI_MAX_DATA + 1;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -EMSGSIZE);
    /* Precedence: the id first. */
    h.id = 9;
    h.path_len = 0;
    MT_CHECK_EQ(mini_req_hdr_check(&h), -ENOSYS);
}

static void test_reply_checks(void)
{
    MT_CHECK_EQ(mini_reply_read_check(0, 10, 10), 0);
    MT_CHECK_EQ(mini_reply_read_check(0, 11, 10), -EPROTO);
    MT_CHECK_EQ(mini_reply_read_check(-ENOENT, 0, 10), 0);
    MT_CHECK_EQ(mini_reply_read_check(-ENOENT, 1, 10), -EPROTO);
    MT_CHECK_EQ(mini_reply_read_check(5, 0, 10), -EPROTO);
    MT_CHECK_EQ(mini_reply_read_check(-5000, 0, 10), -EPROTO);
    MT_CHECK_EQ(mini_reply_status_check(0), 0);
    MT_CHECK_EQ(mini_reply_status_check(-EIO), 0);
    MT_CHECK_EQ(mini_reply_status_check(1), -EPROTO);
}

/* Valid WRITE + READ frames in one buffer, fed whole and one byte at a time. */
static void test_valid_any_split(void)
{
    uint8_t buf[256], payload[40];
    struct mini_req reqs[4];
    char paths[4][64];
    size_t len = 0;
    static const size_t chunks[] = {1, 2, 3, 7, 10, 11, 256};

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    len +=
        frame(buf + len, MINI_RPC_WRITE, 5, sizeof(payload), "/a/bc", 5, payload, sizeof(payload));
    len += frame(buf + len, MINI_RPC_READ, 3, 1000, "/xy", 3, NULL, 0);
    len += frame(buf + len, MINI_RPC_WRITE, 2, 0, "/z", 2, NULL, 0);

    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct mini_req_decoder dec;
        mini_req_decoder_init(&dec);
        int n = feed_all(&dec, buf, len, chunks[c], reqs, paths, 4);
        MT_CHECK_EQ(n, 3);
        MT_CHECK_EQ(reqs[0].id, MINI_RPC_WRITE);
        MT_CHECK_EQ(reqs[0].status, 0);
        MT_CHECK(strcmp(reqs[0].path, "/a/bc") == 0);
        MT_CHECK_EQ(reqs[0].len, sizeof(payload));
        MT_CHECK(reqs[0].data != NULL && memcmp(reqs[0].data, payload, sizeof(payload)) == 0);
        free(reqs[0].data);
        MT_CHECK_EQ(reqs[1].id, MINI_RPC_READ);
        MT_CHECK_EQ(reqs[1].status, 0);
        MT_CHECK(strcmp(reqs[1].path, "/xy") == 0);
        MT_CHECK_EQ(reqs[1].len, 1000);
        MT_CHECK(reqs[1].data == NULL);
        MT_CHECK_EQ(reqs[2].status, 0);
        MT_CHECK_EQ(reqs[2].len, 0);
        MT_CHECK(reqs[2].data == NULL);
        MT_CHECK_EQ(dec.state, MINI_DEC_HDR);
        MT_CHECK_EQ(dec.frames, 3);
        mini_req_decoder_cleanup(&dec);
    }
}

/* Each malformed frame is answered with its status and the next frame still parses. */
static void test_malformed_then_valid(void)
{
    static uint8_t buf[3 * MINI_MAX_PATH];
    uint8_t payload[16] = {1, 2, 3};
    char longpath[MINI_MAX_PATH + 2];
    struct mini_req reqs[8];
    char paths[8][64];
    size_t len = 0;

    memset(longpath, 'p', sizeof(longpath));
    /* unknown id 7 with a path: skipped by its path only */
    len += frame(buf + len, 7, 4, 99, "/unk", 4, NULL, 0);
    /* WRITE without a path, with a payload that must be discarded */
    len += frame(buf + len, MINI_RPC_WRITE, 0, sizeof(payload), "", 0, payload, sizeof(payload));
    /* READ with a path too long */
    len += frame(buf + len, MINI_RPC_READ, MINI_MAX_PATH + 1, 10, longpath, MINI_MAX_PATH + 1, NULL,
                 0);
    /* WRITE with a NUL inside the path, payload discarded */
    len +=
        frame(buf + len, MINI_RPC_WRITE, 3, sizeof(payload), "a\0b", 3, payload, sizeof(payload));
    /* READ asking for more than the maximum: no payload follows */
    len += frame(buf + len, MINI_RPC_READ, 2, MINI_MAX_DATA + 1, "/r", 2, NULL, 0);
    /* finally a valid frame */
    len += frame(buf + len, MINI_RPC_WRITE, 3, 3, "/ok", 3, payload, 3);

    for (size_t chunk = 1; chunk <= 4097; chunk += 1024) {
        struct mini_req_decoder dec;
        mini_req_decoder_init(&dec);
        int n = feed_all(&dec, buf, len, chunk, reqs, paths, 8);
        MT_CHECK_EQ(n, 6);
        MT_CHECK_EQ(reqs[0].id, 7);
        MT_CHECK_EQ(reqs[0].status, -ENOSYS);
        MT_CHECK_EQ(reqs[1].id, MINI_RPC_WRITE);
        MT_CHECK_EQ(reqs[1].status, -EINVAL);
        MT_CHECK(reqs[1].data == NULL);
        MT_CHECK_EQ(reqs[2].id, MINI_RPC_READ);
        MT_CHECK_EQ(reqs[2].status, -ENAMETOOLONG);
        MT_CHECK_EQ(reqs[3].status, -EINVAL);
        MT_CHECK(reqs[3].data == NULL);
        MT_CHECK_EQ(reqs[4].status, -EMSGSIZE);
        MT_CHECK_EQ(reqs[5].status, 0);
        MT_CHECK(strcmp(reqs[5].path, "/ok") == 0);
        MT_CHECK(reqs[5].data != NULL && memcmp(reqs[5].data, payload, 3) == 0);
        for (int i = 0; i < n; i++)
            free(reqs[i].data);
        mini_req_decoder_cleanup(&dec);
    }
}

/* An oversized WRITE payload is discarded byte for byte, then framing resumes. */
static void test_oversized_write_discarded(void)
{
    const size_t chunk = 1 << 20;
    uint8_t *zeros = calloc(1, chunk);
    uint8_t head[64];
    struct mini_req_decoder dec;
    struct mini_req req;
    uint64_t left = (uint64_t)MINI_MAX_DATA + 1;
    int done, frames = 0;

    MT_CHECK(zeros != NULL);
    mini_req_decoder_init(&dec);
    size_t n = frame(head, MINI_RPC_WRITE, 2, MINI_MAX_DATA + 1, "/o", 2, NULL, 0);
    MT_CHECK_EQ(mini_req_decoder_feed(&dec, head, n, &req, &done), n);
    MT_CHECK_EQ(done, 0);
    MT_CHECK_EQ(dec.state, MINI_DEC_SKIP);
    while (left > 0) {
        size_t piece = left < chunk ? (size_t)left : chunk;
        size_t used = mini_req_decoder_feed(&dec, zeros, piece, &req, &done);
        MT_CHECK_EQ(used, piece);
        left -= piece;
        if (done) {
            frames++;
            MT_CHECK_EQ(req.status, -EMSGSIZE);
            MT_CHECK_EQ(left, 0);
        }
    }
    MT_CHECK_EQ(frames, 1);
    n = frame(head, MINI_RPC_READ, 2, 5, "/n", 2, NULL, 0);
    MT_CHECK_EQ(mini_req_decoder_feed(&dec, head, n, &req, &done), n);
    MT_CHECK_EQ(done, 1);
    MT_CHECK_EQ(req.status, 0);
    MT_CHECK(strcmp(req.path, "/n") == 0);
    mini_req_decoder_cleanup(&dec);
    free(zeros);
}

/* A decoder abandoned mid-payload frees it in cleanup (ASan checks the leak). */
static void test_cleanup_partial(void)
{
    uint8_t buf[64], payload[32] = {0};
    struct mini_req_decoder dec;
    struct mini_req req;
    int done;
    size_t n = frame(buf, MINI_RPC_WRITE, 2, sizeof(payload), "/p", 2, payload, sizeof(payload));

    mini_req_decoder_init(&dec);
    MT_CHECK_EQ(mini_req_decoder_feed(&dec, buf, n - 5, &req, &done), n - 5);
    MT_CHECK_EQ(done, 0);
    MT_CHECK_EQ(dec.state, MINI_DEC_DATA);
    mini_req_decoder_cleanup(&dec);
    MT_CHECK(dec.data == NULL);
    /* Feeding nothing (even a NULL buffer) is allowed and completes nothing. */
    mini_req_decoder_init(&dec);
    MT_CHECK_EQ(mini_req_decoder_feed(&dec, NULL, 0, &req, &done), 0);
    MT_CHECK_EQ(done, 0);
}

int main(void)
{
    test_le_and_header();
    test_hdr_check();
    test_reply_checks();
    test_valid_any_split();
    test_malformed_then_valid();
    test_oversized_write_discarded();
    test_cleanup_partial();
    mt_pass();
}
