/*
 * fuzz_proto_msg.c - libFuzzer target for the wire format.
 *
 * Input: bytes taken as an AM header (first byte chooses how many bytes
 * go to the header, the rest is the data part). Everything a server does with
 * untrusted input is exercised: header unpack, body unpack, request and reply
 * checks, readdir entry parsing. Properties checked: no crash or UB, and any
 * accepted message packs back to exactly the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
        (void)proto_rep_check(h.op, &body, (uint32_t)(size - hdr_len));
    else
        (void)proto_req_check(h.op, &body, (uint32_t)(size - hdr_len), 1u << 20);

    /* round trip: an accepted message packs back to the same bytes (error
     * replies are packed without their body, by design) */
    if (!(h.flags & PROTO_FLAG_REPLY) || h.status >= 0) {
        rc = proto_msg_pack(&h, &body, again, sizeof(again));
        if (rc < 0 || (size_t)rc != hdr_len || memcmp(again, data, hdr_len) != 0)
            abort();
    }
    return 0;
}
