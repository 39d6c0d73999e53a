/*
 * test_malformed.c - malformed and split frames sent through the UCX stream
 * API to a real benchfsd_mini. Each bad frame must get its error status and
 * leave the connection usable: after every case a normal WRITE + READ runs on
 * the same endpoint.
 *
 *   test_malformed <path to benchfsd_mini>
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mini/mini_client.h"
#include "mini/mini_frame.h"
#include "mini_test.h"

static struct mini_client *cli;

/* Send a frame whose header says (id, path_len, len) followed by raw bytes. */
static void send_frame(uint16_t id, uint32_t path_len, uint32_t len, const void *body,
                       size_t body_len)
{
    struct mini_req_hdr hdr = {id, path_len, len};
    uint8_t *buf = malloc(MINI_REQ_HDR_SIZE + body_len);

    MT_CHECK(buf != NULL);
    mini_req_hdr_pack(&hdr, buf);
    if (body_len > 0)
        memcpy(buf + MINI_REQ_HDR_SIZE, body, body_len);
    MT_CHECK_EQ(mini_client_send_raw(cli, 0, buf, MINI_REQ_HDR_SIZE + body_len), 0);
    free(buf);
}

static void expect_status(int32_t want)
{
    uint8_t b[MINI_REPLY_STATUS_SIZE];

    MT_CHECK_EQ(mini_client_recv_raw(cli, 0, b, sizeof(b)), 0);
    MT_CHECK_EQ(mini_reply_status_unpack(b), want);
}

static void expect_read_reply(int32_t want, uint32_t want_len)
{
    uint8_t b[MINI_REPLY_READ_HDR_SIZE];

    MT_CHECK_EQ(mini_client_recv_raw(cli, 0, b, sizeof(b)), 0);
    MT_CHECK_EQ(mini_reply_status_unpack(b), want);
    MT_CHECK_EQ(mini_get_u32(b + 4), want_len);
}

