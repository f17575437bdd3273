/*
 * eval/golden.c — the reference-output cases of every op; see golden.h.
 */
#include "golden.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../aug/blur.h"
#include "../aug/color.h"
#include "../aug/geometry.h"
#include "../aug/pipeline.h"
#include "../data/shapes.h"
#include "../data/file_io.h"
#include "../data/safetensors.h"
#include "../loss/contrastive.h"
#include "../nn/batchnorm.h"
#include "../nn/conv2d.h"
#include "../nn/head.h"
#include "../nn/linear.h"
#include "../nn/memory.h"
#include "../nn/optim.h"
#include "../nn/pointwise.h"
#include "../nn/pool.h"
#include "../nn/resnet.h"
#include "../nn/rng.h"
#include "golden_distributed.h"
#include "golden_margin.h"
#include "golden_streams.h"

/* FLT_EVAL_METHOD of this build, for README.txt (-1: indeterminable or not defined). */
static int golden_float_eval_method(void)
{
#ifdef FLT_EVAL_METHOD
    return (int)FLT_EVAL_METHOD;
#else
    return -1;
#endif
}

/* ---- layers -------------------------------------------------------------------------------- */

static int golden_conv2d(golden_case *g, size_t B, size_t C, size_t H, size_t W, size_t O,
                         size_t k, size_t s, size_t p)
{
    conv2d_shape shape;
    size_t floats;
    float *x, *weight, *bias, *y, *dy, *dx, *dweight, *dbias, *workspace;
    char name[96];
    if (conv2d_shape_init(&shape, B, C, H, W, O, k, s, p, golden_case_error(g)) != SIMCLR_OK ||
        conv2d_workspace_floats(&shape, &floats, golden_case_error(g)) != SIMCLR_OK)
        return SIMCLR_FAILED;
    golden_case_begin(g, "conv2d");
    golden_case_meta(g, "stride", "%lu", (unsigned long)s);
    golden_case_meta(g, "padding", "%lu", (unsigned long)p);
    golden_case_meta(g, "kernel", "%lu", (unsigned long)k);
    x = golden_case_tensor(g, "x", 4, B, C, H, W);
    weight = golden_case_tensor(g, "weight", 4, O, C, k, k);
    bias = golden_case_tensor(g, "bias", 1, O, 0, 0, 0);
    y = golden_case_tensor(g, "y", 4, B, O, shape.out_height, shape.out_width);
    dy = golden_case_tensor(g, "dy", 4, B, O, shape.out_height, shape.out_width);
    dx = golden_case_tensor(g, "dx", 4, B, C, H, W);
    dweight = golden_case_tensor(g, "dweight", 4, O, C, k, k);
    dbias = golden_case_tensor(g, "dbias", 1, O, 0, 0, 0);
    workspace = simclr_calloc(floats, sizeof(float), "golden: workspace", golden_case_error(g));
    if (golden_case_failed(g) || workspace == NULL) {
        simclr_free(workspace);
        golden_case_fail(g);
        return golden_case_finish(g, "conv2d");
    }
    golden_case_fill(g, x, B * C * H * W, -1.0f, 1.0f, 0);
    golden_case_fill(g, weight, O * C * k * k, -0.5f, 0.5f, 1);
    golden_case_fill(g, bias, O, -0.5f, 0.5f, 2);
    golden_case_fill(g, dy, B * O * shape.out_height * shape.out_width, -1.0f, 1.0f, 3);
    conv2d_forward(y, x, weight, bias, &shape, workspace);
    conv2d_backward(dx, dweight, dbias, dy, x, weight, &shape, workspace);
    simclr_free(workspace);
    snprintf(name, sizeof name, "conv2d_b%lu_c%lu_%lux%lu_o%lu_k%lu_s%lu_p%lu", (unsigned long)B,
             (unsigned long)C, (unsigned long)H, (unsigned long)W, (unsigned long)O,
             (unsigned long)k, (unsigned long)s, (unsigned long)p);
    return golden_case_finish(g, name);
}

