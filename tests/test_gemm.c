/*
 * tests/test_gemm.c — C = alpha·op(A)·op(B) + beta·C (nn/gemm.h).
 *
 * 1. The naive reference against the definition evaluated in double.
 * 2. The fast path against the naive reference for A·B, Aᵀ·B and A·Bᵀ, at every combination of
 *    M, N, K in {1, 2, 7, 31, 33, 64, 129, 257} (below, at and above the register tile, the
 *    block sizes and the depth slice), with alpha = 0.75, beta = -1.25 and padded leading
 *    dimensions; and alpha = 1, beta = 0, where the micro-kernel writes whole tiles straight
 *    into C.
 *    Tolerance: both paths sum K float products in different orders (and the fast one may fuse
 *    multiply-adds), so they differ by rounding only. We require, element by element,
 *        |fast - naive| <= 1e-5 · (|alpha| Σ_p |op(A)_ip op(B)_pj| + |beta C_ij|),
 *    the relative error measured against the magnitude of what was summed — the quantity
 *    floating-point summation error is proportional to.
 * 3. Bit-identical results for 1 and 2 threads.
 * 4. BLAS edge semantics: beta = 0 never reads C; K = 0 scales C by beta.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"
#include "nn/gemm_internal.h" /* GEMM_KC */

#define GEMM_SIZES 8
static const size_t gemm_sizes[GEMM_SIZES] = {1, 2, 7, 31, 33, 64, 129, 257};

/* Storage for one product with padded leading dimensions. */
typedef struct gemm_case {
    size_t M, N, K, lda, ldb, ldc;
    float *A, *B, *C_naive, *C_fast, *workspace;
} gemm_case;

static void gemm_case_make(gemm_case *g, gemm_transpose ta, gemm_transpose tb, size_t M, size_t N,
                           size_t K, unsigned long tag)
{
    size_t rows_a = ta == GEMM_TRANSPOSED ? K : M, columns_a = ta == GEMM_TRANSPOSED ? M : K;
    size_t rows_b = tb == GEMM_TRANSPOSED ? N : K, columns_b = tb == GEMM_TRANSPOSED ? K : N;
    size_t workspace = 0;
    g->M = M, g->N = N, g->K = K;
    g->lda = columns_a + 3, g->ldb = columns_b + 1, g->ldc = N + 2;
    g->A = malloc(rows_a * g->lda * sizeof(float));
    g->B = malloc(rows_b * g->ldb * sizeof(float));
    g->C_naive = malloc(M * g->ldc * sizeof(float));
    g->C_fast = malloc(M * g->ldc * sizeof(float));
    cr_assert_eq(gemm_workspace_floats(M, N, K, &workspace, NULL), SIMCLR_OK);
    g->workspace = malloc((workspace + 1) * sizeof(float));
    cr_assert(g->A && g->B && g->C_naive && g->C_fast && g->workspace);
    test_fill_uniform(g->A, rows_a * g->lda, -1.0f, 1.0f, tag);
    test_fill_uniform(g->B, rows_b * g->ldb, -1.0f, 1.0f, tag + 1);
    test_fill_uniform(g->C_naive, M * g->ldc, -1.0f, 1.0f, tag + 2);
    memcpy(g->C_fast, g->C_naive, M * g->ldc * sizeof(float));
}

static void gemm_case_free(gemm_case *g)
{
    free(g->A), free(g->B), free(g->C_naive), free(g->C_fast), free(g->workspace);
}

static double element_a(gemm_transpose ta, const gemm_case *g, size_t i, size_t p)
{
    return ta == GEMM_TRANSPOSED ? g->A[p * g->lda + i] : g->A[i * g->lda + p];
}

static double element_b(gemm_transpose tb, const gemm_case *g, size_t p, size_t j)
{
    return tb == GEMM_TRANSPOSED ? g->B[j * g->ldb + p] : g->B[p * g->ldb + j];
}

/* The worst |fast - naive| / magnitude over the case, where magnitude is the bound of the
 * header comment computed in double from the inputs (C_original holds C before the call). */
