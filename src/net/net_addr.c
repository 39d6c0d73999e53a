/*
 * net_addr.c - check a UCX worker address before UCX unpacks it.
 *
 * ucp_ep_create() takes a worker address without its length and trusts
 * every byte: UCX 1.13 aborts on an unknown address version
 * (address.c: "Assertion '*addr_version == UCP_OBJECT_VERSION_V2'") and
 * reads past the end of a buffer whose length fields lie. Addresses come
 * from the network (a client's HELLO) and from files (the registry), so
 * BenchFS walks the packed layout itself first, with every read bounded by
 * the real length, and refuses anything UCX would misread.
 *
 * The layout below was read from UCX 1.13.1 (its ucp/wireup/address.c,
 * ucp_address_unpack with ucp_worker_default_address_pack_flags, the flags
 * ucp_ep_create uses for a worker address), non-unified mode:
 *
 *   header      v1: 1 byte, version in bits 0-3, flags in bits 4-7
 *               v2: 2 bytes, version byte then flags byte
 *   uuid        8 bytes: always in v1, in v2 when flags has WORKER_UUID
 *   client id   8 bytes when flags has CLIENT_ID
 *   name        1 length byte + that many bytes, when flags has DEBUG_INFO
 *   0xff        (UCP_NULL_RESOURCE) instead of the devices: no transports
 *   per device  md byte (0x80 = no transports; index bits 0-4 in v1, 0-6
 *               in v2 where 0x7f means "index in the next byte")
 *               length byte (0x80 last device, 0x40 a path-count byte
 *               follows, 0x20 a system-device byte follows; length in
 *               bits 0-4, v2: 0x1f means "in the next byte"), the device
 *               address, then unless the device is empty, per transport:
 *                 2-byte name checksum, iface attributes (16 bytes v1,
 *                 8 bytes v2), length byte (0x80 last transport, 0x40 has
 *                 ep addresses, length bits 0-5, v2: 0x3f extends), the
 *                 iface address, then per ep address (while the last lane
 *                 byte lacks 0x80): length byte, address, lane byte.
 *
 * In unified mode (UCX_UNIFIED_MODE=y) the lengths are not in the address
 * (UCX takes them from its own transports), so only the header and the
 * fixed parts are checked.
 */
#include "net/net.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADDR_V1 0
#define ADDR_V2 1

#define ADDR_HDR_DEBUG_INFO  0x01u
#define ADDR_HDR_WORKER_UUID 0x02u
#define ADDR_HDR_CLIENT_ID   0x04u

#define ADDR_NULL_RESOURCE 0xffu
#define ADDR_MD_EMPTY_DEV  0x80u
#define ADDR_MD_MASK_V1    0x1fu
#define ADDR_MD_MASK_V2    0x7fu
#define ADDR_MD_MAX        64 /* UCP_MD_INDEX_BITS */

#define ADDR_FLAG_LAST      0x80u
#define ADDR_FLAG_NUM_PATHS 0x40u
#define ADDR_FLAG_SYS_DEV   0x20u
#define ADDR_FLAG_HAS_EP    0x40u
#define ADDR_DEV_LEN_MASK   0x1fu
#define ADDR_IFACE_LEN_MASK 0x3fu

#define ADDR_IFACE_ATTR_V1 16  /* ucp_address_packed_iface_attr_t */
#define ADDR_IFACE_ATTR_V2 8   /* ucp_address_v2_packed_iface_attr_t */
#define ADDR_UNIFIED_ATTR  5   /* ucp_address_unified_iface_attr_t */
#define ADDR_MAX_TLS       128 /* UCP_MAX_RESOURCES */
#define ADDR_MAX_EP_ADDRS  6   /* UCP_MAX_LANES */

/* A bounded reader: every take fails once past the end. */
struct addr_rd {
    const uint8_t *p;
    size_t left;
    const char *why;
};

static bool rd_skip(struct addr_rd *r, size_t n, const char *what)
{
    if (n > r->left) {
        r->why = what;
        return false;
    }
    r->p += n;
    r->left -= n;
    return true;
}

static bool rd_byte(struct addr_rd *r, uint8_t *b, const char *what)
{
    if (r->left == 0) {
        r->why = what;
        return false;
    }
    *b = *r->p;
    return rd_skip(r, 1, what);
}

/* A value in the low bits of a byte; v2 extends mask-valued ones by a byte. */
static bool rd_value(struct addr_rd *r, unsigned version, uint8_t mask, uint8_t *flags_p,
                     unsigned *value_p, const char *what)
{
    uint8_t b, ext;

    if (!rd_byte(r, &b, what))
        return false;
    *flags_p = b & (uint8_t)~mask;
    *value_p = b & mask;
    if (version == ADDR_V2 && *value_p == mask) {
        if (!rd_byte(r, &ext, what))
            return false;
        *value_p = ext;
    }
    return true;
}

static bool addr_unified_mode(void)
{
    const char *v = getenv("UCX_UNIFIED_MODE");

    return v != NULL && (strcasecmp(v, "y") == 0 || strcasecmp(v, "yes") == 0 ||
                         strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0);
}

