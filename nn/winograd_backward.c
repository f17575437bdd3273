/*
 * nn/winograd_backward.c — the backward pass of a 3×3, stride 1, padding 1 convolution by
 * Winograd's F(4×4, 3×3) (Lavin & Gray 2016, section 4.2): dx and dweight of the same function
 * nn/winograd.c computes forward with F(2×2, 3×3). The matrices (points 0, ±1, ±2, ∞):
 *
 *     Bᵀ = | 4  0 −5  0  1  0 |    G = |  1/4     0     0  |    Aᵀ = | 1  1  1  1  1  0 |
 *          | 0 −4 −4  1  1  0 |        | −1/6  −1/6  −1/6  |         | 0  1 −1  2 −2  0 |
 *          | 0  4 −4 −1  1  0 |        | −1/6   1/6  −1/6  |         | 0  1  1  4  4  0 |
 *          | 0 −2 −1  2  1  0 |        | 1/24  1/12   1/6  |         | 0  1 −1  8 −8  1 |
 *          | 0  2 −1 −2  1  0 |        | 1/24 −1/12   1/6  |
 *          | 0  4  0 −5  0  1 |        |   0     0     1   |
 *
 * The output is cut into 4×4 tiles; tile (ti, tj) reads the 6×6 input patch at rows 4ti−1 ..
 * 4ti+4, columns 4tj−1 .. 4tj+4 (0 outside). With y_tile = Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A,
 * the gradients are the adjoints of these linear maps, with 36 products per chunk of images:
 *     dM_ξ = (A dY_tile Aᵀ)_ξ                      (dY read as 0 beyond the output's edge)
 *     dU_ξ (O, C) = Σ_chunks dM_ξ (O, T) · V_ξᵀ,   dg_oc = Gᵀ dU_oc G
 *     dV_ξ (C, T) = U_ξᵀ (C, O) · dM_ξ (O, T),     dd_ct = B dV_ct Bᵀ, added into dx
 * ξ = 6·row + column; th × tw = ⌈H/4⌉ × ⌈W/4⌉ tiles an image; T tiles a chunk of G images.
 *
 * Why a different tile than the forward: F(4, 3) needs 36 products per 16 outputs, not 64, and
 * its transforms move fewer values; but its constants (up to 8, sixths and twenty-fourths) make
 * its rounding error about 6× that of F(2, 3) (normwise 1.7e-6 against 2.7e-7 for a 64-channel
 * layer). In the forward pass that difference decides which ReLU gates of a network fall within
 * rounding distance of 0 (the golden train_step case, checked against PyTorch, flips one with
 * F(4, 3) forward); in the backward pass it only perturbs gradients, by far less than their 1e-4
 * tolerances. So forward stays F(2, 3) and the backward, two thirds of a convolution's work,
 * uses F(4, 3). The filter transforms run in double and round once.
 *
 * Layout: the transforms work in the image-lane layout, plane[(row·width + column)·G + g]: a
 * channel of the G images of a chunk copied side by side (winograd_gather, with the padding as
 * zeros), so every 1-D combination is one loop over the G images, vectorised however small the
 * image (ResNet's last stage is 4×4: one tile an image). Tiles are numbered t = (ti·tw + tj)·G + g.
 * Determinism: each chunk's dx and products P_ξ = dM_ξ·V_ξᵀ are the same sums whichever thread
 * makes them (a tile's transforms; nn/gemm.h's fixed order; every tile of dx added in a fixed
 * order); dU adds the chunks' P in chunk order, and the chunk size depends on the shape only, so
 * results are the same bits for any number of threads (the workspace plan below says who makes
 * what).
 */
#include "winograd_internal.h"

#include <string.h>

#include "gemm_internal.h"
#include "parallel.h"
#include "pointwise.h" /* add_forward: a chunk's products into dU */
#include "tensor.h"

#define F4_POSITIONS 36 /* ξ = 6·row + column of a transformed tile */

static size_t f4_tile_rows(const conv2d_shape *s) { return (s->in_height + 3) / 4; }
static size_t f4_tile_columns(const conv2d_shape *s) { return (s->in_width + 3) / 4; }
/* Images per chunk, from the shape alone (dU sums the chunks' products in order, so the cut
 * decides the rounding): the target's share of tiles; and when that takes more than one chunk,
 * a count of chunks that WINOGRAD_BACKWARD_CHUNK_GROUPS divides, as equal as whole images allow,
 * so that 2 or 4 threads taking whole chunks get as many each (ResNet-50's 56×56 maps at 32
 * images: 8 chunks of 4, not 6 of up to 6). */
