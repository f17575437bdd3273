/*
 * simclr.c — the `simclr` program.
 *
 * SimCLR (Chen et al. 2020) is trained and evaluated through this one program; each job is a
 * subcommand with its own --help. The library (libsimclr.a, API in simclr.h) never prints or
 * exits; this file is the only place that does: results on stdout, progress and errors on stderr,
 * exit status 0 only on success.
 *
 * Subcommands so far:
 *   simclr bench gemm [--n N] [--threads T] [--reps R] [--shape nn|tn|nt]
 *       single-precision GEMM throughput of the fast path, in GFLOP/s (best of R runs), to
 *       compare with ../shared/bench/openblas_sgemm.py on the same machine.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for wall-clock timing only */

#include "simclr.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
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
/* simclr bench                                                                               */
/* ------------------------------------------------------------------------------------------ */

static const char bench_usage[] =
    "usage: simclr bench WHAT [options]\n"
    "\n"
    "Benchmarks, one result line each on stdout. WHAT is one of:\n"
    "  gemm     single-precision matrix multiply, GFLOP/s (simclr bench gemm --help)\n";

static int command_bench(int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        fputs(bench_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "gemm") == 0)
        return bench_gemm(argc - 1, argv + 1);
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
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
        return command_version();
    fprintf(stderr, "simclr: unknown command '%s'\n%s", argv[1], main_usage);
    return 2;
}
