/*
 * eval/predictions.h — a fine-tuned network's predictions, one CSV row per image (what
 * `simclr predict` writes).
 *
 * Columns: index,path,label,predicted,predicted_class,p_0,...,p_(K-1): the image's index in
 * the dataset, its file (image folders; empty otherwise), its true label, the top class's
 * number and name (the first largest score; -1 and "" when every score is NaN), and the softmax
 * of the K scores, p_k = exp(s_k − max s) / Σ_j exp(s_j − max s), in double, printed with 6
 * significant digits. Text fields are quoted as RFC 4180 says.
 */
#ifndef SIMCLR_EVAL_PREDICTIONS_H
#define SIMCLR_EVAL_PREDICTIONS_H

#include <stddef.h>

#include "../data/dataset.h"
#include "../nn/error.h"
#include "encoder.h"

/* The CSV of the network's predictions for the first `limit` (0: all) images of `data` (through
 * their evaluation views), class k named as in `classes` (the training split, whose class
 * numbers the labels are); the text into *csv (freed with simclr_free), its length into
 * *length. */
int predictions_csv(char **csv, size_t *length, simclr_encoder *encoder, const dataset *data,
                    const dataset *classes, size_t limit, simclr_error *err);

/* simclr predict as one call: the network of `checkpoint`, which must be fine-tuned (it has a
 * classifier; an encoder alone fails, naming simclr finetune), run `batch` images at a time; the
 * splits of `data` (NULL or "": the checkpoint's) and `test_data` (simclr_encoder_open_splits);
 * the CSV (predictions_csv) of the first `limit` images of the test split, or with `train` of
 * the training split. */
int predictions_of_checkpoint(char **csv, size_t *length, const char *checkpoint,
                              const char *data, const char *test_data, int train, size_t limit,
                              size_t batch, simclr_error *err);

#endif
