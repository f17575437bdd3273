/*
 * simclr.c — SimCLR, the algorithm and the `simclr` program.
 *
 * Part 1, the algorithm (compiled into libsimclr.a with -DSIMCLR_LIBRARY_ONLY): the model —
 * encoder f(·) = ResNet, projection head g(·), contrastive loss, optimiser — and one step of the
 * paper's Algorithm 1:
 *     for a minibatch of N images, two augmented views each (x̃_0, x̃_1):
 *         h = f(x̃),  z = g(h)                      both views as one batch of 2N
 *         L = NT-Xent(z_0, z_1)                     (paper Eq. 1)
 *         update f and g to minimise L              (SGD or LARS)
 *
 * Part 2, the program (compiled into the `simclr` executable with -DSIMCLR_PROGRAM_ONLY): SimCLR
 * is trained and evaluated through this one program; each job is a subcommand with its own
 * --help. The library never prints or exits; part 2 is the only code that does: results on
 * stdout, progress and errors on stderr, exit status 0 only on success.
 *
 * Subcommands so far:
 *   simclr bench gemm [--n N] [--threads T] [--reps R] [--shape nn|tn|nt]
 *       single-precision GEMM throughput of the fast path, in GFLOP/s (best of R runs), to
 *       compare with ../shared/bench/openblas_sgemm.py on the same machine.
 *   simclr bench step [--arch A] [--stem S] [--batch N] [--threads T] ...
 *       one full SimCLR training step, in views per second, with the peak resident memory, to
 *       compare with ../shared/bench/torch_step.py.
 *   simclr bench augment [--preset P] [--n N] [--threads T]
 *       views per second of the augmentation pipeline.
 *   simclr augment --out FILE.png [--data builtin:shapes] [--n 8] [--views 6] [--preset P] ...
 *       a preview grid: one row per image, the original and several augmented views.
 */
#if defined(__unix__) || defined(__APPLE__)
#define _XOPEN_SOURCE 700 /* clock_gettime and getrusage, for timing and memory reports only */
#endif

#include "simclr.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ========================================================================================== */
/* Part 1: the algorithm                                                                      */
/* ========================================================================================== */
#ifndef SIMCLR_PROGRAM_ONLY

simclr_config simclr_config_default(void)
{
    simclr_config config;
    memset(&config, 0, sizeof config);
    config.encoder.arch = RESNET18;
    config.encoder.stem = STEM_CIFAR;
    config.encoder.width = 1.0;
    config.encoder.in_channels = 3;
    config.encoder.num_classes = 0;
    config.head = projection_head_default(0);
    config.loss = contrastive_loss_default();
    config.optimizer.kind = OPTIMIZER_SGD;
    config.optimizer.momentum = 0.9f;
    config.optimizer.weight_decay = 5e-4f;
    config.optimizer.lars_eta = 0.001f;
    config.seed = 0;
    config.batch = 64;
    config.channels = 3;
    config.height = 32;
    config.width = 32;
    return config;
}

int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err)
{
    const size_t views = 2 * config->batch;
    size_t loss_floats, view_floats;
    memset(model, 0, sizeof *model);
    model->config = *config;
    model->config.encoder.num_classes = 0;
    model->config.encoder.in_channels = config->channels;
    param_store_init(&model->store);
    if (config->batch == 0)
        return simclr_fail(err, "simclr: the batch must hold at least one image");
    if (resnet_plan(&model->encoder, &model->config.encoder, &model->store, "backbone.", err) !=
        SIMCLR_OK)
        goto failed;
    model->config.head.in_dim = model->encoder.feature_dim;
    if (model->config.head.hidden_dim == 0)
        model->config.head.hidden_dim = model->encoder.feature_dim;
    if (model->config.head.out_dim == 0)
        model->config.head.out_dim = 128;
    if (projection_head_plan(&model->head, &model->config.head, &model->store,
                             "projection_head.", err) != SIMCLR_OK ||
        param_store_allocate(&model->store, err) != SIMCLR_OK)
        goto failed;
    param_store_init_torchvision(&model->store, config->seed);
    if (resnet_activations_create(&model->encoder_acts, &model->encoder, views, config->height,
                                  config->width, err) != SIMCLR_OK ||
        head_activations_create(&model->head_acts, &model->head, views, err) != SIMCLR_OK ||
        contrastive_cache_floats(config->batch, model->config.head.out_dim, &loss_floats, err) !=
            SIMCLR_OK ||
        tensor_element_count(4, (const size_t[4]){views, config->channels, config->height,
                                                  config->width},
                             &view_floats, err) != SIMCLR_OK)
        goto failed;
    model->loss_memory = simclr_calloc(loss_floats, sizeof(float), "simclr: loss cache", err);
    model->views = simclr_calloc(view_floats, sizeof(float), "simclr: views", err);
    if (model->loss_memory == NULL || model->views == NULL ||
        optimizer_create(&model->opt, &model->config.optimizer, &model->store, err) != SIMCLR_OK)
        goto failed;
    contrastive_cache_bind(&model->loss_cache, model->loss_memory, config->batch,
                           model->config.head.out_dim);
    return SIMCLR_OK;
failed:
    simclr_model_destroy(model);
    return SIMCLR_FAILED;
}

