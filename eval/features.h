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

/* Writes the sets as safetensors, for other tools (either set may be NULL: that split is left
 * out): <split>.features (n, d) F32, <split>.labels (n) I64, for image folders <split>.paths
 * (n, L) U8, each row's file relative to the split's folder, its name's bytes as the file
 * system holds them (UTF-8 on most systems) padded with NUL;
 * classes (K, L) U8, the name of class k in row k, padded alike; and in __metadata__
 * "checkpoint", "data", "test_data" and "held_out" ("1" when the test split holds other images
 * than the training split, "0" when it is the training images again). Written atomically. */
int feature_sets_write(const char *path, const feature_set *sets[2], const dataset *data[2],
                       const char *checkpoint, const char *source, const char *test_source,
                       simclr_error *err);

void features_standardize(feature_set *train, feature_set *test);

void feature_set_destroy(feature_set *features);

#endif
