/*
 * tests/test_aug.c — the augmentation operations (aug/) against hand-computed values and the
 * formulas in the aug/ headers, and the crop sampler against the distributions it must draw from.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

#define CLOSE(a, b, tolerance) (fabs((double)(a) - (double)(b)) <= (tolerance))

/* ---- colour ------------------------------------------------------------------------------ */

/* brightness b: clamp(b·x): 0.4·1.5 = 0.6, 0.8·1.5 = 1.2 → 1, 0.3·0.5 = 0.15. */
Test(color, brightness_by_hand)
{
    float image[3] = {0.4f, 0.8f, 0.3f};
    aug_brightness(image, 1, 1, 2, 1.5f);
    cr_expect(CLOSE(image[0], 0.6, 1e-7) && image[1] == 1.0f && image[2] == 0.3f);
    aug_brightness(image + 2, 1, 1, 1, 0.5f);
    cr_expect(CLOSE(image[2], 0.15, 1e-7));
}

/* contrast c = 0.5 on two RGB pixels (1,0,0) and (0,0,1): gray = 0.2989 and 0.114, mean
 * m = 0.20645; every value becomes 0.5·x + 0.5·m: 1 → 0.603225, 0 → 0.103225. */
Test(color, contrast_by_hand)
{
    float image[6] = {1, 0, /* R */ 0, 0, /* G */ 0, 1 /* B */};
    const double m = 0.20645;
    aug_contrast(image, 3, 1, 2, 0.5f);
    cr_expect(CLOSE(image[0], 0.5 + 0.5 * m, 1e-6) && CLOSE(image[1], 0.5 * m, 1e-6));
    cr_expect(CLOSE(image[2], 0.5 * m, 1e-6) && CLOSE(image[3], 0.5 * m, 1e-6));
    cr_expect(CLOSE(image[4], 0.5 * m, 1e-6) && CLOSE(image[5], 0.5 + 0.5 * m, 1e-6));
}

/* A 1-channel image blends with the mean of the image: [0.2, 0.6], c = 2 → 2x − 0.4. */
Test(color, contrast_grayscale_image)
{
    float image[2] = {0.2f, 0.6f};
    aug_contrast(image, 1, 1, 2, 2.0f);
    cr_expect(CLOSE(image[0], 0.0, 1e-7) && CLOSE(image[1], 0.8, 1e-6));
}

/* saturation on (0.2, 0.4, 0.6): gray = 0.36298; s = 0 gives gray everywhere, s = 2 gives
 * 2x − gray = (0.03702, 0.43702, 0.83702). */
Test(color, saturation_by_hand)
{
    float a[3] = {0.2f, 0.4f, 0.6f}, b[3] = {0.2f, 0.4f, 0.6f}, one[1] = {0.7f};
    aug_saturation(a, 3, 1, 1, 0.0f);
    aug_saturation(b, 3, 1, 1, 2.0f);
    cr_expect(CLOSE(a[0], 0.36298, 1e-6) && CLOSE(a[1], 0.36298, 1e-6) && CLOSE(a[2], 0.36298, 1e-6));
    cr_expect(CLOSE(b[0], 0.03702, 1e-6) && CLOSE(b[1], 0.43702, 1e-6) && CLOSE(b[2], 0.83702, 1e-6));
    aug_saturation(one, 1, 1, 1, 2.0f);
    cr_expect_eq(one[0], 0.7f, "identity on 1-channel images");
}

Test(color, grayscale_of_pure_red)
{
    float red[3] = {1, 0, 0};
    aug_grayscale(red, 3, 1, 1);
    cr_expect(red[0] == 0.2989f && red[1] == 0.2989f && red[2] == 0.2989f);
}

/* RGB → HSV → RGB over an 11³ grid of colours, within 1e-6. */
Test(color, hsv_round_trip)
{
    int r, g, b;
    for (r = 0; r <= 10; r++)
        for (g = 0; g <= 10; g++)
            for (b = 0; b <= 10; b++) {
                float h, s, v, r2, g2, b2;
                aug_rgb_to_hsv(r / 10.0f, g / 10.0f, b / 10.0f, &h, &s, &v);
                cr_assert(h >= 0.0f && h < 1.0f);
                aug_hsv_to_rgb(h, s, v, &r2, &g2, &b2);
                cr_assert(CLOSE(r2, r / 10.0, 1e-6) && CLOSE(g2, g / 10.0, 1e-6) &&
                              CLOSE(b2, b / 10.0, 1e-6),
                          "(%d,%d,%d) came back as (%g,%g,%g)", r, g, b, r2, g2, b2);
            }
}

