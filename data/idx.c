/*
 * data/idx.c — IDX (MNIST, Fashion-MNIST) files, plain or gzip. Format and checks: data/idx.h.
 */
#include "idx.h"

#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/tensor.h"
#include "file_io.h"
#include "inflate.h"

/* No IDX file this project reads is near this; it bounds what a corrupt size can make us do. */
#define IDX_MAX_BYTES ((size_t)1 << 31)

static uint32_t big_endian_32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int idx_parse(idx_array *array, const uint8_t *file, size_t file_size, const char *path,
              int ndim, simclr_error *err)
{
    uint8_t *content;
    size_t size, header, count = 1;
    int d;
    memset(array, 0, sizeof *array);
    if (file_size >= 2 && file[0] == 0x1f && file[1] == 0x8b) {
        if (gzip_decompress(&content, &size, file, file_size, IDX_MAX_BYTES, path, err) !=
            SIMCLR_OK)
            return SIMCLR_FAILED;
    } else {
        content = simclr_calloc(file_size + 1, 1, path, err);
        if (content == NULL)
            return SIMCLR_FAILED;
        memcpy(content, file, file_size);
        size = file_size;
    }
    header = 4 + 4 * (size_t)ndim;
    if (size < header) {
        simclr_free(content);
        return simclr_fail(err, "%s: %lu bytes is too short for an IDX header", path,
                           (unsigned long)size);
    }
    if (big_endian_32(content) != (ndim == 3 ? 0x00000803u : 0x00000801u)) {
        const unsigned long magic = (unsigned long)big_endian_32(content);
        simclr_free(content);
        return simclr_fail(err, "%s: wrong magic 0x%08lx (an IDX file of unsigned bytes with %d "
                                "dimension%s has 0x%08x)", path, magic, ndim,
                           ndim == 1 ? "" : "s", ndim == 3 ? 0x803u : 0x801u);
    }
    array->ndim = ndim;
    array->dims[0] = array->dims[1] = array->dims[2] = 1;
    for (d = 0; d < ndim; d++) {
        const uint32_t value = big_endian_32(content + 4 + 4 * (size_t)d);
        if (value == 0) {
            simclr_free(content);
            return simclr_fail(err, "%s: dimension %d is 0", path, d);
        }
        array->dims[d] = value;
        if (size_multiply_checked(count, value, &count) != SIMCLR_OK || count > IDX_MAX_BYTES) {
            simclr_free(content);
            return simclr_fail(err, "%s: the dimensions' product overflows", path);
        }
    }
    if (size - header != count) {
        simclr_free(content);
        return simclr_fail(err, "%s: %s: the dimensions give %lu bytes of data, the file has %lu",
                           path, size - header < count ? "truncated" : "trailing bytes",
                           (unsigned long)count, (unsigned long)(size - header));
    }
    memmove(content, content + header, count); /* the data to the front; the block is ours */
    array->data = content;
    return SIMCLR_OK;
}

int idx_read(idx_array *array, const char *path, int ndim, simclr_error *err)
{
    uint8_t *file;
    size_t size;
    int status;
    memset(array, 0, sizeof *array);
    if (file_read_all(path, IDX_MAX_BYTES, &file, &size, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    status = idx_parse(array, file, size, path, ndim, err);
    simclr_free(file);
    return status;
}

void idx_array_free(idx_array *array)
{
    simclr_free(array->data);
    memset(array, 0, sizeof *array);
}

/* directory/name, or directory/name.gz when nothing is at the plain name. Never opened here (a
 * FIFO would block): the reader refuses what is not a regular file. */
static int idx_path(char *path, size_t capacity, const char *directory, const char *name,
                    simclr_error *err)
{
    if (strlen(directory) + strlen(name) + 5 > capacity)
        return simclr_fail(err, "%s: the path is too long", directory);
    sprintf(path, "%s/%s", directory, name);
    if (!file_is_present(path))
        strcat(path, ".gz");
    return SIMCLR_OK;
}

int idx_split_load(idx_split *split, const char *directory, int train, simclr_error *err)
{
    char images_path[4096], labels_path[4096];
    memset(split, 0, sizeof *split);
    if (idx_path(images_path, sizeof images_path, directory,
                 train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte", err) != SIMCLR_OK ||
        idx_path(labels_path, sizeof labels_path, directory,
                 train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte", err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (idx_read(&split->images, images_path, 3, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (idx_read(&split->labels, labels_path, 1, err) != SIMCLR_OK) {
        idx_split_free(split);
        return SIMCLR_FAILED;
    }
    if (split->labels.dims[0] != split->images.dims[0]) {
        simclr_fail(err, "%s: %lu labels for %lu images in %s", labels_path,
                    (unsigned long)split->labels.dims[0], (unsigned long)split->images.dims[0],
                    images_path);
        idx_split_free(split);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

void idx_split_free(idx_split *split)
{
    idx_array_free(&split->images);
    idx_array_free(&split->labels);
}