/* batchnorm2d (spatial = H·W, 4-D tensors) or batchnorm1d (H = W = 0: (B, C) tensors). */
static int golden_batchnorm(golden_case *g, size_t B, size_t C, size_t H, size_t W)
{
    const int two_d = H > 0;
    const int ndim = two_d ? 4 : 2;
    const size_t S = two_d ? H * W : 1, n = B * C * S;
    batchnorm_shape shape;
    batchnorm_state state;
    int64_t tracked = 0;
    float *x, *weight, *bias, *rm, *rv, *y, *rm_out, *rv_out, *dy, *dx, *dweight, *dbias;
    float *saved_mean, *saved_inverse_std;
    char name[96];
    /* through float variables: a float constant may carry excess precision (C99
     * FLT_EVAL_METHOD 1 on s390x, 2 on 32-bit x87), an assigned float never does */
    const float eps = BATCHNORM_EPS, momentum = BATCHNORM_MOMENTUM;
    memset(&shape, 0, sizeof shape); /* one process, one shard */
    golden_case_begin(g, two_d ? "batchnorm2d" : "batchnorm1d");
    golden_case_meta(g, "eps", "%.9g", (double)eps);
    golden_case_meta(g, "momentum", "%.9g", (double)momentum);
    golden_case_meta(g, "training", "1");
    x = golden_case_tensor(g, "x", ndim, B, C, H, W);
    weight = golden_case_tensor(g, "weight", 1, C, 0, 0, 0);
    bias = golden_case_tensor(g, "bias", 1, C, 0, 0, 0);
    rm = golden_case_tensor(g, "running_mean", 1, C, 0, 0, 0);
    rv = golden_case_tensor(g, "running_var", 1, C, 0, 0, 0);
    y = golden_case_tensor(g, "y", ndim, B, C, H, W);
    rm_out = golden_case_tensor(g, "running_mean_out", 1, C, 0, 0, 0);
    rv_out = golden_case_tensor(g, "running_var_out", 1, C, 0, 0, 0);
    dy = golden_case_tensor(g, "dy", ndim, B, C, H, W);
    dx = golden_case_tensor(g, "dx", ndim, B, C, H, W);
    dweight = golden_case_tensor(g, "dweight", 1, C, 0, 0, 0);
    dbias = golden_case_tensor(g, "dbias", 1, C, 0, 0, 0);
    saved_mean = simclr_calloc(C, sizeof(float), "golden: mean", golden_case_error(g));
    saved_inverse_std = simclr_calloc(C, sizeof(float), "golden: std", golden_case_error(g));
    if (golden_case_failed(g) || saved_mean == NULL || saved_inverse_std == NULL) {
        simclr_free(saved_mean);
        simclr_free(saved_inverse_std);
        golden_case_fail(g);
        return golden_case_finish(g, "batchnorm");
    }
    golden_case_fill(g, x, n, -1.0f, 3.0f, 0);
    golden_case_fill(g, weight, C, 0.5f, 1.5f, 1);
    golden_case_fill(g, bias, C, -0.5f, 0.5f, 2);
    golden_case_fill(g, rm, C, -0.5f, 0.5f, 3);
    golden_case_fill(g, rv, C, 0.5f, 2.0f, 4);
    golden_case_fill(g, dy, n, -1.0f, 1.0f, 5);
    memcpy(rm_out, rm, C * sizeof(float));
    memcpy(rv_out, rv, C * sizeof(float));
    shape.batch = B;
    shape.channels = C;
    shape.spatial = S;
    state.running_mean = rm_out;
    state.running_var = rv_out;
    state.num_batches_tracked = &tracked;
    state.momentum = BATCHNORM_MOMENTUM;
    state.eps = BATCHNORM_EPS;
    batchnorm_forward_train(y, saved_mean, saved_inverse_std, x, weight, bias, &state, &shape);
    batchnorm_backward_train(dx, dweight, dbias, dy, x, saved_mean, saved_inverse_std, weight,
                             &shape);
    simclr_free(saved_mean);
    simclr_free(saved_inverse_std);
    if (two_d)
        snprintf(name, sizeof name, "batchnorm2d_b%lu_c%lu_%lux%lu", (unsigned long)B,
                 (unsigned long)C, (unsigned long)H, (unsigned long)W);
    else
        snprintf(name, sizeof name, "batchnorm1d_b%lu_c%lu", (unsigned long)B, (unsigned long)C);
    return golden_case_finish(g, name);
}

static int golden_linear(golden_case *g, size_t B, size_t in, size_t out)
{
    size_t floats;
    float *x, *weight, *bias, *y, *dy, *dx, *dweight, *dbias, *workspace;
    char name[96];
    if (linear_workspace_floats(B, in, out, &floats, golden_case_error(g)) != SIMCLR_OK)
        return SIMCLR_FAILED;
    golden_case_begin(g, "linear");
    x = golden_case_tensor(g, "x", 2, B, in, 0, 0);
    weight = golden_case_tensor(g, "weight", 2, out, in, 0, 0);
    bias = golden_case_tensor(g, "bias", 1, out, 0, 0, 0);
    y = golden_case_tensor(g, "y", 2, B, out, 0, 0);
    dy = golden_case_tensor(g, "dy", 2, B, out, 0, 0);
    dx = golden_case_tensor(g, "dx", 2, B, in, 0, 0);
    dweight = golden_case_tensor(g, "dweight", 2, out, in, 0, 0);
    dbias = golden_case_tensor(g, "dbias", 1, out, 0, 0, 0);
    workspace = simclr_calloc(floats, sizeof(float), "golden: workspace", golden_case_error(g));
    if (golden_case_failed(g) || workspace == NULL) {
        simclr_free(workspace);
        golden_case_fail(g);
        return golden_case_finish(g, "linear");
    }
    golden_case_fill(g, x, B * in, -1.0f, 1.0f, 0);
    golden_case_fill(g, weight, out * in, -0.5f, 0.5f, 1);
    golden_case_fill(g, bias, out, -0.5f, 0.5f, 2);
    golden_case_fill(g, dy, B * out, -1.0f, 1.0f, 3);
    linear_forward(y, x, weight, bias, B, in, out, workspace);
    linear_backward(dx, dweight, dbias, dy, x, weight, B, in, out, workspace);
    simclr_free(workspace);
    snprintf(name, sizeof name, "linear_b%lu_in%lu_out%lu", (unsigned long)B, (unsigned long)in,
             (unsigned long)out);
    return golden_case_finish(g, name);
}

static int golden_relu(golden_case *g, size_t B, size_t C, size_t H, size_t W)
{
    const size_t n = B * C * H * W;
    float *x, *y, *dy, *dx;
    char name[96];
    golden_case_begin(g, "relu");
    x = golden_case_tensor(g, "x", 4, B, C, H, W);
    y = golden_case_tensor(g, "y", 4, B, C, H, W);
    dy = golden_case_tensor(g, "dy", 4, B, C, H, W);
    dx = golden_case_tensor(g, "dx", 4, B, C, H, W);
    if (golden_case_failed(g))
        return golden_case_finish(g, "relu");
    golden_case_fill(g, x, n, -1.0f, 1.0f, 0);
    golden_case_fill(g, dy, n, -1.0f, 1.0f, 1);
    relu_forward(y, x, n);
    relu_backward(dx, dy, y, n);
    snprintf(name, sizeof name, "relu_%lux%lux%lux%lu", (unsigned long)B, (unsigned long)C,
             (unsigned long)H, (unsigned long)W);
    return golden_case_finish(g, name);
}