/* A hue shift of 1/3 turns pure red into pure green (and green into blue); −1/3 goes back. */
Test(color, hue_third_turns_red_into_green)
{
    float image[6] = {1, 0, /* R */ 0, 1, /* G */ 0, 0 /* B */};
    aug_hue(image, 3, 1, 2, 1.0f / 3.0f);
    cr_expect(CLOSE(image[0], 0, 1e-6) && CLOSE(image[2], 1, 1e-6) && CLOSE(image[4], 0, 1e-6));
    cr_expect(CLOSE(image[1], 0, 1e-6) && CLOSE(image[3], 0, 1e-6) && CLOSE(image[5], 1, 1e-6));
    aug_hue(image, 3, 1, 2, -1.0f / 3.0f);
    cr_expect(CLOSE(image[0], 1, 1e-6) && CLOSE(image[2], 0, 1e-6));
}

Test(color, normalize_per_channel)
{
    float image[2] = {0.5f, 0.25f};
    const float mean[2] = {0.25f, 0.5f}, std[2] = {0.5f, 0.25f};
    aug_normalize(image, 2, 1, 1, mean, std);
    cr_expect(image[0] == 0.5f && image[1] == -1.0f);
}

/* ---- blur -------------------------------------------------------------------------------- */

/* 10% of the side, rounded down, odd, at least 3: 32 → 3, 100 → 11, 224 → 23, 28 → 3. */
Test(blur, kernel_size_rule)
{
    cr_expect_eq(aug_blur_kernel_size(32), 3u);
    cr_expect_eq(aug_blur_kernel_size(100), 11u);
    cr_expect_eq(aug_blur_kernel_size(224), 23u);
    cr_expect_eq(aug_blur_kernel_size(28), 3u);
    cr_expect_eq(aug_blur_kernel_size(90), 9u);
}

/* The kernel: symmetric, sums to 1, equals exp(−x²/2σ²)/Σ. */
Test(blur, kernel_formula)
{
    float kernel[23];
    const float sigma = 1.7f;
    double total = 0.0, sum = 0.0;
    int i;
    aug_blur_kernel(kernel, 23, sigma);
    for (i = 0; i < 23; i++)
        total += exp(-(i - 11.0) * (i - 11.0) / (2.0 * sigma * sigma));
    for (i = 0; i < 23; i++) {
        cr_expect(CLOSE(kernel[i], exp(-(i - 11.0) * (i - 11.0) / (2.0 * sigma * sigma)) / total,
                        1e-7));
        cr_expect_eq(kernel[i], kernel[22 - i]);
        sum += kernel[i];
    }
    cr_expect(CLOSE(sum, 1.0, 1e-6));
}

Test(blur, constant_image_stays_constant)
{
    float image[3 * 7 * 9], workspace[3 * 7 * 9];
    int i;
    for (i = 0; i < 3 * 7 * 9; i++)
        image[i] = 0.37f;
    aug_gaussian_blur(image, 3, 7, 9, 5, 1.3f, workspace);
    for (i = 0; i < 3 * 7 * 9; i++)
        cr_assert(CLOSE(image[i], 0.37, 1e-6), "pixel %d = %.8g", i, image[i]);
}

/* Reflection without repeating the edge: … 2 1 | 0 1 2 3 4 | 3 2 …; on the ramp 0..4 with a
 * 3-tap kernel (w, c, w) the ends become 2w·1 + c·0 = 2w and 2w·3 + c·4, the inside stays. */
