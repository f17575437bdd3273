/*
 * eval/features.h — the frozen representation a probe sees: every image of a dataset split
 * through the encoder f in evaluation mode (batch norm with its running statistics), with
 * no augmentation — only what torchvision's evaluation transform would do: resize to the
 * training view size when the images differ from it (antialiased bilinear, aug/geometry.h) and
 * normalise with the preset's statistics — or the raw pixels themselves in [0, 1].
 *
 * Shape legend: n images, d features (the encoder's feature_dim, or C·H·W for raw pixels).
 * Images go through the network in batches of B; a last partial batch is padded with zeros (in
 * evaluation mode every image is computed on its own, so padding changes nothing). Images are
 * prepared in parallel and every feature depends only on its image and the weights: the same
 * bits for any thread count.
 *
 * features_standardize: x ← (x − μ)/σ per feature, with μ and σ (population, ddof 0) of the
 * training set applied to both sets; σ < 1e-12 becomes 1 (scikit-learn's StandardScaler).
 */
#ifndef SIMCLR_EVAL_FEATURES_H
#define SIMCLR_EVAL_FEATURES_H

#include <stddef.h>

#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../nn/error.h"
#include "../nn/params.h"
#include "../nn/resnet.h"

typedef struct feature_set {
    float *values;   /* (n, d) */
    int *labels;     /* (n) */
    size_t count, dim;
    int classes;
} feature_set;

/* The first `limit` images of data (all when limit is 0 or beyond the count) as pixels. */
int features_from_pixels(feature_set *features, const dataset *data, size_t limit,
                         simclr_error *err);

/* The same through the encoder; view supplies the input size and normalisation. */
int features_from_encoder(feature_set *features, const dataset *data, size_t limit,
                          const resnet *net, param_store *store, const aug_config *view,
                          size_t batch, simclr_error *err);

void features_standardize(feature_set *train, feature_set *test);

void feature_set_destroy(feature_set *features);

#endif
