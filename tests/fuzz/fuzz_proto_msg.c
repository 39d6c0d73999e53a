/*
 * fuzz_proto_msg.c - libFuzzer target for the wire format.
 *
 * Input: bytes taken as an AM header (first byte chooses how many bytes
 * go to the header, the rest is the data part). Everything a server does with
 * untrusted input is exercised: header unpack, body unpack, request and reply
 * checks, readdir entry parsing, the file tables of PUT requests and GET
 * replies. Properties checked: no crash or UB, any accepted message packs
 * back to exactly the same bytes, and an accepted table's files lie inside
 * the data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file tables of an accepted PUT request or GET reply: what a parse
 * accepts must lie inside the data. */
static void fuzz_tables(const struct proto_hdr *h, const union proto_body *b, const uint8_t *data,
                        uint32_t len)
{
    static struct proto_putfile put[PROTO_PUTFILE_MAX];
    static struct proto_getfile get[PROTO_GETFILE_MAX];
    const char *end = (const char *)data + len;

    if (h->op == PROTO_OP_PUT && !(h->flags & PROTO_FLAG_REPLY) &&
        proto_putfile_parse(data, len, b->put_req.count, put) == 0) {
        for (uint32_t k = 0; k < b->put_req.count; k++)
            if (put[k].data < (const char *)data || put[k].path + put[k].path_len > end)
                abort();
    }
    if (h->op == PROTO_OP_GET && (h->flags & PROTO_FLAG_REPLY) && h->status >= 0 &&
        proto_getfile_parse(data, len, b->get_rep.count, get) == 0) {
        for (uint32_t k = 0; k < b->get_rep.count; k++)
            if (get[k].data_len > 0 && (uint64_t)get[k].data_off + get[k].data_len > len)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_hdr h;
    union proto_body body;
    uint8_t again[PROTO_MSG_MAX];
    size_t hdr_len, off = 0;
    struct proto_dirent ent;
    int rc;

    if (size < 1)
        return 0;
    hdr_len = data[0] % (PROTO_MSG_MAX + 16);
    data++;
    size--;
    if (hdr_len > size)
        hdr_len = size;

    /* readdir pages come from servers: parse the data part as one */
    while (proto_dirent_next(data + hdr_len, size - hdr_len, &off, &ent) == 1)
        if (ent.name_len == 0 || ent.name_len > 255)
            abort();

    rc = proto_hdr_unpack(data, hdr_len, &h);
    if (rc < 0)
        return 0;
    rc = proto_body_unpack(h.op, (h.flags & PROTO_FLAG_REPLY) != 0, data + PROTO_HDR_SIZE,
                           h.body_len, &body);
    if (rc < 0)
        return 0;
    if (h.flags & PROTO_FLAG_REPLY)
        rc = proto_rep_check(h.op, &body, (uint32_t)(size - hdr_len));
    else
        rc = proto_req_check(h.op, &body, (uint32_t)(size - hdr_len), 1u << 20);
    if (rc == 0)
        fuzz_tables(&h, &body, data + hdr_len, (uint32_t)(size - hdr_len));

    /* round trip: an accepted message packs back to the same bytes (error
     * replies are packed without their body, by design) */
    if (!(h.flags & PROTO_FLAG_REPLY) || h.status >= 0) {
        rc = proto_msg_pack(&h, &body, again, sizeof(again));
        if (rc < 0 || (size_t)rc != hdr_len || memcmp(again, data, hdr_len) != 0)
            abort();
    }
    return 0;
}