Test(blur, reflect_border_on_a_ramp)
{
    float ramp[5] = {0, 1, 2, 3, 4}, workspace[5], kernel[3];
    int i;
    cr_expect(aug_reflect_index(-1, 5) == 1 && aug_reflect_index(-2, 5) == 2);
    cr_expect(aug_reflect_index(5, 5) == 3 && aug_reflect_index(6, 5) == 2);
    cr_expect(aug_reflect_index(0, 1) == 0);
    aug_blur_kernel(kernel, 3, 1.0f);
    aug_gaussian_blur(ramp, 1, 1, 5, 3, 1.0f, workspace);
    cr_expect(CLOSE(ramp[0], 2 * kernel[0], 1e-6), "%.8g", ramp[0]);
    cr_expect(CLOSE(ramp[4], 6 * kernel[0] + 4 * kernel[1], 1e-6), "%.8g", ramp[4]);
    for (i = 1; i < 4; i++)
        cr_expect(CLOSE(ramp[i], i, 1e-6), "a linear ramp is unchanged inside: %.8g", ramp[i]);
}

/* ---- geometry ---------------------------------------------------------------------------- */

Test(resize, constant_stays_constant_and_same_size_is_identity)
{
    float image[2 * 9 * 7], out[2 * 4 * 5], same[2 * 9 * 7], workspace[2 * 9 * 7];
    aug_crop whole = {0, 0, 9, 7};
    int i;
    for (i = 0; i < 2 * 9 * 7; i++)
        image[i] = 0.625f;
    aug_resize(out, image, 2, 9, 7, whole, 4, 5, workspace);
    for (i = 0; i < 2 * 4 * 5; i++)
        cr_assert(CLOSE(out[i], 0.625, 1e-6));
    test_fill_uniform(image, 2 * 9 * 7, 0, 1, 1000);
    aug_resize(same, image, 2, 9, 7, whole, 9, 7, workspace);
    cr_expect(memcmp(same, image, sizeof image) == 0, "same size must be the identity");
}

/* 4 → 2 (scale 2, support 2): output 0 has centre 1, taps 0..2 with triangle weights
 * 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7; output 1 has centre 3, taps 1..3 → 1/7, 3/7, 3/7.
 * On the row 0 1 2 3: 5/7 and 16/7. */
Test(resize, twofold_downscale_triangle_weights)
{
    const float row[4] = {0, 1, 2, 3};
    float out[2], workspace[4];
    aug_crop whole = {0, 0, 1, 4};
    aug_resize(out, row, 1, 1, 4, whole, 1, 2, workspace);
    cr_expect(CLOSE(out[0], 5.0 / 7.0, 1e-6) && CLOSE(out[1], 16.0 / 7.0, 1e-6), "%.8g %.8g",
              out[0], out[1]);
}

/* A window of the image is resized, not the image: the crop (1, 2, 2, 2) of a 4×5 ramp at its
 * own size returns those four pixels. */
Test(resize, window_is_read_from_the_right_place)
{
    float image[20], out[4], workspace[8];
    aug_crop window = {1, 2, 2, 2};
    int i;
    for (i = 0; i < 20; i++)
        image[i] = (float)i;
    aug_resize(out, image, 1, 4, 5, window, 2, 2, workspace);
    cr_expect(out[0] == 7 && out[1] == 8 && out[2] == 12 && out[3] == 13);
}

Test(flip, twice_is_identity)
{
    float image[2 * 3 * 5], copy[2 * 3 * 5];
    test_fill_uniform(image, 30, 0, 1, 1001);
    memcpy(copy, image, sizeof image);
    aug_hflip(image, 2, 3, 5);
    cr_expect(image[0] == copy[4] && image[4] == copy[0] && image[2] == copy[2]);
    aug_hflip(image, 2, 3, 5);
    cr_expect(memcmp(image, copy, sizeof image) == 0);
    aug_vflip(image, 2, 3, 5);
    cr_expect(image[0] == copy[10] && image[5] == copy[5]);
    aug_vflip(image, 2, 3, 5);
    cr_expect(memcmp(image, copy, sizeof image) == 0);
}

/* ---- the crop sampler -------------------------------------------------------------------- */

