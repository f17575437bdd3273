/*
 * simclr.h — the public API of simclr-c, a C99 reference implementation of SimCLR
 * (Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
 * Representations", arXiv 2002.05709).
 *
 * Include this one header and link the library: after `make install PREFIX=P`,
 *     cc prog.c $(PKG_CONFIG_PATH=P/lib/pkgconfig pkg-config --cflags --libs simclr)
 * (that is -IP/include/simclr -LP/lib -lsimclr -lm, plus -fopenmp when the library was built
 * with OpenMP). This header declares Algorithm 1 (simclr.c); the modules below it are each
 * documented at the top of their own header:
 *
 *   nn/error.h     errors as values: functions return SIMCLR_OK or SIMCLR_FAILED and fill a
 *                  simclr_error with the reason; the library never prints or exits
 *   nn/size_arithmetic.h  size_t products and sums checked for overflow
 *   nn/tensor.h    the tensor type (shape + contiguous float32)
 *   nn/memory.h    counted allocation (a training step allocates nothing)
 *   nn/rng.h       PCG32 + SplitMix64 streams, specified exactly
 *   nn/parallel.h  thread count (OpenMP optional; results are the same bits for any count)
 *   nn/timer.h     wall-clock time and peak memory, for reports only
 *   nn/gemm.h      C = alpha·op(A)·op(B) + beta·C: naive reference and packed fast path
 *   nn/conv2d.h, nn/batchnorm.h, nn/pointwise.h, nn/pool.h, nn/linear.h
 *                  the layers, each a forward/backward pair with a naive reference
 *   nn/params.h    the flat parameter store with torchvision's names
 *   nn/resnet.h    ResNet-18/34/50 (torchvision layout; ImageNet and CIFAR stems)
 *   nn/head.h      the projection head (LightlySSL SimCLRProjectionHead)
 *   nn/optim.h     SGD, LARS, warm-up + cosine schedule
 *   loss/contrastive.h  NT-Xent (paper Eq. 1), NT-Logistic, margin triplet: forward, backward
 *   loss/contrastive_cache.h  what the losses keep between forward and backward
 *   loss/memory_bank.h  NT-Xent against a FIFO memory bank of negatives (LightlySSL)
 *   loss/cosine.h       normalised rows and cosine matrix, shared by the losses
 *   aug/color.h    brightness, contrast, saturation, hue, grayscale, normalise (torchvision)
 *   aug/geometry.h RandomResizedCrop sampling, antialiased bilinear resize, flips
 *   aug/blur.h     Gaussian blur with reflected borders
 *   aug/pipeline.h the view pipeline (crop, flip, jitter, grayscale, blur, normalise), presets,
 *                  two views per image from per-view streams
 *   aug/batch.h    the workspace of a batch of views of dataset images
 *   aug/preview.h  a grid of views for people to look at (simclr augment)
 *   data/file_io.h   reading whole files, atomic writes, CRC-32 and Adler-32
 *   data/shapes.h    the built-in procedural dataset (builtin:shapes)
 *   data/image_io.h  PNG and PPM/PGM writing, PPM/PGM reading
 *   data/png.h, data/jpeg.h, data/image_file.h  PNG and JPEG reading, any image by content
 *   data/inflate.h   DEFLATE and gzip decompression
 *   data/idx.h       IDX files (MNIST, Fashion-MNIST), plain or .gz
 *   data/tar.h       ustar archives in memory
 *   data/cifar.h     CIFAR-10/100 binary batches, from the .tar.gz or a folder
 *   data/safetensors.h  safetensors read and write
 *   data/decimal.h   a double as decimal text, the same characters on every C library
 *   data/dataset.h   one interface over every dataset, and the --data SRC syntax
 *   data/settings.h  tables of named settings: flags, metadata, ranges, help
 *   data/run_settings.h  the configuration types and the one table of a run's settings
 *   data/checkpoint.h   parameters, optimiser state and log as one safetensors file
 *   data/run_files.h    log.csv, loss.svg and the run's folder
 *   eval/features.h  raw-pixel features, standardisation, feature files
 *   eval/encoder.h   the trained encoder: load (path or bytes), embed, export
 *   eval/knn.h       the weighted kNN classifier (LightlySSL's benchmark protocol)
 *   eval/logistic.h  softmax cross-entropy and L2 logistic regression
 *   eval/lbfgs.h     L-BFGS, which fits the linear probe to convergence
 *   eval/report.h    top-1/top-5, per-class accuracy, confusion matrix
 *   eval/probe.h     the linear probe and the kNN monitor on two feature sets
 *   eval/finetune.h  fine-tuning the encoder and a classifier on a few labels (semi-supervised)
 *   eval/pretrain.h  the model's plan and checkpoints; a pretraining run's parts opened together
 *   eval/golden.h    reference outputs of every op (simclr golden), for other implementations
 *   eval/golden_streams.h  ... of the random streams, the initial weights and the view pipeline
 *   eval/golden_train.h    ... of training steps, several steps and a whole augmented step
 *   eval/golden_margin.h   how far a case's ReLU inputs lie from 0 (no knife edges)
 *   eval/bench.h     benchmarks of the kernels (simclr bench)
 */