static double worst_relative_difference(gemm_transpose ta, gemm_transpose tb, const gemm_case *g,
                                        const float *C_original, float alpha, float beta)
{
    double worst = 0.0;
    size_t i, j, p;
    for (i = 0; i < g->M; i++)
        for (j = 0; j < g->N; j++) {
            double magnitude = fabs(beta * (double)C_original[i * g->ldc + j]), difference;
            for (p = 0; p < g->K; p++)
                magnitude += fabs(alpha * element_a(ta, g, i, p) * element_b(tb, g, p, j));
            difference = fabs((double)g->C_fast[i * g->ldc + j] - g->C_naive[i * g->ldc + j]);
            if (magnitude > 0 && difference / magnitude > worst)
                worst = difference / magnitude;
        }
    return worst;
}

/* 1. The reference is the definition: against a double-precision evaluation, the float naive
 *    loop is within K·2^-24 of the magnitude (the textbook summation bound), here K <= 33. */
Test(gemm, naive_matches_double_definition)
{
    const gemm_transpose shapes[3][2] = {{GEMM_NORMAL, GEMM_NORMAL},
                                         {GEMM_TRANSPOSED, GEMM_NORMAL},
                                         {GEMM_NORMAL, GEMM_TRANSPOSED}};
    int s;
    for (s = 0; s < 3; s++) {
        const gemm_transpose ta = shapes[s][0], tb = shapes[s][1];
        gemm_case g;
        size_t i, j, p;
        gemm_case_make(&g, ta, tb, 9, 31, 33, 100 + (unsigned long)s);
        gemm_naive(ta, tb, g.M, g.N, g.K, 0.75f, g.A, g.lda, g.B, g.ldb, -1.25f, g.C_naive, g.ldc);
        for (i = 0; i < g.M; i++)
            for (j = 0; j < g.N; j++) {
                double exact = 0.0, magnitude = 0.0;
                for (p = 0; p < g.K; p++) {
                    exact += element_a(ta, &g, i, p) * element_b(tb, &g, p, j);
                    magnitude += fabs(element_a(ta, &g, i, p) * element_b(tb, &g, p, j));
                }
                exact = 0.75 * exact - 1.25 * g.C_fast[i * g.ldc + j]; /* C_fast = original */
                magnitude = 0.75 * magnitude + 1.25 * fabs(g.C_fast[i * g.ldc + j]);
                cr_assert_leq(fabs(g.C_naive[i * g.ldc + j] - exact),
                              33.0 * 5.96e-8 * magnitude, "shape %d at (%zu, %zu)", s, i, j);
            }
        gemm_case_free(&g);
    }
}

static void check_fast_against_naive(gemm_transpose ta, gemm_transpose tb, unsigned long tag)
{
    const float alpha = 0.75f, beta = -1.25f;
    double worst_overall = 0.0;
    int m, n, k;
    for (m = 0; m < GEMM_SIZES; m++)
        for (n = 0; n < GEMM_SIZES; n++)
            for (k = 0; k < GEMM_SIZES; k++) {
                gemm_case g;
                float *C_original;
                double worst;
                gemm_case_make(&g, ta, tb, gemm_sizes[m], gemm_sizes[n], gemm_sizes[k],
                               tag + (unsigned long)(64 * m + 8 * n + k) * 4);
                C_original = malloc(g.M * g.ldc * sizeof(float));
                cr_assert_not_null(C_original);
                memcpy(C_original, g.C_naive, g.M * g.ldc * sizeof(float));
                gemm_naive(ta, tb, g.M, g.N, g.K, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C_naive,
                           g.ldc);
                gemm(ta, tb, g.M, g.N, g.K, alpha, g.A, g.lda, g.B, g.ldb, beta, g.C_fast, g.ldc,
                     g.workspace);
                worst = worst_relative_difference(ta, tb, &g, C_original, alpha, beta);
                cr_assert_leq(worst, 1e-5, "M=%zu N=%zu K=%zu: relative difference %.3g",
                              g.M, g.N, g.K, worst);
                /* The padding columns of C, past N, are never touched. */
                if (g.M > 0)
                    cr_assert_eq(g.C_fast[g.N], C_original[g.N]);
                if (worst > worst_overall)
                    worst_overall = worst;
                free(C_original);
                gemm_case_free(&g);
            }
    cr_log_info("worst relative difference over 512 size combinations: %.3g", worst_overall);
}

