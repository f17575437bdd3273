/*
 * eval/bench.h — benchmarks of the library's kernels, each measured as training runs it and
 * reported as one line of text (the `simclr bench WHAT` commands print it):
 *
 *   gemm     C = A·B (or Aᵀ·B, A·Bᵀ) for N×N single-precision matrices, GFLOP/s (2·N³ per run)
 *   conv     one convolution layer forward and backward, GFLOP/s of the direct convolution's
 *            operation count (Winograd does fewer, so its figure is an effective rate)
 *   augment  the augmentation pipeline making two views of N built-in images, views/s
 *   data     opening a dataset once, then turning an epoch of it into floats, images/s
 *
 * Every benchmark is described by a bench_kind: its settings as a table (data/settings.h) over
 * its own settings struct, defaults, and the function that runs it. Times are the best of R
 * runs after one untimed warm-up run. The whole SimCLR training step is benchmarked by the
 * program itself (`simclr bench step`), since it needs the model of simclr.h.
 */
#ifndef SIMCLR_EVAL_BENCH_H
#define SIMCLR_EVAL_BENCH_H

#include <stddef.h>

#include "../data/settings.h"
#include "../nn/error.h"

typedef struct bench_kind {
    const char *name;             /* "gemm" */
    const char *summary;          /* one line for `simclr bench --help` */
    const char *description;      /* the paragraph of `simclr bench NAME --help` */
    const setting *settings;      /* the flags, over a struct of settings_size bytes */
    size_t setting_count, settings_size;
    void (*defaults)(void *settings);
    /* Runs the benchmark (setting the thread count it asks for) and writes its line. */
    int (*run)(const void *settings, char *line, size_t size, simclr_error *err);
} bench_kind;

extern const bench_kind bench_kinds[];
extern const size_t bench_kind_count;

/* The median of `count` numbers (sorts them). */
double bench_median(double *values, size_t count);

#endif
