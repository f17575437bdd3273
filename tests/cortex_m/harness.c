/*
 * tests/cortex_m/harness.c — the library on a microcontroller: what a Cortex-M4 or Cortex-M33
 * (no file system, no heap but a static arena, single-precision FPU) computes, printed so that
 * it can be compared byte for byte with the same program built for x86-64.
 *
 * It prints, on standard output (semihosting under qemu-system-arm):
 *   1. the small reference cases of `simclr golden` (every op, the random streams, the initial
 *      weights and the views: tests/small_cases.txt, which the trimmed rows of make
 *      check-portable write), produced in memory through golden_emit_all: for each file its
 *      name, size and the FNV-1a 64-bit hash of its bytes, which are the bytes `simclr golden
 *      --cases ...` writes;
 *   2. three training steps of a tiny SimCLR model (ResNet-18 at width 1/16, CIFAR stem, head
 *      16 → 8, N = 4 images of the built-in shapes, 16 × 16 views, SGD): each loss as its bits
 *      and in decimal, and how many allocations the step made (none, it must be);
 *   3. the embedding of two built-in test images by an encoder compiled in as a const array (the
 *      file of `simclr export`, turned into encoder_file.h by tests/cortex_m/bytes_to_c.py and
 *      read from memory with simclr_encoder_load_bytes): every feature's bits, a hash of them;
 *   4. lines starting with '#' that differ by machine and are not compared: the arena's
 *      high-water mark of each part and of the whole run, the stack's deepest use (on the
 *      microcontroller), and the time taken (under qemu the semihosting clock: the emulator's
 *      time on the host, not the microcontroller's).
 * The library is built with FILES=0 (SIMCLR_NO_FILES: no file system) and the arena of
 * tests/cortex_m/arena.h as its allocator; nothing here opens a file.
 *
 * Build and run: tests/check_cortex_m.sh (make check-cortex-m), which builds this harness for
 * x86-64 and for both boards, runs them and compares the outputs.
 */
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__arm__) && defined(__PICOLIBC__)
#include <semihost.h> /* sys_semihost_clock */
#endif

#include "simclr.h"
#include "tests/cortex_m/arena.h"

#include "encoder_file.h" /* encoder_file[], encoder_file_size: made by bytes_to_c.py */

/* The reference cases to digest: the small cases of tests/small_cases.txt, given by the build
 * (-DHARNESS_CASES='"conv2d,..."'). */
#ifndef HARNESS_CASES
#error "build with -DHARNESS_CASES set to the cases, quoted (tests/check_cortex_m.sh does)"
#endif
#define HARNESS_STEPS 3
#define HARNESS_BATCH 4
#define HARNESS_VIEW_SIDE 16
#define HARNESS_EMBED_IMAGES 2

/* FNV-1a, 64 bits: offset basis 0xcbf29ce484222325, prime 0x100000001b3. */
static uint64_t fnv1a64(uint64_t hash, const uint8_t *bytes, size_t size)
{
    size_t i;
    for (i = 0; i < size; i++) {
        hash ^= bytes[i];
        hash *= UINT64_C(0x100000001b3);
    }
    return hash;
}
#define FNV1A64_START UINT64_C(0xcbf29ce484222325)

/* A 64-bit value as 16 hex digits (unsigned long may be 32 bits). */
static void print_hex64(uint64_t value)
{
    printf("%08lx%08lx", (unsigned long)(value >> 32), (unsigned long)(value & 0xffffffffu));
}

static uint32_t float_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

/* Seconds since some start: on picolibc for Arm the semihosting clock (SYS_CLOCK, hundredths
 * of a second of the host running the emulator), elsewhere C's clock(). */
