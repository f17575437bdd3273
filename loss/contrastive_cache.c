/*
 * loss/contrastive_cache.c — what the contrastive losses share: the cache carved from one
 * caller-owned block, the normalise-and-compare step before a loss and the propagation back to z
 * after it. Layout and formulas: loss/contrastive_cache.h.
 */
#include "contrastive_cache.h"

#include "../nn/size_arithmetic.h"
#include "cosine.h"

int contrastive_cache_floats(size_t N, size_t d, size_t *floats, simclr_error *err)
{
    size_t rows, matrix, vectors, total;
    if (N == 0 || d == 0)
        return simclr_fail(err, "contrastive loss: N and d must be positive (N=%lu d=%lu)",
                           (unsigned long)N, (unsigned long)d);
    /* 2 (2N, d) arrays + 3 (2N, 2N) matrices + 2 (2N) vectors */
    if (size_multiply_checked(N, 2, &rows) != SIMCLR_OK ||
        size_multiply_checked(rows, rows, &matrix) != SIMCLR_OK ||
        size_multiply_checked(matrix, 3, &matrix) != SIMCLR_OK ||
        size_multiply_checked(rows, d, &vectors) != SIMCLR_OK ||
        size_multiply_checked(vectors, 2, &vectors) != SIMCLR_OK ||
        size_add_checked(matrix, vectors, &total) != SIMCLR_OK ||
        size_add_checked(total, 2 * rows, &total) != SIMCLR_OK ||
        total > (size_t)-1 / sizeof(float))
        return simclr_fail(err, "contrastive loss: the cache for N=%lu d=%lu overflows size_t",
                           (unsigned long)N, (unsigned long)d);
    *floats = total;
    return SIMCLR_OK;
}

void contrastive_cache_bind(contrastive_cache *cache, float *memory, size_t N, size_t d)
{
    const size_t rows = 2 * N;
    cache->unit = memory;
    cache->dunit = cache->unit + rows * d;
    cache->cosine = cache->dunit + rows * d;
    cache->softmax = cache->cosine + rows * rows;
    cache->grad = cache->softmax + rows * rows;
    cache->norm = cache->grad + rows * rows;
    cache->row_loss = cache->norm + rows;
}

size_t contrastive_positive(size_t i, size_t N)
{
    return i < N ? i + N : i - N;
}

void contrastive_prepare(contrastive_cache *cache, const float *z0, const float *z1, size_t N,
                         size_t d)
{
    rows_normalize_forward(cache->unit, cache->norm, z0, N, d);
    rows_normalize_forward(cache->unit + N * d, cache->norm + N, z1, N, d);
    cosine_matrix_forward(cache->cosine, cache->unit, 2 * N, d);
}

void contrastive_propagate(float *dz0, float *dz1, contrastive_cache *cache, size_t N, size_t d)
{
    cosine_matrix_backward(cache->dunit, cache->grad, cache->unit, 2 * N, d);
    rows_normalize_backward(dz0, cache->dunit, cache->unit, cache->norm, N, d);
    rows_normalize_backward(dz1, cache->dunit + N * d, cache->unit + N * d, cache->norm + N, N,
                            d);
}
