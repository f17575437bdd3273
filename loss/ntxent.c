/*
 * loss/ntxent.c — NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR
 * (paper Eq. 1; LightlySSL NTXentLoss). Formulas and conventions: loss/contrastive.h.
 *
 *     s_ik = u_i·u_k / τ
 *     ℓ_i  = −s_{i,p(i)} + log Σ_{k≠i} exp(s_ik)          (row maximum subtracted first)
 *     L    = (1/2N) Σ_i ℓ_i
 *     ∂L/∂c_ik = (P_ik − [k = p(i)]) / (2N τ),  P_ik = exp(s_ik) / Σ_{k'≠i} exp(s_ik')
 */
#include <math.h>

#include "../nn/maths.h"
#include "../nn/parallel.h"
#include "contrastive.h"
#include "contrastive_cache.h" /* contrastive_prepare, contrastive_propagate */

float ntxent_forward(contrastive_cache *cache, const float *z0, const float *z1,
                     float temperature, size_t N, size_t d)
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
    for (i = 0; i < rows; i++)
        total += cache->row_loss[i];
    return (float)(total / (double)rows);
}

void ntxent_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                     size_t N, size_t d)
{
    const size_t rows = 2 * N;
    const double scale = 1.0 / ((double)rows * temperature);
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const size_t positive = contrastive_positive(i, N);
        const float *P = cache->softmax + i * rows;
        float *G = cache->grad + i * rows;
        size_t k;
        for (k = 0; k < rows; k++)
            G[k] = (float)(((double)P[k] - (k == positive ? 1.0 : 0.0)) * scale);
        G[i] = 0.0f;
    }
    contrastive_propagate(dz0, dz1, cache, N, d);
}
