/*
 * loss/alternatives.c — the other objectives of the paper's Table 2 (compared in its Table 4):
 * NT-Logistic and margin triplet, averaged over an anchor's negatives (the paper gives them per
 * pair and leaves the combination open; the mean, our choice, keeps the scale from growing with
 * N). Formulas and conventions:
 * loss/contrastive.h. With N = 1 there are no negatives and the negative terms are 0.
 *
 * NT-Logistic, x = c/τ:  ℓ_i = −log σ(x_{i,p(i)}) − mean_neg log σ(−x_ik)
 *     ∂ℓ_i/∂c_{i,p(i)} = (σ(x_{i,p(i)}) − 1)/τ;   ∂ℓ_i/∂c_ik = σ(x_ik)/τ / (2N − 2)
 * Margin triplet:  ℓ_i = mean_neg max(0, c_ik − c_{i,p(i)} + m)
 *     each active term (> 0) adds 1/(2N − 2) to ∂ℓ_i/∂c_ik and subtracts it from ∂ℓ_i/∂c_{i,p(i)}
 * and L = mean_i ℓ_i, so every ∂ℓ_i above is divided by 2N in ∂L.
 */
#include <math.h>

#include "../nn/maths.h"
#include "../nn/parallel.h"
#include "contrastive.h"
#include "contrastive_cache.h" /* contrastive_prepare, contrastive_propagate */

/* log σ(x) without overflow for any x. */
static double log_sigmoid(double x)
{
    return x >= 0.0 ? -maths_log1p(maths_exp(-x)) : x - maths_log1p(maths_exp(x));
}

static double sigmoid(double x)
{
    return x >= 0.0 ? 1.0 / (1.0 + maths_exp(-x)) : maths_exp(x) / (1.0 + maths_exp(x));
}

static float mean_of_rows(const float *row_loss, size_t rows)
{
    double total = 0.0;
    size_t i;
    for (i = 0; i < rows; i++)
        total += row_loss[i];
    return (float)(total / (double)rows);
}

float nt_logistic_forward(contrastive_cache *cache, const float *z0, const float *z1,
                          float temperature, size_t N, size_t d)
{
    const size_t rows = 2 * N;
    size_t i;
    contrastive_prepare(cache, z0, z1, N, d);
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const float *c = cache->cosine + i * rows;
        const size_t positive = contrastive_positive(i, N);
        double negatives = 0.0;
        size_t k;
        for (k = 0; k < rows; k++)
            if (k != i && k != positive)
                negatives += log_sigmoid(-(double)c[k] / temperature);
        cache->row_loss[i] = (float)(-log_sigmoid((double)c[positive] / temperature) -
                                     (rows > 2 ? negatives / (double)(rows - 2) : 0.0));
    }
    return mean_of_rows(cache->row_loss, rows);
}

void nt_logistic_backward(float *dz0, float *dz1, contrastive_cache *cache, float temperature,
                          size_t N, size_t d)
{
    const size_t rows = 2 * N;
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const float *c = cache->cosine + i * rows;
        float *G = cache->grad + i * rows;
        const size_t positive = contrastive_positive(i, N);
        size_t k;
        for (k = 0; k < rows; k++) {
            double g = 0.0;
            if (k == positive)
                g = (sigmoid((double)c[k] / temperature) - 1.0) / temperature;
            else if (k != i)
                g = sigmoid((double)c[k] / temperature) / temperature / (double)(rows - 2);
            G[k] = (float)(g / (double)rows);
        }
    }
    contrastive_propagate(dz0, dz1, cache, N, d);
}

float margin_triplet_forward(contrastive_cache *cache, const float *z0, const float *z1,
                             float margin, size_t N, size_t d)
{
    const size_t rows = 2 * N;
    size_t i;
    contrastive_prepare(cache, z0, z1, N, d);
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const float *c = cache->cosine + i * rows;
        const size_t positive = contrastive_positive(i, N);
        double hinge = 0.0;
        size_t k;
        for (k = 0; k < rows; k++)
            if (k != i && k != positive) {
                double x = (double)c[k] - c[positive] + margin;
                hinge += x > 0.0 ? x : 0.0;
            }
        cache->row_loss[i] = (float)(rows > 2 ? hinge / (double)(rows - 2) : 0.0);
    }
    return mean_of_rows(cache->row_loss, rows);
}

void margin_triplet_backward(float *dz0, float *dz1, contrastive_cache *cache, float margin,
                             size_t N, size_t d)
{
    const size_t rows = 2 * N;
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < rows; i++) {
        const float *c = cache->cosine + i * rows;
        float *G = cache->grad + i * rows;
        const size_t positive = contrastive_positive(i, N);
        const double weight = rows > 2 ? 1.0 / ((double)(rows - 2) * (double)rows) : 0.0;
        double positive_grad = 0.0;
        size_t k;
        for (k = 0; k < rows; k++) {
            G[k] = 0.0f;
            if (k != i && k != positive && (double)c[k] - c[positive] + margin > 0.0) {
                G[k] = (float)weight;
                positive_grad -= weight;
            }
        }
        G[positive] = (float)positive_grad;
    }
    contrastive_propagate(dz0, dz1, cache, N, d);
}
