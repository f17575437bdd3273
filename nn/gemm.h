/*
 * nn/gemm.h — general matrix multiply, the engine under convolution and linear layers.
 *
 *     C = alpha * op(A) · op(B) + beta * C          C (M, N),  op(A) (M, K),  op(B) (K, N)
 *
 * op(X) is X or its transpose, so one routine gives the three products backprop needs:
 *     forward         Y  = X  · Wᵀ    (GEMM_NORMAL,     GEMM_TRANSPOSED)
 *     weight grad     dW = dYᵀ · X    (GEMM_TRANSPOSED, GEMM_NORMAL)
 *     input grad      dX = dY · W     (GEMM_NORMAL,     GEMM_NORMAL)
 * Storage is row-major with leading dimensions (row strides) lda, ldb, ldc, as in CBLAS with
 * CblasRowMajor: A is stored (M, K) when not transposed and (K, M) when transposed; B is stored
 * (K, N) when not transposed and (N, K) when transposed.
 * BLAS semantics for beta: when beta == 0, C is written without being read (so whatever C held,
 * NaN included, does not reach the result).
 *
 * Two implementations of the same function (a build with SIMCLR_REFERENCE=1, `make
 * REFERENCE=1`, makes gemm the naive triple loop too):
 *   gemm_naive  the triple loop, the readable definition; the reference the fast path is tested
 *               against.
 *   gemm        the fast path, in the style of the BLIS reference kernel (Van Zee & van de Geijn,
 *               "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", 2015):
 *               op(A) is packed into panels of GEMM_MR rows and op(B) into panels of GEMM_NR
 *               columns (zero-padded at the edges), and a micro-kernel with a compile-time
 *               GEMM_MR × GEMM_NR local accumulator, which the compiler keeps in vector registers,
 *               computes one tile of C per call; edges are handled only when writing C back.
 *               OpenMP runs over independent blocks of C (up to GEMM_MC × GEMM_NC, smaller when
 *               that leaves threads idle), and every element of C is summed in the same order
 *               whatever the thread count — over depth slices of GEMM_KC, in order — so the
 *               result is the same bits for 1, 2 or any number of threads, and with OpenMP off.
 *
 * gemm never allocates: the caller passes a workspace of gemm_workspace_floats(M, N, K) floats
 * (planned once, reused across calls). The packed copies live there.
 * The packed layout and the entry points for operands packed ahead of time are the library's
 * own plumbing: nn/gemm_internal.h.
 *
 * Build knobs (compile-time constants; defaults chosen from the target's vector width):
 *   GEMM_MR, GEMM_NR   the register tile: MR·NR/lanes accumulators must fit the vector registers
 *   GEMM_KC            the depth of one pass over a packed panel (a KC × NR sliver of B stays in L1)
 *   GEMM_MC, GEMM_NC   the block of C one thread owns at a time (a MC × KC block of A stays in L2)
 */
#ifndef SIMCLR_NN_GEMM_H
#define SIMCLR_NN_GEMM_H

#include <stddef.h>

#include "error.h"

typedef enum gemm_transpose {
    GEMM_NORMAL = 0,    /* use the matrix as stored */
    GEMM_TRANSPOSED = 1 /* use its transpose */
} gemm_transpose;

/* The register tile. AVX-512: 32 registers of 16 floats; AVX: 16 of 8; otherwise (SSE2, NEON,
 * scalar targets) 16 of 4 are assumed. */
#ifndef GEMM_MR
#if defined(__AVX512F__)
#define GEMM_MR 12
#define GEMM_NR 32
#elif defined(__AVX__)
#define GEMM_MR 6
#define GEMM_NR 16
#else
#define GEMM_MR 4
#define GEMM_NR 8
#endif
#endif
#ifndef GEMM_KC
#define GEMM_KC 512
#endif
#ifndef GEMM_MC
#define GEMM_MC (8 * GEMM_MR)
#endif
#ifndef GEMM_NC
#define GEMM_NC (8 * GEMM_NR)
#endif

/* The readable reference: for each (i, j), sum over p in order, in float. */
void gemm_naive(gemm_transpose transpose_a, gemm_transpose transpose_b, size_t M, size_t N,
                size_t K, float alpha,
                const float *A, size_t lda, /* (M, K), or (K, M) when transposed */
                const float *B, size_t ldb, /* (K, N), or (N, K) when transposed */
                float beta,
                float *C, size_t ldc);      /* (M, N) */

/* How many floats of workspace gemm needs for these sizes; fails if that overflows size_t. */
int gemm_workspace_floats(size_t M, size_t N, size_t K, size_t *floats, simclr_error *err);

/* The fast path; same contract as gemm_naive, plus a workspace of gemm_workspace_floats floats. */
void gemm(gemm_transpose transpose_a, gemm_transpose transpose_b, size_t M, size_t N, size_t K,
          float alpha,
          const float *A, size_t lda, /* (M, K), or (K, M) when transposed */
          const float *B, size_t ldb, /* (K, N), or (N, K) when transposed */
          float beta,
          float *C, size_t ldc,       /* (M, N) */
          float *workspace);          /* gemm_workspace_floats(M, N, K) floats */

#endif