void simclr_model_destroy(simclr_model *model)
{
    resnet_activations_destroy(&model->encoder_acts);
    head_activations_destroy(&model->head_acts);
    optimizer_destroy(&model->opt);
    simclr_free(model->loss_memory);
    simclr_free(model->views);
    param_store_destroy(&model->store);
    memset(model, 0, sizeof *model);
}

float simclr_train_step(simclr_model *model, float lr)
{
    const size_t N = model->config.batch, d = model->config.head.out_dim;
    const size_t features = model->encoder.feature_dim;
    float loss;
    memset(model->store.grads, 0, model->store.param_floats * sizeof(float));

    /* h = f(x̃), z = g(h) for the 2N views */
    resnet_forward(&model->encoder_acts, model->views, &model->encoder, &model->store, 1);
    projection_head_forward(&model->head_acts, model->encoder_acts.features, &model->head,
                            &model->store, 1);
    /* L = NT-Xent(z_0, z_1): rows 0..N-1 are view 0, rows N..2N-1 view 1 */
    loss = contrastive_loss_forward(&model->loss_cache, model->head_acts.output,
                                    model->head_acts.output + N * d, &model->config.loss, N, d);
    /* ∂L/∂z, then back through g and f */
    contrastive_loss_backward(model->head_acts.grad_output, model->head_acts.grad_output + N * d,
                              &model->loss_cache, &model->config.loss, N, d);
    projection_head_backward(&model->head_acts, &model->head, &model->store);
    memcpy(model->encoder_acts.grad_features, model->head_acts.grad_input,
           2 * N * features * sizeof(float));
    resnet_backward(&model->encoder_acts, &model->encoder, &model->store);
    optimizer_step(&model->opt, &model->store, lr);
    model->step++;
    return loss;
}

#endif /* SIMCLR_PROGRAM_ONLY */

/* ========================================================================================== */
/* Part 2: the program                                                                        */
/* ========================================================================================== */
#ifndef SIMCLR_LIBRARY_ONLY

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* Small helpers of the command line                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Wall-clock seconds from an arbitrary origin. */
static double wall_seconds(void)
{
#if defined(_OPENMP)
    return omp_get_wtime();
#elif defined(CLOCK_MONOTONIC)
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
#else
    return (double)clock() / CLOCKS_PER_SEC; /* processor time: the best plain C99 offers */
#endif
}

/* Peak resident memory of this process in MiB, or -1 where the platform cannot tell. */
static double peak_memory_mib(void)
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

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

/* Parses a whole decimal integer in [min, max]; prints the reason and returns 0 on failure. */
static int parse_long(const char *flag, const char *text, long min, long max, long *value)
{
    char *end;
    long parsed;
    errno = 0;
    parsed = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max) {
        fprintf(stderr, "simclr: %s wants a whole number from %ld to %ld, not '%s'\n", flag, min,
                max, text);
        return 0;
    }
    *value = parsed;
    return 1;
}

