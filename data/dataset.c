/*
 * data/dataset.c — the dataset interface over the built-in shapes, IDX and CIFAR. Sources and the
 * epoch shuffle: data/dataset.h.
 */
#if defined(__unix__) || defined(__APPLE__)
#define _POSIX_C_SOURCE 200809L /* opendir/readdir/stat: listing a folder of images */
#include <dirent.h>
#include <sys/stat.h>
#define DATASET_HAVE_DIRECTORIES 1
#endif

#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/rng.h"
#include "cifar.h"
#include "idx.h"
#include "image_io.h"
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

#ifdef DATASET_HAVE_DIRECTORIES
/* The entries of a directory, sorted by name (readdir's order is arbitrary); "." names and
 * hidden files are skipped. kind: 1 sub-directories, 2 .ppm/.pgm files. */
static int list_directory(const char *path, int kind, char ***names, size_t *count)
{
    DIR *directory = opendir(path);
    struct dirent *entry;
    size_t capacity = 0;
    *names = NULL, *count = 0;
    if (directory == NULL)
        return 0;
    while ((entry = readdir(directory)) != NULL) {
        char full[4096];
        struct stat info;
        const size_t n = strlen(entry->d_name);
        int is_directory, is_image;
        if (entry->d_name[0] == '.' || strlen(path) + n + 2 > sizeof full)
            continue;
        if (snprintf(full, sizeof full, "%s/%s", path, entry->d_name) >= (int)sizeof full)
            continue;
        if (stat(full, &info) != 0)
            continue;
        is_directory = S_ISDIR(info.st_mode);
        is_image = S_ISREG(info.st_mode) && n > 4 &&
                   (strcmp(entry->d_name + n - 4, ".ppm") == 0 ||
                    strcmp(entry->d_name + n - 4, ".pgm") == 0);
        if ((kind == 1 && !is_directory) || (kind == 2 && !is_image))
            continue;
        if (*count == capacity) {
            char **grown = realloc(*names, (capacity ? 2 * capacity : 64) * sizeof *grown);
            if (grown == NULL)
                break;
            *names = grown;
            capacity = capacity ? 2 * capacity : 64;
        }
        (*names)[*count] = malloc(n + 1);
        if ((*names)[*count] == NULL)
            break;
        memcpy((*names)[(*count)++], entry->d_name, n + 1);
    }
    closedir(directory);
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
    size_t i;
    for (i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Appends every image file of `folder` with `label`; all images must share one size. */
static int folder_add_images(dataset *data, const char *folder, int label, size_t *capacity,
                             simclr_error *err)
{
    char **files;
    size_t count, i, k;
    if (!list_directory(folder, 2, &files, &count))
        return simclr_fail(err, "%s: cannot list the folder", folder);
    if (count > 1)
        qsort(files, count, sizeof *files, compare_names);
    for (i = 0; i < count; i++) {
        char path[4096];
        float *image;
        size_t channels, height, width, floats;
        if (snprintf(path, sizeof path, "%s/%s", folder, files[i]) >= (int)sizeof path)
            continue; /* a path too long to open */
        if (image_read_pnm(path, &image, &channels, &height, &width, err) != SIMCLR_OK) {
            free_names(files, count);
            return SIMCLR_FAILED;
        }
        if (data->count == 0) {
            data->channels = channels, data->height = height, data->width = width;
        } else if (channels != data->channels || height != data->height || width != data->width) {
            simclr_free(image);
            free_names(files, count);
            return simclr_fail(err, "%s: %lux%lu with %lu channels, but the folder's first image "
                                    "is %lux%lu with %lu", path, (unsigned long)width,
                               (unsigned long)height, (unsigned long)channels,
                               (unsigned long)data->width, (unsigned long)data->height,
                               (unsigned long)data->channels);
        }
        floats = channels * height * width;
        if (data->count == *capacity) { /* grow both arrays by doubling */
            const size_t larger = *capacity ? 2 * *capacity : 256;
            uint8_t *pixels = simclr_calloc(larger * floats, 1, path, err);
            uint8_t *labels = simclr_calloc(larger, 1, path, err);
            if (pixels == NULL || labels == NULL) {
                simclr_free(pixels), simclr_free(labels), simclr_free(image);
                free_names(files, count);
                return SIMCLR_FAILED;
            }
            if (data->count > 0) {
                memcpy(pixels, data->pixels, data->count * floats);
                memcpy(labels, data->labels, data->count);
            }
            simclr_free(data->pixels), simclr_free(data->labels);
            data->pixels = pixels, data->labels = labels;
            *capacity = larger;
        }
        for (k = 0; k < floats; k++)
            data->pixels[data->count * floats + k] = (uint8_t)(image[k] * 255.0f + 0.5f);
        data->labels[data->count++] = (uint8_t)label;
        simclr_free(image);
    }
    free_names(files, count);
    return SIMCLR_OK;
}

/* A folder of .ppm/.pgm images (unlabelled), or of class sub-folders of them (ImageFolder). */
static int dataset_from_folder(dataset *data, const char *source, simclr_error *err)
{
    char **classes;
    size_t class_count, capacity = 0, c;
    if (!list_directory(source, 1, &classes, &class_count))
        return simclr_fail(err, "--data %s: not a dataset this program reads (builtin:shapes, a "
                                "directory of IDX files, CIFAR-10/100 binary, or a folder of "
                                "PPM/PGM images)", source);
    if (class_count > 1) /* qsort wants a valid pointer even for no elements */
        qsort(classes, class_count, sizeof *classes, compare_names);
    data->kind = DATASET_FOLDER;
    if (class_count > DATASET_MAX_CLASSES) {
        free_names(classes, class_count);
        return simclr_fail(err, "%s: %lu class folders (at most %d)", source,
                           (unsigned long)class_count, DATASET_MAX_CLASSES);
    }
    for (c = 0; c < class_count; c++) {
        char folder[4096];
        if (snprintf(folder, sizeof folder, "%s/%s", source, classes[c]) >= (int)sizeof folder)
            continue;
        strncpy(data->names[c], classes[c], DATASET_NAME_MAX - 1);
        if (folder_add_images(data, folder, (int)c, &capacity, err) != SIMCLR_OK) {
            free_names(classes, class_count);
            dataset_close(data);
            return SIMCLR_FAILED;
        }
    }
    data->classes = (int)class_count;
    free_names(classes, class_count);
    if (class_count == 0) { /* the images themselves, unlabelled: one class "all" */
        data->classes = 1;
        strcpy(data->names[0], "all");
        if (folder_add_images(data, source, 0, &capacity, err) != SIMCLR_OK) {
            dataset_close(data);
            return SIMCLR_FAILED;
        }
    }
    if (data->count == 0)
        return simclr_fail(err, "--data %s: no .ppm or .pgm images found", source);
    return SIMCLR_OK;
}
#endif

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
#ifdef DATASET_HAVE_DIRECTORIES
    return dataset_from_folder(data, source, err);
#else
    return simclr_fail(err, "--data %s: not a dataset this program reads (builtin:shapes, a "
                            "directory of IDX files, or CIFAR-10/100 binary; image folders need "
                            "a POSIX system)", source);
#endif
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