static size_t f4_images_per_chunk(const conv2d_shape *s)
{
    const size_t most = winograd_chunk_images(f4_tile_rows(s) * f4_tile_columns(s),
                                              WINOGRAD_BACKWARD_TARGET_TILES, s->batch);
    return most >= s->batch ? most
                            : parallel_even_chunk(s->batch, most, WINOGRAD_BACKWARD_CHUNK_GROUPS);
}

/* The workspace: U_ξᵀ packed (36 × (C, O)) | dU (36, O, C) | workers. One worker: V, then dV
 * (36, C, T) | dM (36, O, T) | per thread of its team: a GEMM workspace (gemm's own packing for
 * P = dM·Vᵀ, or dM packed as the B operand of dV = Uᵀ·dM) and the transforms' scratch | the
 * products P_ξ (O, C): all 36 of a chunk when the worker is one thread's own, else one slot per
 * team thread. The matrices of V and of dM winograd_block_stride apart.
 * With at least as many chunks as threads, each thread takes whole chunks with its own worker (a
 * chunk's transforms and products stay in one core's caches, and no thread waits for another
 * inside a chunk), and adds its chunk's P into dU when the chunk before it is in. Otherwise one
 * worker, whose team (all threads) shares each chunk: the thread of ξ adds P_ξ into dU_ξ. Either
 * way dU = 0 + P(chunk 0) + P(chunk 1) + ..., in that order, each P_ξ one gemm's fixed order.
 * When the whole batch is one chunk (ResNet's small late maps, where O·C is largest), U_ξ is
 * read once: the thread of ξ makes dU_ξ = P_ξ in its own slot and, once dV_ξ is made, copies it
 * over U_ξ, so dU takes no room of its own (36·O·C floats: 38 MB for 512 channels). */
static size_t f4_scratch_floats(const conv2d_shape *s, size_t G);

typedef struct f4_plan {
    size_t chunk_images, chunks;
    int du_over_u;        /* one chunk: dU_ξ over U_ξ */
    int chunk_per_thread; /* each thread its own chunks (above) */
    size_t team;          /* threads inside a chunk: 1 or s->threads */
    size_t u, du, v, m, gemm_slot, scratch_slot, product_slot;
    size_t products;      /* where a worker's products start */
    size_t worker, total; /* one worker's floats; the whole workspace's */
} f4_plan;

static void f4_make_plan(const conv2d_shape *s, f4_plan *plan)
{
    const size_t C = s->in_channels, O = s->out_channels;
    size_t T, filter_gradient, input_gradient;
    plan->chunk_images = f4_images_per_chunk(s);
    plan->chunks = (s->batch + plan->chunk_images - 1) / plan->chunk_images;
    T = plan->chunk_images * f4_tile_rows(s) * f4_tile_columns(s);
    plan->du_over_u = plan->chunks == 1;
    plan->chunk_per_thread = s->threads > 1 && plan->chunks >= s->threads;
    plan->team = plan->chunk_per_thread ? 1 : s->threads;
    plan->u = F4_POSITIONS * winograd_packed_filter_floats(C, O); /* ≥ 36·C·O */
    plan->du = plan->du_over_u ? 0 : winograd_round_up_16(F4_POSITIONS * O * C);
    plan->v = F4_POSITIONS * winograd_block_stride(C * winograd_row_stride(T));
    plan->m = F4_POSITIONS * winograd_block_stride(O * winograd_row_stride(T));
    /* (sizes checked for overflow by winograd_workspace_floats' estimate) */
    (void)gemm_workspace_floats(O, C, T, &filter_gradient, NULL);
    input_gradient = gemm_packed_b_floats(T, O);
    plan->gemm_slot =
        winograd_round_up_16(filter_gradient > input_gradient ? filter_gradient : input_gradient);
    plan->scratch_slot = f4_scratch_floats(s, plan->chunk_images);
    plan->product_slot = winograd_round_up_16(O * C);
    plan->products = plan->v + plan->m + plan->team * (plan->gemm_slot + plan->scratch_slot);
    plan->worker = plan->products +
                   (plan->chunk_per_thread ? F4_POSITIONS : plan->team) * plan->product_slot;
    plan->total = plan->u + plan->du + (plan->chunk_per_thread ? s->threads : 1) * plan->worker;
}

