/*
 * eval/golden_streams.c — the rng, init and view reference cases; see golden_streams.h.
 */
#include "golden_streams.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../data/shapes.h"
#include "../nn/head.h"
#include "../nn/memory.h"
#include "../nn/params.h"
#include "../nn/resnet.h"
#include "../nn/rng.h"

/* ---- rng ----------------------------------------------------------------------------------- */

static const char *domain_name(uint64_t domain)
{
    return domain == RNG_DOMAIN_VIEW ? "view" : domain == RNG_DOMAIN_INIT ? "init"
         : domain == RNG_DOMAIN_SHUFFLE ? "shuf" : "data";
}

static int golden_rng(golden_case *g, uint64_t seed, uint64_t domain, uint64_t a, uint64_t b,
                      uint64_t c)
{
    static const int64_t ranges[4] = {2, 3, 10, 1000};
    rng r;
    int64_t *u32, *randint, *range, *order;
    float *uniform, *normal, *factors;
    aug_jitter jitter;
    char name[160];
    size_t i, k;
    golden_case_begin(g, "rng");
    rng_stream(&r, seed, domain, a, b, c);
    golden_case_meta(g, "seed", "%" PRIu64, seed);
    golden_case_meta(g, "domain", "%s", domain_name(domain));
    golden_case_meta(g, "domain_number", "%" PRIu64, domain);
    golden_case_meta(g, "a", "%" PRIu64, a);
    golden_case_meta(g, "b", "%" PRIu64, b);
    golden_case_meta(g, "c", "%" PRIu64, c);
    golden_case_meta(g, "state", "%" PRIu64, r.state);         /* right after seeding */
    golden_case_meta(g, "increment", "%" PRIu64, r.increment);
    golden_case_meta(g, "jitter_strength", "1");
    u32 = golden_case_int_tensor(g, "u32", 1, 16, 0);
    uniform = golden_case_tensor(g, "uniform", 1, 16, 0, 0, 0);
    normal = golden_case_tensor(g, "normal", 1, 8, 0, 0, 0);
    range = golden_case_int_tensor(g, "randint_n", 1, 4, 0);
    randint = golden_case_int_tensor(g, "randint", 2, 4, 8);
    order = golden_case_int_tensor(g, "jitter_order", 1, 4, 0);
    factors = golden_case_tensor(g, "jitter_factors", 1, 4, 0, 0, 0);
    if (u32 == NULL || uniform == NULL || normal == NULL || range == NULL || randint == NULL ||
        order == NULL || factors == NULL)
        return golden_case_finish(g, "rng");
    for (i = 0; i < 16; i++)
        u32[i] = rng_next_u32(&r);
    rng_stream(&r, seed, domain, a, b, c);
    for (i = 0; i < 16; i++)
        uniform[i] = rng_uniform(&r);
    rng_stream(&r, seed, domain, a, b, c);
    for (i = 0; i < 8; i++)
        normal[i] = rng_normal(&r);
    for (k = 0; k < 4; k++) {
        range[k] = ranges[k];
        rng_stream(&r, seed, domain, a, b, c);
        for (i = 0; i < 8; i++)
            randint[k * 8 + i] = rng_randint(&r, 0, ranges[k]);
    }
    rng_stream(&r, seed, domain, a, b, c);
    jitter = aug_jitter_draw(&r, 1.0f);
    for (i = 0; i < 4; i++)
        order[i] = jitter.order[i];
    factors[0] = jitter.brightness;
    factors[1] = jitter.contrast;
    factors[2] = jitter.saturation;
    factors[3] = jitter.hue;
    snprintf(name, sizeof name, "rng_%" PRIu64 "_%s_%" PRIu64 "_%" PRIu64 "_%" PRIu64, seed,
             domain_name(domain), a, b, c);
    return golden_case_finish(g, name);
}

