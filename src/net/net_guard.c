/*
 * net_guard.c - check the bytes a stranger sends to UCX's TCP listener
 * before UCX parses them.
 *
 * UCX 1.13's TCP transport trusts its peers: a connection that sends the
 * magic number and a connection request and then an active-message header
 * with a bad length aborts the process (tcp_ep.c:1404 "Assertion
 * 'hdr->length <= (iface->config.rx_seg_size - sizeof(*hdr))'"); a second
 * connection request on one stream, a PUT or PUT ACK nobody asked for, or a
 * connection request naming an endpoint by a direct pointer key (CONNECT_TO_EP
 * with bit 0 clear: ucs_ptr_map treats the key as a pointer) abort it or
 * crash it too. All of this happens before BenchFS sees a message, so the
 * cookie cannot help, and UCX cannot be patched here.
 *
 * libucs reads every TCP stream with recv() and accepts with accept()
 * (ucs_socket_recv_nb, ucs_socket_accept). An executable that links this
 * file defines both (and socket()), and the dynamic linker binds libucs's
 * calls to them. Only connections accepted on a listening socket that
 * net_create() registered (the ones ucp_worker_create opened) are checked;
 * every other socket passes straight to the kernel. A checked stream must be
 * exactly what a UCX 1.13 peer sends (tcp.h, tcp_cm.c, tcp_ep.c):
 *   8-byte magic 0xCAFEBABE12345678, then frames of a 5-byte header
 *   {am_id u8, length u32 little-endian} and `length` bytes:
 *   - am_id 32 (connection manager): first frame exactly one CONN_REQ of
 *     13 + sockaddr bytes {event 1, flags, cm_id u64, sockaddr of this
 *     socket's family}, an ep key (CONNECT_TO_EP) with its indirect bit;
 *     later frames only the 4-byte events ACK (2), ACK|REQ (3), FIN (4)
 *   - am_id < 32 (UCP messages) after the CONN_REQ, length <= the receive
 *     segment (UCX_TCP_RX_SEG_SIZE, 64 KiB by default)
 *   - am_id 35 (keepalive) with length 0
 *   - PUT REQ (33) of UCX's flush (address 0, no data) and PUT ACK (34)
 *     acknowledging a PUT this process sent on that connection (a later
 *     sequence number than the last ACK, not past the last PUT sent: send()
 *     and sendmsg() are followed for that); other PUTs only when TCP PUT is
 *     enabled: a PUT
 *     REQ names a raw address in the receiver's memory that the raw bytes
 *     after it are copied to (tcp_ep.c uct_tcp_ep_handle_put_req), i.e. any
 *     peer can write anywhere. net_create() therefore sets
 *     UCX_TCP_PUT_ENABLE=n (unless the environment says otherwise) in every
 *     BenchFS process, so that UCP moves rendezvous data with active
 *     messages, and a PUT REQ then is an attack. With PUT enabled by the
 *     user the frames are allowed and their raw data skipped.
 * A stream that breaks a rule is shut down and recv() fails with
 * ECONNRESET, which UCX handles as a peer that went away.
 *
 * What this cannot see: UCP's own messages inside well-framed frames (a
 * wireup message carrying a malformed address still reaches UCX's address
 * parser), and streams of connections this process opened itself (their
 * peers came from the registry or a cookie-checked HELLO). docs/security.md
 * says what remains and how a site closes it.
 *
 * Shared libraries (libbenchfs.so) keep these symbols local (version
 * script), so an application's own sockets are never touched.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GUARD_MAGIC        0xCAFEBABE12345678ull
#define GUARD_HDR_LEN      5
#define GUARD_AM_ID_MAX    32 /* UCT_AM_ID_MAX: UCP's ids are below */
#define GUARD_CM_AM_ID     32
#define GUARD_PUT_REQ_ID   33
#define GUARD_PUT_ACK_ID   34
#define GUARD_PUT_REQ_LEN  20 /* addr u64, length u64, sn u32 */
#define GUARD_KEEPALIVE_ID 35
#define GUARD_CM_REQ       1
#define GUARD_CM_ACK       2
#define GUARD_CM_ACK_REQ   3
#define GUARD_CM_FIN       4
#define GUARD_CM_FLAG_EP   0x01u /* UCT_TCP_CM_CONN_REQ_PKT_FLAG_CONNECT_TO_EP */
#define GUARD_CM_REQ_HEAD  13    /* event u32 + flags u8 + cm_id u64 */
#define GUARD_CM_MAX       (GUARD_CM_REQ_HEAD + sizeof(struct sockaddr_in6))
#define GUARD_SEG_DEFAULT  65536u
#define GUARD_LISTENERS    16

