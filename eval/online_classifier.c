/*
 * eval/online_classifier.c — a linear classifier on h behind a stop-gradient, trained alongside
 * SimCLR pretraining (see online_classifier.h).
 */
#include "online_classifier.h"

#include <string.h>

#include "../nn/linear.h"
#include "../nn/memory.h"
#include "logistic.h"

int online_classifier_plan(online_classifier *classifier, param_store *store, size_t classes,
                           size_t dim, size_t views, simclr_error *err)
{
    const size_t weight_shape[2] = {classes, dim}, bias_shape[1] = {classes};
    size_t workspace;
    memset(classifier, 0, sizeof *classifier);
    classifier->classes = classes, classifier->dim = dim, classifier->views = views;
    if (param_store_add(store, "online_classifier.", "weight", PARAM_LINEAR_WEIGHT, 2,
                        weight_shape, dim, &classifier->weight, err) != SIMCLR_OK ||
        param_store_add(store, "online_classifier.", "bias", PARAM_LINEAR_BIAS, 1, bias_shape,
                        dim, &classifier->bias, err) != SIMCLR_OK ||
        linear_workspace_floats(views, dim, classes, &workspace, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    classifier->labels = simclr_calloc(views, sizeof(int), "online classifier: labels", err);
    classifier->memory = simclr_calloc(2 * views * classes + workspace, sizeof(float),
                                       "online classifier: scores", err);
    classifier->row_loss = simclr_calloc(views, sizeof(double), "online classifier: losses",
                                         err);
    if (classifier->labels == NULL || classifier->memory == NULL || classifier->row_loss == NULL)
        return online_classifier_destroy(classifier), SIMCLR_FAILED;
    return SIMCLR_OK;
}

void online_classifier_destroy(online_classifier *classifier)
{
    simclr_free(classifier->labels);
    simclr_free(classifier->memory);
    simclr_free(classifier->row_loss);
    memset(classifier, 0, sizeof *classifier);
}

void online_classifier_step(online_classifier *classifier, param_store *store,
                            const float *const *features, size_t passes)
{
    const size_t V = classifier->views, K = classifier->classes, d = classifier->dim;
    const size_t rows = V / passes;
    float *scores = classifier->memory, *probabilities = scores + V * K;
    float *workspace = probabilities + V * K;
    const float *W = store->params + classifier->weight, *b = store->params + classifier->bias;
    size_t p, v, k, correct = 0;
    for (p = 0; p < passes; p++)
        linear_forward(scores + p * rows * K, features[p], W, b, rows, d, K, workspace);
    for (v = 0; v < V; v++) { /* the first largest score is the prediction */
        size_t top = 0;
        for (k = 1; k < K; k++)
            top = scores[v * K + k] > scores[v * K + top] ? k : top;
        correct += (int)top == classifier->labels[v];
    }
    classifier->accuracy = (float)((double)correct / (double)V);
    softmax_cross_entropy_forward(probabilities, classifier->row_loss, scores,
                                  classifier->labels, V, K);
    softmax_cross_entropy_backward(scores, probabilities, classifier->labels, V, K); /* ∂L/∂s */
    for (p = 0; p < passes; p++) /* into W and b only: no ∂L/∂h (the stop-gradient) */
        linear_backward(NULL, store->grads + classifier->weight, store->grads + classifier->bias,
                        scores + p * rows * K, features[p], W, rows, d, K, workspace);
}
