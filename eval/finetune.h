/*
 * eval/finetune.h — SimCLR's semi-supervised protocol (Chen et al. 2020, §6 and Appendix B.5):
 * the pretrained encoder f and a linear classifier on h trained end to end on a few labels.
 *
 * Shape legend: B labelled images per step, C channels, S the view side, d = feature_dim,
 * K classes.
 *
 *   network     s = fc(f(x)) = h·Wᵀ + b: the ResNet of a simclr train run (its projection head
 *               dropped) and torchvision's classifier fc (K outputs), batch norm in training
 *               mode; the whole network is trained. With --from-head-layer (SimCLRv2's
 *               choice), fc comes after the projection head's first layer, kept with its
 *               pretrained weights: s = fc(ReLU(BN1d(f(x)·W0ᵀ))) (nn/classifier.h)
 *   fc's start  nn.Linear's initialisation, drawn from the seed (the rest of the network as
 *               torchvision's, nn/params.h). --fc-init zero: W = 0, b = 0, as the official
 *               code fine-tunes (zero_init_logits_layer): the first step's gradient then
 *               reaches only fc (∂L/∂h = Wᵀ(p − y) = 0). On Fashion-MNIST with 1% of the labels
 *               it lowered both networks' accuracy, the one from scratch the more, so it is
 *               not the default
 *   loss        softmax cross-entropy, the mean over the batch:
 *                   L = (1/B) Σ_i −log softmax(s_i)[y_i]                  (eval/logistic.h)
 *   optimiser   SGD with Nesterov momentum 0.9 (torch.optim.SGD(nesterov=True)), no weight
 *               decay, learning rate 0.05·B/256, no warm-up, then cosine decay to 0 over the run
 *               (the paper's fine-tuning: Nesterov, 0.05·B/256, no warm-up, no regularisation;
 *               the official code's cosine schedule with 0 warm-up epochs)
 *   views       one view of each image per step, from the stream (seed, "view", epoch, image,
 *               0): random resized crop (scale m–1, ratio 3/4–4/3) to S, horizontal flip
 *               with probability 0.5, the pretraining run's normalisation; nothing else. m is
 *               the pretraining run's smallest crop (its aug_min_scale; 0.08, the paper's, for
 *               an encoder that does not record it): the paper crops the same way in
 *               pretraining and fine-tuning (the Inception crop, 0.08–1, in both)
 *   evaluation  the encoder's evaluation transform (eval/encoder.h: the centre view) and batch
 *               norm with running statistics; top-1 on the held-out split
 *
 * The labelled subset (--labels P): P = "1%" or "10%" (any fraction f in (0, 100]%) keeps
 * round(f·n_c) images of every class c, n_c being its training images (rounding halves up), so
 * every class keeps its share; P = "25" (a whole number) keeps 25 images of every class. Which
 * ones: class c's images in dataset order, shuffled by Fisher–Yates with the stream
 * (seed, "labl", c, 0, 0), the first ones kept; the subset is then listed in dataset order.
 * The same seed and P keep the same images on any machine and thread count. A class left with
 * no image, or with fewer images than asked, is an error naming it.
 *
 * An epoch: the labelled images shuffled by the stream (seed, "fine", epoch, 0, 0), batches of
 * B, the last partial batch dropped (as simclr train). A step allocates nothing.
 *
 * A checkpoint (format "simclr-c finetune 1") holds the network under torchvision's own names
 * (conv1.weight … layer4.1.bn2.num_batches_tracked, fc.weight, fc.bias: fine-tuned from the
 * encoder, it loads into torchvision.models.resnet18(num_classes=K) with no missing key when
 * the architecture is torchvision's; from the head's layer, also projection_head.layers.0/1),
 * the optimiser state (optimizer.<name>.momentum), the log (log.loss, log.learning_rate,
 * log.views_per_second, log.test_top1) and in __metadata__ the network's settings (the keys
 * of an encoder file, eval/encoder.h, with this run's seed and data), the settings below under
 * their keys, "classes", "labelled" (the subset's size), "epoch" and "step". A checkpoint of an
 * earlier version without "fc_init" resumes as torchvision's (the only one it had).
 */
#ifndef SIMCLR_EVAL_FINETUNE_H
#define SIMCLR_EVAL_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "../aug/batch.h"
#include "../aug/pipeline.h"
#include "../data/checkpoint.h"
#include "../data/dataset.h"
#include "../data/run_settings.h"
#include "../data/safetensors.h"
#include "../data/settings.h"
#include "../nn/classifier.h"
#include "../nn/error.h"
#include "../nn/optim.h"
#include "../nn/params.h"
#include "../nn/resnet.h"
#include "encoder.h"

