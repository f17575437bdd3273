/*
 * loss/memory_bank.c — NT-Xent against a FIFO bank of negatives (LightlySSL). Formulas:
 * loss/memory_bank.h.
 * Formulas and conventions: loss/memory_bank.h.
 */
#include "memory_bank.h"

#include <math.h>
#include <string.h>

#include "../nn/maths.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"
#include "cosine.h"

void memory_bank_init(memory_bank *bank, float *entries, size_t K, size_t d, rng *random)
{
    size_t i, j;
    bank->entries = entries;
    bank->size = K;
    bank->dim = d;
    bank->next = 0;
    for (i = 0; i < K; i++) {
        float *row = entries + i * d;
        double squares = 0.0, divisor;
        for (j = 0; j < d; j++) {
            row[j] = rng_normal(random);
            squares += (double)row[j] * row[j];
        }
        divisor = sqrt(squares) > COSINE_NORM_FLOOR ? sqrt(squares) : COSINE_NORM_FLOOR;
        for (j = 0; j < d; j++)
            row[j] = (float)(row[j] / divisor);
    }
}

int memory_bank_cache_floats(size_t N, size_t d, size_t K, size_t *floats, simclr_error *err)
{
    size_t vectors, logits, total;
    if (N == 0 || d == 0)
        return simclr_fail(err, "memory bank loss: N and d must be positive");
    if (size_multiply_checked(N, d, &vectors) != SIMCLR_OK ||
        size_multiply_checked(vectors, 4, &vectors) != SIMCLR_OK || K == (size_t)-1 ||
        size_multiply_checked(N, K + 1, &logits) != SIMCLR_OK ||
        size_add_checked(vectors, logits, &total) != SIMCLR_OK ||
        size_add_checked(total, 3 * N, &total) != SIMCLR_OK ||
        total > (size_t)-1 / sizeof(float))
        return simclr_fail(err, "memory bank loss: the cache for N=%lu d=%lu K=%lu overflows",
                           (unsigned long)N, (unsigned long)d, (unsigned long)K);
    *floats = total;
    return SIMCLR_OK;
}

void memory_bank_cache_bind(memory_bank_cache *cache, float *memory, size_t N, size_t d,
                            size_t K)
{
    cache->unit0 = memory;
    cache->unit1 = cache->unit0 + N * d;
    cache->dunit0 = cache->unit1 + N * d;
    cache->dunit1 = cache->dunit0 + N * d;
    cache->softmax = cache->dunit1 + N * d;
    cache->norm0 = cache->softmax + N * (K + 1);
    cache->norm1 = cache->norm0 + N;
    cache->row_loss = cache->norm1 + N;
}

static float dot_product(const float *a, const float *b, size_t d)
{
    float sum = 0.0f;
    size_t t;
    for (t = 0; t < d; t++)
        sum += a[t] * b[t];
    return sum;
}

float memory_bank_loss_forward(memory_bank_cache *cache, const float *z0, const float *z1,
                               const memory_bank *bank, float temperature, size_t N, size_t d)
{
    const size_t K = bank->size, columns = bank->size + 1;
    double total = 0.0;
    size_t i;
    rows_normalize_forward(cache->unit0, cache->norm0, z0, N, d);
    rows_normalize_forward(cache->unit1, cache->norm1, z1, N, d);
    PARALLEL_FOR()
    for (i = 0; i < N; i++) {
        const float *u0 = cache->unit0 + i * d;
        float *P = cache->softmax + i * columns;
        double row_max = -HUGE_VAL, exp_sum = 0.0;
        size_t j;
        /* the logits first, into P */
        P[0] = dot_product(u0, cache->unit1 + i * d, d) / temperature;
        for (j = 0; j < K; j++)
            P[j + 1] = dot_product(u0, bank->entries + j * d, d) / temperature;
        for (j = 0; j < columns; j++)
            if (P[j] > row_max)
                row_max = P[j];
        for (j = 0; j < columns; j++)
            exp_sum += maths_exp(P[j] - row_max);
        cache->row_loss[i] = (float)(-(double)P[0] + row_max + maths_log(exp_sum));
        for (j = 0; j < columns; j++)
            P[j] = (float)(maths_exp(P[j] - row_max) / exp_sum);
    }
    for (i = 0; i < N; i++)
        total += cache->row_loss[i];
    return (float)(total / (double)N);
}

void memory_bank_loss_backward(float *dz0, float *dz1, memory_bank_cache *cache,
                               const memory_bank *bank, float temperature, size_t N, size_t d)
{
    const size_t K = bank->size, columns = bank->size + 1;
    const double scale = 1.0 / ((double)N * temperature);
    size_t i;
    PARALLEL_FOR()
    for (i = 0; i < N; i++) {
        const float *P = cache->softmax + i * columns;
        const float *u0 = cache->unit0 + i * d, *u1 = cache->unit1 + i * d;
        float *du0 = cache->dunit0 + i * d, *du1 = cache->dunit1 + i * d;
        const float positive = (float)(((double)P[0] - 1.0) * scale);
        size_t j, t;
        for (t = 0; t < d; t++) {
            du0[t] = positive * u1[t];
            du1[t] = positive * u0[t];
        }
        for (j = 0; j < K; j++) {
            const float weight = (float)(P[j + 1] * scale);
            const float *b = bank->entries + j * d;
            for (t = 0; t < d; t++)
                du0[t] += weight * b[t];
        }
    }
    rows_normalize_backward(dz0, cache->dunit0, cache->unit0, cache->norm0, N, d);
    rows_normalize_backward(dz1, cache->dunit1, cache->unit1, cache->norm1, N, d);
}

void memory_bank_update(memory_bank *bank, const memory_bank_cache *cache, size_t N)
{
    const size_t d = bank->dim, w = bank->next;
    if (bank->size == 0)
        return;
    if (w + N >= bank->size) {
        memcpy(bank->entries + w * d, cache->unit1, (bank->size - w) * d * sizeof(float));
        bank->next = 0;
    } else {
        memcpy(bank->entries + w * d, cache->unit1, N * d * sizeof(float));
        bank->next = w + N;
    }
}
