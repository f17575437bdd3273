/*
 * aug/pipeline.c — the SimCLR view pipeline: presets, colour jitter, one view, a batch of two
 * views per image. The order of operations and of random draws: aug/pipeline.h.
 */
#include "pipeline.h"

#include <string.h>

#include "../nn/parallel.h"
#include "blur.h"
#include "color.h"
#include "geometry.h"

int aug_config_preset(aug_config *c, const char *name, simclr_error *err)
{
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    static const float cifar_mean[3] = {0.4914f, 0.4822f, 0.4465f};
    static const float cifar_std[3] = {0.2470f, 0.2435f, 0.2616f};
    static const float fashion_mean[3] = {0.2860f, 0.2860f, 0.2860f};
    static const float fashion_std[3] = {0.3530f, 0.3530f, 0.3530f};
    memset(c, 0, sizeof *c);
    c->max_scale = 1.0;
    c->min_ratio = 3.0 / 4.0;
    c->max_ratio = 4.0 / 3.0;
    c->p_hflip = 0.5f;
    c->p_vflip = 0.0f;
    c->p_jitter = 0.8f;
    c->blur_sigma_min = 0.1f;
    c->blur_sigma_max = 2.0f;
    c->normalize = 1;
    if (strcmp(name, "imagenet") == 0) {
        c->size = 224, c->min_scale = 0.08, c->strength = 1.0f, c->p_gray = 0.2f, c->p_blur = 0.5f;
        memcpy(c->mean, imagenet_mean, sizeof c->mean);
        memcpy(c->std, imagenet_std, sizeof c->std);
    } else if (strcmp(name, "cifar") == 0) {
        c->size = 32, c->min_scale = 0.08, c->strength = 0.5f, c->p_gray = 0.2f, c->p_blur = 0.0f;
        memcpy(c->mean, cifar_mean, sizeof c->mean);
        memcpy(c->std, cifar_std, sizeof c->std);
    } else if (strcmp(name, "gray") == 0) {
        c->size = 28, c->min_scale = 0.2, c->strength = 0.5f, c->p_gray = 0.0f, c->p_blur = 0.0f;
        memcpy(c->mean, fashion_mean, sizeof c->mean);
        memcpy(c->std, fashion_std, sizeof c->std);
    } else {
        return simclr_fail(err, "unknown augmentation preset '%s' (choose imagenet, cifar or gray)",
                           name);
    }
    return SIMCLR_OK;
}

aug_jitter aug_jitter_draw(rng *random, float strength)
{
    const float magnitude = 0.8f * strength, low = 1.0f - magnitude > 0.0f ? 1.0f - magnitude : 0.0f;
    aug_jitter jitter;
    int i;
    for (i = 0; i < 4; i++)
        jitter.order[i] = i;
    for (i = 3; i >= 1; i--) { /* Fisher–Yates */
        const int j = (int)rng_randint(random, 0, i + 1), t = jitter.order[i];
        jitter.order[i] = jitter.order[j];
        jitter.order[j] = t;
    }
    jitter.brightness = rng_uniform_range(random, low, 1.0f + magnitude);
    jitter.contrast = rng_uniform_range(random, low, 1.0f + magnitude);
    jitter.saturation = rng_uniform_range(random, low, 1.0f + magnitude);
    jitter.hue = rng_uniform_range(random, -0.2f * strength, 0.2f * strength);
    return jitter;
}

void aug_jitter_apply(float *image, size_t channels, size_t height, size_t width,
                      const aug_jitter *jitter)
{
    int i;
    for (i = 0; i < 4; i++) {
        switch (jitter->order[i]) {
        case 0: aug_brightness(image, channels, height, width, jitter->brightness); break;
        case 1: aug_contrast(image, channels, height, width, jitter->contrast); break;
        case 2: aug_saturation(image, channels, height, width, jitter->saturation); break;
        default: aug_hue(image, channels, height, width, jitter->hue); break;
        }
    }
}

size_t aug_view_workspace_floats(const aug_config *config, size_t channels, size_t height,
                                 size_t width)
{
    const size_t resize = aug_resize_workspace_floats(channels, height, config->size);
    const size_t blur = channels * config->size * config->size;
    (void)width;
    return resize > blur ? resize : blur;
}

