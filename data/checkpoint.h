/*
 * data/checkpoint.h — a model's state, its optimiser's state and its training log as one
 * safetensors file, by the names PyTorch users know:
 *
 *   backbone.<torchvision name>, projection_head.layers.<i>.<name>
 *                              the parameter store's entries in its order: F32 parameters and
 *                              batch-norm running statistics, I64 num_batches_tracked; the
 *                              backbone loads into torchvision.models.resnet18 etc. after
 *                              stripping the "backbone." prefix
 *   optimizer.<name>.momentum  (shape of the parameter) SGD's momentum buffer or LARS's v, one
 *                              per trainable parameter (when an optimiser state is given)
 *   log.loss, log.learning_rate, log.views_per_second
 *                              (steps) F32 the per-step history (when steps > 0)
 *   log.<accuracy name>        (steps) F32 a classifier's top-1 accuracy per step, when the log
 *                              keeps one (NaN where it was not measured): online_top1 (the
 *                              online classifier of simclr train), test_top1 (simclr finetune)
 *   __metadata__               text key/value pairs given by the caller (eval/pretrain.c
 *                              writes the run's settings from its settings table)
 *
 * The file is written to a temporary name and renamed into place, so an interrupted write
 * never leaves half a checkpoint. Readers check every tensor's dtype and shape against the
 * model and name the file and the tensor in every error.
 * Non-finite state is never trusted: the writer refuses (writing nothing) when a parameter, a
 * batch-norm running statistic or an optimiser state holds NaN or ±inf, and the readers reject
 * such a value after reading, naming the tensor, so a diverged run cannot leave a checkpoint
 * that resumes or evaluates as if it were sound. The log is not checked (a NaN loss is a fact
 * of the run's history).
 */
#ifndef SIMCLR_DATA_CHECKPOINT_H
#define SIMCLR_DATA_CHECKPOINT_H

#include <stddef.h>

#include "../nn/error.h"
#include "../nn/params.h"
#include "safetensors.h"

/* The per-step log of a training run: loss, learning rate and views per second of each step
 * taken so far (`steps` of `capacity`), and optionally an accuracy per step. */
#define TRAINING_LOG_NAME_MAX 32
typedef struct training_log {
    float *loss, *learning_rate, *views_per_second; /* (capacity) each */
    float *accuracy;       /* (capacity) NaN where not measured; NULL: not kept */
    char accuracy_name[TRAINING_LOG_NAME_MAX]; /* its log.csv column and checkpoint tensor */
    size_t steps, capacity;
} training_log;

int training_log_create(training_log *log, size_t capacity, simclr_error *err);

/* Makes the log keep an accuracy per step under `name` (every value NaN to begin with). */
int training_log_keep_accuracy(training_log *log, const char *name, simclr_error *err);
void training_log_destroy(training_log *log);

/* Where a training loop stands after a step: what simclr_train (simclr.h) and finetune_run
 * (eval/finetune.h) hand their progress callbacks. */
typedef struct training_progress {
    size_t step;                  /* optimiser steps taken, this one included */
    size_t epoch;                 /* the epoch of this step, from 0 */
    size_t step_in_epoch;         /* from 0 */
    size_t steps_per_epoch, total_steps;
    size_t first_step;            /* the step this call of the loop started from */
    float loss;
    double learning_rate;
    double seconds;               /* this step, its batch of views included */
    int epoch_done;               /* this step completed its epoch */
    double accuracy;              /* the log's accuracy of this step; NaN: none measured */
} training_progress;

/* Records a step in the log (row progress->step − 1, which becomes its last): the loss, the
 * learning rate, `items` (views or images) per second of the step and, when the log keeps one,
 * the accuracy. */
void training_log_record(training_log *log, const training_progress *progress, double items);

/* The mean of the log's accuracy over steps from … to − 1 (log->accuracy must be kept), summed
 * in double in step order. */
double training_log_mean_accuracy(const training_log *log, size_t from, size_t to);

/* Writes the entries of `store` whose names start with `prefix` (NULL or "": all), the
 * optimiser state `velocity` ((param_floats) laid out as store->params; NULL: none), the log
 * (NULL or 0 steps: none) and the metadata, atomically. */
int checkpoint_write(const char *path, const param_store *store, const char *prefix,
                     const float *velocity, const training_log *log,
                     const safetensors_metadata *metadata, size_t metadata_count,
                     simclr_error *err);

/* Fails, naming the first tensor (parameter, running statistic, optimiser state) holding NaN or
 * ±inf, when the model's state is not finite; `source` starts the message. */
int checkpoint_check_finite(const param_store *store,
                            const float *velocity, /* (param_floats) or NULL */
                            const char *source, simclr_error *err);

/* Copies every entry of `store` from the file by name, checking dtype and shape. Entries the
 * store does not have are ignored; one the store has and the file lacks is an error. */
int checkpoint_load_store(param_store *store, const safetensors_file *file, const char *path,
                          simclr_error *err);

/* The same for entries [first, first + count) of the store, each read from the file's tensor
 * `file_prefix` + its name (e.g. a SimCLR checkpoint's "backbone." + "conv1.weight" into a
 * store of torchvision's own names). */
int checkpoint_load_entries(param_store *store, size_t first, size_t count,
                            const safetensors_file *file, const char *file_prefix,
                            const char *path, simclr_error *err);

/* Copies the optimiser state (optimizer.<name>.momentum for every trainable entry). */
int checkpoint_load_velocity(float *velocity, /* (param_floats) */
                             const param_store *store, const safetensors_file *file,
                             const char *path, simclr_error *err);

/* Reads the log of `steps` steps (it must have the capacity), with its accuracy when the log
 * keeps one (the file must have it). */
int checkpoint_load_log(training_log *log, size_t steps, const safetensors_file *file,
                        const char *path, simclr_error *err);

#endif
