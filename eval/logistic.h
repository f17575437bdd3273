/*
 * eval/logistic.h — the linear probe: multinomial logistic regression with an L2
 * penalty on standardised frozen features, fitted to convergence with L-BFGS (eval/lbfgs.h).
 * What scikit-learn's LogisticRegression(multi_class="multinomial", solver="lbfgs") fits, with
 * its C = 1/(λ·n).
 *
 * Shape legend: n samples, d features, c classes.
 *     logits  s = x·Wᵀ + b                          x (n, d), W (c, d), b (c), s (n, c)
 *     softmax p_ik = exp(s_ik − max_j s_ij) / Σ_j exp(s_ij − max_j s_ij)
 *     loss    L = (1/n) Σ_i −log p_{i,y_i}  +  (λ/2)‖W‖²     (the bias is not penalised)
 *     ∂L/∂s   = (p − onehot(y)) / n;   ∂L/∂W = (∂L/∂s)ᵀ·x + λW;   ∂L/∂b = Σ_i ∂L/∂s_i
 * softmax_cross_entropy_forward/backward are the loss alone (a forward/backward pair, in double
 * inside every row); logistic_fit runs L-BFGS on (W, b) from zero.
 */
#ifndef SIMCLR_EVAL_LOGISTIC_H
#define SIMCLR_EVAL_LOGISTIC_H

#include <stddef.h>

#include "../nn/error.h"
#include "lbfgs.h"

/* Mean cross-entropy of the rows of `logits` against their labels; the softmax probabilities
 * are kept for the backward pass and each row's loss in row_loss (summed in order). Rows run in
 * parallel. */
double softmax_cross_entropy_forward(float *probabilities, /* (n, c) */
                                     double *row_loss,     /* (n) */
                                     const float *logits,  /* (n, c) */
                                     const int *labels,    /* (n) in [0, c) */
                                     size_t n, size_t c);

/* ∂L/∂s = (p − onehot(y)) / n, overwriting grad_logits. */
void softmax_cross_entropy_backward(float *grad_logits,         /* (n, c) */
                                    const float *probabilities, /* (n, c) from the forward */
                                    const int *labels,          /* (n) */
                                    size_t n, size_t c);

typedef struct logistic_model {
    size_t classes, dim;
    float *weight;   /* (c, d) */
    float *bias;     /* (c) */
} logistic_model;

typedef struct logistic_fit_config {
    double l2;              /* λ */
    lbfgs_config lbfgs;
} logistic_fit_config;

/* λ = 1e-4 (on Fashion-MNIST raw pixels this gives 0.841, the published 0.842 of Xiao et al.
 * 2017; see the README), L-BFGS m = 10, up to 5000 iterations, converged when
 * ‖g‖∞ ≤ 1e-4·max(1, f) (scikit-learn's default tol) or f stops changing (1e-12 relative). */
logistic_fit_config logistic_fit_config_default(void);

/* Fits W, b to (x, labels) from zero; model is allocated here (logistic_model_destroy). */
int logistic_fit(logistic_model *model, lbfgs_result *result,
                 const float *x,      /* (n, d) already standardised */
                 const int *labels,   /* (n) in [0, classes) */
                 size_t n, size_t d, size_t classes, const logistic_fit_config *config,
                 simclr_error *err);

/* scores = x·Wᵀ + b for m rows (the logits; their order is the softmax's). */
int logistic_scores(float *scores,    /* (m, c) */
                    const logistic_model *model,
                    const float *x,   /* (m, d) */
                    size_t m, simclr_error *err);

void logistic_model_destroy(logistic_model *model);

#endif
