/*
 * loss/cosine.h — the geometry every contrastive loss here shares: L2-normalised rows and the
 * matrix of their cosine similarities, forward and backward.
 *
 *     u_k = z_k / max(‖z_k‖, ε),   ε = 1e-12          (torch.nn.functional.normalize)
 *     c_ij = u_i · u_j                                 (cosine similarity matrix, R × R)
 *
 * Backward (given G = ∂L/∂c and g_k = ∂L/∂u_k):
 *     ∂L/∂u_k = Σ_j (G_kj + G_jk) u_j
 *     ∂L/∂z_k = (g_k − u_k (u_k · g_k)) / ‖z_k‖      when ‖z_k‖ > ε
 *             = g_k / ε                               when ‖z_k‖ <= ε (the clamp is active and,
 *                                                     as in PyTorch's autograd of normalize, its
 *                                                     gradient is zero; an all-zero row stays
 *                                                     finite)
 *
 * Shape legend: R rows (2N for two views of N images), d the embedding dimension.
 * Norms are accumulated in double, so rows of norm up to ~1e19 neither overflow nor lose digits;
 * everything stored is float. Rows are processed in parallel and each output row is computed by
 * one thread in a fixed order, so results do not depend on the thread count.
 * All backward functions here overwrite their outputs.
 */
#ifndef SIMCLR_LOSS_COSINE_H
#define SIMCLR_LOSS_COSINE_H

#include <stddef.h>

#define COSINE_NORM_FLOOR 1e-12 /* ε, F.normalize's default eps */

/* unit = z / max(‖z‖, ε) row by row; norm keeps ‖z‖ for the backward pass. */
void rows_normalize_forward(float *unit,    /* (R, d) */
                            float *norm,    /* (R) */
                            const float *z, /* (R, d) */
                            size_t R, size_t d);

/* dz = ∂L/∂z from dunit = ∂L/∂u (formula above). Overwrites dz. */
void rows_normalize_backward(float *dz,          /* (R, d) */
                             const float *dunit, /* (R, d) */
                             const float *unit,  /* (R, d) */
                             const float *norm,  /* (R) */
                             size_t R, size_t d);

/* cosine[i][j] = unit_i · unit_j. */
void cosine_matrix_forward(float *cosine,     /* (R, R) */
                           const float *unit, /* (R, d) */
                           size_t R, size_t d);

/* dunit_k = Σ_j (G_kj + G_jk) unit_j, with G = ∂L/∂cosine. Overwrites dunit. */
void cosine_matrix_backward(float *dunit,               /* (R, d) */
                            const float *grad_cosine,   /* (R, R) */
                            const float *unit,          /* (R, d) */
                            size_t R, size_t d);

#endif