/* The value after flag argv[*i], advancing *i; prints the reason and returns NULL if missing. */
static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "simclr: %s needs a value\n", argv[*i]);
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench gemm                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_gemm_usage[] =
    "usage: simclr bench gemm [--n N] [--threads T] [--reps R] [--shape nn|tn|nt]\n"
    "\n"
    "Times C = A·B (or Aᵀ·B, A·Bᵀ) for N×N single-precision matrices with the library's fast\n"
    "GEMM and prints the best of R runs in GFLOP/s (2·N³ floating-point operations per run).\n"
    "\n"
    "  --n N          matrix size (default 1024)\n"
    "  --threads T    OpenMP threads (default: all the machine offers; 1 without OpenMP)\n"
    "  --reps R       timed runs after one warm-up run (default 5)\n"
    "  --shape S      nn: A·B, tn: Aᵀ·B, nt: A·Bᵀ (default nn)\n"
    "\n"
    "Compare with: python3 ../shared/bench/openblas_sgemm.py --n N --threads T\n";

static int bench_gemm(int argc, char **argv)
{
    long n = 1024, threads = parallel_thread_count(), reps = 5;
    gemm_transpose transpose_a = GEMM_NORMAL, transpose_b = GEMM_NORMAL;
    const char *shape = "nn";
    size_t count, workspace_floats, k;
    float *a = NULL, *b = NULL, *c = NULL, *workspace = NULL;
    double best = 0.0;
    simclr_error err;
    rng random;
    long r;
    int i;

    for (i = 0; i < argc; i++) {
        const char *value;
        if (is_help(argv[i])) {
            fputs(bench_gemm_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--n") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--n", value, 1, 16384, &n))
                return 2;
        } else if (strcmp(argv[i], "--threads") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[i], "--reps") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL ||
                !parse_long("--reps", value, 1, 1000, &reps))
                return 2;
        } else if (strcmp(argv[i], "--shape") == 0) {
            if ((value = flag_value(argc, argv, &i)) == NULL)
                return 2;
            if (strcmp(value, "nn") != 0 && strcmp(value, "tn") != 0 && strcmp(value, "nt") != 0) {
                fprintf(stderr, "simclr: --shape wants nn, tn or nt, not '%s'\n", value);
                return 2;
            }
            shape = value;
            transpose_a = value[0] == 't' ? GEMM_TRANSPOSED : GEMM_NORMAL;
            transpose_b = value[1] == 't' ? GEMM_TRANSPOSED : GEMM_NORMAL;
        } else {
            fprintf(stderr, "simclr: bench gemm: unknown argument '%s'\n%s", argv[i],
                    bench_gemm_usage);
            return 2;
        }
    }
    parallel_set_thread_count((int)threads);

    count = (size_t)n * (size_t)n;
    if (gemm_workspace_floats((size_t)n, (size_t)n, (size_t)n, &workspace_floats, &err) !=
        SIMCLR_OK) {
        fprintf(stderr, "simclr: bench gemm: %s\n", err.message);
        return 1;
    }
    a = (float *)malloc(count * sizeof(float));
    b = (float *)malloc(count * sizeof(float));
    c = (float *)malloc(count * sizeof(float));
    workspace = (float *)malloc(workspace_floats * sizeof(float));
    if (a == NULL || b == NULL || c == NULL || workspace == NULL) {
        fprintf(stderr, "simclr: bench gemm: out of memory for n=%ld\n", n);
        free(a), free(b), free(c), free(workspace);
        return 1;
    }
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 0, 0, 0);
    for (k = 0; k < count; k++) {
        a[k] = rng_uniform(&random);
        b[k] = rng_uniform(&random);
    }

    for (r = -1; r < reps; r++) { /* r == -1 is the untimed warm-up */
        double start = wall_seconds(), seconds;
        gemm(transpose_a, transpose_b, (size_t)n, (size_t)n, (size_t)n, 1.0f, a, (size_t)n, b,
             (size_t)n, 0.0f, c, (size_t)n, workspace);
        seconds = wall_seconds() - start;
        if (r >= 0 && (best == 0.0 || seconds < best))
            best = seconds;
    }
    printf("gemm n=%ld shape=%s threads=%d gflops=%.1f (best of %ld, tile %dx%d)\n", n, shape,
           parallel_thread_count(), 2.0 * (double)n * (double)n * (double)n / best / 1e9, reps,
           GEMM_MR, GEMM_NR);
    free(a), free(b), free(c), free(workspace);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench step                                                                          */