#ifndef SIMCLR_H
#define SIMCLR_H

#define SIMCLR_VERSION "0.2.0"

#include "nn/error.h"
#include "nn/gemm.h"
#include "nn/parallel.h"
#include "nn/rng.h"
#include "nn/size_arithmetic.h"
#include "nn/tensor.h"
#include "nn/timer.h"
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
#include "aug/batch.h"
#include "aug/blur.h"
#include "aug/color.h"
#include "aug/geometry.h"
#include "aug/pipeline.h"
#include "aug/preview.h"
#include "data/file_io.h"
#include "data/image_io.h"
#include "data/image_file.h"
#include "data/jpeg.h"
#include "data/png.h"
#include "data/cifar.h"
#include "data/checkpoint.h"
#include "data/dataset.h"
#include "data/decimal.h"
#include "data/idx.h"
#include "data/inflate.h"
#include "data/run_files.h"
#include "data/safetensors.h"
#include "data/settings.h"
#include "data/run_settings.h"
#include "data/shapes.h"
#include "data/tar.h"
#include "loss/contrastive.h"
#include "loss/contrastive_cache.h"
#include "loss/cosine.h"
#include "loss/memory_bank.h"
#include "eval/bench.h"
#include "eval/encoder.h"
#include "eval/evaluation.h"
#include "eval/features.h"
#include "eval/knn.h"
#include "eval/lbfgs.h"
#include "eval/logistic.h"
#include "eval/online_classifier.h"
#include "eval/predictions.h"
#include "eval/probe.h"
#include "eval/report.h"
#include "eval/finetune.h"
#include "eval/golden.h"
#include "eval/golden_margin.h"
#include "eval/golden_streams.h"
#include "eval/golden_train.h"

/* ------------------------------------------------------------------------------------------ */
/* The model: encoder f, projection head g, contrastive loss, optimiser                        */
/* ------------------------------------------------------------------------------------------ */

