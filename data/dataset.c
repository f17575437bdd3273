/*
 * data/dataset.c — the dataset interface over the built-in shapes, IDX and CIFAR. Sources and the
 * epoch shuffle: data/dataset.h.
 */
#include "dataset.h"

#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/rng.h"
#include "cifar.h"
#include "idx.h"
#include "shapes.h"

static int file_exists(const char *directory, const char *name)
{
    char path[4096];
    FILE *file;
    if (strlen(directory) + strlen(name) + 2 > sizeof path)
        return 0;
    sprintf(path, "%s/%s", directory, name);
    file = fopen(path, "rb");
    if (file != NULL)
        fclose(file);
    return file != NULL;
}

static int ends_with(const char *text, const char *suffix)
{
    const size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

static int dataset_from_cifar(dataset *data, const char *source, int hundred, int train,
                              simclr_error *err)
{
    cifar_split split;
    int c;
    if (cifar_load(&split, source, hundred, train, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    data->kind = hundred ? DATASET_CIFAR100 : DATASET_CIFAR10;
    data->count = split.count;
    data->channels = 3, data->height = 32, data->width = 32;
    data->classes = split.classes;
    for (c = 0; c < split.classes; c++) {
        strncpy(data->names[c], split.names[c], DATASET_NAME_MAX - 1);
        data->names[c][DATASET_NAME_MAX - 1] = '\0';
    }
    data->pixels = split.images; /* ownership moves to the dataset */
    data->labels = split.labels;
    return SIMCLR_OK;
}

int dataset_open(dataset *data, const char *source, int train, uint64_t seed, simclr_error *err)
{
    int c;
    memset(data, 0, sizeof *data);
    data->seed = seed;
    data->train = train;
    if (strcmp(source, "builtin:shapes") == 0) {
        data->kind = DATASET_SHAPES;
        data->count = train ? SHAPES_TRAIN_COUNT : SHAPES_TEST_COUNT;
        data->channels = 3, data->height = SHAPES_SIDE, data->width = SHAPES_SIDE;
        data->classes = SHAPES_CLASSES;
        for (c = 0; c < SHAPES_CLASSES; c++)
            strcpy(data->names[c], shapes_class_name(c));
        return SIMCLR_OK;
    }
    if (strncmp(source, "builtin:", 8) == 0)
        return simclr_fail(err, "--data %s: unknown built-in dataset (builtin:shapes exists)",
                           source);
    if (ends_with(source, "cifar-10-binary.tar.gz") || file_exists(source, "data_batch_1.bin"))
        return dataset_from_cifar(data, source, 0, train, err);
    if (ends_with(source, "cifar-100-binary.tar.gz") || file_exists(source, "train.bin"))
        return dataset_from_cifar(data, source, 1, train, err);
    if (file_exists(source, "train-images-idx3-ubyte") ||
        file_exists(source, "train-images-idx3-ubyte.gz")) {
        idx_split split;
        if (idx_split_load(&split, source, train, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        data->kind = DATASET_IDX;
        data->count = split.images.dims[0];
        data->channels = 1, data->height = split.images.dims[1], data->width = split.images.dims[2];
        data->pixels = split.images.data; /* ownership moves to the dataset */
        data->labels = split.labels.data;
        data->classes = 10;
        for (c = 0; c < 10; c++)
            sprintf(data->names[c], "%d", c);
        for (c = 0; c < (int)data->count; c++)
            if (data->labels[c] >= 10) {
                simclr_fail(err, "%s: label %d of image %d is not a digit class", source,
                            data->labels[c], c);
                dataset_close(data);
                return SIMCLR_FAILED;
            }
        return SIMCLR_OK;
    }
    return simclr_fail(err, "--data %s: not a dataset this program reads (builtin:shapes, a "
                            "directory of IDX files, or CIFAR-10/100 binary)", source);
}

void dataset_close(dataset *data)
{
    simclr_free(data->pixels);
    simclr_free(data->labels);
    data->pixels = data->labels = NULL;
    data->count = 0;
}

int dataset_label(const dataset *data, size_t index)
{
    if (data->kind == DATASET_SHAPES)
        return (int)(index % SHAPES_CLASSES);
    return data->labels[index];
}

void dataset_image(const dataset *data, size_t index, float *image)
{
    const size_t floats = data->channels * data->height * data->width;
    size_t i;
    if (data->kind == DATASET_SHAPES) {
        shapes_image(image, data->seed, data->train ? SHAPES_TRAIN : SHAPES_TEST, index,
                     data->height);
        return;
    }
    for (i = 0; i < floats; i++)
        image[i] = (float)data->pixels[index * floats + i] / 255.0f;
}

void dataset_epoch_order(const dataset *data, uint64_t seed, uint64_t epoch, size_t *order)
{
    rng random;
    size_t i;
    for (i = 0; i < data->count; i++)
        order[i] = i;
    rng_stream(&random, seed, RNG_DOMAIN_SHUFFLE, epoch, 0, 0);
    for (i = data->count; i-- > 1;) {
        const size_t j = (size_t)rng_randint(&random, 0, (int64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