static double seconds_now(void)
{
#if defined(__arm__) && defined(__PICOLIBC__)
    return (double)sys_semihost_clock() / 100.0;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

/* The sink of golden_emit_all: one line per file. */
static int print_case(const char *file_name, const uint8_t *bytes, size_t size, void *context,
                      simclr_error *err)
{
    size_t *files = (size_t *)context;
    (void)err;
    printf("case %s %lu ", file_name, (unsigned long)size);
    print_hex64(fnv1a64(FNV1A64_START, bytes, size));
    printf("\n");
    (*files)++;
    return SIMCLR_OK;
}

/* The model's functions, as `simclr golden` passes them: the cases chosen here train no
 * model, but README.txt then describes the training cases as the program's does. */
static const golden_simclr harness_model = {simclr_model_create, simclr_model_destroy,
                                            simclr_batch_of_views, simclr_train_step,
                                            simclr_model_create_ranks, NULL};

static int reference_cases(simclr_error *err)
{
    size_t files = 0;
    const double start = seconds_now();
    if (golden_emit_all(HARNESS_CASES, golden_train_cases, (void *)&harness_model, print_case,
                        &files, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    printf("cases: %lu files\n", (unsigned long)files);
    printf("# cases: %.2f s, arena high-water %lu bytes\n", seconds_now() - start,
           (unsigned long)arena_high_water());
    return SIMCLR_OK;
}

/* Three steps of SimCLR on the first images of the built-in shapes. */
static int training_steps(simclr_error *err)
{
    static const size_t order[HARNESS_BATCH] = {0, 1, 2, 3};
    simclr_config config = simclr_config_default();
    simclr_model model;
    aug_config augment;
    aug_batch workspace;
    dataset shapes;
    size_t step;
    int status = SIMCLR_OK;
    double seconds = 0.0;
    config.batch = HARNESS_BATCH;
    config.channels = 3;
    config.height = config.width = HARNESS_VIEW_SIDE;
    config.seed = 2020;
    config.encoder.arch = RESNET18;
    config.encoder.stem = STEM_CIFAR;
    config.encoder.width = 0.0625;
    config.head.hidden_dim = 16;
    config.head.out_dim = 8;
    if (aug_config_preset(&augment, "cifar", err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    augment.size = HARNESS_VIEW_SIDE;
    if (dataset_open(&shapes, "builtin:shapes", 1, 2020, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (simclr_model_create(&model, &config, err) != SIMCLR_OK) {
        dataset_close(&shapes);
        return SIMCLR_FAILED;
    }
    if (aug_batch_create(&workspace, HARNESS_BATCH, &augment, &shapes, err) != SIMCLR_OK) {
        simclr_model_destroy(&model);
        dataset_close(&shapes);
        return SIMCLR_FAILED;
    }
    printf("train: ResNet-18 width 1/16, CIFAR stem, head 16-8, N %d, views %dx%d, %lu "
           "parameters\n", HARNESS_BATCH, HARNESS_VIEW_SIDE, HARNESS_VIEW_SIDE,
           (unsigned long)model.store.param_floats);
    for (step = 0; step < HARNESS_STEPS && status == SIMCLR_OK; step++) {
        const unsigned long views_before = simclr_allocation_count();
        unsigned long step_before;
        double start;
        float loss;
        status = simclr_batch_of_views(&model, &workspace, &shapes, order, 0, &augment, step,
                                       err);
        if (status != SIMCLR_OK)
            break;
        step_before = simclr_allocation_count();
        start = seconds_now();
        loss = simclr_train_step(&model, 0.1f);
        seconds += seconds_now() - start;
        printf("step %lu loss %08lx %.9g allocations: views %lu, step %lu\n",
               (unsigned long)step, (unsigned long)float_bits(loss), (double)loss,
               step_before - views_before, simclr_allocation_count() - step_before);
    }
    if (status == SIMCLR_OK)
        printf("# train: %.3f s per step (the step alone, views excluded), arena high-water "
               "%lu bytes\n", seconds / HARNESS_STEPS, (unsigned long)arena_high_water());
    aug_batch_destroy(&workspace);
    simclr_model_destroy(&model);
    dataset_close(&shapes);
    return status;
}

/* h = f(x) for two built-in test images, f the encoder compiled in. */
static int embedding(simclr_error *err)
{
    simclr_encoder encoder;
    dataset shapes;
    float images[HARNESS_EMBED_IMAGES * 3 * SHAPES_SIDE * SHAPES_SIDE];
    float *features;
    size_t i, count;
    uint64_t hash = FNV1A64_START;
    const double start = seconds_now();
    if (dataset_open(&shapes, "builtin:shapes", 0, 2020, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    for (i = 0; i < HARNESS_EMBED_IMAGES; i++)
        if (dataset_image(&shapes, i, images + i * 3 * SHAPES_SIDE * SHAPES_SIDE, err) !=
            SIMCLR_OK) {
            dataset_close(&shapes);
            return SIMCLR_FAILED;
        }
    dataset_close(&shapes);
    if (simclr_encoder_load_bytes(&encoder, encoder_file, encoder_file_size, "encoder_file.h",
                                  0, HARNESS_EMBED_IMAGES, err) != SIMCLR_OK) {
        simclr_encoder_destroy(&encoder);
        return SIMCLR_FAILED;
    }
    count = HARNESS_EMBED_IMAGES * encoder.net.feature_dim;
    features = simclr_calloc(count, sizeof(float), "harness: features", err);
    if (features == NULL ||
        simclr_encoder_embed(&encoder, features, images, HARNESS_EMBED_IMAGES, SHAPES_SIDE,
                             SHAPES_SIDE, err) != SIMCLR_OK) {
        simclr_free(features);
        simclr_encoder_destroy(&encoder);
        return SIMCLR_FAILED;
    }
    printf("embed: %lu-byte encoder file, %d images, %lu features each\n",
           (unsigned long)encoder_file_size, HARNESS_EMBED_IMAGES,
           (unsigned long)encoder.net.feature_dim);
    for (i = 0; i < count; i++) {
        const uint32_t bits = float_bits(features[i]);
        uint8_t little[4];
        little[0] = (uint8_t)bits, little[1] = (uint8_t)(bits >> 8);
        little[2] = (uint8_t)(bits >> 16), little[3] = (uint8_t)(bits >> 24);
        hash = fnv1a64(hash, little, 4);
        printf("h[%lu][%lu] %08lx %.9g\n", (unsigned long)(i / encoder.net.feature_dim),
               (unsigned long)(i % encoder.net.feature_dim), (unsigned long)bits,
               (double)features[i]);
    }
    printf("embed: fnv1a64 ");
    print_hex64(hash);
    printf("\n# embed: %.2f s, arena high-water %lu bytes\n", seconds_now() - start,
           (unsigned long)arena_high_water());
    simclr_free(features);
    simclr_encoder_destroy(&encoder);
    return SIMCLR_OK;
}

/* The stack's deepest use, on the microcontroller: STACK_PAINTED bytes below main's frame are
 * filled with a pattern at the start, and the lowest byte no longer holding it is found at the
 * end (a hosted system's stack is its own business: not measured there). */
#if defined(__arm__) && defined(__PICOLIBC__)
#define STACK_PAINTED (256u << 10)
#define STACK_PATTERN 0xa5u
static uintptr_t stack_top; /* an address in main's frame */

static volatile unsigned char *stack_byte(size_t below)
{
    return (volatile unsigned char *)(stack_top - below);
}

static void stack_paint(void)
{
    volatile unsigned char here = 0;
    size_t i;
    stack_top = (uintptr_t)&here;
    for (i = 1024; i < STACK_PAINTED; i++) /* leave this function's own frame alone */
        *stack_byte(i) = STACK_PATTERN;
}

static void stack_report(void)
{
    size_t i = STACK_PAINTED - 1;
    while (i > 1024 && *stack_byte(i) == STACK_PATTERN)
        i--;
    printf("# stack: %lu bytes at most below main's frame (of %lu watched)\n",
           (unsigned long)i, (unsigned long)STACK_PAINTED);
}
#else
static void stack_paint(void)
{
}

static void stack_report(void)
{
}
#endif

int main(void)
{
    simclr_error err;
    size_t high_water;
    int status;
    err.message[0] = '\0';
    printf("simclr-c %s harness: FLT_EVAL_METHOD %d\n", SIMCLR_VERSION, (int)FLT_EVAL_METHOD);
    printf("# %lu-byte pointers\n", (unsigned long)sizeof(void *));
    stack_paint();
    status = reference_cases(&err);
    high_water = arena_high_water();
    arena_reset_high_water();
    if (status == SIMCLR_OK)
        status = training_steps(&err);
    if (high_water < arena_high_water())
        high_water = arena_high_water();
    arena_reset_high_water();
    if (status == SIMCLR_OK)
        status = embedding(&err);
    if (high_water < arena_high_water())
        high_water = arena_high_water();
    printf("# arena: %lu bytes at most in use (high-water mark), %lu still in use, of %lu\n",
           (unsigned long)high_water, (unsigned long)arena_in_use(),
           (unsigned long)ARENA_BYTES);
    stack_report();
    if (status == SIMCLR_OK && arena_high_water() == 0) /* built without the arena's hook */
        status = simclr_fail(&err, "the library did not allocate from the arena");
    if (status != SIMCLR_OK) {
        printf("harness: FAILED: %s\n", err.message);
        return 1;
    }
    printf("harness: done\n");
    return 0;
}
