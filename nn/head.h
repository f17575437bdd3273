/*
 * nn/head.h — the projection head g(·) of SimCLR: LightlySSL's SimCLRProjectionHead.
 *
 * With batch norm (the default; SimCLR v2 style, Lightly's default), num_layers = L >= 2:
 *     Linear(in → hidden, no bias) → BN1d → ReLU,
 *     (L − 2) × [Linear(hidden → hidden, no bias) → BN1d → ReLU],
 *     Linear(hidden → out, no bias) → BN1d(out)
 * Without (the paper's v1 head): the same Linears with bias and no BN1d:
 *     Linear(in → hidden) → ReLU → … → Linear(hidden → out)
 * Defaults: hidden = the encoder's feature size, out = 128.
 * Names follow Lightly's nn.Sequential: with BN, layer i's Linear is layers.{3i}, its BN1d
 * layers.{3i+1} (ReLU layers.{3i+2} has no state); without BN, Linear i is layers.{2i}.
 * Initialisation: PyTorch's nn.Linear default (nn/params.h).
 *
 * Activations are planned once for a batch size (head_activations). Gradient convention as
 * nn/conv2d.h: parameter gradients accumulate into store->grads; the backward pass writes
 * ∂L/∂input into acts->grad_input.
 */
#ifndef SIMCLR_NN_HEAD_H
#define SIMCLR_NN_HEAD_H

#include <stddef.h>

#include "batchnorm.h"
#include "error.h"
#include "params.h"

#define HEAD_MAX_LAYERS 8

typedef struct projection_head_config {
    size_t in_dim, hidden_dim, out_dim;
    size_t num_layers; /* 2 .. HEAD_MAX_LAYERS */
    int batch_norm;    /* 1: Lightly's head (default); 0: the paper's v1 head */
} projection_head_config;

typedef struct projection_head {
    projection_head_config config;
    size_t in_features[HEAD_MAX_LAYERS], out_features[HEAD_MAX_LAYERS];
    size_t weight[HEAD_MAX_LAYERS]; /* offsets of (out, in) */
    size_t bias[HEAD_MAX_LAYERS];   /* offsets of (out), without batch norm */
    bn_layer bn[HEAD_MAX_LAYERS];   /* with batch norm */
} projection_head;

typedef struct head_activations {
    size_t batch;
    float *arena;
    batchnorm_shape bn_shape[HEAD_MAX_LAYERS];
    float *linear_out[HEAD_MAX_LAYERS]; /* (B, out_i) */
    float *bn_out[HEAD_MAX_LAYERS];     /* (B, out_i) BN(+ReLU) output, with batch norm */
    float *mean[HEAD_MAX_LAYERS], *inverse_std[HEAD_MAX_LAYERS];
    const float *layer_in[HEAD_MAX_LAYERS]; /* each layer's input, set by forward */
    float *output;                      /* (B, out_dim) z: points at the last layer's result */
    float *grad_output;                 /* (B, out_dim) ∂L/∂z, set by the caller */
    float *grad_input;                  /* (B, in_dim) ∂L/∂h, computed by backward */
    float *grad[2];                     /* (B, max width) scratch */
    float *workspace;
} head_activations;

/* hidden 0 and out 0 mean the defaults (in_dim and 128). */
projection_head_config projection_head_default(size_t in_dim);

int projection_head_plan(projection_head *head, const projection_head_config *config,
                         param_store *store, const char *prefix, simclr_error *err);

int head_activations_create(head_activations *acts, const projection_head *head, size_t batch,
                            simclr_error *err);
void head_activations_destroy(head_activations *acts);

/* z = g(h) into acts->output; training as in resnet_forward. */
void projection_head_forward(head_activations *acts, const float *h, /* (B, in_dim) */
                             const projection_head *head, param_store *store, int training);

/* acts->grad_input from acts->grad_output after a training-mode forward. */
void projection_head_backward(head_activations *acts, const projection_head *head,
                              param_store *store);

#endif
