/*
 * eval/pretrain.h — a pretraining run's parts, opened together (simclr train), as
 * eval/finetune.h's finetune_session is a fine-tuning run's: the training images, the model on
 * the job's ranks, the history, a resumed checkpoint's state, and what the ranks of a job must
 * hold alike before the first step. The caller then runs simclr_train on them.
 *
 * simclr.c's functions come in a pretrain_functions table and are called through it, never by
 * name: the program in simclr.c calls this file, so this file calling simclr.c would close a
 * circle between the two (eval/golden_train.h does the same).
 */
#ifndef SIMCLR_EVAL_PRETRAIN_H
#define SIMCLR_EVAL_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "../simclr.h"

/* simclr_steps_per_epoch, simclr_model_create_ranks, simclr_model_destroy and
 * simclr_checkpoint_restore. */
typedef struct pretrain_functions {
    size_t (*steps_per_epoch)(size_t images, size_t batch);
    int (*model_create_ranks)(simclr_model *model, const simclr_config *config,
                              rank_group *ranks, simclr_error *err);
    void (*model_destroy)(simclr_model *model);
    int (*checkpoint_restore)(simclr_model *model, const safetensors_file *file,
                              const char *path, training_log *history, simclr_error *err);
} pretrain_functions;

/* The online classifier of a new run (simclr train --online-classifier): on when the data has
 * classes (auto), on, or off. */
typedef enum pretrain_online {
    PRETRAIN_ONLINE_AUTO = 0,
    PRETRAIN_ONLINE_ON = 1,
    PRETRAIN_ONLINE_OFF = 2
} pretrain_online;

/* A pretraining run's parts (pretrain_session_open). */
typedef struct pretrain_session {
    simclr_model model;           /* on the job's ranks; a resumed run's state restored */
    training_log log;             /* room for every step of the run; a resumed run's steps */
    dataset data;                 /* the training images (the first `images` of them train) */
    size_t images;                /* training->limit of them, or all */
    size_t steps_per_epoch;
    const pretrain_functions *simclr;
} pretrain_session;

/* Opens a run with resolved settings: the data (training->data, the training split), the
 * images and steps per epoch (fails when the batch is more than the images), a new run's online
 * classes (from `online` and the data's classes; a resumed run's come from its checkpoint),
 * the model on `ranks` (NULL: one process; training->model becomes its configuration with the
 * defaults resolved, as the checkpoint records it), the history, and with `resume` (a
 * checkpoint's path; NULL or "": a new run) the checkpoint's state, step and history. On
 * failure everything is closed. */
int pretrain_session_open(pretrain_session *session, simclr_training *training,
                          const char *resume, pretrain_online online, rank_group *ranks,
                          const pretrain_functions *simclr, simclr_error *err);
void pretrain_session_close(pretrain_session *session);

/* The model's state as a whole number below 2^32 (for ranks_agree): a CRC-32 of the parameters,
 * the running statistics and the optimiser's momentum. */
uint32_t pretrain_model_fingerprint(const simclr_model *model);

/* What the ranks of a job must hold alike before the first step (ranks_agree), named: the
 * number of training images, of classes, the channels, the largest height and width, a
 * fingerprint of the images (dataset_fingerprint), of the model, and the step. */
#define PRETRAIN_AGREED 8
extern const char *const pretrain_agreed_names[PRETRAIN_AGREED];
void pretrain_session_agreed(const pretrain_session *session, double values[PRETRAIN_AGREED]);

#endif