Test(crop, always_inside_the_image)
{
    const size_t sizes[4][2] = {{100, 100}, {37, 53}, {224, 160}, {3, 2}};
    rng random;
    int s, n;
    rng_stream(&random, 7, RNG_DOMAIN_VIEW, 0, 0, 0);
    for (s = 0; s < 4; s++)
        for (n = 0; n < 10000; n++) {
            aug_crop c = aug_sample_resized_crop(&random, sizes[s][0], sizes[s][1], 0.08, 1.0,
                                                 3.0 / 4.0, 4.0 / 3.0);
            cr_assert(c.height > 0 && c.width > 0);
            cr_assert(c.top + c.height <= sizes[s][0] && c.left + c.width <= sizes[s][1]);
        }
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Kolmogorov–Smirnov distance of the sample from the uniform distribution on [low, high]. */
static double ks_uniform(double *x, size_t n, double low, double high)
{
    double worst = 0.0;
    size_t i;
    qsort(x, n, sizeof(double), compare_doubles);
    for (i = 0; i < n; i++) {
        const double F = (x[i] - low) / (high - low);
        worst = fmax(worst, fmax((double)(i + 1) / n - F, F - (double)i / n));
    }
    return worst;
}

/* On a 1000×1000 image, an attempt with area fraction A <= 3/4 always fits (A·4/3 <= 1), so
 * conditional on A <= 0.7 the accepted crops have A uniform on [0.08, 0.7] and log aspect ratio
 * uniform on [log 3/4, log 4/3], independently (torchvision's draws). 10,000 draws;
 * Kolmogorov–Smirnov at 1%: D < 1.628/sqrt(n). Rounding w and h to pixels moves the measured
 * values by < 0.3%, far inside that. */
Test(crop, area_and_aspect_are_uniform)
{
    double *area = malloc(10000 * sizeof(double)), *aspect = malloc(10000 * sizeof(double));
    size_t n = 0, i;
    rng random;
    rng_stream(&random, 11, RNG_DOMAIN_VIEW, 0, 0, 0);
    for (i = 0; i < 10000; i++) {
        aug_crop c = aug_sample_resized_crop(&random, 1000, 1000, 0.08, 1.0, 0.75, 4.0 / 3.0);
        const double a = (double)c.height * (double)c.width / 1e6;
        if (a <= 0.7) {
            area[n] = a;
            aspect[n] = log((double)c.width / (double)c.height);
            n++;
        }
    }
    cr_assert_gt(n, 7000u);
    cr_expect_lt(ks_uniform(area, n, 0.08, 0.7), 1.628 / sqrt((double)n), "area, n=%zu", n);
    cr_expect_lt(ks_uniform(aspect, n, log(0.75), log(4.0 / 3.0)), 1.628 / sqrt((double)n),
                 "log aspect, n=%zu", n);
    free(area), free(aspect);
}

/* A 1×100 image never fits a crop of aspect within [3/4, 4/3] and area >= 8 pixels (h >= 2), so
 * every call takes the fallback: in_ratio = 100 > 4/3 → h = 1, w = rint(4/3) = 1, centred:
 * (top, left) = (0, 49). The 100×1 image: w = 1, h = rint(1/0.75) = 1, (49, 0). */
Test(crop, fallback_centre_crop)
{
    rng random;
    aug_crop c;
    rng_stream(&random, 12, RNG_DOMAIN_VIEW, 0, 0, 0);
    c = aug_sample_resized_crop(&random, 1, 100, 0.08, 1.0, 0.75, 4.0 / 3.0);
    cr_expect(c.top == 0 && c.left == 49 && c.height == 1 && c.width == 1, "%zu %zu %zu %zu",
              c.top, c.left, c.height, c.width);
    c = aug_sample_resized_crop(&random, 100, 1, 0.08, 1.0, 0.75, 4.0 / 3.0);
    cr_expect(c.top == 49 && c.left == 0 && c.height == 1 && c.width == 1);
    /* a 10×100 image: in_ratio 10 > 4/3 → h = 10, w = rint(13.33) = 13 */
    c = aug_sample_resized_crop(&random, 10, 100, 0.9, 1.0, 0.75, 4.0 / 3.0);
    cr_expect(c.height == 10 && c.width == 13 && c.top == 0 && c.left == 43, "%zu %zu %zu %zu",
              c.top, c.left, c.height, c.width);
}

/* ---- the pipeline ------------------------------------------------------------------------ */

Test(pipeline, presets_of_the_spec)
{
    aug_config c;
    simclr_error err;
    cr_assert_eq(aug_config_preset(&c, "imagenet", &err), SIMCLR_OK);
    cr_expect(c.size == 224 && c.min_scale == 0.08 && c.strength == 1.0f && c.p_jitter == 0.8f &&
              c.p_gray == 0.2f && c.p_blur == 0.5f && c.mean[0] == 0.485f);
    cr_assert_eq(aug_config_preset(&c, "cifar", &err), SIMCLR_OK);
    cr_expect(c.size == 32 && c.strength == 0.5f && c.p_blur == 0.0f && c.std[2] == 0.2616f);
    cr_assert_eq(aug_config_preset(&c, "gray", &err), SIMCLR_OK);
    cr_expect(c.size == 28 && c.min_scale == 0.2 && c.p_gray == 0.0f && c.mean[0] == 0.2860f);
    cr_expect(c.p_hflip == 0.5f && c.p_vflip == 0.0f && c.max_ratio == 4.0 / 3.0);
    cr_expect_eq(aug_config_preset(&c, "svhn", &err), SIMCLR_FAILED);
}

/* Fisher–Yates gives every one of the 24 orders; factors stay in their ranges. */
Test(pipeline, jitter_draws_permutations_and_ranges)
{
    int seen[4][4][4][4] = {{{{0}}}}, n, distinct = 0, a, b, c, d;
    rng random;
    rng_stream(&random, 3, RNG_DOMAIN_VIEW, 0, 0, 0);
    for (n = 0; n < 2400; n++) {
        aug_jitter j = aug_jitter_draw(&random, 0.5f);
        seen[j.order[0]][j.order[1]][j.order[2]][j.order[3]] = 1;
        cr_assert(j.brightness >= 0.6f && j.brightness < 1.4f && j.hue >= -0.1f && j.hue < 0.1f);
    }
    for (a = 0; a < 4; a++)
        for (b = 0; b < 4; b++)
            for (c = 0; c < 4; c++)
                for (d = 0; d < 4; d++)
                    distinct += seen[a][b][c][d];
    cr_expect_eq(distinct, 24);
}

static aug_config identity_config(size_t size)
{
    aug_config c;
    memset(&c, 0, sizeof c);
    c.size = size;
    c.min_scale = c.max_scale = 1.0;
    c.min_ratio = c.max_ratio = 1.0;
    c.blur_sigma_min = 0.1f, c.blur_sigma_max = 2.0f;
    return c;
}

/* With every probability 0, crop scale 1 and ratio 1 on a square image of the output size, a
 * view is the image itself; with p_hflip = 1 it is the mirrored image. */
Test(pipeline, view_of_the_identity_configuration)
{
    float image[3 * 8 * 8], view[3 * 8 * 8], workspace[4096];
    aug_config c = identity_config(8);
    rng random;
    cr_assert_leq(aug_view_workspace_floats(&c, 3, 8, 8), 4096u);
    test_fill_uniform(image, 192, 0, 1, 1100);
    rng_stream(&random, 1, RNG_DOMAIN_VIEW, 0, 0, 0);
    aug_view(view, image, 3, 8, 8, &c, &random, workspace);
    cr_expect(memcmp(view, image, sizeof view) == 0);
    c.p_hflip = 1.0f;
    aug_view(view, image, 3, 8, 8, &c, &random, workspace);
    aug_hflip(view, 3, 8, 8);
    cr_expect(memcmp(view, image, sizeof view) == 0);
}

/* The stream layout does not depend on the probabilities: with strength 0 jitter is the
 * identity (up to the HSV round trip's 1e-6), so p_jitter 0 or 1 must give the same view (same
 * crop, flip and blur σ) — which holds only if the jitter parameters are drawn either way. */
Test(pipeline, draws_do_not_depend_on_probabilities)
{
    float image[3 * 20 * 20], a[3 * 12 * 12], b[3 * 12 * 12], workspace[8192];
    aug_config c;
    rng r1, r2;
    cr_assert_eq(aug_config_preset(&c, "cifar", NULL), SIMCLR_OK);
    c.size = 12, c.strength = 0.0f, c.p_blur = 1.0f, c.p_jitter = 0.0f;
    test_fill_uniform(image, 1200, 0, 1, 1101);
    rng_stream(&r1, 5, RNG_DOMAIN_VIEW, 0, 9, 0);
    r2 = r1;
    aug_view(a, image, 3, 20, 20, &c, &r1, workspace);
    c.p_jitter = 1.0f;
    aug_view(b, image, 3, 20, 20, &c, &r2, workspace);
    for (size_t i = 0; i < 3 * 12 * 12; i++)
        cr_assert(fabs(a[i] - b[i]) <= 1e-5, "pixel %zu: %.8g vs %.8g", i, a[i], b[i]);
    cr_expect(r1.state == r2.state, "both views consumed the same draws");
}

/* A batch: the same bits for 1 and 2 threads, for any batch order; the two views differ. */
Test(pipeline, batch_views_independent_of_threads_and_order)
{
    enum { N = 6, C = 3, H = 40, W = 36, S = 32 };
    static float pixels[N][C * H * W], one[2 * N * C * S * S], two[2 * N * C * S * S],
        shuffled[2 * N * C * S * S];
    const float *images[N], *reversed[N];
    uint64_t indices[N], reversed_indices[N];
    aug_config c;
    float *workspace;
    size_t i, view_floats = C * S * S;
    cr_assert_eq(aug_config_preset(&c, "cifar", NULL), SIMCLR_OK);
    c.p_blur = 0.5f; /* exercise every step */
    for (i = 0; i < N; i++) {
        test_fill_uniform(pixels[i], C * H * W, 0, 1, 1200 + i);
        images[i] = pixels[i];
        indices[i] = 100 + i;
        reversed[N - 1 - i] = pixels[i];
        reversed_indices[N - 1 - i] = 100 + i;
    }
    workspace = malloc(aug_batch_workspace_floats(&c, C, H, W, 2) * sizeof(float));
    parallel_set_thread_count(1);
    aug_views_batch(one, images, indices, N, C, H, W, &c, 42, 3, workspace, 1);
    parallel_set_thread_count(2);
    aug_views_batch(two, images, indices, N, C, H, W, &c, 42, 3, workspace, 2);
    aug_views_batch(shuffled, reversed, reversed_indices, N, C, H, W, &c, 42, 3, workspace, 2);
    cr_expect(memcmp(one, two, sizeof one) == 0, "1 vs 2 threads");
    for (i = 0; i < N; i++) {
        cr_expect(memcmp(one + i * view_floats, shuffled + (N - 1 - i) * view_floats,
                         view_floats * sizeof(float)) == 0, "view 0 of image %zu moved", i);
        cr_expect(memcmp(one + (N + i) * view_floats, shuffled + (2 * N - 1 - i) * view_floats,
                         view_floats * sizeof(float)) == 0, "view 1 of image %zu moved", i);
        cr_expect(memcmp(one + i * view_floats, one + (N + i) * view_floats,
                         view_floats * sizeof(float)) != 0, "the two views of an image differ");
    }
    free(workspace);
}

/* 1-channel images go through every step (saturation, hue, grayscale are identities). */
Test(pipeline, grayscale_images)
{
    float image[30 * 26], view[28 * 28], workspace[4096];
    aug_config c;
    rng random;
    size_t i;
    cr_assert_eq(aug_config_preset(&c, "gray", NULL), SIMCLR_OK);
    c.p_gray = 1.0f, c.p_blur = 1.0f;
    cr_assert_leq(aug_view_workspace_floats(&c, 1, 30, 26), 4096u);
    test_fill_uniform(image, 780, 0, 1, 1300);
    rng_stream(&random, 1, RNG_DOMAIN_VIEW, 0, 1, 0);
    aug_view(view, image, 1, 30, 26, &c, &random, workspace);
    for (i = 0; i < 28 * 28; i++) /* normalised values of pixels in [0, 1] */
        cr_assert(view[i] >= (0 - 0.286f) / 0.353f - 1e-5f && view[i] <= (1 - 0.286f) / 0.353f + 1e-5f);
}