static int golden_maxpool(golden_case *g, size_t B, size_t C, size_t H, size_t W, size_t k,
                          size_t s, size_t p)
{
    pool_shape shape;
    float *x, *y, *dy, *dx;
    int32_t *argmax;
    char name[96];
    if (pool_shape_init(&shape, B, C, H, W, k, s, p) != 0)
        return simclr_fail(golden_case_error(g), "golden: maxpool geometry");
    golden_case_begin(g, "maxpool2d");
    golden_case_meta(g, "kernel", "%lu", (unsigned long)k);
    golden_case_meta(g, "stride", "%lu", (unsigned long)s);
    golden_case_meta(g, "padding", "%lu", (unsigned long)p);
    x = golden_case_tensor(g, "x", 4, B, C, H, W);
    y = golden_case_tensor(g, "y", 4, B, C, shape.out_height, shape.out_width);
    dy = golden_case_tensor(g, "dy", 4, B, C, shape.out_height, shape.out_width);
    dx = golden_case_tensor(g, "dx", 4, B, C, H, W);
    argmax = simclr_calloc(B * C * shape.out_height * shape.out_width, sizeof(int32_t),
                           "golden: argmax", golden_case_error(g));
    if (golden_case_failed(g) || argmax == NULL) {
        simclr_free(argmax);
        golden_case_fail(g);
        return golden_case_finish(g, "maxpool2d");
    }
    golden_case_fill(g, x, B * C * H * W, -1.0f, 1.0f, 0);
    golden_case_fill(g, dy, B * C * shape.out_height * shape.out_width, -1.0f, 1.0f, 1);
    maxpool_forward(y, argmax, x, &shape);
    maxpool_backward(dx, dy, argmax, &shape);
    simclr_free(argmax);
    snprintf(name, sizeof name, "maxpool2d_b%lu_c%lu_%lux%lu_k%lu_s%lu_p%lu", (unsigned long)B,
             (unsigned long)C, (unsigned long)H, (unsigned long)W, (unsigned long)k,
             (unsigned long)s, (unsigned long)p);
    return golden_case_finish(g, name);
}

static int golden_avgpool(golden_case *g, size_t B, size_t C, size_t H, size_t W)
{
    float *x, *y, *dy, *dx;
    char name[96];
    golden_case_begin(g, "avgpool");
    golden_case_meta(g, "output_size", "1");
    x = golden_case_tensor(g, "x", 4, B, C, H, W);
    y = golden_case_tensor(g, "y", 2, B, C, 0, 0);
    dy = golden_case_tensor(g, "dy", 2, B, C, 0, 0);
    dx = golden_case_tensor(g, "dx", 4, B, C, H, W);
    if (golden_case_failed(g))
        return golden_case_finish(g, "avgpool");
    golden_case_fill(g, x, B * C * H * W, -1.0f, 1.0f, 0);
    golden_case_fill(g, dy, B * C, -1.0f, 1.0f, 1);
    avgpool_forward(y, x, B, C, H * W);
    avgpool_backward(dx, dy, B, C, H * W);
    snprintf(name, sizeof name, "avgpool_b%lu_c%lu_%lux%lu", (unsigned long)B, (unsigned long)C,
             (unsigned long)H, (unsigned long)W);
    return golden_case_finish(g, name);
}

/* ---- the loss ------------------------------------------------------------------------------ */

static int golden_ntxent(golden_case *g, size_t N, size_t d, float temperature)
{
    contrastive_loss loss = contrastive_loss_default();
    contrastive_cache cache;
    size_t floats;
    float *z0, *z1, *value, *dz0, *dz1, *memory;
    char name[96];
    loss.temperature = temperature;
    if (contrastive_cache_floats(N, d, &floats, golden_case_error(g)) != SIMCLR_OK)
        return SIMCLR_FAILED;
    golden_case_begin(g, "ntxent");
    golden_case_meta(g, "temperature", "%.9g", (double)temperature);
    z0 = golden_case_tensor(g, "z0", 2, N, d, 0, 0);
    z1 = golden_case_tensor(g, "z1", 2, N, d, 0, 0);
    value = golden_case_tensor(g, "loss", 1, 1, 0, 0, 0);
    dz0 = golden_case_tensor(g, "dz0", 2, N, d, 0, 0);
    dz1 = golden_case_tensor(g, "dz1", 2, N, d, 0, 0);
    memory = simclr_calloc(floats, sizeof(float), "golden: loss cache", golden_case_error(g));
    if (golden_case_failed(g) || memory == NULL) {
        simclr_free(memory);
        golden_case_fail(g);
        return golden_case_finish(g, "ntxent");
    }
    golden_case_fill(g, z0, N * d, -1.0f, 1.0f, 0);
    golden_case_fill(g, z1, N * d, -1.0f, 1.0f, 1);
    contrastive_cache_bind(&cache, memory, N, d);
    value[0] = contrastive_loss_forward(&cache, z0, z1, &loss, N, d);
    contrastive_loss_backward(dz0, dz1, &cache, &loss, N, d);
    simclr_free(memory);
    snprintf(name, sizeof name, "ntxent_n%lu_d%lu_t%g", (unsigned long)N, (unsigned long)d,
             (double)temperature);
    return golden_case_finish(g, name);
}

/* ---- augmentations ------------------------------------------------------------------------- */

typedef enum golden_colour_op {
    OP_BRIGHTNESS, OP_CONTRAST, OP_SATURATION, OP_HUE, OP_GRAYSCALE, OP_HFLIP
} golden_colour_op;

static int golden_colour(golden_case *g, golden_colour_op op, size_t C, size_t H, size_t W,
                         float factor)
{
    static const char *const names[6] = {"brightness", "contrast", "saturation", "hue",
                                         "grayscale", "hflip"};
    const size_t n = C * H * W;
    float *img, *out;
    char name[96];
    golden_case_begin(g, names[op]);
    if (op <= OP_HUE)
        golden_case_meta(g, "factor", "%.9g", (double)factor);
    if (op == OP_GRAYSCALE)
        golden_case_meta(g, "num_output_channels", "%lu", (unsigned long)C);
    img = golden_case_tensor(g, "img", 3, C, H, W, 0);
    out = golden_case_tensor(g, "out", 3, C, H, W, 0);
    if (golden_case_failed(g))
        return golden_case_finish(g, names[op]);
    golden_case_fill(g, img, n, 0.0f, 1.0f, 0);
    memcpy(out, img, n * sizeof(float));
    switch (op) {
    case OP_BRIGHTNESS: aug_brightness(out, C, H, W, factor); break;
    case OP_CONTRAST: aug_contrast(out, C, H, W, factor); break;
    case OP_SATURATION: aug_saturation(out, C, H, W, factor); break;
    case OP_HUE: aug_hue(out, C, H, W, factor); break;
    case OP_GRAYSCALE: aug_grayscale(out, C, H, W); break;
    case OP_HFLIP: aug_hflip(out, C, H, W); break;
    }
    if (op <= OP_HUE)
        snprintf(name, sizeof name, "%s_c%lu_%lux%lu_f%g", names[op], (unsigned long)C,
                 (unsigned long)H, (unsigned long)W, (double)factor);
    else
        snprintf(name, sizeof name, "%s_c%lu_%lux%lu", names[op], (unsigned long)C,
                 (unsigned long)H, (unsigned long)W);
    return golden_case_finish(g, name);
}

