/*
 * nn/classifier.h — the classifier on the encoder's features h that fine-tuning trains
 * (eval/finetune.h): torchvision's linear classifier fc, optionally after the projection
 * head's first layer, as SimCLRv2 fine-tunes (Chen et al. 2020b, §2: "from the middle layer of
 * the projection head").
 *
 * Shape legend: B rows, d = feature size, H = the head's hidden width, K classes.
 *   direct      s = h·Wᵀ + b                                      W (K, d), b (K): fc
 *   from head   u = ReLU(BN1d(h·W0ᵀ))                             W0 (H, d): the head's layer
 *               s = u·Wᵀ + b                                      W (K, H), b (K): fc
 * with BN1d in training mode (batch statistics, running ones updated) or evaluation mode.
 * Names: fc.weight, fc.bias (torchvision's), and for the head's layer the SimCLR head's own,
 * projection_head.layers.0.weight and projection_head.layers.1.{weight, bias, running_mean,
 * running_var, num_batches_tracked} (LightlySSL's head with batch norm, nn/head.h), so both
 * load from a SimCLR checkpoint by name.
 * Gradient convention as nn/conv2d.h: parameter gradients accumulate into store->grads;
 * backward overwrites ∂L/∂h.
 */
#ifndef SIMCLR_NN_CLASSIFIER_H
#define SIMCLR_NN_CLASSIFIER_H

#include <stddef.h>

#include "batchnorm.h"
#include "error.h"
#include "params.h"

typedef struct classifier {
    size_t in_dim, hidden, classes; /* d, H (0: direct), K */
    size_t hidden_weight;           /* offset of W0 (H, d), with hidden > 0 */
    bn_layer hidden_bn;
    size_t weight, bias;            /* offsets of fc's W (K, H or d) and b (K) */
} classifier;

typedef struct classifier_activations {
    size_t batch;
    float *arena;
    batchnorm_shape bn_shape;
    float *linear_out, *hidden_out; /* (B, H) W0·h and ReLU(BN(·)), with hidden > 0 */
    float *mean, *inverse_std;      /* (H) */
    float *scores;                  /* (B, K) s */
    float *grad_scores;             /* (B, K) ∂L/∂s, set by the caller */
    float *grad_hidden, *grad_linear; /* (B, H) scratch */
    float *workspace;
    const float *input;             /* h of the last forward pass */
} classifier_activations;

/* Plans the classifier's state into store: the head's layer (hidden > 0) then fc. */
int classifier_plan(classifier *c, size_t in_dim, size_t hidden, size_t classes,
                    param_store *store, simclr_error *err);

int classifier_activations_create(classifier_activations *acts, const classifier *c,
                                  size_t batch, simclr_error *err);
void classifier_activations_destroy(classifier_activations *acts);

/* s = the classifier of h for `batch` rows (at most the planned batch). */
void classifier_forward(classifier_activations *acts, const float *h, /* (B, d) */
                        size_t batch, const classifier *c, param_store *store, int training);

/* From acts->grad_scores after a training-mode forward of the planned batch: parameter
 * gradients accumulated, ∂L/∂h written into grad_h. */
void classifier_backward(float *grad_h, /* (B, d) */
                         classifier_activations *acts, const classifier *c, param_store *store);

#endif
