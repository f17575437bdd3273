/*
 * eval/bench.c — the kernel benchmarks: GEMM, one convolution layer, the augmentation pipeline,
 * data loading; see bench.h.
 */
#include "bench.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aug/geometry.h"
#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../data/run_settings.h"
#include "../data/shapes.h"
#include "../nn/conv2d.h"
#include "../nn/gemm.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/rng.h"
#include "../nn/timer.h"
#include "../simclr.h"

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *values, size_t count)
{
    if (count == 0)
        return 0.0;
    qsort(values, count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* The best (smallest) of two times, 0 meaning none yet. */
static double best_of(double best, double seconds)
{
    return best == 0.0 || seconds < best ? seconds : best;
}

#define THREADS_SETTING(type)                                                                  \
    {"threads", NULL, SETTING_SIZE, offsetof(type, threads), 1, 1024, NULL, NULL, 0, "T",            \
     "OpenMP threads (default: all the machine offers; 1 without OpenMP)"}
#define REPS_SETTING(type, fallback)                                                           \
    {"reps", NULL, SETTING_SIZE, offsetof(type, reps), 1, 1000, NULL, NULL, 0, "R",                  \
     "timed runs after one warm-up run (default " fallback ")"}

/* ---- gemm ----------------------------------------------------------------------------------- */

typedef struct gemm_settings {
    size_t n, threads, reps;
    int shape; /* 0 nn, 1 tn, 2 nt */
} gemm_settings;

static const char *const gemm_shapes[] = {"nn", "tn", "nt", NULL};

static const setting gemm_table[] = {
    {"n", NULL, SETTING_SIZE, offsetof(gemm_settings, n), 1, 16384, NULL, NULL, 0, "N",
     "matrix size (default 1024)"},
    THREADS_SETTING(gemm_settings),
    REPS_SETTING(gemm_settings, "5"),
    {"shape", NULL, SETTING_CHOICE, offsetof(gemm_settings, shape), 0, 0, gemm_shapes, NULL, 0, NULL,
     "nn: A·B, tn: Aᵀ·B, nt: A·Bᵀ (default nn)"}};

static void gemm_defaults(void *settings)
{
    gemm_settings *s = settings;
    s->n = 1024;
    s->threads = (size_t)parallel_thread_count();
    s->reps = 5;
    s->shape = 0;
}

static int gemm_run(const void *settings, const void *model, char *line, size_t size,
                    simclr_error *err)
{
    (void)model;
    const gemm_settings *s = settings;
    const size_t n = s->n;
    const gemm_transpose ta = s->shape == 1 ? GEMM_TRANSPOSED : GEMM_NORMAL;
    const gemm_transpose tb = s->shape == 2 ? GEMM_TRANSPOSED : GEMM_NORMAL;
    size_t workspace_floats, k, r;
    float *a, *b, *c, *workspace;
    double best = 0.0;
    rng random;
    parallel_set_thread_count((int)s->threads);
    if (gemm_workspace_floats(n, n, n, &workspace_floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    a = simclr_calloc(n * n, sizeof(float), "bench gemm: A", err);
    b = simclr_calloc(n * n, sizeof(float), "bench gemm: B", err);
    c = simclr_calloc(n * n, sizeof(float), "bench gemm: C", err);
    workspace = simclr_calloc(workspace_floats, sizeof(float), "bench gemm: workspace", err);
    if (a == NULL || b == NULL || c == NULL || workspace == NULL) {
        simclr_free(a), simclr_free(b), simclr_free(c), simclr_free(workspace);
        return SIMCLR_FAILED;
    }
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 0, 0, 0);
    for (k = 0; k < n * n; k++) {
        a[k] = rng_uniform(&random);
        b[k] = rng_uniform(&random);
    }
    for (r = 0; r <= s->reps; r++) { /* r == 0 is the untimed warm-up */
        const double start = timer_seconds();
        gemm(ta, tb, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n, workspace);
        if (r > 0)
            best = best_of(best, timer_seconds() - start);
    }
    snprintf(line, size, "gemm n=%lu shape=%s threads=%d gflops=%.1f (best of %lu, tile %dx%d)",
             (unsigned long)n, gemm_shapes[s->shape], parallel_thread_count(),
             2.0 * (double)n * (double)n * (double)n / best / 1e9, (unsigned long)s->reps,
             GEMM_MR, GEMM_NR);
    simclr_free(a), simclr_free(b), simclr_free(c), simclr_free(workspace);
    return SIMCLR_OK;
}

/* ---- conv ----------------------------------------------------------------------------------- */

typedef struct conv_settings {
    size_t batch, in, out, size, kernel, stride, padding, threads, reps;
} conv_settings;

#define CONV_PADDING_AUTO ((size_t)-1)

static const setting conv_table[] = {
    {"batch", NULL, SETTING_SIZE, offsetof(conv_settings, batch), 1, 65536, NULL, NULL, 0, "B",
     "images (default 128)"},
    {"in", NULL, SETTING_SIZE, offsetof(conv_settings, in), 1, 65536, NULL, NULL, 0, "C",
     "input channels (default 64)"},
    {"out", NULL, SETTING_SIZE, offsetof(conv_settings, out), 1, 65536, NULL, NULL, 0, "O",
     "output channels (default 64)"},
    {"size", NULL, SETTING_SIZE, offsetof(conv_settings, size), 1, 4096, NULL, NULL, 0, "H",
     "input side in pixels (default 32)"},
    {"kernel", NULL, SETTING_SIZE, offsetof(conv_settings, kernel), 1, 15, NULL, NULL, 0, "K",
     "kernel side (default 3)"},
    {"stride", NULL, SETTING_SIZE, offsetof(conv_settings, stride), 1, 15, NULL, NULL, 0, "S",
     "stride (default 1)"},
    {"padding", NULL, SETTING_SIZE, offsetof(conv_settings, padding), 0, 15, NULL, NULL, 0, "P",
     "zero padding (default K / 2)"},
    THREADS_SETTING(conv_settings),
    REPS_SETTING(conv_settings, "5")};

static void conv_defaults(void *settings)
{
    conv_settings *s = settings;
    s->batch = 128;
    s->in = s->out = 64;
    s->size = 32;
    s->kernel = 3;
    s->stride = 1;
    s->padding = CONV_PADDING_AUTO;
    s->threads = (size_t)parallel_thread_count();
    s->reps = 5;
}

static int conv_run(const void *settings, const void *model, char *line, size_t size,
                    simclr_error *err)
{
    (void)model;
    const conv_settings *s = settings;
    const size_t padding = s->padding == CONV_PADDING_AUTO ? s->kernel / 2 : s->padding;
    conv2d_shape shape;
    size_t x_count, y_count, w_count, workspace_floats, i, r;
    float *x, *y, *w, *dw, *dx, *workspace;
    double best_forward = 0.0, best_backward = 0.0, flops;
    rng random;
    parallel_set_thread_count((int)s->threads);
    if (conv2d_shape_init(&shape, s->batch, s->in, s->size, s->size, s->out, s->kernel,
                          s->stride, padding, err) != SIMCLR_OK ||
        conv2d_workspace_floats(&shape, &workspace_floats, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    x_count = shape.batch * shape.in_channels * shape.in_height * shape.in_width;
    y_count = shape.batch * shape.out_channels * shape.out_height * shape.out_width;
    w_count = shape.out_channels * shape.in_channels * shape.kernel * shape.kernel;
    x = simclr_calloc(x_count, sizeof(float), "bench conv: x", err);
    dx = simclr_calloc(x_count, sizeof(float), "bench conv: dx", err);
    y = simclr_calloc(y_count, sizeof(float), "bench conv: y", err);
    w = simclr_calloc(w_count, sizeof(float), "bench conv: w", err);
    dw = simclr_calloc(w_count, sizeof(float), "bench conv: dw", err);
    workspace = simclr_calloc(workspace_floats, sizeof(float), "bench conv: workspace", err);
    if (x == NULL || dx == NULL || y == NULL || w == NULL || dw == NULL || workspace == NULL) {
        simclr_free(x), simclr_free(dx), simclr_free(y), simclr_free(w), simclr_free(dw);
        simclr_free(workspace);
        return SIMCLR_FAILED;
    }
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 2, 0, 0);
    for (i = 0; i < x_count; i++)
        x[i] = rng_uniform(&random) - 0.5f;
    for (i = 0; i < w_count; i++)
        w[i] = rng_uniform(&random) - 0.5f;
    for (r = 0; r <= s->reps; r++) { /* r == 0 is the untimed warm-up */
        const double start = timer_seconds();
        double middle;
        conv2d_forward(y, x, w, NULL, &shape, workspace);
        middle = timer_seconds();
        memset(dw, 0, w_count * sizeof(float));
        conv2d_backward(dx, dw, NULL, y, x, w, &shape, workspace); /* dy = y: any values do */
        if (r > 0) {
            best_forward = best_of(best_forward, middle - start);
            best_backward = best_of(best_backward, timer_seconds() - middle);
        }
    }
    flops = 2.0 * (double)y_count * (double)(shape.in_channels * shape.kernel * shape.kernel);
    snprintf(line, size,
             "conv batch=%lu in=%lu out=%lu size=%lu kernel=%lu stride=%lu padding=%lu "
             "threads=%d algorithm=%s forward_gflops=%.1f backward_gflops=%.1f forward_ms=%.2f "
             "backward_ms=%.2f (best of %lu)",
             (unsigned long)s->batch, (unsigned long)s->in, (unsigned long)s->out,
             (unsigned long)s->size, (unsigned long)s->kernel, (unsigned long)s->stride,
             (unsigned long)padding, parallel_thread_count(),
             winograd_applies(&shape) ? "winograd" : "im2col", flops / best_forward / 1e9,
             2.0 * flops / best_backward / 1e9, 1e3 * best_forward, 1e3 * best_backward,
             (unsigned long)s->reps);
    simclr_free(x), simclr_free(dx), simclr_free(y), simclr_free(w), simclr_free(dw);
    simclr_free(workspace);
    return SIMCLR_OK;
}

/* ---- augment -------------------------------------------------------------------------------- */

typedef struct augment_settings {
    int preset;
    size_t n, threads, reps;
} augment_settings;

static const char *const presets[] = {"cifar", "imagenet", "gray", NULL};

static const setting augment_table[] = {
    {"preset", NULL, SETTING_CHOICE, offsetof(augment_settings, preset), 0, 0, presets, NULL, 0, NULL,
     "the augmentation preset (default cifar)"},
    {"n", NULL, SETTING_SIZE, offsetof(augment_settings, n), 1, 65536, NULL, NULL, 0, "N",
     "images per batch (default 256)"},
    THREADS_SETTING(augment_settings),
    REPS_SETTING(augment_settings, "5")};

static void augment_defaults(void *settings)
{
    augment_settings *s = settings;
    s->preset = 0;
    s->n = 256;
    s->threads = (size_t)parallel_thread_count();
    s->reps = 5;
}

static int augment_run(const void *settings, const void *model, char *line, size_t size,
                       simclr_error *err)
{
    (void)model;
    const augment_settings *s = settings;
    const size_t n = s->n;
    aug_config config;
    size_t side, i, image_floats, r;
    float *pixels, *views, *workspace;
    const float **images;
    uint64_t *indices;
    double best = 0.0;
    if (aug_config_preset(&config, presets[s->preset], err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    parallel_set_thread_count((int)s->threads);
    side = strcmp(presets[s->preset], "imagenet") == 0 ? 256 : config.size;
    image_floats = 3 * side * side;
    pixels = simclr_calloc(n * image_floats, sizeof(float), "bench augment: images", err);
    views = simclr_calloc(2 * n * 3 * config.size * config.size, sizeof(float),
                          "bench augment: views", err);
    workspace = simclr_calloc(aug_batch_workspace_floats(&config, 3, side, side,
                                                         parallel_thread_count()),
                              sizeof(float), "bench augment: workspace", err);
    images = simclr_calloc(n, sizeof *images, "bench augment: pointers", err);
    indices = simclr_calloc(n, sizeof *indices, "bench augment: indices", err);
    if (pixels == NULL || views == NULL || workspace == NULL || images == NULL ||
        indices == NULL) {
        simclr_free(pixels), simclr_free(views), simclr_free(workspace);
        simclr_free((void *)images), simclr_free(indices);
        return SIMCLR_FAILED;
    }
    for (i = 0; i < n; i++) {
        shapes_image(pixels + i * image_floats, 0, SHAPES_TRAIN, i, side);
        images[i] = pixels + i * image_floats;
        indices[i] = i;
    }
    for (r = 0; r <= s->reps; r++) { /* r == 0 is the untimed warm-up */
        const double start = timer_seconds();
        aug_views_batch(views, images, indices, n, 3, side, side, &config, 0, (uint64_t)r,
                        workspace, parallel_thread_count());
        if (r > 0)
            best = best_of(best, timer_seconds() - start);
    }
    snprintf(line, size,
             "augment preset=%s image=%lux%lu views=%lu threads=%d views_per_s=%.0f (best of %lu)",
             presets[s->preset], (unsigned long)side, (unsigned long)side,
             (unsigned long)(2 * n), parallel_thread_count(), 2.0 * (double)n / best,
             (unsigned long)s->reps);
    simclr_free(pixels), simclr_free(views), simclr_free(workspace);
    simclr_free((void *)images), simclr_free(indices);
    return SIMCLR_OK;
}

/* ---- data ----------------------------------------------------------------------------------- */

typedef struct data_settings {
    char data[240];
    size_t size, limit, threads, reps;
} data_settings;

static const setting data_table[] = {
    {"data", NULL, SETTING_TEXT, offsetof(data_settings, data), 0, 0, NULL, NULL, 240, "SRC",
     "builtin:shapes (default), an IDX folder (Fashion-MNIST), a CIFAR tar.gz or folder, a "
     "folder of PNG/JPEG/PPM/PGM images"},
    {"size", NULL, SETTING_SIZE, offsetof(data_settings, size), 0, 1024, NULL, NULL, 0, "S",
     "the side of the views (default 0: the size of the preset simclr train would choose for "
     "the data)"},
    {"limit", NULL, SETTING_SIZE, offsetof(data_settings, limit), 0, 100000000, NULL, NULL, 0,
     "N", "time the first N images of an epoch's order (default 0: all)"},
    THREADS_SETTING(data_settings),
    REPS_SETTING(data_settings, "3")};

static void data_defaults(void *settings)
{
    data_settings *s = settings;
    strcpy(s->data, "builtin:shapes");
    s->size = 0;
    s->limit = 0;
    s->threads = (size_t)parallel_thread_count();
    s->reps = 3;
}

/* Decodes images order[0 .. n) (making their two views too when views is not NULL), one thread
 * per image; on failure, the reason for the first image (in order) that failed. */
static int data_pass(const dataset *data, const size_t *order, size_t n, float *views,
                     const aug_config *augment, float *workspace, size_t slot_floats,
                     unsigned char *failed, simclr_error *err)
{
    size_t k;
    long i;
    PARALLEL_FOR_DYNAMIC()
    for (i = 0; i < (long)n; i++) {
        size_t height, width;
        float *image = dataset_image_new(data, order[i], &height, &width, NULL);
        failed[i] = image == NULL;
        if (image != NULL && views != NULL)
            aug_two_views(views + (size_t)parallel_thread_index() * 2 * data->channels *
                                      augment->size * augment->size,
                          1, 0, image, data->channels, height, width, augment, 0, 0, order[i],
                          workspace + (size_t)parallel_thread_index() * slot_floats);
        simclr_free(image);
    }
    for (k = 0; k < n; k++)
        if (failed[k])
            return dataset_image_failure(data, order[k], err);
    return SIMCLR_OK;
}

static int data_run(const void *settings, const void *model, char *line, size_t size,
                    simclr_error *err)
{
    (void)model;
    const data_settings *s = settings;
    dataset data;
    aug_config augment;
    size_t *order, n, r, slot_floats, S;
    float *views, *workspace;
    unsigned char *failed;
    double start, open_seconds, decode = 0.0, both = 0.0;
    int status = SIMCLR_OK;
    simclr_training training;
    parallel_set_thread_count((int)s->threads);
    start = timer_seconds();
    if (dataset_open(&data, s->data, 1, 0, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    open_seconds = timer_seconds() - start;
    memset(&training, 0, sizeof training); /* the preset training would choose */
    if (run_settings_preset(&training, NULL, &data, err) != SIMCLR_OK) {
        dataset_close(&data);
        return SIMCLR_FAILED;
    }
    augment = training.augment;
    if (s->size > 0)
        augment.size = s->size;
    n = s->limit > 0 && s->limit < data.count ? s->limit : data.count;
    S = augment.size;
    slot_floats = aug_view_workspace_floats(&augment, data.channels, data.max_height,
                                            data.max_width);
    order = simclr_calloc(data.count, sizeof *order, "bench data: order", err);
    views = simclr_calloc((size_t)parallel_thread_count() * 2 * data.channels * S * S,
                          sizeof(float), "bench data: views", err);
    workspace = simclr_calloc((size_t)parallel_thread_count() * slot_floats, sizeof(float),
                              "bench data: workspace", err);
    failed = simclr_calloc(data.count > 0 ? data.count : 1, 1, "bench data: status", err);
    if (order == NULL || views == NULL || workspace == NULL || failed == NULL) {
        simclr_free(order), simclr_free(views), simclr_free(workspace), simclr_free(failed);
        dataset_close(&data);
        return SIMCLR_FAILED;
    }
    for (r = 0; r <= s->reps && status == SIMCLR_OK; r++) { /* run 0 warms the caches up */
        dataset_epoch_order(&data, 0, (uint64_t)r, order);
        start = timer_seconds();
        status = data_pass(&data, order, n, NULL, &augment, workspace, slot_floats, failed, err);
        if (r > 0)
            decode = best_of(decode, timer_seconds() - start);
        start = timer_seconds();
        if (status == SIMCLR_OK)
            status = data_pass(&data, order, n, views, &augment, workspace, slot_floats, failed,
                               err);
        if (r > 0)
            both = best_of(both, timer_seconds() - start);
    }
    if (status == SIMCLR_OK && data.height > 0) /* else err says which image failed */
        snprintf(line, size,
                 "data source=%s images=%lu shape=%lux%lux%lu threads=%d open_s=%.3f "
                 "images_per_s=%.0f views_per_s=%.0f (size %lu, best of %lu)",
                 s->data, (unsigned long)n, (unsigned long)data.channels,
                 (unsigned long)data.height, (unsigned long)data.width, parallel_thread_count(),
                 open_seconds, (double)n / decode, 2.0 * (double)n / both, (unsigned long)S,
                 (unsigned long)s->reps);
    else if (status == SIMCLR_OK)
        snprintf(line, size,
                 "data source=%s images=%lu shape=%lux(up to %lux%lu) threads=%d open_s=%.3f "
                 "images_per_s=%.0f views_per_s=%.0f (size %lu, best of %lu)",
                 s->data, (unsigned long)n, (unsigned long)data.channels,
                 (unsigned long)data.max_height, (unsigned long)data.max_width,
                 parallel_thread_count(), open_seconds, (double)n / decode,
                 2.0 * (double)n / both, (unsigned long)S, (unsigned long)s->reps);
    simclr_free(order), simclr_free(views), simclr_free(workspace), simclr_free(failed);
    dataset_close(&data);
    return status;
}

/* ---- step: one whole SimCLR training step ------------------------------------------------- */

typedef struct step_settings {
    simclr_config config;
    size_t threads, steps;
} step_settings;

#define STEP(flag, kind, field, low, high, name, help) \
    {flag, NULL, kind, offsetof(step_settings, field), low, high, NULL, NULL, 0, name, help}
static const setting step_table[] = {
    {"arch", NULL, SETTING_CHOICE, offsetof(step_settings, config.encoder.arch), 0, 0,
     run_settings_arch_names, run_settings_arch_values, 0, NULL, "the encoder"},
    {"stem", NULL, SETTING_CHOICE, offsetof(step_settings, config.encoder.stem), 0, 0,
     run_settings_stem_names, run_settings_stem_values, 0, NULL, "the ResNet stem"},
    STEP("batch", SETTING_SIZE, config.batch, 1, 65536, "N", "images per step, 2N views"),
    STEP("shards", SETTING_SIZE, config.shards, 1, 65536, "G",
         "the batch's sums per shard of N/G images (under mpirun: the ranks divide G)"),
    STEP("threads", SETTING_SIZE, threads, 1, 1024, "T", "OpenMP threads (default: all)"),
    STEP("size", SETTING_SIZE, config.height, 8, 4096, "P", "view side in pixels"),
    STEP("channels", SETTING_SIZE, config.channels, 1, 64, "C", "view channels"),
    STEP("width", SETTING_DOUBLE, config.encoder.width, 1e-3, 64, "W", "channel multiplier"),
    {"views-forward", NULL, SETTING_CHOICE, offsetof(step_settings, config.views_forward), 0, 0,
     run_settings_views_names, NULL, 0, NULL, "the views as one batch of 2N or two of N"},
    STEP("steps", SETTING_SIZE, steps, 1, 1000, "K", "timed steps")};

static void step_defaults(void *settings)
{
    ((step_settings *)settings)->config = simclr_config_default();
    ((step_settings *)settings)->threads = (size_t)parallel_thread_count();
    ((step_settings *)settings)->steps = 5;
}

/* model: the model's functions (the golden_simclr of eval/golden_train.h), from the program. */
static int step_run(const void *settings, const void *model, char *line, size_t size,
                    simclr_error *err)
{
    const golden_simclr *ops = model;
    step_settings s = *(const step_settings *)settings;
    simclr_model m;
    rank_traffic traffic = {0.0, 0.0, 0.0};
    char exchanges[96] = ""; /* per timed step, under mpirun */
    double times[1000], median, flops;
    rng random;
    size_t i, k;
    if (ops == NULL)
        return simclr_fail(err, "bench step: the model's functions are missing");
    parallel_set_thread_count((int)s.threads);
    s.config.width = s.config.height;
    if ((ops->ranks != NULL ? ops->model_create_ranks(&m, &s.config, ops->ranks, err)
                            : ops->model_create(&m, &s.config, err)) != SIMCLR_OK)
        return SIMCLR_FAILED;
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 1, 0, 0);
    for (i = 0; i < 2 * m.layout.local * s.config.channels * s.config.height * s.config.width;
         i++) /* the rank's views (all of them in one process) */
        m.views[i] = rng_uniform(&random);
    for (k = 0; k < s.steps + 2; k++) { /* two untimed warm-up steps, as the PyTorch peer */
        const double start = timer_seconds();
        if (k == 2 && ranks_exchange(ops->ranks) && ops->ranks->traffic != NULL)
            traffic = *ops->ranks->traffic; /* the exchanges of the timed steps */
        const float loss = ops->train_step(&m, 0.06f);
        times[k < 2 ? 0 : k - 2] = timer_seconds() - start;
        if (ops->ranks == NULL || ops->ranks->rank == 0) /* under mpirun: rank 0 tells */
            fprintf(stderr, "step %lu: loss %.4f, %.3f s\n", (unsigned long)k, (double)loss,
                    times[k < 2 ? 0 : k - 2]);
    }
    median = bench_median(times, s.steps);
    if (ranks_exchange(ops->ranks) && ops->ranks->traffic != NULL)
        snprintf(exchanges, sizeof exchanges, " exchange_s=%.3f exchange_mb=%.1f",
                 (ops->ranks->traffic->seconds - traffic.seconds) / (double)s.steps,
                 (ops->ranks->traffic->bytes - traffic.bytes) / (double)s.steps / 1e6);
    for (i = 0, flops = 0.0; i < (m.config.views_forward == SIMCLR_VIEWS_SEPARATE ? 2u : 1u); i++)
        flops += resnet_convolution_flops(&m.encoder_acts[i], &m.encoder, 1); /* this rank's */
    snprintf(line, size, "simclr-c %s/%s width=%g batch=%lu shards=%lu ranks=%d threads=%d "
             "step_s=%.3f views_per_s=%.1f effective_gflops=%.1f peak_rss_mib=%.0f%s",
             resnet_arch_name(s.config.encoder.arch), resnet_stem_name(s.config.encoder.stem),
             s.config.encoder.width, (unsigned long)s.config.batch,
             (unsigned long)(s.config.shards > 1 ? s.config.shards : 1),
             ops->ranks != NULL ? ops->ranks->size : 1, parallel_thread_count(), median,
             2.0 * (double)s.config.batch / median, flops / median / 1e9,
             timer_peak_memory_mib(), exchanges);
    ops->model_destroy(&m);
    return SIMCLR_OK;
}

/* ---- embed: the frozen encoder, inference ---------------------------------------------------- */

typedef struct embed_settings {
    resnet_config network;
    size_t size, batch, threads, steps;
} embed_settings;

#define EMBED(flag, kind, field, low, high, name, help) \
    {flag, NULL, kind, offsetof(embed_settings, field), low, high, NULL, NULL, 0, name, help}
static const setting embed_table[] = {
    {"arch", NULL, SETTING_CHOICE, offsetof(embed_settings, network.arch), 0, 0,
     run_settings_arch_names, run_settings_arch_values, 0, NULL, "the encoder"},
    {"stem", NULL, SETTING_CHOICE, offsetof(embed_settings, network.stem), 0, 0,
     run_settings_stem_names, run_settings_stem_values, 0, NULL, "the ResNet stem"},
    EMBED("batch", SETTING_SIZE, batch, 1, 65536, "N", "images per forward pass"),
    EMBED("threads", SETTING_SIZE, threads, 1, 1024, "T", "OpenMP threads (default: all)"),
    EMBED("size", SETTING_SIZE, size, 8, 4096, "P", "image side in pixels"),
    EMBED("channels", SETTING_SIZE, network.in_channels, 1, 64, "C", "image channels"),
    EMBED("width", SETTING_DOUBLE, network.width, 1e-3, 64, "W", "channel multiplier"),
    EMBED("steps", SETTING_SIZE, steps, 1, 1000, "K", "timed batches")};

static void embed_defaults(void *settings)
{
    embed_settings *s = settings;
    const simclr_config model = simclr_config_default();
    memset(s, 0, sizeof *s);
    s->network = model.encoder;
    s->network.in_channels = model.channels;
    s->size = model.height;
    s->batch = 256;
    s->threads = (size_t)parallel_thread_count();
    s->steps = 5;
}

static int embed_run(const void *settings, const void *model, char *line, size_t size,
                     simclr_error *err)
{
    const embed_settings *s = settings;
    simclr_encoder encoder;
    aug_config view;
    float *images = NULL, *features = NULL;
    double times[1000], median;
    size_t floats = 0, feature_floats = 0, i, k;
    rng random;
    int status = SIMCLR_FAILED;
    (void)model;
    parallel_set_thread_count((int)s->threads);
    memset(&encoder, 0, sizeof encoder);
    if (aug_config_preset(&view, "cifar", err) != SIMCLR_OK) /* its normalisation */
        return SIMCLR_FAILED;
    view.size = s->size;
    if (simclr_encoder_create(&encoder, &s->network, 0, &view, 0, "", s->batch, err) !=
            SIMCLR_OK ||
        tensor_element_count(4, (const size_t[4]){s->batch, s->network.in_channels, s->size,
                                                  s->size},
                             &floats, err) != SIMCLR_OK ||
        (images = simclr_calloc(floats, sizeof(float), "bench embed: images", err)) == NULL ||
        tensor_element_count(2, (const size_t[2]){s->batch, encoder.net.feature_dim},
                             &feature_floats, err) != SIMCLR_OK ||
        (features = simclr_calloc(feature_floats, sizeof(float), "bench embed: features",
                                  err)) == NULL)
        goto done;
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 1, 0, 0);
    for (i = 0; i < floats; i++)
        images[i] = rng_uniform(&random);
    for (k = 0; k < s->steps + 2; k++) { /* two untimed warm-up batches, as the PyTorch peer */
        const double start = timer_seconds();
        if (simclr_encoder_embed(&encoder, features, images, s->batch, s->size, s->size, err) !=
            SIMCLR_OK)
            goto done;
        times[k < 2 ? 0 : k - 2] = timer_seconds() - start;
        fprintf(stderr, "batch %lu: %.3f s\n", (unsigned long)k, times[k < 2 ? 0 : k - 2]);
    }
    median = bench_median(times, s->steps);
    snprintf(line, size, "simclr-c %s/%s embed width=%g size=%lu batch=%lu threads=%d "
             "batch_s=%.3f images_per_s=%.1f effective_gflops=%.1f peak_rss_mib=%.0f",
             resnet_arch_name(s->network.arch), resnet_stem_name(s->network.stem),
             s->network.width, (unsigned long)s->size, (unsigned long)s->batch,
             parallel_thread_count(), median, (double)s->batch / median,
             resnet_convolution_flops(&encoder.acts, &encoder.net, 0) / median / 1e9,
             timer_peak_memory_mib());
    status = SIMCLR_OK;
done:
    simclr_free(images), simclr_free(features);
    simclr_encoder_destroy(&encoder);
    return status;
}

/* ---- the list ------------------------------------------------------------------------------- */

#define TABLE(t) t, sizeof t / sizeof t[0]

const bench_kind bench_kinds[] = {
    {"step", "one SimCLR training step, views/s and peak memory",
     "Times one full SimCLR training step (2N views through the ResNet encoder and the\n"
     "projection head, NT-Xent, backward, SGD update) on random views: the median of K timed\n"
     "steps after 2 untimed ones, as views per second, with the peak resident memory. The\n"
     "settings match ../shared/bench/torch_step.py: SGD lr 0.06, momentum 0.9, weight decay\n"
     "5e-4, head Linear-BN-ReLU-Linear-BN with 128 outputs, temperature 0.5.",
     TABLE(step_table), sizeof(step_settings), step_defaults, step_run},
    {"embed", "the frozen encoder in evaluation mode (inference), images/s and peak memory",
     "Times the encoder alone as simclr embed runs it (evaluation mode: batch norm with running\n"
     "statistics, no gradients) on N random images at the view size: the median of K timed\n"
     "batches after 2 untimed ones, as images per second, with the peak resident memory.\n"
     "Compare with: python3 ../shared/bench/torch_embed.py (same flags).",
     TABLE(embed_table), sizeof(embed_settings), embed_defaults, embed_run},
    {"gemm", "single-precision matrix multiply, GFLOP/s",
     "Times C = A·B (or Aᵀ·B, A·Bᵀ) for N×N single-precision matrices with the library's fast\n"
     "GEMM and prints the best of R runs in GFLOP/s (2·N³ floating-point operations per run).\n"
     "Compare with: python3 ../shared/bench/openblas_sgemm.py --n N --threads T",
     TABLE(gemm_table), sizeof(gemm_settings), gemm_defaults, gemm_run},
    {"conv", "one convolution layer forward and backward, GFLOP/s",
     "Times one convolution layer as training runs it (Winograd for 3x3, stride 1, padding 1\n"
     "with at least 16 channels each way: F(2x2,3x3) forward, F(4x4,3x3) backward; im2col +\n"
     "GEMM otherwise; the line says which): the forward pass, and the backward pass (weight\n"
     "and input gradients). Prints the best of R runs of each in GFLOP/s, counting the direct\n"
     "convolution's 2·B·O·C·K²·Ho·Wo operations forward and twice that backward (Winograd does\n"
     "fewer, so its figure is an effective rate). The defaults are ResNet-18's first CIFAR\n"
     "stage at the step benchmark's 128 views.",
     TABLE(conv_table), sizeof(conv_settings), conv_defaults, conv_run},
    {"augment", "the augmentation pipeline, views/s",
     "Times the augmentation pipeline making two views of N built-in images (drawn at the\n"
     "preset's size, or 256x256 for imagenet) and prints the best of R runs in views per second.",
     TABLE(augment_table), sizeof(augment_settings), augment_defaults, augment_run},
    {"data", "data loading: opening a dataset, decoding images, making views; images/s, views/s",
     "Times data loading as training does it: opening the training split once (reading,\n"
     "inflating and checking the files, reading an image folder's headers, or drawing the\n"
     "built-in images), then, in an epoch's shuffled order and one thread per image, turning\n"
     "every image into floats (decoding PNG/JPEG files: images_per_s), and the same again with\n"
     "the two augmented views of each (the preset simclr train would choose: views_per_s). Prints the\n"
     "seconds the opening took and the best of R passes of each.",
     TABLE(data_table), sizeof(data_settings), data_defaults, data_run}};

const size_t bench_kind_count = sizeof bench_kinds / sizeof bench_kinds[0];
