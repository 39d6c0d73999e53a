/*
 * mini_frame.c - BenchFS Mini wire format: packing, validation and the
 * incremental request decoder (a small explicit state machine, see
 * mini_frame.h). Pure: no I/O, no globals.
 */
#include "mini/mini_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MINI_REQ_HDR_SIZE == sizeof(uint16_t) + 2 * sizeof(uint32_t), "request header");
_Static_assert(MINI_REPLY_READ_HDR_SIZE == sizeof(int32_t) + sizeof(uint32_t), "read reply");
_Static_assert(MINI_MAX_DATA <= UINT32_MAX, "lengths are u32 on the wire");

void mini_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void mini_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint16_t mini_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t mini_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void mini_req_hdr_pack(const struct mini_req_hdr *hdr, uint8_t *out)
{
    mini_put_u16(out, hdr->id);
    mini_put_u32(out + 2, hdr->path_len);
    mini_put_u32(out + 6, hdr->len);
}

void mini_req_hdr_unpack(const uint8_t *in, struct mini_req_hdr *hdr_p)
{
    hdr_p->id = mini_get_u16(in);
    hdr_p->path_len = mini_get_u32(in + 2);
    hdr_p->len = mini_get_u32(in + 6);
}

int mini_req_hdr_check(const struct mini_req_hdr *hdr)
{
    if (hdr->id != MINI_RPC_WRITE && hdr->id != MINI_RPC_READ)
        return -ENOSYS;
    if (hdr->path_len == 0)
        return -EINVAL;
    if (hdr->path_len > MINI_MAX_PATH)
        return -ENAMETOOLONG;
    if (hdr->len > MINI_MAX_DATA)
        return -EMSGSIZE;
    return 0;
}

uint32_t mini_req_payload_len(const struct mini_req_hdr *hdr)
{
    /* Only WRITE carries a payload; unknown ids are framed like READ. */
    return hdr->id == MINI_RPC_WRITE ? hdr->len : 0;
}

void mini_reply_status_pack(int32_t status, uint8_t *out)
{
    mini_put_u32(out, (uint32_t)status);
}

int32_t mini_reply_status_unpack(const uint8_t *in)
{
    return (int32_t)mini_get_u32(in);
}

void mini_reply_read_hdr_pack(int32_t status, uint32_t data_len, uint8_t *out)
{
    mini_put_u32(out, (uint32_t)status);
    mini_put_u32(out + 4, data_len);
}

int mini_reply_status_check(int32_t status)
{
    /* Linux errno values are below 4096; anything else is not a status. */
    return (status == 0 || (status < 0 && status >= -4095)) ? 0 : -EPROTO;
}

int mini_reply_read_check(int32_t status, uint32_t data_len, size_t buf_len)
{
    if (mini_reply_status_check(status) != 0)
        return -EPROTO;
    if (status < 0)
        return data_len == 0 ? 0 : -EPROTO;
    return data_len <= buf_len ? 0 : -EPROTO;
}

const char *mini_rpc_name(uint16_t id)
{
    switch (id) {
    case MINI_RPC_WRITE:
        return "WRITE";
    case MINI_RPC_READ:
        return "READ";
    default:
        return "?";
    }
}

void mini_req_decoder_init(struct mini_req_decoder *dec)
{
    memset(dec, 0, sizeof(*dec));
    dec->state = MINI_DEC_HDR;
}

void mini_req_decoder_cleanup(struct mini_req_decoder *dec)
{
    free(dec->data);
    dec->data = NULL;
}

/* Reject the current frame: answer `status` after discarding `skip` bytes. */
static void dec_reject(struct mini_req_decoder *dec, int32_t status, uint64_t skip)
{
    dec->status = status;
    dec->skip_left = skip;
    dec->state = MINI_DEC_SKIP;
}