enum guard_state {
    GUARD_OFF = 0, /* not a checked stream */
    GUARD_MAGIC_RX,
    GUARD_HDR_RX,
    GUARD_BODY_RX,
    GUARD_PUT_DATA, /* raw bytes after a PUT REQ */
    GUARD_DEAD,     /* refused: every recv fails */
};

struct guard_fd {
    uint8_t state;
    uint8_t got; /* bytes of the magic or header so far */
    uint8_t hdr[GUARD_HDR_LEN];
    bool req_seen;  /* the CONN_REQ arrived */
    uint8_t sa_len; /* sockaddr size of this socket's family */
    uint8_t cm[GUARD_CM_MAX];
    uint32_t left;     /* body bytes still to come */
    uint32_t cm_len;   /* body length of the current CM frame */
    uint64_t put_left; /* raw PUT bytes still to come */
    /* what this process sends on the stream (to check PUT ACKs) */
    uint8_t out_state; /* GUARD_HDR_RX, GUARD_BODY_RX or GUARD_PUT_DATA */
    uint8_t out_got;
    uint8_t out_hdr[GUARD_HDR_LEN];
    uint8_t out_body[GUARD_PUT_REQ_LEN];
    uint32_t out_left;
    uint64_t out_raw;
    bool put_sent;
    uint32_t put_sn_sent, put_sn_acked;
};

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct guard_fd *guard_fds;
static size_t guard_cap;
static int guard_listeners[GUARD_LISTENERS];
static unsigned guard_nlisteners;
static uint32_t guard_seg = GUARD_SEG_DEFAULT;
static bool guard_put_ok;
static unsigned long guard_refused;

/* The slot of fd, grown on demand (with guard_lock held); NULL on ENOMEM. */
static struct guard_fd *guard_slot(int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= guard_cap) {
        size_t cap = guard_cap ? guard_cap : 256;
        struct guard_fd *n;

        while (cap <= (size_t)fd)
            cap *= 2;
        n = realloc(guard_fds, cap * sizeof(*n));
        if (n == NULL)
            return NULL;
        memset(n + guard_cap, 0, (cap - guard_cap) * sizeof(*n));
        guard_fds = n;
        guard_cap = cap;
    }
    return &guard_fds[fd];
}

static bool guard_is_listener(int fd)
{
    for (unsigned i = 0; i < guard_nlisteners; i++)
        if (guard_listeners[i] == fd)
            return true;
    return false;
}

