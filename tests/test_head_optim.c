/*
 * tests/test_head_optim.c — the projection head (nn/head.h) and the optimisers and schedule
 * (nn/optim.h).
 *
 * Head: Lightly's module names; forward and gradients (parameters and input) against a double
 * forward and central differences (tolerance 1e-5 normwise, as the layers).
 * Optimisers: two steps worked by hand for SGD (torch semantics) and LARS (official SimCLR
 * semantics, with an excluded batchnorm entry), to 1e-6; the schedule at its landmarks.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradient_check.h"
#include "reference_layers.h"
#include "test_helpers.h"

static void plan_head(projection_head *head, param_store *store, size_t in, size_t hidden,
                      size_t out, size_t layers, int batch_norm)
{
    projection_head_config config = {in, hidden, out, layers, batch_norm};
    simclr_error err;
    param_store_init(store);
    cr_assert_eq(projection_head_plan(head, &config, store, "projection_head.", &err), SIMCLR_OK,
                 "%s", err.message);
}

/* Lightly's SimCLRProjectionHead is an nn.Sequential: Linear, BatchNorm1d, ReLU per block. */
Test(head, lightly_names)
{
    projection_head head;
    param_store store;
    static const char *const with_bn[] = {
        "projection_head.layers.0.weight", "projection_head.layers.1.weight",
        "projection_head.layers.1.bias", "projection_head.layers.1.running_mean",
        "projection_head.layers.1.running_var", "projection_head.layers.1.num_batches_tracked",
        "projection_head.layers.3.weight", "projection_head.layers.4.weight",
        "projection_head.layers.4.bias", "projection_head.layers.4.running_mean",
        "projection_head.layers.4.running_var", "projection_head.layers.4.num_batches_tracked"};
    static const char *const without_bn[] = {
        "projection_head.layers.0.weight", "projection_head.layers.0.bias",
        "projection_head.layers.2.weight", "projection_head.layers.2.bias",
        "projection_head.layers.4.weight", "projection_head.layers.4.bias"};
    size_t i;
    plan_head(&head, &store, 512, 512, 128, 2, 1);
    cr_assert_eq(store.count, 12u);
    for (i = 0; i < 12; i++)
        cr_expect_str_eq(store.entries[i].name, with_bn[i]);
    cr_expect_eq(store.entries[6].shape[0], 128u);
    cr_expect_eq(store.entries[6].shape[1], 512u);
    cr_expect_eq(param_store_trainable_count(&store), 512u * 512 + 2 * 512 + 128 * 512 + 2 * 128);
    param_store_destroy(&store);
    plan_head(&head, &store, 64, 32, 16, 3, 0);
    cr_assert_eq(store.count, 6u);
    for (i = 0; i < 6; i++)
        cr_expect_str_eq(store.entries[i].name, without_bn[i]);
    param_store_destroy(&store);
}

typedef struct head_context {
    const projection_head *head;
    const param_store *store;
    size_t B;
    double *params, *h, *r;
} head_context;

static double head_loss(void *context)
{
    const head_context *t = context;
    const projection_head *head = t->head;
    const size_t L = head->config.num_layers;
    double *x = malloc(t->B * head->config.in_dim * sizeof(double)), loss;
    size_t i;
    memcpy(x, t->h, t->B * head->config.in_dim * sizeof(double));
    for (i = 0; i < L; i++) {
        const size_t in = head->in_features[i], out = head->out_features[i];
        double *y = malloc(t->B * out * sizeof(double));
        reference_linear(y, x, t->params + head->weight[i],
                         head->config.batch_norm ? NULL : t->params + head->bias[i], t->B, in, out);
        if (head->config.batch_norm)
            reference_batchnorm_train(y, y, t->params + head->bn[i].weight,
                                      t->params + head->bn[i].bias, t->B, out, 1, 1e-5);
        if (i < L - 1)
            reference_relu(y, y, t->B * out);
        free(x);
        x = y;
    }
    loss = reference_dot(x, t->r, t->B * head->config.out_dim);
    free(x);
    return loss;
}

