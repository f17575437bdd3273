/*
 * data/run_settings.h — what a SimCLR run is made of (the model's configuration and the run's
 * settings) and the one table that lists every setting: its flag, its checkpoint metadata key,
 * its type, range and help. `simclr train` parses its flags and prints its --help from the
 * table; checkpoints record every keyed entry as text and their reader parses each back with
 * the same range check, so flags, help and files cannot drift apart.
 *
 * Metadata values are decimal text that reads back to the same bits (floats with 9 significant
 * digits, doubles with 17); enums by name (resnet18, cifar, sgd, ntxent, ...).
 */
#ifndef SIMCLR_DATA_RUN_SETTINGS_H
#define SIMCLR_DATA_RUN_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "../aug/pipeline.h"
#include "../loss/contrastive.h"
#include "../nn/error.h"
#include "../nn/head.h"
#include "../nn/optim.h"
#include "../nn/resnet.h"
#include "dataset.h"
#include "safetensors.h"
#include "settings.h"

/* How the 2N views of a batch go through the network:
 *   SIMCLR_VIEWS_JOINT     one batch of 2N (view 0 of every image, then view 1): batch-norm
 *                          statistics over both views together, as the official code does
 *   SIMCLR_VIEWS_SEPARATE  two batches of N, z0 = g(f(view 0)) then z1 = g(f(view 1)), each
 *                          with its own batch-norm statistics (running statistics updated
 *                          twice a step), as LightlySSL's examples do */
typedef enum simclr_views_forward {
    SIMCLR_VIEWS_JOINT = 0,
    SIMCLR_VIEWS_SEPARATE = 1
} simclr_views_forward;

typedef struct simclr_config {
    resnet_config encoder;        /* num_classes must be 0 */
    projection_head_config head;  /* in_dim is set from the encoder; hidden 0: feature size */
    contrastive_loss loss;
    optimizer_config optimizer;
    uint64_t seed;                /* weight initialisation, data order and views */
    size_t batch;                 /* N images per step, 2N views */
    size_t channels, height, width; /* of one view */
    simclr_views_forward views_forward;
    size_t shards;                /* G: the batch's sums are made per shard of N/G images and
                                     added pairwise (nn/ranks.h); any number of ranks dividing G
                                     gives the same bits. 0 is 1 */
    size_t online_classes;        /* K of the online classifier on h (0: none); not a setting of
                                     the table: a checkpoint has one when it holds its tensors */
} simclr_config;

/* Everything that decides a run's bits: with the same simclr_training, a run gives the same
 * weights on any thread count, and a resumed run the same weights as an uninterrupted one. */
#define SIMCLR_DATA_MAX 240   /* longest --data SRC a checkpoint records */
typedef struct simclr_training {
    simclr_config model;
    aug_config augment;
    char preset[16];              /* the augmentation preset the overrides started from */
    char data[SIMCLR_DATA_MAX];   /* --data SRC */
    size_t limit;                 /* train on the first `limit` images only (0: all) */
    size_t epochs;                /* total epochs of the run */
    double base_lr;               /* before scaling */
    lr_scaling scaling;
    double warmup_epochs;
} simclr_training;

/* The format names of the files whose metadata holds run settings. */
#define RUN_SETTINGS_CHECKPOINT_FORMAT "simclr-c checkpoint 2" /* simclr train */
#define RUN_SETTINGS_ENCODER_FORMAT "simclr-c encoder 1"       /* simclr export */
#define RUN_SETTINGS_FINETUNE_FORMAT "simclr-c finetune 1"     /* simclr finetune */

/* The most metadata entries a file of run settings has (checked when the table is compiled). */
#define RUN_SETTINGS_METADATA_MAX 64

/* Every setting of a run, in the order of `simclr train --help`. */
extern const setting run_settings[];
extern const size_t run_setting_count;

/* The keys an encoder file records: enough to rebuild f and its input transform. */
extern const char *const run_settings_encoder_keys[];

/* The names of the table's enum choices, for other tables that offer the same choices. */
extern const char *const run_settings_arch_names[];
extern const int run_settings_arch_values[];
extern const char *const run_settings_stem_names[];
extern const int run_settings_stem_values[];
extern const char *const run_settings_views_names[];

/* Checks every setting against its range and the settings against each other (crop scale and
 * ratio and blur sigma ranges in order, a known preset, views of the model's size). `source`
 * names where the settings came from in the error. */
int run_settings_check(const simclr_training *training, const char *source, simclr_error *err);

/* The augmentation part of the check alone: a known preset, ranges in order. */
int run_settings_check_augment(const simclr_training *training, const char *source,
                               simclr_error *err);

/* Fills `table` (room for run_setting_count + 3 entries) with "format", the keyed settings
 * listed in `keys` (NULL: all), and with keys NULL also "epoch" and "step". Returns the count. */
size_t run_settings_to_metadata(safetensors_metadata *table, const char *format,
                                const simclr_training *training, const char *const *keys,
                                size_t epoch, size_t step);

/* Reads the listed settings (NULL: all) from a file's metadata, each checked against its range
 * and choices exactly as its flag is (NaN, ±inf, a value out of range, a fraction where a whole
 * number is wanted, an unknown name are errors), then the augmentation's ranges in order (crop
 * scale, crop ratio, blur sigma: the smallest ≤ the largest, when both are listed); the other
 * fields are zero. Every error names the file and the key. */
int run_settings_from_metadata(simclr_training *training, const safetensors_file *file,
                               const char *path, const char *const *keys, simclr_error *err);

/* The defaults that follow from the data and from other settings, for the entries the user did
 * not give (given[i] for run_settings[i]; NULL: none given). run_settings_preset: the
 * augmentation preset from the data (gray for 1-channel images, cifar for 32×32, imagenet
 * otherwise) and its values, over which the flags then go. run_settings_derive: the stem from
 * the view size (cifar up to 64 pixels, imagenet above), weight decay 1e-6 for LARS (the
 * paper's), the model's view size and channels. */
int run_settings_preset(simclr_training *training, const unsigned char *given,
                        const dataset *data, simclr_error *err);
void run_settings_derive(simclr_training *training, const unsigned char *given,
                         const dataset *data);

/* The training settings and progress (completed epochs, optimiser steps) a checkpoint of
 * simclr train records, every value checked as a flag would be; model.online_classes is the
 * length of its online_classifier.bias when the run had the online classifier, else 0. */
int simclr_checkpoint_training(const safetensors_file *file, const char *path,
                               simclr_training *training, size_t *epoch, size_t *step,
                               simclr_error *err);

/* ResNet-18 with the CIFAR stem at 32×32, LightlySSL's 2-layer head with batch norm (128
 * outputs), NT-Xent with τ = 0.5, SGD with momentum 0.9 and weight decay 5e-4, N = 64, views
 * through the network jointly. */
simclr_config simclr_config_default(void);

/* The default run: simclr_config_default(), the cifar preset, builtin:shapes, 10 epochs, SGD
 * with base learning rate 0.6 scaled linearly (0.6·N/256), one warm-up epoch. */
simclr_training simclr_training_default(void);

#endif
