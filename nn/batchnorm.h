/*
 * nn/batchnorm.h — batch normalisation over (B, C, S): 2-D (S = H·W, torch.nn.BatchNorm2d) and
 * 1-D (S = 1, torch.nn.BatchNorm1d on (B, C)); momentum 0.1 and eps 1e-5 as PyTorch's defaults.
 *
 * Training mode, per channel c, over the n = B·S values x of that channel:
 *     mean = Σx / n,  var = Σ(x − mean)² / n            (biased: used to normalise)
 *     x̂ = (x − mean) / sqrt(var + eps),  y = weight·x̂ + bias
 *     running_mean ← (1 − momentum)·running_mean + momentum·mean
 *     running_var  ← (1 − momentum)·running_var  + momentum·var·n/(n − 1)   (unbiased; PyTorch)
 *     num_batches_tracked += 1
 *   backward (with x̂ recomputed from x and the saved mean and 1/sqrt(var + eps)):
 *     dweight += Σ dy·x̂,  dbias += Σ dy,
 *     dx = weight/sqrt(var + eps) · (dy − Σdy/n − x̂·Σ(dy·x̂)/n)
 * Evaluation mode: y = weight·(x − running_mean)/sqrt(running_var + eps) + bias, statistics
 * untouched; its backward treats the running statistics as constants.
 * Defaults: momentum 0.1, eps 1e-5 (PyTorch).
 *
 * Per-channel sums are accumulated in double, in 32 interleaved lanes (position mod 32 within
 * each image's plane) added in lane order; channels run in parallel and each is reduced by one
 * thread in that fixed order, so results are the same bits for any thread count. With shards
 * (below) each shard's sums are made that way and the shards' sums added by the pairwise tree
 * of nn/ranks.h, across ranks too: n is then the count over all ranks, and the results are the
 * same bits for any number of ranks holding the shards.
 * Gradient convention as nn/conv2d.h: dweight, dbias accumulate; dx is overwritten (and may
 * alias dy).
 */
#ifndef SIMCLR_NN_BATCHNORM_H
#define SIMCLR_NN_BATCHNORM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "params.h"

#define BATCHNORM_MOMENTUM 0.1f
#define BATCHNORM_EPS 1e-5f

typedef struct batchnorm_shape {
    size_t batch;    /* B */
    size_t channels; /* C */
    size_t spatial;  /* S: H·W for 2-D, 1 for 1-D */
    /* Data-parallel training (nn/ranks.h); zero in a shape that sets only the three above:
     * shards  0 or 1: the training-mode sums over the whole batch, as one; S_h > 1 (a power of
     *         two dividing B): per shard of B/S_h rows, combined by the pairwise tree
     * ranks   NULL: this process holds the whole batch; else it holds its rank's shards, and
     *         the sums of all ranks' shards are combined (the same bits as one process with
     *         all the shards) */
    size_t shards;
    const struct rank_group *ranks;
} batchnorm_shape;

typedef struct batchnorm_state {
    float *running_mean;          /* (C) */
    float *running_var;           /* (C) */
    int64_t *num_batches_tracked; /* one counter */
    float momentum, eps;
} batchnorm_state;

/* Training mode. y may alias nothing; saved_mean and saved_inverse_std keep (C) values each
 * for the backward pass. */
void batchnorm_forward_train(float *y,                 /* (B, C, S) */
                             float *saved_mean,        /* (C) */
                             float *saved_inverse_std, /* (C) 1/sqrt(var + eps) */
                             const float *x,           /* (B, C, S) */
                             const float *weight,      /* (C) */
                             const float *bias,        /* (C) */
                             batchnorm_state *state, const batchnorm_shape *shape);

void batchnorm_backward_train(float *dx,                      /* (B, C, S), overwritten */
                              float *dweight,                 /* (C), accumulated */
                              float *dbias,                   /* (C), accumulated */
                              const float *dy,                /* (B, C, S) */
                              const float *x,                 /* (B, C, S) the forward input */
                              const float *saved_mean,        /* (C) */
                              const float *saved_inverse_std, /* (C) */
                              const float *weight,            /* (C) */
                              const batchnorm_shape *shape);

/* The training forward's output y again, from the statistics it saved: the same bits (the
 * same expression), for a backward pass that recomputes a map instead of keeping it; with relu
 * 1, ReLU(y) in the same pass (the bits of relu_forward after it). */
void batchnorm_forward_saved(float *y,                       /* (B, C, S) */
                             const float *x,                 /* (B, C, S) */
                             const float *saved_mean,        /* (C) */
                             const float *saved_inverse_std, /* (C) */
                             const float *weight,            /* (C) */
                             const float *bias,              /* (C) */
                             const batchnorm_shape *shape, int relu);

/* Evaluation mode (running statistics). */
void batchnorm_forward_eval(float *y,            /* (B, C, S) */
                            const float *x,      /* (B, C, S) */
                            const float *weight, /* (C) */
                            const float *bias,   /* (C) */
                            const batchnorm_state *state, const batchnorm_shape *shape);

void batchnorm_backward_eval(float *dx,           /* (B, C, S), overwritten */
                             float *dweight,      /* (C), accumulated */
                             float *dbias,        /* (C), accumulated */
                             const float *dy,     /* (B, C, S) */
                             const float *x,      /* (B, C, S) */
                             const float *weight, /* (C) */
                             const batchnorm_state *state, const batchnorm_shape *shape);

/* ---- a batchnorm layer whose state lives in a param_store (nn/params.h) ---- */

/* Offsets of a batchnorm's state. */
typedef struct bn_layer {
    size_t weight, bias;              /* offsets in params, (C) each */
    size_t running_mean, running_var; /* offsets in buffers, (C) each */
    size_t counter;                   /* index in counters */
    size_t channels;
} bn_layer;

/* Plans the five state_dict entries name.{weight, bias, running_mean, running_var,
 * num_batches_tracked}, in torchvision's order. */
int bn_layer_plan(bn_layer *bn, param_store *store, const char *prefix, const char *name,
                  size_t channels, simclr_error *err);

/* Forward in training (batch statistics, running ones updated) or evaluation mode. */
void bn_layer_forward(float *y, float *saved_mean, float *saved_inverse_std, const float *x,
                      const bn_layer *bn, const batchnorm_shape *shape, param_store *store,
                      int training);

/* y = ReLU(bn_layer_forward(x) + residual) (residual (B, C, S) or NULL) in one pass: the same
 * bits as the batch norm, add_forward and relu_forward one after the other (nn/pointwise.h).
 * y may alias neither x nor the residual. */
void bn_layer_forward_relu(float *y, float *saved_mean, float *saved_inverse_std,
                           const float *x, const float *residual, const bn_layer *bn,
                           const batchnorm_shape *shape, param_store *store, int training);

/* batchnorm_forward_saved with the layer's weight and bias. */
void bn_layer_forward_saved(float *y, const float *saved_mean, const float *saved_inverse_std,
                            const float *x, const bn_layer *bn, const batchnorm_shape *shape,
                            const param_store *store, int relu);

/* Training-mode backward, accumulating into store->grads. */
void bn_layer_backward(float *dx, const float *dy, const float *x, const float *saved_mean,
                       const float *saved_inverse_std, const bn_layer *bn,
                       const batchnorm_shape *shape, param_store *store);

#endif
