/*
 * data/dataset.h — one interface for every dataset: count, channels, height, width, labels,
 * class names, an image as float CHW in [0, 1], and a shuffled order per epoch.
 *
 * Sources (the command line's --data SRC):
 *   builtin:shapes        the procedural dataset of data/shapes.h (32×32 RGB, 6 classes)
 *   a directory holding train-images-idx3-ubyte[.gz] …   IDX: MNIST or Fashion-MNIST (28×28, 1
 *                         channel), e.g. /usr/share/datasets/fashion-mnist
 *   …/cifar-10-binary.tar.gz, or a directory holding data_batch_1.bin …   CIFAR-10
 *   …/cifar-100-binary.tar.gz, or a directory holding train.bin …         CIFAR-100
 *   any other directory   PPM/PGM images (P6/P5, maxval 255, all the same size): in class
 *                         sub-folders (labels by sorted folder name, as torchvision's
 *                         ImageFolder), or directly inside (one class "all"); the same images
 *                         serve as both splits. Listing folders needs POSIX (opendir).
 * Pixels of stored datasets are u8 and become byte/255.
 * The order of an epoch is a Fisher–Yates shuffle of 0 … count−1 drawn from
 * rng_stream(seed, "shuf", epoch, 0, 0): for i = count−1 … 1, j = randint(0, i + 1), swap.
 */
#ifndef SIMCLR_DATA_DATASET_H
#define SIMCLR_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

#define DATASET_MAX_CLASSES 100
#define DATASET_NAME_MAX 32

typedef enum dataset_kind {
    DATASET_SHAPES,
    DATASET_IDX,
    DATASET_CIFAR10,
    DATASET_CIFAR100,
    DATASET_FOLDER
} dataset_kind;

typedef struct dataset {
    dataset_kind kind;
    size_t count, channels, height, width;
    int classes;
    char names[DATASET_MAX_CLASSES][DATASET_NAME_MAX];
    uint8_t *pixels;  /* (count, channels, height, width) u8 for stored datasets, else NULL */
    uint8_t *labels;  /* (count) for stored datasets, else NULL */
    uint64_t seed;    /* the procedural dataset's seed */
    int train;        /* 1: the training split, 0: the test split */
} dataset;

/* Opens the training (train = 1) or test split of `source`; seed matters for builtin:shapes. */
int dataset_open(dataset *data, const char *source, int train, uint64_t seed, simclr_error *err);
void dataset_close(dataset *data);

int dataset_label(const dataset *data, size_t index);

/* Image `index` as float CHW in [0, 1]. */
void dataset_image(const dataset *data, size_t index,
                   float *image); /* (channels, height, width) */

/* order[0 .. count) = the epoch's shuffled order. */
void dataset_epoch_order(const dataset *data, uint64_t seed, uint64_t epoch, size_t *order);

#endif