/* ------------------------------------------------------------------------------------------ */

static const char bench_step_usage[] =
    "usage: simclr bench step [--arch A] [--stem S] [--batch N] [--threads T] [--size P]\n"
    "                         [--channels C] [--width W] [--steps K]\n"
    "\n"
    "Times one full SimCLR training step — 2N views through the ResNet encoder and the\n"
    "projection head, NT-Xent, backward, SGD update — on random views, and prints the median\n"
    "of K timed steps (after 2 untimed ones) as views per second, with the peak resident memory.\n"
    "The settings match ../shared/bench/torch_step.py: SGD lr 0.06, momentum 0.9, weight decay\n"
    "5e-4, head Linear-BN-ReLU-Linear-BN with 128 outputs, temperature 0.5.\n"
    "\n"
    "  --arch A       resnet18 | resnet34 | resnet50 (default resnet18)\n"
    "  --stem S       cifar | imagenet (default cifar)\n"
    "  --batch N      images per step, 2N views (default 64)\n"
    "  --threads T    OpenMP threads (default: all)\n"
    "  --size P       view side in pixels (default 32)\n"
    "  --channels C   view channels (default 3)\n"
    "  --width W      channel width multiplier (default 1)\n"
    "  --steps K      timed steps (default 5)\n"
    "\n"
    "Compare with: python3 ../shared/bench/torch_step.py --arch A --stem S --batch N --threads T\n";

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_step(int argc, char **argv)
{
    simclr_config config = simclr_config_default();
    long batch = 64, threads = parallel_thread_count(), size = 32, channels = 3, steps = 5;
    double width = 1.0, *times, median;
    simclr_model model;
    simclr_error err;
    rng random;
    size_t i, count;
    long s;
    int a;

    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(bench_step_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(argv[a - 1], "--arch") == 0) {
            if (resnet_arch_parse(value, &config.encoder.arch, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --arch: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(argv[a - 1], "--stem") == 0) {
            if (resnet_stem_parse(value, &config.encoder.stem, &err) != SIMCLR_OK) {
                fprintf(stderr, "simclr: --stem: %s\n", err.message);
                return 2;
            }
        } else if (strcmp(argv[a - 1], "--batch") == 0) {
            if (!parse_long("--batch", value, 1, 65536, &batch))
                return 2;
        } else if (strcmp(argv[a - 1], "--threads") == 0) {
            if (!parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[a - 1], "--size") == 0) {
            if (!parse_long("--size", value, 8, 4096, &size))
                return 2;
        } else if (strcmp(argv[a - 1], "--channels") == 0) {
            if (!parse_long("--channels", value, 1, 64, &channels))
                return 2;
        } else if (strcmp(argv[a - 1], "--steps") == 0) {
            if (!parse_long("--steps", value, 1, 10000, &steps))
                return 2;
        } else if (strcmp(argv[a - 1], "--width") == 0) {
            char *end;
            width = strtod(value, &end);
            if (end == value || *end != '\0' || !(width > 0.0) || width > 64.0) {
                fprintf(stderr, "simclr: --width wants a number in (0, 64], not '%s'\n", value);
                return 2;
            }
        } else {
            fprintf(stderr, "simclr: bench step: unknown argument '%s'\n%s", argv[a - 1],
                    bench_step_usage);
            return 2;
        }
    }
    parallel_set_thread_count((int)threads);
    config.batch = (size_t)batch;
    config.channels = (size_t)channels;
    config.height = config.width = (size_t)size;
    config.encoder.width = width;
    config.optimizer.kind = OPTIMIZER_SGD;
    config.optimizer.momentum = 0.9f;
    config.optimizer.weight_decay = 5e-4f;
    if (simclr_model_create(&model, &config, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: bench step: %s\n", err.message);
        return 1;
    }
    count = 2 * config.batch * config.channels * config.height * config.width;
    rng_stream(&random, 0, RNG_DOMAIN_DATA, 1, 0, 0);
    for (i = 0; i < count; i++)
        model.views[i] = rng_uniform(&random);
    times = (double *)malloc((size_t)steps * sizeof(double));
    if (times == NULL) {
        fprintf(stderr, "simclr: bench step: out of memory\n");
        simclr_model_destroy(&model);
        return 1;
    }
    for (s = -2; s < steps; s++) { /* two untimed warm-up steps, as the PyTorch peer */
        double start = wall_seconds(), seconds;
        float loss = simclr_train_step(&model, 0.06f);
        seconds = wall_seconds() - start;
        fprintf(stderr, "step %ld: loss %.4f, %.3f s\n", s + 2, loss, seconds);
        if (s >= 0)
            times[s] = seconds;
    }
    qsort(times, (size_t)steps, sizeof(double), compare_doubles);
    median = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    printf("simclr-c %s/%s width=%g batch=%ld threads=%d step_s=%.3f views_per_s=%.1f "
           "peak_rss_mib=%.0f\n",
           resnet_arch_name(config.encoder.arch), resnet_stem_name(config.encoder.stem), width,
           batch, parallel_thread_count(), median, 2.0 * (double)batch / median, peak_memory_mib());
    free(times);
    simclr_model_destroy(&model);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Augmentation overrides, shared by every command that makes views                           */
/* ------------------------------------------------------------------------------------------ */

#define AUGMENTATION_FLAGS_HELP                                                                   \
    "  --size N        view side (preset's)\n"                                                  \
    "  --min-scale X   smallest crop area fraction, in (0, 1] (preset's)\n"                     \
    "  --strength X    colour jitter strength s (preset's)\n"                                    \
    "  --p-jitter X    probability of colour jitter (preset's)\n"                                \
    "  --p-gray X      probability of grayscale (preset's)\n"                                    \
    "  --p-blur X      probability of Gaussian blur (preset's)\n"                                \
    "  --p-hflip X     probability of a horizontal flip (0.5)\n"                                 \
    "  --p-vflip X     probability of a vertical flip (0)\n"

/* Parses a number in [low, high]; prints the reason naming the flag and returns 0 on failure. */
static int parse_double(const char *flag, const char *text, double low, double high,
                        double *value)
{
    char *end;
    const double parsed = strtod(text, &end);
    if (end == text || *end != '\0' || !(parsed >= low && parsed <= high)) {
        fprintf(stderr, "simclr: %s wants a number from %g to %g, not '%s'\n", flag, low, high,
                text);
        return 0;
    }
    *value = parsed;
    return 1;
}

/* Applies one augmentation override. Returns 1 if `flag` was one (0 with a message printed
 * when its value is bad: *bad is set), 0 if it is not an augmentation flag. */
static int augmentation_flag(aug_config *config, const char *flag, const char *value, int *bad)
{
    double x;
    long n;
    *bad = 0;
    if (strcmp(flag, "--size") == 0) {
        if (!parse_long(flag, value, 8, 4096, &n))
            return *bad = 1;
        config->size = (size_t)n;
        return 1;
    }
    if (strcmp(flag, "--min-scale") == 0) {
        if (!parse_double(flag, value, 1e-4, 1.0, &x))
            return *bad = 1;
        config->min_scale = x;
        return 1;
    }
    if (strcmp(flag, "--strength") == 0) {
        if (!parse_double(flag, value, 0.0, 10.0, &x))
            return *bad = 1;
        config->strength = (float)x;
        return 1;
    }
    if (strcmp(flag, "--p-jitter") == 0 || strcmp(flag, "--p-gray") == 0 ||
        strcmp(flag, "--p-blur") == 0 || strcmp(flag, "--p-hflip") == 0 ||
        strcmp(flag, "--p-vflip") == 0) {
        if (!parse_double(flag, value, 0.0, 1.0, &x))
            return *bad = 1;
        if (flag[4] == 'j')
            config->p_jitter = (float)x;
        else if (flag[4] == 'g')
            config->p_gray = (float)x;
        else if (flag[4] == 'b')
            config->p_blur = (float)x;
        else if (flag[4] == 'h')
            config->p_hflip = (float)x;
        else
            config->p_vflip = (float)x;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr augment                                                                             */
/* ------------------------------------------------------------------------------------------ */

static const char augment_usage[] =
    "usage: simclr augment --out FILE [--data SRC] [--n N] [--views V] [--preset P]\n"
    "                      [--seed S] [--split train|test] [augmentation overrides]\n"
    "\n"
    "Writes a preview grid of SimCLR's augmentations: one row per image, the original (resized\n"
    "to the view size) followed by V augmented views, as the training would draw them (without\n"
    "the final normalisation, so that colours stay viewable). PNG unless FILE ends in .ppm.\n"
    "\n"
    "  --out FILE     the image to write (required)\n"
    "  --data SRC     builtin:shapes (default), a directory of IDX files (Fashion-MNIST),\n"
    "                 cifar-10-binary.tar.gz / cifar-100-binary.tar.gz or their directories\n"
    "  --n N          images, one per row (default 8)\n"
    "  --views V      augmented views per image (default 6)\n"
    "  --preset P     cifar | imagenet | gray (default cifar)\n"
    "  --seed S       the run's seed: data and views (default 0)\n"
    "  --split W      train | test (default train)\n"
    "\n"
    "Augmentation overrides, applied after the preset:\n" AUGMENTATION_FLAGS_HELP;

static int command_augment(int argc, char **argv)
{
    const char *out = NULL, *source = "builtin:shapes", *preset = "cifar";
    long n = 8, views = 6, seed = 0;
    shapes_split split = SHAPES_TRAIN;
    aug_config config;
    simclr_error err;
    dataset data;
    size_t S, C, gap = 2, grid_h, grid_w, i, v, c, y, x;
    float *grid, *image, *cell, *workspace;
    int a, status, bad;

    /* the preset first, so that overrides apply on top of it wherever they stand */
    for (a = 0; a + 1 < argc; a++)
        if (strcmp(argv[a], "--preset") == 0)
            preset = argv[a + 1];
    if (aug_config_preset(&config, preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", err.message);
        return 2;
    }
    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(augment_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (augmentation_flag(&config, argv[a - 1], value, &bad)) {
            if (bad)
                return 2;
        } else if (strcmp(argv[a - 1], "--out") == 0)
            out = value;
        else if (strcmp(argv[a - 1], "--data") == 0)
            source = value;
        else if (strcmp(argv[a - 1], "--preset") == 0)
            preset = value;
        else if (strcmp(argv[a - 1], "--n") == 0) {
            if (!parse_long("--n", value, 1, 256, &n))
                return 2;
        } else if (strcmp(argv[a - 1], "--views") == 0) {
            if (!parse_long("--views", value, 1, 64, &views))
                return 2;
        } else if (strcmp(argv[a - 1], "--seed") == 0) {
            if (!parse_long("--seed", value, 0, LONG_MAX, &seed))
                return 2;
        } else if (strcmp(argv[a - 1], "--split") == 0) {
            if (strcmp(value, "train") != 0 && strcmp(value, "test") != 0) {
                fprintf(stderr, "simclr: --split wants train or test, not '%s'\n", value);
                return 2;
            }
            split = value[1] == 'r' ? SHAPES_TRAIN : SHAPES_TEST;
        } else {
            fprintf(stderr, "simclr: augment: unknown argument '%s'\n%s", argv[a - 1],
                    augment_usage);
            return 2;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "simclr: augment: --out FILE is required\n%s", augment_usage);
        return 2;
    }
    if (dataset_open(&data, source, split == SHAPES_TRAIN, (uint64_t)seed, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: %s\n", err.message);
        return 2;
    }
    config.normalize = 0;
    S = config.size;
    C = data.channels;
    if ((size_t)n > data.count)
        n = (long)data.count;
    grid_h = (size_t)n * S + ((size_t)n + 1) * gap;
    grid_w = (size_t)(views + 1) * S + (size_t)(views + 2) * gap + gap; /* extra gap after the original */
    grid = calloc(C * grid_h * grid_w, sizeof(float));
    image = malloc(C * data.height * data.width * sizeof(float));
    cell = malloc(C * S * S * sizeof(float));
    workspace = malloc((aug_view_workspace_floats(&config, C, data.height, data.width) +
                        C * data.height * S) * sizeof(float));
    if (grid == NULL || image == NULL || cell == NULL || workspace == NULL) {
        fprintf(stderr, "simclr: augment: out of memory\n");
        free(grid), free(image), free(cell), free(workspace);
        dataset_close(&data);
        return 1;
    }
    for (i = 0; i < C * grid_h * grid_w; i++)
        grid[i] = 1.0f; /* white gaps */
    for (i = 0; i < (size_t)n; i++) {
        const aug_crop whole = {0, 0, data.height, data.width};
        dataset_image(&data, i, image);
        for (v = 0; v <= (size_t)views; v++) {
            const size_t top = gap + i * (S + gap);
            const size_t left = gap + v * (S + gap) + (v > 0 ? gap : 0);
            if (v == 0) {
                aug_resize(cell, image, C, data.height, data.width, whole, S, S, workspace);
            } else {
                rng random;
                rng_stream(&random, (uint64_t)seed, RNG_DOMAIN_VIEW, 0, i, v - 1);
                aug_view(cell, image, C, data.height, data.width, &config, &random, workspace);
            }
            for (c = 0; c < C; c++)
                for (y = 0; y < S; y++)
                    for (x = 0; x < S; x++)
                        grid[(c * grid_h + top + y) * grid_w + left + x] = cell[(c * S + y) * S + x];
        }
    }
    status = image_write(out, grid, C, grid_h, grid_w, &err);
    dataset_close(&data);
    if (status != SIMCLR_OK)
        fprintf(stderr, "simclr: augment: %s\n", err.message);
    else
        printf("wrote %s: %ld images x (original + %ld views), %lux%lu pixels, preset %s\n", out,
               n, views, (unsigned long)grid_w, (unsigned long)grid_h, preset);
    free(grid), free(image), free(cell), free(workspace);
    return status == SIMCLR_OK ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench augment                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const char bench_augment_usage[] =
    "usage: simclr bench augment [--preset P] [--n N] [--threads T] [--reps R]\n"
    "\n"
    "Times the augmentation pipeline making two views of N built-in images (drawn at the\n"
    "preset's size, or 256x256 for imagenet) and prints the best of R runs in views per second.\n"
    "\n"
    "  --preset P     cifar | imagenet | gray (default cifar)\n"
    "  --n N          images per batch (default 256)\n"
    "  --threads T    OpenMP threads (default: all)\n"
    "  --reps R       timed runs (default 5)\n";

static int bench_augment(int argc, char **argv)
{
    const char *preset = "cifar";
    long n = 256, threads = parallel_thread_count(), reps = 5, r;
    aug_config config;
    simclr_error err;
    size_t side, i, image_floats;
    float *pixels, *views, *workspace;
    const float **images;
    uint64_t *indices;
    double best = 0.0;
    int a;
    for (a = 0; a < argc; a++) {
        const char *value;
        if (is_help(argv[a])) {
            fputs(bench_augment_usage, stdout);
            return 0;
        }
        if ((value = flag_value(argc, argv, &a)) == NULL)
            return 2;
        if (strcmp(argv[a - 1], "--preset") == 0)
            preset = value;
        else if (strcmp(argv[a - 1], "--n") == 0) {
            if (!parse_long("--n", value, 1, 65536, &n))
                return 2;
        } else if (strcmp(argv[a - 1], "--threads") == 0) {
            if (!parse_long("--threads", value, 1, 1024, &threads))
                return 2;
        } else if (strcmp(argv[a - 1], "--reps") == 0) {
            if (!parse_long("--reps", value, 1, 1000, &reps))
                return 2;
        } else {
            fprintf(stderr, "simclr: bench augment: unknown argument '%s'\n%s", argv[a - 1],
                    bench_augment_usage);
            return 2;
        }
    }
    if (aug_config_preset(&config, preset, &err) != SIMCLR_OK) {
        fprintf(stderr, "simclr: --preset: %s\n", err.message);
        return 2;
    }
    parallel_set_thread_count((int)threads);
    side = strcmp(preset, "imagenet") == 0 ? 256 : config.size;
    image_floats = 3 * side * side;
    pixels = malloc((size_t)n * image_floats * sizeof(float));
    views = malloc(2 * (size_t)n * 3 * config.size * config.size * sizeof(float));
    workspace = malloc(aug_batch_workspace_floats(&config, 3, side, side, (int)threads) *
                       sizeof(float));
    images = malloc((size_t)n * sizeof *images);
    indices = malloc((size_t)n * sizeof *indices);
    if (pixels == NULL || views == NULL || workspace == NULL || images == NULL || indices == NULL) {
        fprintf(stderr, "simclr: bench augment: out of memory\n");
        free(pixels), free(views), free(workspace), free(images), free(indices);
        return 1;
    }
    for (i = 0; i < (size_t)n; i++) {
        shapes_image(pixels + i * image_floats, 0, SHAPES_TRAIN, i, side);
        images[i] = pixels + i * image_floats;
        indices[i] = i;
    }
    for (r = -1; r < reps; r++) {
        double start = wall_seconds(), seconds;
        aug_views_batch(views, images, indices, (size_t)n, 3, side, side, &config, 0,
                        (uint64_t)(r + 1), workspace, (int)threads);
        seconds = wall_seconds() - start;
        if (r >= 0 && (best == 0.0 || seconds < best))
            best = seconds;
    }
    printf("augment preset=%s image=%lux%lu views=%ld threads=%d views_per_s=%.0f (best of %ld)\n",
           preset, (unsigned long)side, (unsigned long)side, 2 * n, parallel_thread_count(),
           2.0 * (double)n / best, reps);
    free(pixels), free(views), free(workspace), free(images), free(indices);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* simclr bench                                                                               */
/* ------------------------------------------------------------------------------------------ */

static const char bench_usage[] =
    "usage: simclr bench WHAT [options]\n"
    "\n"
    "Benchmarks, one result line each on stdout. WHAT is one of:\n"
    "  gemm     single-precision matrix multiply, GFLOP/s (simclr bench gemm --help)\n"
    "  step     one SimCLR training step, views/s and peak memory (simclr bench step --help)\n"
    "  augment  the augmentation pipeline, views/s (simclr bench augment --help)\n";

static int command_bench(int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        fputs(bench_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "gemm") == 0)
        return bench_gemm(argc - 1, argv + 1);
    if (strcmp(argv[0], "step") == 0)
        return bench_step(argc - 1, argv + 1);
    if (strcmp(argv[0], "augment") == 0)
        return bench_augment(argc - 1, argv + 1);
    fprintf(stderr, "simclr: bench: unknown benchmark '%s'\n%s", argv[0], bench_usage);
    return 2;
}

/* ------------------------------------------------------------------------------------------ */
/* main                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const char main_usage[] =
    "usage: simclr COMMAND [options]\n"
    "\n"
    "simclr-c " SIMCLR_VERSION ": SimCLR (Chen et al. 2020) in portable C99.\n"
    "\n"
    "Commands:\n"
    "  augment    preview SimCLR's augmentations as an image (simclr augment --help)\n"
    "  bench      benchmarks (simclr bench --help)\n"
    "  version    print the version and build configuration\n"
    "\n"
    "Every command takes --help.\n";

static int command_version(void)
{
    printf("simclr-c %s openmp=%s threads=%d gemm_tile=%dx%d\n", SIMCLR_VERSION,
#ifdef _OPENMP
           "on",
#else
           "off",
#endif
           parallel_thread_count(), GEMM_MR, GEMM_NR);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        return 2;
    }
    if (is_help(argv[1])) {
        fputs(main_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "bench") == 0)
        return command_bench(argc - 2, argv + 2);
    if (strcmp(argv[1], "augment") == 0)
        return command_augment(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
        return command_version();
    fprintf(stderr, "simclr: unknown command '%s'\n%s", argv[1], main_usage);
    return 2;
}

#endif /* SIMCLR_LIBRARY_ONLY */
