/*
 * fuzz_net_addr.c - libFuzzer target for net_addr_check(), the check every
 * UCX worker address passes before ucp_ep_create (HELLO data from the
 * network, addr= of registry files). The input is copied into a buffer of
 * exactly its size, so AddressSanitizer catches any read past the end.
 * Invariants: the result is 0 or -EINVAL, a refusal always says why, and
 * an address of an unknown version is never accepted.
 */
#include "net/net.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[160];
    uint8_t *buf;
    int rc;

    buf = malloc(size != 0 ? size : 1);
    if (buf == NULL)
        return 0;
    if (size != 0)
        memcpy(buf, data, size);
    why[0] = '\0';
    rc = net_addr_check(size != 0 ? buf : NULL, size, why, sizeof(why));
    if (rc != 0 && (rc != -EINVAL || why[0] == '\0'))
        abort();
    if (rc == 0 && (buf[0] & 0x0f) > 1)
        abort();
    free(buf);
    return 0;
}
