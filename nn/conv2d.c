/*
 * nn/conv2d.c — convolution by im2col + GEMM, and the 7-loop reference.
 * Definitions, shapes and conventions: nn/conv2d.h.
 */
#include "conv2d.h"

#include <string.h>

#include "gemm.h"
#include "parallel.h"
#include "tensor.h"

/* Enough GEMM columns per chunk to fill the register tiles and amortise packing. */
#define CONV2D_TARGET_COLUMNS 2048

int conv2d_shape_init(conv2d_shape *shape, size_t batch, size_t in_channels, size_t in_height,
                      size_t in_width, size_t out_channels, size_t kernel, size_t stride,
                      size_t padding, simclr_error *err)
{
    size_t spatial, check;
    memset(shape, 0, sizeof *shape);
    if (batch == 0 || in_channels == 0 || in_height == 0 || in_width == 0 || out_channels == 0 ||
        kernel == 0 || stride == 0)
        return simclr_fail(err, "conv2d: every size and the stride must be positive");
    if (in_height + 2 * padding < kernel || in_width + 2 * padding < kernel)
        return simclr_fail(err, "conv2d: a %lux%lu kernel does not fit a %lux%lu input padded by %lu",
                           (unsigned long)kernel, (unsigned long)kernel,
                           (unsigned long)in_height, (unsigned long)in_width,
                           (unsigned long)padding);
    shape->batch = batch;
    shape->in_channels = in_channels;
    shape->in_height = in_height;
    shape->in_width = in_width;
    shape->out_channels = out_channels;
    shape->kernel = kernel;
    shape->stride = stride;
    shape->padding = padding;
    shape->out_height = (in_height + 2 * padding - kernel) / stride + 1;
    shape->out_width = (in_width + 2 * padding - kernel) / stride + 1;
    spatial = shape->out_height * shape->out_width;
    shape->chunk = (CONV2D_TARGET_COLUMNS + spatial - 1) / spatial;
    if (shape->chunk > batch)
        shape->chunk = batch;
    if (size_multiply_checked(batch, in_channels * in_height * in_width, &check) != SIMCLR_OK ||
        size_multiply_checked(batch, out_channels * spatial, &check) != SIMCLR_OK ||
        size_multiply_checked(in_channels * kernel * kernel, shape->chunk * spatial, &check) !=
            SIMCLR_OK)
        return simclr_fail(err, "conv2d: the sizes overflow size_t");
    return SIMCLR_OK;
}

/* The columns of one chunk: (C·k·k) × (G·Ho·Wo). */
static size_t conv2d_col_rows(const conv2d_shape *s)
{
    return s->in_channels * s->kernel * s->kernel;
}

static size_t conv2d_chunk_columns(const conv2d_shape *s, size_t images)
{
    return images * s->out_height * s->out_width;
}

/* Whether the image itself can serve as col (1×1, stride 1, no padding, one image a chunk). */
static int conv2d_is_pointwise(const conv2d_shape *s)
{
    return s->kernel == 1 && s->stride == 1 && s->padding == 0 && s->chunk == 1;
}