#define FINETUNE_LABELS_MAX 24

/* The crop's smallest area fraction when neither --min-scale nor the pretrained checkpoint
 * gives one: the paper's (Inception crop, 0.08–1). */
#define FINETUNE_PAPER_MIN_SCALE 0.08

/* fc's initial values: zero (the official code's zero_init_logits_layer, its fine-tuning
 * setting) or nn.Linear's initialisation (uniform ±1/√d, drawn from the seed). */
typedef enum finetune_fc_init { FINETUNE_FC_ZERO, FINETUNE_FC_TORCHVISION } finetune_fc_init;

/* Everything that decides a fine-tuning run's bits. */
typedef struct finetune_settings {
    char pretrained[SIMCLR_DATA_MAX]; /* --checkpoint: a checkpoint of simclr train or export */
    char data[SIMCLR_DATA_MAX];       /* "": the pretraining run's data */
    char test_data[SIMCLR_DATA_MAX];  /* "": the test split of data */
    char labels[FINETUNE_LABELS_MAX]; /* "1%", "10%", or a count per class */
    uint64_t seed;                    /* the subset, fc's initialisation, order and views */
    int from_scratch;                 /* 1: the same network from random initialisation */
    int from_head;                    /* 1: fc after the projection head's first layer */
    finetune_fc_init fc_init;         /* fc's initial weights and bias */
    size_t epochs;                    /* 0: the paper's, 60 for at most 1% of the labels, else 30 */
    size_t batch;                     /* B */
    double base_lr;                   /* 0.05, scaled as lr_scaling says */
    lr_scaling scaling;
    float momentum, weight_decay;
    int nesterov;
    double min_scale;                 /* the crop's smallest area fraction (0: the
                                       * pretraining run's, resolved by finetune_model_create) */
    float p_hflip;
    size_t test_every;                /* test accuracy every E epochs (and after the last) */
} finetune_settings;

/* The settings' table: flags, --help, checkpoint keys and ranges (data/settings.h). */
extern const setting finetune_table[];
extern const size_t finetune_setting_count;

/* 10% of the labels, seed as simclr train's, fc as nn.Linear, 0 epochs (the paper's), B = 64,
 * 0.05 linear, Nesterov 0.9, no weight decay, min scale 0 (the pretraining run's), p_hflip
 * 0.5, a test every epoch. */
finetune_settings finetune_settings_default(void);

/* The labelled subset of the training split `data` (indices in dataset order, into *subset,
 * freed with simclr_free) and its size. */
int finetune_label_subset(size_t **subset, size_t *count, const dataset *data,
                          const char *labels, uint64_t seed, simclr_error *err);

/* The network being fine-tuned and everything a step needs, planned once. */
typedef struct finetune_model {
    finetune_settings settings;
    simclr_training network;      /* the encoder's settings: arch, stem, width, channels, view
                                     size and normalisation (model.*, augment.*) */
    resnet net;                   /* f, torchvision's names */
    classifier head;              /* fc, after the head's first layer with from_head */
    param_store store;
    resnet_activations acts;      /* for B views */
    classifier_activations head_acts;
    optimizer opt;
    aug_config augment;           /* crop, flip and the normalisation */
    float *views;                 /* (B, C, S, S) */
    int *labels;                  /* (B) */
    float *probabilities;         /* (B, K) */
    double *row_loss;             /* (B) */
    size_t classes, step;
} finetune_model;

/* Plans the network for `classes` classes from the settings recorded in `source` (a checkpoint
 * of simclr train, an encoder of simclr export, or a checkpoint of simclr finetune), initialises
 * it from settings->seed (torchvision's initialisation; fc then zero if settings->fc_init
 * says so), then copies the pretrained encoder from `source`'s tensors named
 * `prefix` + torchvision's name ("backbone." for a SimCLR checkpoint or encoder; prefix NULL: none copied, the --from-scratch network), and with
 * from_head the head's first layer by its own names (projection_head.layers.0 and .1: a head
 * with batch norm; its width is read from `source`). */
int finetune_model_create(finetune_model *model, const finetune_settings *settings,
                          const safetensors_file *source, const char *path, const char *prefix,
                          size_t classes, simclr_error *err);
void finetune_model_destroy(finetune_model *model);

/* The batch of one view each of images order[step·B … step·B + B − 1] of `data`, with their
 * labels, into model->views and model->labels. */
int finetune_batch_of_views(finetune_model *model, aug_batch *workspace, const dataset *data,
                            const size_t *order, size_t step, size_t epoch, simclr_error *err);