/* UCX_TCP_RX_SEG_SIZE as UCX reads it (a number with an optional k/m/g). */
static uint32_t guard_seg_size(void)
{
    const char *v = getenv("UCX_TCP_RX_SEG_SIZE");
    unsigned long long n;
    char *end;

    if (v == NULL || v[0] == '\0')
        return GUARD_SEG_DEFAULT;
    n = strtoull(v, &end, 10);
    switch (*end) {
    case 'k':
    case 'K':
        n <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        n <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        n <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    /* Unreadable: allow UCX's largest so that nothing legitimate is cut. */
    if (*end != '\0' || n == 0 || n > UINT32_MAX - GUARD_HDR_LEN)
        return UINT32_MAX - GUARD_HDR_LEN;
    return (uint32_t)n;
}

bool net_guard_put_enabled(void)
{
    const char *v = getenv("UCX_TCP_PUT_ENABLE");

    return v == NULL || !(strcasecmp(v, "n") == 0 || strcasecmp(v, "no") == 0 ||
                          strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0);
}

/* Is fd a listening TCP socket? */
static bool guard_fd_listening_tcp(int fd)
{
    int on = 0, dom = 0;
    socklen_t l1 = sizeof(on), l2 = sizeof(dom);

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l1) != 0 || !on)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l2) != 0)
        return false;
    return dom == AF_INET || dom == AF_INET6;
}

/* Listening TCP sockets of this process, as a bitmap over fds < max. */
static void guard_scan(uint8_t *seen, int max)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);

        if (de->d_name[0] == '.' || fd < 0 || fd >= max || fd == dirfd(d))
            continue;
        if (guard_fd_listening_tcp(fd))
            seen[fd / 8] |= (uint8_t)(1u << (fd % 8));
    }
    closedir(d);
}

#define GUARD_SCAN_MAX 65536

void *net_guard_before(void)
{
    uint8_t *seen = calloc(GUARD_SCAN_MAX / 8, 1);

    if (seen != NULL)
        guard_scan(seen, GUARD_SCAN_MAX);
    return seen;
}

unsigned net_guard_after(void *before, int *fds, unsigned max)
{
    uint8_t *seen = before, *now;
    unsigned got = 0;

    if (seen == NULL)
        return 0;
    now = calloc(GUARD_SCAN_MAX / 8, 1);
    if (now == NULL) {
        free(seen);
        return 0;
    }
    guard_scan(now, GUARD_SCAN_MAX);
    pthread_mutex_lock(&guard_lock);
    guard_seg = guard_seg_size();
    guard_put_ok = net_guard_put_enabled();
    for (int fd = 0; fd < GUARD_SCAN_MAX; fd++) {
        bool was = seen[fd / 8] & (1u << (fd % 8)), is = now[fd / 8] & (1u << (fd % 8));

        if (is && !was && guard_nlisteners < GUARD_LISTENERS && !guard_is_listener(fd) &&
            got < max) {
            guard_listeners[guard_nlisteners++] = fd;
            fds[got++] = fd;
            log_debug("net: checking connections accepted on UCX listening socket %d", fd);
        }
    }
    pthread_mutex_unlock(&guard_lock);
    free(now);
    free(seen);
    return got;
}

void net_guard_forget(const int *fds, unsigned n)
{
    pthread_mutex_lock(&guard_lock);
    for (unsigned k = 0; k < n; k++) {
        for (unsigned i = 0; i < guard_nlisteners; i++) {
            if (guard_listeners[i] == fds[k]) {
                guard_listeners[i] = guard_listeners[--guard_nlisteners];
                break;
            }
        }
    }
    pthread_mutex_unlock(&guard_lock);
}

unsigned long net_guard_refused(void)
{
    unsigned long n;

    pthread_mutex_lock(&guard_lock);
    n = guard_refused;
    pthread_mutex_unlock(&guard_lock);
    return n;
}

/* A refused stream: count it, say so (first few only), cut it. */
static void guard_refuse(int fd, struct guard_fd *g, const char *why)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char peer[64] = "?";

    g->state = GUARD_DEAD;
    guard_refused++;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;
            const uint8_t *a = (const uint8_t *)&s->sin_addr;

            snprintf(peer, sizeof(peer), "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3],
                     ntohs(s->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            snprintf(peer, sizeof(peer), "[ipv6]:%u",
                     ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port));
        }
    }
    if (guard_refused <= 10 || guard_refused % 1000 == 0)
        log_warn("net: refused a TCP connection from %s: %s (%lu refused so far)", peer, why,
                 guard_refused);
    shutdown(fd, SHUT_RDWR);
}