static int golden_resized_crop(golden_case *g, size_t C, size_t H, size_t W, size_t top,
                               size_t left, size_t height, size_t width, size_t size)
{
    aug_crop window;
    float *img, *out, *workspace;
    char name[96];
    golden_case_begin(g, "resized_crop");
    golden_case_meta(g, "top", "%lu", (unsigned long)top);
    golden_case_meta(g, "left", "%lu", (unsigned long)left);
    golden_case_meta(g, "height", "%lu", (unsigned long)height);
    golden_case_meta(g, "width", "%lu", (unsigned long)width);
    golden_case_meta(g, "size", "%lu", (unsigned long)size);
    golden_case_meta(g, "interpolation", "bilinear");
    golden_case_meta(g, "antialias", "1");
    img = golden_case_tensor(g, "img", 3, C, H, W, 0);
    out = golden_case_tensor(g, "out", 3, C, size, size, 0);
    workspace = simclr_calloc(aug_resize_workspace_floats(C, height, size), sizeof(float),
                              "golden: workspace", golden_case_error(g));
    if (golden_case_failed(g) || workspace == NULL) {
        simclr_free(workspace);
        golden_case_fail(g);
        return golden_case_finish(g, "resized_crop");
    }
    golden_case_fill(g, img, C * H * W, 0.0f, 1.0f, 0);
    window.top = top;
    window.left = left;
    window.height = height;
    window.width = width;
    aug_resize(out, img, C, H, W, window, size, size, workspace);
    simclr_free(workspace);
    snprintf(name, sizeof name, "resized_crop_%lux%lu_at%lu,%lu_%lux%lu_to%lu", (unsigned long)H,
             (unsigned long)W, (unsigned long)top, (unsigned long)left, (unsigned long)height,
             (unsigned long)width, (unsigned long)size);
    return golden_case_finish(g, name);
}

static int golden_blur(golden_case *g, size_t C, size_t H, size_t W, size_t kernel, float sigma)
{
    float *img, *out, *workspace;
    char name[96];
    golden_case_begin(g, "gaussian_blur");
    golden_case_meta(g, "kernel_size", "%lu", (unsigned long)kernel);
    golden_case_meta(g, "sigma", "%.9g", (double)sigma);
    img = golden_case_tensor(g, "img", 3, C, H, W, 0);
    out = golden_case_tensor(g, "out", 3, C, H, W, 0);
    workspace = simclr_calloc(C * H * W, sizeof(float), "golden: workspace", golden_case_error(g));
    if (golden_case_failed(g) || workspace == NULL) {
        simclr_free(workspace);
        golden_case_fail(g);
        return golden_case_finish(g, "gaussian_blur");
    }
    golden_case_fill(g, img, C * H * W, 0.0f, 1.0f, 0);
    memcpy(out, img, C * H * W * sizeof(float));
    aug_gaussian_blur(out, C, H, W, kernel, sigma, workspace);
    simclr_free(workspace);
    snprintf(name, sizeof name, "gaussian_blur_c%lu_%lux%lu_k%lu_s%g", (unsigned long)C,
             (unsigned long)H, (unsigned long)W, (unsigned long)kernel, (double)sigma);
    return golden_case_finish(g, name);
}

/* ---- networks ------------------------------------------------------------------------------ */

/* Batch-norm state away from its initial 1/0/0/1, so evaluation mode has something to do. */
static void randomize_batchnorm(golden_case *g, param_store *store)
{
    size_t i;
    for (i = 0; i < store->count; i++) {
        const param_entry *e = &store->entries[i];
        float *at = (param_role_is_trainable(e->role) ? store->params : store->buffers) + e->offset;
        switch (e->role) {
        case PARAM_BN_WEIGHT: golden_case_fill(g, at, e->count, 0.5f, 1.5f, 100 + i); break;
        case PARAM_BN_BIAS: golden_case_fill(g, at, e->count, -0.2f, 0.2f, 100 + i); break;
        case BUFFER_RUNNING_MEAN: golden_case_fill(g, at, e->count, -0.2f, 0.2f, 100 + i); break;
        case BUFFER_RUNNING_VAR: golden_case_fill(g, at, e->count, 0.5f, 1.5f, 100 + i); break;
        default: break;
        }
    }
}

