/*
 * nn/winograd.c — F(2×2, 3×3) convolution forward: the filter, input and output transforms and
 * the 16 products per chunk (the backward pass is nn/winograd_backward.c). The formulas and
 * matrices are in nn/winograd.h; the direct definition this must agree with is
 * conv2d_forward_naive (nn/conv2d.c).
 *
 * Every transform is applied as two 1-D passes (one down the tile's rows, one along them) and is
 * written for a whole row of tiles at once, so the loops over the tile column tj are plain loops
 * the compiler vectorises. Columns are counted in the padded image: padded column 2m is image
 * column 2m − 1, and tile tj covers padded columns 2tj .. 2tj + 3. The input transform reads an
 * interior tile's four columns straight from the image row (stride-2 loads).
 */
#include "winograd.h"

/* The transforms copy and combine short runs (2 to 16 floats at ResNet's sizes); GCC would turn
 * the plain copies into calls to memcpy, which cost more than the copies. Only GCC sees this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include <string.h>

#include "gemm.h"
#include "parallel.h"
#include "tensor.h"

#define WINOGRAD_POSITIONS 16 /* ξ = 4·row + column of a transformed tile */
#define WINOGRAD_MAX_PADDED (WINOGRAD_MAX_TILE_COLUMNS + 1)

int winograd_applies(const conv2d_shape *s)
{
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 &&
           s->in_channels >= WINOGRAD_MIN_CHANNELS && s->out_channels >= WINOGRAD_MIN_CHANNELS &&
           (s->in_width + 1) / 2 <= WINOGRAD_MAX_TILE_COLUMNS;
}

static size_t winograd_tile_rows(const conv2d_shape *s) { return (s->in_height + 1) / 2; }
static size_t winograd_tile_columns(const conv2d_shape *s) { return (s->in_width + 1) / 2; }
static size_t winograd_images_per_chunk(const conv2d_shape *s)
{
    return winograd_chunk_images(winograd_tile_rows(s) * winograd_tile_columns(s),
                                 WINOGRAD_TARGET_TILES, s->batch);
}

/* Images per chunk: enough for target_tiles tiles, at least one, at most the batch. */
size_t winograd_chunk_images(size_t tiles_per_image, size_t target_tiles, size_t batch)
{
    const size_t images = (target_tiles + tiles_per_image - 1) / tiles_per_image;
    return images < batch ? images : batch;
}

size_t winograd_round_up_16(size_t floats)
{
    return (floats + 15) / 16 * 16; /* so that every region starts 64-byte aligned */
}

/* T rounded up and 16 floats more, so that rows are never a multiple of 4 KiB apart (gemm's
 * packing reads 12 or 32 rows side by side, which would otherwise all fall into the same L1
 * cache sets). */
size_t winograd_row_stride(size_t T)
{
    return winograd_round_up_16(T) + 16;
}

size_t winograd_packed_filter_floats(size_t O, size_t C)
{
    const size_t forward = gemm_packed_a_floats(O, C), transposed = gemm_packed_a_floats(C, O);
    return winograd_round_up_16(forward > transposed ? forward : transposed);
}

/* The forward's workspace: U packed (16 × (O, C)) | V packed (16 × (C, T)) | M (16, O, T). */
typedef struct winograd_plan {
    size_t chunk_images;
    size_t u, v, m, total;
} winograd_plan;

static void winograd_make_plan(const conv2d_shape *s, winograd_plan *plan)
{
    const size_t C = s->in_channels, O = s->out_channels;
    size_t T;
    plan->chunk_images = winograd_images_per_chunk(s);
    T = plan->chunk_images * winograd_tile_rows(s) * winograd_tile_columns(s);
    /* (sizes checked for overflow by winograd_workspace_floats' estimate) */
    plan->u = WINOGRAD_POSITIONS * winograd_packed_filter_floats(O, C);
    plan->v = WINOGRAD_POSITIONS * C * winograd_row_stride(T); /* more than V packed needs */
    plan->m = WINOGRAD_POSITIONS * O * winograd_row_stride(T);
    plan->total = plan->u + plan->v + plan->m;
}