/* Hand the finished frame to the caller and get ready for the next one. */
static size_t dec_complete(struct mini_req_decoder *dec, struct mini_req *req_p, int *done_p,
                           size_t used)
{
    req_p->id = dec->hdr.id;
    req_p->status = dec->status;
    req_p->path = dec->status == 0 ? dec->path : "";
    req_p->path_len = dec->status == 0 ? dec->hdr.path_len : 0;
    req_p->data = dec->data;
    req_p->len = dec->hdr.len;
    if (dec->status != 0 && dec->hdr.id == MINI_RPC_WRITE)
        req_p->len = 0;
    dec->data = NULL;
    dec->data_fill = 0;
    dec->hdr_fill = 0;
    dec->path_fill = 0;
    dec->skip_left = 0;
    dec->status = 0;
    dec->state = MINI_DEC_HDR;
    dec->frames++;
    *done_p = 1;
    return used;
}

/* How many of `avail` bytes to take when `want` more are needed. */
static size_t take(size_t avail, uint64_t want)
{
    return want < avail ? (size_t)want : avail;
}

/* memcpy that tolerates n == 0 with NULL pointers (feed(NULL, 0) is legal). */
static void copy(void *dst, const void *src, size_t n)
{
    if (n > 0)
        memcpy(dst, src, n);
}

size_t mini_req_decoder_feed(struct mini_req_decoder *dec, const uint8_t *buf, size_t len,
                             struct mini_req *req_p, int *done_p)
{
    static const uint8_t no_bytes[1];
    size_t used = 0;
    size_t n;
    int status;

    *done_p = 0;
    if (buf == NULL) {
        /* Allowed with len == 0: still completes frames that need no bytes. */
        buf = no_bytes;
        len = 0;
    }
    for (;;) {
        switch (dec->state) {
        case MINI_DEC_HDR:
            n = take(len - used, MINI_REQ_HDR_SIZE - dec->hdr_fill);
            copy(dec->hdr_buf + dec->hdr_fill, buf + used, n);
            dec->hdr_fill += n;
            used += n;
            if (dec->hdr_fill < MINI_REQ_HDR_SIZE)
                return used;
            mini_req_hdr_unpack(dec->hdr_buf, &dec->hdr);
            status = mini_req_hdr_check(&dec->hdr);
            if (status != 0) {
                /* The lengths still frame the message: skip it whole. */
                dec_reject(dec, status,
                           (uint64_t)dec->hdr.path_len + mini_req_payload_len(&dec->hdr));
                break;
            }
            dec->path_fill = 0;
            dec->state = MINI_DEC_PATH;
            break;

        case MINI_DEC_PATH:
            n = take(len - used, dec->hdr.path_len - dec->path_fill);
            copy(dec->path + dec->path_fill, buf + used, n);
            dec->path_fill += n;
            used += n;
            if (dec->path_fill < dec->hdr.path_len)
                return used;
            dec->path[dec->hdr.path_len] = '\0';
            /* Paths are C strings on the server: an embedded NUL would alias keys. */
            if (memchr(dec->path, '\0', dec->hdr.path_len) != NULL) {
                dec_reject(dec, -EINVAL, mini_req_payload_len(&dec->hdr));
                break;
            }
            if (dec->hdr.id == MINI_RPC_WRITE && dec->hdr.len > 0) {
                dec->data = malloc(dec->hdr.len);
                if (dec->data == NULL) {
                    dec_reject(dec, -ENOMEM, dec->hdr.len);
                    break;
                }
                dec->data_fill = 0;
                dec->state = MINI_DEC_DATA;
                break;
            }
            return dec_complete(dec, req_p, done_p, used);

        case MINI_DEC_DATA:
            n = take(len - used, dec->hdr.len - dec->data_fill);
            copy(dec->data + dec->data_fill, buf + used, n);
            dec->data_fill += n;
            used += n;
            if (dec->data_fill < dec->hdr.len)
                return used;
            return dec_complete(dec, req_p, done_p, used);

        case MINI_DEC_SKIP:
            n = take(len - used, dec->skip_left);
            dec->skip_left -= n;
            used += n;
            if (dec->skip_left > 0)
                return used;
            return dec_complete(dec, req_p, done_p, used);
        }
    }
}
