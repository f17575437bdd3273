/*
 * nn/parallel.h — the thread count, with or without OpenMP.
 *
 * OpenMP is optional (built with OPENMP=1, the default where the compiler supports it). Kernels
 * parallelise only over independent outputs and reduce in a fixed order, so every result is the
 * same bits for any thread count; these two calls only change how fast that happens.
 */
#ifndef SIMCLR_NN_PARALLEL_H
#define SIMCLR_NN_PARALLEL_H

#include <stddef.h>

/* Parallel loops. Written as PARALLEL_FOR(clauses) on the line before a `for`, this is
 * `#pragma omp parallel for schedule(static) clauses` under OpenMP and nothing without it (so a
 * build without OpenMP sees no unknown pragma). Static scheduling is not needed for determinism —
 * each iteration writes its own outputs — but it keeps the work split predictable. */
#define SIMCLR_PRAGMA(text) _Pragma(#text)
#ifdef _OPENMP
#define PARALLEL_FOR(clauses) SIMCLR_PRAGMA(omp parallel for schedule(static) clauses)
#else
#define PARALLEL_FOR(clauses)
#endif

/* The same with iterations handed out one at a time as threads become free, for loops whose
 * iterations differ in cost. Results still never depend on which thread ran what. */
#ifdef _OPENMP
#define PARALLEL_FOR_DYNAMIC(clauses) SIMCLR_PRAGMA(omp parallel for schedule(dynamic, 1) clauses)
#else
#define PARALLEL_FOR_DYNAMIC(clauses)
#endif

/* Loops that run in parallel but end each iteration with a step done in iteration order:
 * PARALLEL_FOR_ORDERED(clauses) on the line before the `for`, IN_ITERATION_ORDER on the line
 * before that step's block. Iterations are dealt out one at a time in turn (thread 0 takes 0,
 * T, 2T, ...); the step of iteration i waits until that of i − 1 is done, so a sum made there
 * adds its terms in iteration order for any thread count. Without OpenMP, a plain loop. */
#ifdef _OPENMP
#define PARALLEL_FOR_ORDERED(clauses) \
    SIMCLR_PRAGMA(omp parallel for schedule(static, 1) ordered clauses)
#define IN_ITERATION_ORDER SIMCLR_PRAGMA(omp ordered)
#else
#define PARALLEL_FOR_ORDERED(clauses)
#define IN_ITERATION_ORDER
#endif

/* The number of threads parallel regions will use: 1 without OpenMP. */
int parallel_thread_count(void);

/* Inside a parallel loop: the index of the running thread, 0 .. count − 1 (0 without OpenMP). */
int parallel_thread_index(void);

/* How many items a chunk should hold, at most `most`, when `threads` threads each take whole
 * chunks of `items` items: the first chunk count, from the fewest multiple of the thread count
 * up to twice that, that cuts the items into equal chunks, one count per thread alike (32 images
 * in chunks of at most 6 for 2 threads: 8 chunks of 4, not 5 of 6 and one of 2). Where no such
 * cut exists, the fewest-multiple count's size, which shares the items as evenly as whole chunks
 * allow but not always equally (65 in at most 32 for 2 threads: 17, 17, 17 and 14). `most`
 * itself for one thread. With the thread count as `threads`, only for loops whose results do not
 * depend on how the items are cut; a loop whose results do (a sum over the chunks in order) passes
 * a constant instead, and its cut then depends on the items alone. */
size_t parallel_even_chunk(size_t items, size_t most, size_t threads);

/* 1 when the library was built with OpenMP, 0 without. */
int parallel_openmp(void);

/* Sets the number of threads (values below 1 leave it as it is: by default all the machine
 * offers); a no-op without OpenMP. */
void parallel_set_thread_count(int threads);

#endif