Test(gemm, fast_equals_naive_A_B) { check_fast_against_naive(GEMM_NORMAL, GEMM_NORMAL, 1000); }
Test(gemm, fast_equals_naive_At_B) { check_fast_against_naive(GEMM_TRANSPOSED, GEMM_NORMAL, 5000); }
Test(gemm, fast_equals_naive_A_Bt) { check_fast_against_naive(GEMM_NORMAL, GEMM_TRANSPOSED, 9000); }

/* 3. The same bits for 1 and 2 threads, on sizes that span several blocks of C and several
 *    depth slices, for each of the three shapes. */
Test(gemm, bit_identical_for_one_and_two_threads)
{
    const gemm_transpose shapes[3][2] = {{GEMM_NORMAL, GEMM_NORMAL},
                                         {GEMM_TRANSPOSED, GEMM_NORMAL},
                                         {GEMM_NORMAL, GEMM_TRANSPOSED}};
    int s;
    for (s = 0; s < 3; s++) {
        const gemm_transpose ta = shapes[s][0], tb = shapes[s][1];
        gemm_case g;
        gemm_case_make(&g, ta, tb, 301, 517, 2 * GEMM_KC + 77, 300 + (unsigned long)s);
        memcpy(g.C_naive, g.C_fast, g.M * g.ldc * sizeof(float)); /* both start equal */
        parallel_set_thread_count(1);
        gemm(ta, tb, g.M, g.N, g.K, 0.5f, g.A, g.lda, g.B, g.ldb, 2.0f, g.C_naive, g.ldc,
             g.workspace);
        parallel_set_thread_count(2);
#ifdef _OPENMP
        cr_assert_eq(parallel_thread_count(), 2);
#endif
        gemm(ta, tb, g.M, g.N, g.K, 0.5f, g.A, g.lda, g.B, g.ldb, 2.0f, g.C_fast, g.ldc,
             g.workspace);
        cr_expect(memcmp(g.C_naive, g.C_fast, g.M * g.ldc * sizeof(float)) == 0,
                  "shape %d differs between 1 and 2 threads", s);
        gemm_case_free(&g);
    }
}

/* 4. beta = 0 writes C without reading it: NaN in C does not survive. */
Test(gemm, beta_zero_ignores_nan_in_C)
{
    gemm_case g;
    size_t i, j;
    gemm_case_make(&g, GEMM_NORMAL, GEMM_NORMAL, 37, 45, 19, 400);
    for (i = 0; i < g.M; i++)
        for (j = 0; j < g.N; j++)
            g.C_fast[i * g.ldc + j] = g.C_naive[i * g.ldc + j] = (float)NAN;
    gemm(GEMM_NORMAL, GEMM_NORMAL, g.M, g.N, g.K, 1.0f, g.A, g.lda, g.B, g.ldb, 0.0f, g.C_fast,
         g.ldc, g.workspace);
    gemm_naive(GEMM_NORMAL, GEMM_NORMAL, g.M, g.N, g.K, 1.0f, g.A, g.lda, g.B, g.ldb, 0.0f,
               g.C_naive, g.ldc);
    for (i = 0; i < g.M; i++)
        for (j = 0; j < g.N; j++) {
            cr_assert(!isnan(g.C_fast[i * g.ldc + j]), "fast (%zu, %zu) is NaN", i, j);
            cr_assert(!isnan(g.C_naive[i * g.ldc + j]), "naive (%zu, %zu) is NaN", i, j);
        }
    gemm_case_free(&g);
}

