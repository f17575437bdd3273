/*
 * loss/memory_bank.h — NT-Xent with a memory bank of negatives, as LightlySSL's
 * NTXentLoss(memory_bank_size=K).
 *
 * The bank holds K past view-1 embeddings, L2-normalised, one per row (K, d); it starts as
 * normal(0, 1) draws (from the caller's stream, row by row) normalised per row. For a batch:
 *     u0_i = normalise(z0_i), u1_i = normalise(z1_i)          (anchors are view-0 rows only)
 *     logits_i = [u0_i·u1_i, u0_i·b_1, …, u0_i·b_K] / τ,    label 0
 *     L = (1/N) Σ_i ( −logits_i0 + log Σ_j exp(logits_ij) )    (row maximum subtracted)
 *     ∂L/∂logits_ij = (P_ij − [j = 0]) / N,  P = softmax(logits_i)
 * The bank gets no gradient. After the step, memory_bank_update enqueues the batch's u1 rows
 * first-in first-out exactly as LightlySSL's MemoryBankModule: at write position w, if w + N >= K
 * the rows fill the bank up to its end (the rest of the batch is dropped) and w returns to 0;
 * otherwise they go to w .. w+N-1 and w advances by N.
 * LightlySSL stores the bank as (d, K); this code stores (K, d), the same numbers transposed.
 *
 * Numerics and memory as loss/contrastive.h: float storage, double reductions, no allocation
 * (the caller binds a memory_bank_cache to memory_bank_cache_floats floats), backward overwrites.
 */
#ifndef SIMCLR_LOSS_MEMORY_BANK_H
#define SIMCLR_LOSS_MEMORY_BANK_H

#include <stddef.h>

#include "../nn/error.h"
#include "../nn/rng.h"

typedef struct memory_bank {
    float *entries; /* (K, d) normalised embeddings, caller-owned */
    size_t size;    /* K */
    size_t dim;     /* d */
    size_t next;    /* the FIFO write position w */
} memory_bank;

typedef struct memory_bank_cache {
    float *unit0, *unit1;   /* (N, d) normalised views */
    float *dunit0, *dunit1; /* (N, d) ∂L/∂u, built by backward */
    float *norm0, *norm1;   /* (N) row norms */
    float *softmax;         /* (N, K+1) P */
    float *row_loss;        /* (N) */
} memory_bank_cache;

/* Fills the bank (entries of K·d floats) with normal(0,1) draws from `random`, row by row,
 * and normalises every row; the write position starts at 0. */
void memory_bank_init(memory_bank *bank, float *entries, size_t K, size_t d, rng *random);

int memory_bank_cache_floats(size_t N, size_t d, size_t K, size_t *floats, simclr_error *err);
void memory_bank_cache_bind(memory_bank_cache *cache, float *memory, size_t N, size_t d,
                            size_t K);

float memory_bank_loss_forward(memory_bank_cache *cache, const float *z0, /* (N, d) */
                               const float *z1,                           /* (N, d) */
                               const memory_bank *bank, float temperature, size_t N, size_t d);

void memory_bank_loss_backward(float *dz0, /* (N, d) */
                               float *dz1, /* (N, d) */
                               memory_bank_cache *cache, const memory_bank *bank,
                               float temperature, size_t N, size_t d);

/* Enqueues cache->unit1 (the batch's normalised view-1 rows) as described above. */
void memory_bank_update(memory_bank *bank, const memory_bank_cache *cache, size_t N);

#endif
