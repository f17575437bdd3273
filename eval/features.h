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

/* An empty (zero-filled) set for the first `limit` images of data (all when limit is 0 or
 * beyond the count), of `dim` features each; the encoder's features are filled by
 * simclr_encoder_features (simclr.h). */
int feature_set_create(feature_set *features, const dataset *data, size_t limit, size_t dim,
                       simclr_error *err);

/* Writes both sets as safetensors, for other tools: train.features (n, d) F32, train.labels (n)
 * I64, test.features, test.labels, and "checkpoint" and "data" in __metadata__ (atomically). */
int feature_sets_write(const char *path, const feature_set *train, const feature_set *test,
                       const char *checkpoint, const char *data, simclr_error *err);

void features_standardize(feature_set *train, feature_set *test);

void feature_set_destroy(feature_set *features);

#endif
