/*
 * eval/encoder.h — the trained encoder f of a SimCLR run, for embedding images: the API a C
 * program uses to turn images into representations h, without the rest of training.
 *
 * It loads from a checkpoint of `simclr train` or from the smaller file of `simclr export`
 * (the backbone.* tensors and the metadata below), or from a checkpoint of `simclr finetune`
 * (torchvision's own names, conv1.weight … fc.weight, fc.bias: the encoder with its classifier),
 * from a path or from the file's bytes in memory (e.g. a const array compiled into firmware).
 * The metadata it reads (format "simclr-c checkpoint 2", "simclr-c encoder 1" or "simclr-c
 * finetune 1"): arch, stem, width, channels, image_size, aug_size, aug_normalize,
 * aug_mean_0..2, aug_std_0..2, seed and data.
 *
 * Embedding is torchvision's evaluation transform and the network in evaluation mode: each image
 * (C, H, W) in [0, 1] is resized to the view size when it differs (antialiased bilinear, as
 * torchvision's resize(antialias=True)), normalised with the run's mean and std, and passed
 * through f with batch norm using its running statistics. Every feature depends only on its own
 * image: the same bits for any batch size and thread count.
 *
 * Shape legend: n images, C channels, H × W pixels, d = feature_dim (512 for ResNet-18 at width
 * 1, 2048 for ResNet-50).
 */
#ifndef SIMCLR_EVAL_ENCODER_H
#define SIMCLR_EVAL_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "../aug/pipeline.h"
#include "../data/dataset.h"
#include "../data/run_settings.h"
#include "../nn/classifier.h"
#include "../nn/error.h"
#include "../nn/params.h"
#include "../nn/resnet.h"
#include "features.h"
#include "report.h"

/* The encoder f of a run, in evaluation mode (batch norm with running statistics), with the
 * view size and normalisation it was trained with: from a checkpoint of simclr train or a file
 * of simclr export. Holds no gradients, no backward buffers and no optimiser state. */
typedef struct simclr_encoder {
    resnet net;
    param_store store;
    resnet_activations acts;      /* for `capacity` images */
    size_t classes;               /* K of a fine-tuned network's classifier fc; 0: none */
    classifier head;              /* with classes > 0: fc (after the head's layer) */
    classifier_activations head_acts;
    size_t capacity;
    aug_config view;              /* size, normalize, mean, std: the evaluation transform */
    size_t channels;
    uint64_t seed;
    char data[SIMCLR_DATA_MAX];   /* the run's --data */
    float *inputs;                /* (capacity, channels, size, size) the transformed images */
    float *scratch;               /* resize workspace, one slot per thread */
    size_t scratch_floats, scratch_stride; /* in all; one slot's */
} simclr_encoder;

/* From a file, or from the file's bytes in memory (`name` names them in errors). random_init:
 * the weights the run started from (the same seeded initialisation) instead of the trained
 * ones. capacity: the most images one simclr_encoder_embed call takes. */
int simclr_encoder_load(simclr_encoder *encoder, const char *path, int random_init,
                        size_t capacity, simclr_error *err);
int simclr_encoder_load_bytes(simclr_encoder *encoder, const uint8_t *bytes, size_t size,
                              const char *name, int random_init, size_t capacity,
                              simclr_error *err);
void simclr_encoder_destroy(simclr_encoder *encoder);

/* An encoder of the given network (config->num_classes = K > 0: with a fine-tuned network's
 * classifier of nn/classifier.h, `hidden` wide after the head's layer or 0, under
 * torchvision's own names; else backbone.*) initialised from `seed`, without a file: for a
 * caller that fills its state itself (simclr_encoder_copy_state). Destroy it also on failure. */
int simclr_encoder_create(simclr_encoder *encoder, const resnet_config *config, size_t hidden,
                          const aug_config *view, uint64_t seed, const char *data,
                          size_t capacity, simclr_error *err);

/* h = f(x) for n ≤ capacity images of (channels, height, width) in [0, 1], each resized to the
 * view size (antialiased bilinear, when its size differs) and normalised as in training. */
int simclr_encoder_embed(simclr_encoder *encoder,
                         float *features,     /* (n, feature_dim) */
                         const float *images, /* (n, channels, height, width) */
                         size_t n, size_t height, size_t width, simclr_error *err);

/* Writes the backbone alone (backbone.* tensors) with what using it needs in __metadata__
 * (format "simclr-c encoder 1", arch, stem, width, channels, image_size and the normalisation). */
int simclr_encoder_export(const char *path, const simclr_encoder *encoder, simclr_error *err);

/* Features of the first `limit` (0: all) images of a dataset, `batch` at a time. */
int simclr_encoder_features(feature_set *features, simclr_encoder *encoder, const dataset *data,
                            size_t limit, simclr_error *err);

/* The same with the classifier's scores (logits, K per image) instead of h: for a fine-tuned
 * network (classes > 0). */
int simclr_encoder_scores(feature_set *scores, simclr_encoder *encoder, const dataset *data,
                          size_t limit, simclr_error *err);

/* Top-1, top-5 and per-class accuracy of a fine-tuned network's own classifier (classes > 0)
 * on the first `limit` (0: all) images of `data`, through their evaluation views. */
int simclr_encoder_classify(classification_report *report, simclr_encoder *encoder,
                            const dataset *data, size_t limit, simclr_error *err);

/* Copies a fine-tuned network's state from `store` (entries of the same names, the training
 * store of eval/finetune.h) into the encoder, whose store must have been planned alike. */
int simclr_encoder_copy_state(simclr_encoder *encoder, const param_store *store,
                              simclr_error *err);

/* The two splits for a fine-tuned network (dataset_open_splits with its channels and seed),
 * which must have as many classes as its classifier. */
int simclr_encoder_open_splits(dataset *train, dataset *test, const char *source,
                               const char *test_source, const simclr_encoder *encoder,
                               simclr_error *err);

/* Opens both splits of `source` — or the training split of `source` and all of `test_source`
 * when that is given (not NULL or "": the held-out images, named by the user) — and computes
 * the features of their first train_limit / test_limit images (0: all): the encoder's, or the
 * pixels themselves when encoder is NULL. On failure nothing is left open or allocated. */
int simclr_encoder_split_features(feature_set *train, feature_set *test, dataset *train_data,
                                  dataset *test_data, const char *source,
                                  const char *test_source, uint64_t seed,
                                  simclr_encoder *encoder, size_t train_limit,
                                  size_t test_limit, simclr_error *err);

/* Which splits simclr_encoder_write_features writes. */
#define SIMCLR_SPLIT_BOTH 0
#define SIMCLR_SPLIT_TRAIN 1
#define SIMCLR_SPLIT_TEST 2

/* The features of the chosen splits of `source` (NULL or "": the run's own data; test_source
 * as above), written to `path` as feature_sets_write does (eval/features.h), naming
 * `checkpoint`; the two counts (0 for a split left out) in counts. */
int simclr_encoder_write_features(simclr_encoder *encoder, const char *source,
                                  const char *test_source, int split, const char *path,
                                  const char *checkpoint, size_t counts[2], simclr_error *err);

#endif
