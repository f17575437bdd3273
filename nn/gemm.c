/*
 * nn/gemm.c — C = alpha · op(A) · op(B) + beta · C, the naive reference and the packed fast path.
 * The contract, the storage conventions and the build knobs are in nn/gemm.h.
 *
 * Shape legend: M rows of C, N columns of C, K the summed dimension. MR × NR is the register
 * tile, KC the depth of one pass, MC × NC the block of C that one thread computes at a time.
 *
 * The fast path in three steps (BLIS reference kernel structure):
 *  1. pack op(A) into ceil(M/MR) panels, panel r holding rows r·MR .. r·MR+MR-1 as
 *     [K][MR] (each column of the panel contiguous), zero rows past M;
 *     pack op(B) into ceil(N/NR) panels, panel c holding columns c·NR .. c·NR+NR-1 as
 *     [K][NR], zero columns past N.
 *  2. for each block of C of up to MC × NC (in parallel — blocks are independent):
 *       for each depth slice of KC (in order):
 *         for each NR-column sliver of the block, for each MR-row sliver:
 *           micro-kernel: acc[MR][NR] = Σ_p a[p][·] ⊗ b[p][·] over the slice
 *           write back the valid part: C = alpha·acc + beta·C on the first slice,
 *                                      C += alpha·acc on the others
 *           (with alpha = 1 a whole MR × NR tile is C = acc on the first slice when
 *           beta = 0, and C += acc on the others, 1·x being x: the micro-kernel does that
 *           straight in C, without the local tile).
 *  3. nothing else: no reduction across threads, so the order of every sum is fixed.
 *
 * A build with SIMCLR_REFERENCE=1 (`make REFERENCE=1`) keeps the packing but makes gemm the naive
 * triple loop and gemm_prepacked the same loop over the packed operands.
 */
#include "gemm_internal.h"

/* GCC 12 turned the micro-kernel's store of its accumulator into a stack copy and a call to
 * memcpy (1.5 KB, on every call of the kernel): the call costs more than the stores. Only GCC
 * sees this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

#include "parallel.h"
#include "tensor.h"

#if GEMM_MC % GEMM_MR != 0 || GEMM_NC % GEMM_NR != 0
#error "GEMM_MC must be a multiple of GEMM_MR and GEMM_NC a multiple of GEMM_NR"
#endif

/* Clang keeps the accumulator in registers only when the tile loops are fully unrolled; GCC does
 * that by itself at -O2/-O3. _Pragma is C99; other compilers never see it. */
#if defined(__clang__)
#define GEMM_UNROLL _Pragma("clang loop unroll(full)")
#else
#define GEMM_UNROLL
#endif

/* op(A)(i, p) and op(B)(p, j) read from storage. */
static float gemm_element_a(gemm_transpose transpose_a, const float *A, size_t lda, size_t i,
                            size_t p)
{
    return transpose_a == GEMM_TRANSPOSED ? A[p * lda + i] : A[i * lda + p];
}

static float gemm_element_b(gemm_transpose transpose_b, const float *B, size_t ldb, size_t p,
                            size_t j)
{
    return transpose_b == GEMM_TRANSPOSED ? B[j * ldb + p] : B[p * ldb + j];
}

/* ------------------------------------------------------------------------------------------ */
/* The reference                                                                              */
/* ------------------------------------------------------------------------------------------ */

