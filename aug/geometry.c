/*
 * aug/geometry.c — RandomResizedCrop sampling, antialiased bilinear resize, flips.
 * The algorithms, their sources and the draw order: aug/geometry.h.
 */
#include "geometry.h"

#include <math.h>
#include <string.h>

#include "../nn/maths.h"

aug_crop aug_sample_resized_crop(rng *random, size_t height, size_t width, double min_scale,
                                 double max_scale, double min_ratio, double max_ratio)
{
    const double area = (double)height * (double)width;
    const double lo = maths_log(min_ratio), hi = maths_log(max_ratio), in_ratio = (double)width / (double)height;
    aug_crop crop;
    int attempt;
    for (attempt = 0; attempt < 10; attempt++) {
        const double target = area * rng_uniform_range(random, (float)min_scale, (float)max_scale);
        const double aspect = maths_exp(rng_uniform_range(random, (float)lo, (float)hi));
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

/* The input rows [*first, *end) of a window of n_in rows that output rows [top, top + rows)
 * of a resize to n_out read (taps move down monotonically with the output row). */
static void resize_rows_read(size_t top, size_t rows, size_t n_in, size_t n_out, size_t *first,
                             size_t *end)
{
    double weights[AUG_MAX_TAPS];
    size_t last_first, count;
    resize_taps(weights, first, top, n_in, n_out);
    count = resize_taps(weights, &last_first, top + rows - 1, n_in, n_out);
    *end = last_first + count;
}

/* The rows [top, top + rows) and columns [left, left + cols) of the resize of `window` to
 * out_height × out_width; every output pixel depends only on its own taps, so a part of the
 * output is computed exactly as the whole would be, from only the input rows it reads. */
static void resize_part(float *out,         /* (C, rows, cols) */
                        const float *image, /* (C, H, W) */
                        size_t channels, size_t height, size_t width, aug_crop window,
                        size_t out_height, size_t out_width, size_t top, size_t left,
                        size_t rows, size_t cols,
                        float *workspace)   /* C · (rows read) · cols */
{
    double weights[AUG_MAX_TAPS];
    size_t c, x, y, j, first, count, read_first, read_end, read;
    resize_rows_read(top, rows, window.height, out_height, &read_first, &read_end);
    read = read_end - read_first;
    /* rows: (C, read, window.width) → (C, read, cols), the window's rows read_first … */
    for (x = 0; x < cols; x++) {
        count = resize_taps(weights, &first, left + x, window.width, out_width);
        for (c = 0; c < channels; c++)
            for (y = 0; y < read; y++) {
                const float *row = image + (c * height + window.top + read_first + y) * width +
                                   window.left;
                double sum = 0.0;
                for (j = 0; j < count; j++)
                    sum += weights[j] * row[first + j];
                workspace[(c * read + y) * cols + x] = (float)sum;
            }
    }
    /* columns: (C, read, cols) → (C, rows, cols) */
    for (y = 0; y < rows; y++) {
        count = resize_taps(weights, &first, top + y, window.height, out_height);
        for (c = 0; c < channels; c++)
            for (x = 0; x < cols; x++) {
                double sum = 0.0;
                for (j = 0; j < count; j++)
                    sum += weights[j] *
                           workspace[(c * read + first - read_first + j) * cols + x];
                out[(c * rows + y) * cols + x] = (float)sum;
            }
    }
}

void aug_resize(float *out, const float *image, size_t channels, size_t height, size_t width,
                aug_crop window, size_t out_height, size_t out_width, float *workspace)
{
    resize_part(out, image, channels, height, width, window, out_height, out_width, 0, 0,
                out_height, out_width, workspace);
}

/* Python's round(d / 2) for an integer d ≥ 0: halves go to the even neighbour. */
static size_t half_rounded_to_even(size_t d)
{
    const size_t half = d / 2;
    return d % 2 == 0 || half % 2 == 0 ? half : half + 1;
}

void aug_center_view_size(size_t height, size_t width, size_t size, size_t *resized_height,
                          size_t *resized_width)
{
    const size_t shorter = (size_t)((double)size / 0.875);
    const double longer = (double)shorter * (double)(height <= width ? width : height) /
                          (double)(height <= width ? height : width);
    const double limit = (double)((size_t)-1 / 4); /* a side that fits size_t (32-bit too) */
    const size_t longer_side = longer < limit ? (size_t)longer : (size_t)limit;
    *resized_height = height <= width ? shorter : longer_side;
    *resized_width = height <= width ? longer_side : shorter;
}

size_t aug_center_view_workspace_floats(size_t channels, size_t height, size_t width,
                                        size_t size)
{
    size_t resized_height, resized_width, first, end;
    aug_center_view_size(height, width, size, &resized_height, &resized_width);
    resize_rows_read(half_rounded_to_even(resized_height - size), size, height, resized_height,
                     &first, &end);
    return channels * (end - first) * size;
}

void aug_center_view(float *out, const float *image, size_t channels, size_t height,
                     size_t width, size_t size, float *workspace)
{
    const aug_crop whole = {0, 0, height, width};
    size_t resized_height, resized_width;
    aug_center_view_size(height, width, size, &resized_height, &resized_width);
    resize_part(out, image, channels, height, width, whole, resized_height, resized_width,
                half_rounded_to_even(resized_height - size),
                half_rounded_to_even(resized_width - size), size, size, workspace);
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
