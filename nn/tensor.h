/*
 * nn/tensor.h — the tensor type: a shape and a contiguous block of float32.
 *
 * Layout: row-major and contiguous, the PyTorch layouts — NCHW for activations,
 * (O, C, kh, kw) for convolution weights, (out, in) for linear weights — so that weights move
 * between this project and PyTorch unchanged.
 *
 * Every size is a size_t and every product of sizes is checked for overflow before anything is
 * allocated: a shape whose element count or byte count does not fit in size_t is an error, never a
 * wrapped-around small allocation.
 *
 * Memory: tensor_create allocates (zero-filled) and owns the data; tensor_wrap describes memory
 * somebody else owns (a slice of a planned buffer) and tensor_destroy leaves such memory alone.
 * Allocation goes through simclr_calloc (nn/memory.h), whose underlying allocator is
 * replaceable all-or-nothing (SIMCLR_CALLOC and SIMCLR_FREE, as stb does).
 */
#ifndef SIMCLR_NN_TENSOR_H
#define SIMCLR_NN_TENSOR_H

#include <stddef.h>

#include "error.h"
#include "size_arithmetic.h" /* size_multiply_checked, size_add_checked */

#define TENSOR_MAX_DIMS 8

typedef struct tensor {
    float *data;                    /* (shape[0], ..., shape[ndim-1]) contiguous, row-major */
    size_t shape[TENSOR_MAX_DIMS];  /* sizes of the first ndim dimensions; the rest are 1 */
    int ndim;                       /* 0 (a scalar) .. TENSOR_MAX_DIMS */
    size_t size;                    /* element count: the product of the shape (1 for a scalar) */
    int owns_data;                  /* 1 when tensor_destroy must free data */
} tensor;

/* The element count of a shape, checked so that count * sizeof(float) also fits in size_t.
 * Rejects ndim outside 0..TENSOR_MAX_DIMS. */
int tensor_element_count(int ndim, const size_t *shape, size_t *count, simclr_error *err);

/* Allocates a zero-filled tensor of the given shape. On failure *t is left empty (data NULL). */
int tensor_create(tensor *t, int ndim, const size_t *shape, simclr_error *err);

/* Describes `data` (not owned, at least the shape's element count long) as a tensor. */
int tensor_wrap(tensor *t, float *data, int ndim, const size_t *shape, simclr_error *err);

/* Frees owned data and empties the tensor; safe on an empty or already destroyed tensor. */
void tensor_destroy(tensor *t);

#endif