static void check_head(size_t in, size_t hidden, size_t out, size_t layers, int batch_norm,
                       size_t B, unsigned long tag)
{
    projection_head head;
    param_store store;
    head_activations acts;
    simclr_error err;
    head_context t;
    float *h = malloc(B * in * sizeof(float));
    char what[64];
    plan_head(&head, &store, in, hidden, out, layers, batch_norm);
    cr_assert_eq(param_store_allocate(&store, &err), SIMCLR_OK);
    param_store_init_torchvision(&store, tag);
    if (batch_norm) { /* make the BN affine parameters non-trivial */
        size_t i, c;
        for (i = 0; i < layers; i++)
            for (c = 0; c < head.bn[i].channels; c++) {
                store.params[head.bn[i].weight + c] = 0.5f + 0.1f * (float)(c % 7);
                store.params[head.bn[i].bias + c] = -0.2f + 0.05f * (float)(c % 5);
            }
    }
    cr_assert_eq(head_activations_create(&acts, &head, B, &err), SIMCLR_OK);
    test_fill_uniform(h, B * in, -1, 2, tag);
    test_fill_uniform(acts.grad_output, B * out, -1, 1, tag + 1);
    projection_head_forward(&acts, h, &head, &store, 1);
    projection_head_backward(&acts, &head, &store);
    t.head = &head, t.store = &store, t.B = B;
    t.params = reference_from_float(store.params, store.param_floats);
    t.h = reference_from_float(h, B * in);
    t.r = reference_from_float(acts.grad_output, B * out);
    sprintf(what, "head %zu-%zu-%zu L=%zu bn=%d", in, hidden, out, layers, batch_norm);
    {
        double *z = reference_from_float(acts.output, B * out);
        const double want = head_loss(&t), got = reference_dot(z, t.r, B * out);
        cr_expect(fabs(got - want) <= 1e-5 * fmax(1.0, fabs(want)), "%s forward %.9g vs %.9g",
                  what, got, want);
        free(z);
    }
    check_gradient(what, t.params, store.param_floats, store.grads, head_loss, &t, 1e-5, 500);
    check_gradient(what, t.h, B * in, acts.grad_input, head_loss, &t, 1e-5, 0);
    free(h), free(t.params), free(t.h), free(t.r);
    head_activations_destroy(&acts);
    param_store_destroy(&store);
}

Test(head, two_layers_with_batch_norm) { check_head(12, 10, 6, 2, 1, 5, 800); }
Test(head, three_layers_with_batch_norm) { check_head(9, 11, 4, 3, 1, 6, 810); }
Test(head, paper_v1_head_without_batch_norm) { check_head(12, 10, 6, 2, 0, 3, 820); }

Test(head, bad_configurations_are_rejected)
{
    projection_head head;
    param_store store;
    projection_head_config config = {8, 8, 4, 1, 1};
    simclr_error err;
    param_store_init(&store);
    cr_expect_eq(projection_head_plan(&head, &config, &store, "", &err), SIMCLR_FAILED);
    config.num_layers = HEAD_MAX_LAYERS + 1;
    cr_expect_eq(projection_head_plan(&head, &config, &store, "", &err), SIMCLR_FAILED);
    param_store_destroy(&store);
}

/* ---- optimisers ------------------------------------------------------------------------- */

/* A conv weight (2 values), a batchnorm weight (2 values) and a linear bias (1 value). */
static void tiny_store(param_store *store)
{
    const size_t conv_shape[4] = {1, 1, 1, 2}, bn_shape[1] = {2}, bias_shape[1] = {1};
    size_t offset;
    param_store_init(store);
    cr_assert_eq(param_store_add(store, "", "conv.weight", PARAM_CONV_WEIGHT, 4, conv_shape, 0,
                                 &offset, NULL), SIMCLR_OK);
    cr_assert_eq(param_store_add(store, "", "bn.weight", PARAM_BN_WEIGHT, 1, bn_shape, 0,
                                 &offset, NULL), SIMCLR_OK);
    cr_assert_eq(param_store_add(store, "", "fc.bias", PARAM_LINEAR_BIAS, 1, bias_shape, 1,
                                 &offset, NULL), SIMCLR_OK);
    cr_assert_eq(param_store_allocate(store, NULL), SIMCLR_OK);
}

/* torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=0.01), w = [1, −2], g = [0.5, 0.25] twice:
 *   step 1: d = [0.51, 0.23], buf = d, w = [0.949, −2.023]
 *   step 2: d = [0.50949, 0.22977], buf = 0.9·[0.51, 0.23] + d = [0.96849, 0.43677],
 *           w = [0.852151, −2.066677] */
Test(optim, sgd_two_steps_by_hand)
{
    optimizer_config config = {OPTIMIZER_SGD, 0.9f, 0.01f, 0.001f, 0};
    param_store store;
    optimizer opt;
    tiny_store(&store);
    cr_assert_eq(optimizer_create(&opt, &config, &store, NULL), SIMCLR_OK);
    store.params[0] = 1.0f, store.params[1] = -2.0f;
    store.grads[0] = 0.5f, store.grads[1] = 0.25f;
    optimizer_step(&opt, &store, 0.1f);
    cr_expect(fabs(store.params[0] - 0.949) < 1e-6 && fabs(store.params[1] + 2.023) < 1e-6,
              "step 1: %.8g %.8g", store.params[0], store.params[1]);
    optimizer_step(&opt, &store, 0.1f);
    cr_expect(fabs(store.params[0] - 0.852151) < 1e-6 && fabs(store.params[1] + 2.066677) < 1e-6,
              "step 2: %.8g %.8g", store.params[0], store.params[1]);
    optimizer_destroy(&opt);
    param_store_destroy(&store);
}

