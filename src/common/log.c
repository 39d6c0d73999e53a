/*
 * log.c - the one-line-per-event stderr logger declared in log.h.
 *
 * A line is formatted completely in a stack buffer and handed to the kernel
 * with a single write(2), so lines from concurrent threads (or from several
 * processes sharing one stderr pipe) never interleave. Lines are capped at
 * LOG_LINE_MAX bytes, which equals PIPE_BUF on Linux: a write of that size to
 * a pipe is atomic. Nothing here allocates, so logging works when malloc
 * does not.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_NODE_MAX 64 /* bytes including the NUL */
#define LOG_ENV      "BENCHFS_LOG"

enum log_level log_threshold = LOG_LEVEL_INFO;

/*
 * The node id may be changed by one thread while others log; a mutex keeps a
 * reader from seeing half of a new id. It is held only for a 64-byte copy.
 */
static pthread_mutex_t log_node_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_node_id[LOG_NODE_MAX];

static const char *const log_level_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const log_level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

#define LOG_LEVEL_COUNT (sizeof(log_level_names) / sizeof(log_level_names[0]))

_Static_assert(LOG_LEVEL_COUNT == LOG_LEVEL_TRACE + 1, "one name per log level");
_Static_assert(sizeof(log_level_tags) == sizeof(log_level_names), "one tag per log level");

static int log_level_valid(enum log_level level)
{
    return (unsigned)level < LOG_LEVEL_COUNT;
}

int log_level_parse(const char *s, enum log_level *level_p)
{
    size_t i;

    if (s == NULL)
        return -EINVAL;
    for (i = 0; i < LOG_LEVEL_COUNT; i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *level_p = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
    return log_level_valid(level) ? log_level_names[level] : "?";
}

void log_set_node_id(const char *node_id)
{
    pthread_mutex_lock(&log_node_lock);
    if (node_id == NULL)
        node_id = "";
    /* snprintf truncates to LOG_NODE_MAX - 1 bytes and always terminates. */
    snprintf(log_node_id, sizeof(log_node_id), "%s", node_id);
    pthread_mutex_unlock(&log_node_lock);
}

void log_init(enum log_level level, const char *node_id)
{
    const char *env = getenv(LOG_ENV);
    enum log_level env_level;

    if (!log_level_valid(level))
        level = LOG_LEVEL_INFO;
    log_set_node_id(node_id);

    /* An empty BENCHFS_LOG counts as unset, as with `BENCHFS_LOG= cmd`. */
    if (env == NULL || env[0] == '\0') {
        log_threshold = level;
        return;
    }
    if (log_level_parse(env, &env_level) == 0) {
        log_threshold = env_level;
        return;
    }
    log_threshold = level;
    /*
     * Written whatever the threshold: a user who asked for more logging and
     * misspelled it must be told, even when the configured level is "error".
     */
    log_write(LOG_LEVEL_WARN,
              "%s='%.64s' is not a log level (error, warn, info, debug, trace); "
              "using '%s'",
              LOG_ENV, env, log_level_name(level));
}

/* Append "2026-11-21T10:12:37.123456Z" to buf; returns the bytes written. */
static size_t log_format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    size_t n;
    int m;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    m = snprintf(buf + n, len - n, ".%06ldZ", (long)(ts.tv_nsec / 1000));
    if (m < 0 || (size_t)m >= len - n)
        return n;
    return n + (size_t)m;
}

/* write(2) all of buf, retrying on EINTR and short writes; errors are dropped. */
static void log_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    char node[LOG_NODE_MAX];
    size_t len, start, i;
    int saved_errno = errno; /* callers may log with %m and expect errno intact */
    va_list ap;
    int n;

    if (!log_level_valid(level))
        level = LOG_LEVEL_ERROR;

    pthread_mutex_lock(&log_node_lock);
    memcpy(node, log_node_id, sizeof(node));
    pthread_mutex_unlock(&log_node_lock);

    /* Reserve one byte for the '\n' that ends every line. */
    len = log_format_time(line, sizeof(line) - 1);
    if (node[0] != '\0')
        n = snprintf(line + len, sizeof(line) - 1 - len, " %s [%s] ", log_level_tags[level], node);
    else
        n = snprintf(line + len, sizeof(line) - 1 - len, " %s ", log_level_tags[level]);
    /* The prefix always fits: a time stamp, a 5-byte tag and a 63-byte node id. */
    if (n > 0)
        len += (size_t)n;

    start = len;
    errno = saved_errno;
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - 1 - len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        if ((size_t)n < sizeof(line) - 1 - len) {
            len += (size_t)n;
        } else {
            /* Truncated: fill the line up to its '\n' and say so rather than cut silently. */
            len = sizeof(line) - 1;
            memcpy(line + len - 3, "...", 3);
        }
    }

    /* One event, one line: a trailing newline is dropped, inner ones become spaces. */
    if (len > start && line[len - 1] == '\n')
        len--;
    for (i = start; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';

    log_write_all(line, len);
    errno = saved_errno;
}