static uint32_t guard_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A frame header is complete: NULL when acceptable, else why not. */
static const char *guard_check_hdr(struct guard_fd *g)
{
    uint8_t id = g->hdr[0];
    uint32_t len = guard_le32(g->hdr + 1);

    if (id == GUARD_CM_AM_ID) {
        if (!g->req_seen) {
            if (len != GUARD_CM_REQ_HEAD + (uint32_t)g->sa_len)
                return "connection request of a wrong length";
        } else if (len != 4) {
            return "connection event of a wrong length";
        }
        g->cm_len = len;
        return NULL;
    }
    if (!g->req_seen)
        return "data before the connection request";
    if (id < GUARD_AM_ID_MAX) {
        if (len > guard_seg)
            return "message longer than the receive segment";
        return NULL;
    }
    if (id == GUARD_KEEPALIVE_ID)
        return len == 0 ? NULL : "keepalive with data";
    if (id == GUARD_PUT_REQ_ID && len == GUARD_PUT_REQ_LEN) {
        g->cm_len = len;
        return NULL;
    }
    if (id == GUARD_PUT_ACK_ID && len == 4) {
        g->cm_len = len;
        return NULL;
    }
    return "unexpected UCX TCP message type";
}

/* A connection-manager frame is complete: NULL when acceptable. */
static const char *guard_check_cm(struct guard_fd *g)
{
    uint32_t event = guard_le32(g->cm);

    if (!g->req_seen) {
        uint64_t key = 0;
        uint16_t family = (uint16_t)(g->cm[GUARD_CM_REQ_HEAD] | g->cm[GUARD_CM_REQ_HEAD + 1] << 8);

        if (event != GUARD_CM_REQ)
            return "first message is not a connection request";
        for (int i = 7; i >= 0; i--)
            key = key << 8 | g->cm[5 + i];
        if ((g->cm[4] & ~GUARD_CM_FLAG_EP) != 0)
            return "unknown connection request flags";
        if ((g->cm[4] & GUARD_CM_FLAG_EP) && !(key & 1))
            return "connection request with a direct endpoint key";
        if (family != (g->sa_len == sizeof(struct sockaddr_in) ? AF_INET : AF_INET6))
            return "connection request with a foreign address family";
        g->req_seen = true;
        return NULL;
    }
    if (event != GUARD_CM_ACK && event != GUARD_CM_ACK_REQ && event != GUARD_CM_FIN)
        return "unexpected connection event";
    return NULL;
}