typedef struct simclr_model {
    simclr_config config;
    param_store store;            /* backbone.* and projection_head.* */
    resnet encoder;
    projection_head head;
    /* Data parallel (nn/ranks.h): K ranks (ranks NULL: one process, K = 1) each hold n = N/K
     * images of the batch, G/K of its G shards (config.shards); the encoder runs on the rank's
     * views, and its h are gathered so the head, the loss and the online classifier run on the
     * whole batch's, the same on every rank. */
    rank_group *ranks;
    rank_layout layout;           /* where the batch's views sit (n = layout.local) */
    double *rank_scratch;         /* the batch norms' sums exchanged between ranks */
    resnet_activations encoder_acts[2]; /* joint: [0] for the rank's 2n views; separate: n each */
    head_activations head_acts[2];      /* joint: [0] for the 2N views; separate: N each */
    contrastive_cache loss_cache;
    float *loss_memory;
    float *views;                 /* (2n, C, H, W): the rank's views, in the encoder's order
                                     (rank_layout_view_row) */
    float *features;              /* (2N, F) h of the whole batch: view 0 of every image, then
                                     view 1 (the head's input) */
    float *gathered;              /* (2N/passes, F) one pass's h of every rank, in rank order */
    optimizer opt;
    size_t step;                  /* optimiser steps taken */
    /* The online classifier (paper Appendix B.6), when config.online_classes = K > 0: a linear
     * classifier on the 2N views' h behind a stop-gradient, trained on the images' labels by
     * the same optimiser (eval/online_classifier.h). Its tensors come last in the store, so
     * every other tensor, the initialisation included, is the same bits with and without it. */
    online_classifier online;
} simclr_model;

/* simclr_config_default() and simclr_training_default(), the defaults: data/run_settings.h.
 * simclr_model_create and _destroy, simclr_steps_per_epoch and the checkpoints of a model:
 * eval/pretrain.h. */

/* ------------------------------------------------------------------------------------------ */
/* Algorithm 1                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Algorithm 1's minibatch: images order[step·N … step·N + N − 1] of `data` (order: the epoch's
 * order, workspace->order when NULL), two augmented views each of the rank's n of them (images
 * r·n … r·n + n − 1 of the batch; workspace made for n), into model->views (rank_layout_view_row;
 * one shard: view 0 of every image, then view 1). Each view comes from its own stream (seed, epoch, image index,
 * view), so the views do not depend on the batch's composition or the thread count. Fails
 * when the data's channels or the views' size differ from the model's, or when the step lies
 * beyond the epoch (order holds data->count indices). */
int simclr_batch_of_views(simclr_model *model, aug_batch *workspace,
                          const dataset *data, const size_t *order, size_t step,
                          const aug_config *augment, size_t epoch, simclr_error *err);

/* One step of Algorithm 1 on model->views: h = f(x̃), z = g(h) for the 2N views (jointly or
 * separately, as configured), the contrastive loss, backward through g and f, the optimiser's
 * update with learning rate lr. Returns the loss. Allocates nothing. */
float simclr_train_step(simclr_model *model, float lr);

/* The learning-rate schedule of a run over `images` training images: base·N/256 (linear) or
 * base·√N (sqrt), linear warm-up over round(warmup_epochs · steps per epoch) steps, then cosine
 * decay to 0 at steps per epoch · epochs. */
lr_schedule simclr_training_schedule(const simclr_training *training, size_t images);

/* What simclr_train reports after every step (data/checkpoint.h); its accuracy is the online
 * classifier's top-1 on the step's views, NaN without one. */
typedef training_progress simclr_progress;

/* Called after every step; returns 0 to go on, anything else to stop after this step. */
typedef int (*simclr_progress_fn)(const simclr_progress *progress, simclr_model *model,
                                  const training_log *history, void *context);

/* Algorithm 1: for every epoch from where model->step stands (0 for a new run, a restored
 * checkpoint's step to resume) to training->epochs, the epoch's order of the first
 * training->limit images of `data`, and for every batch of N: the views, the step at the
 * scheduled learning rate, the history, the callback. Stops with an error naming the step when
 * the loss is not finite, or when a parameter, running statistic or optimiser state is (the
 * error names the tensor; the loss can stay finite while a running variance overflows): both
 * are found before that step's callback, so a callback that saves checkpoints never sees a
 * diverged model. Returns SIMCLR_OK when the run is complete or the callback asked to stop.
 * Never prints. */
int simclr_train(simclr_model *model, const simclr_training *training, const dataset *data,
                 training_log *history, simclr_progress_fn progress, void *context,
                 simclr_error *err);

#include "eval/pretrain.h" /* after simclr_model, which it plans, saves and holds */

#endif
