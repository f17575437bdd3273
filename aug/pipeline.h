/*
 * aug/pipeline.h — SimCLR's "stochastic data augmentation module" (paper §3 and Appendix A;
 * LightlySSL SimCLRTransform): the view pipeline, its presets, and two views per image.
 *
 * One view, in this order, every random draw from the view's own stream
 * rng_stream(seed, "view", epoch, image index, view index) (nn/rng.h):
 *   1. random resized crop to size × size        crop window drawn as aug/geometry.h
 *   2. horizontal flip       u < p_hflip           (u = uniform(), always drawn)
 *   3. vertical flip         u < p_vflip           (always drawn; p = 0 by default)
 *   4. colour jitter         u < p_jitter, then — always drawn, applied or not — a permutation
 *                            of (brightness, contrast, saturation, hue) by Fisher–Yates
 *                            (for i = 3, 2, 1: j = randint(0, i + 1), swap order[i], order[j]),
 *                            then b, c, s ~ uniform(max(0, 1 − 0.8·strength), 1 + 0.8·strength)
 *                            and h ~ uniform(−0.2·strength, 0.2·strength), in that order; applied
 *                            in the permuted order (aug/color.h), each clamping to [0, 1]
 *   5. random grayscale      u < p_gray
 *   6. Gaussian blur         u < p_blur, then σ ~ uniform(0.1, 2.0) (always drawn); kernel from
 *                            the output side (aug/blur.h)
 *   7. normalise             (x − mean_c)/std_c when the preset has statistics
 * Every probability test and every parameter is drawn whether or not it is used, so the layout
 * of a view's stream never depends on the probabilities — changing p_jitter does not change the
 * crop, flip or blur a view gets. (torchvision draws a transform's parameters only when it
 * applies it; the distributions are the same.)
 *
 * Presets (imagenet: paper §3 and Lightly's defaults; cifar: paper Appendix B.9 and Lightly's
 * CIFAR benchmark; gray: this project's choice for 1-channel data such as Fashion-MNIST):
 *   imagenet  224, min_scale 0.08, strength 1.0, p_jitter 0.8, p_gray 0.2, p_blur 0.5, ImageNet stats
 *   cifar      32, min_scale 0.08, strength 0.5, p_jitter 0.8, p_gray 0.2, p_blur 0,   CIFAR-10 stats
 *   gray       28, min_scale 0.2,  strength 0.5, p_jitter 0.8, p_gray 0,   p_blur 0,   Fashion-MNIST stats
 * all with scale up to 1, aspect ratio (3/4, 4/3), p_hflip 0.5, p_vflip 0.
 *
 * A batch: view v of image i goes to views[v][i] of a (2, N, C, size, size) block — view 0 of
 * every image, then view 1, the order the training step wants — computed in parallel over
 * images with one workspace slot per thread. A view depends only on its image, its index and
 * the (seed, epoch): the same bits for any thread count and any batch order.
 */
#ifndef SIMCLR_AUG_PIPELINE_H
#define SIMCLR_AUG_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"
#include "../nn/rng.h"
#include "geometry.h"

typedef struct aug_config {
    size_t size;                       /* output side */
    double min_scale, max_scale;       /* crop area fraction */
    double min_ratio, max_ratio;       /* crop aspect ratio */
    float p_hflip, p_vflip;
    float p_jitter, strength;          /* colour jitter probability and strength s */
    float p_gray;
    float p_blur, blur_sigma_min, blur_sigma_max;
    int normalize;                     /* 1: apply mean/std below */
    float mean[3], std[3];             /* per channel (the first entry for 1-channel images) */
} aug_config;

/* "imagenet", "cifar" or "gray" (the presets above); fails on any other name. */
int aug_config_preset(aug_config *config, const char *name, simclr_error *err);

/* The four colour-jitter factors of one view and their order. */
typedef struct aug_jitter {
    int order[4];                  /* 0 brightness, 1 contrast, 2 saturation, 3 hue */
    float brightness, contrast, saturation, hue;
} aug_jitter;

/* Draws the permutation and the factors as step 4 above. */
aug_jitter aug_jitter_draw(rng *random, float strength);

/* Applies the four operations in the drawn order. */
void aug_jitter_apply(float *image, /* (C, H, W) */
                      size_t channels, size_t height, size_t width, const aug_jitter *jitter);

/* Every parameter one view draws (steps 1-6), whether or not it is applied. */
typedef struct aug_view_params {
    aug_crop crop;                 /* step 1's window */
    int hflip, vflip;              /* steps 2-3: 1 when applied */
    int jitter;                    /* step 4 applied */
    aug_jitter jitter_params;      /* its order and factors, drawn either way */
    int grayscale;                 /* step 5 applied */
    int blur;                      /* step 6 applied */
    float blur_sigma;              /* σ, drawn either way */
    size_t blur_kernel;            /* the kernel size for the output side (aug/blur.h) */
} aug_view_params;

/* Draws one view's parameters from `random` in the order of steps 1-6, for an H × W image. */
aug_view_params aug_view_sample(rng *random, const aug_config *config, size_t height,
                                size_t width);

/* Makes the view from its drawn parameters (steps 1-7); aug_view is aug_view_sample then this. */
void aug_view_apply(float *view,        /* (C, size, size) */
                    const float *image, /* (C, H, W) in [0, 1] */
                    size_t channels, size_t height, size_t width, const aug_config *config,
                    const aug_view_params *params, float *workspace);

/* Floats of workspace one view of a C × H × W image needs (never less for a larger H or W). */
size_t aug_view_workspace_floats(const aug_config *config, size_t channels, size_t height,
                                 size_t width);

/* One view of one image, drawing from `random` (steps 1-7). */
void aug_view(float *view,        /* (C, size, size) */
              const float *image, /* (C, H, W) in [0, 1] */
              size_t channels, size_t height, size_t width, const aug_config *config,
              rng *random, float *workspace);

/* Workspace for aug_views_batch with `slots` threads (one view workspace per thread). */
size_t aug_batch_workspace_floats(const aug_config *config, size_t channels, size_t height,
                                  size_t width, int slots);

/* View v (0 or 1) of an image: from the stream (seed, "view", epoch, index, v). */
void aug_view_of_image(float *view,       /* (C, size, size) */
                       int v, const float *image, /* (C, H, W) in [0, 1] */
                       size_t channels, size_t height, size_t width, const aug_config *config,
                       uint64_t seed, uint64_t epoch, uint64_t index,
                       float *workspace); /* aug_view_workspace_floats(config, C, H, W) */

/* The two views of image i of a batch of `count`: views[v][i] = aug_view_of_image(v). */
void aug_two_views(float *views,       /* (2, count, C, size, size) */
                   size_t count, size_t i,
                   const float *image, /* (C, H, W) in [0, 1] */
                   size_t channels, size_t height, size_t width, const aug_config *config,
                   uint64_t seed, uint64_t epoch, uint64_t index,
                   float *workspace);  /* aug_view_workspace_floats(config, C, H, W) */

/* Two views of each of N images (all C × H × W): views[v][i] from the stream
 * (seed, "view", epoch, indices[i], v). */
void aug_views_batch(float *views,                /* (2, N, C, size, size) */
                     const float *const *images,  /* N pointers to (C, H, W) */
                     const uint64_t *indices,     /* (N) dataset index of each image */
                     size_t count, size_t channels, size_t height, size_t width,
                     const aug_config *config, uint64_t seed, uint64_t epoch,
                     float *workspace,            /* aug_batch_workspace_floats(…, slots) */
                     int slots);                  /* at most this many threads are used */

#endif