/* Feed received bytes through the stream rules: NULL or why refused. */
static const char *guard_feed(struct guard_fd *g, const uint8_t *p, size_t n)
{
    const char *why;

    while (n > 0) {
        switch (g->state) {
        case GUARD_MAGIC_RX: {
            uint8_t want = (uint8_t)(GUARD_MAGIC >> (8 * g->got));

            if (*p != want)
                return "not a UCX connection (wrong magic number)";
            p++;
            n--;
            if (++g->got == 8) {
                g->got = 0;
                g->state = GUARD_HDR_RX;
            }
            break;
        }
        case GUARD_HDR_RX:
            g->hdr[g->got++] = *p++;
            n--;
            if (g->got < GUARD_HDR_LEN)
                break;
            g->got = 0;
            why = guard_check_hdr(g);
            if (why != NULL)
                return why;
            g->left = guard_le32(g->hdr + 1);
            if (g->left > 0)
                g->state = GUARD_BODY_RX;
            break;
        case GUARD_BODY_RX: {
            size_t take = n < g->left ? n : g->left;

            if (g->hdr[0] == GUARD_CM_AM_ID || g->hdr[0] == GUARD_PUT_REQ_ID ||
                g->hdr[0] == GUARD_PUT_ACK_ID) {
                size_t off = g->cm_len - g->left;

                memcpy(g->cm + off, p, take);
            }
            p += take;
            n -= take;
            g->left -= (uint32_t)take;
            if (g->left > 0)
                break;
            g->state = GUARD_HDR_RX;
            if (g->hdr[0] == GUARD_CM_AM_ID && (why = guard_check_cm(g)) != NULL)
                return why;
            if (g->hdr[0] == GUARD_PUT_REQ_ID) {
                uint64_t addr = 0;

                g->put_left = 0;
                for (int i = 7; i >= 0; i--) {
                    addr = addr << 8 | g->cm[i];
                    g->put_left = g->put_left << 8 | g->cm[8 + i];
                }
                if (!guard_put_ok && (addr != 0 || g->put_left != 0))
                    return "PUT to a raw address (TCP PUT is disabled)";
                if (g->put_left > 0)
                    g->state = GUARD_PUT_DATA;
            }
            if (g->hdr[0] == GUARD_PUT_ACK_ID) {
                uint32_t sn = guard_le32(g->cm);

                /* Circular: acked < sn <= sent. */
                if (!g->put_sent || (int32_t)(sn - g->put_sn_acked) <= 0 ||
                    (int32_t)(sn - g->put_sn_sent) > 0)
                    return "PUT ACK for no PUT sent";
                g->put_sn_acked = sn;
            }
            break;
        }
        case GUARD_PUT_DATA: {
            size_t take = n < g->put_left ? n : (size_t)g->put_left;

            p += take;
            n -= take;
            g->put_left -= take;
            if (g->put_left == 0)
                g->state = GUARD_HDR_RX;
            break;
        }
        default:
            return "connection already refused";
        }
    }
    return NULL;
}

/* Follow bytes this process sent on a checked stream: note PUT REQs. */
static void guard_sent(struct guard_fd *g, const uint8_t *p, size_t n)
{
    while (n > 0) {
        switch (g->out_state) {
        case GUARD_HDR_RX:
            g->out_hdr[g->out_got++] = *p++;
            n--;
            if (g->out_got < GUARD_HDR_LEN)
                break;
            g->out_got = 0;
            g->out_left = guard_le32(g->out_hdr + 1);
            if (g->out_left > 0)
                g->out_state = GUARD_BODY_RX;
            break;
        case GUARD_BODY_RX: {
            size_t take = n < g->out_left ? n : g->out_left;

            if (g->out_hdr[0] == GUARD_PUT_REQ_ID && g->out_left <= GUARD_PUT_REQ_LEN) {
                size_t off = GUARD_PUT_REQ_LEN - g->out_left;

                memcpy(g->out_body + off, p, take);
            }
            p += take;
            n -= take;
            g->out_left -= (uint32_t)take;
            if (g->out_left > 0)
                break;
            g->out_state = GUARD_HDR_RX;
            if (g->out_hdr[0] == GUARD_PUT_REQ_ID) {
                g->out_raw = 0;
                for (int i = 7; i >= 0; i--)
                    g->out_raw = g->out_raw << 8 | g->out_body[8 + i];
                g->put_sn_sent = guard_le32(g->out_body + 16);
                if (!g->put_sent)
                    g->put_sn_acked = g->put_sn_sent - 1;
                g->put_sent = true;
                if (g->out_raw > 0)
                    g->out_state = GUARD_PUT_DATA;
            }
            break;
        }
        default: { /* GUARD_PUT_DATA */
            size_t take = n < g->out_raw ? n : (size_t)g->out_raw;

            p += take;
            n -= take;
            g->out_raw -= take;
            if (g->out_raw == 0)
                g->out_state = GUARD_HDR_RX;
            break;
        }
        }
    }
}

/* The checked stream of fd, with guard_lock held, or NULL. */
static struct guard_fd *guard_checked(int fd)
{
    if (fd < 0 || (size_t)fd >= guard_cap)
        return NULL;
    if (guard_fds[fd].state == GUARD_OFF || guard_fds[fd].state == GUARD_DEAD)
        return NULL;
    return &guard_fds[fd];
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    struct guard_fd *g;
    ssize_t n;

