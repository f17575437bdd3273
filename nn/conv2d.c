/*
 * nn/conv2d.c — convolution by im2col + GEMM (or Winograd), and the direct-loop references of
 * forward and backward. Definitions, shapes and conventions: nn/conv2d.h. A build with
 * SIMCLR_REFERENCE=1 (`make REFERENCE=1`) runs the references for every shape.
 */
#include "conv2d.h"

#include <string.h>

#include "gemm_internal.h"
#include "parallel.h"
#include "pointwise.h" /* add_forward: a chunk's weight product into dW */
#include "ranks.h"
#include "tensor.h"
#include "winograd_internal.h"

/* GEMM columns per chunk: enough to fill the register tiles and amortise packing, few enough
 * that a chunk's packed columns stay in cache. The weight gradient sums over columns, so it
 * prefers long chunks (fewer passes over dW). */
#define CONV2D_TARGET_COLUMNS 256
#define CONV2D_WEIGHT_TARGET_COLUMNS 2048
#define CONV2D_WEIGHT_CHUNK_GROUPS 4 /* weight-gradient chunk counts a multiple of 4, beyond 1 */

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
    shape->weight_chunk = (CONV2D_WEIGHT_TARGET_COLUMNS + spatial - 1) / spatial;
    if (shape->weight_chunk > batch)
        shape->weight_chunk = batch;
    else if (shape->weight_chunk < batch) /* a count of chunks 2 or 4 threads share equally */
        shape->weight_chunk =
            parallel_even_chunk(batch, shape->weight_chunk, CONV2D_WEIGHT_CHUNK_GROUPS);
    shape->threads = (size_t)parallel_thread_count();
    shape->shards = 1;
    shape->ranks = NULL;
    if (size_multiply_checked(batch, in_channels * in_height * in_width, &check) != SIMCLR_OK ||
        size_multiply_checked(batch, out_channels * spatial, &check) != SIMCLR_OK ||
        size_multiply_checked(in_channels * kernel * kernel, shape->weight_chunk * spatial,
                              &check) != SIMCLR_OK)
        return simclr_fail(err, "conv2d: the sizes overflow size_t");
    return SIMCLR_OK;
}

int conv2d_shape_shard(conv2d_shape *shape, size_t shards, const struct rank_group *ranks,
                       simclr_error *err)
{
    if (shards == 0 || (shards & (shards - 1)) != 0 || shape->batch % shards != 0)
        return simclr_fail(err, "conv2d: %lu shards do not cut a batch of %lu in powers of two",
                           (unsigned long)shards, (unsigned long)shape->batch);
    shape->shards = shards;
    shape->ranks = ranks;
    return SIMCLR_OK;
}

/* Whether the weight gradient goes shard by shard (and across ranks). */
static int conv2d_sharded(const conv2d_shape *s)
{
    return s->shards > 1 || ranks_exchange(s->ranks);
}

