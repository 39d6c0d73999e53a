/*
 * net_log.c - UCX's own log messages go through BenchFS's log.
 *
 * UCX prints warnings and errors straight to stderr ("[t] host:pid:tid
 * tcp_ep.c:... UCX ERROR ..."). A failed connection then shows the user two
 * messages, one of them UCX's internal wording, before the BenchFS error
 * that says what happened. A handler pushed on UCX's log handler stack
 * (ucs_log_push_handler, called newest first) takes over warnings and
 * errors: in a server they become warnings in the server's log (its
 * operators want them), in a client debug lines (the client's own error
 * message already names the server and the cause). Fatal messages stay with
 * UCX's default handler: UCX is about to abort, and that line is the only
 * trace of why. Setting UCX_LOG_LEVEL keeps UCX's own printing unchanged.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucs/debug/log_def.h>

static pthread_once_t net_log_once = PTHREAD_ONCE_INIT;
/* Level UCX warnings and errors are logged at (set once). */
static enum log_level net_log_level = LOG_LEVEL_WARN;

/* ucs_log_func_t: one UCX log message into our log. */
static ucs_log_func_rc_t net_log_handler(const char *file, unsigned line, const char *function,
                                         ucs_log_level_t level,
                                         const ucs_log_component_config_t *comp_conf,
                                         const char *format, va_list ap)
{
    char msg[512];
    const char *base;

    (void)function;
    (void)comp_conf;
    if (level <= UCS_LOG_LEVEL_FATAL || level > UCS_LOG_LEVEL_WARN)
        return UCS_LOG_FUNC_RC_CONTINUE;
    if (net_log_level > log_threshold)
        return UCS_LOG_FUNC_RC_STOP;
    vsnprintf(msg, sizeof(msg), format, ap);
    base = strrchr(file, '/');
    log_write(net_log_level, "UCX %s (%s:%u): %s",
              level == UCS_LOG_LEVEL_ERROR ? "error" : "warning", base != NULL ? base + 1 : file,
              line, msg);
    return UCS_LOG_FUNC_RC_STOP;
}

static void net_log_install(void)
{
    ucs_log_push_handler(net_log_handler);
}

void net_log_capture(bool quiet)
{
    const char *v = getenv("UCX_LOG_LEVEL");

    if (v != NULL && v[0] != '\0')
        return;
    net_log_level = quiet ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN;
    pthread_once(&net_log_once, net_log_install);
}
