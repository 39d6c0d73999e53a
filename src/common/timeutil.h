/*
 * timeutil.h - clocks. Monotonic nanoseconds for deadlines and latency,
 * real-time nanoseconds for file times.
 */
#ifndef BENCHFS_COMMON_TIMEUTIL_H
#define BENCHFS_COMMON_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t time_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
