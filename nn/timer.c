/*
 * nn/timer.c — wall-clock time and peak memory; see timer.h.
 */
#if defined(__unix__) || defined(__APPLE__)
#define _XOPEN_SOURCE 700 /* clock_gettime and getrusage */
#endif

#include "timer.h"

#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

double timer_seconds(void)
{
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(CLOCK_MONOTONIC)
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

double timer_peak_memory_mib(void)
{
#if defined(__unix__) || defined(__APPLE__)
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1.0;
#if defined(__APPLE__)
    return (double)usage.ru_maxrss / (1024.0 * 1024.0); /* bytes on macOS */
#else
    return (double)usage.ru_maxrss / 1024.0; /* KiB on Linux and the BSDs */
#endif
#else
    return -1.0;
#endif
}
