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

static int feature_set_allocate(feature_set *features, const dataset *data, size_t limit,
                                size_t dim, simclr_error *err)
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
    if (feature_set_allocate(features, data, limit, dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    PARALLEL_FOR()
    for (i = 0; i < (long)features->count; i++) {
        dataset_image(data, (size_t)i, features->values + (size_t)i * dim);
        features->labels[i] = dataset_label(data, (size_t)i);
    }
    return SIMCLR_OK;
}

int features_from_encoder(feature_set *features, const dataset *data, size_t limit,
                          const resnet *net, param_store *store, const aug_config *view,
                          size_t batch, simclr_error *err)
{
    const size_t C = data->channels, H = data->height, W = data->width, S = view->size;
    const size_t image_floats = C * H * W, view_floats = C * S * S;
    const int slots = parallel_thread_count();
    const size_t slot_floats = image_floats + aug_resize_workspace_floats(C, H, S);
    resnet_activations acts;
    float *inputs = NULL, *scratch = NULL;
    size_t start;
    if (C != net->config.in_channels)
        return simclr_fail(err, "features: the data has %lu channels, the encoder takes %lu",
                           (unsigned long)C, (unsigned long)net->config.in_channels);
    if (batch == 0 || S == 0)
        return simclr_fail(err, "features: the batch and the view size must be positive");
    if (feature_set_allocate(features, data, limit, net->feature_dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (resnet_activations_create(&acts, net, batch, S, S, err) != SIMCLR_OK) {
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    inputs = simclr_calloc(batch * view_floats, sizeof(float), "features: batch", err);
    scratch = simclr_calloc((size_t)slots * slot_floats, sizeof(float), "features: scratch", err);
    if (inputs == NULL || scratch == NULL) {
        simclr_free(inputs);
        simclr_free(scratch);
        resnet_activations_destroy(&acts);
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    for (start = 0; start < features->count; start += batch) {
        const size_t rows = features->count - start < batch ? features->count - start : batch;
        long i;
        /* the evaluation transform of each image: resize when needed, normalise */
        PARALLEL_FOR()
        for (i = 0; i < (long)rows; i++) {
            float *slot = scratch + (size_t)parallel_thread_index() * slot_floats;
            float *input = inputs + (size_t)i * view_floats;
            const size_t index = start + (size_t)i;
            if (H == S && W == S) {
                dataset_image(data, index, input);
            } else {
                aug_crop whole;
                whole.top = 0;
                whole.left = 0;
                whole.height = H;
                whole.width = W;
                dataset_image(data, index, slot);
                aug_resize(input, slot, C, H, W, whole, S, S, slot + image_floats);
            }
            if (view->normalize)
                aug_normalize(input, C, S, S, view->mean, view->std);
            features->labels[index] = dataset_label(data, index);
        }
        if (rows < batch)
            memset(inputs + rows * view_floats, 0, (batch - rows) * view_floats * sizeof(float));
        resnet_forward(&acts, inputs, net, store, 0);
        memcpy(features->values + start * net->feature_dim, acts.features,
               rows * net->feature_dim * sizeof(float));
    }
    simclr_free(inputs);
    simclr_free(scratch);
    resnet_activations_destroy(&acts);
    return SIMCLR_OK;
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