static int golden_resnet(golden_case *g, resnet_stem stem, size_t side)
{
    resnet_config config;
    resnet net;
    param_store store;
    resnet_activations acts;
    const size_t B = 2, C = 3;
    float *x, *h;
    char name[96];
    int status;
    config.arch = RESNET18;
    config.stem = stem;
    config.width = 1.0;
    config.in_channels = C;
    config.num_classes = 0;
    param_store_init(&store);
    golden_case_begin(g, "resnet");
    if (resnet_plan(&net, &config, &store, "", golden_case_error(g)) != SIMCLR_OK ||
        param_store_allocate(&store, golden_case_error(g)) != SIMCLR_OK) {
        param_store_destroy(&store);
        return SIMCLR_FAILED;
    }
    if (resnet_activations_create(&acts, &net, B, side, side, golden_case_error(g)) != SIMCLR_OK) {
        param_store_destroy(&store);
        return SIMCLR_FAILED;
    }
    param_store_init_torchvision(&store, GOLDEN_SEED);
    randomize_batchnorm(g, &store);
    golden_case_meta(g, "arch", "resnet18");
    golden_case_meta(g, "stem", "%s", resnet_stem_name(stem));
    golden_case_meta(g, "width", "1");
    golden_case_meta(g, "in_channels", "%lu", (unsigned long)C);
    golden_case_meta(g, "training", "0");
    golden_case_copy_store(g, "", &store);
    x = golden_case_tensor(g, "x", 4, B, C, side, side);
    h = golden_case_tensor(g, "h", 2, B, net.feature_dim, 0, 0);
    if (!golden_case_failed(g)) {
        golden_case_fill(g, x, B * C * side * side, -2.0f, 2.0f, 0);
        golden_margin margin;
        resnet_forward(&acts, x, &net, &store, 0);
        memcpy(h, acts.features, B * net.feature_dim * sizeof(float));
        golden_margin_init(&margin);
        if (golden_margin_resnet(&margin, &acts, &net, &store, 0, golden_case_error(g)) !=
            SIMCLR_OK)
            golden_case_fail(g);
        /* recorded, not required: a forward pass alone is continuous in every ReLU input */
        golden_case_meta(g, "relu_inputs", "%lu", (unsigned long)margin.inputs);
        golden_case_meta(g, "relu_margin", "%.6g", margin.minimum);
    }
    resnet_activations_destroy(&acts);
    param_store_destroy(&store);
    snprintf(name, sizeof name, "resnet18_%s_b%lu_%lux%lu", resnet_stem_name(stem),
             (unsigned long)B, (unsigned long)side, (unsigned long)side);
    status = golden_case_finish(g, name);
    return status;
}

/* ---- all of them --------------------------------------------------------------------------- */

/* The ops of the cases, in the order they are written. */
static const char *const golden_op_names[] = {
    "conv2d", "batchnorm2d", "batchnorm1d", "linear", "relu", "maxpool2d", "avgpool", "ntxent",
    "brightness", "contrast", "saturation", "hue", "grayscale", "hflip", "resized_crop",
    "gaussian_blur", "resnet", "train_step", "ntxent_distributed", "batchnorm_distributed", "rng",
    "init", "view", "train_steps", "end_to_end"};

static size_t count_char(const char *text, char c)
{
    size_t count = 0;
    for (; *text != '\0'; text++)
        count += *text == c;
    return count;
}

/* Cases that train a model, through the caller's writer (none: left out, keeping their
 * number). */
static int write_train(golden_case *g, golden_train_writer writer, golden_train_kind kind,
                       void *context)
{
    if (writer == NULL) {
        golden_case_skip(g);
        return SIMCLR_OK;
    }
    return writer(g, kind, context);
}

/* Is `op` in the comma-separated list `ops` (NULL: every op)? */
static int golden_selected(const char *ops, const char *op)
{
    size_t length = strlen(op);
    while (ops != NULL && *ops != '\0') {
        const char *end = strchr(ops, ',');
        size_t item = end != NULL ? (size_t)(end - ops) : strlen(ops);
        if (item == length && strncmp(ops, op, length) == 0)
            return 1;
        ops = end != NULL ? end + 1 : ops + item;
    }
    return ops == NULL;
}

/* The sink of golden_write_all: each file into the folder, then told to progress. */
typedef struct golden_folder {
    const char *dir;
    void (*progress)(const char *path);
} golden_folder;

