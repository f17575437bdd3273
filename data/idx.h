/*
 * data/idx.h — the IDX files of MNIST and Fashion-MNIST (LeCun et al.; Xiao et al. 2017), plain
 * or gzip-compressed, read in place.
 *
 *   magic (big-endian u32): 0x00000803 for u8 images (3 dimensions: count, rows, columns),
 *                           0x00000801 for u8 labels (1 dimension: count)
 *   then one big-endian u32 per dimension, then the bytes, row-major.
 * A file is gzip-compressed when it starts with 1f 8b (the name does not matter).
 * Rejected, naming the file: an unreadable or empty file, wrong magic, a dimension of 0,
 * dimensions whose product overflows, data shorter or longer than the dimensions say, a corrupt
 * .gz (data/inflate.h).
 *
 * A Fashion-MNIST directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally with .gz (Debian's
 * dataset-fashion-mnist installs the .gz files under /usr/share/datasets/fashion-mnist).
 */
#ifndef SIMCLR_DATA_IDX_H
#define SIMCLR_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

typedef struct idx_array {
    uint8_t *data;  /* (dims[0], dims[1], dims[2]) u8, row-major; freed by idx_array_free */
    size_t dims[3]; /* unused dimensions are 1 */
    int ndim;       /* 1 (labels) or 3 (images) */
} idx_array;

/* Reads a whole IDX file (plain or .gz) that must have `ndim` dimensions. */
int idx_read(idx_array *array, const char *path, int ndim, simclr_error *err);

/* The same from bytes in memory (not modified); `name` names the source in errors. */
int idx_parse(idx_array *array, const uint8_t *bytes, size_t size, const char *name, int ndim,
              simclr_error *err);
void idx_array_free(idx_array *array);

/* An IDX split: images (count, rows, columns) and labels (count), checked to agree. */
typedef struct idx_split {
    idx_array images, labels;
} idx_split;

/* Loads the training (train = 1) or test split from a directory of the four standard files,
 * preferring the plain file and falling back to .gz. */
int idx_split_load(idx_split *split, const char *directory, int train, simclr_error *err);
void idx_split_free(idx_split *split);

#endif
