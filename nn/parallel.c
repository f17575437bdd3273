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

size_t parallel_even_chunk(size_t items, size_t most, size_t threads)
{
    size_t chunks, c;
    if (threads <= 1 || most == 0 || items == 0)
        return most;
    chunks = (items + most - 1) / most;
    chunks = (chunks + threads - 1) / threads * threads; /* a multiple of the thread count */
    for (c = chunks; c <= 2 * chunks && c <= items; c += threads) {
        const size_t size = (items + c - 1) / c;
        if (items % size == 0 && (items / size) % threads == 0)
            return size; /* equal chunks, the same number for every thread */
    }
    return (items + chunks - 1) / chunks;
}
