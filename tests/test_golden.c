/*
 * tests/test_golden.c — the second edition of the reference outputs (eval/golden_*.h): the
 * stated knife-edge margin of every case that trains a network, the view's drawn parameters,
 * and the streams against answers computed from README.txt's statements alone (the Python
 * transcription in tests/crosscheck_torch.py, class Stream); the data-parallel cases' inputs
 * in any selection and their tensors against what README.txt states of them.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simclr.h"
#include "test_helpers.h"

#define MARGIN_DIR "/tmp/simclr_golden_margin"

/* The cases that train a network, written again by the library (as `simclr golden --cases
 * train_step,train_steps,end_to_end` does): each file's measured relu_margin, the smallest
 * |x| / rms(layer) over every ReLU input x of every forward pass, must be at least the stated
 * margin_required, which must be GOLDEN_MARGIN = 1e-4, and README.txt must state the smallest. */
Test(golden, every_training_case_keeps_the_stated_relu_margin, .timeout = HANG_GUARD_SECONDS)
{
    static const golden_simclr model = {simclr_model_create, simclr_model_destroy,
                                        simclr_batch_of_views, simclr_train_step,
                                        simclr_model_create_ranks, NULL};
    static const char *const names[7] = {
        "train_step_resnet18_w0.0625_cifar_n4_8x8",
        "train_step_resnet18_w0.0625_cifar_n6_8x8_separate",
        "train_steps_sgd_w0.0625_n4_joint", "train_steps_sgd_w0.0625_n4_separate",
        "train_steps_lars_w0.0625_n4_joint", "train_steps_lars_w0.0625_n4_separate",
        "end_to_end_w0.0625_n4_shapes32"};
    simclr_error err;
    double smallest = HUGE_VAL;
    char path[256], line[128];
    size_t i, length;
    uint8_t *readme;
    cr_assert_eq(system("rm -rf " MARGIN_DIR " && mkdir -p " MARGIN_DIR), 0);
    parallel_set_thread_count(1); /* the same bits for any count; one is fastest here */
    cr_assert_eq(golden_write_all(MARGIN_DIR, "train_step,train_steps,end_to_end",
                                  golden_train_cases, (void *)&model, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    for (i = 0; i < 7; i++) {
        safetensors_file file;
        const char *margin, *required, *inputs;
        snprintf(path, sizeof path, MARGIN_DIR "/%s.safetensors", names[i]);
        cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
        margin = safetensors_metadata_value(&file, "relu_margin");
        required = safetensors_metadata_value(&file, "margin_required");
        inputs = safetensors_metadata_value(&file, "relu_inputs");
        cr_assert(margin != NULL && required != NULL && inputs != NULL, "%s", names[i]);
        cr_expect_eq(strtod(required, NULL), GOLDEN_MARGIN, "%s states %s", names[i], required);
        cr_expect_geq(strtod(margin, NULL), GOLDEN_MARGIN, "%s: relu_margin %s", names[i],
                      margin);
        cr_expect_gt(strtoul(inputs, NULL, 10), 17000ul, "%s: every ReLU input counted (%s)",
                     names[i], inputs); /* 2176 per 8 x 8 view at width 1/16, 8 views a step */
        cr_log_info("%s: relu_margin %s over %s ReLU inputs (attempts %s)", names[i], margin,
                    inputs, safetensors_metadata_value(&file, "attempts"));
        if (strtod(margin, NULL) < smallest)
            smallest = strtod(margin, NULL);
        safetensors_free(&file);
    }
    readme = test_load_file(MARGIN_DIR "/README.txt", &length);
    readme[length] = '\0';
    snprintf(line, sizeof line, "of the 7 cases above that train a model is %.6g", smallest);
    cr_expect(strstr((char *)readme, line) != NULL, "README.txt states '%s'", line);
    cr_expect(strstr((char *)readme, "(required: 0.0001)") != NULL);
    free(readme);
    cr_assert_eq(system("rm -rf " MARGIN_DIR), 0);
}

/* aug_view is aug_view_sample then aug_view_apply, bit for bit, for every preset: the view
 * cases' recorded parameters are the ones training draws. */
Test(golden, view_parameters_make_the_training_view, .timeout = HANG_GUARD_SECONDS)
{
    static const char *const presets[3] = {"imagenet", "cifar", "gray"};
    float image[3 * 29 * 41];
    size_t p;
    test_fill_uniform(image, 3 * 29 * 41, 0.0f, 1.0f, 25);
    for (p = 0; p < 3; p++) {
        aug_config config;
        simclr_error err;
        size_t S, floats;
        float *a, *b, *workspace;
        rng r1, r2;
        aug_view_params params;
        cr_assert_eq(aug_config_preset(&config, presets[p], &err), SIMCLR_OK);
        S = config.size;
        floats = aug_view_workspace_floats(&config, 3, 29, 41);
        a = calloc(3 * S * S, sizeof(float));
        b = calloc(3 * S * S, sizeof(float));
        workspace = calloc(floats, sizeof(float));
        cr_assert(a != NULL && b != NULL && workspace != NULL);
        rng_stream(&r1, 7, RNG_DOMAIN_VIEW, 2, 3, 1);
        rng_stream(&r2, 7, RNG_DOMAIN_VIEW, 2, 3, 1);
        aug_view(a, image, 3, 29, 41, &config, &r1, workspace);
        params = aug_view_sample(&r2, &config, 29, 41);
        aug_view_apply(b, image, 3, 29, 41, &config, &params, workspace);
        cr_expect_eq(memcmp(a, b, 3 * S * S * sizeof(float)), 0, "%s", presets[p]);
        cr_expect_eq(r1.state, r2.state, "%s: the same draws", presets[p]);
        free(a);
        free(b);
        free(workspace);
    }
}

/* Known answers from README.txt's algorithm transcribed in Python (tests/crosscheck_torch.py,
 * Stream): stream(2020, 'view', 3, 17, 1) is seeded to state 1997148040001805052, increment
 * 18112119808539748749, and draws 0xcedd3589, 0x9662f850, 0xdab401b5, 0xf6b87086; afresh,
 * uniform() 0.8080628514289856, 0.5874476432800293, then normal() 1.9121007919311523. */
Test(golden, streams_match_the_readme_algorithm)
{
    static const uint32_t u32[4] = {0xcedd3589u, 0x9662f850u, 0xdab401b5u, 0xf6b87086u};
    rng r;
    int i;
    rng_stream(&r, 2020, RNG_DOMAIN_VIEW, 3, 17, 1);
    cr_expect_eq(r.state, UINT64_C(1997148040001805052));
    cr_expect_eq(r.increment, UINT64_C(18112119808539748749));
    for (i = 0; i < 4; i++)
        cr_expect_eq(rng_next_u32(&r), u32[i], "draw %d", i);
    rng_stream(&r, 2020, RNG_DOMAIN_VIEW, 3, 17, 1);
    cr_expect_eq(rng_uniform(&r), 0.8080628514289856f);
    cr_expect_eq(rng_uniform(&r), 0.5874476432800293f);
    /* Box–Muller in double through libm's log and cos: within an ulp of float */
    cr_expect_float_eq(rng_normal(&r), 1.9121007919311523f, 2e-7f);
}

/* View 1 of (2020, epoch 0, image 5) of a 32 x 32 image, cifar preset: the parameters the
 * Python transcription of README.txt draws (crop top 5, left 5, 27 x 24; horizontal flip;
 * jitter applied, order brightness, hue, saturation, contrast, factors 1.3106754, 1.1428193,
 * 1.0056915, 0.059603132; grayscale; blur not applied, σ 0.73269594, kernel 3). */
Test(golden, view_draws_match_the_readme_algorithm)
{
    static const int order[4] = {0, 3, 2, 1};
    aug_config config;
    aug_view_params p;
    simclr_error err;
    rng r;
    int i;
    cr_assert_eq(aug_config_preset(&config, "cifar", &err), SIMCLR_OK);
    rng_stream(&r, 2020, RNG_DOMAIN_VIEW, 0, 5, 1);
    p = aug_view_sample(&r, &config, 32, 32);
    cr_expect(p.crop.top == 5 && p.crop.left == 5 && p.crop.height == 27 && p.crop.width == 24);
    cr_expect(p.hflip == 1 && p.vflip == 0 && p.jitter == 1 && p.grayscale == 1 && p.blur == 0);
    for (i = 0; i < 4; i++)
        cr_expect_eq(p.jitter_params.order[i], order[i]);
    cr_expect_float_eq(p.jitter_params.brightness, 1.3106754f, 1e-7f);
    cr_expect_float_eq(p.jitter_params.contrast, 1.1428193f, 1e-7f);
    cr_expect_float_eq(p.jitter_params.saturation, 1.0056915f, 1e-7f);
    cr_expect_float_eq(p.jitter_params.hue, 0.059603132f, 1e-8f);
    cr_expect_float_eq(p.blur_sigma, 0.73269594f, 1e-7f);
    cr_expect_eq(p.blur_kernel, 3u);
}

/* golden_emit_all hands a sink the very bytes golden_write_all writes: every file of the
 * conv2d, ntxent and view cases (and README.txt), compared byte for byte with the files. */
#define EMIT_DIR "/tmp/simclr_golden_emit"

typedef struct emitted_files {
    size_t count, matched;
} emitted_files;

static int compare_with_file(const char *file_name, const uint8_t *bytes, size_t size,
                             void *context, simclr_error *err)
{
    emitted_files *files = (emitted_files *)context;
    char path[256];
    uint8_t *written;
    size_t written_size;
    snprintf(path, sizeof path, EMIT_DIR "/%s", file_name);
    if (file_read_all(path, (size_t)1 << 26, &written, &written_size, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    files->count++;
    files->matched += written_size == size && memcmp(written, bytes, size) == 0;
    simclr_free(written);
    return SIMCLR_OK;
}

Test(golden, emit_all_gives_the_bytes_write_all_writes, .timeout = HANG_GUARD_SECONDS)
{
    emitted_files files = {0, 0};
    simclr_error err;
    cr_assert_eq(system("rm -rf " EMIT_DIR " && mkdir -p " EMIT_DIR), 0);
    cr_assert_eq(golden_write_all(EMIT_DIR, "conv2d,ntxent,view", NULL, NULL, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(golden_emit_all("conv2d,ntxent,view", NULL, NULL, compare_with_file, &files,
                                 &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_geq(files.count, 7 + 4 + 6 + 1, "%lu files", (unsigned long)files.count);
    cr_assert_eq(files.matched, files.count, "%lu of %lu files the same bytes",
                 (unsigned long)files.matched, (unsigned long)files.count);
    cr_assert_eq(system("rm -rf " EMIT_DIR), 0);
}

/* ---- the data-parallel cases (eval/golden_distributed.h) ---------------------------------- */

#define DISTRIBUTED_DIR "/tmp/simclr_golden_distributed"
#define AGREE_DIR "/tmp/simclr_golden_distributed_agree"

static const char *const distributed_cases[5] = {
    "ntxent_distributed_k2_n8_d16_t0.5", "ntxent_distributed_k4_n8_d16_t0.5",
    "batchnorm_distributed_k2_b4_c3_5x5", "batchnorm_distributed_k4_b8_c3_4x6",
    "batchnorm_distributed_k4_b8_c6"};

/* A copy of the F32 tensor `name` of a case file (freed by the caller), with its count. */
static float *case_tensor(const safetensors_file *file, const char *name, size_t *count)
{
    const safetensors_tensor *entry = safetensors_find(file, name);
    simclr_error err;
    float *values;
    int d;
    cr_assert(entry != NULL && entry->dtype == ST_F32, "tensor %s", name);
    *count = 1;
    for (d = 0; d < entry->ndim; d++)
        *count *= entry->shape[d];
    values = malloc(*count * sizeof(float));
    cr_assert_not_null(values);
    cr_assert_eq(safetensors_copy_f32(file, entry, values, &err), SIMCLR_OK, "%s", err.message);
    return values;
}

/* Their inputs come from their case numbers: the same bytes whether written alone or among ops
 * that write several cases each (view: a number that depends on the machine's datasets). */
Test(golden, distributed_cases_are_the_same_bits_in_any_selection,
     .timeout = HANG_GUARD_SECONDS)
{
    simclr_error err;
    char alone[256], among[256];
    size_t i;
    cr_assert_eq(system("rm -rf " DISTRIBUTED_DIR " && mkdir -p " DISTRIBUTED_DIR "/alone "
                        DISTRIBUTED_DIR "/among"), 0);
    cr_assert_eq(golden_write_all(DISTRIBUTED_DIR "/alone",
                                  "ntxent_distributed,batchnorm_distributed", NULL, NULL, NULL,
                                  &err),
                 SIMCLR_OK, "%s", err.message);
    cr_assert_eq(golden_write_all(DISTRIBUTED_DIR "/among",
                                  "conv2d,rng,view,batchnorm_distributed,ntxent_distributed",
                                  NULL, NULL, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    for (i = 0; i < 5; i++) {
        uint8_t *a, *b;
        size_t a_size, b_size;
        snprintf(alone, sizeof alone, DISTRIBUTED_DIR "/alone/%s.safetensors",
                 distributed_cases[i]);
        snprintf(among, sizeof among, DISTRIBUTED_DIR "/among/%s.safetensors",
                 distributed_cases[i]);
        a = test_load_file(alone, &a_size);
        b = test_load_file(among, &b_size);
        cr_expect(a_size == b_size && memcmp(a, b, a_size) == 0, "%s", distributed_cases[i]);
        free(a);
        free(b);
    }
    cr_assert_eq(system("rm -rf " DISTRIBUTED_DIR), 0);
}

/* What README.txt states of them, from their own tensors (1e-6 relative, normwise: the same sums
 * in another order): NT-Xent's loss is the mean of loss_per_rank and dz0, dz1 the mean over the
 * ranks of dz_per_rank; batch norm's mean and invstd are the whole batch's statistics of x (in
 * double), dbias = Σ dy and running_mean_out = 0.9 running_mean + 0.1 mean. */
Test(golden, distributed_cases_agree_with_the_whole_batch, .timeout = HANG_GUARD_SECONDS)
{
    simclr_error err;
    char path[256];
    size_t i, r, k, c;
    cr_assert_eq(system("rm -rf " AGREE_DIR " && mkdir -p " AGREE_DIR), 0);
    cr_assert_eq(golden_write_all(AGREE_DIR, "ntxent_distributed,batchnorm_distributed",
                                  NULL, NULL, NULL, &err),
                 SIMCLR_OK, "%s", err.message);
    for (i = 0; i < 5; i++) {
        safetensors_file file;
        size_t K, n;
        snprintf(path, sizeof path, AGREE_DIR "/%s.safetensors", distributed_cases[i]);
        cr_assert_eq(safetensors_read(&file, path, &err), SIMCLR_OK, "%s", err.message);
        K = strtoul(safetensors_metadata_value(&file, "ranks"), NULL, 10);
        if (i < 2) { /* NT-Xent */
            float *loss = case_tensor(&file, "loss", &n);
            float *per_rank = case_tensor(&file, "loss_per_rank", &n);
            float *dz_per_rank = case_tensor(&file, "dz_per_rank", &n);
            float *dz0 = case_tensor(&file, "dz0", &n);
            float *dz1 = case_tensor(&file, "dz1", &n);
            double mean_loss = 0.0, worst = 0.0, largest = 0.0;
            cr_expect_eq(n, 8u * 16u);
            for (r = 0; r < K; r++)
                mean_loss += per_rank[r] / (double)K;
            cr_expect(fabs(mean_loss - loss[0]) <= 1e-6 * fabs(loss[0]), "%s: %.9g vs %.9g",
                      distributed_cases[i], mean_loss, (double)loss[0]);
            for (k = 0; k < 2 * n; k++) {
                const double want = k < n ? dz0[k] : dz1[k - n];
                double mean = 0.0;
                for (r = 0; r < K; r++)
                    mean += dz_per_rank[r * 2 * n + k] / (double)K;
                worst = fmax(worst, fabs(mean - want));
                largest = fmax(largest, fabs(want));
            }
            cr_expect(worst <= 1e-6 * largest, "%s: the mean gradient off by %.3g (largest %.3g)",
                      distributed_cases[i], worst, largest);
            free(loss), free(per_rank), free(dz_per_rank), free(dz0), free(dz1);
        } else { /* batch norm: x (B, C, S) */
            const safetensors_tensor *shape = safetensors_find(&file, "x");
            float *x = case_tensor(&file, "x", &n), *dy = case_tensor(&file, "dy", &n);
            float *mean = case_tensor(&file, "mean", &n);
            float *invstd = case_tensor(&file, "invstd", &n);
            float *dbias = case_tensor(&file, "dbias", &n);
            float *rm = case_tensor(&file, "running_mean", &n);
            float *rm_out = case_tensor(&file, "running_mean_out", &n);
            const size_t B = shape->shape[0], C = shape->shape[1];
            const size_t S = shape->ndim == 4 ? shape->shape[2] * shape->shape[3] : 1;
            for (c = 0; c < C; c++) {
                double sum = 0.0, squares = 0.0, sum_dy = 0.0, m, var;
                size_t b, s;
                for (b = 0; b < B; b++)
                    for (s = 0; s < S; s++) {
                        sum += x[(b * C + c) * S + s];
                        sum_dy += dy[(b * C + c) * S + s];
                    }
                m = sum / (double)(B * S);
                for (b = 0; b < B; b++)
                    for (s = 0; s < S; s++)
                        squares += (x[(b * C + c) * S + s] - m) * (x[(b * C + c) * S + s] - m);
                var = squares / (double)(B * S);
                cr_expect(fabs(mean[c] - m) <= 1e-6 * fmax(fabs(m), 1.0), "%s: mean[%zu]",
                          distributed_cases[i], c);
                cr_expect(fabs(invstd[c] - 1.0 / sqrt(var + 1e-5)) <= 1e-6 / sqrt(var + 1e-5),
                          "%s: invstd[%zu] %.9g", distributed_cases[i], c, (double)invstd[c]);
                cr_expect(fabs(dbias[c] - sum_dy) <= 1e-6 * fmax(fabs(sum_dy), 1.0),
                          "%s: dbias[%zu]", distributed_cases[i], c);
                cr_expect(fabs(rm_out[c] - (0.9 * rm[c] + 0.1 * m)) <= 1e-6,
                          "%s: running_mean_out[%zu]", distributed_cases[i], c);
            }
            free(x), free(dy), free(mean), free(invstd), free(dbias), free(rm), free(rm_out);
        }
        safetensors_free(&file);
    }
    cr_assert_eq(system("rm -rf " AGREE_DIR), 0);
}
