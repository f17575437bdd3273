/*
 * nn/gemm_internal.h — GEMM internal header: the packed operand layout and the entry points for
 * producers that write an operand straight into the packed layout (im2col, the Winograd transforms, the linear probe's fixed operands). Used by the
 * library's sources and its tests; never included by simclr.h, never installed.
 *
 * The fast gemm (nn/gemm.h) packs op(A) into panels of GEMM_MR rows and op(B) into panels of
 * GEMM_NR columns, zero-padded at the edges, and a micro-kernel with a local GEMM_MR × GEMM_NR
 * accumulator computes one tile of C per call. The tile and block sizes are build knobs
 * (nn/gemm.h), public because `simclr version` and the benchmarks report them.
 */
#ifndef SIMCLR_NN_GEMM_INTERNAL_H
#define SIMCLR_NN_GEMM_INTERNAL_H

#include <stddef.h>

#include "gemm.h"

/* Element (p, j) of op(B) (K, N) lives at
 *     packed[(j / GEMM_NR) · K · GEMM_NR + p · GEMM_NR + j % GEMM_NR],
 * with zeros for N <= j < round_up(N, GEMM_NR): gemm_packed_b_floats(N, K) floats. */
size_t gemm_packed_b_floats(size_t N, size_t K);

/* Packs op(B) into that layout (what gemm does with its own workspace). */
void gemm_pack_b(float *packed,                                      /* packed layout */
                 gemm_transpose transpose_b, const float *B, size_t ldb, /* (K, N) or (N, K) */
                 size_t N, size_t K);

/* The same for op(A) (M, K): element (i, p) at packed[(i / GEMM_MR)·K·GEMM_MR + p·GEMM_MR +
 * i % GEMM_MR], zeros for M <= i < round_up(M, GEMM_MR): gemm_packed_a_floats(M, K) floats. */
size_t gemm_packed_a_floats(size_t M, size_t K);
void gemm_pack_a(float *packed, gemm_transpose transpose_a, const float *A, size_t lda, size_t M,
                 size_t K);

/* gemm with both operands already packed (a weight packed once and used for many products). */
void gemm_prepacked(size_t M, size_t N, size_t K, float alpha,
                    const float *packed_a, /* op(A) (M, K) in the packed layout */
                    const float *packed_b, /* op(B) (K, N) in the packed layout */
                    float beta,
                    float *C, size_t ldc); /* (M, N) */

#endif
