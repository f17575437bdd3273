/*
 * nn/timer.h — wall-clock time and peak memory, for progress reports and benchmarks only:
 * nothing a result depends on reads them.
 *
 *   timer_seconds()      seconds from an arbitrary origin: omp_get_wtime() with OpenMP, else
 *                        clock_gettime(CLOCK_MONOTONIC) where POSIX offers it, else clock()
 *                        (processor time: the best plain C99 offers)
 *   timer_peak_memory_mib()  the peak resident memory of this process in MiB (getrusage), or
 *                        -1 where the platform cannot tell
 */
#ifndef SIMCLR_NN_TIMER_H
#define SIMCLR_NN_TIMER_H

double timer_seconds(void);
double timer_peak_memory_mib(void);

#endif
