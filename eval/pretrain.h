/*
 * eval/pretrain.h — what a SimCLR pretraining run needs around Algorithm 1 (simclr.h,
 * simclr.c): the model's plan (every buffer a training step uses, allocated once), its steps per
 * epoch, its checkpoints, and a run's parts opened together (simclr train), as eval/finetune.h's
 * finetune_session is a fine-tuning run's: the training images, the model on the job's ranks,
 * the history, a resumed checkpoint's state, and what the ranks of a job must hold alike before
 * the first step. The caller then runs simclr_train on them.
 *
 * simclr.c calls this file, never the other way round. simclr.h includes this header after it
 * defines simclr_model.
 */
#ifndef SIMCLR_EVAL_PRETRAIN_H
#define SIMCLR_EVAL_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "../simclr.h"

/* ---- the model ---- */

/* Plans, allocates and initialises (torchvision's initialisation from `seed`) everything a
 * training step needs. */
int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err);

/* The same as one of the ranks of a data-parallel run (ranks NULL: simclr_model_create). The
 * model points ranks->scratch at buffers of its own until simclr_model_destroy. Fails unless
 * the rank count divides config.shards. */
int simclr_model_create_ranks(simclr_model *model, const simclr_config *config,
                              rank_group *ranks, simclr_error *err);
void simclr_model_destroy(simclr_model *model);

/* Steps per epoch: ⌊images / N⌋; the last partial batch of every epoch is dropped, as
 * LightlySSL's examples do (DataLoader(drop_last=True)). */
size_t simclr_steps_per_epoch(size_t images, size_t batch);

/* ---- checkpoints ---- */

/* Writes the model, its optimiser state, the history so far (model->step steps: it must hold
 * them) and the run's settings with `epoch` completed epochs, atomically. */
int simclr_checkpoint_write(const char *path, const simclr_model *model,
                            const simclr_training *training, size_t epoch,
                            const training_log *history, simclr_error *err);

/* Restores a model created from the checkpoint's training settings: state, optimiser and
 * step; the log into `history` (when not NULL; it must have room for the steps). */
int simclr_checkpoint_restore(simclr_model *model, const safetensors_file *file,
                              const char *path, training_log *history, simclr_error *err);

/* ---- a pretraining run ---- */

/* The settings a checkpoint of simclr train records (simclr_checkpoint_training) and its
 * completed epochs, read from its file: what resuming the run starts from. */
int pretrain_resume_settings(const char *path, simclr_training *training, size_t *epoch,
                             simclr_error *err);

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
                          simclr_error *err);
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
