/*
 * eval/predictions.c — a fine-tuned network's predictions as CSV; see predictions.h.
 */
#include "predictions.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../data/run_files.h"
#include "../nn/memory.h"

int predictions_csv(char **csv, size_t *length, simclr_encoder *encoder, const dataset *data,
                    const dataset *classes, size_t limit, simclr_error *err)
{
    const size_t K = encoder->classes;
    feature_set scores;
    size_t capacity, n = 0, i, k;
    char *text;
    *csv = NULL, *length = 0;
    if (simclr_encoder_scores(&scores, encoder, data, limit, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    capacity = 64 + 16 * K + scores.count * (96 + 12 * K); /* quoted fields: twice their text */
    for (i = 0; i < scores.count; i++)
        capacity += 2 * strlen(dataset_image_name(data, i)) + 2 * strlen(classes->names[scores.labels[i]]);
    if ((text = simclr_calloc(capacity, 1, "predictions: CSV", err)) == NULL) {
        feature_set_destroy(&scores);
        return SIMCLR_FAILED;
    }
    n += (size_t)sprintf(text, "index,path,label,predicted,predicted_class");
    for (k = 0; k < K; k++)
        n += (size_t)sprintf(text + n, ",p_%lu", (unsigned long)k);
    text[n++] = '\n';
    for (i = 0; i < scores.count; i++) {
        const float *s = scores.values + i * K;
        size_t top = K; /* the first largest score; none when all are NaN */
        double most = -INFINITY, sum = 0.0;
        for (k = 0; k < K; k++)
            if (s[k] > most || (top == K && !isnan(s[k])))
                most = s[k], top = k;
        for (k = 0; k < K; k++)
            sum += exp((double)s[k] - most);
        n += (size_t)sprintf(text + n, "%lu,", (unsigned long)i);
        n += run_files_csv_field(text + n, dataset_image_name(data, i));
        n += (size_t)sprintf(text + n, ",%d,%ld,", scores.labels[i], top < K ? (long)top : -1L);
        n += run_files_csv_field(text + n, top < K ? classes->names[top] : "");
        for (k = 0; k < K; k++)
            n += (size_t)sprintf(text + n, ",%.6g", exp((double)s[k] - most) / sum);
        text[n++] = '\n';
    }
    feature_set_destroy(&scores);
    *csv = text, *length = n;
    return SIMCLR_OK;
}

int predictions_of_checkpoint(char **csv, size_t *length, const char *checkpoint,
                              const char *data, const char *test_data, int train, size_t limit,
                              size_t batch, simclr_error *err)
{
    simclr_encoder encoder;
    dataset splits[2]; /* train, test */
    int status;
    if (simclr_encoder_load(&encoder, checkpoint, 0, batch, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (encoder.classes == 0)
        simclr_fail(err, "%s has no classifier: simclr finetune makes one (simclr eval probes "
                         "an encoder)", checkpoint);
    if (encoder.classes == 0 ||
        simclr_encoder_open_splits(&splits[0], &splits[1],
                                   data != NULL && data[0] != '\0' ? data : encoder.data,
                                   test_data, &encoder, err) != SIMCLR_OK) {
        simclr_encoder_destroy(&encoder);
        return SIMCLR_FAILED;
    }
    status = predictions_csv(csv, length, &encoder, &splits[train ? 0 : 1], &splits[0], limit,
                             err);
    dataset_close(&splits[0]), dataset_close(&splits[1]);
    simclr_encoder_destroy(&encoder);
    return status;
}
