/*
 * mini_log.h - tiny logging and last-error bookkeeping for BenchFS Mini.
 *
 * Mini does not depend on src/common, so it has its own ~100 lines of
 * logging: one line per event on stderr, written with a single write(2) so
 * lines of the server thread and the application thread never interleave:
 *
 *   2025-01-01T12:00:00.123456Z INFO  [mini srv0 1234] message
 *
 * The threshold comes from BENCHFS_LOG (error|warn|info|debug|trace, default
 * info), read once. The bracket holds a per-thread tag and the pid.
 *
 * mini_fail() is the one way a failure is reported: it logs the message at
 * the chosen level, keeps it as the calling thread's last error (returned by
 * benchfs_mini_errmsg) and returns the error code, so code reads
 * `return mini_fail(MINI_LOG_ERROR, -EINVAL, "bad rank %d", rank);`.
 */
#ifndef BENCHFS_MINI_LOG_H
#define BENCHFS_MINI_LOG_H

#include <stdbool.h>

enum mini_log_level {
    MINI_LOG_ERROR = 0,
    MINI_LOG_WARN,
    MINI_LOG_INFO,
    MINI_LOG_DEBUG,
    MINI_LOG_TRACE,
};

/* True if lines of `level` are printed (reads BENCHFS_LOG on first use). */
bool mini_log_enabled(enum mini_log_level level);

/* Print one line at `level` if enabled. A trailing newline is added. */
void mini_log(enum mini_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set the calling thread's tag (copied, at most 31 bytes; NULL = "mini"). */
void mini_log_set_tag(const char *tag);

/*
 * Log `fmt` at `level`, remember it as this thread's last error and return
 * `err` (a negative errno). The message is kept even if the level is muted.
 */
int mini_fail(enum mini_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* This thread's last error message, "" if none. */
const char *mini_last_error(void);

/* Forget this thread's last error message. */
void mini_clear_error(void);

/* Parse a level name (case-insensitive). Returns 0 or -EINVAL. */
int mini_log_level_parse(const char *s, enum mini_log_level *level_p);

#define mini_log_error(...) mini_log(MINI_LOG_ERROR, __VA_ARGS__)
#define mini_log_warn(...)  mini_log(MINI_LOG_WARN, __VA_ARGS__)
#define mini_log_info(...)  mini_log(MINI_LOG_INFO, __VA_ARGS__)
#define mini_log_debug(...)                        \
    do {                                           \
        if (mini_log_enabled(MINI_LOG_DEBUG))      \
            mini_log(MINI_LOG_DEBUG, __VA_ARGS__); \
    } while (0)

#endif
