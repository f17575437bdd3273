/*
 * nn/timer.c — wall-clock time and peak memory; see timer.h.
 */
/* The clock, chosen by what the platform has: OpenMP's omp_get_wtime when OpenMP is on; on
 * Windows the performance counter (mingw-w64 defines CLOCK_MONOTONIC, but clock_gettime is in
 * winpthreads, which a plain link does not bring); elsewhere POSIX clock_gettime(CLOCK_MONOTONIC)
 * where <time.h> defines it (Unix, WASI); else C's clock(), processor time. */
#if !defined(_WIN32)
#define _XOPEN_SOURCE 700 /* clock_gettime, and getrusage where there is <sys/resource.h> */
#endif

#include "timer.h"

#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#elif defined(_WIN32)
#include <windows.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

double timer_seconds(void)
{
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(_WIN32)
    LARGE_INTEGER count, frequency;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&frequency);
    return (double)count.QuadPart / (double)frequency.QuadPart;
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
