/*
 * eval/golden_train.h — the reference cases that train a SimCLR model (see golden.h for the
 * case format and DIR/README.txt for the conventions, stated there in full):
 *
 *   train_step   one SGD step on two views (cifar preset, 8 × 8) of the first N built-in
 *                shapes images: N = 4 with the 2N views as one batch (joint), N = 6 as two
 *                batches of N (separate)
 *   train_steps  three steps, each on new views (epochs e, e + 1, e + 2), of SGD with momentum
 *                and weight decay, and of LARS, joint (N = 4) and separate (N = 6): the state,
 *                the momentum buffers and the loss after every step
 *   end_to_end   image → two views → ResNet → head → NT-Xent → one SGD step, from the seed and
 *                four built-in shapes images (32 × 32), for implementations that reproduce the
 *                streams: the views, the initial state and the step follow from the images and
 *                the seed alone
 * All on ResNet-18 at width 1/16 (CIFAR stem) with LightlySSL's 2-layer head 16 → 8, small so
 * that no ReLU input lies near 0 (golden_margin.h): each case takes the first views (epochs)
 * whose every forward pass keeps GOLDEN_MARGIN, and records the measured minimum.
 *
 * The model of simclr.h sits above this module, so the caller passes its functions down
 * (golden_simclr): this file calls them through the pointers, never by name.
 */
#ifndef SIMCLR_EVAL_GOLDEN_TRAIN_H
#define SIMCLR_EVAL_GOLDEN_TRAIN_H

#include <stddef.h>

#include "../aug/batch.h"
#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../data/run_settings.h"
#include "../nn/ranks.h"
#include "golden.h"

struct simclr_model;

/* simclr_model_create, simclr_model_destroy, simclr_batch_of_views and simclr_train_step;
 * for `bench step` under mpirun, simclr_model_create_ranks and the job's ranks (else NULL). */
typedef struct golden_simclr {
    int (*model_create)(struct simclr_model *model, const simclr_config *config,
                        simclr_error *err);
    void (*model_destroy)(struct simclr_model *model);
    int (*batch_of_views)(struct simclr_model *model, aug_batch *workspace, const dataset *data,
                          const size_t *order, size_t step, const aug_config *augment,
                          size_t epoch, simclr_error *err);
    float (*train_step)(struct simclr_model *model, float lr);
    int (*model_create_ranks)(struct simclr_model *model, const simclr_config *config,
                              rank_group *ranks, simclr_error *err);
    rank_group *ranks;
} golden_simclr;

/* Views re-drawn at most this many times per case before the writer gives up (a three-step
 * case keeps the margin in 1 to 2 percent of candidates: measured 73 to 843 attempts, 5 s in
 * all on one core). */
#define GOLDEN_ATTEMPTS 3000

/* The golden_train_writer of golden_write_all: context is a const golden_simclr *. */
int golden_train_cases(golden_case *g, golden_train_kind kind, void *context);

#endif