int conv2d_workspace_floats(const conv2d_shape *s, size_t *floats, simclr_error *err)
{
    const size_t columns = conv2d_chunk_columns(s, s->chunk), rows = conv2d_col_rows(s);
    size_t col = rows * columns, scratch = s->out_channels * columns, g1, g2, g3, gemm_floats;
    if (gemm_workspace_floats(s->out_channels, columns, rows, &g1, err) != SIMCLR_OK ||
        gemm_workspace_floats(s->out_channels, rows, columns, &g2, err) != SIMCLR_OK ||
        gemm_workspace_floats(rows, columns, s->out_channels, &g3, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    gemm_floats = g1 > g2 ? g1 : g2;
    gemm_floats = gemm_floats > g3 ? gemm_floats : g3;
    if (size_add_checked(col, scratch, floats) != SIMCLR_OK ||
        size_add_checked(*floats, gemm_floats, floats) != SIMCLR_OK)
        return simclr_fail(err, "conv2d: the workspace overflows size_t");
    return SIMCLR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The reference                                                                              */
/* ------------------------------------------------------------------------------------------ */

void conv2d_forward_naive(float *y, const float *x, const float *weight, const float *bias,
                          const conv2d_shape *s)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width, k = s->kernel;
    size_t n, o, i, j, c, a, b;
    for (n = 0; n < s->batch; n++)
        for (o = 0; o < s->out_channels; o++)
            for (i = 0; i < s->out_height; i++)
                for (j = 0; j < s->out_width; j++) {
                    float sum = bias != NULL ? bias[o] : 0.0f;
                    for (c = 0; c < C; c++)
                        for (a = 0; a < k; a++)
                            for (b = 0; b < k; b++) {
                                /* input row and column, as signed offsets from the padding */
                                const long row = (long)(i * s->stride + a) - (long)s->padding;
                                const long column = (long)(j * s->stride + b) - (long)s->padding;
                                if (row < 0 || column < 0 || row >= (long)H || column >= (long)W)
                                    continue;
                                sum += weight[((o * C + c) * k + a) * k + b] *
                                       x[((n * C + c) * H + (size_t)row) * W + (size_t)column];
                            }
                    y[((n * s->out_channels + o) * s->out_height + i) * s->out_width + j] = sum;
                }
}

/* ------------------------------------------------------------------------------------------ */
/* im2col and col2im                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* col[(c, a, b)][(g, i, j)] = x[g][c][i·s − p + a][j·s − p + b], 0 in the padding. */
static void conv2d_im2col(float *col,     /* (C·k·k, G·Ho·Wo) */
                          const float *x, /* (G, C, H, W) */
                          const conv2d_shape *s, size_t images)
{
    const size_t k = s->kernel, Ho = s->out_height, Wo = s->out_width;
    const size_t rows = conv2d_col_rows(s), columns = conv2d_chunk_columns(s, images);
    size_t row;
    PARALLEL_FOR()
    for (row = 0; row < rows; row++) {
        const size_t c = row / (k * k), a = (row / k) % k, b = row % k;
        float *out = col + row * columns;
        size_t g, i, j;
        for (g = 0; g < images; g++) {
            const float *plane = x + (g * s->in_channels + c) * s->in_height * s->in_width;
            for (i = 0; i < Ho; i++) {
                const long r = (long)(i * s->stride + a) - (long)s->padding;
                float *out_row = out + (g * Ho + i) * Wo;
                if (r < 0 || r >= (long)s->in_height) {
                    for (j = 0; j < Wo; j++)
                        out_row[j] = 0.0f;
                    continue;
                }
                for (j = 0; j < Wo; j++) {
                    const long q = (long)(j * s->stride + b) - (long)s->padding;
                    out_row[j] = q < 0 || q >= (long)s->in_width
                                     ? 0.0f
                                     : plane[(size_t)r * s->in_width + (size_t)q];
                }
            }
        }
    }
}

/* dx[g][c] = Σ over the (a, b, i, j) that read each pixel of dcol[(c, a, b)][(g, i, j)].
 * One (image, channel) plane per iteration: planes are independent, the order inside is fixed. */
static void conv2d_col2im(float *dx,         /* (G, C, H, W), overwritten */
                          const float *dcol, /* (C·k·k, G·Ho·Wo) */
                          const conv2d_shape *s, size_t images)
{
    const size_t k = s->kernel, Ho = s->out_height, Wo = s->out_width, C = s->in_channels;
    const size_t columns = conv2d_chunk_columns(s, images), planes = images * C;
    size_t plane_index;
    PARALLEL_FOR()
    for (plane_index = 0; plane_index < planes; plane_index++) {
        const size_t g = plane_index / C, c = plane_index % C;
        float *plane = dx + plane_index * s->in_height * s->in_width;
        size_t a, b, i, j;
        memset(plane, 0, s->in_height * s->in_width * sizeof(float));
        for (a = 0; a < k; a++)
            for (b = 0; b < k; b++) {
                const float *in = dcol + ((c * k + a) * k + b) * columns + g * Ho * Wo;
                for (i = 0; i < Ho; i++) {
                    const long r = (long)(i * s->stride + a) - (long)s->padding;
                    if (r < 0 || r >= (long)s->in_height)
                        continue;
                    for (j = 0; j < Wo; j++) {
                        const long q = (long)(j * s->stride + b) - (long)s->padding;
                        if (q >= 0 && q < (long)s->in_width)
                            plane[(size_t)r * s->in_width + (size_t)q] += in[i * Wo + j];
                    }
                }
            }
    }
}

/* (G, O, S) <-> (O, G·S): the GEMM works on all images of a chunk side by side. */
static void conv2d_images_to_columns(float *out, const float *in, size_t images, size_t O,
                                     size_t S)
{
    size_t o;
    PARALLEL_FOR()
    for (o = 0; o < O; o++) {
        size_t g;
        for (g = 0; g < images; g++)
            memcpy(out + o * images * S + g * S, in + (g * O + o) * S, S * sizeof(float));
    }
}

static void conv2d_columns_to_images(float *out, const float *in, size_t images, size_t O,
                                     size_t S)
{
    size_t o;
    PARALLEL_FOR()
    for (o = 0; o < O; o++) {
        size_t g;
        for (g = 0; g < images; g++)
            memcpy(out + (g * O + o) * S, in + o * images * S + g * S, S * sizeof(float));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Forward and backward                                                                       */
/* ------------------------------------------------------------------------------------------ */

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias,
                    const conv2d_shape *s, float *workspace)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width, in_size = s->in_channels * s->in_height * s->in_width;
    float *col = workspace;
    float *scratch = col + rows * conv2d_chunk_columns(s, s->chunk);
    float *gemm_workspace = scratch + O * conv2d_chunk_columns(s, s->chunk);
    size_t first;
    for (first = 0; first < s->batch; first += s->chunk) {
        const size_t images = s->batch - first < s->chunk ? s->batch - first : s->chunk;
        const size_t columns = conv2d_chunk_columns(s, images);
        const float *x_chunk = x + first * in_size;
        float *y_chunk = y + first * O * S;
        const float *columns_in = col;
        if (conv2d_is_pointwise(s))
            columns_in = x_chunk;
        else
            conv2d_im2col(col, x_chunk, s, images);
        if (images == 1) {
            gemm(GEMM_NORMAL, GEMM_NORMAL, O, columns, rows, 1.0f, weight, rows, columns_in,
                 columns, 0.0f, y_chunk, columns, gemm_workspace);
        } else {
            gemm(GEMM_NORMAL, GEMM_NORMAL, O, columns, rows, 1.0f, weight, rows, columns_in,
                 columns, 0.0f, scratch, columns, gemm_workspace);
            conv2d_columns_to_images(y_chunk, scratch, images, O, S);
        }
    }
    if (bias != NULL) {
        size_t plane;
        PARALLEL_FOR()
        for (plane = 0; plane < s->batch * O; plane++) {
            const float b = bias[plane % O];
            float *out = y + plane * S;
            size_t t;
            for (t = 0; t < S; t++)
                out[t] += b;
        }
    }
}

void conv2d_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, const conv2d_shape *s, float *workspace)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width, in_size = s->in_channels * s->in_height * s->in_width;
    float *col = workspace;
    float *scratch = col + rows * conv2d_chunk_columns(s, s->chunk);
    float *gemm_workspace = scratch + O * conv2d_chunk_columns(s, s->chunk);
    size_t first;

    if (dbias != NULL) {
        size_t o;
        PARALLEL_FOR()
        for (o = 0; o < O; o++) {
            double sum = 0.0;
            size_t n, t;
            for (n = 0; n < s->batch; n++)
                for (t = 0; t < S; t++)
                    sum += dy[(n * O + o) * S + t];
            dbias[o] += (float)sum;
        }
    }

    for (first = 0; first < s->batch; first += s->chunk) {
        const size_t images = s->batch - first < s->chunk ? s->batch - first : s->chunk;
        const size_t columns = conv2d_chunk_columns(s, images);
        const float *x_chunk = x + first * in_size;
        const float *dy_columns = dy + first * O * S;
        const float *columns_in = col;
        if (images > 1) {
            conv2d_images_to_columns(scratch, dy_columns, images, O, S);
            dy_columns = scratch;
        }
        if (conv2d_is_pointwise(s))
            columns_in = x_chunk;
        else
            conv2d_im2col(col, x_chunk, s, images);
        /* dW (O, C·k·k) += dY (O, cols) · colᵀ (cols, C·k·k) */
        gemm(GEMM_NORMAL, GEMM_TRANSPOSED, O, rows, columns, 1.0f, dy_columns, columns,
             columns_in, columns, 1.0f, dweight, rows, gemm_workspace);
        if (dx == NULL)
            continue;
        if (conv2d_is_pointwise(s)) {
            /* dx_n (C, S) = Wᵀ (C, O) · dY_n (O, S) directly */
            gemm(GEMM_TRANSPOSED, GEMM_NORMAL, rows, columns, O, 1.0f, weight, rows, dy_columns,
                 columns, 0.0f, dx + first * in_size, columns, gemm_workspace);
        } else {
            /* dcol (C·k·k, cols) = Wᵀ · dY, reusing col, then scattered back to the images */
            gemm(GEMM_TRANSPOSED, GEMM_NORMAL, rows, columns, O, 1.0f, weight, rows, dy_columns,
                 columns, 0.0f, col, columns, gemm_workspace);
            conv2d_col2im(dx + first * in_size, col, s, images);
        }
    }
}
