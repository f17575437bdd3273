/*
 * nn/winograd.c — F(2×2, 3×3) convolution forward: the filter, input and output transforms and
 * the 16 products per chunk (the backward pass is nn/winograd_backward.c). The formulas and
 * matrices are in nn/winograd_internal.h; the direct definition this must agree with is
 * conv2d_forward_naive (nn/conv2d.c).
 *
 * Every transform is applied as two 1-D passes (one down the tile's rows, one along them) and is
 * written for a whole row of tiles at once, so the loops over the tile column tj are plain loops
 * the compiler vectorises. Columns are counted in the padded image: padded column 2m is image
 * column 2m − 1, and tile tj covers padded columns 2tj .. 2tj + 3. The input transform copies each
 * image row between zeros and reads every tile's four columns from the copy (stride-2 loads).
 */
#include "winograd_internal.h"

/* The transforms copy and combine short runs (2 to 16 floats at ResNet's sizes); GCC would turn
 * the plain copies into calls to memcpy, which cost more than the copies. Only GCC sees this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include <string.h>

#include "gemm_internal.h"
#include "parallel.h"
#include "tensor.h"

#define F2_POSITIONS 16 /* ξ = 4·row + column of a transformed tile */

int winograd_applies(const conv2d_shape *s)
{
    return s->kernel == 3 && s->stride == 1 && s->padding == 1 &&
           s->in_channels >= WINOGRAD_MIN_CHANNELS && s->out_channels >= WINOGRAD_MIN_CHANNELS &&
           (s->in_width + 1) / 2 <= WINOGRAD_MAX_TILE_COLUMNS;
}

static size_t f2_tile_rows(const conv2d_shape *s) { return (s->in_height + 1) / 2; }
static size_t f2_tile_columns(const conv2d_shape *s) { return (s->in_width + 1) / 2; }
static size_t f2_images_per_chunk(const conv2d_shape *s)
{
    return winograd_chunk_images(f2_tile_rows(s) * f2_tile_columns(s),
                                 WINOGRAD_TARGET_TILES, s->batch);
}

/* The forward's workspace: U packed (16 × (O, C)), then per worker V packed (16 × (C, T)) |
 * M (16, O, T) | the image-lane path's scratch; the matrices of V and of M winograd_block_stride
 * apart. With at least as many chunks as threads (the chunks cut so that every thread gets as
 * many, nn/parallel.h), each thread takes whole chunks (its own V and M:
 * the data a chunk's three steps pass on stay in that core's caches, and the threads never wait
 * for each other inside a chunk); otherwise one V and M, and the threads share every step of a
 * chunk. Either way each output is the same sums in the same order: the bits do not change. */
static int f2_uses_lanes(const conv2d_shape *s);
static size_t f2_lanes_scratch_floats(const conv2d_shape *s, size_t G);

typedef struct f2_plan {
    size_t chunk_images, chunks;
    int chunk_per_thread;                /* each thread its own chunks (above) */
    size_t team;                         /* threads inside a chunk: 1 or s->threads */
    size_t u, v, m, scratch_slot, total; /* scratch: per team thread, the image-lane path's */
    size_t worker;                       /* one worker's V | M | team × scratch */
} f2_plan;

static void f2_make_plan(const conv2d_shape *s, f2_plan *plan)
{
    const size_t C = s->in_channels, O = s->out_channels;
    size_t T;
    /* chunks cut for every thread to get as many, when each takes whole ones (the chunk size
     * never changes a result); the shape's own size when the threads share each chunk */
    plan->chunk_images = parallel_even_chunk(s->batch, f2_images_per_chunk(s), s->threads);
    plan->chunks = (s->batch + plan->chunk_images - 1) / plan->chunk_images;
    plan->chunk_per_thread = s->threads > 1 && plan->chunks >= s->threads;
    if (!plan->chunk_per_thread) {
        plan->chunk_images = f2_images_per_chunk(s);
        plan->chunks = (s->batch + plan->chunk_images - 1) / plan->chunk_images;
    }
    T = plan->chunk_images * f2_tile_rows(s) * f2_tile_columns(s);
    /* (sizes checked for overflow by winograd_workspace_floats' estimate) */
    plan->u = F2_POSITIONS * winograd_packed_filter_floats(O, C);
    plan->v = F2_POSITIONS * winograd_block_stride(gemm_packed_b_floats(T, C));
    plan->m = F2_POSITIONS * winograd_block_stride(O * winograd_row_stride(T));
    plan->scratch_slot =
        f2_uses_lanes(s) ? f2_lanes_scratch_floats(s, plan->chunk_images) : 0;
    plan->team = plan->chunk_per_thread ? 1 : s->threads;
    plan->worker = plan->v + plan->m + plan->team * plan->scratch_slot;
    plan->total = plan->u + (plan->chunk_per_thread ? s->threads : 1) * plan->worker;
}

