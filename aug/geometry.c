/*
 * aug/geometry.c — RandomResizedCrop sampling, antialiased bilinear resize, flips.
 * The algorithms, their sources and the draw order: aug/geometry.h.
 */
#include "geometry.h"

#include <math.h>
#include <string.h>

aug_crop aug_sample_resized_crop(rng *random, size_t height, size_t width, double min_scale,
                                 double max_scale, double min_ratio, double max_ratio)
{
    const double area = (double)height * (double)width;
    const double lo = log(min_ratio), hi = log(max_ratio), in_ratio = (double)width / (double)height;
    aug_crop crop;
    int attempt;
    for (attempt = 0; attempt < 10; attempt++) {
        const double target = area * rng_uniform_range(random, (float)min_scale, (float)max_scale);
        const double aspect = exp(rng_uniform_range(random, (float)lo, (float)hi));
        const double w = rint(sqrt(target * aspect)), h = rint(sqrt(target / aspect));
        if (w > 0 && w <= (double)width && h > 0 && h <= (double)height) {
            crop.height = (size_t)h;
            crop.width = (size_t)w;
            crop.top = (size_t)rng_randint(random, 0, (int64_t)(height - crop.height + 1));
            crop.left = (size_t)rng_randint(random, 0, (int64_t)(width - crop.width + 1));
            return crop;
        }
    }
    if (in_ratio < min_ratio) {
        crop.width = width;
        crop.height = (size_t)rint((double)width / min_ratio);
    } else if (in_ratio > max_ratio) {
        crop.height = height;
        crop.width = (size_t)rint((double)height * max_ratio);
    } else {
        crop.width = width;
        crop.height = height;
    }
    if (crop.height > height) /* rounding can only reach height + 0; keep it inside regardless */
        crop.height = height;
    if (crop.width > width)
        crop.width = width;
    crop.top = (height - crop.height) / 2;
    crop.left = (width - crop.width) / 2;
    return crop;
}

size_t aug_resize_workspace_floats(size_t channels, size_t in_height, size_t out_width)
{
    return channels * in_height * out_width;
}

/* The interpolation taps of output position x: in[first .. first + count) with weights w[]. */
/* Taps number at most 2·support + 2 = 2·n_in/n_out + 2: 1026 covers shrinking by 512x. Beyond
 * that (never for real images) the outermost taps are dropped rather than overrun the array. */
#define AUG_MAX_TAPS 1026

static size_t resize_taps(double *w, size_t *first, size_t x, size_t n_in, size_t n_out)
{
    const double scale = (double)n_in / (double)n_out, support = scale > 1.0 ? scale : 1.0;
    const double centre = ((double)x + 0.5) * scale;
    const double low = centre - support + 0.5, high = centre + support + 0.5;
    const size_t xmin = low > 0.0 ? (size_t)low : 0;
    const size_t xmax = high < (double)n_in ? (size_t)high : n_in;
    double total = 0.0;
    size_t j, count = xmax > xmin ? xmax - xmin : 0;
    if (count > AUG_MAX_TAPS)
        count = AUG_MAX_TAPS;
    for (j = 0; j < count; j++) {
        const double t = fabs(((double)(j + xmin) - centre + 0.5) / support);
        w[j] = t < 1.0 ? 1.0 - t : 0.0;
        total += w[j];
    }
    for (j = 0; j < count; j++)
        w[j] = total > 0.0 ? w[j] / total : 0.0;
    *first = xmin;
    return count;
}

void aug_resize(float *out, const float *image, size_t channels, size_t height, size_t width,
                aug_crop window, size_t out_height, size_t out_width, float *workspace)
{
    double weights[AUG_MAX_TAPS];
    size_t c, x, y, j, first, count;
    /* rows: (C, window.height, window.width) → (C, window.height, out_width) */
    for (x = 0; x < out_width; x++) {
        count = resize_taps(weights, &first, x, window.width, out_width);
        for (c = 0; c < channels; c++)
            for (y = 0; y < window.height; y++) {
                const float *row = image + (c * height + window.top + y) * width + window.left;
                double sum = 0.0;
                for (j = 0; j < count; j++)
                    sum += weights[j] * row[first + j];
                workspace[(c * window.height + y) * out_width + x] = (float)sum;
            }
    }
    /* columns: (C, window.height, out_width) → (C, out_height, out_width) */
    for (y = 0; y < out_height; y++) {
        count = resize_taps(weights, &first, y, window.height, out_height);
        for (c = 0; c < channels; c++)
            for (x = 0; x < out_width; x++) {
                double sum = 0.0;
                for (j = 0; j < count; j++)
                    sum += weights[j] * workspace[(c * window.height + first + j) * out_width + x];
                out[(c * out_height + y) * out_width + x] = (float)sum;
            }
    }
}

void aug_hflip(float *image, size_t channels, size_t height, size_t width)
{
    size_t r, j;
    for (r = 0; r < channels * height; r++) {
        float *row = image + r * width;
        for (j = 0; j < width / 2; j++) {
            const float t = row[j];
            row[j] = row[width - 1 - j];
            row[width - 1 - j] = t;
        }
    }
}

void aug_vflip(float *image, size_t channels, size_t height, size_t width)
{
    size_t c, i, j;
    for (c = 0; c < channels; c++)
        for (i = 0; i < height / 2; i++) {
            float *top = image + (c * height + i) * width;
            float *bottom = image + (c * height + height - 1 - i) * width;
            for (j = 0; j < width; j++) {
                const float t = top[j];
                top[j] = bottom[j];
                bottom[j] = t;
            }
        }
}