/* alpha = 1, beta = 0: the micro-kernel writes whole MR × NR tiles straight into C (a product
 * deeper than one slice, the last shape, adds its later slices there), the partial tiles at the
 * edges go through the write-back; all must equal the naive loop (itself checked against the
 * double-precision definition in 1.) within the tolerance of 2., and leave C's padding columns
 * alone. */
Test(gemm, alpha_one_beta_zero_tiles_written_straight_into_C)
{
    const size_t shapes[4][3] = {{2 * GEMM_MR, 2 * GEMM_NR, 31 < GEMM_KC ? 31 : GEMM_KC},
                                 {2 * GEMM_MR + 5, 3 * GEMM_NR + 7, 64 < GEMM_KC ? 64 : GEMM_KC},
                                 {GEMM_MR, GEMM_NR, GEMM_KC},
                                 {2 * GEMM_MR, 2 * GEMM_NR, GEMM_KC + 1}}; /* two slices */
    int s;
    for (s = 0; s < 4; s++) {
        gemm_case g;
        float *C_original;
        size_t i;
        double worst;
        gemm_case_make(&g, GEMM_NORMAL, GEMM_NORMAL, shapes[s][0], shapes[s][1], shapes[s][2],
                       600 + (unsigned long)s);
        C_original = malloc(g.M * g.ldc * sizeof(float));
        cr_assert_not_null(C_original);
        memcpy(C_original, g.C_fast, g.M * g.ldc * sizeof(float));
        gemm_naive(GEMM_NORMAL, GEMM_NORMAL, g.M, g.N, g.K, 1.0f, g.A, g.lda, g.B, g.ldb, 0.0f,
                   g.C_naive, g.ldc);
        gemm(GEMM_NORMAL, GEMM_NORMAL, g.M, g.N, g.K, 1.0f, g.A, g.lda, g.B, g.ldb, 0.0f,
             g.C_fast, g.ldc, g.workspace);
        worst = worst_relative_difference(GEMM_NORMAL, GEMM_NORMAL, &g, C_original, 1.0f, 0.0f);
        cr_expect_leq(worst, 1e-5, "shape %d: %.3g", s, worst);
        for (i = 0; i < g.M; i++) /* the two padding columns past N */
            cr_expect(g.C_fast[i * g.ldc + g.N] == C_original[i * g.ldc + g.N] &&
                          g.C_fast[i * g.ldc + g.N + 1] == C_original[i * g.ldc + g.N + 1],
                      "shape %d: row %zu's padding written", s, i);
        free(C_original);
        gemm_case_free(&g);
    }
}

/* With alpha = 1 the micro-kernel puts a whole tile straight into C: the first slice's sum
 * when beta = 0, each later slice's sum added to C. That must be the write-back's arithmetic
 * exactly (C = 1·tile, C + 1·tile), so a whole tile must be the same bits as the same values
 * computed as a partial tile, which always goes through the write-back: B's first NR − 1
 * columns as an N = NR − 1 product against all NR as N = NR, over three slices, for beta = 0
 * (every slice straight into C), beta = 0.5 (the first slice through the write-back, the later
 * ones straight into C) and, for contrast, alpha = 0.5 (all through the write-back). */