int winograd_backward_workspace_floats(const conv2d_shape *s, size_t *floats,
                                        simclr_error *err)
{
    f4_plan plan;
    const double C = (double)s->in_channels, O = (double)s->out_channels;
    const double T = (double)f4_images_per_chunk(s) * (double)f4_tile_rows(s) *
                     (double)f4_tile_columns(s);
    /* the plan's sums are checked in double first: an overflowing size is refused, not wrapped */
    const double estimate =
        72.0 * (O + 16) * (C + 16) +
        (double)s->threads * (36.0 * ((C + O) * (T + 32) + 2.0 * WINOGRAD_BLOCK_SLACK) +
                              36.0 * (O + 16) * (C + 16) + (T + 64) * (C + O + 64) +
                              112.0 * (T + 16)) +
        1024.0;
    if (estimate > (double)((size_t)-1 / sizeof(float)))
        return simclr_fail(err, "winograd: the workspace overflows size_t");
    f4_make_plan(s, &plan);
    *floats = plan.total;
    return SIMCLR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The one-dimensional combinations (the matrices above, applied to one vector)              */
/* ------------------------------------------------------------------------------------------ */

/* Bᵀ d: six values of an input patch to six of its transform. */
static void f4_bt(float v[6], float d0, float d1, float d2, float d3, float d4, float d5)
{
    const float minus_outer = d4 - d2, odd = d3 - d1; /* shared by rows 3 and 4 */
    v[0] = 4.0f * d0 - 5.0f * d2 + d4;
    v[1] = (d3 + d4) - 4.0f * (d1 + d2);
    v[2] = (d4 - d3) + 4.0f * (d1 - d2);
    v[3] = minus_outer + 2.0f * odd;
    v[4] = minus_outer - 2.0f * odd;
    v[5] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* B v: the adjoint of f4_bt (B's rows are Bᵀ's columns). */
static void f4_b(float d[6], float v0, float v1, float v2, float v3, float v4, float v5)
{
    const float sum12 = v1 + v2, difference21 = v2 - v1, sum34 = v3 + v4, difference34 = v3 - v4;
    d[0] = 4.0f * v0;
    d[1] = 4.0f * (difference21 + v5) - 2.0f * difference34;
    d[2] = -5.0f * v0 - 4.0f * sum12 - sum34;
    d[3] = 2.0f * difference34 - difference21 - 5.0f * v5;
    d[4] = v0 + sum12 + sum34;
    d[5] = v5;
}

/* A p: four output gradients to six product gradients (A is the adjoint of the forward's
 * Aᵀ, which combines m0..m5 as (m0 + m1 + m2 + m3 + m4, m1 − m2 + 2m3 − 2m4,
 * m1 + m2 + 4m3 + 4m4, m1 − m2 + 8m3 − 8m4 + m5)). */
static void f4_a(float m[6], float p0, float p1, float p2, float p3)
{
    const float even = p0 + p2, odd = p1 + p3, even_weighted = p0 + 4.0f * p2;
    const float odd_weighted = 2.0f * p1 + 8.0f * p3;
    m[0] = p0;
    m[1] = even + odd;
    m[2] = even - odd;
    m[3] = even_weighted + odd_weighted;
    m[4] = even_weighted - odd_weighted;
    m[5] = p3;
}

/* The same four combinations across n tiles at once: argument k holds value k of every tile of a
 * tile row, so each is one unit-stride loop the compiler vectorises (restrict: the rows are
 * distinct). */
static inline void f4_bt_rows(float *restrict v0, float *restrict v1, float *restrict v2,
                             float *restrict v3, float *restrict v4, float *restrict v5,
                             const float *restrict d0, const float *restrict d1,
                             const float *restrict d2, const float *restrict d3,
                             const float *restrict d4, const float *restrict d5, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) {
        float v[6];
        f4_bt(v, d0[t], d1[t], d2[t], d3[t], d4[t], d5[t]);
        v0[t] = v[0], v1[t] = v[1], v2[t] = v[2], v3[t] = v[3], v4[t] = v[4], v5[t] = v[5];
    }
}

static inline void f4_b_rows(float *restrict d0, float *restrict d1, float *restrict d2,
                            float *restrict d3, float *restrict d4, float *restrict d5,
                            const float *restrict v0, const float *restrict v1,
                            const float *restrict v2, const float *restrict v3,
                            const float *restrict v4, const float *restrict v5, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) {
        float d[6];
        f4_b(d, v0[t], v1[t], v2[t], v3[t], v4[t], v5[t]);
        d0[t] = d[0], d1[t] = d[1], d2[t] = d[2], d3[t] = d[3], d4[t] = d[4], d5[t] = d[5];
    }
}

