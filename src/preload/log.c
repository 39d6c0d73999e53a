/*
 * log.c - the debug log of the interception library (preload.h).
 *
 * BENCHFS_PRELOAD_LOG=debug prints one line per intercepted call that
 * reached BenchFS (and per call refused with ENOTSUP) to stderr, written
 * with one write() so lines of threads and processes do not interleave.
 * Pass-through calls are not logged: the log shows what BenchFS saw.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/preload.h"

int pl_log_on;

void pl_log_init(void)
{
    const char *v = getenv("BENCHFS_PRELOAD_LOG");

    pl_log_on = v != NULL && (strcmp(v, "debug") == 0 || strcmp(v, "1") == 0);
}

void pl_log_write(const char *fmt, ...)
{
    char line[1024];
    int saved = errno, n, k;
    va_list ap;
    PL_REAL(write);

    n = snprintf(line, sizeof(line), "benchfs_preload[%d]: ", (int)getpid());
    if (n < 0)
        n = 0;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    n += k;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* Raw write: stderr's FILE may be a BenchFS stream itself. */
    if (real_write(2, line, (size_t)n) < 0)
        n = 0;
    errno = saved;
}
