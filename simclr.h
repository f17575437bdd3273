/*
 * simclr.h — the public API of simclr-c, a C99 reference implementation of SimCLR
 * (Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations", arXiv 2002.05709).
 *
 * Include this one header and link libsimclr.a (and -lm, plus -fopenmp if the library was built
 * with OpenMP). The modules, each documented at the top of its own header:
 *
 *   nn/error.h     errors as values: functions return SIMCLR_OK or SIMCLR_FAILED and fill a
 *                  simclr_error with the reason; the library never prints or exits
 *   nn/tensor.h    the tensor type (shape + contiguous float32) and checked size arithmetic
 *   nn/rng.h       PCG32 + SplitMix64 streams, specified exactly (SPEC.md §1)
 *   nn/parallel.h  thread count (OpenMP optional; results are the same bits for any count)
 *   nn/gemm.h      C = alpha·op(A)·op(B) + beta·C: naive reference and packed fast path
 *   nn/conv2d.h (nn/winograd.h), nn/batchnorm.h, nn/pointwise.h, nn/pool.h, nn/linear.h
 *                  the layers, each a forward/backward pair with a naive reference
 *   nn/params.h    the flat parameter store with torchvision's names
 *   nn/resnet.h    ResNet-18/34/50 (torchvision layout; ImageNet and CIFAR stems)
 *   nn/head.h      the projection head (LightlySSL SimCLRProjectionHead)
 *   nn/optim.h     SGD, LARS, warm-up + cosine schedule
 *   nn/memory.h    counted allocation (a training step allocates nothing)
 *   loss/contrastive.h  NT-Xent (paper Eq. 1), NT-Logistic, margin triplet: forward, backward
 *   loss/memory_bank.h  NT-Xent against a FIFO memory bank of negatives (LightlySSL)
 *   loss/cosine.h       normalised rows and cosine matrix, shared by the losses
 *   aug/color.h    brightness, contrast, saturation, hue, grayscale, normalise (torchvision)
 *   aug/geometry.h RandomResizedCrop sampling, antialiased bilinear resize, flips
 *   aug/blur.h     Gaussian blur with reflected borders
 *   aug/pipeline.h the view pipeline (crop, flip, jitter, grayscale, blur, normalise), presets,
 *                  two views per image from per-view streams
 *   data/shapes.h  the built-in procedural dataset (builtin:shapes)
 *   data/image_io.h  PNG and PPM/PGM writers (atomic)
 *   data/inflate.h   DEFLATE and gzip decompression
 *   data/idx.h       IDX files (MNIST, Fashion-MNIST), plain or .gz
 *   data/tar.h       ustar archives in memory
 *   data/cifar.h     CIFAR-10/100 binary batches, from the .tar.gz or a directory
 *   data/safetensors.h  safetensors read and write (checkpoints, reference outputs)
 *   data/dataset.h   one interface over every dataset, and the --data SRC syntax
 *   eval/features.h  frozen-encoder (or raw-pixel) features and their standardisation
 *   eval/knn.h       the weighted kNN classifier (LightlySSL's benchmark protocol)
 *   eval/logistic.h  the linear probe: softmax cross-entropy and L2 logistic regression
 *   eval/lbfgs.h     L-BFGS, which fits the probe to convergence
 *   eval/report.h    top-1/top-5, per-class accuracy, confusion matrix
 *   eval/golden.h    reference outputs of every op (simclr golden), for other implementations
 */
#ifndef SIMCLR_H
#define SIMCLR_H

#define SIMCLR_VERSION "0.1.0"

#include "nn/error.h"
#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/rng.h"
#include "nn/size_arithmetic.h"
#include "nn/tensor.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/head.h"
#include "nn/linear.h"
#include "nn/memory.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/pointwise.h"
#include "nn/pool.h"
#include "nn/resnet.h"
#include "aug/blur.h"
#include "aug/color.h"
#include "aug/geometry.h"
#include "aug/pipeline.h"
#include "data/file_io.h"
#include "data/image_io.h"
#include "data/cifar.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/inflate.h"
#include "data/safetensors.h"
#include "data/shapes.h"
#include "data/tar.h"
#include "loss/contrastive.h"
#include "loss/contrastive_cache.h"
#include "loss/cosine.h"
#include "loss/memory_bank.h"
#include "eval/features.h"
#include "eval/knn.h"
#include "eval/lbfgs.h"
#include "eval/logistic.h"
#include "eval/report.h"
#include "eval/golden.h"