/* LARS (η = 0.001, m = 0.9, wd = 0.1, lr = 2):
 * conv weight w = [3, 4], raw g = [0.3, 0.4] both steps:
 *   step 1: g' = g + 0.1 w = [0.6, 0.8], ‖w‖ = 5, ‖g'‖ = 1, trust = 0.005,
 *           v = 2·0.005·g' = [0.006, 0.008], w = [2.994, 3.992]
 *   step 2: g' = [0.5994, 0.7992], ‖w‖ = 4.99, ‖g'‖ = 0.999, trust = 0.001·4.99/0.999,
 *           v = 0.9 v + 2·trust·g', w −= v
 * bn weight w = [1, 1], g = [0.5, −0.5] (excluded: no decay, trust 1):
 *   step 1: v = [1, −1], w = [0, 2];   step 2: v = [1.9, −1.9], w = [−1.9, 3.9]
 * fc.bias w = [2], g = [0] (excluded): v = 0, w stays 2. */
Test(optim, lars_two_steps_by_hand)
{
    optimizer_config config = {OPTIMIZER_LARS, 0.9f, 0.1f, 0.001f, 0};
    param_store store;
    optimizer opt;
    double trust2, v2[2], w2[2];
    tiny_store(&store);
    cr_assert_eq(optimizer_create(&opt, &config, &store, NULL), SIMCLR_OK);
    store.params[0] = 3, store.params[1] = 4, store.params[2] = 1, store.params[3] = 1;
    store.params[4] = 2;
    store.grads[0] = 0.3f, store.grads[1] = 0.4f, store.grads[2] = 0.5f, store.grads[3] = -0.5f;
    store.grads[4] = 0;
    optimizer_step(&opt, &store, 2.0f);
    cr_expect(fabs(store.params[0] - 2.994) < 1e-6 && fabs(store.params[1] - 3.992) < 1e-6,
              "conv step 1: %.8g %.8g", store.params[0], store.params[1]);
    cr_expect(fabs(store.params[2] - 0.0) < 1e-6 && fabs(store.params[3] - 2.0) < 1e-6);
    optimizer_step(&opt, &store, 2.0f);
    trust2 = 0.001 * 4.99 / 0.999;
    v2[0] = 0.9 * 0.006 + 2 * trust2 * 0.5994;
    v2[1] = 0.9 * 0.008 + 2 * trust2 * 0.7992;
    w2[0] = 2.994 - v2[0], w2[1] = 3.992 - v2[1];
    cr_expect(fabs(store.params[0] - w2[0]) < 1e-6 && fabs(store.params[1] - w2[1]) < 1e-6,
              "conv step 2: %.8g %.8g, by hand %.8g %.8g", store.params[0], store.params[1],
              w2[0], w2[1]);
    cr_expect(fabs(store.params[2] + 1.9) < 1e-6 && fabs(store.params[3] - 3.9) < 1e-6,
              "bn step 2: %.8g %.8g", store.params[2], store.params[3]);
    cr_expect_eq(store.params[4], 2.0f);
    cr_expect(lars_excludes(PARAM_BN_BIAS) && lars_excludes(PARAM_LINEAR_BIAS) &&
              !lars_excludes(PARAM_LINEAR_WEIGHT) && !lars_excludes(PARAM_CONV_WEIGHT));
    optimizer_destroy(&opt);
    param_store_destroy(&store);
}

/* base 0.3, B = 512, linear scaling → 0.6; W = 10, T = 110:
 * lr(0) = 0, lr(5) = 0.3, lr(10) = 0.6, lr(60) = 0.3 (half-way down the cosine), lr(110) = 0. */
Test(optim, warmup_cosine_schedule_landmarks)
{
    lr_schedule schedule = {0.3, LR_SCALING_LINEAR, 512, 10, 110};
    cr_expect(fabs(lr_schedule_scaled(&schedule) - 0.6) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 0) - 0.0) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 5) - 0.3) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 10) - 0.6) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 60) - 0.3) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 35) - 0.3 * (1 + cos(3.141592653589793 / 4))) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 110)) < 1e-12);
    cr_expect(fabs(lr_schedule_at(&schedule, 500)) < 1e-12, "past the end stays 0");
    /* square-root scaling (paper B.1): 0.075·sqrt(4096) = 4.8 */
    schedule.base_lr = 0.075, schedule.scaling = LR_SCALING_SQRT, schedule.batch = 4096;
    cr_expect(fabs(lr_schedule_scaled(&schedule) - 4.8) < 1e-12);
}

Test(optim, names_parse)
{
    optimizer_kind kind;
    lr_scaling scaling;
    simclr_error err;
    cr_expect(optimizer_parse("lars", &kind, &err) == SIMCLR_OK && kind == OPTIMIZER_LARS);
    cr_expect_eq(optimizer_parse("adam", &kind, &err), SIMCLR_FAILED);
    cr_expect(lr_scaling_parse("sqrt", &scaling, &err) == SIMCLR_OK && scaling == LR_SCALING_SQRT);
    cr_expect_eq(lr_scaling_parse("cubic", &scaling, &err), SIMCLR_FAILED);
}