/* The larger of the forward's plan and the backward's (nn/winograd_backward.c). */
int winograd_workspace_floats(const conv2d_shape *s, size_t *floats, simclr_error *err)
{
    f2_plan plan;
    size_t backward;
    const double C = (double)s->in_channels, O = (double)s->out_channels;
    const double T = (double)f2_images_per_chunk(s) * (double)f2_tile_rows(s) *
                     (double)f2_tile_columns(s);
    /* the plan's sums are checked in double first: an overflowing size is refused, not wrapped */
    const double estimate = 16.0 * (O + 16) * (C + 16) +
                            (double)s->threads *
                                (16.0 * ((C + O) * (T + 32 + GEMM_NR) +
                                         2.0 * WINOGRAD_BLOCK_SLACK) +
                                 32.0 * (T + 16)) +
                            1024.0;
    if (estimate > (double)((size_t)-1 / sizeof(float)))
        return simclr_fail(err, "winograd: the workspace overflows size_t");
    if (winograd_backward_workspace_floats(s, &backward, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    f2_make_plan(s, &plan);
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
static void f2_filter_transform(float *U,            /* 16 × packed (O, C) */
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
        float u[F2_POSITIONS][GEMM_MR];
        size_t lane, b, r, position;
        for (lane = 0; lane < GEMM_MR; lane++) {
            const size_t i = panel * GEMM_MR + lane;
            const float *g = weight + (i * C + p) * 9;
            float h[4][3]; /* G g: h0 = g0, h1 = ½(g0 + g1 + g2), h2 = ½(g0 − g1 + g2), h3 = g2 */
            if (i >= rows) {
                for (position = 0; position < F2_POSITIONS; position++)
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
        for (position = 0; position < F2_POSITIONS; position++) {
            float *out = U + position * block + panel * depth * GEMM_MR + p * GEMM_MR;
            for (lane = 0; lane < GEMM_MR; lane++)
                out[lane] = u[position][lane];
        }
    }
}

/* Bᵀ d and Aᵀ m across n tiles at once, argument k holding value k of every tile (restrict: the
 * rows are distinct, so each is one vectorised loop). Both paths combine with these: along a row
 * of tiles (wide images) or across the images of a chunk (small ones). */
static void f2_bt_rows(float *restrict v0, float *restrict v1, float *restrict v2,
                             float *restrict v3, const float *restrict d0,
                             const float *restrict d1, const float *restrict d2,
                             const float *restrict d3, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) {
        v0[t] = d0[t] - d2[t];
        v1[t] = d1[t] + d2[t];
        v2[t] = d2[t] - d1[t];
        v3[t] = d1[t] - d3[t];
    }
}

static void f2_at_rows(float *restrict y0, float *restrict y1, const float *restrict m0,
                             const float *restrict m1, const float *restrict m2,
                             const float *restrict m3, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) {
        y0[t] = m0[t] + m1[t] + m2[t];
        y1[t] = m1[t] - m2[t] - m3[t];
    }
}

/* One image row's horizontal pass, d B, for every tile of a tile row: tile tj reads image columns
 * 2tj − 1 .. 2tj + 2 (0 outside) and Bᵀ combines them as (d0 − d2, d1 + d2, d2 − d1, d1 − d3).
 * The row is first copied between zeros, so that every tile, the edge ones included, is the
 * same stride-2 read the compiler vectorises (a row of tw tiles is then tw lanes, not a vector
 * for the inside and scalar code for a remainder). row == NULL is a row of the padding. */
static void f2_input_row(float (*h)[WINOGRAD_MAX_TILE_COLUMNS], /* (4, tw) */
                               const float *row,                     /* (W) or NULL */
                               size_t W, size_t tw)
{
    float padded[2 * WINOGRAD_MAX_TILE_COLUMNS + 2]; /* padded column p: image column p − 1 */
    float *h0 = h[0], *h1 = h[1], *h2 = h[2], *h3 = h[3];
    size_t tj, p;
    if (row == NULL) {
        for (tj = 0; tj < tw; tj++)
            h0[tj] = h1[tj] = h2[tj] = h3[tj] = 0.0f;
        return;
    }
    padded[0] = 0.0f;
    for (p = 0; p < W; p++)
        padded[p + 1] = row[p];
    for (p = W + 1; p < 2 * tw + 2; p++) /* W ≤ 2tw: one or two zeros on the right */
        padded[p] = 0.0f;
    for (tj = 0; tj < tw; tj++) {
        const float *d = padded + 2 * tj;
        h0[tj] = d[0] - d[2], h1[tj] = d[1] + d[2], h2[tj] = d[2] - d[1], h3[tj] = d[1] - d[3];
    }
}

/* Where a chunk's 16 matrices V_ξ (rows, T) live: each in gemm's packed layout for a B operand
 * (K = rows, N = T, nn/gemm.h), ready for gemm_prepacked, matrix ξ at base + ξ·block. */
typedef struct f2_matrices {
    float *base;
    size_t rows, block;
} f2_matrices;

/* The packed layout, with its padding lanes (columns T .. up to the next multiple of NR of the
 * last panel) zeroed, as gemm's packed operands have them. */
static f2_matrices f2_packed(float *base, size_t rows, size_t T)
{
    f2_matrices m;
    size_t position, r;
    m.base = base, m.rows = rows;
    m.block = winograd_block_stride(gemm_packed_b_floats(T, rows));
    if (T % GEMM_NR != 0)
        for (position = 0; position < F2_POSITIONS; position++)
            for (r = 0; r < rows; r++)
                memset(base + position * m.block + (T / GEMM_NR) * rows * GEMM_NR + r * GEMM_NR +
                           T % GEMM_NR,
                       0, (GEMM_NR - T % GEMM_NR) * sizeof(float));
    return m;
}

/* Where row `row`, columns t .. of matrix 0 start, and in *run how many of the `count` columns
 * from t on are contiguous there (up to the end of a panel of GEMM_NR columns); the same columns
 * of matrix ξ are ξ·block further. */
static float *f2_packed_run(const f2_matrices *m, size_t row, size_t t, size_t count,
                                  size_t *run)
{
    const size_t lane = t % GEMM_NR;
    *run = GEMM_NR - lane < count ? GEMM_NR - lane : count;
    return m->base + (t / GEMM_NR) * m->rows * GEMM_NR + row * GEMM_NR + lane;
}

/* V_ξ[c][t] = (Bᵀ d B)_ξ for every tile t of a chunk; t = (g·th + ti)·tw + tj. Each of the tile
 * row's four image rows gets its horizontal pass (d B), then Bᵀ combines the four results down
 * the rows: V[4r + k] = (u0 − u2, u1 + u2, u2 − u1, u1 − u3)[r] of the k-th combinations. */
static void f2_input_transform(const f2_matrices *V, /* 16 × packed (C, T) */
                                     const float *x,             /* (G, C, H, W) */
                                     const conv2d_shape *s, size_t images, int team)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width;
    const size_t th = f2_tile_rows(s), tw = f2_tile_columns(s);
    const size_t planes = images * C;
    size_t plane;
    (void)team; /* read only by the OpenMP pragma: at most that many threads */
    PARALLEL_FOR(num_threads(team))
    for (plane = 0; plane < planes; plane++) {
        const size_t c = plane / images, g = plane % images; /* a channel's planes side by side */
        const float *image_plane = x + (g * C + c) * H * W;
        /* the horizontal passes of image rows 2ti − 1 .. 2ti + 2; consecutive tile rows share
         * two image rows, so each is computed once and the four buffers rotate */
        float rows[4][4][WINOGRAD_MAX_TILE_COLUMNS];
        float (*h[4])[WINOGRAD_MAX_TILE_COLUMNS] = {rows[0], rows[1], rows[2], rows[3]};
        size_t ti, r, k, done, run;
        for (ti = 0; ti < th; ti++) {
            for (r = ti == 0 ? 0 : 2; r < 4; r++) {
                const long row = (long)(2 * ti + r) - 1;
                if (ti > 0) { /* rows 2 and 3 of the last tile row are rows 0 and 1 of this one */
                    float (*reused)[WINOGRAD_MAX_TILE_COLUMNS] = h[r - 2];
                    h[r - 2] = h[r];
                    h[r] = reused;
                }
                f2_input_row(h[r], row >= 0 && row < (long)H ? image_plane + row * (long)W : NULL, W, tw);
            }
            /* Bᵀ (d B): down them, into V, a panel's run at a time */
            for (done = 0; done < tw; done += run) {
                float *v = f2_packed_run(V, c, (g * th + ti) * tw + done, tw - done, &run);
                for (k = 0; k < 4; k++)
                    f2_bt_rows(v + (0 + k) * V->block, v + (4 + k) * V->block,
                                     v + (8 + k) * V->block, v + (12 + k) * V->block,
                                     h[0][k] + done, h[1][k] + done, h[2][k] + done,
                                     h[3][k] + done, run);
            }
        }
    }
}

/* y = Aᵀ M A for every tile (the forward's last step). Rows and columns beyond H, W are dropped. */
static void f2_output_transform(float *y,       /* (G, O, H, W) */
                                      const float *M, /* 16 × (O, T), rows L apart */
                                      size_t block,   /* M_ξ to M_ξ+1 */
                                      const conv2d_shape *s, size_t images, int team)
{
    const size_t O = s->out_channels, H = s->in_height, W = s->in_width;
    const size_t th = f2_tile_rows(s), tw = f2_tile_columns(s);
    const size_t L = winograd_row_stride(images * th * tw), planes = images * O;
    size_t plane;
    (void)team;
    PARALLEL_FOR(num_threads(team))
    for (plane = 0; plane < planes; plane++) {
        const size_t o = plane / images, g = plane % images; /* a channel's planes side by side */
        float *out_plane = y + (g * O + o) * H * W;
        float rows[2][4][WINOGRAD_MAX_TILE_COLUMNS]; /* Aᵀ M: 2 rows of 4 columns, per tile */
        float top[2][WINOGRAD_MAX_TILE_COLUMNS], bottom[2][WINOGRAD_MAX_TILE_COLUMNS];
        size_t ti, k, tj;
        for (ti = 0; ti < th; ti++) {
            const float *m = M + o * L + (g * th + ti) * tw;
            for (k = 0; k < 4; k++) /* Aᵀ M: down the columns */
                f2_at_rows(rows[0][k], rows[1][k], m + (0 + k) * block, m + (4 + k) * block,
                           m + (8 + k) * block, m + (12 + k) * block, tw);
            /* (Aᵀ M) A: along the rows */
            f2_at_rows(top[0], top[1], rows[0][0], rows[0][1], rows[0][2], rows[0][3], tw);
            f2_at_rows(bottom[0], bottom[1], rows[1][0], rows[1][1], rows[1][2], rows[1][3],
                             tw);
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
/* The image-lane path, for small images                                                      */
/* ------------------------------------------------------------------------------------------ */

/* With fewer than F2_LANES_BELOW tiles a row (images narrower than 16 pixels: ResNet's last
 * two stages), a row of tiles is too short a vector; there the transforms work in the image-lane
 * layout (winograd_gather), the G images of a chunk side by side, and tiles are numbered
 * t = (ti·tw + tj)·G + g instead. The same combinations, in the same order for each tile: only
 * the vector axis changes. */
#define F2_LANES_BELOW 8

static int f2_uses_lanes(const conv2d_shape *s)
{
    return f2_tile_columns(s) < F2_LANES_BELOW;
}

/* The per-thread scratch: a channel of the chunk, padded to (2th + 2) × (2tw + 2), and 16 rows of
 * G lanes. */
static size_t f2_lanes_scratch_floats(const conv2d_shape *s, size_t G)
{
    const size_t rows = 2 * f2_tile_rows(s) + 2, width = 2 * f2_tile_columns(s) + 2;
    return winograd_round_up_16((rows * width + 16) * G);
}

/* V_ξ[c][t] = (Bᵀ d B)_ξ, per channel: d B along each of a patch's four rows, then Bᵀ down the
 * four results, G lanes at a time, into V packed. `team` threads at most, one scratch slot each. */
static void f2_input_transform_lanes(const f2_matrices *V, /* 16 × packed (C, T) */
                                           const float *x,             /* (G, C, H, W) */
                                           const conv2d_shape *s, size_t G,
                                           float *scratch, /* team × scratch_floats */
                                           size_t scratch_floats, int team)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width;
    const size_t th = f2_tile_rows(s), tw = f2_tile_columns(s);
    const size_t rows = 2 * th + 2, width = 2 * tw + 2;
    size_t c;
    (void)team; /* read only by the OpenMP pragma */
    PARALLEL_FOR(num_threads(team))
    for (c = 0; c < C; c++) {
        float *plane = scratch + (size_t)parallel_thread_index() * scratch_floats;
        float *h = plane + rows * width * G; /* (4, 4, G): row r of the patch, combination k */
        size_t ti, tj, r, k;
        winograd_gather(plane, x + c * H * W, C * H * W, G, H, W, rows, width, 1, 1);
        for (ti = 0; ti < th; ti++)
            for (tj = 0; tj < tw; tj++) {
                const float *patch = plane + (2 * ti * width + 2 * tj) * G;
                const size_t t = (ti * tw + tj) * G;
                size_t done = 0, run;
                for (r = 0; r < 4; r++) { /* d B: along the patch's rows */
                    const float *d = patch + r * width * G;
                    float *out = h + 4 * r * G;
                    f2_bt_rows(out, out + G, out + 2 * G, out + 3 * G, d, d + G, d + 2 * G,
                                     d + 3 * G, G);
                }
                while (done < G) { /* Bᵀ (d B): down them, into V, a panel's run at a time */
                    float *v = f2_packed_run(V, c, t + done, G - done, &run);
                    for (k = 0; k < 4; k++) {
                        const float *u = h + k * G + done;
                        f2_bt_rows(v + (0 + k) * V->block, v + (4 + k) * V->block,
                                         v + (8 + k) * V->block, v + (12 + k) * V->block, u,
                                         u + 4 * G, u + 8 * G, u + 12 * G, run);
                    }
                    done += run;
                }
            }
    }
}

/* y = Aᵀ M A, per output channel, G lanes at a time; rows and columns beyond H, W dropped.
 * `team` threads at most, one scratch slot each. */
static void f2_output_transform_lanes(float *y,       /* (G, O, H, W) */
                                            const float *M, /* 16 × (O, T), rows L apart */
                                            size_t block,   /* M_ξ to M_ξ+1 */
                                            const conv2d_shape *s, size_t G,
                                            float *scratch, /* team × scratch_floats */
                                            size_t scratch_floats, int team)
{
    const size_t O = s->out_channels, H = s->in_height, W = s->in_width;
    const size_t th = f2_tile_rows(s), tw = f2_tile_columns(s);
    const size_t L = winograd_row_stride(G * th * tw), width = 2 * tw;
    size_t o;
    (void)team;
    PARALLEL_FOR(num_threads(team))
    for (o = 0; o < O; o++) {
        float *plane = scratch + (size_t)parallel_thread_index() * scratch_floats;
        float *rows = plane + 2 * th * width * G; /* (2, 4, G): Aᵀ M */
        size_t ti, tj, k, i;
        for (ti = 0; ti < th; ti++)
            for (tj = 0; tj < tw; tj++) {
                const float *m = M + o * L + (ti * tw + tj) * G;
                for (k = 0; k < 4; k++) /* Aᵀ M: down the columns */
                    f2_at_rows(rows + k * G, rows + (4 + k) * G, m + (0 + k) * block,
                               m + (4 + k) * block, m + (8 + k) * block, m + (12 + k) * block,
                               G);
                for (i = 0; i < 2; i++) { /* (Aᵀ M) A: along the rows */
                    float *out = plane + ((2 * ti + i) * width + 2 * tj) * G;
                    const float *a = rows + 4 * i * G;
                    f2_at_rows(out, out + G, a, a + G, a + 2 * G, a + 3 * G, G);
                }
            }
        winograd_scatter(y + o * H * W, plane, O * H * W, G, H, W, width, 0, 0);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Forward                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* One chunk of `images` images: V_ξ from the images, the 16 products M_ξ = U_ξ · V_ξ, y from
 * M_ξ, with `team` threads at most: all of them when the threads share the chunk, 1 when it is
 * one thread's own (so that, whatever the OpenMP nesting, no other thread touches its V, M and
 * scratch slot). */
static void f2_forward_chunk(float *y,           /* (images, O, H, W) */
                             const float *x,     /* (images, C, H, W) */
                             const float *U,     /* 16 × packed (O, C), packed_u apart */
                             float *V,           /* 16 × packed (C, T), this chunk's */
                             float *M,           /* 16 × (O, T), rows L apart, this chunk's */
                             float *scratch,     /* team × plan->scratch_slot: the image lanes' */
                             const f2_plan *plan, const conv2d_shape *s, size_t images, int team)
{
    const size_t C = s->in_channels, O = s->out_channels;
    const size_t packed_u = winograd_packed_filter_floats(O, C);
    const size_t T = images * f2_tile_rows(s) * f2_tile_columns(s);
    const size_t L = winograd_row_stride(T), M_block = winograd_block_stride(O * L);
    const f2_matrices V_packed = f2_packed(V, C, T);
    const int lanes = f2_uses_lanes(s);
    size_t position;
    if (lanes)
        f2_input_transform_lanes(&V_packed, x, s, images, scratch, plan->scratch_slot, team);
    else
        f2_input_transform(&V_packed, x, s, images, team);
    /* M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T), one product per thread at a time (when the chunk
     * is the caller's alone, its only thread makes all 16) */
    PARALLEL_FOR(num_threads(team))
    for (position = 0; position < F2_POSITIONS; position++)
        gemm_prepacked(O, T, C, 1.0f, U + position * packed_u, V + position * V_packed.block,
                       0.0f, M + position * M_block, L);
    if (lanes)
        f2_output_transform_lanes(y, M, M_block, s, images, scratch, plan->scratch_slot, team);
    else
        f2_output_transform(y, M, M_block, s, images, team);
}

/* Chunk `chunk` of the batch, in worker slot `slot` (plan->worker floats each from workers). */
static void f2_forward_numbered_chunk(float *y, const float *x, const float *U,
                                      float *workers, const f2_plan *plan,
                                      const conv2d_shape *s, size_t chunk, size_t slot)
{
    const size_t first = chunk * plan->chunk_images;
    const size_t images =
        s->batch - first < plan->chunk_images ? s->batch - first : plan->chunk_images;
    float *V = workers + slot * plan->worker;
    f2_forward_chunk(y + first * s->out_channels * s->in_height * s->in_width,
                     x + first * s->in_channels * s->in_height * s->in_width, U, V, V + plan->v,
                     V + plan->v + plan->m, plan, s, images, (int)plan->team);
}

void winograd_forward(float *y, const float *x, const float *weight, const conv2d_shape *s,
                      float *workspace)
{
    const int slots = (int)s->threads;
    f2_plan plan;
    float *U = workspace, *workers;
    size_t chunk;
    (void)slots; /* read only by the OpenMP pragma */
    f2_make_plan(s, &plan);
    workers = U + plan.u;
    f2_filter_transform(U, winograd_packed_filter_floats(s->out_channels, s->in_channels), weight,
                        s->out_channels, s->in_channels); /* U_ξ (O, C) */
    if (plan.chunk_per_thread) {
        PARALLEL_FOR_DYNAMIC(num_threads(slots))
        for (chunk = 0; chunk < plan.chunks; chunk++)
            f2_forward_numbered_chunk(y, x, U, workers, &plan, s, chunk,
                                      (size_t)parallel_thread_index());
    } else { /* one worker; the threads share each chunk (a parallel loop here would keep its
              * inner loops from the thread pool) */
        for (chunk = 0; chunk < plan.chunks; chunk++)
            f2_forward_numbered_chunk(y, x, U, workers, &plan, s, chunk, 0);
    }
}
