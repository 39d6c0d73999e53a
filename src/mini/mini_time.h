/*
 * mini_time.h - clocks used by BenchFS Mini: a monotonic clock for deadlines
 * and a wall clock for log lines that are compared across hosts.
 */
#ifndef BENCHFS_MINI_TIME_H
#define BENCHFS_MINI_TIME_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t mini_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Wall-clock time in seconds (microsecond resolution), for logs. */
static inline double mini_wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

/* Milliseconds from now until `deadline_ns`, clamped to [0, INT32_MAX]. */
static inline int mini_ms_until(uint64_t deadline_ns)
{
    uint64_t now = mini_now_ns();
    uint64_t ms;

    if (deadline_ns <= now)
        return 0;
    ms = (deadline_ns - now + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

#endif