/* One step on model->views: s = fc(f(x)), the cross-entropy, backward through fc and f, the
 * optimiser's update with learning rate lr. Returns the loss. Allocates nothing. */
float finetune_train_step(finetune_model *model, float lr);

/* The learning-rate schedule of a run over `labelled` images (no warm-up, cosine to 0). */
lr_schedule finetune_schedule(const finetune_settings *settings, size_t labelled);

/* The epochs a run takes: settings->epochs, or the paper's when 0: 60 when the labels are a
 * fraction of at most 1%, else 30. */
size_t finetune_epochs(const finetune_settings *settings);

/* Top-1 accuracy of the network (evaluation mode) on the first `limit` (0: all) images of
 * `test`, through `evaluator`: an encoder made for this network (finetune_evaluator). */
int finetune_test_accuracy(double *top1, finetune_model *model, simclr_encoder *evaluator,
                           const dataset *test, size_t limit, simclr_error *err);

/* What finetune_run reports after every step (data/checkpoint.h); its accuracy is the test
 * split's top-1 at a tested epoch's last step, NaN elsewhere. */
typedef training_progress finetune_progress;

typedef int (*finetune_progress_fn)(const finetune_progress *progress, finetune_model *model,
                                    const training_log *history, void *context);

/* The fine-tuning loop: from where model->step stands to the run's end, every epoch's order of
 * the `labelled` images subset[0 …) of `data`, batches of B, the step at the scheduled rate, the
 * history (the test top-1 at each tested epoch's last step: history must keep an accuracy), the
 * callback (nonzero: stop). `test` is the held-out split, tested through an evaluator made by
 * finetune_evaluator. Stops with an error when the loss is not finite. Never prints. */
int finetune_run(finetune_model *model, const dataset *data, const size_t *subset,
                 size_t labelled, const dataset *test, simclr_encoder *evaluator,
                 training_log *history, finetune_progress_fn progress, void *context,
                 simclr_error *err);

/* The network's metadata (format "simclr-c finetune 1") and state, atomically. */
int finetune_checkpoint_write(const char *path, const finetune_model *model, size_t epoch,
                              size_t labelled, const training_log *history, simclr_error *err);

/* The settings, completed epochs and steps a fine-tuning checkpoint records. */
int finetune_checkpoint_settings(const safetensors_file *file, const char *path,
                                 finetune_settings *settings, size_t *classes, size_t *epoch,
                                 size_t *step, simclr_error *err);

/* The same read from the checkpoint's file, the settings and completed epochs only: what
 * resuming the run starts from. */
int finetune_resume_settings(const char *path, finetune_settings *settings, size_t *epoch,
                             simclr_error *err);

/* Restores state, optimiser and step of a model made from the same file; the log into
 * `history` (it must have room and keep an accuracy). */
int finetune_checkpoint_restore(finetune_model *model, const safetensors_file *file,
                                const char *path, training_log *history, simclr_error *err);

/* The labelled subset as CSV (index,label,class,path: the dataset index, the class's number and
 * name, the image's file for image folders), atomically. */
int finetune_write_labelled(const char *path, const dataset *data, const size_t *subset,
                            size_t labelled, simclr_error *err);

/* An encoder (evaluation mode, for `capacity` images at a time) shaped like the model, to test
 * it: finetune_test_accuracy copies the model's state into it. */
int finetune_evaluator(simclr_encoder *evaluator, const finetune_model *model, size_t capacity,
                       simclr_error *err);

/* A fine-tuning run's parts, opened together (finetune_session_open). */
typedef struct finetune_session {
    finetune_model model;
    simclr_encoder evaluator;     /* to test the model (finetune_evaluator) */
    training_log log;             /* the run's history, the test top-1 among it */
    dataset train, test;          /* the training split and the held-out images */
    size_t *subset, labelled;     /* the labelled subset of train (finetune_label_subset) */
    size_t epochs, steps_per_epoch;
    int opened;                   /* the splits are open */
} finetune_session;

/* Opens a run: reads `from` — the pretrained encoder (a checkpoint of simclr train or an
 * encoder of simclr export; anything else is an error), or with `resume` the run's own
 * checkpoint — takes the pretraining run's data when settings->data is empty, opens the splits
 * (the test split must be held out), draws the labelled subset, makes the network (the
 * pretrained encoder's weights, or with from_scratch none), restores the resumed state and
 * history, makes the evaluator and writes the subset to `labelled_csv` (finetune_write_labelled;
 * NULL: not written). On failure everything is closed. */
int finetune_session_open(finetune_session *session, finetune_settings *settings,
                          const char *from, int resume, const char *labelled_csv,
                          simclr_error *err);
void finetune_session_close(finetune_session *session);

#endif