Test(gemm, whole_tiles_straight_into_C_are_the_write_back_bit_for_bit)
{
    const size_t M = GEMM_MR, N = GEMM_NR, K = 2 * GEMM_KC + 3;
    const float settings[3][2] = {{1.0f, 0.0f}, {1.0f, 0.5f}, {0.5f, 0.0f}}; /* alpha, beta */
    float *A = malloc(M * K * sizeof(float)), *B = malloc(K * N * sizeof(float));
    float *whole = malloc(M * N * sizeof(float)), *partial = malloc(M * N * sizeof(float));
    float *workspace;
    size_t floats, i, j;
    simclr_error err;
    int s;
    cr_assert(A && B && whole && partial);
    cr_assert_eq(gemm_workspace_floats(M, N, K, &floats, &err), SIMCLR_OK);
    workspace = malloc(floats * sizeof(float));
    cr_assert_not_null(workspace);
    test_fill_uniform(A, M * K, -1, 1, 700);
    test_fill_uniform(B, K * N, -1, 1, 701);
    for (s = 0; s < 3; s++) {
        const float alpha = settings[s][0], beta = settings[s][1];
        test_fill_uniform(whole, M * N, -1, 1, 702);
        memcpy(partial, whole, M * N * sizeof(float));
        gemm(GEMM_NORMAL, GEMM_NORMAL, M, N, K, alpha, A, K, B, N, beta, whole, N, workspace);
        gemm(GEMM_NORMAL, GEMM_NORMAL, M, N - 1, K, alpha, A, K, B, N, beta, partial, N,
             workspace);
        for (i = 0; i < M; i++)
            for (j = 0; j + 1 < N; j++)
                cr_expect(memcmp(&whole[i * N + j], &partial[i * N + j], sizeof(float)) == 0,
                          "alpha %g beta %g: C[%zu][%zu] %.9g whole, %.9g partial", alpha, beta,
                          i, j, whole[i * N + j], partial[i * N + j]);
    }
    free(A), free(B), free(whole), free(partial), free(workspace);
}

/* K = 0: the product is empty and C = beta·C (BLAS); M = 0 or N = 0 does nothing. */
Test(gemm, empty_depth_scales_C_by_beta)
{
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {7}, B[1] = {8}, workspace[1];
    int i;
    gemm(GEMM_NORMAL, GEMM_NORMAL, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3, workspace);
    for (i = 0; i < 6; i++)
        cr_expect_eq(C[i], 0.5f * (float)(i + 1));
    gemm(GEMM_NORMAL, GEMM_NORMAL, 0, 3, 4, 1.0f, A, 4, B, 3, 0.0f, C, 3, workspace);
    cr_expect_eq(C[0], 0.5f);
}

Test(gemm, workspace_size_overflow_is_rejected)
{
    size_t floats;
    simclr_error err;
    cr_expect_eq(gemm_workspace_floats(SIZE_MAX / 4, 8, 8, &floats, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "overflow"), "reason: %s", err.message);
    cr_expect_eq(gemm_workspace_floats(SIZE_MAX - 1, 1, 1, &floats, &err), SIMCLR_FAILED);
    cr_expect_eq(gemm_workspace_floats(10, 20, 30, &floats, &err), SIMCLR_OK);
    cr_expect_geq(floats, (size_t)(10 + 20) * 30);
}

/* Depth beyond one slice (K = 2·GEMM_KC + 3): C is accumulated slice by slice. */
Test(gemm, several_depth_slices_equal_naive)
{
    const gemm_transpose shapes[3][2] = {{GEMM_NORMAL, GEMM_NORMAL},
                                         {GEMM_TRANSPOSED, GEMM_NORMAL},
                                         {GEMM_NORMAL, GEMM_TRANSPOSED}};
    int s;
    for (s = 0; s < 3; s++) {
        gemm_case g;
        float *C_original;
        double worst;
        gemm_case_make(&g, shapes[s][0], shapes[s][1], 37, 45, 2 * GEMM_KC + 3,
                       500 + (unsigned long)s);
        C_original = malloc(g.M * g.ldc * sizeof(float));
        memcpy(C_original, g.C_naive, g.M * g.ldc * sizeof(float));
        gemm_naive(shapes[s][0], shapes[s][1], g.M, g.N, g.K, 0.75f, g.A, g.lda, g.B, g.ldb,
                   -1.25f, g.C_naive, g.ldc);
        gemm(shapes[s][0], shapes[s][1], g.M, g.N, g.K, 0.75f, g.A, g.lda, g.B, g.ldb, -1.25f,
             g.C_fast, g.ldc, g.workspace);
        worst = worst_relative_difference(shapes[s][0], shapes[s][1], &g, C_original, 0.75f,
                                          -1.25f);
        cr_expect_leq(worst, 1e-5, "shape %d: %.3g", s, worst);
        free(C_original);
        gemm_case_free(&g);
    }
}