/* The shape of one shard: a batch of B/shards images, planned for the same threads. */
static void conv2d_shard_part(const conv2d_shape *s, conv2d_shape *part)
{
    simclr_error ignored; /* the whole batch's shape was valid, so a part of it is */
    (void)conv2d_shape_init(part, s->batch / s->shards, s->in_channels, s->in_height,
                            s->in_width, s->out_channels, s->kernel, s->stride, s->padding,
                            &ignored);
    part->threads = s->threads;
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

static size_t round_up_16(size_t floats)
{
    return (floats + 15) / 16 * 16; /* so that every region starts 64-byte aligned */
}

/* The weight packed as GEMM's A operand, W (O, C·k·k) or Wᵀ (C·k·k, O): the same size. */
static size_t conv2d_packed_weight_floats(const conv2d_shape *s)
{
    const size_t forward = gemm_packed_a_floats(s->out_channels, conv2d_col_rows(s));
    const size_t transposed = gemm_packed_a_floats(conv2d_col_rows(s), s->out_channels);
    return round_up_16(forward > transposed ? forward : transposed);
}

/* The workspace: the packed weight, then either the weight gradient's workers or one slot per
 * thread for the chunk products (the two are never in use at the same time).
 *   a weight-gradient worker: colᵀ packed for G_w images | dY as columns (O, G_w·S) | dY packed
 *                             | the chunk's product P (O, C·k·k), when there are several chunks
 *   a thread's slot:          columns packed (or dcol)   | scratch (O, G·S)         | dY packed
 * One weight-gradient worker, or one per thread when threads take whole weight chunks. */
typedef struct conv2d_workspace_plan {
    size_t weight;                                  /* packed W or Wᵀ */
    size_t weight_columns, weight_dy, weight_dy_packed, weight_product; /* one worker's parts */
    size_t weight_chunks, weight_workers, weight_worker; /* the chunks; workers and their size */
    size_t slot_columns, slot_scratch, slot_dy_packed, slot; /* one thread's slot */
    size_t total;
} conv2d_workspace_plan;

static void conv2d_plan_workspace(const conv2d_shape *s, conv2d_workspace_plan *plan)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t columns = conv2d_chunk_columns(s, s->chunk);
    const size_t weight_columns = conv2d_chunk_columns(s, s->weight_chunk);
    const size_t forward = gemm_packed_b_floats(columns, rows);
    size_t weight_region;
    plan->weight = conv2d_packed_weight_floats(s);
    plan->weight_columns = round_up_16(gemm_packed_b_floats(rows, weight_columns));
    plan->weight_dy = round_up_16(O * weight_columns);
    plan->weight_dy_packed = round_up_16(gemm_packed_a_floats(O, weight_columns));
    plan->weight_chunks = (s->batch + s->weight_chunk - 1) / s->weight_chunk;
    plan->weight_product = plan->weight_chunks > 1 ? round_up_16(O * rows) : 0;
    plan->weight_workers =
        s->threads > 1 && plan->weight_chunks >= s->threads ? s->threads : 1;
    plan->weight_worker = plan->weight_columns + plan->weight_dy + plan->weight_dy_packed +
                          plan->weight_product;
    plan->slot_columns = round_up_16(forward > rows * columns ? forward : rows * columns);
    plan->slot_scratch = round_up_16(O * columns);
    plan->slot_dy_packed = round_up_16(gemm_packed_b_floats(columns, O));
    plan->slot = plan->slot_columns + plan->slot_scratch + plan->slot_dy_packed;
    weight_region = plan->weight_workers * plan->weight_worker;
    plan->total = plan->weight + (weight_region > s->threads * plan->slot
                                      ? weight_region
                                      : s->threads * plan->slot);
}

static int conv2d_whole_workspace_floats(const conv2d_shape *s, size_t *floats,
                                         simclr_error *err)
{
    conv2d_workspace_plan plan;
    double estimate;
    /* the plan's sums are checked in double first: an overflowing size is refused, not wrapped */
    estimate = (double)s->threads *
                   ((double)(conv2d_col_rows(s) + 2 * s->out_channels + 64) *
                        ((double)conv2d_chunk_columns(s, s->weight_chunk) +
                         (double)conv2d_chunk_columns(s, s->chunk) + 64) +
                    (double)(conv2d_col_rows(s) + 16) * (double)(s->out_channels + 16)) +
               (double)(conv2d_col_rows(s) + 64) * (double)(s->out_channels + 64);
    if (estimate > (double)((size_t)-1 / sizeof(float)))
        return simclr_fail(err, "conv2d: the workspace overflows size_t");
    if (winograd_applies(s))
        return winograd_workspace_floats(s, floats, err);
    conv2d_plan_workspace(s, &plan);
    *floats = plan.total;
    return SIMCLR_OK;
}

/* A shard's sum: dW (O·C·k·k) then dbias (O), each level of the pairwise tree 64-byte aligned. */
static size_t conv2d_shard_sum_floats(const conv2d_shape *s)
{
    return round_up_16(s->out_channels * conv2d_col_rows(s) + s->out_channels);
}

/* Sharded: a shard's workspace, then log2(shards) + 1 levels of the pairwise tree; the forward
 * pass uses the whole batch's. */