    if (fd < 0 || (size_t)fd >= __atomic_load_n(&guard_cap, __ATOMIC_RELAXED))
        return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
    pthread_mutex_lock(&guard_lock);
    n = syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
    if (n > 0 && (g = guard_checked(fd)) != NULL)
        guard_sent(g, buf, (size_t)n);
    pthread_mutex_unlock(&guard_lock);
    return n;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct guard_fd *g;
    ssize_t n;

    if (fd < 0 || (size_t)fd >= __atomic_load_n(&guard_cap, __ATOMIC_RELAXED))
        return syscall(SYS_sendmsg, fd, msg, flags);
    pthread_mutex_lock(&guard_lock);
    n = syscall(SYS_sendmsg, fd, msg, flags);
    if (n > 0 && (g = guard_checked(fd)) != NULL) {
        size_t left = (size_t)n;

        for (size_t i = 0; i < msg->msg_iovlen && left > 0; i++) {
            size_t take = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;

            guard_sent(g, msg->msg_iov[i].iov_base, take);
            left -= take;
        }
    }
    pthread_mutex_unlock(&guard_lock);
    return n;
}

int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    struct guard_fd *g;
    long nfd;

    nfd = syscall(SYS_accept4, fd, addr, addrlen, 0);
    if (nfd < 0)
        return -1;
    pthread_mutex_lock(&guard_lock);
    g = guard_slot((int)nfd);
    if (g != NULL) {
        memset(g, 0, sizeof(*g));
        if (guard_is_listener(fd) && getsockname((int)nfd, (struct sockaddr *)&local, &llen) == 0 &&
            (local.ss_family == AF_INET || local.ss_family == AF_INET6)) {
            g->state = GUARD_MAGIC_RX;
            g->out_state = GUARD_HDR_RX;
            g->sa_len = local.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                   : sizeof(struct sockaddr_in6);
        }
    } else if (guard_is_listener(fd)) {
        /* Cannot track it: do not let UCX read it unchecked. */
        pthread_mutex_unlock(&guard_lock);
        close((int)nfd);
        errno = ECONNABORTED;
        return -1;
    }
    pthread_mutex_unlock(&guard_lock);
    return (int)nfd;
}

int socket(int domain, int type, int protocol)
{
    struct guard_fd *g;
    long fd = syscall(SYS_socket, domain, type, protocol);

    if (fd < 0)
        return -1;
    /* A reused fd number must not inherit a checked stream's state. */
    pthread_mutex_lock(&guard_lock);
    if ((size_t)fd < guard_cap && (g = guard_slot((int)fd)) != NULL)
        memset(g, 0, sizeof(*g));
    pthread_mutex_unlock(&guard_lock);
    return (int)fd;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct guard_fd *g;
    const char *why;
    ssize_t n;

    if (fd < 0 || (size_t)fd >= __atomic_load_n(&guard_cap, __ATOMIC_RELAXED) || (flags & MSG_PEEK))
        return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    pthread_mutex_lock(&guard_lock);
    g = (size_t)fd < guard_cap ? &guard_fds[fd] : NULL;
    if (g == NULL || g->state == GUARD_OFF) {
        pthread_mutex_unlock(&guard_lock);
        return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    }
    if (g->state == GUARD_DEAD) {
        pthread_mutex_unlock(&guard_lock);
        errno = ECONNRESET;
        return -1;
    }
    n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
    if (n > 0) {
        why = guard_feed(g, buf, (size_t)n);
        if (why != NULL) {
            guard_refuse(fd, g, why);
            pthread_mutex_unlock(&guard_lock);
            errno = ECONNRESET;
            return -1;
        }
    }
    pthread_mutex_unlock(&guard_lock);
    return n;
}
