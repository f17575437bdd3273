/*
 * eval/golden_streams.c — the rng, init and view reference cases; see golden_streams.h.
 */
#include "golden_streams.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../data/decimal.h"
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
    char name[160], text[64];
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
    /* %.17g by the library's own digits: C libraries print 17 digits differently */
    golden_case_meta(g, "min_scale", "%s",
                     decimal_format_g(text, sizeof text, config.min_scale, 17));
    golden_case_meta(g, "max_scale", "%s",
                     decimal_format_g(text, sizeof text, config.max_scale, 17));
    golden_case_meta(g, "min_ratio", "%s",
                     decimal_format_g(text, sizeof text, config.min_ratio, 17));
    golden_case_meta(g, "max_ratio", "%s",
                     decimal_format_g(text, sizeof text, config.max_ratio, 17));
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

/* ---- README.txt ---------------------------------------------------------------------------- */

void golden_streams_readme(golden_case *g)
{
    golden_readme(g, "%s",
        "\n"
        "Random streams (ops rng, init, view, end_to_end): everything needed to reproduce them\n"
        "All arithmetic on 64-bit unsigned integers is modulo 2^64, on 32-bit ones modulo 2^32.\n"
        "SplitMix64 next(s): s += 0x9e3779b97f4a7c15; z = s;\n"
        "              z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) *\n"
        "              0x94d049bb133111eb; return z ^ (z >> 31)   (s is updated in place).\n"
        "PCG32 (XSH-RR 64/32): next_u32(): old = state; state = old * 6364136223846793005 +\n"
        "              increment; x = uint32(((old >> 18) ^ old) >> 27); r = old >> 59;\n"
        "              return (x >> r) | (x << ((32 - r) & 31)).\n"
        "              seed(initstate, initseq): state = 0; increment = (initseq << 1) | 1;\n"
        "              next_u32(); state += initstate; next_u32().\n"
        "stream(seed, domain, a, b, c): key = seed; for v in (domain, a, b, c): s = key ^ v;\n"
        "              key = next(s); then s = key; initstate = next(s); initseq = next(s);\n"
        "              seed(initstate, initseq). domain is four ASCII letters read as a\n"
        "              big-endian number: 'view' 0x76696577, 'init' 0x696e6974, 'shuf'\n"
        "              0x73687566, 'data' 0x64617461. View v (0 or 1) of image i in epoch e of a\n"
        "              run seeded S draws from stream(S, 'view', e, i, v); initial weights from\n"
        "              stream(S, 'init', 0, 0, 0).\n"
        "Draws (float = IEEE binary32, every operation rounded to float unless 'double'):\n"
        "  uniform()       = float(next_u32() >> 8) * 2^-24, in [0, 1), exact\n"
        "  uniform(a, b)   = a + (b - a) * uniform(), a and b floats, in float\n"
        "  randint(lo, hi) n = hi - lo; t = (2^32 - n) mod n; draw r = next_u32() until r >= t;\n"
        "                  return lo + r mod n\n"
        "  normal()        u1 = uniform() first, then u2 = uniform(); in double:\n"
        "                  sqrt(-2 log(1 - u1)) * cos(2 pi u2), rounded to float; always two\n"
        "                  uniforms per normal (the sine half is not kept)\n"
        "  jitter(s)       order = [0, 1, 2, 3] (0 brightness, 1 contrast, 2 saturation, 3 hue);\n"
        "                  for i = 3, 2, 1: j = randint(0, i + 1), swap order[i] and order[j];\n"
        "                  m = 0.8 * s (float), low = max(0, 1 - m); then brightness, contrast,\n"
        "                  saturation = uniform(low, 1 + m) in that order, hue = uniform(-0.2 s,\n"
        "                  0.2 s)\n"
        );
    golden_readme(g, "%s",
        "rng           one stream: metadata seed, domain (its name and number), a, b, c, and\n"
        "              the PCG32 state and increment right after seeding; tensors u32 (16 first\n"
        "              next_u32(), as int64), and, each from a fresh copy of the stream: uniform\n"
        "              (16 uniform()), normal (8 normal()), randint (row k: 8 randint(0, n_k)\n"
        "              with n = randint_n = 2, 3, 10, 1000), jitter_order and jitter_factors\n"
        "              (brightness, contrast, saturation, hue) of jitter(1.0).\n"
        "init          the initial state of the model of train_step below (ResNet-18 at width\n"
        "              1/16 and the head 16 -> 8), seed 2020, torchvision's initialisation drawn\n"
        "              from stream(2020, 'init', 0, 0, 0) over the tensors in the order of\n"
        "              PyTorch's state_dict (backbone.conv1.weight, backbone.bn1.*, backbone.\n"
        "              layer1.0.conv1.weight, ..., each block's downsample after its conv2 and\n"
        "              bn2, then projection_head.layers.0.weight, ...): a conv weight\n"
        "              (O, C, k, k) takes std * normal() for each value in storage order,\n"
        "              std = float(\n"
        "              sqrt(2 / (O k k))) in double (kaiming_normal_, mode fan_out, ReLU gain);\n"
        "              a linear weight (out, in) or bias takes uniform(-bound, bound), bound =\n"
        "              float(1 / sqrt(in)); batch-norm weights and running variances are 1,\n"
        "              biases and running means 0, num_batches_tracked 0; nothing else draws.\n"
        );
    golden_readme(g, "%s",
        "view          the two views of (seed 2020, epoch, index) of one image for one preset:\n"
        "              img (C, H, W) in [0, 1], view0 and view1 (C, size, size), and beside\n"
        "              each view what it drew: view<v>.crop (top, left, height, width),\n"
        "              .flip (horizontal, vertical), .jitter (applied), .jitter_order,\n"
        "              .jitter_factors (brightness, contrast, saturation, hue), .grayscale\n"
        "              (applied), .blur (applied), .blur_sigma, .blur_kernel. The preset's\n"
        "              parameters are in the metadata. A view draws, from its stream, always\n"
        "              all of these in this order, whether applied or not:\n"
        "                1. crop: area = H W (double); lo = log(min_ratio), hi = log(max_ratio)\n"
        "                   (double); up to 10 times: target = area * uniform(float(min_scale),\n"
        "                   float(max_scale)), aspect = exp(uniform(float(lo), float(hi))),\n"
        "                   w = rint(sqrt(target * aspect)), h = rint(sqrt(target / aspect))\n"
        "                   (double; rint rounds half to even); if 0 < w <= W and 0 < h <= H:\n"
        "                   top = randint(0, H - h + 1), left = randint(0, W - w + 1), done.\n"
        "                   Else (all 10 failed): if W/H < min_ratio: w = W, h = rint(W /\n"
        "                   min_ratio); if W/H > max_ratio: h = H, w = rint(H * max_ratio);\n"
        "                   else w = W, h = H; top = (H - h) div 2, left = (W - w) div 2.\n"
        "                2. hflip = uniform() < p_hflip; 3. vflip = uniform() < p_vflip\n"
        "                4. jitter = uniform() < p_jitter, then jitter(strength)\n"
        "                5. grayscale = uniform() < p_gray\n"
        "                6. blur = uniform() < p_blur, then sigma = uniform(blur_sigma_min,\n"
        "                   blur_sigma_max); kernel = size / 10 rounded down, plus 1 if even,\n"
        "                   at least 3\n"
        "              and is made as: resized_crop (the window resized to size x size, as the\n"
        "              resized_crop op), hflip, vflip, the four jitter ops in jitter_order (each\n"
        "              as its op above; saturation and hue leave a 1-channel image as it is),\n"
        "              grayscale (3 channels: gray in all three; 1 channel: as it is),\n"
        "              gaussian_blur(kernel, sigma), then (x - mean_c) / std_c, each step only\n"
        "              when applied. Images: Fashion-MNIST's first test image (28 x 28, 1\n"
        "              channel, values / 255; written only where the dataset is installed in\n"
        "              " GOLDEN_FASHION_MNIST "), the first built-in shapes image (32 x 32),\n"
        "              and rows 6..34 of built-in shapes test image 5 at side 41 (29 x 41).\n");
}