static int golden_write_file(const char *file_name, const uint8_t *bytes, size_t size,
                             void *context, simclr_error *err)
{
    const golden_folder *folder = (const golden_folder *)context;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", folder->dir, file_name) >= (int)sizeof path)
        return simclr_fail(err, "golden: the path %s/%s is too long", folder->dir, file_name);
    if (file_write_atomically(path, bytes, size, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (folder->progress != NULL)
        folder->progress(path);
    return SIMCLR_OK;
}

int golden_write_all(const char *dir, const char *ops, golden_train_writer train,
                     void *context, void (*progress)(const char *path), simclr_error *err)
{
    golden_folder folder;
    folder.dir = dir;
    folder.progress = progress;
    return golden_emit_all(ops, train, context, golden_write_file, &folder, err);
}

int golden_emit_all(const char *ops, golden_train_writer train, void *context,
                    golden_sink sink, void *sink_context, simclr_error *err)
{
    static const size_t conv[][8] = {/* B, C, H, W, O, k, s, p */
                                     {2, 3, 7, 5, 4, 3, 1, 1}, {1, 2, 8, 8, 3, 3, 2, 1},
                                     {2, 3, 9, 9, 5, 1, 1, 0}, {1, 4, 6, 6, 2, 1, 2, 0},
                                     {2, 2, 11, 7, 3, 5, 2, 2}, {1, 3, 9, 8, 4, 7, 2, 3},
                                     {3, 2, 5, 5, 2, 3, 1, 0}};
    static const float brightness[] = {0.0f, 0.5f, 1.0f, 1.7f};
    static const float contrast[] = {0.0f, 0.5f, 1.5f, 2.0f};
    static const float saturation[] = {0.0f, 0.5f, 1.5f, 2.0f};
    static const float hue[] = {-0.5f, -0.2f, 0.0f, 0.1f, 0.5f};
    golden_case *g;
    size_t i, known = 0;
    int ok = 1;
    for (i = 0; ops != NULL && i < sizeof golden_op_names / sizeof golden_op_names[0]; i++)
        known += golden_selected(ops, golden_op_names[i]);
    if (ops != NULL && (known == 0 || known != 1 + count_char(ops, ',')))
        return simclr_fail(err, "--cases '%s': each item must be the op of a case, "
                                "once (the ops: simclr golden --help)", ops);
    g = golden_case_create(sink, sink_context, err);
    if (g == NULL)
        return SIMCLR_FAILED;
    golden_readme(g, "%s%d%s%s",
            "simclr-c reference outputs: one safetensors file per case, listed at the end.\n"
            "Each file's __metadata__ holds 'op' and every scalar parameter as a decimal\n"
            "string; its tensors are the inputs, the parameters and this implementation's\n"
            "outputs and gradients. tests/crosscheck_torch.py DIR recomputes every case with\n"
            "PyTorch and torchvision. Written by a build with FLT_EVAL_METHOD ",
            golden_float_eval_method(),
            " (0: every\n"
            "float operation rounded to float, as on every platform of the portability matrix).\n"
            "\n"
            "Common to all cases\n"
            "- float32, row-major, PyTorch layouts: activations (N, C, H, W), conv weights\n"
            "  (O, C, kh, kw), linear weights (out, in); images (C, H, W) with values in [0, 1].\n"
            "- Gradients are of the scalar L = sum(y * dy) with the stored dy, so dx, dweight\n"
            "  and dbias are the op's backward pass for the upstream gradient dy. ntxent,\n"
            "  ntxent_distributed and train_step: the gradients (and the step) are of the loss\n"
            "  itself.\n"
            "- The inputs are stored in the files; nothing needs regenerating. They were drawn\n"
            "  as uniform(low, high) values in storage order, input t of case c (inputs\n"
            "  numbered from 0 in the op's argument order, dy last; the cases of the full set\n"
            "  numbered from 1 in the order listed below) from the stream\n"
            "  rng_stream(2020, 'data', c, t, 0) of nn/rng.h (PCG32 seeded through SplitMix64,\n"
            "  uniform() = (next_u32() >> 8) * 2^-24); for example x and dy in [-1, 1), conv\n"
            "  and linear weights and biases in [-0.5, 0.5), images in [0, 1). The networks\n"
            "  start from torchvision's initialisation drawn from seed 2020.\n"
            "\n"
            "Per op\n"
            "conv2d        F.conv2d(x, weight, bias, stride, padding): cross-correlation, zero\n"
            "              padding, no dilation, one group.\n"
            "batchnorm2d,  F.batch_norm in training mode (training=1), per channel over its\n"
            "batchnorm1d   n = B*H*W values (n = B for 1-D), normalised with the biased batch\n"
            "              variance var = sum((x - mean)^2) / n:\n"
            "              y = weight * (x - mean) / sqrt(var + eps) + bias, eps = 1e-5.\n"
            "              Running statistics in PyTorch's sense, momentum m = 0.1:\n"
            "              running = (1 - m) * running + m * batch, where the batch variance\n"
            "              stored is the unbiased one, var * n / (n - 1). running_mean and\n"
            "              running_var are the values before, running_*_out after.\n"
            "linear        y = x weight^T + bias (F.linear).\n"
            "relu          y = max(x, 0); dx = dy where y > 0, else 0 (also at x = 0).\n"
            "maxpool2d     F.max_pool2d(x, kernel, stride, padding): the padding never wins\n"
            "              (-inf), output size rounded down; the value and the gradient go to\n"
            "              the first maximum of the window in row-major order.\n"
            "avgpool       F.adaptive_avg_pool2d(x, 1).flatten(1): the mean over H*W, y (B, C).\n"
            "ntxent        NT-Xent (paper Eq. 1; LightlySSL's NTXentLoss) over the 2N rows\n"
            "              [z0; z1] (rows 0..N-1 view 0, rows N..2N-1 view 1):\n"
            "              u = z / max(||z||, 1e-12) per row, s_ik = (u_i . u_k) / tau with\n"
            "              tau = temperature, l_i = -s_i,p(i) + log sum_{k != i} exp(s_ik) with\n"
            "              p(i) = i + N or i - N, loss = the mean of l_i over the 2N anchors\n"
            "              (N = 1 gives 0). The official TensorFlow SimCLR code reports\n"
            "              2 * loss (it adds the two directions' means).\n",
            "brightness    clamp(factor * img, 0, 1)                      (TF.adjust_brightness)\n"
            "contrast      clamp(factor * img + (1 - factor) * m, 0, 1), m = the mean over all\n"
            "              pixels of the grayscale image gray(img); a 1-channel image uses its\n"
            "              own mean                                         (TF.adjust_contrast)\n"
            "saturation    clamp(factor * img + (1 - factor) * gray(img), 0, 1)\n"
            "                                                             (TF.adjust_saturation)\n"
            "hue           RGB -> HSV, h = (h + factor) mod 1, HSV -> RGB        (TF.adjust_hue)\n"
            "grayscale     gray = 0.2989 R + 0.587 G + 0.114 B in num_output_channels channels\n"
            "                                                              (TF.rgb_to_grayscale)\n"
            "hflip         every row reversed                                        (TF.hflip)\n"
            "resized_crop  the window (top, left, height, width) resized to size x size:\n"
            "              bilinear, align_corners=False, antialiased as torchvision's\n"
            "              resize(antialias=True). Separable, along rows first, then columns;\n"
            "              per axis of in -> out: scale = in / out, support = max(scale, 1),\n"
            "              centre = (x + 0.5) * scale, taps j from max(int(centre - support\n"
            "              + 0.5), 0) to min(int(centre + support + 0.5), in) - 1 with triangle\n"
            "              weights max(0, 1 - |(j - centre + 0.5) / support|) normalised to sum\n"
            "              1 (shrinking widens the triangle to the scale; enlarging is plain\n"
            "              bilinear interpolation).\n"
            "gaussian_blur TF.gaussian_blur(img, [k, k], [sigma, sigma]), k = kernel_size: the\n"
            "              1-D kernel g(x) = exp(-x^2 / (2 sigma^2)), x = -(k-1)/2 .. (k-1)/2,\n"
            "              normalised to sum 1, along rows then columns; border 'reflect' as\n"
            "              torchvision pads (the edge not repeated: ... c b | a b c | b a ...).\n"
            "              The cases give k; in training k is 10 percent of the image side,\n"
            "              rounded down, made odd by adding 1 when even, and at least 3.\n"
            "resnet        torchvision's resnet18 without fc in evaluation mode (running\n"
            "              statistics); h = the global-average-pooled features (B, 512).\n"
            "              stem=imagenet: torchvision's stem; stem=cifar: conv1 = Conv2d(3, 64,\n"
            "              3, stride 1, padding 1, bias=False) and no max-pool. Tensors by\n"
            "              torchvision's state_dict names; the batch-norm weights, biases and\n"
            "              running statistics are random, so evaluation mode matters.\n");

    golden_readme(g, "%s",
            "train_step    one SimCLR step on ResNet-18 at width 1/16 (every channel count of\n"
            "              torchvision's resnet18 divided by 16: 4, 8, 16, 32; the cifar stem as\n"
            "              above, conv1 = Conv2d(3, 4, 3, 1, 1, bias=False)) + LightlySSL's\n"
            "              SimCLRProjectionHead (projection_head.layers = Linear(32, hidden,\n"
            "              bias=False), BatchNorm1d, ReLU, Linear(hidden, out_dim, bias=False),\n"
            "              BatchNorm1d) in training mode, hidden 16, out_dim 8. before.* is the\n"
            "              state before the step (the init case's), after.* after it; view0 and\n"
            "              view1 (N, 3, 8, 8) are the views (cifar preset at size 8) of the first\n"
            "              N built-in shapes images in epoch first_epoch; loss = NT-Xent(z0, z1)\n"
            "              as above, temperature 0.5. Metadata views_forward says how the views\n"
            "              go through the network:\n"
            "                joint     one batch of 2N, [view0; view1]: batch-norm statistics\n"
            "                          over both views (the official code).\n"
            "                separate  two batches of N, z0 = f(view0) then z1 = f(view1), each\n"
            "                          with its own batch-norm statistics; the running statistics\n"
            "                          are updated twice and num_batches_tracked grows by 2\n"
            "                          (LightlySSL's examples).\n"
            "              Optimiser sgd: torch.optim.SGD(model.parameters(), lr, momentum,\n"
            "              weight_decay), dampening 0, no Nesterov. Weight decay applies to every\n"
            "              trainable tensor: conv and linear weights and batch-norm weights and\n"
            "              biases alike (running statistics are buffers, not parameters). With\n"
            "              mu = momentum and wd = weight_decay, per tensor:\n"
            "                d = g + wd * w;  buf = d on the first step, then buf = mu * buf + d;\n"
            "                w = w - lr * buf\n"
            "              This is PyTorch's convention; the official code's momentum is\n"
            "              v = mu * v + lr * g, w = w - v (the same for one step from rest, not\n"
            "              when lr changes).\n"
            "              Optimiser lars (the official code's LARS, eta = lars_eta = 0.001),\n"
            "              per tensor, with w and g before the step:\n"
            "                conv and linear weights:  g = g + wd * w;\n"
            "                  trust = eta * ||w|| / ||g|| if both norms > 0, else 1\n"
            "                batch-norm weights and biases, and biases: neither (trust = 1)\n"
            "                v = mu * v + lr * trust * g;  w = w - v       (v starts at 0)\n"
            "              Norms are Euclidean over the whole tensor. The metadata keys decayed\n"
            "              and adapted say which tensors get weight decay and the trust ratio.\n");
    golden_readme(g, "%s",
            "train_steps   three steps of sgd or lars as above, joint and separate (N = 4),\n"
            "              step s (1, 2, 3) with lr / 2^(s-1) (metadata lr_steps) on its own\n"
            "              views, those of epoch first_epoch + s - 1: step<s>.view0,\n"
            "              step<s>.view1, and after the step step<s>.loss, step<s>.<name> (the\n"
            "              whole state, running statistics and num_batches_tracked included)\n"
            "              and step<s>.momentum.<name>\n"
            "              for each trainable tensor (sgd: buf; lars: v). before.* is the state\n"
            "              before step 1. Check each step alone, from the stored state before\n"
            "              it (weights, running statistics, momentum buffers): float32 training\n"
            "              of these small networks amplifies rounding ~10x per step, so two\n"
            "              correct implementations left to run three steps apart part by\n"
            "              1e-3 to 1e-1 (measured), and would pick other views.\n"
            "end_to_end    image -> two views -> ResNet -> head -> NT-Xent -> one sgd step, for\n"
            "              implementations that reproduce the streams: images (4, 3, 32, 32) are\n"
            "              the built-in shapes images numbered indices (6, 7, 8, 9); view v of\n"
            "              image k is the view (as the view op, cifar preset at size 8) from\n"
            "              stream(2020, 'view', first_epoch, indices[k], v); before.* is the init\n"
            "              case's state (reproducible from the seed); view0, view1, loss and\n"
            "              after.* are ours, as in train_step (joint).\n");
    golden_readme(g, "%s",
            "\n"
            "No knife edges\n"
            "ReLU's derivative jumps at 0, so a ReLU input within rounding distance of 0 can take\n"
            "the other branch in another correct implementation and change the gradient of every\n"
            "layer below it by ~1e-2. Every case that stores gradients of a network (train_step,\n"
            "train_steps, end_to_end) is chosen so that in each of its forward passes every ReLU\n"
            "input x keeps |x| / rms >= margin_required = 1e-4, with rms the root mean square of\n"
            "all the inputs of that ReLU in that pass (its layer's scale): the writer measures it\n"
            "and takes the next views (first_epoch) until it holds (metadata attempts). The\n"
            "measured minimum is the metadata relu_margin (with relu_inputs, the inputs counted);\n"
            "the summary at the end gives the smallest. These networks use the cifar stem: no\n"
            "max-pool, so no ties; NT-Xent and batch norm have no branches. The resnet cases\n"
            "(forward only) record relu_margin too without requiring it: a forward pass is\n"
            "continuous in every ReLU input, so a flipped branch there moves the output by no\n"
            "more than the rounding that flipped it.\n");
    golden_streams_readme(g);
    golden_distributed_readme(g);
    golden_readme(g, "\nCases:\n\n");
    /* A case left out still takes its number, so the others keep their input streams. */
#define RUN(op, call)                                  \
    do {                                               \
        if (!golden_selected(ops, op))                 \
            golden_case_skip(g);                       \
        else if (ok && (call) != SIMCLR_OK)            \
            ok = 0;                                    \
    } while (0)
    for (i = 0; i < sizeof conv / sizeof conv[0]; i++)
        RUN("conv2d", golden_conv2d(g, conv[i][0], conv[i][1], conv[i][2], conv[i][3],
                                    conv[i][4], conv[i][5], conv[i][6], conv[i][7]));
    RUN("batchnorm2d", golden_batchnorm(g, 4, 3, 5, 5));
    RUN("batchnorm2d", golden_batchnorm(g, 1, 2, 3, 3));
    RUN("batchnorm2d", golden_batchnorm(g, 2, 5, 4, 6));
    RUN("batchnorm1d", golden_batchnorm(g, 8, 6, 0, 0));
    RUN("batchnorm1d", golden_batchnorm(g, 3, 3, 0, 0)); /* (batch 2 would make dx exactly 0) */
    RUN("linear", golden_linear(g, 3, 5, 4));
    RUN("linear", golden_linear(g, 1, 7, 2));
    RUN("linear", golden_linear(g, 8, 16, 10));
    RUN("relu", golden_relu(g, 2, 3, 4, 5));
    RUN("relu", golden_relu(g, 1, 1, 1, 7));
    RUN("maxpool2d", golden_maxpool(g, 2, 3, 8, 8, 3, 2, 1));
    RUN("maxpool2d", golden_maxpool(g, 1, 2, 7, 5, 2, 2, 0));
    RUN("maxpool2d", golden_maxpool(g, 1, 1, 6, 6, 3, 1, 1));
    RUN("avgpool", golden_avgpool(g, 2, 3, 4, 4));
    RUN("avgpool", golden_avgpool(g, 1, 5, 1, 1));
    RUN("avgpool", golden_avgpool(g, 3, 2, 7, 5));
    RUN("ntxent", golden_ntxent(g, 4, 8, 0.5f));
    RUN("ntxent", golden_ntxent(g, 1, 3, 0.5f));
    RUN("ntxent", golden_ntxent(g, 8, 16, 0.1f));
    RUN("ntxent", golden_ntxent(g, 5, 7, 0.2f));
    for (i = 0; i < sizeof brightness / sizeof brightness[0]; i++)
        RUN("brightness", golden_colour(g, OP_BRIGHTNESS, 3, 9, 11, brightness[i]));
    RUN("brightness", golden_colour(g, OP_BRIGHTNESS, 1, 8, 8, 1.5f));
    for (i = 0; i < sizeof contrast / sizeof contrast[0]; i++)
        RUN("contrast", golden_colour(g, OP_CONTRAST, 3, 9, 11, contrast[i]));
    RUN("contrast", golden_colour(g, OP_CONTRAST, 1, 8, 8, 1.5f));
    for (i = 0; i < sizeof saturation / sizeof saturation[0]; i++)
        RUN("saturation", golden_colour(g, OP_SATURATION, 3, 9, 11, saturation[i]));
    for (i = 0; i < sizeof hue / sizeof hue[0]; i++)
        RUN("hue", golden_colour(g, OP_HUE, 3, 9, 11, hue[i]));
    RUN("grayscale", golden_colour(g, OP_GRAYSCALE, 3, 9, 11, 0.0f));
    RUN("hflip", golden_colour(g, OP_HFLIP, 3, 9, 11, 0.0f));
    RUN("resized_crop", golden_resized_crop(g, 3, 20, 24, 2, 3, 10, 12, 8));
    RUN("resized_crop", golden_resized_crop(g, 3, 20, 24, 0, 0, 20, 24, 32));
    RUN("resized_crop", golden_resized_crop(g, 3, 20, 24, 5, 1, 7, 9, 16));
    RUN("resized_crop", golden_resized_crop(g, 1, 20, 24, 1, 2, 17, 19, 6));
    RUN("gaussian_blur", golden_blur(g, 3, 12, 10, 3, 0.5f));
    RUN("gaussian_blur", golden_blur(g, 3, 12, 10, 5, 1.7f));
    RUN("gaussian_blur", golden_blur(g, 3, 9, 13, 7, 2.0f));
    RUN("gaussian_blur", golden_blur(g, 3, 2, 2, 3, 1.0f));
    RUN("resnet", golden_resnet(g, STEM_CIFAR, 32));
    RUN("resnet", golden_resnet(g, STEM_IMAGENET, 64));
    RUN("train_step", write_train(g, train, GOLDEN_TRAIN_STEP_JOINT, context));
    /* a 3×3 stride-1 convolution with 16 channels or more, which takes the Winograd path
     * (nn/winograd_internal.h); last, so that the cases before it keep their input streams */
    RUN("conv2d", golden_conv2d(g, 2, 16, 9, 10, 17, 3, 1, 1));
    /* the training step with the views as two batches of N (LightlySSL's examples) */
    RUN("train_step", write_train(g, train, GOLDEN_TRAIN_STEP_SEPARATE, context));
    /* data-parallel training, K ranks simulated in one process: here, before the ops below
     * that write several cases each (and view a number of them that depends on the machine),
     * so that their case numbers, hence their inputs, are the same for any selection; the
     * cases below draw nothing from their numbers */
    RUN("ntxent_distributed", golden_ntxent_distributed(g, 2, 8, 16, 0.5f));
    RUN("ntxent_distributed", golden_ntxent_distributed(g, 4, 8, 16, 0.5f));
    RUN("batchnorm_distributed", golden_batchnorm_distributed(g, 2, 4, 3, 5, 5));
    RUN("batchnorm_distributed", golden_batchnorm_distributed(g, 4, 8, 3, 4, 6));
    RUN("batchnorm_distributed", golden_batchnorm_distributed(g, 4, 8, 6, 0, 0));
    /* the second edition: streams, views, several steps, end to end */
    RUN("rng", golden_rng_cases(g));
    RUN("init", golden_init_case(g));
    RUN("view", golden_view_cases(g));
    RUN("train_steps", write_train(g, train, GOLDEN_TRAIN_STEPS, context));
    RUN("end_to_end", write_train(g, train, GOLDEN_END_TO_END, context));
#undef RUN
    if (ok)
        ok = golden_case_write_readme(g) == SIMCLR_OK;
    golden_case_destroy(g);
    return ok ? SIMCLR_OK : SIMCLR_FAILED;
}