static inline void f4_a_rows(float *restrict m0, float *restrict m1, float *restrict m2,
                            float *restrict m3, float *restrict m4, float *restrict m5,
                            const float *restrict p0, const float *restrict p1,
                            const float *restrict p2, const float *restrict p3, size_t n)
{
    size_t t;
    for (t = 0; t < n; t++) {
        float m[6];
        f4_a(m, p0[t], p1[t], p2[t], p3[t]);
        m0[t] = m[0], m1[t] = m[1], m2[t] = m[2], m3[t] = m[3], m4[t] = m[4], m5[t] = m[5];
    }
}

/* G g and its adjoint Gᵀ x, in double across n filters at once (argument k holds value k of
 * each): the filter transforms run once per call, so U and dweight are rounded to float once,
 * not after each of G's inexact sixths and twelfths. */
static void f4_g_rows(double *restrict u0, double *restrict u1, double *restrict u2,
                            double *restrict u3, double *restrict u4, double *restrict u5,
                            const double *restrict g0, const double *restrict g1,
                            const double *restrict g2, size_t n)
{
    const double sixth = 1.0 / 6.0, twelfth = 1.0 / 12.0, twenty_fourth = 1.0 / 24.0;
    size_t i;
    for (i = 0; i < n; i++) {
        u0[i] = 0.25 * g0[i];
        u1[i] = -sixth * (g0[i] + g1[i] + g2[i]);
        u2[i] = -sixth * (g0[i] - g1[i] + g2[i]);
        u3[i] = twenty_fourth * g0[i] + twelfth * g1[i] + sixth * g2[i];
        u4[i] = twenty_fourth * g0[i] - twelfth * g1[i] + sixth * g2[i];
        u5[i] = g2[i];
    }
}