int golden_rng_cases(golden_case *g)
{
    /* seed, domain, a, b, c: views (epoch, image, view) of training runs, and the others */
    static const uint64_t streams[][5] = {
        {2020, RNG_DOMAIN_VIEW, 0, 0, 0},     {2020, RNG_DOMAIN_VIEW, 0, 0, 1},
        {2020, RNG_DOMAIN_VIEW, 3, 17, 1},    {0, RNG_DOMAIN_VIEW, 0, 0, 0},
        {UINT64_MAX, RNG_DOMAIN_VIEW, 99, 59999, 1},
        {2020, RNG_DOMAIN_INIT, 0, 0, 0},     {2020, RNG_DOMAIN_SHUFFLE, 4, 0, 0},
        {2020, RNG_DOMAIN_DATA, 0, 7, 0}};
    size_t i;
    for (i = 0; i < sizeof streams / sizeof streams[0]; i++)
        if (golden_rng(g, streams[i][0], streams[i][1], streams[i][2], streams[i][3],
                       streams[i][4]) != SIMCLR_OK)
            return SIMCLR_FAILED;
    return SIMCLR_OK;
}

/* ---- init ---------------------------------------------------------------------------------- */

int golden_init_case(golden_case *g)
{
    resnet_config config;
    projection_head_config head_config;
    resnet net;
    projection_head head;
    param_store store;
    simclr_error *err = golden_case_error(g);
    int status;
    config.arch = RESNET18;
    config.stem = STEM_CIFAR;
    config.width = 0.0625;
    config.in_channels = 3;
    config.num_classes = 0;
    param_store_init(&store);
    if (resnet_plan(&net, &config, &store, "backbone.", err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    head_config = projection_head_default(net.feature_dim);
    head_config.hidden_dim = 16;
    head_config.out_dim = 8;
    if (projection_head_plan(&head, &head_config, &store, "projection_head.", err) != SIMCLR_OK ||
        param_store_allocate(&store, err) != SIMCLR_OK) {
        param_store_destroy(&store);
        return SIMCLR_FAILED;
    }
    param_store_init_torchvision(&store, GOLDEN_SEED);
    golden_case_begin(g, "init");
    golden_case_meta(g, "seed", "%d", GOLDEN_SEED);
    golden_case_meta(g, "arch", "resnet18");
    golden_case_meta(g, "stem", "cifar");
    golden_case_meta(g, "width", "0.0625");
    golden_case_meta(g, "in_channels", "3");
    golden_case_meta(g, "head_layers", "%lu", (unsigned long)head_config.num_layers);
    golden_case_meta(g, "hidden", "16");
    golden_case_meta(g, "out_dim", "8");
    golden_case_meta(g, "head_batch_norm", "%d", head_config.batch_norm);
    golden_case_copy_store(g, "", &store);
    param_store_destroy(&store);
    status = golden_case_finish(g, "init_resnet18_w0.0625_cifar_head16_8");
    return status;
}

/* ---- view ---------------------------------------------------------------------------------- */

static void view_parameters(golden_case *g, int v, const aug_view_params *p)
{
    char name[64];
    int64_t *crop, *flip, *jitter, *order, *gray, *blur, *kernel;
    float *factors, *sigma;
    int i;
#define NAME(suffix) (snprintf(name, sizeof name, "view%d.%s", v, suffix), name)
    crop = golden_case_int_tensor(g, NAME("crop"), 1, 4, 0);
    flip = golden_case_int_tensor(g, NAME("flip"), 1, 2, 0);
    jitter = golden_case_int_tensor(g, NAME("jitter"), 1, 1, 0);
    order = golden_case_int_tensor(g, NAME("jitter_order"), 1, 4, 0);
    factors = golden_case_tensor(g, NAME("jitter_factors"), 1, 4, 0, 0, 0);
    gray = golden_case_int_tensor(g, NAME("grayscale"), 1, 1, 0);
    blur = golden_case_int_tensor(g, NAME("blur"), 1, 1, 0);
    sigma = golden_case_tensor(g, NAME("blur_sigma"), 1, 1, 0, 0, 0);
    kernel = golden_case_int_tensor(g, NAME("blur_kernel"), 1, 1, 0);
#undef NAME
    if (crop == NULL || flip == NULL || jitter == NULL || order == NULL || factors == NULL ||
        gray == NULL || blur == NULL || sigma == NULL || kernel == NULL)
        return;
    crop[0] = (int64_t)p->crop.top;
    crop[1] = (int64_t)p->crop.left;
    crop[2] = (int64_t)p->crop.height;
    crop[3] = (int64_t)p->crop.width;
    flip[0] = p->hflip;
    flip[1] = p->vflip;
    jitter[0] = p->jitter;
    for (i = 0; i < 4; i++)
        order[i] = p->jitter_params.order[i];
    factors[0] = p->jitter_params.brightness;
    factors[1] = p->jitter_params.contrast;
    factors[2] = p->jitter_params.saturation;
    factors[3] = p->jitter_params.hue;
    gray[0] = p->grayscale;
    blur[0] = p->blur;
    sigma[0] = p->blur_sigma;
    kernel[0] = (int64_t)p->blur_kernel;
}

/* The two views of one image for one preset, as the training run makes them (aug_two_views),
 * and the parameters each drew (drawn again from the same stream, and the view made from
 * them checked to be the same bits). */
static int golden_view(golden_case *g, const float *image, size_t C, size_t H, size_t W,
                       const char *image_name, const char *preset, uint64_t epoch,
                       uint64_t index)
{
    simclr_error *err = golden_case_error(g);
    aug_config config;
    size_t S, floats;
    float *img, *views[2], *workspace, *pair, *check;
    char name[160];
    int v;
    if (aug_config_preset(&config, preset, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    S = config.size;
    golden_case_begin(g, "view");
    golden_case_meta(g, "preset", "%s", preset);
    golden_case_meta(g, "image", "%s", image_name);
    golden_case_meta(g, "seed", "%d", GOLDEN_SEED);
    golden_case_meta(g, "epoch", "%" PRIu64, epoch);
    golden_case_meta(g, "index", "%" PRIu64, index);
    golden_case_meta(g, "size", "%lu", (unsigned long)S);
    golden_case_meta(g, "min_scale", "%.17g", config.min_scale);
    golden_case_meta(g, "max_scale", "%.17g", config.max_scale);
    golden_case_meta(g, "min_ratio", "%.17g", config.min_ratio);
    golden_case_meta(g, "max_ratio", "%.17g", config.max_ratio);
    golden_case_meta(g, "p_hflip", "%.9g", (double)config.p_hflip);
    golden_case_meta(g, "p_vflip", "%.9g", (double)config.p_vflip);
    golden_case_meta(g, "p_jitter", "%.9g", (double)config.p_jitter);
    golden_case_meta(g, "strength", "%.9g", (double)config.strength);
    golden_case_meta(g, "p_gray", "%.9g", (double)config.p_gray);
    golden_case_meta(g, "p_blur", "%.9g", (double)config.p_blur);
    golden_case_meta(g, "blur_sigma_min", "%.9g", (double)config.blur_sigma_min);
    golden_case_meta(g, "blur_sigma_max", "%.9g", (double)config.blur_sigma_max);
    golden_case_meta(g, "normalize", "%d", config.normalize);
    golden_case_meta(g, "mean", "%.9g,%.9g,%.9g", (double)config.mean[0], (double)config.mean[1],
                     (double)config.mean[2]);
    golden_case_meta(g, "std", "%.9g,%.9g,%.9g", (double)config.std[0], (double)config.std[1],
                     (double)config.std[2]);
    img = golden_case_tensor(g, "img", 3, C, H, W, 0);
    views[0] = golden_case_tensor(g, "view0", 3, C, S, S, 0);
    views[1] = golden_case_tensor(g, "view1", 3, C, S, S, 0);
    floats = aug_view_workspace_floats(&config, C, H, W);
    workspace = simclr_calloc(floats + 3 * C * S * S, sizeof(float), "golden: view", err);
    if (img == NULL || views[0] == NULL || views[1] == NULL || workspace == NULL) {
        simclr_free(workspace);
        golden_case_abandon(g);
        return simclr_fail(err, "golden: out of memory for a view case");
    }
    pair = workspace + floats;     /* (2, 1, C, S, S) */
    check = pair + 2 * C * S * S;  /* (C, S, S) */
    memcpy(img, image, C * H * W * sizeof(float));
    aug_two_views(pair, 1, 0, image, C, H, W, &config, GOLDEN_SEED, epoch, index, workspace);
    memcpy(views[0], pair, C * S * S * sizeof(float));
    memcpy(views[1], pair + C * S * S, C * S * S * sizeof(float));
    for (v = 0; v < 2; v++) {
        rng r;
        aug_view_params params;
        rng_stream(&r, GOLDEN_SEED, RNG_DOMAIN_VIEW, epoch, index, (uint64_t)v);
        params = aug_view_sample(&r, &config, H, W);
        aug_view_apply(check, image, C, H, W, &config, &params, workspace);
        if (memcmp(check, views[v], C * S * S * sizeof(float)) != 0) {
            simclr_free(workspace);
            golden_case_abandon(g);
            return simclr_fail(err, "golden: view %d of %s differs from its parameters' view", v,
                               image_name);
        }
        view_parameters(g, v, &params);
    }
    simclr_free(workspace);
    snprintf(name, sizeof name, "view_%s_%s_e%" PRIu64 "_i%" PRIu64, image_name, preset, epoch,
             index);
    return golden_case_finish(g, name);
}

int golden_view_cases(golden_case *g)
{
    static const char *const presets[3] = {"imagenet", "cifar", "gray"};
    simclr_error *err = golden_case_error(g);
    dataset fashion;
    float *shapes, *odd, *wide, *digit = NULL;
    int have_fashion, status = SIMCLR_OK;
    size_t p, row;
    simclr_error ignored;
    /* a built-in shapes image (training split, seed 2020, index 0: the first image of
     * builtin:shapes), and an RGB image of odd size: rows 6..34 of test image 5 at side 41 */
    shapes = simclr_calloc(3 * 32 * 32 + 3 * 41 * 41 + 3 * 29 * 41, sizeof(float), "golden: images",
                           err);
    if (shapes == NULL)
        return SIMCLR_FAILED;
    wide = shapes + 3 * 32 * 32;
    odd = wide + 3 * 41 * 41;
    shapes_image(shapes, GOLDEN_SEED, SHAPES_TRAIN, 0, 32);
    shapes_image(wide, GOLDEN_SEED, SHAPES_TEST, 5, 41);
    for (p = 0; p < 3; p++)
        for (row = 0; row < 29; row++)
            memcpy(odd + (p * 29 + row) * 41, wide + (p * 41 + row + 6) * 41, 41 * sizeof(float));
    /* Fashion-MNIST's first test image (an ankle boot), where the dataset is installed */
    have_fashion = dataset_open(&fashion, GOLDEN_FASHION_MNIST, 0, 0, &ignored) == SIMCLR_OK;
    if (have_fashion) {
        digit = simclr_calloc(28 * 28, sizeof(float), "golden: image", err);
        if (digit == NULL || dataset_image(&fashion, 0, digit, err) != SIMCLR_OK)
            status = SIMCLR_FAILED;
        dataset_close(&fashion);
    } else {
        golden_readme(g, "(view cases of Fashion-MNIST not written: %s was not found)\n",
                      GOLDEN_FASHION_MNIST);
    }
    for (p = 0; p < 3 && status == SIMCLR_OK; p++) {
        if (have_fashion)
            status = golden_view(g, digit, 1, 28, 28, "fashion_mnist_test0", presets[p], p, 0);
        if (status == SIMCLR_OK)
            status = golden_view(g, shapes, 3, 32, 32, "shapes_train0", presets[p], p, 0);
        if (status == SIMCLR_OK)
            status = golden_view(g, odd, 3, 29, 41, "shapes_test5_29x41", presets[p], 7 + p, 5);
    }
    simclr_free(digit);
    simclr_free(shapes);
    return status;
}
