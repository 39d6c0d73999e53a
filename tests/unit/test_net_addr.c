/*
 * test_net_addr.c - unit tests of net_addr_check(), the check of a UCX
 * worker address before ucp_ep_create. Real addresses of this UCX (TCP
 * only, shared memory only, the default transports, and with
 * UCX_ADDRESS_VERSION=v2 and UCX_ADDRESS_DEBUG_INFO=y) are accepted; every
 * truncation, an unknown version nibble, trailing bytes and lying length
 * bytes are refused with a reason. Connecting (net_ep_create) to a refused
 * address fails with -EINVAL before UCX sees it: the abort this guards
 * against (address.c "Assertion '*addr_version == UCP_OBJECT_VERSION_V2'")
 * would kill this test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "net/net.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A real worker address under the current UCX_* environment. */
static void check_real_address(const char *tls, const char *version, const char *debug)
{
    struct net *net, *peer;
    struct net_ep *ep;
    const void *addr;
    uint8_t *copy;
    size_t len, cut;
    char err[512], why[160];

    setenv("UCX_TLS", tls, 1);
    setenv("UCX_NET_DEVICES", "lo", 1);
    setenv("UCX_ADDRESS_VERSION", version, 1);
    setenv("UCX_ADDRESS_DEBUG_INFO", debug, 1);
    assert_int_equal(net_create(false, &net, err, sizeof(err)), 0);
    assert_int_equal(net_create(false, &peer, err, sizeof(err)), 0);
    assert_int_equal(net_address(net, &addr, &len), 0);
    if (net_addr_check(addr, len, why, sizeof(why)) != 0)
        fail_msg("UCX_TLS=%s version %s: real address refused: %s", tls, version, why);

    copy = malloc(len + 1);
    assert_non_null(copy);
    /* Every truncation is refused. */
    for (cut = 0; cut < len; cut++) {
        memcpy(copy, addr, cut);
        assert_int_equal(net_addr_check(cut ? copy : NULL, cut, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
    }
    /* Trailing garbage is refused. */
    memcpy(copy, addr, len);
    copy[len] = 0x5a;
    assert_int_equal(net_addr_check(copy, len + 1, why, sizeof(why)), -EINVAL);
    /* Unknown versions are refused, and net_ep_create does not reach UCX. */
    for (unsigned v = 2; v < 16; v++) {
        memcpy(copy, addr, len);
        copy[0] = (uint8_t)((copy[0] & 0xf0) | v);
        assert_int_equal(net_addr_check(copy, len, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "version"));
        assert_int_equal(net_ep_create(peer, copy, len, "bad", NULL, NULL, &ep), -EINVAL);
    }
    /* Every single byte set to 0xff: refused, or well-formed still. */
    for (size_t i = 0; i < len; i++) {
        int rc;

        memcpy(copy, addr, len);
        copy[i] = 0xff;
        rc = net_addr_check(copy, len, why, sizeof(why));
        assert_true(rc == 0 || rc == -EINVAL);
    }
    /* The real address still connects. */
    assert_int_equal(net_ep_create(peer, addr, len, "good", NULL, NULL, &ep), 0);
    net_ep_abort(ep);
    free(copy);
    net_destroy(peer);
    net_destroy(net);
}

static void test_real_tcp(void **state)
{
    (void)state;
    check_real_address("tcp,self", "v1", "n");
}

static void test_real_shm(void **state)
{
    (void)state;
    /* UCX 1.13 offers shared memory only without peer-failure handling. */
    setenv("BENCHFS_PEER_FAILURE", "0", 1);
    check_real_address("shm,self", "v1", "n");
    unsetenv("BENCHFS_PEER_FAILURE");
}

static void test_real_default(void **state)
{
    (void)state;
    check_real_address("all", "v1", "n");
}

static void test_real_v2_debug(void **state)
{
    (void)state;
    check_real_address("tcp,shm,self", "v2", "y");
    check_real_address("tcp,self", "v1", "y");
}

static void test_handmade(void **state)
{
    /* v1, uuid, then "no devices". */
    uint8_t empty[10] = {0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0xff};
    /* v1, uuid, one device (md 0, last, no device address), one transport
     * (csum, 16-byte attrs, last, iface address of 2 bytes). */
    uint8_t one[10 + 1 + 2 + 16 + 1 + 2] = {0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x00, 0x80};
    char why[160];

    (void)state;
    assert_int_equal(net_addr_check(empty, sizeof(empty), why, sizeof(why)), 0);
    one[9 + 1 + 1 + 2 + 16] = 0x80 | 2;
    assert_int_equal(net_addr_check(one, sizeof(one), why, sizeof(why)), 0);
    /* An iface address length that runs past the end. */
    one[9 + 1 + 1 + 2 + 16] = 0x80 | 3;
    assert_int_equal(net_addr_check(one, sizeof(one), why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "interface address"));
    /* A transport that is not the last, with nothing after it. */
    one[9 + 1 + 1 + 2 + 16] = 2;
    assert_int_equal(net_addr_check(one, sizeof(one), why, sizeof(why)), -EINVAL);
    /* An md index beyond UCX's 64. */
    assert_int_equal(net_addr_check((uint8_t[]){0x01, 0x7f, 0xff}, 3, why, sizeof(why)), -EINVAL);
    assert_int_equal(net_addr_check(NULL, 0, why, sizeof(why)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handmade),      cmocka_unit_test(test_real_tcp),
        cmocka_unit_test(test_real_shm),      cmocka_unit_test(test_real_default),
        cmocka_unit_test(test_real_v2_debug),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
