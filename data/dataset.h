/*
 * data/dataset.h — one interface for every dataset: count, channels, each image's size, labels,
 * class names, an image as float CHW in [0, 1], and a shuffled order per epoch.
 *
 * Sources (the command line's --data SRC):
 *   builtin:shapes        the procedural dataset of data/shapes.h (32×32 RGB, 6 classes)
 *   a directory holding train-images-idx3-ubyte[.gz] …   IDX: MNIST or Fashion-MNIST (28×28, 1
 *                         channel), e.g. /usr/share/datasets/fashion-mnist
 *   …/cifar-10-binary.tar.gz, a folder holding it, or one holding data_batch_1.bin …  CIFAR-10
 *   …/cifar-100-binary.tar.gz, a folder holding it, or one holding train.bin …       CIFAR-100
 *   any other directory   an image folder, as torchvision's ImageFolder reads it:
 *       - DIR/train and DIR/val (or DIR/test) are the two splits; otherwise DIR is both, and
 *         the test split is the training images again (held_out = 0: not a test accuracy);
 *       - a split's sub-folders are its classes, sorted by name (byte order), each image's
 *         label the index of its class; a class folder's images are found in it and in its
 *         sub-folders (every folder's path sorted, then each folder's files sorted);
 *         a split without sub-folders is unlabelled: its images, one class "all";
 *       - images are .png, .jpg, .jpeg, .ppm, .pgm (any case; the format is told by the
 *         content: data/image_file.h); other files, names starting with '.' and files
 *         beside class folders (as ImageFolder ignores them) are skipped and counted
 *         (data->skipped);
 *       - every image keeps its own size; opening reads only the files' headers, and an
 *         image's pixels are decoded each time dataset_image asks for them;
 *       - the dataset is gray (1 channel) when every image is, else RGB (3), converted as
 *         Pillow's convert("L") / convert("RGB") does.
 *     Listing folders needs POSIX (opendir).
 * Pixels of stored datasets are u8 and become byte/255.
 * The order of an epoch is a Fisher–Yates shuffle of 0 … count−1 drawn from
 * rng_stream(seed, "shuf", epoch, 0, 0): for i = count−1 … 1, j = randint(0, i + 1), swap.
 */
#ifndef SIMCLR_DATA_DATASET_H
#define SIMCLR_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

#define DATASET_MAX_CLASSES 1000 /* ImageNet's */
#define DATASET_NAME_MAX 64
#define DATASET_MAX_IMAGES 100000000

typedef enum dataset_kind {
    DATASET_SHAPES,
    DATASET_IDX,
    DATASET_CIFAR10,
    DATASET_CIFAR100,
    DATASET_FOLDER
} dataset_kind;

/* One image of an image folder. */
typedef struct dataset_file {
    char *path;             /* relative to the split's folder, e.g. "cat/0001.jpg" */
    uint32_t height, width;
    int label;
} dataset_file;

typedef struct dataset {
    dataset_kind kind;
    size_t count, channels;
    size_t height, width;   /* every image's size, or 0 × 0 when the images differ in size */
    size_t max_height, max_width, max_pixels; /* the largest height, width and height·width */
    int classes;
    char (*names)[DATASET_NAME_MAX]; /* (classes) class names */
    uint8_t *pixels;        /* (count, channels, height, width) u8 for stored datasets, else NULL */
    uint8_t *labels;        /* (count) for stored datasets, else NULL */
    dataset_file *files;    /* (count) for image folders, else NULL */
    char *folder;           /* the split's folder, for image folders */
    size_t skipped;         /* files of other types skipped while listing an image folder */
    int held_out;           /* 1: the test split holds other images than the training split */
    uint64_t seed;          /* the procedural dataset's seed */
    int train;              /* 1: the training split, 0: the test split */
} dataset;

/* Opens the training (train = 1) or test split of `source`; seed matters for builtin:shapes. */
int dataset_open(dataset *data, const char *source, int train, uint64_t seed, simclr_error *err);
void dataset_close(dataset *data);

int dataset_label(const dataset *data, size_t index);

/* The CRC-32 of what the images are: their pixels and labels (held in memory) or their files'
 * names, sizes and labels (an image folder); the built-in data's are made from the seed. For
 * telling two copies of a dataset apart (the ranks of data-parallel training), not for
 * security. */
uint32_t dataset_fingerprint(const dataset *data);

/* Makes the images come with `channels` channels: an image folder of gray images can be read
 * as RGB (each gray value in all three, as Pillow's convert("RGB")); any other difference is an
 * error naming `source`. */
int dataset_use_channels(dataset *data, size_t channels, const char *source, simclr_error *err);

/* Makes the test split's labels mean what the training split's do: when their class names
 * differ, an image folder's labels are looked up by class name in train's list (a class train
 * lacks is an error naming `source`); other datasets must have train's classes. */
int dataset_match_classes(dataset *test, const dataset *train, const char *source,
                          simclr_error *err);

/* What listing an image folder skipped, as one line for the user (no newline) into `line`;
 * 0 (and "") when nothing was skipped. */
int dataset_skipped_note(const dataset *data, char *line, size_t size);

/* Opens both splits: the training split of `source`, and its test split — or all of
 * `test_source` when that is given (not NULL or "": held-out images, named by the user, so
 * held_out is 1) — with `channels` channels (0: as the training images come; the test split
 * always takes the training split's) and the test labels matched to the training classes. On
 * failure nothing is left open. */
int dataset_open_splits(dataset *train, dataset *test, const char *source,
                        const char *test_source, uint64_t seed, size_t channels,
                        simclr_error *err);

/* The size of image `index` (each image of an image folder has its own). */
void dataset_image_size(const dataset *data, size_t index, size_t *height, size_t *width);

/* Image `index` as float CHW in [0, 1], of the size dataset_image_size gives (at most
 * channels · max_pixels floats). Fails only for image folders: a file that cannot be read or
 * decoded (it changed since the folder was listed, or its data is corrupt). */
int dataset_image(const dataset *data, size_t index,
                  float *image, /* (channels, height, width) */
                  simclr_error *err);

/* Image `index` in a new buffer of its own size (freed with simclr_free), or NULL on failure:
 * what an image folder's images are decoded into. */
float *dataset_image_new(const dataset *data, size_t index, size_t *height, size_t *width,
                         simclr_error *err);

/* After a dataset_image_new without a reason (err NULL, e.g. in a parallel loop): tries again
 * to fill err with the reason; returns SIMCLR_FAILED. */
int dataset_image_failure(const dataset *data, size_t index, simclr_error *err);

/* Where image `index` came from, for people and for other tools: the file's path relative to
 * the split's folder for image folders; "" for the other datasets. */
const char *dataset_image_name(const dataset *data, size_t index);

/* order[0 .. count) = the epoch's shuffled order. */
void dataset_epoch_order(const dataset *data, uint64_t seed, uint64_t epoch, size_t *order);

#endif
