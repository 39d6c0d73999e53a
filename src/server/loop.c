/*
 * loop.c - the server's single-threaded event loop (docs/design.md#event-loop).
 *
 * One pass: progress UCX (receive callbacks queue requests) -> reap io_uring
 * completions (callbacks queue requests) -> step every queued request ->
 * commit the pass's metadata and send its replies -> one io_uring_submit.
 * When a pass did nothing, the loop spins for spin_us (no added latency under
 * load), then arms the UCX worker and sleeps in epoll_wait on the UCX efd,
 * the ring's eventfd, a wake eventfd and (daemon) a signalfd: an idle server
 * uses no CPU. Nothing ever waits on a timer while work is pending; the two
 * timers are the checks of orphans' holders (orphans.c), armed only while
 * orphan records of clients on this host exist, and of the pids of clients
 * on this host without peer-failure handling (clients.c), once a second
 * while such clients are connected.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "server/server_int.h"

/* How long a stopping server waits for in-flight requests to finish. */
#define SERVER_DRAIN_NS (10ull * 1000000000ull)

void server_stop(struct server *srv)
{
    uint64_t one = 1;

    atomic_store(&srv->stop_requested, true);
    /* write(2) is async-signal-safe, so this works from a signal handler. */
    if (write(srv->wakefd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: a wake-up is pending anyway */
    }
}

void server_wake(struct server *srv)
{
    uint64_t one = 1;

    if (write(srv->wakefd, &one, sizeof(one)) < 0) {
        /* already pending */
    }
}

static int server_signals_setup(struct server *srv)
{
    struct epoll_event ev = {.events = EPOLLIN};
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -EINVAL;
    srv->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (srv->sigfd < 0)
        return -errno;
    ev.data.fd = srv->sigfd;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sigfd, &ev) < 0)
        return -errno;
    return 0;
}

/* Drain the wake and signal fds after epoll said they are readable. */
static void server_read_wakeups(struct server *srv)
{
    struct signalfd_siginfo si;
    uint64_t v;

    while (read(srv->wakefd, &v, sizeof(v)) == sizeof(v))
        ;
    while (srv->sigfd >= 0 && read(srv->sigfd, &si, sizeof(si)) == sizeof(si)) {
        log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
        atomic_store(&srv->stop_requested, true);
    }
}

/* One pass over everything that may have work. Returns units of work done. */
static unsigned server_pass(struct server *srv)
{
    unsigned work = 0;
    struct list_node *n;
    int rc;

    work += net_progress(srv->net);
    work += chunk_store_reap(srv->chunks);
    server_orphans_tick(srv);
    server_clients_tick(srv);
    /* Step requests queued so far; requests re-queued while stepping (an
     * I/O that could not be submitted yet) wait for the next pass. */
    {
        struct list_node batch;

        list_take_all(&batch, &srv->ready);
        while ((n = list_pop_front(&batch)) != NULL) {
            sreq_step(list_entry(n, struct sreq, link));
            work++;
        }
    }
    server_flush_replies(srv);
    if (chunk_store_queued(srv->chunks) > 0) {
        rc = chunk_store_submit(srv->chunks);
        if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
            log_error("io_uring submit failed: %s", strerror(-rc));
    }
    return work;
}

/* How long the loop may sleep before a timer is due (-1: no timer). */
static int server_timer_ms(const struct server *srv)
{
    int a = server_orphans_timeout_ms(srv), b = server_clients_timeout_ms(srv);

    if (a < 0)
        return b;
    return b < 0 || a < b ? a : b;
}

/*
 * Sleep up to nap_ms without UCX's event fd (it stays readable while UCX
 * says it is busy): only a stop request, a signal or storage wake us.
 */
static void server_nap(struct server *srv, int nap_ms)
{
    struct pollfd pfd[3] = {
        {.fd = srv->wakefd, .events = POLLIN},
        {.fd = chunk_store_eventfd(srv->chunks), .events = POLLIN},
        {.fd = srv->sigfd, .events = POLLIN}, /* -1: ignored by poll */
    };

    if (poll(pfd, 3, nap_ms) <= 0)
        return;
    if ((pfd[0].revents | pfd[2].revents) & POLLIN)
        server_read_wakeups(srv);
    if (pfd[1].revents & POLLIN)
        chunk_store_clear_eventfd(srv->chunks);
}