void gemm_naive(gemm_transpose transpose_a, gemm_transpose transpose_b, size_t M, size_t N,
                size_t K, float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                float beta, float *C, size_t ldc)
{
    size_t i, j, p;
    for (i = 0; i < M; i++) {
        for (j = 0; j < N; j++) {
            float sum = 0.0f;
            for (p = 0; p < K; p++)
                sum += gemm_element_a(transpose_a, A, lda, i, p) *
                       gemm_element_b(transpose_b, B, ldb, p, j);
            C[i * ldc + j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static size_t gemm_round_up(size_t n, size_t multiple)
{
    return (n + multiple - 1) / multiple * multiple;
}

int gemm_workspace_floats(size_t M, size_t N, size_t K, size_t *floats, simclr_error *err)
{
    size_t packed_a, packed_b, total;
    if (M > (size_t)-1 - GEMM_MR || N > (size_t)-1 - GEMM_NR ||
        size_multiply_checked(gemm_round_up(M, GEMM_MR), K, &packed_a) != SIMCLR_OK ||
        size_multiply_checked(gemm_round_up(N, GEMM_NR), K, &packed_b) != SIMCLR_OK ||
        size_add_checked(packed_a, packed_b, &total) != SIMCLR_OK ||
        size_add_checked(total, 16, &total) != SIMCLR_OK ||
        total > (size_t)-1 / sizeof(float))
        return simclr_fail(err, "gemm: the workspace for M=%lu N=%lu K=%lu overflows size_t",
                           (unsigned long)M, (unsigned long)N, (unsigned long)K);
    *floats = total;
    return SIMCLR_OK;
}

/* Panel `panel` of op(A): rows panel·MR .. +MR-1, stored [K][MR], zero past row M.
 * Either way it is written depth by depth, contiguously: stored A transposed (K, M) is read
 * row by row (contiguous in i), stored A as is (M, K) reads MR rows side by side. */
static void gemm_pack_a_panel(float *packed, /* (K, MR) */
                              gemm_transpose transpose_a, const float *A, size_t lda, size_t M,
                              size_t K, size_t panel)
{
    const size_t first_row = panel * GEMM_MR;
    const size_t rows = M - first_row < GEMM_MR ? M - first_row : GEMM_MR;
    size_t p, i;
    if (transpose_a == GEMM_TRANSPOSED) {
        for (p = 0; p < K; p++) {
            const float *row = A + p * lda + first_row;
            for (i = 0; i < rows; i++)
                packed[p * GEMM_MR + i] = row[i];
            for (i = rows; i < GEMM_MR; i++)
                packed[p * GEMM_MR + i] = 0.0f;
        }
    } else {
        /* depth by depth, so the writes are contiguous; the MR rows read side by side stay in
         * L1 from one depth to the next */
        const float *first = A + first_row * lda;
        for (p = 0; p < K; p++) {
            for (i = 0; i < rows; i++)
                packed[p * GEMM_MR + i] = first[i * lda + p];
            for (i = rows; i < GEMM_MR; i++)
                packed[p * GEMM_MR + i] = 0.0f;
        }
    }
}

/* Panel `panel` of op(B): columns panel·NR .. +NR-1, stored [K][NR], zero past column N.
 * Written depth by depth, contiguously: stored B as is (K, N) is read row by row (contiguous
 * in j), stored B transposed (N, K) reads NR rows side by side. */
static void gemm_pack_b_panel(float *packed, /* (K, NR) */
                              gemm_transpose transpose_b, const float *B, size_t ldb, size_t N,
                              size_t K, size_t panel)
{
    const size_t first_column = panel * GEMM_NR;
    const size_t columns = N - first_column < GEMM_NR ? N - first_column : GEMM_NR;
    size_t p, j;
    if (transpose_b == GEMM_TRANSPOSED) {
        /* depth by depth, so the writes are contiguous (as for A above) */
        const float *first = B + first_column * ldb;
        for (p = 0; p < K; p++) {
            for (j = 0; j < columns; j++)
                packed[p * GEMM_NR + j] = first[j * ldb + p];
            for (j = columns; j < GEMM_NR; j++)
                packed[p * GEMM_NR + j] = 0.0f;
        }
    } else {
        for (p = 0; p < K; p++) {
            const float *row = B + p * ldb + first_column;
            for (j = 0; j < columns; j++)
                packed[p * GEMM_NR + j] = row[j];
            for (j = columns; j < GEMM_NR; j++)
                packed[p * GEMM_NR + j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The micro-kernel and the write-back                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Keeping the micro-kernel a function of its own (GCC would otherwise inline it into the block
 * loops and spill the accumulator) is worth 3x without OpenMP. An attribute, so only under GCC
 * and Clang; any other compiler just decides for itself. */
#if defined(__GNUC__)
#define GEMM_NOINLINE __attribute__((noinline))
#else
#define GEMM_NOINLINE
#endif

/* tile[i·ld + j] = Σ_{p < depth} a[p][i] · b[p][j] (add = 0), or tile[i·ld + j] + that sum
 * (add = 1), depth ≥ 1 (an empty product never comes here: gemm_scale): one MR × NR tile of the
 * product from packed slivers, written to the local tile (ld = NR) or, when that is exactly what
 * the write-back would make of it, straight into C (ld = ldc). The local accumulator is the
 * whole point: it lives in registers for the entire loop. */
static GEMM_NOINLINE void gemm_micro_kernel(float *restrict tile,    /* (MR, NR), rows ld apart */
                                            size_t ld,
                                            const float *restrict a, /* (depth, MR) packed */
                                            const float *restrict b, /* (depth, NR) packed */
                                            size_t depth, int add)
{
    float acc[GEMM_MR][GEMM_NR];
    size_t p;
    int i, j;
    /* the first step written out as 0 + a·b, what acc = 0 then acc += a·b computes (the zero's
     * sign included): GCC clears a zeroed accumulator array with a call to memset that the
     * registers never read, a cost that counts when depth is a few dozen */
    GEMM_UNROLL
    for (i = 0; i < GEMM_MR; i++) {
        const float a_i = a[(size_t)i];
        GEMM_UNROLL
        for (j = 0; j < GEMM_NR; j++)
            acc[i][j] = 0.0f + a_i * b[(size_t)j];
    }
    for (p = 1; p < depth; p++) {
        GEMM_UNROLL
        for (i = 0; i < GEMM_MR; i++) {
            const float a_i = a[p * GEMM_MR + (size_t)i];
            GEMM_UNROLL
            for (j = 0; j < GEMM_NR; j++)
                acc[i][j] += a_i * b[p * GEMM_NR + (size_t)j];
        }
    }
    if (add) {
        GEMM_UNROLL
        for (i = 0; i < GEMM_MR; i++) {
            GEMM_UNROLL
            for (j = 0; j < GEMM_NR; j++)
                tile[(size_t)i * ld + (size_t)j] = tile[(size_t)i * ld + (size_t)j] + acc[i][j];
        }
        return;
    }
    GEMM_UNROLL
    for (i = 0; i < GEMM_MR; i++) {
        GEMM_UNROLL
        for (j = 0; j < GEMM_NR; j++)
            tile[(size_t)i * ld + (size_t)j] = acc[i][j];
    }
}

/* C[0..rows)[0..columns) = alpha·tile + beta·C (first slice) or += alpha·tile (later slices). */
static void gemm_write_back(float *C, size_t ldc, /* (rows, columns) window of C */
                            const float *tile,    /* (MR, NR) */
                            size_t rows, size_t columns, float alpha, float beta,
                            int first_slice)
{
    size_t i, j;
    for (i = 0; i < rows; i++) {
        float *c_row = C + i * ldc;
        const float *tile_row = tile + i * GEMM_NR;
        if (!first_slice) {
            for (j = 0; j < columns; j++)
                c_row[j] += alpha * tile_row[j];
        } else if (beta == 0.0f) {
            for (j = 0; j < columns; j++)
                c_row[j] = alpha * tile_row[j];
        } else {
            for (j = 0; j < columns; j++)
                c_row[j] = alpha * tile_row[j] + beta * c_row[j];
        }
    }
}

/* C = beta · C, for K == 0 (the product is empty). */
static void gemm_scale(float *C, size_t ldc, size_t M, size_t N, float beta)
{
    size_t i, j;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++)
            C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

/* ------------------------------------------------------------------------------------------ */
/* The fast path                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* How many MR-panels and NR-panels one unit of parallel work covers. Units are independent
 * blocks of C; how C is cut into units never changes what is summed in which order (that is
 * fixed by the depth slices), so this may depend on the thread count without breaking
 * bit-identical results. Up to GEMM_MC × GEMM_NC per unit, smaller when that would leave fewer
 * than four units per thread. */
static void gemm_plan_units(size_t panels_a, size_t panels_b, size_t *unit_a, size_t *unit_b)
{
    const size_t wanted = 4 * (size_t)parallel_thread_count();
    size_t a = GEMM_MC / GEMM_MR, b = GEMM_NC / GEMM_NR;
    while ((a > 1 || b > 1) &&
           ((panels_a + a - 1) / a) * ((panels_b + b - 1) / b) < wanted) {
        if (b >= a && b > 1)
            b /= 2;
        else
            a /= 2;
    }
    /* the same number of units, as equal in size as possible */
    *unit_a = (panels_a + (panels_a + a - 1) / a - 1) / ((panels_a + a - 1) / a);
    *unit_b = (panels_b + (panels_b + b - 1) / b - 1) / ((panels_b + b - 1) / b);
}

/* The product of packed operands: every unit of C in parallel. */
static void gemm_packed_product(size_t M, size_t N, size_t K, float alpha, const float *packed_a,
                                const float *packed_b, float beta, float *C, size_t ldc)
{
    const size_t panels_a = (M + GEMM_MR - 1) / GEMM_MR;
    const size_t panels_b = (N + GEMM_NR - 1) / GEMM_NR;
    const int worth_threads = (double)M * (double)N * (double)K > 32768.0;
    /* alpha = 1: a whole tile of the first slice is C's values when beta = 0 (1·x = x, C not
     * read), and a later slice's is added to C (C + 1·x = C + x): the micro-kernel does either
     * straight in C, the same arithmetic as the write-back */
    const int tiles_into_C = alpha == 1.0f;
    size_t unit_a, unit_b, units_a, units_b, unit;
    (void)worth_threads; /* read only by the OpenMP pragmas */

    gemm_plan_units(panels_a, panels_b, &unit_a, &unit_b);
    units_a = (panels_a + unit_a - 1) / unit_a;
    units_b = (panels_b + unit_b - 1) / unit_b;

    PARALLEL_FOR_DYNAMIC(if (worth_threads))
    for (unit = 0; unit < units_a * units_b; unit++) {
        /* units in row-major order, so consecutive units share their A panels */
        const size_t first_a = (unit / units_b) * unit_a, first_b = (unit % units_b) * unit_b;
        const size_t end_a = first_a + unit_a < panels_a ? first_a + unit_a : panels_a;
        const size_t end_b = first_b + unit_b < panels_b ? first_b + unit_b : panels_b;
        float tile[GEMM_MR * GEMM_NR];
        size_t depth_start, pa, pb;
        for (depth_start = 0; depth_start < K; depth_start += GEMM_KC) {
            const size_t depth = K - depth_start < GEMM_KC ? K - depth_start : GEMM_KC;
            for (pb = first_b; pb < end_b; pb++) {
                const float *b_sliver = packed_b + pb * GEMM_NR * K + depth_start * GEMM_NR;
                const size_t column = pb * GEMM_NR;
                const size_t columns = N - column < GEMM_NR ? N - column : GEMM_NR;
                for (pa = first_a; pa < end_a; pa++) {
                    const float *a_sliver = packed_a + pa * GEMM_MR * K + depth_start * GEMM_MR;
                    const size_t row = pa * GEMM_MR;
                    const size_t rows = M - row < GEMM_MR ? M - row : GEMM_MR;
                    float *c = C + row * ldc + column;
                    if (tiles_into_C && rows == GEMM_MR && columns == GEMM_NR &&
                        (depth_start > 0 || beta == 0.0f)) {
                        gemm_micro_kernel(c, ldc, a_sliver, b_sliver, depth, depth_start > 0);
                        continue;
                    }
                    gemm_micro_kernel(tile, GEMM_NR, a_sliver, b_sliver, depth, 0);
                    gemm_write_back(c, ldc, tile, rows, columns, alpha, beta, depth_start == 0);
                }
            }
        }
    }
}

size_t gemm_packed_a_floats(size_t M, size_t K)
{
    return gemm_round_up(M, GEMM_MR) * K;
}

void gemm_pack_a(float *packed, gemm_transpose transpose_a, const float *A, size_t lda, size_t M,
                 size_t K)
{
    const size_t panels_a = (M + GEMM_MR - 1) / GEMM_MR;
    const int worth_threads = (double)M * (double)K > 32768.0;
    size_t panel;
    (void)worth_threads;
    PARALLEL_FOR(if (worth_threads))
    for (panel = 0; panel < panels_a; panel++)
        gemm_pack_a_panel(packed + panel * GEMM_MR * K, transpose_a, A, lda, M, K, panel);
}

void gemm_prepacked(size_t M, size_t N, size_t K, float alpha, const float *packed_a,
                    const float *packed_b, float beta, float *C, size_t ldc)
{
#if SIMCLR_REFERENCE
    /* the reference build: gemm_naive's loop, reading the operands where the packing put them */
    size_t i, j, p;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            const float *a = packed_a + (i / GEMM_MR) * K * GEMM_MR + i % GEMM_MR;
            const float *b = packed_b + (j / GEMM_NR) * K * GEMM_NR + j % GEMM_NR;
            float sum = 0.0f;
            for (p = 0; p < K; p++)
                sum += a[p * GEMM_MR] * b[p * GEMM_NR];
            C[i * ldc + j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
        }
    return;
#endif
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        gemm_scale(C, ldc, M, N, beta);
        return;
    }
    gemm_packed_product(M, N, K, alpha, packed_a, packed_b, beta, C, ldc);
}

size_t gemm_packed_b_floats(size_t N, size_t K)
{
    return gemm_round_up(N, GEMM_NR) * K;
}

void gemm_pack_b(float *packed, gemm_transpose transpose_b, const float *B, size_t ldb, size_t N,
                 size_t K)
{
    const size_t panels_b = (N + GEMM_NR - 1) / GEMM_NR;
    const int worth_threads = (double)N * (double)K > 32768.0;
    size_t panel;
    (void)worth_threads;
    PARALLEL_FOR(if (worth_threads))
    for (panel = 0; panel < panels_b; panel++)
        gemm_pack_b_panel(packed + panel * GEMM_NR * K, transpose_b, B, ldb, N, K, panel);
}

void gemm(gemm_transpose transpose_a, gemm_transpose transpose_b, size_t M, size_t N, size_t K,
          float alpha, const float *A, size_t lda, const float *B, size_t ldb, float beta,
          float *C, size_t ldc, float *workspace)
{
#if SIMCLR_REFERENCE
    /* the reference build: the definition, nothing packed */
    gemm_naive(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
#endif
    const size_t panels_a = (M + GEMM_MR - 1) / GEMM_MR;
    float *packed_a = workspace; /* panels_a × (K, MR) */
    /* packed B starts on a 64-byte boundary when the workspace does (16 floats of slack) */
    float *packed_b = workspace + (panels_a * GEMM_MR * K + 15) / 16 * 16; /* panels_b × (K, NR) */
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        gemm_scale(C, ldc, M, N, beta);
        return;
    }
    gemm_pack_a(packed_a, transpose_a, A, lda, M, K);
    gemm_pack_b(packed_b, transpose_b, B, ldb, N, K);
    gemm_packed_product(M, N, K, alpha, packed_a, packed_b, beta, C, ldc);
}
