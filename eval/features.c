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
    size_t first_failed;
    long i;
    if (dim == 0)
        return simclr_fail(err, "features: the images differ in size, so their pixels are no "
                                "features (probe an encoder instead)");
    if (feature_set_create(features, data, limit, dim, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    first_failed = features->count;
    PARALLEL_FOR()
    for (i = 0; i < (long)features->count; i++) {
        if (dataset_image(data, (size_t)i, features->values + (size_t)i * dim, NULL) != SIMCLR_OK)
            features->labels[i] = -1;
        else
            features->labels[i] = dataset_label(data, (size_t)i);
    }
    for (i = 0; i < (long)features->count && first_failed == features->count; i++)
        if (features->labels[i] < 0)
            first_failed = (size_t)i;
    if (first_failed < features->count) { /* again, for the reason */
        dataset_image_failure(data, first_failed, err);
        feature_set_destroy(features);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

/* The rows' texts as a U8 tensor (count, longest + 1), each NUL-padded. */
static uint8_t *text_rows(const char *const *texts, size_t count, size_t *columns,
                          simclr_error *err)
{
    size_t longest = 0, i;
    uint8_t *rows;
    for (i = 0; i < count; i++)
        if (strlen(texts[i]) > longest)
            longest = strlen(texts[i]);
    *columns = longest + 1;
    rows = simclr_calloc(count > 0 ? count * *columns : 1, 1, "features: names", err);
    if (rows != NULL)
        for (i = 0; i < count; i++)
            memcpy(rows + i * *columns, texts[i], strlen(texts[i]));
    return rows;
}

int feature_sets_write(const char *path, const feature_set *sets[2], const dataset *data[2],
                       const char *checkpoint, const char *source, const char *test_source,
                       simclr_error *err)
{
    static const char *const prefixes[2] = {"train", "test"};
    char names[2][3][24];
    safetensors_entry entries[7];
    safetensors_metadata metadata[4];
    int64_t *labels[2] = {NULL, NULL};
    uint8_t *paths[2] = {NULL, NULL}, *classes = NULL;
    const dataset *any = data[0] != NULL ? data[0] : data[1];
    size_t count = 0, i, s, columns;
    int status = SIMCLR_FAILED;
    memset(entries, 0, sizeof entries);
    memset(metadata, 0, sizeof metadata);
    for (s = 0; s < 2; s++) {
        if (sets[s] == NULL)
            continue;
        labels[s] = simclr_calloc(sets[s]->count + 1, sizeof(int64_t), "features: labels", err);
        if (labels[s] == NULL)
            goto done;
        for (i = 0; i < sets[s]->count; i++)
            labels[s][i] = sets[s]->labels[i];
        sprintf(names[s][0], "%s.features", prefixes[s]);
        sprintf(names[s][1], "%s.labels", prefixes[s]);
        sprintf(names[s][2], "%s.paths", prefixes[s]);
        entries[count].name = names[s][0];
        entries[count].ndim = 2;
        entries[count].shape[0] = sets[s]->count, entries[count].shape[1] = sets[s]->dim;
        entries[count++].f32 = sets[s]->values;
        entries[count].name = names[s][1];
        entries[count].ndim = 1;
        entries[count].shape[0] = sets[s]->count;
        entries[count++].i64 = labels[s];
        if (data[s]->files != NULL) { /* each row's file, relative to the split's folder */
            const char **texts = simclr_calloc(sets[s]->count + 1, sizeof *texts,
                                               "features: paths", err);
            if (texts == NULL)
                goto done;
            for (i = 0; i < sets[s]->count; i++)
                texts[i] = dataset_image_name(data[s], i);
            paths[s] = text_rows(texts, sets[s]->count, &columns, err);
            simclr_free((void *)texts);
            if (paths[s] == NULL)
                goto done;
            entries[count].name = names[s][2];
            entries[count].ndim = 2;
            entries[count].shape[0] = sets[s]->count, entries[count].shape[1] = columns;
            entries[count++].u8 = paths[s];
        }
    }
    {   /* the class names, row c naming label c */
        const char *texts[DATASET_MAX_CLASSES];
        for (i = 0; i < (size_t)any->classes; i++)
            texts[i] = any->names[i];
        classes = text_rows(texts, (size_t)any->classes, &columns, err);
        if (classes == NULL)
            goto done;
        entries[count].name = "classes";
        entries[count].ndim = 2;
        entries[count].shape[0] = (size_t)any->classes, entries[count].shape[1] = columns;
        entries[count++].u8 = classes;
    }
    strcpy(metadata[0].key, "checkpoint");
    snprintf(metadata[0].value, sizeof metadata[0].value, "%s", checkpoint);
    strcpy(metadata[1].key, "data");
    snprintf(metadata[1].value, sizeof metadata[1].value, "%s", source);
    strcpy(metadata[2].key, "test_data");
    snprintf(metadata[2].value, sizeof metadata[2].value, "%s", test_source);
    strcpy(metadata[3].key, "held_out");
    strcpy(metadata[3].value, any->held_out ? "1" : "0");
    status = safetensors_write(path, entries, count, metadata, 4, err);
done:
    simclr_free(labels[0]), simclr_free(labels[1]);
    simclr_free(paths[0]), simclr_free(paths[1]), simclr_free(classes);
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