aug_view_params aug_view_sample(rng *random, const aug_config *config, size_t height,
                                size_t width)
{
    aug_view_params p;
    /* 1. random resized crop */
    p.crop = aug_sample_resized_crop(random, height, width, config->min_scale, config->max_scale,
                                     config->min_ratio, config->max_ratio);
    /* 2-3. flips */
    p.hflip = rng_uniform(random) < config->p_hflip;
    p.vflip = rng_uniform(random) < config->p_vflip;
    /* 4. colour jitter: the test, then its parameters, drawn either way */
    p.jitter = rng_uniform(random) < config->p_jitter;
    p.jitter_params = aug_jitter_draw(random, config->strength);
    /* 5. random grayscale */
    p.grayscale = rng_uniform(random) < config->p_gray;
    /* 6. Gaussian blur: the test, then σ, drawn either way */
    p.blur = rng_uniform(random) < config->p_blur;
    p.blur_sigma = rng_uniform_range(random, config->blur_sigma_min, config->blur_sigma_max);
    p.blur_kernel = aug_blur_kernel_size(config->size);
    return p;
}

void aug_view_apply(float *view, const float *image, size_t channels, size_t height, size_t width,
                    const aug_config *config, const aug_view_params *p, float *workspace)
{
    const size_t S = config->size;
    aug_resize(view, image, channels, height, width, p->crop, S, S, workspace);
    if (p->hflip)
        aug_hflip(view, channels, S, S);
    if (p->vflip)
        aug_vflip(view, channels, S, S);
    if (p->jitter)
        aug_jitter_apply(view, channels, S, S, &p->jitter_params);
    if (p->grayscale)
        aug_grayscale(view, channels, S, S);
    if (p->blur)
        aug_gaussian_blur(view, channels, S, S, p->blur_kernel, p->blur_sigma, workspace);
    if (config->normalize) /* 7. */
        aug_normalize(view, channels, S, S, config->mean, config->std);
}

void aug_view(float *view, const float *image, size_t channels, size_t height, size_t width,
              const aug_config *config, rng *random, float *workspace)
{
    const aug_view_params params = aug_view_sample(random, config, height, width);
    aug_view_apply(view, image, channels, height, width, config, &params, workspace);
}

size_t aug_batch_workspace_floats(const aug_config *config, size_t channels, size_t height,
                                  size_t width, int slots)
{
    return (size_t)(slots > 1 ? slots : 1) *
           aug_view_workspace_floats(config, channels, height, width);
}

void aug_view_of_image(float *view, int v, const float *image, size_t channels, size_t height,
                       size_t width, const aug_config *config, uint64_t seed, uint64_t epoch,
                       uint64_t index, float *workspace)
{
    rng random;
    rng_stream(&random, seed, RNG_DOMAIN_VIEW, epoch, index, (uint64_t)v);
    aug_view(view, image, channels, height, width, config, &random, workspace);
}

void aug_two_views(float *views, size_t count, size_t i, const float *image, size_t channels,
                   size_t height, size_t width, const aug_config *config, uint64_t seed,
                   uint64_t epoch, uint64_t index, float *workspace)
{
    const size_t view_floats = channels * config->size * config->size;
    int v;
    for (v = 0; v < 2; v++)
        aug_view_of_image(views + ((size_t)v * count + i) * view_floats, v, image, channels,
                          height, width, config, seed, epoch, index, workspace);
}

void aug_views_batch(float *views, const float *const *images, const uint64_t *indices,
                     size_t count, size_t channels, size_t height, size_t width,
                     const aug_config *config, uint64_t seed, uint64_t epoch, float *workspace,
                     int slots)
{
    const size_t slot = aug_view_workspace_floats(config, channels, height, width);
    const int threads = slots > 1 ? slots : 1;
    size_t i;
    (void)threads; /* read only by the OpenMP pragma */
    PARALLEL_FOR_DYNAMIC(num_threads(threads))
    for (i = 0; i < count; i++)
        aug_two_views(views, count, i, images[i], channels, height, width, config, seed, epoch,
                      indices[i], workspace + (size_t)parallel_thread_index() * slot);
}
