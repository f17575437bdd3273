/*
 * nn/parallel.c — thread-count control; see nn/parallel.h.
 */
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int parallel_thread_count(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int parallel_thread_index(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int parallel_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void parallel_set_thread_count(int threads)
{
#ifdef _OPENMP
    if (threads >= 1) /* 0: the count stays as it is */
        omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}
