/*
 * data/cifar.h — CIFAR-10 and CIFAR-100 in their binary versions (Krizhevsky 2009), read in
 * place from the distributed archive or from a directory of .bin files.
 *
 *   CIFAR-10:  data_batch_1.bin … data_batch_5.bin (train), test_batch.bin (test); records of
 *              1 label byte + 3072 bytes (R plane, G plane, B plane, 32×32 each)
 *   CIFAR-100: train.bin, test.bin; records of 2 label bytes (coarse, fine) + 3072; the fine
 *              label is the class
 *   The archives cifar-10-binary.tar.gz (members cifar-10-batches-bin/…) and
 *   cifar-100-binary.tar.gz (members cifar-100-binary/…) are read without unpacking; a path
 *   that is a directory is searched for the same file names.
 * Class names: CIFAR-10's ten names (batches.meta.txt); CIFAR-100's from fine_label_names.txt
 * when the archive or directory has it, else "class_<n>".
 * Rejected, naming the file: a batch whose size is not a whole number of records, labels out of
 * range, missing batches, a corrupt archive (data/inflate.h, data/tar.h).
 */
#ifndef SIMCLR_DATA_CIFAR_H
#define SIMCLR_DATA_CIFAR_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/error.h"

#define CIFAR_IMAGE_BYTES 3072
#define CIFAR_NAME_MAX 32

typedef struct cifar_split {
    uint8_t *images;   /* (count, 3, 32, 32) u8, planes R, G, B */
    uint8_t *labels;   /* (count) */
    size_t count;
    int classes;       /* 10 or 100 */
    char names[100][CIFAR_NAME_MAX];
} cifar_split;

/* Loads the training (train = 1) or test split of CIFAR-10 (hundred = 0) or CIFAR-100
 * (hundred = 1) from an archive (.tar.gz) or a directory. */
int cifar_load(cifar_split *split, const char *path, int hundred, int train, simclr_error *err);
void cifar_split_free(cifar_split *split);

#endif
