/*
 * libc.c - process-wide libc state that loading BenchFS must not disturb.
 *
 * libbenchfs and UCX run inside the program's process. A few libc
 * functions keep hidden process-wide state, and UCX uses them: strtok
 * (while loading, to parse its configuration and the host name) and
 * localtime (log timestamps). A program in the middle of its own strtok
 * loop whose next call happens to be the first BenchFS call (IO500 creating
 * its directories: strtok over the path, stat and mkdir of each prefix)
 * would find its tokenizer reset. So this library interposes both and
 * gives calls made on BenchFS's behalf (pl_in_lib: inside a libbenchfs call
 * or while connecting) their own state; the program's calls keep theirs,
 * exactly as libc would.
 *
 * UCX also installs handlers for SIGSEGV, SIGBUS, SIGILL and SIGFPE (its
 * backtrace printer) when it loads, replacing whatever the program set up;
 * pl_api_load turns that off (UCX_ERROR_SIGNALS empty) unless the user set
 * it (docs/preload.md).
 */
#include <string.h>
#include <time.h>

#include "preload/preload.h"

__thread int pl_in_lib;

static bool pl_for_lib(void)
{
    return pl_in_lib > 0 || pl_connecting;
}

PL_EXPORT char *strtok(char *s, const char *delim)
{
    static char *app_save; /* libc's is process-wide too */
    static __thread char *lib_save;

    return strtok_r(s, delim, pl_for_lib() ? &lib_save : &app_save);
}

PL_EXPORT struct tm *localtime(const time_t *t)
{
    static struct tm app_tm;
    static __thread struct tm lib_tm;

    return localtime_r(t, pl_for_lib() ? &lib_tm : &app_tm);
}