static void f4_gt_rows(double *restrict g0, double *restrict g1, double *restrict g2,
                             const double *restrict x0, const double *restrict x1,
                             const double *restrict x2, const double *restrict x3,
                             const double *restrict x4, const double *restrict x5, size_t n)
{
    const double sixth = 1.0 / 6.0, twelfth = 1.0 / 12.0, twenty_fourth = 1.0 / 24.0;
    size_t i;
    for (i = 0; i < n; i++) {
        g0[i] = 0.25 * x0[i] - sixth * (x1[i] + x2[i]) + twenty_fourth * (x3[i] + x4[i]);
        g1[i] = sixth * (x2[i] - x1[i]) + twelfth * (x3[i] - x4[i]);
        g2[i] = sixth * (x3[i] + x4[i] - x1[i] - x2[i]) + x5[i];
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The four transforms                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* U_ξᵀ[c][o] = (G g Gᵀ)_ξ for every filter g = weight[o][c] (3 × 3), written straight into gemm's
 * packed layout for the A operand (C, O) of the input gradient's product (nn/gemm.h); one block
 * of `block` floats per ξ. Parallel over (panel, output channel) pairs, each writing MR contiguous
 * floats of every block; the MR filters of a pair are the lanes of the double-precision passes. */
static void f4_filter_transform(float *U,            /* 36 × packed (C, O) */
                                      size_t block,
                                      const float *weight, /* (O, C, 3, 3) */
                                      size_t O, size_t C)
{
    const size_t rows = C, depth = O;
    const size_t panels = (rows + GEMM_MR - 1) / GEMM_MR;
    size_t unit;
    PARALLEL_FOR()
    for (unit = 0; unit < panels * depth; unit++) {
        const size_t panel = unit / depth, p = unit % depth;
        double g[9][GEMM_MR], h[6][3][GEMM_MR], u[6][6][GEMM_MR]; /* h = G g, u = h Gᵀ */
        size_t lane, b, r, k;
        for (lane = 0; lane < GEMM_MR; lane++) {
            const size_t i = panel * GEMM_MR + lane;
            for (k = 0; k < 9; k++) /* the panel's padding lanes are filters of zeros */
                g[k][lane] = i < rows ? (double)weight[(p * C + i) * 9 + k] : 0.0;
        }
        for (b = 0; b < 3; b++) /* G g: down the filter's columns */
            f4_g_rows(h[0][b], h[1][b], h[2][b], h[3][b], h[4][b], h[5][b], g[b],
                            g[3 + b], g[6 + b], GEMM_MR);
        for (r = 0; r < 6; r++) /* (G g) Gᵀ: along the rows */
            f4_g_rows(u[r][0], u[r][1], u[r][2], u[r][3], u[r][4], u[r][5], h[r][0],
                            h[r][1], h[r][2], GEMM_MR);
        for (r = 0; r < 6; r++)
            for (k = 0; k < 6; k++) {
                float *out = U + (6 * r + k) * block + panel * depth * GEMM_MR + p * GEMM_MR;
                for (lane = 0; lane < GEMM_MR; lane++)
                    out[lane] = (float)u[r][k][lane];
            }
    }
}

/* dweight[o][c] += Gᵀ dU_oc G (3 × 3 from 6 × 6), in double and rounded once; parallel over
 * runs of F4_FILTER_LANES filters, the lanes of the passes. */
#define F4_FILTER_LANES 16
static void f4_filter_gradient(float *dweight,  /* (O, C, 3, 3), accumulated */
                                     const float *dU, /* (36, O, C), ξ's at ξ·stride */
                                     size_t stride, size_t O, size_t C)
{
    const size_t filters = O * C;
    const size_t runs = (filters + F4_FILTER_LANES - 1) / F4_FILTER_LANES;
    size_t run;
    PARALLEL_FOR()
    for (run = 0; run < runs; run++) {
        const size_t first = run * F4_FILTER_LANES;
        const size_t n = filters - first < F4_FILTER_LANES ? filters - first
                                                                 : F4_FILTER_LANES;
        double x[6][6][F4_FILTER_LANES], q[3][6][F4_FILTER_LANES];
        double dg[3][3][F4_FILTER_LANES];
        size_t i, k, a, b, lane;
        for (i = 0; i < 6; i++)
            for (k = 0; k < 6; k++)
                for (lane = 0; lane < n; lane++)
                    x[i][k][lane] = dU[(6 * i + k) * stride + first + lane];
        for (k = 0; k < 6; k++) /* Gᵀ dU: down the columns */
            f4_gt_rows(q[0][k], q[1][k], q[2][k], x[0][k], x[1][k], x[2][k], x[3][k],
                             x[4][k], x[5][k], n);
        for (a = 0; a < 3; a++) /* (Gᵀ dU) G: along the rows */
            f4_gt_rows(dg[a][0], dg[a][1], dg[a][2], q[a][0], q[a][1], q[a][2], q[a][3],
                             q[a][4], q[a][5], n);
        for (lane = 0; lane < n; lane++)
            for (a = 0; a < 3; a++)
                for (b = 0; b < 3; b++)
                    dweight[(first + lane) * 9 + 3 * a + b] += (float)dg[a][b][lane];
    }
}

/* The per-thread scratch of the transforms: a channel in the image-lane layout, padded to
 * (4th + 2) × (4tw + 2), and room for 72 rows of G lanes. */
static size_t f4_scratch_floats(const conv2d_shape *s, size_t G)
{
    const size_t rows = 4 * f4_tile_rows(s) + 2, width = 4 * f4_tile_columns(s) + 2;
    return winograd_round_up_16((rows * width + 72) * G);
}

/* V_ξ[c][t] = (Bᵀ d B)_ξ for every tile t of a chunk of G images; t = (ti·tw + tj)·G + g. Per
 * channel: the channel's padded planes in the image-lane layout, then per tile d B along each of
 * the patch's six rows and Bᵀ down the six results, G lanes at a time. */
static void f4_input_transform(float *V,       /* 36 × (C, T), rows L apart */
                                     size_t block,   /* V_ξ to V_ξ+1 */
                                     const float *x,             /* (G, C, H, W) */
                                     const conv2d_shape *s, size_t G,
                                     float *scratch, size_t scratch_floats, int team)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width;
    const size_t th = f4_tile_rows(s), tw = f4_tile_columns(s);
    const size_t rows = 4 * th + 2, width = 4 * tw + 2;
    const size_t L = winograd_row_stride(G * th * tw);
    size_t c;
    (void)team; /* read only by the OpenMP pragma */
    PARALLEL_FOR(num_threads(team))
    for (c = 0; c < C; c++) {
        float *plane = scratch + (size_t)parallel_thread_index() * scratch_floats;
        float *h = plane + rows * width * G; /* (6, 6, G): row r of the patch, combination k */
        size_t ti, tj, r, k;
        winograd_gather(plane, x + c * H * W, C * H * W, G, H, W, rows, width, 1, 1);
        for (ti = 0; ti < th; ti++)
            for (tj = 0; tj < tw; tj++) {
                const float *patch = plane + (4 * ti * width + 4 * tj) * G;
                float *v = V + c * L + (ti * tw + tj) * G;
                for (r = 0; r < 6; r++) { /* d B: along the patch's rows */
                    const float *d = patch + r * width * G;
                    float *out = h + 6 * r * G;
                    f4_bt_rows(out, out + G, out + 2 * G, out + 3 * G, out + 4 * G,
                                     out + 5 * G, d, d + G, d + 2 * G, d + 3 * G, d + 4 * G,
                                     d + 5 * G, G);
                }
                for (k = 0; k < 6; k++) { /* Bᵀ (d B): down them, into V */
                    const float *u = h + k * G;
                    f4_bt_rows(v + (0 + k) * block, v + (6 + k) * block,
                                     v + (12 + k) * block, v + (18 + k) * block,
                                     v + (24 + k) * block, v + (30 + k) * block, u, u + 6 * G,
                                     u + 12 * G, u + 18 * G, u + 24 * G, u + 30 * G, G);
                }
            }
    }
}

/* dM_ξ = (A dY Aᵀ)_ξ for every tile (the adjoint of the output transform), per output channel;
 * dY beyond H, W is read as 0. */
static void f4_output_gradient_transform(float *dM,       /* 36 × (O, T), rows L apart */
                                               size_t block,    /* dM_ξ to dM_ξ+1 */
                                               const float *dy, /* (G, O, H, W) */
                                               const conv2d_shape *s, size_t G,
                                               float *scratch, size_t scratch_floats, int team)
{
    const size_t O = s->out_channels, H = s->in_height, W = s->in_width;
    const size_t th = f4_tile_rows(s), tw = f4_tile_columns(s);
    const size_t L = winograd_row_stride(G * th * tw), rows = 4 * th, width = 4 * tw;
    size_t o;
    (void)team;
    PARALLEL_FOR(num_threads(team))
    for (o = 0; o < O; o++) {
        float *plane = scratch + (size_t)parallel_thread_index() * scratch_floats;
        float *columns = plane + rows * width * G; /* (6, 4, G): A dY */
        size_t ti, tj, j, r;
        winograd_gather(plane, dy + o * H * W, O * H * W, G, H, W, rows, width, 0, 0);
        for (ti = 0; ti < th; ti++)
            for (tj = 0; tj < tw; tj++) {
                const float *patch = plane + (4 * ti * width + 4 * tj) * G;
                float *out = dM + o * L + (ti * tw + tj) * G;
                for (j = 0; j < 4; j++) { /* A dY: down the columns */
                    const float *p = patch + j * G;
                    f4_a_rows(columns + j * G, columns + (4 + j) * G,
                                    columns + (8 + j) * G, columns + (12 + j) * G,
                                    columns + (16 + j) * G, columns + (20 + j) * G, p,
                                    p + width * G, p + 2 * width * G, p + 3 * width * G, G);
                }
                for (r = 0; r < 6; r++) { /* (A dY) Aᵀ: along the rows */
                    const float *q = columns + 4 * r * G;
                    f4_a_rows(out + (6 * r + 0) * block, out + (6 * r + 1) * block,
                              out + (6 * r + 2) * block, out + (6 * r + 3) * block,
                              out + (6 * r + 4) * block, out + (6 * r + 5) * block, q, q + G,
                              q + 2 * G, q + 3 * G, G);
                }
            }
    }
}

/* dx = Σ_tiles B dV Bᵀ, each tile's 6×6 added where its patch came from (the adjoint of the
 * input transform), per input channel: tiles in order (ti, then tj), each added into the padded
 * plane, whose interior is then dx; so every sum has a fixed order. */
static void f4_input_gradient_transform(float *dx,       /* (G, C, H, W), overwritten */
                                              const float *dV, /* 36 × (C, T), rows L apart */
                                              size_t block,    /* dV_ξ to dV_ξ+1 */
                                              const conv2d_shape *s, size_t G,
                                              float *scratch, size_t scratch_floats, int team)
{
    const size_t C = s->in_channels, H = s->in_height, W = s->in_width;
    const size_t th = f4_tile_rows(s), tw = f4_tile_columns(s);
    const size_t L = winograd_row_stride(G * th * tw), rows = 4 * th + 2, width = 4 * tw + 2;
    size_t c;
    (void)team;
    PARALLEL_FOR(num_threads(team))
    for (c = 0; c < C; c++) {
        float *plane = scratch + (size_t)parallel_thread_index() * scratch_floats;
        float *b = plane + rows * width * G; /* (6, 6, G): B dV */
        float *w = b + 36 * G;               /* (6, G): one row of B dV Bᵀ */
        size_t ti, tj, k, r, l;
        memset(plane, 0, rows * width * G * sizeof(float));
        for (ti = 0; ti < th; ti++)
            for (tj = 0; tj < tw; tj++) {
                const float *v = dV + c * L + (ti * tw + tj) * G;
                for (k = 0; k < 6; k++) /* B dV: down the columns */
                    f4_b_rows(b + k * G, b + (6 + k) * G, b + (12 + k) * G,
                              b + (18 + k) * G, b + (24 + k) * G, b + (30 + k) * G,
                              v + (0 + k) * block, v + (6 + k) * block, v + (12 + k) * block,
                              v + (18 + k) * block, v + (24 + k) * block, v + (30 + k) * block,
                              G);
                for (r = 0; r < 6; r++) { /* (B dV) Bᵀ: along the rows, added into the patch */
                    const float *q = b + 6 * r * G;
                    float *patch = plane + ((4 * ti + r) * width + 4 * tj) * G;
                    f4_b_rows(w, w + G, w + 2 * G, w + 3 * G, w + 4 * G, w + 5 * G, q,
                                    q + G, q + 2 * G, q + 3 * G, q + 4 * G, q + 5 * G, G);
                    for (l = 0; l < 6 * G; l++)
                        patch[l] += w[l];
                }
            }
        winograd_scatter(dx + c * H * W, plane, C * H * W, G, H, W, width, 1, 1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Backward                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* One chunk of `images` images in a worker (plan->worker floats), with `team` threads at most (1
 * when the chunk is one thread's own, so that whatever the OpenMP nesting no other thread touches
 * its worker): V_ξ and dM_ξ from x and dy; per ξ the products P_ξ = dM_ξ · V_ξᵀ and (dx wanted)
 * dV_ξ = U_ξᵀ · dM_ξ; dx from dV. The chunk's own worker keeps all 36 P_ξ for its caller to add
 * into dU; a shared one's thread of ξ adds P_ξ into dU_ξ itself, or (one chunk) copies it over
 * U_ξ. */
static void f4_backward_chunk(float *dx,       /* (images, C, H, W) or NULL */
                              float *dU,       /* (36, O, C), accumulated; unused for one chunk */
                              float *U,        /* 36 × packed (C, O), packed apart */
                              const float *dy, /* (images, O, H, W) */
                              const float *x,  /* (images, C, H, W) */
                              float *worker, const f4_plan *plan, const conv2d_shape *s,
                              size_t images, int team)
{
    const size_t C = s->in_channels, O = s->out_channels;
    const size_t packed = winograd_packed_filter_floats(C, O);
    const size_t T = images * f4_tile_rows(s) * f4_tile_columns(s);
    const size_t L = winograd_row_stride(T);
    const size_t V_block = winograd_block_stride(C * L);
    const size_t dM_block = winograd_block_stride(O * L);
    float *V = worker, *dM = worker + plan->v;
    float *gemm_slots = dM + plan->m;
    float *scratch = gemm_slots + plan->team * plan->gemm_slot;
    float *products = worker + plan->products;
    const int own = plan->chunk_per_thread;
    size_t position;
    f4_input_transform(V, V_block, x, s, images, scratch, plan->scratch_slot, team);
    f4_output_gradient_transform(dM, dM_block, dy, s, images, scratch, plan->scratch_slot, team);
    PARALLEL_FOR(num_threads(team))
    for (position = 0; position < F4_POSITIONS; position++) {
        const size_t thread = (size_t)parallel_thread_index();
        float *gemm_workspace = gemm_slots + thread * plan->gemm_slot;
        float *V_position = V + position * V_block;
        const float *dM_position = dM + position * dM_block;
        float *P = products + (own ? position : thread) * plan->product_slot;
        /* P_ξ (O, C) = dM_ξ (O, T) · V_ξᵀ (T, C): this chunk's share of dU_ξ */
        gemm(GEMM_NORMAL, GEMM_TRANSPOSED, O, C, T, 1.0f, dM_position, L, V_position, L, 0.0f,
             P, C, gemm_workspace);
        /* dV_ξ (C, T) = U_ξᵀ (C, O) · dM_ξ (O, T), over V_ξ, which is no longer needed */
        if (dx != NULL) {
            gemm_pack_b(gemm_workspace, GEMM_NORMAL, dM_position, L, T, O);
            gemm_prepacked(C, T, O, 1.0f, U + position * packed, gemm_workspace, 0.0f,
                           V_position, L);
        }
        if (own)
            continue; /* the caller adds the chunk's 36 products in chunk order */
        if (plan->du_over_u) /* U_ξ read for the last time: dU_ξ = P_ξ takes its place */
            memcpy(U + position * packed, P, O * C * sizeof(float));
        else /* the chunks one after another: dU_ξ += P_ξ */
            add_forward(dU + position * O * C, dU + position * O * C, P, O * C);
    }
    if (dx != NULL)
        f4_input_gradient_transform(dx, V, V_block, s, images, scratch, plan->scratch_slot, team);
}

/* Chunk `chunk` of the batch in `worker`; for the chunk's own worker, then P into dU. */
static void f4_backward_numbered_chunk(float *dx, float *dU, float *U, const float *dy,
                                       const float *x, float *worker, const f4_plan *plan,
                                       const conv2d_shape *s, size_t chunk)
{
    const size_t C = s->in_channels, O = s->out_channels, HW = s->in_height * s->in_width;
    const size_t first = chunk * plan->chunk_images;
    const size_t images =
        s->batch - first < plan->chunk_images ? s->batch - first : plan->chunk_images;
    f4_backward_chunk(dx != NULL ? dx + first * C * HW : NULL, dU, U, dy + first * O * HW,
                      x + first * C * HW, worker, plan, s, images, (int)plan->team);
}

void winograd_backward(float *dx, float *dweight, const float *dy, const float *x,
                       const float *weight, const conv2d_shape *s, float *workspace)
{
    const size_t C = s->in_channels, O = s->out_channels;
    const size_t packed = winograd_packed_filter_floats(C, O);
    const int slots = (int)s->threads;
    f4_plan plan;
    float *U = workspace, *dU, *workers;
    size_t chunk;
    (void)slots; /* read only by the OpenMP pragma */
    f4_make_plan(s, &plan);
    dU = U + plan.u;
    workers = dU + plan.du;
    if (dx != NULL) /* U_ξᵀ (C, O), packed once */
        f4_filter_transform(U, packed, weight, O, C);
    if (!plan.du_over_u)
        memset(dU, 0, F4_POSITIONS * O * C * sizeof(float));
    if (plan.chunk_per_thread) {
        PARALLEL_FOR_ORDERED(num_threads(slots))
        for (chunk = 0; chunk < plan.chunks; chunk++) {
            float *worker = workers + (size_t)parallel_thread_index() * plan.worker;
            size_t position;
            f4_backward_numbered_chunk(dx, dU, U, dy, x, worker, &plan, s, chunk);
            IN_ITERATION_ORDER /* dU += this chunk's P, after the chunk before it */
            for (position = 0; position < F4_POSITIONS; position++)
                add_forward(dU + position * O * C, dU + position * O * C,
                            worker + plan.products + position * plan.product_slot, O * C);
        }
    } else { /* one worker; the threads share each chunk */
        for (chunk = 0; chunk < plan.chunks; chunk++)
            f4_backward_numbered_chunk(dx, dU, U, dy, x, workers, &plan, s, chunk);
    }
    if (plan.du_over_u)
        f4_filter_gradient(dweight, U, packed, O, C);
    else
        f4_filter_gradient(dweight, dU, O * C, O, C);
}
