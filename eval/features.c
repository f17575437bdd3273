/*
 * eval/features.c — raw-pixel and frozen-encoder features; see features.h.
 */
#include "features.h"

#include <math.h>
#include <string.h>

#include "../aug/color.h"
#include "../aug/geometry.h"
#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/tensor.h"
#include "../data/safetensors.h"
#include <stdio.h>

int feature_set_create(feature_set *features, const dataset *data, size_t limit, size_t dim,
                       simclr_error *err)
{
    size_t floats;
    memset(features, 0, sizeof *features);
    features->count = limit == 0 || limit > data->count ? data->count : limit;
    features->dim = dim;
    features->classes = data->classes;
    if (size_multiply_checked(features->count, dim, &floats) != SIMCLR_OK)
        return simclr_fail(err, "features: %lu × %lu overflows size_t",
                           (unsigned long)features->count, (unsigned long)dim);
    features->values = simclr_calloc(floats, sizeof(float), "features", err);
    features->labels = simclr_calloc(features->count, sizeof(int), "features: labels", err);
    if (features->values == NULL || features->labels == NULL) {
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

int features_from_pixels(feature_set *features, const dataset *data, size_t limit,
                         simclr_error *err)
{
    const size_t dim = data->channels * data->height * data->width;
    long i;
    if (feature_set_create(features, data, limit, dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    PARALLEL_FOR()
    for (i = 0; i < (long)features->count; i++) {
        dataset_image(data, (size_t)i, features->values + (size_t)i * dim);
        features->labels[i] = dataset_label(data, (size_t)i);
    }
    return SIMCLR_OK;
}

int feature_sets_write(const char *path, const feature_set *train, const feature_set *test,
                       const char *checkpoint, const char *data, simclr_error *err)
{
    static const char *const names[4] = {"train.features", "train.labels", "test.features",
                                         "test.labels"};
    safetensors_entry entries[4];
    safetensors_metadata metadata[2];
    int64_t *labels;
    size_t i;
    int status;
    labels = simclr_calloc(train->count + test->count + 1, sizeof(int64_t), "features: labels",
                           err);
    if (labels == NULL)
        return SIMCLR_FAILED;
    for (i = 0; i < train->count; i++)
        labels[i] = train->labels[i];
    for (i = 0; i < test->count; i++)
        labels[train->count + i] = test->labels[i];
    memset(entries, 0, sizeof entries);
    memset(metadata, 0, sizeof metadata);
    for (i = 0; i < 4; i++) {
        const feature_set *set = i < 2 ? train : test;
        entries[i].name = names[i];
        entries[i].ndim = i % 2 == 0 ? 2 : 1;
        entries[i].shape[0] = set->count;
        entries[i].shape[1] = set->dim;
        if (i % 2 == 0)
            entries[i].f32 = set->values;
        else
            entries[i].i64 = labels + (i == 1 ? 0 : train->count);
    }
    strcpy(metadata[0].key, "checkpoint");
    snprintf(metadata[0].value, sizeof metadata[0].value, "%s", checkpoint);
    strcpy(metadata[1].key, "data");
    snprintf(metadata[1].value, sizeof metadata[1].value, "%s", data);
    status = safetensors_write(path, entries, 4, metadata, 2, err);
    simclr_free(labels);
    return status;
}

void features_standardize(feature_set *train, feature_set *test)
{
    const size_t d = train->dim;
    long j;
    PARALLEL_FOR()
    for (j = 0; j < (long)d; j++) {
        double mean = 0.0, variance = 0.0, scale;
        size_t i;
        for (i = 0; i < train->count; i++)
            mean += train->values[i * d + (size_t)j];
        mean /= (double)(train->count > 0 ? train->count : 1);
        for (i = 0; i < train->count; i++) {
            const double centred = train->values[i * d + (size_t)j] - mean;
            variance += centred * centred;
        }
        variance /= (double)(train->count > 0 ? train->count : 1);
        scale = sqrt(variance);
        if (scale < 1e-12)
            scale = 1.0;
        for (i = 0; i < train->count; i++)
            train->values[i * d + (size_t)j] =
                (float)((train->values[i * d + (size_t)j] - mean) / scale);
        if (test != NULL)
            for (i = 0; i < test->count; i++)
                test->values[i * d + (size_t)j] =
                    (float)((test->values[i * d + (size_t)j] - mean) / scale);
    }
}

void feature_set_destroy(feature_set *features)
{
    simclr_free(features->values);
    simclr_free(features->labels);
    memset(features, 0, sizeof *features);
}
