/*
 * loss/contrastive_cache.h — the floor under every contrastive loss (loss/contrastive.h): what
 * a forward pass keeps for its backward pass, and the two steps every loss shares.
 *
 * Shape legend: N pairs of views, 2N rows k (rows 0..N-1 view 0, rows N..2N-1 view 1), d the
 * embedding dimension. The positive of row i is p(i) = i + N (i < N) or i − N (i >= N).
 *
 *   before a loss (contrastive_prepare):  u_k = z_k / max(‖z_k‖, 1e-12),  c_ik = u_i · u_k
 *   after it (contrastive_propagate):     from G = ∂L/∂c (cache->grad) to ∂L/∂z0, ∂L/∂z1
 *                                         (loss/cosine.h), overwriting dz0 and dz1
 *
 * Memory: nothing here allocates. The caller binds a cache to contrastive_cache_floats(N, d)
 * floats once; each forward fills it and the matching backward reads it.
 */
#ifndef SIMCLR_LOSS_CONTRASTIVE_CACHE_H
#define SIMCLR_LOSS_CONTRASTIVE_CACHE_H

#include <stddef.h>

#include "../nn/error.h"

/* What forward keeps for backward, all carved from one caller-owned block. */
typedef struct contrastive_cache {
    float *unit;     /* (2N, d) the normalised rows u */
    float *norm;     /* (2N) ‖z_k‖ */
    float *cosine;   /* (2N, 2N) c = u uᵀ */
    float *softmax;  /* (2N, 2N) NT-Xent's P (zero on the diagonal; its anchors' rows) */
    float *grad;     /* (2N, 2N) ∂L/∂c, built by backward */
    float *dunit;    /* (2N, d) ∂L/∂u, built by backward */
    float *row_loss; /* (2N) ℓ_i */
} contrastive_cache;

/* Floats needed by a cache for N pairs of d-dimensional rows (fails on overflow or N = 0). */
int contrastive_cache_floats(size_t N, size_t d, size_t *floats, simclr_error *err);

/* Points the cache's arrays into `memory` (contrastive_cache_floats(N, d) floats). */
void contrastive_cache_bind(contrastive_cache *cache, float *memory, size_t N, size_t d);

/* The shared steps, used by every loss:
 * normalise z0 and z1 into cache->unit and fill cache->cosine; */
void contrastive_prepare(contrastive_cache *cache, const float *z0, const float *z1, size_t N,
                         size_t d);
/* turn cache->grad (∂L/∂c) into ∂L/∂z0 and ∂L/∂z1. */
void contrastive_propagate(float *dz0, float *dz1, contrastive_cache *cache, size_t N, size_t d);

/* The positive of row i among 2N rows. */
size_t contrastive_positive(size_t i, size_t N);

#endif
