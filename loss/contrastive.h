/*
 * loss/contrastive.h — the contrastive objectives of SimCLR, forward and analytic backward.
 *
 * Inputs are the projections of the two views, z0 and z1, each (N, d): row i of z0 and row i of
 * z1 come from the same image. Stacked they are the 2N rows k = 0 .. 2N-1 (rows 0..N-1 view 0,
 * rows N..2N-1 view 1); the positive of row i is p(i) = i + N (i < N) or i − N (i >= N) and the
 * other 2N − 2 rows are its negatives. Rows are L2-normalised first (loss/cosine.h):
 * u_k = z_k / max(‖z_k‖, 1e-12), c_ik = u_i · u_k.
 *
 * NT-Xent (paper Eq. 1 and Algorithm 1; LightlySSL NTXentLoss), temperature τ:
 *     s_ik = c_ik / τ,   ℓ_i = −s_{i,p(i)} + log Σ_{k≠i} exp(s_ik),   L = (1/2N) Σ_i ℓ_i
 *     the log-sum-exp is taken with the row maximum subtracted, so any τ and any norm is stable.
 *     ∂L/∂s_ik = (P_ik − [k = p(i)]) / 2N,  P_ik = softmax over k≠i of s_ik.
 *     Note for comparisons: the official TensorFlow code reports 2L (it sums the two directions'
 *     means); LightlySSL and this code report L.
 *   Restricted to the anchors of the images [first, last) (ntxent_anchors_*): the mean is over
 *     the 2(last − first) rows A = [first, last) ∪ [N + first, N + last), each anchor still
 *     against all 2N − 1 other rows, and the gradient reaches every row (an anchor's, and every
 *     row's as another anchor's positive or negative):
 *         L_A = (1/|A|) Σ_{i∈A} ℓ_i,   ∂L_A/∂s_ik = (P_ik − [k = p(i)]) / |A| for i ∈ A, else 0.
 *     This is one rank's loss in data-parallel training whose ranks gather every rank's rows
 *     (LightlySSL's NTXentLoss(gather_distributed=True)): rank r of K holds the images
 *     r·N/K … (r+1)·N/K − 1, and the mean of the K ranks' losses is L. first = 0, last = N is
 *     L itself, the same bits as ntxent_forward and ntxent_backward.
 *
 * NT-Logistic (paper Table 2):
 *     ℓ_i = −log σ(c_{i,p(i)} / τ) − mean_{k ∉ {i, p(i)}} log σ(−c_ik / τ),   L = mean_i ℓ_i
 *     log σ(x) = −log1p(exp(−x)) for x >= 0 and x − log1p(exp(x)) otherwise (stable).
 * Margin triplet (paper Table 2), margin m, no temperature:
 *     ℓ_i = mean_{k ∉ {i, p(i)}} max(0, c_ik − c_{i,p(i)} + m),   L = mean_i ℓ_i
 *     the gradient of max(0, x) is taken as 0 at x = 0, as for ReLU.
 * The paper (Table 2) gives these two per (positive, negative) pair and does not say how an
 * anchor's 2N−2 negatives are combined; averaging them (then the 2N anchors) is this project's
 * choice, so that the loss and its gradient keep their scale as N grows. With N = 1 there are no negatives and both give ℓ_i = −log σ(c/τ) and 0 respectively.
 *
 * Numerics: everything stored is float; the reductions (norms, the exp-sum of a row, the mean
 * over rows) are accumulated in double, in a fixed order, so the loss and its gradient are the
 * same bits for any thread count.
 *
 * Memory: forward and backward never allocate. The caller binds a contrastive_cache to
 * contrastive_cache_floats(N, d) floats once; forward fills it, backward reads it.
 * Backward overwrites dz0 and dz1.
 */
#ifndef SIMCLR_LOSS_CONTRASTIVE_H
#define SIMCLR_LOSS_CONTRASTIVE_H

#include <stddef.h>

#include "../nn/error.h"
#include "contrastive_cache.h"

typedef enum contrastive_loss_kind {
    LOSS_NTXENT = 0,        /* paper Eq. 1, the default */
    LOSS_NT_LOGISTIC = 1,   /* paper Table 2 */
    LOSS_MARGIN_TRIPLET = 2 /* paper Table 2 */
} contrastive_loss_kind;

typedef struct contrastive_loss {
    contrastive_loss_kind kind;
    float temperature; /* τ of NT-Xent and NT-Logistic; default 0.5 (LightlySSL's) */
    float margin;      /* m of margin triplet; default 0.5 */
} contrastive_loss;

/* The default configuration: NT-Xent with τ = 0.5, margin 0.5. */
contrastive_loss contrastive_loss_default(void);

/* "ntxent", "nt-logistic", "margin-triplet" <-> kind. Parse fails on any other name. */
const char *contrastive_loss_name(contrastive_loss_kind kind);
int contrastive_loss_parse(const char *name, contrastive_loss_kind *kind, simclr_error *err);

/* The selected loss: returns L and fills the cache. */
float contrastive_loss_forward(contrastive_cache *cache, const float *z0, /* (N, d) */
                               const float *z1,                           /* (N, d) */
                               const contrastive_loss *loss, size_t N, size_t d);

/* ∂L/∂z0 and ∂L/∂z1 of the selected loss, from the cache of the matching forward call. */
void contrastive_loss_backward(float *dz0, /* (N, d) */
                               float *dz1, /* (N, d) */
                               contrastive_cache *cache, const contrastive_loss *loss, size_t N,
                               size_t d);

/* The individual losses (what the two functions above dispatch to). */
float ntxent_forward(contrastive_cache *cache, const float *z0, const float *z1,
                     float temperature, size_t N, size_t d);
void ntxent_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                     size_t N, size_t d);
/* NT-Xent over the anchors of the images [first, last), 0 <= first < last <= N (above): the
 * forward fills the cache's rows of those anchors only; the backward gives ∂L_A/∂z0 and
 * ∂L_A/∂z1 for all N rows of each. */
float ntxent_anchors_forward(contrastive_cache *cache, const float *z0, /* (N, d) */
                             const float *z1,                           /* (N, d) */
                             float temperature, size_t N, size_t d, size_t first, size_t last);
void ntxent_anchors_backward(float *dz0, /* (N, d) */
                             float *dz1, /* (N, d) */
                             contrastive_cache *cache, float temperature, size_t N, size_t d,
                             size_t first, size_t last);
float nt_logistic_forward(contrastive_cache *cache, const float *z0, const float *z1,
                          float temperature, size_t N, size_t d);
void nt_logistic_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                          size_t N, size_t d);
float margin_triplet_forward(contrastive_cache *cache, const float *z0, const float *z1,
                             float margin, size_t N, size_t d);
void margin_triplet_backward(float *dz0, float *dz1, contrastive_cache *cache, float margin,
                             size_t N, size_t d);

#endif
