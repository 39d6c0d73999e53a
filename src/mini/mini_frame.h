/*
 * mini_frame.h - the BenchFS Mini wire format as pure functions.
 *
 * Nothing here touches the network: the server feeds whatever bytes the UCX
 * stream hands it into a mini_req_decoder, which reassembles frames across
 * arbitrary splits (a frame may arrive one byte at a time, or many frames in
 * one chunk) and validates every length before using it. The client packs
 * requests and checks replies with the helpers below. The format itself is
 * documented in include/benchfs_mini.h; all integers are little-endian.
 *
 * Being pure, this module has a unit test (src/mini/tests/test_frame.c) and a
 * libFuzzer target (tests/fuzz/fuzz_mini_frame.c).
 */
#ifndef BENCHFS_MINI_FRAME_H
#define BENCHFS_MINI_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "benchfs_mini.h"

#define MINI_RPC_WRITE BENCHFS_MINI_RPC_WRITE
#define MINI_RPC_READ  BENCHFS_MINI_RPC_READ

#define MINI_MAX_PATH BENCHFS_MINI_MAX_PATH
#define MINI_MAX_DATA BENCHFS_MINI_MAX_DATA

/* id:u16 path_len:u32 len:u32 */
#define MINI_REQ_HDR_SIZE 10
/* status:i32 */
#define MINI_REPLY_STATUS_SIZE 4
/* status:i32 data_len:u32, the head of every READ reply */
#define MINI_REPLY_READ_HDR_SIZE 8

/* Request header, host byte order. */
struct mini_req_hdr {
    uint16_t id;
    uint32_t path_len;
    uint32_t len; /* WRITE: payload bytes; READ: reader's buffer size */
};

/* Little-endian helpers; `p` needs no alignment. */
void mini_put_u16(uint8_t *p, uint16_t v);
void mini_put_u32(uint8_t *p, uint32_t v);
uint16_t mini_get_u16(const uint8_t *p);
uint32_t mini_get_u32(const uint8_t *p);

/* Serialize / parse a request header (exactly MINI_REQ_HDR_SIZE bytes). */
void mini_req_hdr_pack(const struct mini_req_hdr *hdr, uint8_t *out);
void mini_req_hdr_unpack(const uint8_t *in, struct mini_req_hdr *hdr_p);

/*
 * The status a server must answer for this header before looking at the
 * path: 0 if acceptable, else -ENOSYS (unknown id), -EINVAL (no path),
 * -ENAMETOOLONG, -EMSGSIZE, in that order of precedence.
 */
int mini_req_hdr_check(const struct mini_req_hdr *hdr);

/* Number of payload bytes that follow the path of a frame with this header. */
uint32_t mini_req_payload_len(const struct mini_req_hdr *hdr);

/* Serialize a READ reply head (status, data_len) into MINI_REPLY_READ_HDR_SIZE bytes. */
void mini_reply_read_hdr_pack(int32_t status, uint32_t data_len, uint8_t *out);

/* Serialize a status reply (MINI_REPLY_STATUS_SIZE bytes). */
void mini_reply_status_pack(int32_t status, uint8_t *out);

/* Parse a status as sent by a server. */
int32_t mini_reply_status_unpack(const uint8_t *in);

/*
 * Client-side validation of a READ reply head for a request of `buf_len`
 * bytes: a status must be 0 or a negative errno in [-4095, -1], data_len must
 * be 0 when status < 0 and <= buf_len otherwise. Returns 0, or -EPROTO if the
 * server broke the protocol.
 */
int mini_reply_read_check(int32_t status, uint32_t data_len, size_t buf_len);

/* Same for a plain status reply. Returns 0 or -EPROTO. */
int mini_reply_status_check(int32_t status);

/* A complete request, as produced by the decoder. */
struct mini_req {
    uint16_t id;
    int32_t status;   /* 0: valid, serve it; < 0: answer this status only */
    const char *path; /* NUL-terminated, valid until the next feed; "" on error */
    uint32_t path_len;
    uint8_t *data; /* WRITE only: payload, malloc'ed, now owned by the caller */
    uint32_t len;  /* WRITE: payload length; READ: requested length */
};

enum mini_dec_state {
    MINI_DEC_HDR = 0, /* collecting the fixed header */
    MINI_DEC_PATH,    /* collecting the path */
    MINI_DEC_DATA,    /* collecting a WRITE payload */
    MINI_DEC_SKIP,    /* discarding the rest of a rejected frame */
};

/* Incremental request decoder: one per connection. */
struct mini_req_decoder {
    enum mini_dec_state state;
    struct mini_req_hdr hdr;
    int32_t status; /* error to answer once the frame is consumed */
    uint8_t hdr_buf[MINI_REQ_HDR_SIZE];
    size_t hdr_fill;
    char path[MINI_MAX_PATH + 1];
    size_t path_fill;
    uint8_t *data; /* payload being received (owned) */
    size_t data_fill;
    uint64_t skip_left; /* bytes still to discard in MINI_DEC_SKIP */
    uint64_t frames;    /* frames completed, for logs and tests */
};

void mini_req_decoder_init(struct mini_req_decoder *dec);

/* Free a partially received payload. The decoder may be re-initialized. */
void mini_req_decoder_cleanup(struct mini_req_decoder *dec);

/*
 * Consume up to `len` bytes of `buf`, stopping right after the first frame
 * that completes. Returns the number of bytes consumed (all of them unless a
 * frame completed earlier). When a frame completed, *req_p is filled and
 * *done_p is 1; the caller then owns req_p->data and must answer exactly one
 * reply before the next frame's. Otherwise *done_p is 0. Never fails: memory
 * exhaustion turns the frame into a -ENOMEM answer.
 */
size_t mini_req_decoder_feed(struct mini_req_decoder *dec, const uint8_t *buf, size_t len,
                             struct mini_req *req_p, int *done_p);

/* Name of an RPC id for logs ("WRITE", "READ", "?"). */
const char *mini_rpc_name(uint16_t id);

#endif