/* The larger of the forward's plan and the backward's (nn/winograd_backward.c). */
int winograd_workspace_floats(const conv2d_shape *s, size_t *floats, simclr_error *err)
{
    winograd_plan plan;
    size_t backward;
    const double C = (double)s->in_channels, O = (double)s->out_channels;
    const double T = (double)winograd_images_per_chunk(s) * (double)winograd_tile_rows(s) *
                     (double)winograd_tile_columns(s);
    /* the plan's sums are checked in double first: an overflowing size is refused, not wrapped */
    const double estimate = 16.0 * (O + 16) * (C + 16) + 16.0 * (C + O) * (T + 32) + 1024.0;
    if (estimate > (double)((size_t)-1 / sizeof(float)))
        return simclr_fail(err, "winograd: the workspace overflows size_t");
    if (winograd_backward_workspace_floats(s, &backward, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    winograd_make_plan(s, &plan);
    *floats = plan.total > backward ? plan.total : backward;
    return SIMCLR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The four transforms                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* U_ξ = (G g Gᵀ)_ξ for every filter g = weight[o][c] (3 × 3), written straight into gemm's packed
 * layout for the A operand (O, C) of the forward product (nn/gemm.h); one block of `block` floats
 * per ξ. Parallel over (panel, input channel) pairs, each writing MR contiguous floats of every
 * block. */
static void winograd_filter_transform(float *U,            /* 16 × packed (O, C) */
                                      size_t block,
                                      const float *weight, /* (O, C, 3, 3) */
                                      size_t O, size_t C)
{
    const size_t rows = O, depth = C;
    const size_t panels = (rows + GEMM_MR - 1) / GEMM_MR;
    size_t unit;
    PARALLEL_FOR()
    for (unit = 0; unit < panels * depth; unit++) {
        const size_t panel = unit / depth, p = unit % depth;
        float u[WINOGRAD_POSITIONS][GEMM_MR];
        size_t lane, b, r, position;
        for (lane = 0; lane < GEMM_MR; lane++) {
            const size_t i = panel * GEMM_MR + lane;
            const float *g = weight + (i * C + p) * 9;
            float h[4][3]; /* G g: h0 = g0, h1 = ½(g0 + g1 + g2), h2 = ½(g0 − g1 + g2), h3 = g2 */
            if (i >= rows) {
                for (position = 0; position < WINOGRAD_POSITIONS; position++)
                    u[position][lane] = 0.0f; /* the panel's padding */
                continue;
            }
            for (b = 0; b < 3; b++) {
                h[0][b] = g[b];
                h[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
                h[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
                h[3][b] = g[6 + b];
            }
            for (r = 0; r < 4; r++) { /* (G g) Gᵀ: the same combination along the row */
                u[4 * r + 0][lane] = h[r][0];
                u[4 * r + 1][lane] = 0.5f * (h[r][0] + h[r][1] + h[r][2]);
                u[4 * r + 2][lane] = 0.5f * (h[r][0] - h[r][1] + h[r][2]);
                u[4 * r + 3][lane] = h[r][2];
            }
        }
        for (position = 0; position < WINOGRAD_POSITIONS; position++) {
            float *out = U + position * block + panel * depth * GEMM_MR + p * GEMM_MR;
            for (lane = 0; lane < GEMM_MR; lane++)
                out[lane] = u[position][lane];
        }
    }
}

/* One image row's horizontal pass, d B, for every tile of a tile row: tile tj reads image columns
 * 2tj − 1 .. 2tj + 2 (0 outside) and Bᵀ combines them as (d0 − d2, d1 + d2, d2 − d1, d1 − d3).
 * Tiles 1 .. inner − 1 lie inside the row and read it directly (stride-2 loads the compiler
 * vectorises); the first tile and those reaching past the right edge go through a 4-value
 * copy with zeros. row == NULL is a row of the padding. */
static void winograd_input_row(float (*h)[WINOGRAD_MAX_TILE_COLUMNS], /* (4, tw) */
                               const float *row,                     /* (W) or NULL */
                               size_t W, size_t tw)
{
    float *h0 = h[0], *h1 = h[1], *h2 = h[2], *h3 = h[3];
    size_t tj, inner;
    if (row == NULL) {
        for (tj = 0; tj < tw; tj++)
            h0[tj] = h1[tj] = h2[tj] = h3[tj] = 0.0f;
        return;
    }
    inner = W >= 3 ? (W - 3) / 2 + 1 : 1; /* tile tj is inside when 2tj + 2 <= W − 1 */
    if (inner > tw)
        inner = tw;
    for (tj = 1; tj < inner; tj++) {
        const float *d = row + 2 * tj - 1;
        h0[tj] = d[0] - d[2], h1[tj] = d[1] + d[2], h2[tj] = d[2] - d[1], h3[tj] = d[1] - d[3];
    }
    for (tj = 0; tj < tw; tj = tj == 0 && inner > 1 ? inner : tj + 1) {
        float d[4];
        size_t k;
        for (k = 0; k < 4; k++) {
            const size_t column = 2 * tj + k; /* image column + 1 */
            d[k] = column >= 1 && column <= W ? row[column - 1] : 0.0f;
        }
        h0[tj] = d[0] - d[2], h1[tj] = d[1] + d[2], h2[tj] = d[2] - d[1], h3[tj] = d[1] - d[3];
    }
}

/* Where a chunk's 16 matrices (rows, T) live: plain, row r of matrix ξ at
 * base + ξ·block + r·stride; or each in gemm's packed layout for a B operand (K = rows, N = T,
 * nn/gemm.h), ready for gemm_prepacked. */
typedef struct winograd_matrices {
    float *base;
    size_t rows, stride, block;
    int packed;
} winograd_matrices;

/* The packed layout, with its padding lanes (columns T .. up to the next multiple of NR of the
 * last panel) zeroed, as gemm's packed operands have them. */
static winograd_matrices winograd_packed(float *base, size_t rows, size_t T)
{
    winograd_matrices m;
    size_t position, r;
    m.base = base, m.rows = rows, m.stride = 0;
    m.block = winograd_round_up_16(gemm_packed_b_floats(T, rows)), m.packed = 1;
    if (T % GEMM_NR != 0)
        for (position = 0; position < WINOGRAD_POSITIONS; position++)
            for (r = 0; r < rows; r++)
                memset(base + position * m.block + (T / GEMM_NR) * rows * GEMM_NR + r * GEMM_NR +
                           T % GEMM_NR,
                       0, (GEMM_NR - T % GEMM_NR) * sizeof(float));
    return m;
}

/* Where row `row`, columns t .. t + count − 1 of matrix 0 start, when they are contiguous (the
 * same columns of matrix ξ are ξ·block further); NULL when a packed panel boundary splits them. */
static float *winograd_run_start(const winograd_matrices *m, size_t row, size_t t, size_t count)
{
    if (!m->packed)
        return m->base + row * m->stride + t;
    if (t % GEMM_NR + count > GEMM_NR)
        return NULL;
    return m->base + (t / GEMM_NR) * m->rows * GEMM_NR + row * GEMM_NR + t % GEMM_NR;
}

/* Stores values[0 .. count) at row `row`, columns t .. t + count − 1 of packed matrix ξ, split
 * where a panel ends (the runs winograd_run_start cannot give; plain runs always can). */
static void winograd_store_run(const winograd_matrices *m, size_t position, size_t row, size_t t,
                               const float *values, size_t count)
{
    float *matrix = m->base + position * m->block;
    size_t i;
    while (count > 0) { /* split where a panel of GEMM_NR columns ends */
        const size_t lane = t % GEMM_NR, n = GEMM_NR - lane < count ? GEMM_NR - lane : count;
        float *out = matrix + (t / GEMM_NR) * m->rows * GEMM_NR + row * GEMM_NR + lane;
        for (i = 0; i < n; i++)
            out[i] = values[i];
        values += n, t += n, count -= n;
    }
}

/* V_ξ[c][t] = (Bᵀ d B)_ξ for every tile t of a chunk; t = (g·th + ti)·tw + tj. Each of the tile
 * row's four image rows gets its horizontal pass (d B), then Bᵀ combines the four results down
 * the rows: V[4r + k] = (u0 − u2, u1 + u2, u2 − u1, u1 − u3)[r] of the k-th combinations. */
static void winograd_input_transform(const winograd_matrices *V, /* 16 × (C, T) */
                                     const float *x,             /* (G, C, H, W) */
                                     const conv2d_shape *s, size_t images)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width;
    const size_t th = winograd_tile_rows(s), tw = winograd_tile_columns(s);
    const size_t planes = images * C;
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < planes; plane++) {
        const size_t c = plane / images, g = plane % images; /* a channel's planes side by side */
        const float *image_plane = x + (g * C + c) * H * W;
        /* the horizontal passes of image rows 2ti − 1 .. 2ti + 2; consecutive tile rows share
         * two image rows, so each is computed once and the four buffers rotate */
        float rows[4][4][WINOGRAD_MAX_TILE_COLUMNS];
        float (*h[4])[WINOGRAD_MAX_TILE_COLUMNS] = {rows[0], rows[1], rows[2], rows[3]};
        float v[WINOGRAD_POSITIONS][WINOGRAD_MAX_TILE_COLUMNS], *direct;
        size_t ti, r, k, tj, position;
        for (ti = 0; ti < th; ti++) {
            for (r = ti == 0 ? 0 : 2; r < 4; r++) {
                const long row = (long)(2 * ti + r) - 1;
                if (ti > 0) { /* rows 2 and 3 of the last tile row are rows 0 and 1 of this one */
                    float (*reused)[WINOGRAD_MAX_TILE_COLUMNS] = h[r - 2];
                    h[r - 2] = h[r];
                    h[r] = reused;
                }
                winograd_input_row(h[r], row >= 0 && row < (long)H ? image_plane + row * (long)W : NULL, W, tw);
            }
            /* straight into V when the tile row's run is contiguous there (it is, unless it
             * crosses a panel boundary of the packed layout), else through v */
            direct = winograd_run_start(V, c, (g * th + ti) * tw, tw);
            for (k = 0; k < 4; k++) {
                const float *u0 = h[0][k], *u1 = h[1][k], *u2 = h[2][k], *u3 = h[3][k];
                float *v0 = direct != NULL ? direct + (0 + k) * V->block : v[0 + k];
                float *v1 = direct != NULL ? direct + (4 + k) * V->block : v[4 + k];
                float *v2 = direct != NULL ? direct + (8 + k) * V->block : v[8 + k];
                float *v3 = direct != NULL ? direct + (12 + k) * V->block : v[12 + k];
                for (tj = 0; tj < tw; tj++) {
                    v0[tj] = u0[tj] - u2[tj];
                    v1[tj] = u1[tj] + u2[tj];
                    v2[tj] = u2[tj] - u1[tj];
                    v3[tj] = u1[tj] - u3[tj];
                }
            }
            if (direct == NULL)
                for (position = 0; position < WINOGRAD_POSITIONS; position++)
                    winograd_store_run(V, position, c, (g * th + ti) * tw, v[position], tw);
        }
    }
}

/* y = Aᵀ M A for every tile (the forward's last step); Aᵀ combines four values as
 * (m0 + m1 + m2, m1 − m2 − m3). Rows and columns beyond H, W are dropped. */
static void winograd_output_transform(float *y,       /* (G, O, H, W) */
                                      const float *M, /* (16, O, T) */
                                      const conv2d_shape *s, size_t images)
{
    const size_t O = s->out_channels, H = s->in_height, W = s->in_width;
    const size_t th = winograd_tile_rows(s), tw = winograd_tile_columns(s);
    const size_t L = winograd_row_stride(images * th * tw), planes = images * O;
    size_t plane;
    PARALLEL_FOR()
    for (plane = 0; plane < planes; plane++) {
        const size_t o = plane / images, g = plane % images; /* a channel's planes side by side */
        float *out_plane = y + (g * O + o) * H * W;
        float rows[2][4][WINOGRAD_MAX_TILE_COLUMNS]; /* Aᵀ M: 2 rows of 4 columns, per tile */
        float top[2][WINOGRAD_MAX_TILE_COLUMNS], bottom[2][WINOGRAD_MAX_TILE_COLUMNS];
        size_t ti, k, tj;
        for (ti = 0; ti < th; ti++) {
            const float *m = M + o * L + (g * th + ti) * tw;
            for (k = 0; k < 4; k++) {
                const float *m0 = m + (0 + k) * O * L, *m1 = m + (4 + k) * O * L;
                const float *m2 = m + (8 + k) * O * L, *m3 = m + (12 + k) * O * L;
                for (tj = 0; tj < tw; tj++) {
                    rows[0][k][tj] = m0[tj] + m1[tj] + m2[tj];
                    rows[1][k][tj] = m1[tj] - m2[tj] - m3[tj];
                }
            }
            for (tj = 0; tj < tw; tj++) {
                top[0][tj] = rows[0][0][tj] + rows[0][1][tj] + rows[0][2][tj];
                top[1][tj] = rows[0][1][tj] - rows[0][2][tj] - rows[0][3][tj];
                bottom[0][tj] = rows[1][0][tj] + rows[1][1][tj] + rows[1][2][tj];
                bottom[1][tj] = rows[1][1][tj] - rows[1][2][tj] - rows[1][3][tj];
            }
            {
                float *row0 = out_plane + 2 * ti * W;
                float *row1 = 2 * ti + 1 < H ? row0 + W : NULL;
                const size_t pairs = W / 2;
                for (tj = 0; tj < pairs; tj++) {
                    row0[2 * tj] = top[0][tj];
                    row0[2 * tj + 1] = top[1][tj];
                }
                if (W % 2 == 1)
                    row0[W - 1] = top[0][pairs];
                if (row1 != NULL) {
                    for (tj = 0; tj < pairs; tj++) {
                        row1[2 * tj] = bottom[0][tj];
                        row1[2 * tj + 1] = bottom[1][tj];
                    }
                    if (W % 2 == 1)
                        row1[W - 1] = bottom[0][pairs];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Forward                                                                                    */
/* ------------------------------------------------------------------------------------------ */

void winograd_forward(float *y, const float *x, const float *weight, const conv2d_shape *s,
                      float *workspace)
{
    const size_t C = s->in_channels, O = s->out_channels, H = s->in_height, W = s->in_width;
    const size_t packed_u = winograd_packed_filter_floats(O, C);
    winograd_plan plan;
    float *U, *V, *M;
    size_t first, position;
    winograd_make_plan(s, &plan);
    U = workspace;
    V = U + plan.u;
    M = V + plan.v;
    winograd_filter_transform(U, packed_u, weight, O, C); /* U_ξ (O, C), packed once */
    for (first = 0; first < s->batch; first += plan.chunk_images) {
        const size_t images =
            s->batch - first < plan.chunk_images ? s->batch - first : plan.chunk_images;
        const size_t T = images * winograd_tile_rows(s) * winograd_tile_columns(s);
        const size_t L = winograd_row_stride(T);
        const winograd_matrices V_packed = winograd_packed(V, C, T);
        winograd_input_transform(&V_packed, x + first * C * H * W, s, images);
        /* M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T), one product per thread at a time */
        PARALLEL_FOR()
        for (position = 0; position < WINOGRAD_POSITIONS; position++)
            gemm_prepacked(O, T, C, 1.0f, U + position * packed_u,
                           V + position * V_packed.block, 0.0f, M + position * O * L, L);
        winograd_output_transform(y + first * O * H * W, M, s, images);
    }
}
