/*
 * mini_log.c - see mini_log.h. Thread-safe: the threshold is set once under
 * pthread_once, tags and last errors are thread-local, and each line is one
 * write(2).
 */
#include "mini/mini_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MINI_LOG_LINE_MAX 2048

static enum mini_log_level log_threshold = MINI_LOG_INFO;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static _Thread_local char log_tag[32] = "mini";
static _Thread_local char last_error[512];

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};
static const char *const level_labels[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

int mini_log_level_parse(const char *s, enum mini_log_level *level_p)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *level_p = (enum mini_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

static void log_read_env(void)
{
    const char *env = getenv("BENCHFS_LOG");
    enum mini_log_level level;

    if (env == NULL || *env == '\0')
        return;
    if (mini_log_level_parse(env, &level) == 0)
        log_threshold = level;
    else
        fprintf(stderr, "benchfs_mini: ignoring invalid BENCHFS_LOG=%s\n", env);
}

bool mini_log_enabled(enum mini_log_level level)
{
    pthread_once(&log_once, log_read_env);
    return level <= log_threshold;
}

void mini_log_set_tag(const char *tag)
{
    snprintf(log_tag, sizeof(log_tag), "%s", tag != NULL ? tag : "mini");
}

/* Format one line into `line` (always NUL-terminated, ends with '\n'). */
static size_t log_format(char *line, size_t size, enum mini_log_level level, const char *fmt,
                         va_list ap) __attribute__((format(printf, 4, 0)));

static size_t log_format(char *line, size_t size, enum mini_log_level level, const char *fmt,
                         va_list ap)
{
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, size, "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, size - n, ".%06ldZ %s [%s %d] ", (long)tv.tv_usec, level_labels[level],
                 log_tag, (int)getpid());
    if (r > 0)
        n += (size_t)r < size - n ? (size_t)r : size - n - 1;
    r = vsnprintf(line + n, size - n, fmt, ap);
    if (r > 0)
        n += (size_t)r < size - n ? (size_t)r : size - n - 1;
    /* Keep room for the newline even when the message was truncated. */
    if (n > size - 2)
        n = size - 2;
    line[n++] = '\n';
    line[n] = '\0';
    return n;
}

static void log_emit(const char *line, size_t n)
{
    /* stderr is unbuffered; a single write keeps the line whole. */
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        n -= (size_t)w;
    }
}

void mini_log(enum mini_log_level level, const char *fmt, ...)
{
    char line[MINI_LOG_LINE_MAX];
    va_list ap;
    size_t n;

    if (!mini_log_enabled(level))
        return;
    va_start(ap, fmt);
    n = log_format(line, sizeof(line), level, fmt, ap);
    va_end(ap);
    log_emit(line, n);
}

int mini_fail(enum mini_log_level level, int err, const char *fmt, ...)
{
    char line[MINI_LOG_LINE_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    if (mini_log_enabled(level)) {
        va_start(ap, fmt);
        n = log_format(line, sizeof(line), level, fmt, ap);
        va_end(ap);
        log_emit(line, n);
    }
    return err;
}

const char *mini_last_error(void)
{
    return last_error;
}

void mini_clear_error(void)
{
    last_error[0] = '\0';
}