int conv2d_workspace_floats(const conv2d_shape *s, size_t *floats, simclr_error *err)
{
    conv2d_shape part;
    size_t whole, shard, levels;
    if (conv2d_whole_workspace_floats(s, &whole, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    *floats = whole;
    if (!conv2d_sharded(s))
        return SIMCLR_OK;
    conv2d_shard_part(s, &part);
    if (conv2d_whole_workspace_floats(&part, &shard, err) != SIMCLR_OK ||
        size_multiply_checked(pairwise_depth(s->shards) + 1, conv2d_shard_sum_floats(s),
                              &levels) != SIMCLR_OK ||
        size_add_checked(round_up_16(shard), levels, &shard) != SIMCLR_OK)
        return simclr_fail(err, "conv2d: the workspace overflows size_t");
    if (shard > *floats)
        *floats = shard;
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

/* The adjoint of the sum above, read off it term by term: the term
 *     weight[o][c][a][b] · x[n][c][i·s − p + a][j·s − p + b]
 * of y[n][o][i][j] sends dy[n][o][i][j] · x[..] to dweight[o][c][a][b] and dy[n][o][i][j] ·
 * weight[o][c][a][b] to dx[n][c][i·s − p + a][j·s − p + b]. Written as one sum per gradient
 * element (each written once, summed in double, in the loops' order):
 *     dbias[o]            += Σ_n Σ_i Σ_j dy[n][o][i][j]
 *     dweight[o][c][a][b] += Σ_n Σ_i Σ_j dy[n][o][i][j] · x[n][c][i·s − p + a][j·s − p + b]
 *     dx[n][c][r][t]       = Σ_o Σ_a Σ_b dy[n][o][i][j] · weight[o][c][a][b]
 *                            over the (i, j) with i·s − p + a = r, j·s − p + b = t, 0 <= i < Ho,
 *                            0 <= j < Wo (none when r + p − a is negative or not a multiple of s)
 * (x read as 0 outside the image, as forward). */
void conv2d_backward_naive(float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *weight, const conv2d_shape *s)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width, k = s->kernel;
    const size_t O = s->out_channels, Ho = s->out_height, Wo = s->out_width;
    size_t n, o, c, a, b, i, j, r, t;
    if (dbias != NULL)
        for (o = 0; o < O; o++) {
            double sum = 0.0;
            for (n = 0; n < s->batch; n++)
                for (i = 0; i < Ho; i++)
                    for (j = 0; j < Wo; j++)
                        sum += dy[((n * O + o) * Ho + i) * Wo + j];
            dbias[o] += (float)sum;
        }
    for (o = 0; o < O; o++)
        for (c = 0; c < C; c++)
            for (a = 0; a < k; a++)
                for (b = 0; b < k; b++) {
                    double sum = 0.0;
                    for (n = 0; n < s->batch; n++)
                        for (i = 0; i < Ho; i++)
                            for (j = 0; j < Wo; j++) {
                                const long row = (long)(i * s->stride + a) - (long)s->padding;
                                const long column = (long)(j * s->stride + b) - (long)s->padding;
                                if (row < 0 || column < 0 || row >= (long)H || column >= (long)W)
                                    continue;
                                sum += (double)dy[((n * O + o) * Ho + i) * Wo + j] *
                                       x[((n * C + c) * H + (size_t)row) * W + (size_t)column];
                            }
                    dweight[((o * C + c) * k + a) * k + b] += (float)sum;
                }
    if (dx == NULL)
        return;
    for (n = 0; n < s->batch; n++)
        for (c = 0; c < C; c++)
            for (r = 0; r < H; r++)
                for (t = 0; t < W; t++) {
                    double sum = 0.0;
                    for (o = 0; o < O; o++)
                        for (a = 0; a < k; a++)
                            for (b = 0; b < k; b++) {
                                /* the output (i, j) whose window puts tap (a, b) on (r, t) */
                                const size_t row = r + s->padding, column = t + s->padding;
                                if (row < a || column < b || (row - a) % s->stride != 0 ||
                                    (column - b) % s->stride != 0)
                                    continue;
                                i = (row - a) / s->stride;
                                j = (column - b) / s->stride;
                                if (i >= Ho || j >= Wo)
                                    continue;
                                sum += (double)dy[((n * O + o) * Ho + i) * Wo + j] *
                                       weight[((o * C + c) * k + a) * k + b];
                            }
                    dx[((n * C + c) * H + r) * W + t] = (float)sum;
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

/* Writes columns column .. column+count-1 of one row (c, a, b) of the unrolled columns,
 *     col[(c, a, b)][(g, i, j)] = x[g][c][i·s − p + a][j·s − p + b]   (0 in the padding),
 * contiguously into out. Output row by output row, as runs: zeros, input pixels, zeros. */
static void conv2d_unroll_segment(float *out,    /* (count) */
                                  const float *x, /* (G, C, H, W) */
                                  const conv2d_shape *s, size_t row, size_t column,
                                  size_t count)
{
    const size_t k = s->kernel, Ho = s->out_height, Wo = s->out_width, stride = s->stride;
    const size_t c = row / (k * k), a = (row / k) % k, b = row % k;
    size_t first, end;
    conv2d_valid_columns(s, b, &first, &end);
    size_t g = column / (Ho * Wo), i = (column / Wo) % Ho, j0 = column % Wo;
    while (count > 0) {
        const size_t n = Wo - j0 < count ? Wo - j0 : count, j1 = j0 + n;
        const long r = (long)(i * stride + a) - (long)s->padding;
        size_t j;
        if (r < 0 || r >= (long)s->in_height) {
            memset(out, 0, n * sizeof(float));
        } else {
            /* output column j reads input column j·s + b − p, inside for first <= j < end */
            const float *in_row =
                x + ((g * s->in_channels + c) * s->in_height + (size_t)r) * s->in_width;
            const size_t lo = first > j0 ? (first < j1 ? first : j1) : j0;
            const size_t hi = end < j1 ? (end > lo ? end : lo) : j1;
            for (j = j0; j < lo; j++)
                out[j - j0] = 0.0f;
            if (stride == 1 && hi > lo)
                memcpy(out + (lo - j0), in_row + (lo + b - s->padding), (hi - lo) * sizeof(float));
            else
                for (j = lo; j < hi; j++)
                    out[j - j0] = in_row[j * stride + b - s->padding];
            for (j = hi; j < j1; j++)
                out[j - j0] = 0.0f;
        }
        out += n, count -= n;
        j0 = 0; /* the next output row (g, i + 1), or the next image's first */
        if (++i == Ho)
            i = 0, g++;
    }
}

/* Stores output columns column .. column+count-1 of one row into the forward packed layout,
 * splitting at panel boundaries: values src[0], src[stride], … or zeros when src is NULL. */
static void conv2d_store_run(float *base, size_t panel_floats, size_t column, const float *src,
                             size_t stride, size_t count)
{
    while (count > 0) {
        const size_t lane = column % GEMM_NR, n = GEMM_NR - lane < count ? GEMM_NR - lane : count;
        float *dst = base + (column / GEMM_NR) * panel_floats + lane;
        size_t t;
        if (src == NULL)
            memset(dst, 0, n * sizeof(float));
        else if (stride == 1)
            memcpy(dst, src, n * sizeof(float));
        else
            for (t = 0; t < n; t++)
                dst[t] = src[t * stride];
        if (src != NULL)
            src += n * stride;
        column += n;
        count -= n;
    }
}

/* im2col for the forward product Y = W · col: op(B) = col, K = C·k·k rows, N = the chunk's
 * columns, written straight into gemm's packed layout (nn/gemm.h) — no intermediate col matrix.
 * Parallel over rows; each row owns its GEMM_NR-float segment of every panel, and each output
 * row (g, i) is stored as runs: zeros, the valid input pixels, zeros. */
static void conv2d_im2col_packed(float *packed,  /* gemm_packed_b_floats(columns, C·k·k) */
                                 const float *x, /* (G, C, H, W) */
                                 const conv2d_shape *s, size_t images)
{
    const size_t rows = conv2d_col_rows(s), columns = conv2d_chunk_columns(s, images);
    const size_t panel_floats = rows * GEMM_NR, k = s->kernel, Ho = s->out_height;
    const size_t Wo = s->out_width;
    const size_t padded = (columns + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    size_t row;
    PARALLEL_FOR()
    for (row = 0; row < rows; row++) {
        const size_t c = row / (k * k), a = (row / k) % k, b = row % k;
        float *base = packed + row * GEMM_NR;
        size_t g, i, first, end, column = 0;
        conv2d_valid_columns(s, b, &first, &end);
        for (g = 0; g < images; g++) {
            const float *plane = x + (g * s->in_channels + c) * s->in_height * s->in_width;
            for (i = 0; i < Ho; i++, column += Wo) {
                const long r = (long)(i * s->stride + a) - (long)s->padding;
                if (r < 0 || r >= (long)s->in_height) {
                    conv2d_store_run(base, panel_floats, column, NULL, 1, Wo);
                    continue;
                }
                /* output column j reads input column j·s + b − p, inside for first <= j < end */
                conv2d_store_run(base, panel_floats, column, NULL, 1, first);
                if (end > first)
                    conv2d_store_run(base, panel_floats, column + first,
                                     plane + (size_t)r * s->in_width +
                                         (first * s->stride + b - s->padding),
                                     s->stride, end - first);
                conv2d_store_run(base, panel_floats, column + end, NULL, 1, Wo - end);
            }
        }
        conv2d_store_run(base, panel_floats, columns, NULL, 1, padded - columns);
    }
}

/* im2col for the weight gradient dW = dY · colᵀ: op(B) = colᵀ, K = the chunk's columns,
 * N = C·k·k, in gemm's packed layout: element (column, row) at
 * packed[(row / NR)·columns·NR + column·NR + row % NR]. Parallel over panels of NR rows, so no
 * two threads write the same cache line. Within a panel, blocks of CONV2D_TRANSPOSE_COLUMNS
 * columns are unrolled row by row into a small buffer and then transposed into place, so that
 * the stores to the packed panel are contiguous (storing each row straight into the panel
 * would touch a new cache line with every value). */
#define CONV2D_TRANSPOSE_COLUMNS 64

static void conv2d_im2col_packed_transposed(float *packed,  /* gemm_packed_b_floats(C·k·k, columns) */
                                            const float *x, /* (G, C, H, W) */
                                            const conv2d_shape *s, size_t images)
{
    const size_t rows = conv2d_col_rows(s), columns = conv2d_chunk_columns(s, images);
    const size_t panels = (rows + GEMM_NR - 1) / GEMM_NR;
    size_t panel;
    PARALLEL_FOR()
    for (panel = 0; panel < panels; panel++) {
        float block[GEMM_NR * CONV2D_TRANSPOSE_COLUMNS]; /* (lane, column in the block) */
        float *panel_base = packed + panel * columns * GEMM_NR;
        const size_t first_row = panel * GEMM_NR;
        const size_t lanes = rows - first_row < GEMM_NR ? rows - first_row : GEMM_NR;
        size_t start, lane, t;
        for (start = 0; start < columns; start += CONV2D_TRANSPOSE_COLUMNS) {
            const size_t n = columns - start < CONV2D_TRANSPOSE_COLUMNS
                                 ? columns - start
                                 : CONV2D_TRANSPOSE_COLUMNS;
            for (lane = 0; lane < lanes; lane++)
                conv2d_unroll_segment(block + lane * CONV2D_TRANSPOSE_COLUMNS, x, s,
                                      first_row + lane, start, n);
            if (lanes == GEMM_NR) {
                /* the common case, with constant trip counts the compiler can unroll */
                for (t = 0; t < n; t++) {
                    float *out = panel_base + (start + t) * GEMM_NR;
                    const float *column_t = block + t;
                    for (lane = 0; lane < GEMM_NR; lane += 4) {
                        const float v0 = column_t[(lane + 0) * CONV2D_TRANSPOSE_COLUMNS];
                        const float v1 = column_t[(lane + 1) * CONV2D_TRANSPOSE_COLUMNS];
                        const float v2 = column_t[(lane + 2) * CONV2D_TRANSPOSE_COLUMNS];
                        const float v3 = column_t[(lane + 3) * CONV2D_TRANSPOSE_COLUMNS];
                        out[lane + 0] = v0, out[lane + 1] = v1;
                        out[lane + 2] = v2, out[lane + 3] = v3;
                    }
                }
            } else {
                for (t = 0; t < n; t++) {
                    float *out = panel_base + (start + t) * GEMM_NR;
                    for (lane = 0; lane < lanes; lane++)
                        out[lane] = block[lane * CONV2D_TRANSPOSE_COLUMNS + t];
                    for (lane = lanes; lane < GEMM_NR; lane++)
                        out[lane] = 0.0f;
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

/* Whether threads take whole chunks (enough chunks to share) or work inside each chunk. */
static int conv2d_threads_take_chunks(const conv2d_shape *s)
{
    const size_t chunks = (s->batch + s->chunk - 1) / s->chunk;
    return s->threads > 1 && chunks >= 2 * s->threads;
}

/* The images a chunk holds as the loops run: s->chunk, or, when threads take whole chunks, fewer
 * so that every thread gets as many (nn/parallel.h). What a chunk computes for an image never
 * depends on the other images of its chunk, so this changes no result. */
static size_t conv2d_run_chunk(const conv2d_shape *s)
{
    return conv2d_threads_take_chunks(s) ? parallel_even_chunk(s->batch, s->chunk, s->threads)
                                         : s->chunk;
}

/* One chunk of the forward product into y, with the thread's own slot. */
static void conv2d_forward_chunk(float *y, const float *x, const float *packed_weight,
                                 const conv2d_shape *s, size_t first, size_t images,
                                 float *slot,
                                 const conv2d_workspace_plan *plan)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width;
    const size_t columns = conv2d_chunk_columns(s, images);
    const float *x_chunk = x + first * s->in_channels * s->in_height * s->in_width;
    float *packed = slot, *scratch = slot + plan->slot_columns;
    /* a 1×1 stride-1 unpadded convolution unrolls to the image itself: plain packing */
    if (conv2d_is_pointwise(s))
        gemm_pack_b(packed, GEMM_NORMAL, x_chunk, columns, columns, rows);
    else
        conv2d_im2col_packed(packed, x_chunk, s, images);
    if (images == 1) {
        gemm_prepacked(O, columns, rows, 1.0f, packed_weight, packed, 0.0f, y + first * O * S,
                       columns);
    } else {
        gemm_prepacked(O, columns, rows, 1.0f, packed_weight, packed, 0.0f, scratch, columns);
        conv2d_columns_to_images(y + first * O * S, scratch, images, O, S);
    }
}

void conv2d_forward(float *y, const float *x, const float *weight, const float *bias,
                    const conv2d_shape *s, float *workspace)
{
#if SIMCLR_REFERENCE
    /* the reference build: the 7-loop definition, for every shape */
    conv2d_forward_naive(y, x, weight, bias, s);
    return;
#endif
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width, G = conv2d_run_chunk(s);
    const size_t chunks = (s->batch + G - 1) / G;
    const int take_chunks = conv2d_threads_take_chunks(s);
    const int slots = (int)s->threads;
    conv2d_workspace_plan plan;
    float *packed_weight = workspace, *slots_base;
    size_t chunk;
    (void)take_chunks, (void)slots; /* read only by the OpenMP pragmas */
    if (winograd_applies(s)) {
        winograd_forward(y, x, weight, s, workspace); /* 3×3, stride 1, padding 1: nn/winograd_internal.h */
    } else {
        conv2d_plan_workspace(s, &plan);
        slots_base = workspace + plan.weight;
        gemm_pack_a(packed_weight, GEMM_NORMAL, weight, rows, O, rows); /* W once for all chunks */
        PARALLEL_FOR_DYNAMIC(num_threads(slots) if (take_chunks))
        for (chunk = 0; chunk < chunks; chunk++)
            conv2d_forward_chunk(y, x, packed_weight, s, chunk * G,
                                 s->batch - chunk * G < G ? s->batch - chunk * G : G,
                                 slots_base + (size_t)parallel_thread_index() * plan.slot, &plan);
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

/* One chunk of the input gradient, dx = col2im(Wᵀ · dY), with the thread's own slot. */
static void conv2d_input_gradient_chunk(float *dx, const float *dy, const float *packed_weight_t,
                                        const conv2d_shape *s, size_t first, size_t images,
                                        float *slot,
                                        const conv2d_workspace_plan *plan)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width;
    const size_t in_size = s->in_channels * s->in_height * s->in_width;
    const size_t columns = conv2d_chunk_columns(s, images);
    float *dcol = slot, *scratch = slot + plan->slot_columns;
    float *dy_packed = scratch + plan->slot_scratch;
    const float *dy_columns = dy + first * O * S;
    if (images > 1) {
        conv2d_images_to_columns(scratch, dy_columns, images, O, S);
        dy_columns = scratch;
    }
    gemm_pack_b(dy_packed, GEMM_NORMAL, dy_columns, columns, columns, O);
    if (conv2d_is_pointwise(s)) {
        /* dx_n (C, S) = Wᵀ (C, O) · dY_n (O, S) directly */
        gemm_prepacked(rows, columns, O, 1.0f, packed_weight_t, dy_packed, 0.0f,
                       dx + first * in_size, columns);
    } else {
        /* dcol (C·k·k, cols) = Wᵀ · dY, then scattered back to the images */
        gemm_prepacked(rows, columns, O, 1.0f, packed_weight_t, dy_packed, 0.0f, dcol, columns);
        conv2d_col2im(dx + first * in_size, dcol, s, images);
    }
}

/* One weight-gradient chunk of `images` images from `first`, in a worker (plan->weight_worker
 * floats): dW_chunk (O, C·k·k) = dY (O, cols) · colᵀ (cols, C·k·k), into P with beta (dW itself
 * and 1 for a single chunk; the worker's product and 0 when the chunks are summed). */
static void conv2d_weight_gradient_chunk(float *P, float beta, const float *dy, const float *x,
                                         const conv2d_shape *s, size_t first, size_t images,
                                         float *worker, const conv2d_workspace_plan *plan)
{
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width;
    const size_t columns = conv2d_chunk_columns(s, images);
    const float *x_chunk = x + first * s->in_channels * s->in_height * s->in_width;
    const float *dy_columns = dy + first * O * S;
    float *packed_columns = worker, *dy_region = worker + plan->weight_columns;
    float *dy_packed = dy_region + plan->weight_dy;
    if (images > 1) {
        conv2d_images_to_columns(dy_region, dy_columns, images, O, S);
        dy_columns = dy_region;
    }
    gemm_pack_a(dy_packed, GEMM_NORMAL, dy_columns, columns, O, columns);
    if (conv2d_is_pointwise(s) && images == 1)
        gemm_pack_b(packed_columns, GEMM_TRANSPOSED, x_chunk, columns, rows, columns);
    else
        conv2d_im2col_packed_transposed(packed_columns, x_chunk, s, images);
    gemm_prepacked(O, rows, columns, 1.0f, dy_packed, packed_columns, beta, P, rows);
}

/* Weight-gradient chunk `chunk` of several: its product into the worker's P (the worker's last
 * plan->weight_product floats), returned for the caller to add into dW in chunk order. */
static const float *conv2d_weight_gradient_product(const float *dy, const float *x,
                                                   const conv2d_shape *s, size_t chunk,
                                                   float *worker,
                                                   const conv2d_workspace_plan *plan)
{
    const size_t first = chunk * s->weight_chunk;
    const size_t images = s->batch - first < s->weight_chunk ? s->batch - first : s->weight_chunk;
    float *P = worker + plan->weight_worker - plan->weight_product;
    conv2d_weight_gradient_chunk(P, 0.0f, dy, x, s, first, images, worker, plan);
    return P;
}

/* The backward over the whole batch at once. */
static void conv2d_backward_whole(float *dx, float *dweight, float *dbias, const float *dy,
                                  const float *x, const float *weight, const conv2d_shape *s,
                                  float *workspace)
{
#if SIMCLR_REFERENCE
    /* the reference build: the adjoint in direct loops, for every shape */
    conv2d_backward_naive(dx, dweight, dbias, dy, x, weight, s);
    return;
#endif
    const size_t rows = conv2d_col_rows(s), O = s->out_channels;
    const size_t S = s->out_height * s->out_width;
    const size_t G = conv2d_run_chunk(s), chunks = (s->batch + G - 1) / G;
    const int take_chunks = conv2d_threads_take_chunks(s);
    const int slots = (int)s->threads;
    conv2d_workspace_plan plan;
    float *packed_weight = workspace, *region;
    size_t chunk;
    (void)take_chunks, (void)slots; /* read only by the OpenMP pragmas */
    conv2d_plan_workspace(s, &plan);
    region = workspace + plan.weight;

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

    if (winograd_applies(s)) {
        winograd_backward(dx, dweight, dy, x, weight, s, workspace); /* nn/winograd_internal.h */
        return;
    }

    /* dW (O, C·k·k) += dY (O, cols) · colᵀ (cols, C·k·k): one chunk straight into dW; several:
     * dW + P(chunk 0) + P(chunk 1) + ..., each added after the chunk before it, by whichever
     * thread made it (each thread its own chunks, when there are as many as threads) */
    if (plan.weight_chunks == 1) {
        conv2d_weight_gradient_chunk(dweight, 1.0f, dy, x, s, 0, s->batch, region, &plan);
    } else if (plan.weight_workers > 1) {
        PARALLEL_FOR_ORDERED(num_threads(slots))
        for (chunk = 0; chunk < plan.weight_chunks; chunk++) {
            float *worker = region + (size_t)parallel_thread_index() * plan.weight_worker;
            const float *P = conv2d_weight_gradient_product(dy, x, s, chunk, worker, &plan);
            IN_ITERATION_ORDER
            add_forward(dweight, dweight, P, O * rows);
        }
    } else {
        for (chunk = 0; chunk < plan.weight_chunks; chunk++)
            add_forward(dweight, dweight,
                        conv2d_weight_gradient_product(dy, x, s, chunk, region, &plan), O * rows);
    }

    if (dx == NULL)
        return;
    gemm_pack_a(packed_weight, GEMM_TRANSPOSED, weight, rows, rows, O); /* Wᵀ once */
    PARALLEL_FOR_DYNAMIC(num_threads(slots) if (take_chunks))
    for (chunk = 0; chunk < chunks; chunk++)
        conv2d_input_gradient_chunk(dx, dy, packed_weight, s, chunk * G,
                                    s->batch - chunk * G < G ? s->batch - chunk * G : G,
                                    region + (size_t)parallel_thread_index() * plan.slot, &plan);
}

/* The sharded backward: each shard as a batch of its own, its dW (and dbias) into a level of
 * the pairwise tree (nn/ranks.h); the root, summed across ranks, then added to dW. The input
 * gradient is per image, the same bits as the whole batch's. */
static void conv2d_backward_sharded(float *dx,             /* (B, C, H, W) or NULL */
                                    float *dweight,        /* (O, C, k, k), accumulated */
                                    float *dbias,          /* (O) or NULL, accumulated */
                                    const float *dy,       /* (B, O, Ho, Wo) */
                                    const float *x,        /* (B, C, H, W) */
                                    const float *weight,   /* (O, C, k, k) */
                                    const conv2d_shape *s, float *workspace)
{
    const size_t O = s->out_channels, weights = O * conv2d_col_rows(s);
    const size_t sum = weights + (dbias != NULL ? O : 0), stride = conv2d_shard_sum_floats(s);
    const size_t in_size = s->in_channels * s->in_height * s->in_width;
    const size_t out_size = O * s->out_height * s->out_width;
    conv2d_shape part;
    size_t part_floats, images, k, i;
    simclr_error ignored; /* sized when the whole shape was */
    float *levels, *root;
    conv2d_shard_part(s, &part);
    images = part.batch;
    (void)conv2d_whole_workspace_floats(&part, &part_floats, &ignored);
    levels = workspace + round_up_16(part_floats);
    for (k = 0; k < s->shards; k++) {
        const size_t level = pairwise_level(k);
        float *leaf = levels + level * stride;
        memset(leaf, 0, sum * sizeof(float));
        conv2d_backward_whole(dx != NULL ? dx + k * images * in_size : NULL, leaf,
                        dbias != NULL ? leaf + weights : NULL, dy + k * images * out_size,
                        x + k * images * in_size, weight, &part, workspace);
        pairwise_merge_floats(levels, stride, level, sum);
    }
    root = levels + pairwise_depth(s->shards) * stride;
    if (ranks_exchange(s->ranks))
        s->ranks->sum_floats(s->ranks, root, sum);
    for (i = 0; i < weights; i++)
        dweight[i] += root[i];
    for (i = weights; i < sum; i++)
        dbias[i - weights] += root[i];
}

void conv2d_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x,
                     const float *weight, const conv2d_shape *s, float *workspace)
{
    if (conv2d_sharded(s))
        conv2d_backward_sharded(dx, dweight, dbias, dy, x, weight, s, workspace);
    else
        conv2d_backward_whole(dx, dweight, dbias, dy, x, weight, s, workspace);
}
