/*
 * eval/online_classifier.h — the online linear classifier of SimCLR pretraining (Chen et al.
 * 2020, Appendix B.6; the official code's default): a free accuracy curve while the encoder
 * learns without labels.
 *
 * Shape legend: V views in a step (2N), d = the encoder's feature_dim (h), K classes.
 *
 *     s = h·Wᵀ + b                      h (V, d), W (K, d), b (K), s (V, K)
 *     L = (1/V) Σ_v −log softmax(s_v)[y_v]              (eval/logistic.h)
 *     ∂L/∂W, ∂L/∂b accumulated into the store's gradients; ∂L/∂h never formed
 *
 * The last point is the stop-gradient: the classifier learns from h, h never learns from it,
 * so the encoder and head are the same bits with and without it. Its tensors,
 * online_classifier.weight and .bias, are added to the store after every other (the
 * initialisation draws them last), and the model's optimiser updates them with the same
 * learning rate as everything else, as the official code does. A step allocates nothing.
 */
#ifndef SIMCLR_EVAL_ONLINE_CLASSIFIER_H
#define SIMCLR_EVAL_ONLINE_CLASSIFIER_H

#include <stddef.h>

#include "../nn/error.h"
#include "../nn/params.h"

typedef struct online_classifier {
    size_t classes, dim, views;  /* K, d, V */
    size_t weight, bias;         /* offsets in the store */
    int *labels;                 /* (V) the step's labels, filled by the caller */
    float *memory;               /* s and then ∂L/∂s (V, K), the probabilities (V, K), the linear
                                    layer's workspace */
    double *row_loss;            /* (V) */
    float accuracy;              /* top-1 of the last step's V views */
} online_classifier;

/* Adds online_classifier.weight (K, d) and .bias (K) to the store being planned (before
 * param_store_allocate) and allocates the buffers for V views. */
int online_classifier_plan(online_classifier *classifier, param_store *store, size_t classes,
                           size_t dim, size_t views, simclr_error *err);
void online_classifier_destroy(online_classifier *classifier);

/* One step on the h of the last forward pass, given as `passes` blocks of V/passes rows
 * (features[p]: (V/passes, d)): s, the top-1 into classifier->accuracy (the first largest score
 * is the prediction), the cross-entropy against classifier->labels and its gradient into W and b
 * only. */
void online_classifier_step(online_classifier *classifier, param_store *store,
                            const float *const *features, size_t passes);

#endif
