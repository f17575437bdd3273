/*
 * loss/ntxent.c — NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR
 * (paper Eq. 1; LightlySSL NTXentLoss). Formulas and conventions: loss/contrastive.h.
 *
 *     s_ik = u_i·u_k / τ
 *     ℓ_i  = −s_{i,p(i)} + log Σ_{k≠i} exp(s_ik)          (row maximum subtracted first)
 *     L    = (1/|A|) Σ_{i∈A} ℓ_i                          (A the anchors: all 2N rows, or
 *                                                          those of the images [first, last))
 *     ∂L/∂c_ik = (P_ik − [k = p(i)]) / (|A| τ) for i ∈ A, 0 for the other rows i,
 *     P_ik = exp(s_ik) / Σ_{k'≠i} exp(s_ik')
 * The whole loss is the one with every row an anchor (first = 0, last = N): the same code, the
 * same bits.
 */
#include <math.h>

#include "../nn/maths.h"
#include "../nn/parallel.h"
#include "contrastive.h"
#include "contrastive_cache.h" /* contrastive_prepare, contrastive_propagate */

/* Is row i (of 2N) an anchor: a view of one of the images [first, last)? */
static int ntxent_is_anchor(size_t i, size_t N, size_t first, size_t last)
{
    const size_t image = i < N ? i : i - N;
    return image >= first && image < last;
}

float ntxent_anchors_forward(contrastive_cache *cache, const float *z0, const float *z1,
                             float temperature, size_t N, size_t d, size_t first, size_t last)
{
    const size_t rows = 2 * N;
    double total = 0.0;
    size_t i;
    contrastive_prepare(cache, z0, z1, N, d);

    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const float *c = cache->cosine + i * rows;
        float *P = cache->softmax + i * rows;
        double row_max = -HUGE_VAL, exp_sum = 0.0;
        size_t k;
        if (!ntxent_is_anchor(i, N, first, last)) {
            cache->row_loss[i] = 0.0f; /* (its softmax row is not needed) */
            continue;
        }
        /* s_ik = c_ik / τ, evaluated in double the same way everywhere */
        for (k = 0; k < rows; k++)
            if (k != i && (double)c[k] / temperature > row_max)
                row_max = (double)c[k] / temperature;
        for (k = 0; k < rows; k++)
            if (k != i)
                exp_sum += maths_exp((double)c[k] / temperature - row_max);
        for (k = 0; k < rows; k++)
            P[k] = k == i ? 0.0f : (float)(maths_exp((double)c[k] / temperature - row_max) / exp_sum);
        cache->row_loss[i] =
            (float)(-(double)c[contrastive_positive(i, N)] / temperature + row_max +
                    maths_log(exp_sum));
    }
    /* the anchors in row order: view 0's, then view 1's */
    for (i = first; i < last; i++)
        total += cache->row_loss[i];
    for (i = N + first; i < N + last; i++)
        total += cache->row_loss[i];
    return (float)(total / (double)(2 * (last - first)));
}

void ntxent_anchors_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                             size_t N, size_t d, size_t first, size_t last)
{
    const size_t rows = 2 * N;
    const double scale = 1.0 / ((double)(2 * (last - first)) * temperature);
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const size_t positive = contrastive_positive(i, N);
        const float *P = cache->softmax + i * rows;
        float *G = cache->grad + i * rows;
        size_t k;
        if (!ntxent_is_anchor(i, N, first, last)) {
            for (k = 0; k < rows; k++)
                G[k] = 0.0f;
            continue;
        }
        for (k = 0; k < rows; k++)
            G[k] = (float)(((double)P[k] - (k == positive ? 1.0 : 0.0)) * scale);
        G[i] = 0.0f;
    }
    contrastive_propagate(dz0, dz1, cache, N, d);
}

float ntxent_forward(contrastive_cache *cache, const float *z0, const float *z1,
                     float temperature, size_t N, size_t d)
{
    return ntxent_anchors_forward(cache, z0, z1, temperature, N, d, 0, N);
}

void ntxent_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                     size_t N, size_t d)
{
    ntxent_anchors_backward(dz0, dz1, cache, temperature, N, d, 0, N);
}