/* ------------------------------------------------------------------------------------------ */
/* SimCLR (simclr.c): the encoder f, the head g, the loss and the optimiser, and one step of   */
/* the paper's Algorithm 1.                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct simclr_config {
    resnet_config encoder;        /* num_classes must be 0 */
    projection_head_config head;  /* in_dim is set from the encoder */
    contrastive_loss loss;
    optimizer_config optimizer;
    uint64_t seed;                /* weight initialisation and everything else random */
    size_t batch;                 /* N images per step, 2N views */
    size_t channels, height, width; /* of one view */
} simclr_config;

typedef struct simclr_model {
    simclr_config config;
    param_store store;            /* backbone.* and projection_head.* */
    resnet encoder;
    projection_head head;
    resnet_activations encoder_acts; /* for 2N views */
    head_activations head_acts;      /* for 2N views */
    contrastive_cache loss_cache;
    float *loss_memory;
    float *views;                 /* (2N, C, H, W): view 0 of every image, then view 1 */
    optimizer opt;
    size_t step;                  /* optimiser steps taken */
} simclr_model;

/* The defaults of the paper's CIFAR setting on a ResNet-18 with the CIFAR stem (SPEC §4-5):
 * NT-Xent τ = 0.5, SGD momentum 0.9, weight decay 5e-4, head 2 layers with batch norm. */
simclr_config simclr_config_default(void);

/* Plans, allocates and initialises everything a training step needs. */
int simclr_model_create(simclr_model *model, const simclr_config *config, simclr_error *err);
void simclr_model_destroy(simclr_model *model);

/* One step of Algorithm 1 on model->views (filled by the caller): both views through f and g as
 * one batch of 2N (SPEC §5.1), NT-Xent (or the configured loss), backward, optimiser update with
 * learning rate lr. Returns the loss. Allocates nothing. */
float simclr_train_step(simclr_model *model, float lr);

/* ------------------------------------------------------------------------------------------ */
/* Training runs and their checkpoints (SPEC §7)                                               */
/* ------------------------------------------------------------------------------------------ */

#define SIMCLR_DATA_MAX 240   /* longest --data SRC a checkpoint records */

/* Everything that decides a run's bits besides the seed inside `model`: with the same
 * simclr_training, a run gives the same weights on any thread count, and a resumed run the
 * same weights as an uninterrupted one. */
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

/* Steps per epoch: ⌊images / batch⌋ (the last partial batch is dropped, as the official code
 * and LightlySSL's examples do). */
size_t simclr_steps_per_epoch(size_t images, size_t batch);

/* The learning-rate schedule of a run over `images` training images. */
lr_schedule simclr_training_schedule(const simclr_training *training, size_t images);

/* Writes a checkpoint atomically (temporary file + rename):
 *   backbone.*, projection_head.*          the model's state by torchvision/Lightly names
 *                                          (F32, num_batches_tracked I64)
 *   optimizer.<parameter name>.momentum    SGD's buf or LARS's v, per parameter
 *   log.loss, log.learning_rate, log.views_per_second   (step) the per-step history so far
 *   __metadata__                           the simclr_training, "epoch" (completed epochs) and
 *                                          "step" (optimiser steps), all as decimal strings
 * history is (3, step) floats: losses, then learning rates, then views/s; NULL when step is 0. */
int simclr_checkpoint_write(const char *path, const simclr_model *model,
                            const simclr_training *training, size_t epoch,
                            const float *history, simclr_error *err);

/* The training settings and progress a checkpoint records. */
int simclr_checkpoint_training(const safetensors_file *file, const char *path,
                               simclr_training *training, size_t *epoch, size_t *step,
                               simclr_error *err);

/* Copies every entry of `store` from the file by name, checking shapes and dtypes (entries the
 * store does not have are ignored; one the store has and the file lacks is an error). */
int simclr_store_load(param_store *store, const safetensors_file *file, const char *path,
                      simclr_error *err);

/* Restores a model created from the checkpoint's training settings: state, optimiser and step;
 * history (3, step) floats receives the log when not NULL. */
int simclr_checkpoint_restore(simclr_model *model, const safetensors_file *file, const char *path,
                              float *history, simclr_error *err);

#endif
