/*
 * eval/evaluation.h — `simclr eval` as a library call: a trained network judged on a dataset.
 *
 *   an encoder  (a checkpoint of simclr train, an encoder of simclr export, or --features raw:
 *               the pixels themselves) — the features h of both splits' un-augmented images
 *               (eval/encoder.h), then the linear probe and/or the kNN monitor (eval/probe.h),
 *               fitted on every training image, on the first N, or on the labelled subset
 *               simclr finetune --labels P --seed S draws (eval/finetune.h)
 *   a fine-tuned network (a checkpoint of simclr finetune) — its own classifier fc on the test
 *               split, no probe (the row's probe reads "fc")
 *
 * The result is text: a table (or CSV) of top-1, top-5 and per-class accuracy, a row per probe
 * (eval/probe.h). What a user should know along the way — how long the features took, whether
 * L-BFGS converged, the kNN's k, a test split that is the training images again — goes, a line
 * at a time, to a callback the caller chooses; nothing is printed here.
 */
#ifndef SIMCLR_EVAL_EVALUATION_H
#define SIMCLR_EVAL_EVALUATION_H

#include <stddef.h>
#include <stdint.h>

#include "../data/dataset.h"
#include "../data/settings.h"
#include "../nn/error.h"
#include "encoder.h"
#include "finetune.h"
#include "knn.h"
#include "logistic.h"

#define EVALUATION_PATH_MAX 4096

typedef struct evaluation_settings {
    char checkpoint[EVALUATION_PATH_MAX];
    char data[SIMCLR_DATA_MAX], test_data[SIMCLR_DATA_MAX]; /* "": the checkpoint's data, the
                                                               test split of data */
    char labels[FINETUNE_LABELS_MAX];      /* "": every training image */
    uint64_t seed;                         /* of labels */
    int features;                          /* 0: the encoder's, 1: raw pixels */
    int probe;                             /* 0: both, 1: linear, 2: knn */
    int init;                              /* 0: the checkpoint's weights, 1: the run's initial
                                              ones, 2: both */
    int csv, confusion;                    /* CSV instead of a table; confusion matrices */
    knn_config knn;                        /* k = 0: 200, or every training image if fewer */
    logistic_fit_config linear;
    size_t train_limit, test_limit, batch; /* limits 0: all */
    size_t threads;                        /* for the program: parallel_set_thread_count */
} evaluation_settings;

/* The settings' table (flags and --help, data/settings.h). */
extern const setting evaluation_table[];
extern const size_t evaluation_setting_count;

evaluation_settings evaluation_settings_default(void);

/* Notes for the user along the way, one line each (no newline). */
typedef void (*evaluation_note_fn)(void *context, const char *line);

/* Evaluates as settings->init says (both: the trained weights, then the initial ones) and
 * appends the rows to *text (freed with simclr_free; the header once). A probe that fails is
 * noted and the others still run; the first failure is returned. */
int evaluation_run(char **text, const evaluation_settings *settings, evaluation_note_fn note,
                   void *context, simclr_error *err);

#endif
