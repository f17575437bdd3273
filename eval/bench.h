/*
 * eval/bench.h — benchmarks of the library's kernels, each measured as training runs it and
 * reported as one line of text (the `simclr bench WHAT` commands print it):
 *
 *   step     one whole SimCLR training step (simclr.h's model), views/s, effective GFLOP/s (the
 *            convolutions' direct operation count over the time) and peak memory
 *   embed    the frozen encoder in evaluation mode (eval/encoder.h), images/s, effective
 *            GFLOP/s and peak memory
 *   gemm     C = A·B (or Aᵀ·B, A·Bᵀ) for N×N single-precision matrices, GFLOP/s (2·N³ per run)
 *   conv     one convolution layer forward and backward, GFLOP/s of the direct convolution's
 *            operation count (Winograd does fewer, so its figure is an effective rate)
 *   augment  the augmentation pipeline making two views of N built-in images, views/s
 *   data     opening a dataset once, then turning an epoch of it into floats, images/s
 *
 * Every benchmark is described by a bench_kind: its settings as a table (data/settings.h) over
 * its own settings struct, defaults, and the function that runs it. Times are the best of R
 * runs after one untimed warm-up run; the step's, the median of K after two warm-up steps. The
 * step benchmark calls the model's functions through the pointers the program hands over (the
 * golden_simclr of eval/golden_train.h, as the reference cases do), never by name.
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
    /* Runs the benchmark (setting the thread count it asks for) and writes its line; `model`
     * is the step benchmark's const golden_simclr * (the others ignore it). */
    int (*run)(const void *settings, const void *model, char *line, size_t size,
               simclr_error *err);
} bench_kind;

extern const bench_kind bench_kinds[];
extern const size_t bench_kind_count;

/* The median of `count` numbers (sorts them). */
double bench_median(double *values, size_t count);

#endif