/* Block until something happens or timeout_ms passes (-1 = forever). */
static void server_sleep(struct server *srv, int timeout_ms)
{
    struct epoll_event evs[8];
    int n;

    if (!list_empty(&srv->ready) || !list_empty(&srv->replies) || chunk_store_pending(srv->chunks))
        return;
    /* SQEs the kernel refused to take (EBUSY/EAGAIN) produce no completion
     * to wake us: come back soon to submit them again. */
    if (chunk_store_queued(srv->chunks) > 0)
        timeout_ms = 1;
    if (net_arm(srv->net) == -EAGAIN) {
        /* UCX has events: progress again instead of sleeping. Never
         * sleeping means never reading the signal fd: do that here. */
        server_read_wakeups(srv);
        /* When a dead client left sends UCX can never complete (requests
         * given up on it, or an endpoint close abandoned: toward its
         * shared-memory queue, which nobody drains) and UCX keeps refusing
         * while progress finds nothing, nap up to 1 ms rather than spin
         * for good. Never otherwise: a nap leaves UCX's event fd out. */
        if ((list_empty(&srv->zombies) && net_closes_abandoned(srv->net) == 0) ||
            srv->busy_arms++ < 2)
            return;
        server_nap(srv, timeout_ms == 0 ? 0 : 1);
        return;
    }
    srv->busy_arms = 0;
    n = epoll_wait(srv->epfd, evs, 8, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == srv->wakefd || evs[i].data.fd == srv->sigfd)
            server_read_wakeups(srv);
        else if (evs[i].data.fd == chunk_store_eventfd(srv->chunks))
            chunk_store_clear_eventfd(srv->chunks);
    }
}

int server_run(struct server *srv, bool handle_signals)
{
    uint64_t spin_ns = (uint64_t)srv->cfg.spin_us * 1000ull;
    uint64_t idle_since = time_mono_ns();
    /* The clock read that ends one pass starts the next (busy_ns); only a
     * yield in between needs a read of its own. */
    uint64_t pass_start = idle_since;
    uint64_t drain_deadline = 0;
    int rc;

    if (handle_signals) {
        rc = server_signals_setup(srv);
        if (rc < 0) {
            log_error("cannot set up signal handling: %s", strerror(-rc));
            return rc;
        }
    }
    for (;;) {
        unsigned work = server_pass(srv);
        uint64_t now;

        if (atomic_load(&srv->stop_requested) && !srv->stopping) {
            /* Stop accepting: unpublish first so no new client finds us,
             * refuse new requests, finish those in flight. */
            srv->stopping = true;
            if (srv->published) {
                registry_unpublish(srv->cfg.registry_dir, srv->cfg.node_id);
                srv->published = false;
            }
            drain_deadline = time_mono_ns() + SERVER_DRAIN_NS;
            log_info("stopping: draining %u request(s)", srv->inflight);
        }
        if (srv->stopping) {
            if (srv->inflight == 0 && chunk_store_inflight(srv->chunks) == 0)
                break;
            if (time_mono_ns() > drain_deadline) {
                log_warn("stopping with %u request(s) still in flight: giving up on their "
                         "clients",
                         srv->inflight);
                server_requests_abort(srv);
                server_clients_abort(srv);
                net_progress(srv->net);
                break;
            }
        }
        if (work > 0) {
            idle_since = time_mono_ns();
            srv->stats.busy_ns += idle_since - pass_start;
            pass_start = idle_since;
            srv->busy_arms = 0;
            continue;
        }
        now = time_mono_ns();
        if (now - idle_since < spin_ns) {
            /* Idle spin, yielding on every pass: a client or another server
             * sharing this core runs at once rather than after the rest of
             * our time slice; alone on the core, a yield is one system call
             * (docs/performance.md section 13). */
            sched_yield();
            pass_start = time_mono_ns();
            continue;
        }
        server_sleep(srv, srv->stopping ? 10 : server_timer_ms(srv));
        idle_since = time_mono_ns();
        pass_start = idle_since;
    }
    rc = meta_flush(srv->meta, true);
    if (rc < 0)
        log_error("final metadata sync failed: %s", strerror(-rc));
    log_info("stopped: %llu ops served", (unsigned long long)srv->stats.ops);
    return rc < 0 ? rc : 0;
}