/* The connection still frames correctly: a normal RPC pair works. */
static void check_alive(const char *tag)
{
    char buf[64];

    MT_CHECK_EQ(mini_client_write(cli, 0, "/alive", tag, strlen(tag)), 0);
    MT_CHECK_EQ(mini_client_read(cli, 0, "/alive", buf, sizeof(buf)), strlen(tag));
    MT_CHECK(memcmp(buf, tag, strlen(tag)) == 0);
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};

    /* Not a readiness wait: a gap that makes the server see a partial frame. */
    for (int i = 0; i < 4; i++) {
        mini_client_progress(cli);
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    static uint8_t pathbuf[MINI_MAX_PATH + 100];
    uint8_t payload[16] = {9, 9, 9};
    const char *dir;
    pid_t pid;

    MT_CHECK(argc == 2);
    dir = mt_setup("mini_malformed");
    pid = mt_daemon_start(argv[1], dir, 0);
    mt_daemon_wait(dir, 0, pid);
    MT_CHECK_EQ(mini_client_create(dir, 10000, &cli), 0);
    MT_CHECK_EQ(mini_client_connect(cli, 0), 0);
    check_alive("start");
    memset(pathbuf, 'p', sizeof(pathbuf));

    /* Unknown id: a path follows, no payload; answered with a plain status. */
    send_frame(7, 4, 123, "/unk", 4);
    expect_status(-ENOSYS);
    check_alive("unknown-id");
    send_frame(0, 0, 0, NULL, 0);
    expect_status(-ENOSYS);
    check_alive("id-0");

    /* Missing path: WRITE payload discarded; READ gets a READ-shaped reply. */
    send_frame(MINI_RPC_WRITE, 0, sizeof(payload), payload, sizeof(payload));
    expect_status(-EINVAL);
    check_alive("write-no-path");
    send_frame(MINI_RPC_READ, 0, 10, NULL, 0);
    expect_read_reply(-EINVAL, 0);
    check_alive("read-no-path");

    /* Path too long: skipped by its declared length (plus the WRITE payload). */
    send_frame(MINI_RPC_READ, MINI_MAX_PATH + 1, 10, pathbuf, MINI_MAX_PATH + 1);
    expect_read_reply(-ENAMETOOLONG, 0);
    check_alive("read-long-path");
    memcpy(pathbuf + MINI_MAX_PATH + 1, payload, sizeof(payload));
    send_frame(MINI_RPC_WRITE, MINI_MAX_PATH + 1, sizeof(payload), pathbuf,
               MINI_MAX_PATH + 1 + sizeof(payload));
    expect_status(-ENAMETOOLONG);
    check_alive("write-long-path");
    memset(pathbuf, 'p', sizeof(pathbuf));

    /* A NUL inside the path. */
    send_frame(MINI_RPC_WRITE, 3, 0, "a\0b", 3);
    expect_status(-EINVAL);
    check_alive("nul-in-path");

    /* Oversized lengths: a READ has no payload, a WRITE's is discarded. */
    send_frame(MINI_RPC_READ, 2, MINI_MAX_DATA + 1, "/r", 2);
    expect_read_reply(-EMSGSIZE, 0);
    check_alive("read-too-big");
    {
        size_t body = 2 + (size_t)MINI_MAX_DATA + 1;
        uint8_t *big = calloc(1, body);
        MT_CHECK(big != NULL);
        memcpy(big, "/w", 2);
        send_frame(MINI_RPC_WRITE, 2, MINI_MAX_DATA + 1, big, body);
        free(big);
    }
    expect_status(-EMSGSIZE);
    check_alive("write-too-big");
    MT_CHECK_EQ(mini_client_read(cli, 0, "/w", payload, sizeof(payload)), -ENOENT);

    /* Partial sends: a valid WRITE dribbled out byte by byte with gaps. */
    {
        struct mini_req_hdr hdr = {MINI_RPC_WRITE, 8, 5};
        uint8_t frame[MINI_REQ_HDR_SIZE + 8 + 5];
        char back[8];

        mini_req_hdr_pack(&hdr, frame);
        memcpy(frame + MINI_REQ_HDR_SIZE, "/partial", 8);
        memcpy(frame + MINI_REQ_HDR_SIZE + 8, "hello", 5);
        for (size_t i = 0; i < sizeof(frame); i++) {
            MT_CHECK_EQ(mini_client_send_raw(cli, 0, frame + i, 1), 0);
            if (i == 1 || i == 9 || i == 14)
                pause_ms(5);
        }
        expect_status(0);
        MT_CHECK_EQ(mini_client_read(cli, 0, "/partial", back, sizeof(back)), 5);
        MT_CHECK(memcmp(back, "hello", 5) == 0);
    }
    check_alive("partial");

    /* Two frames in one send (a bad one and a good one): two replies, in order. */
    {
        uint8_t two[2 * MINI_REQ_HDR_SIZE + 4 + 3];
        struct mini_req_hdr bad = {42, 4, 0}, good = {MINI_RPC_READ, 3, 16};
        uint8_t reply[MINI_REPLY_READ_HDR_SIZE + 16];

        MT_CHECK_EQ(mini_client_write(cli, 0, "/tw", "two", 3), 0);
        mini_req_hdr_pack(&bad, two);
        memcpy(two + MINI_REQ_HDR_SIZE, "/bad", 4);
        mini_req_hdr_pack(&good, two + MINI_REQ_HDR_SIZE + 4);
        memcpy(two + 2 * MINI_REQ_HDR_SIZE + 4, "/tw", 3);
        MT_CHECK_EQ(mini_client_send_raw(cli, 0, two, sizeof(two)), 0);
        expect_status(-ENOSYS);
        MT_CHECK_EQ(mini_client_recv_raw(cli, 0, reply, MINI_REPLY_READ_HDR_SIZE + 3), 0);
        MT_CHECK_EQ(mini_reply_status_unpack(reply), 0);
        MT_CHECK_EQ(mini_get_u32(reply + 4), 3);
        MT_CHECK(memcmp(reply + MINI_REPLY_READ_HDR_SIZE, "two", 3) == 0);
    }
    check_alive("two-in-one");

    mini_client_destroy(cli);
    MT_CHECK_EQ(mt_daemon_stop(pid), 0);
    mt_pass();
}
