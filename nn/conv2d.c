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
#define CONV2D_TARGET_COLUMNS 256

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

/* The packed columns of one chunk, in either of the two packed layouts (see im2col below). */
static size_t conv2d_packed_floats(const conv2d_shape *s)
{
    const size_t columns = conv2d_chunk_columns(s, s->chunk), rows = conv2d_col_rows(s);
    const size_t forward = gemm_packed_b_floats(columns, rows);
    const size_t transposed = gemm_packed_b_floats(rows, columns);
    return forward > transposed ? forward : transposed;
}

int conv2d_workspace_floats(const conv2d_shape *s, size_t *floats, simclr_error *err)
{
    const size_t columns = conv2d_chunk_columns(s, s->chunk), rows = conv2d_col_rows(s);
    size_t packed = conv2d_packed_floats(s), scratch = s->out_channels * columns, g1, g2, g3;
    size_t gemm_floats;
    if (gemm_workspace_floats(s->out_channels, columns, rows, &g1, err) != SIMCLR_OK ||
        gemm_workspace_floats(s->out_channels, rows, columns, &g2, err) != SIMCLR_OK ||
        gemm_workspace_floats(rows, columns, s->out_channels, &g3, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    gemm_floats = g1 > g2 ? g1 : g2;
    gemm_floats = gemm_floats > g3 ? gemm_floats : g3;
    /* three regions, each rounded up to 16 floats so that all start 64-byte aligned */
    packed = (packed + 15) / 16 * 16;
    scratch = (scratch + 15) / 16 * 16;
    if (size_add_checked(packed, scratch, floats) != SIMCLR_OK ||
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

/* The output columns j whose input column j·s − p + b lies inside 0 .. W−1: [*first, *end). */
static void conv2d_valid_columns(const conv2d_shape *s, size_t b, size_t *first, size_t *end)
{
    const size_t Wo = s->out_width, stride = s->stride, padding = s->padding, W = s->in_width;
    /* j·s + b >= p  ⟺  j >= ceil((p − b)/s);   j·s + b − p < W  ⟺  j < ceil((W + p − b)/s) */
    *first = b >= padding ? 0 : (padding - b + stride - 1) / stride;
    *end = W + padding > b ? (W + padding - b + stride - 1) / stride : 0;
    if (*end > Wo)
        *end = Wo;
    if (*first > *end)
        *first = *end;
}

/* Writes one row (c, a, b) of the unrolled columns,
 *     col[(c, a, b)][(g, i, j)] = x[g][c][i·s − p + a][j·s − p + b]   (0 in the padding),
 * for every column (g, i, j) of the chunk, as value(column) → out[column_offset(column)]. The
 * two callers below differ only in where a column goes in their packed layout. */
#define CONV2D_UNROLL_ROW(s, x, images, row, STORE)                                                \
    do {                                                                                          \
        const size_t k_ = (s)->kernel, Ho_ = (s)->out_height, Wo_ = (s)->out_width;              \
        const size_t c_ = (row) / (k_ * k_), a_ = ((row) / k_) % k_, b_ = (row) % k_;              \
        size_t g_, i_, j_, first_, end_, column_ = 0;                                             \
        conv2d_valid_columns((s), b_, &first_, &end_);                                            \
        for (g_ = 0; g_ < (images); g_++) {                                                       \
            const float *plane_ =                                                                 \
                (x) + (g_ * (s)->in_channels + c_) * (s)->in_height * (s)->in_width;              \
            for (i_ = 0; i_ < Ho_; i_++, column_ += Wo_) {                                        \
                const long r_ = (long)(i_ * (s)->stride + a_) - (long)(s)->padding;               \
                const float *in_row_ = plane_ + (r_ >= 0 ? (size_t)r_ : 0) * (s)->in_width;       \
                const int inside_ = r_ >= 0 && r_ < (long)(s)->in_height;                         \
                for (j_ = 0; j_ < Wo_; j_++) {                                                    \
                    const float value_ = inside_ && j_ >= first_ && j_ < end_                     \
                                             ? in_row_[j_ * (s)->stride + b_ - (s)->padding]      \
                                             : 0.0f;                                              \
                    STORE(column_ + j_, value_);                                                  \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* im2col for the forward product Y = W · col: op(B) = col, K = C·k·k rows, N = the chunk's
 * columns, written straight into gemm's packed layout (nn/gemm.h) — no intermediate col matrix.
 * Parallel over rows; each row owns its GEMM_NR-float segment of every panel. */
static void conv2d_im2col_packed(float *packed,  /* gemm_packed_b_floats(columns, C·k·k) */
                                 const float *x, /* (G, C, H, W) */
                                 const conv2d_shape *s, size_t images)
{
    const size_t rows = conv2d_col_rows(s), columns = conv2d_chunk_columns(s, images);
    const size_t panel_floats = rows * GEMM_NR;
    const size_t padded = (columns + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    size_t row;
    PARALLEL_FOR()
    for (row = 0; row < rows; row++) {
        float *base = packed + row * GEMM_NR;
        size_t column;
#define CONV2D_STORE_FORWARD(column, value)                                                       \
    base[((column) / GEMM_NR) * panel_floats + (column) % GEMM_NR] = (value)
        CONV2D_UNROLL_ROW(s, x, images, row, CONV2D_STORE_FORWARD);
#undef CONV2D_STORE_FORWARD
        for (column = columns; column < padded; column++)
            base[(column / GEMM_NR) * panel_floats + column % GEMM_NR] = 0.0f;
    }
}

/* im2col for the weight gradient dW = dY · colᵀ: op(B) = colᵀ, K = the chunk's columns,
 * N = C·k·k, in gemm's packed layout: element (column, row) at
 * packed[(row / NR)·columns·NR + column·NR + row % NR]. Parallel over panels of NR rows, so no
 * two threads write the same cache line. */
static void conv2d_im2col_packed_transposed(float *packed,  /* gemm_packed_b_floats(C·k·k, columns) */
                                            const float *x, /* (G, C, H, W) */
                                            const conv2d_shape *s, size_t images)
{
    const size_t rows = conv2d_col_rows(s), columns = conv2d_chunk_columns(s, images);
    const size_t panels = (rows + GEMM_NR - 1) / GEMM_NR;
    size_t panel;
    PARALLEL_FOR()
    for (panel = 0; panel < panels; panel++) {
        float *panel_base = packed + panel * columns * GEMM_NR;
        size_t lane, column;
        for (lane = 0; lane < GEMM_NR; lane++) {
            const size_t row = panel * GEMM_NR + lane;
            float *base = panel_base + lane;
            if (row >= rows) {
                for (column = 0; column < columns; column++)
                    base[column * GEMM_NR] = 0.0f;
                continue;
            }
#define CONV2D_STORE_TRANSPOSED(column, value) base[(column) * GEMM_NR] = (value)
            CONV2D_UNROLL_ROW(s, x, images, row, CONV2D_STORE_TRANSPOSED);
#undef CONV2D_STORE_TRANSPOSED
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
    const size_t stride = s->stride;
    size_t plane_index;
    PARALLEL_FOR()
    for (plane_index = 0; plane_index < planes; plane_index++) {
        const size_t g = plane_index / C, c = plane_index % C;
        float *plane = dx + plane_index * s->in_height * s->in_width;
        size_t a, b, i, j, first, end;
        memset(plane, 0, s->in_height * s->in_width * sizeof(float));
        for (a = 0; a < k; a++)
            for (b = 0; b < k; b++) {
                const float *in = dcol + ((c * k + a) * k + b) * columns + g * Ho * Wo;
                conv2d_valid_columns(s, b, &first, &end);
                for (i = 0; i < Ho; i++) {
                    const long r = (long)(i * stride + a) - (long)s->padding;
                    float *out_row;
                    const float *in_row = in + i * Wo;
                    if (r < 0 || r >= (long)s->in_height)
                        continue;
                    out_row = plane + (size_t)r * s->in_width;
                    if (stride == 1) {
                        float *shifted = out_row + (first + b - s->padding);
                        for (j = first; j < end; j++)
                            shifted[j - first] += in_row[j];
                    } else {
                        for (j = first; j < end; j++)
                            out_row[j * stride + b - s->padding] += in_row[j];
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

/* The three regions of the workspace: packed columns, scratch (O, G·Ho·Wo), GEMM's own. */
static void conv2d_split_workspace(const conv2d_shape *s, float *workspace, float **packed,
                                   float **scratch, float **gemm_workspace)
{
    const size_t columns = conv2d_chunk_columns(s, s->chunk);
    *packed = workspace;
    *scratch = *packed + (conv2d_packed_floats(s) + 15) / 16 * 16;
    *gemm_workspace = *scratch + (s->out_channels * columns + 15) / 16 * 16;
}

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias,
                    const conv2d_shape *s, float *workspace)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width;
    const size_t in_size = s->in_channels * s->in_height * s->in_width;
    float *packed, *scratch, *gemm_workspace;
    size_t first;
    conv2d_split_workspace(s, workspace, &packed, &scratch, &gemm_workspace);
    for (first = 0; first < s->batch; first += s->chunk) {
        const size_t images = s->batch - first < s->chunk ? s->batch - first : s->chunk;
        const size_t columns = conv2d_chunk_columns(s, images);
        const float *x_chunk = x + first * in_size;
        float *y_chunk = y + first * O * S;
        /* a 1×1 stride-1 unpadded convolution unrolls to the image itself: plain packing */
        if (conv2d_is_pointwise(s))
            gemm_pack_b(packed, GEMM_NORMAL, x_chunk, columns, columns, rows);
        else
            conv2d_im2col_packed(packed, x_chunk, s, images);
        if (images == 1) {
            gemm_prepacked_b(GEMM_NORMAL, O, columns, rows, 1.0f, weight, rows, packed, 0.0f,
                             y_chunk, columns, gemm_workspace);
        } else {
            gemm_prepacked_b(GEMM_NORMAL, O, columns, rows, 1.0f, weight, rows, packed, 0.0f,
                             scratch, columns, gemm_workspace);
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
    const size_t S = s->out_height * s->out_width;
    const size_t in_size = s->in_channels * s->in_height * s->in_width;
    float *packed, *scratch, *gemm_workspace;
    size_t first;
    conv2d_split_workspace(s, workspace, &packed, &scratch, &gemm_workspace);

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
        if (images > 1) {
            conv2d_images_to_columns(scratch, dy_columns, images, O, S);
            dy_columns = scratch;
        }
        /* dW (O, C·k·k) += dY (O, cols) · colᵀ (cols, C·k·k) */
        if (conv2d_is_pointwise(s))
            gemm_pack_b(packed, GEMM_TRANSPOSED, x_chunk, columns, rows, columns);
        else
            conv2d_im2col_packed_transposed(packed, x_chunk, s, images);
        gemm_prepacked_b(GEMM_NORMAL, O, rows, columns, 1.0f, dy_columns, columns, packed, 1.0f,
                         dweight, rows, gemm_workspace);
        if (dx == NULL)
            continue;
        if (conv2d_is_pointwise(s)) {
            /* dx_n (C, S) = Wᵀ (C, O) · dY_n (O, S) directly */
            gemm(GEMM_TRANSPOSED, GEMM_NORMAL, rows, columns, O, 1.0f, weight, rows, dy_columns,
                 columns, 0.0f, dx + first * in_size, columns, gemm_workspace);
        } else {
            /* dcol (C·k·k, cols) = Wᵀ · dY, in the packed region (free again), then scattered
             * back to the images */
            gemm(GEMM_TRANSPOSED, GEMM_NORMAL, rows, columns, O, 1.0f, weight, rows, dy_columns,
                 columns, 0.0f, packed, columns, gemm_workspace);
            conv2d_col2im(dx + first * in_size, packed, s, images);
        }
    }
}