/* One transport of a device: checksum, attributes, iface and ep addresses. */
static bool addr_check_tl(struct addr_rd *r, unsigned version, bool unified, bool *last_p)
{
    unsigned len, neps = 0;
    uint8_t flags, b;

    if (!rd_skip(r, 2, "transport name checksum"))
        return false;
    if (unified) {
        /* rsc index byte (with the last flag) + latency float */
        if (!rd_byte(r, &b, "transport index"))
            return false;
        *last_p = (b & ADDR_FLAG_LAST) != 0;
        return rd_skip(r, ADDR_UNIFIED_ATTR - 1, "transport attributes");
    }
    if (!rd_skip(r, version == ADDR_V1 ? ADDR_IFACE_ATTR_V1 : ADDR_IFACE_ATTR_V2,
                 "transport attributes"))
        return false;
    if (!rd_value(r, version, ADDR_IFACE_LEN_MASK, &flags, &len, "interface address length") ||
        !rd_skip(r, len, "interface address"))
        return false;
    *last_p = (flags & ADDR_FLAG_LAST) != 0;
    if (!(flags & ADDR_FLAG_HAS_EP))
        return true;
    for (;;) {
        if (++neps > ADDR_MAX_EP_ADDRS) {
            r->why = "too many endpoint addresses";
            return false;
        }
        if (!rd_byte(r, &b, "endpoint address length") || !rd_skip(r, b, "endpoint address") ||
            !rd_byte(r, &b, "lane index"))
            return false;
        if (b & ADDR_FLAG_LAST)
            return true;
    }
}

/* The device list after the header. */
static bool addr_check_devices(struct addr_rd *r, unsigned version, bool unified)
{
    unsigned ntls = 0, md_index, dev_len;
    uint8_t md_flags, dev_flags;
    bool last_dev, last_tl;

    if (r->left == 0) {
        r->why = "device list";
        return false;
    }
    if (*r->p == ADDR_NULL_RESOURCE)
        return rd_skip(r, 1, "device list");
    do {
        if (!rd_value(r, version, version == ADDR_V1 ? ADDR_MD_MASK_V1 : ADDR_MD_MASK_V2, &md_flags,
                      &md_index, "memory domain index"))
            return false;
        if (md_index >= ADDR_MD_MAX) {
            r->why = "memory domain index out of range";
            return false;
        }
        if (!rd_value(r, version, ADDR_DEV_LEN_MASK, &dev_flags, &dev_len, "device address length"))
            return false;
        last_dev = (dev_flags & ADDR_FLAG_LAST) != 0;
        if ((dev_flags & ADDR_FLAG_NUM_PATHS) && !rd_skip(r, 1, "path count"))
            return false;
        if ((dev_flags & ADDR_FLAG_SYS_DEV) && !rd_skip(r, 1, "system device"))
            return false;
        if (!rd_skip(r, dev_len, "device address"))
            return false;
        last_tl = (md_flags & ADDR_MD_EMPTY_DEV) != 0;
        while (!last_tl) {
            if (++ntls > ADDR_MAX_TLS) {
                r->why = "too many transports";
                return false;
            }
            if (!addr_check_tl(r, version, unified, &last_tl))
                return false;
        }
    } while (!last_dev);
    return true;
}

int net_addr_check(const void *addr, size_t len, char *why, size_t whylen)
{
    struct addr_rd r = {addr, len, NULL};
    unsigned version;
    uint8_t b, flags, name_len;
    bool ok;

    if (addr == NULL || len == 0) {
        snprintf(why, whylen, "empty worker address");
        return -EINVAL;
    }
    if (len > NET_ADDR_MAX) {
        snprintf(why, whylen, "worker address of %zu bytes (at most %d)", len, NET_ADDR_MAX);
        return -EINVAL;
    }
    rd_byte(&r, &b, "header");
    version = b & 0x0fu;
    if (version == ADDR_V1) {
        flags = b >> 4;
    } else if (version == ADDR_V2) {
        if (!rd_byte(&r, &flags, "header flags"))
            goto bad;
    } else {
        snprintf(why, whylen, "unknown worker address version %u (UCX 1.13 knows 0 and 1)",
                 version);
        return -EINVAL;
    }
    /* ucp_ep_create unpacks with WORKER_UUID: v1 always carries it. */
    if ((version == ADDR_V1 || (flags & ADDR_HDR_WORKER_UUID)) && !rd_skip(&r, 8, "worker uuid"))
        goto bad;
    if ((flags & ADDR_HDR_CLIENT_ID) && !rd_skip(&r, 8, "client id"))
        goto bad;
    if (flags & ADDR_HDR_DEBUG_INFO) {
        if (!rd_byte(&r, &name_len, "worker name") || !rd_skip(&r, name_len, "worker name"))
            goto bad;
    }
    ok = addr_check_devices(&r, version, addr_unified_mode());
    if (!ok)
        goto bad;
    if (r.left != 0) {
        snprintf(why, whylen, "%zu bytes after the end of the worker address", r.left);
        return -EINVAL;
    }
    return 0;

bad:
    snprintf(why, whylen, "worker address of %zu bytes is malformed (%s)", len,
             r.why != NULL ? r.why : "?");
    return -EINVAL;
}
