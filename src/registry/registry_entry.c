/*
 * registry_entry.c - the .addr file format (registry.h): hex helpers, node id
 * and field validation, and registry_entry_parse(), a pure function from
 * bytes to an entry that the fuzz target fuzz_registry_entry drives.
 *
 * Parsing is strict, because these files come from other processes and from
 * earlier runs: the magic line first, then every key exactly once in any
 * order, no unknown keys, every line ending in a newline (a file cut short is
 * caught), exact hex lengths, numbers in range. An error names the file and
 * the line: "registry /r/node_3.addr:4: bad cookie (expected 32 hex digits)".
 */
#include "registry/registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void registry_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool registry_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int registry_hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void registry_hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int registry_hex_decode(const char *hex, size_t hex_len, void *out, size_t out_len)
{
    uint8_t *o = out;
    size_t i;

    if (hex_len != 2 * out_len)
        return -EINVAL;
    for (i = 0; i < out_len; i++) {
        int hi = registry_hex_val(hex[2 * i]);
        int lo = registry_hex_val(hex[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -EINVAL;
        o[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool registry_node_id_valid(const char *node_id)
{
    size_t i;

    if (node_id == NULL || node_id[0] == '\0' || node_id[0] == '.')
        return false;
    for (i = 0; node_id[i] != '\0'; i++) {
        char c = node_id[i];

        if (i >= REGISTRY_NODE_ID_MAX)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Decimal digits only (no sign, no spaces), at most UINT64_MAX. */
int registry_parse_u64(const char *s, size_t len, uint64_t *v_p)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 20)
        return -EINVAL;
    for (i = 0; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *v_p = v;
    return 0;
}

bool registry_host_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 255)
        return false;
    for (i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    }
    return true;
}

bool registry_chunks_valid(const char *path, size_t len)
{
    size_t i;

    if (len == 0 || len > REGISTRY_CHUNKS_MAX || path[0] != '/')
        return false;
    for (i = 0; i < len; i++) {
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
            return false;
    }
    return true;
}

/* Exactly 16 hex digits, as a big-endian 64-bit number. */
static int registry_parse_hex_u64(const char *s, uint64_t *v_p)
{
    uint8_t b[8];
    uint64_t v = 0;

    if (registry_hex_decode(s, 16, b, sizeof(b)) != 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(b); i++)
        v = v << 8 | b[i];
    *v_p = v;
    return 0;
}

enum registry_key {
    RK_NODE_ID,
    RK_COOKIE,
    RK_PID,
    RK_HOST,
    RK_MAX_XFER,
    RK_STARTED_NS,
    RK_ADDR,
    RK_PEER_FAILURE, /* optional */
    RK_HOST_ID,      /* optional */
    RK_CHUNKS,       /* optional */
    RK_COUNT,
};

static const char *const registry_keys[RK_COUNT] = {
    "node_id",    "cookie", "pid",          "host",    "max_xfer",
    "started_ns", "addr",   "peer_failure", "host_id", "chunks",
};

/* Copy at most 32 printable bytes of s[0..len) for an error message. */
static void registry_excerpt(const char *s, size_t len, char *out, size_t outlen)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 4 < outlen && i < 32; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (i < len && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Parse one value into *e. Returns NULL or what was expected. */
static const char *registry_parse_value(enum registry_key k, const char *v, size_t vlen,
                                        struct registry_entry *e, size_t *addr_hex_len_p)
{
    uint64_t u;

    switch (k) {
    case RK_NODE_ID:
        if (vlen == 0 || vlen > REGISTRY_NODE_ID_MAX)
            return "1..63 characters of A-Z a-z 0-9 . _ -, not starting with '.'";
        memcpy(e->node_id, v, vlen);
        e->node_id[vlen] = '\0';
        if (!registry_node_id_valid(e->node_id))
            return "1..63 characters of A-Z a-z 0-9 . _ -, not starting with '.'";
        return NULL;
    case RK_COOKIE:
        if (registry_hex_decode(v, vlen, e->cookie, REGISTRY_COOKIE_LEN) != 0)
            return "32 hex digits";
        return NULL;
    case RK_PID:
        if (registry_parse_u64(v, vlen, &u) != 0 || u == 0 || u > INT_MAX)
            return "a positive process id";
        e->pid = (int64_t)u;
        return NULL;
    case RK_HOST:
        if (!registry_host_valid(v, vlen))
            return "1..255 printable characters without spaces";
        memcpy(e->host, v, vlen);
        e->host[vlen] = '\0';
        return NULL;
    case RK_MAX_XFER:
        if (registry_parse_u64(v, vlen, &u) != 0 || u == 0 || u > REGISTRY_MAX_XFER_MAX)
            return "a byte count from 1 to 1099511627776";
        e->max_xfer = u;
        return NULL;
    case RK_STARTED_NS:
        if (registry_parse_u64(v, vlen, &u) != 0 || u == 0)
            return "nanoseconds since the epoch";
        e->started_ns = u;
        return NULL;
    case RK_PEER_FAILURE:
        if (vlen == 4 && memcmp(v, "auto", 4) == 0) {
            e->peer_failure = REGISTRY_PEER_FAILURE_AUTO;
            return NULL;
        }
        if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
            return "0, 1 or auto";
        e->peer_failure = v[0] - '0';
        return NULL;
    case RK_HOST_ID:
        if (vlen != 16 || registry_parse_hex_u64(v, &e->host_id) != 0)
            return "16 hex digits";
        return NULL;
    case RK_CHUNKS: {
        size_t plen = vlen > 34 ? vlen - 34 : 0;

        if (vlen < 35 || v[16] != ':' || v[33] != ':' ||
            registry_parse_hex_u64(v, &e->chunks_dev) != 0 ||
            registry_parse_hex_u64(v + 17, &e->chunks_ino) != 0 ||
            !registry_chunks_valid(v + 34, plen))
            return "<16 hex st_dev>:<16 hex st_ino>:<absolute path of at most 1024 bytes>";
        memcpy(e->chunks, v + 34, plen);
        e->chunks[plen] = '\0';
        return NULL;
    }
    case RK_ADDR: {
        size_t i;

        if (vlen == 0 || vlen % 2 != 0 || vlen > 2 * (size_t)REGISTRY_ADDR_MAX)
            return "an even number of hex digits, at most 131072";
        for (i = 0; i < vlen; i++) {
            if (!registry_is_hex(v[i]))
                return "an even number of hex digits, at most 131072";
        }
        *addr_hex_len_p = vlen;
        return NULL;
    }
    default:
        return "a known key";
    }
}

int registry_entry_parse(const char *name, const char *buf, size_t len,
                         struct registry_entry *entry_p, char *err, size_t errlen)
{
    unsigned seen_line[RK_COUNT] = {0};
    const char *addr_hex = NULL, *p = buf, *end = buf + len;
    size_t addr_hex_len = 0;
    struct registry_entry e;
    char excerpt[40];
    unsigned line = 0;
    int k;

    memset(&e, 0, sizeof(e));
    e.peer_failure = 1;
    if (len > REGISTRY_FILE_MAX) {
        registry_err(err, errlen, "registry %s: file too large (%zu bytes, at most %d)", name, len,
                     REGISTRY_FILE_MAX);
        return -EFBIG;
    }
    if (len == 0) {
        registry_err(err, errlen, "registry %s:1: empty file (expected '" REGISTRY_MAGIC " 1')",
                     name);
        return -EINVAL;
    }

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eq, *v;
        size_t llen, klen, vlen;
        const char *expected;

        line++;
        if (nl == NULL) {
            registry_err(err, errlen,
                         "registry %s:%u: last line has no newline (file cut "
                         "short?)",
                         name, line);
            return -EINVAL;
        }
        llen = (size_t)(nl - p);
        if (memchr(p, '\0', llen) != NULL) {
            registry_err(err, errlen, "registry %s:%u: NUL byte in line", name, line);
            return -EINVAL;
        }
        if (line == 1) {
            static const char magic[] = REGISTRY_MAGIC " ";

            if (llen < sizeof(magic) - 1 || memcmp(p, magic, sizeof(magic) - 1) != 0) {
                registry_err(err, errlen,
                             "registry %s:1: not a BenchFS registry file (expected '" REGISTRY_MAGIC
                             " %d')",
                             name, REGISTRY_VERSION);
                return -EINVAL;
            }
            if (llen != sizeof(magic) || p[sizeof(magic) - 1] != '0' + REGISTRY_VERSION) {
                registry_excerpt(p + sizeof(magic) - 1, llen - (sizeof(magic) - 1), excerpt,
                                 sizeof(excerpt));
                registry_err(err, errlen,
                             "registry %s:1: unsupported format version '%s' "
                             "(expected %d)",
                             name, excerpt, REGISTRY_VERSION);
                return -EINVAL;
            }
            p = nl + 1;
            continue;
        }

        eq = memchr(p, '=', llen);
        if (eq == NULL) {
            registry_excerpt(p, llen, excerpt, sizeof(excerpt));
            registry_err(err, errlen, "registry %s:%u: bad line '%s' (expected key=value)", name,
                         line, excerpt);
            return -EINVAL;
        }
        klen = (size_t)(eq - p);
        v = eq + 1;
        vlen = llen - klen - 1;
        for (k = 0; k < RK_COUNT; k++) {
            if (strlen(registry_keys[k]) == klen && memcmp(registry_keys[k], p, klen) == 0)
                break;
        }
        if (k == RK_COUNT) {
            registry_excerpt(p, klen, excerpt, sizeof(excerpt));
            registry_err(err, errlen,
                         "registry %s:%u: unknown key '%s' (expected one of "
                         "node_id cookie pid host max_xfer started_ns peer_failure host_id "
                         "chunks addr)",
                         name, line, excerpt);
            return -EINVAL;
        }
        if (seen_line[k] != 0) {
            registry_err(err, errlen, "registry %s:%u: duplicate key %s (first on line %u)", name,
                         line, registry_keys[k], seen_line[k]);
            return -EINVAL;
        }
        seen_line[k] = line;
        expected = registry_parse_value((enum registry_key)k, v, vlen, &e, &addr_hex_len);
        if (expected != NULL) {
            registry_err(err, errlen, "registry %s:%u: bad %s (expected %s)", name, line,
                         registry_keys[k], expected);
            return -EINVAL;
        }
        if (k == RK_ADDR)
            addr_hex = v;
        p = nl + 1;
    }

    for (k = 0; k < RK_COUNT; k++) {
        if (seen_line[k] == 0 && k != RK_PEER_FAILURE && k != RK_HOST_ID && k != RK_CHUNKS) {
            registry_err(err, errlen, "registry %s:%u: missing key %s (file cut short?)", name,
                         line + 1, registry_keys[k]);
            return -EINVAL;
        }
    }

    e.addr_len = addr_hex_len / 2;
    e.addr = malloc(e.addr_len);
    if (e.addr == NULL) {
        registry_err(err, errlen, "registry %s: out of memory", name);
        return -ENOMEM;
    }
    /* Checked to be hex of even length above: cannot fail. */
    registry_hex_decode(addr_hex, addr_hex_len, e.addr, e.addr_len);
    *entry_p = e;
    return 0;
}

void registry_entry_cleanup(struct registry_entry *entry)
{
    if (entry == NULL)
        return;
    free(entry->addr);
    entry->addr = NULL;
    entry->addr_len = 0;
}

void registry_entries_free(struct registry_entry *entries, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        registry_entry_cleanup(&entries[i]);
    free(entries);
}

/* Format an entry; returns a malloc'd, NUL-terminated text or NULL. */
char *registry_entry_format(const struct registry_entry *e, size_t *len_p)
{
    char cookie_hex[2 * REGISTRY_COOKIE_LEN + 1], host_id[32];
    char chunks[REGISTRY_CHUNKS_MAX + 48];
    size_t cap = 2 * e->addr_len + 1024 + sizeof(chunks), n;
    char *buf;
    int head;

    buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    registry_hex_encode(e->cookie, REGISTRY_COOKIE_LEN, cookie_hex);
    if (e->host_id != 0)
        snprintf(host_id, sizeof(host_id), "host_id=%016" PRIx64 "\n", e->host_id);
    else
        host_id[0] = '\0';
    if (e->chunks[0] == '/')
        snprintf(chunks, sizeof(chunks), "chunks=%016" PRIx64 ":%016" PRIx64 ":%.*s\n",
                 e->chunks_dev, e->chunks_ino, REGISTRY_CHUNKS_MAX, e->chunks);
    else
        chunks[0] = '\0';
    head = snprintf(buf, cap,
                    REGISTRY_MAGIC " %d\nnode_id=%s\ncookie=%s\npid=%" PRId64 "\nhost=%s\n%s%s"
                                   "max_xfer=%" PRIu64 "\nstarted_ns=%" PRIu64
                                   "\npeer_failure=%s\naddr=",
                    REGISTRY_VERSION, e->node_id, cookie_hex, e->pid, e->host, host_id, chunks,
                    e->max_xfer, e->started_ns,
                    e->peer_failure == REGISTRY_PEER_FAILURE_AUTO ? "auto"
                    : e->peer_failure != 0                        ? "1"
                                                                  : "0");
    if (head < 0 || (size_t)head + 2 * e->addr_len + 2 > cap) {
        free(buf);
        return NULL;
    }
    n = (size_t)head;
    registry_hex_encode(e->addr, e->addr_len, buf + n);
    n += 2 * e->addr_len;
    buf[n++] = '\n';
    buf[n] = '\0';
    *len_p = n;
    return buf;
}

int registry_entry_check(const struct registry_entry *e, char *err, size_t errlen)
{
    if (!registry_node_id_valid(e->node_id)) {
        registry_err(err, errlen,
                     "registry: invalid node id '%.64s' (expected 1..63 characters "
                     "of A-Z a-z 0-9 . _ -, not starting with '.')",
                     e->node_id);
        return -EINVAL;
    }
    if (e->pid <= 0 || e->pid > INT_MAX || e->max_xfer == 0 ||
        e->max_xfer > REGISTRY_MAX_XFER_MAX || e->started_ns == 0 ||
        !registry_host_valid(e->host, strnlen(e->host, sizeof(e->host))) ||
        strnlen(e->host, sizeof(e->host)) == sizeof(e->host) || e->addr == NULL ||
        e->addr_len == 0 || e->addr_len > REGISTRY_ADDR_MAX) {
        registry_err(err, errlen,
                     "registry: invalid entry for %s (pid, host, max_xfer, "
                     "started_ns or address out of range)",
                     e->node_id);
        return -EINVAL;
    }
    return 0;
}
