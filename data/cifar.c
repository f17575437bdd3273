/*
 * data/cifar.c — CIFAR-10/100 binary batches from an archive or a directory. Layout and checks:
 * data/cifar.h.
 */
#include "cifar.h"

#include <stdio.h>
#include <string.h>

#include "../nn/memory.h"
#include "file_io.h"
#include "inflate.h"
#include "tar.h"

#define CIFAR_MAX_ARCHIVE_BYTES ((size_t)1 << 30)

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

/* The batch files of a split, in order. */
static int cifar_batches(int hundred, int train, const char *names[6])
{
    static const char *const ten_train[5] = {"data_batch_1.bin", "data_batch_2.bin",
                                             "data_batch_3.bin", "data_batch_4.bin",
                                             "data_batch_5.bin"};
    int i;
    if (hundred) {
        names[0] = train ? "train.bin" : "test.bin";
        return 1;
    }
    if (!train) {
        names[0] = "test_batch.bin";
        return 1;
    }
    for (i = 0; i < 5; i++)
        names[i] = ten_train[i];
    return 5;
}

/* Whether a member path names `file` (equal, or ending in "/file"). */
static int names_file(const char *path, const char *file)
{
    const size_t n = strlen(path), m = strlen(file);
    return strcmp(path, file) == 0 || (n > m && path[n - m - 1] == '/' && strcmp(path + n - m, file) == 0);
}

/* Appends one batch's records to the split (images and labels grown by copying). */
static int cifar_append(cifar_split *split, const uint8_t *batch, size_t size, int hundred,
                        const char *what, simclr_error *err)
{
    const size_t record = (hundred ? 2 : 1) + CIFAR_IMAGE_BYTES, count = size / record;
    uint8_t *images, *labels;
    size_t i;
    if (size == 0 || size % record != 0)
        return simclr_fail(err, "%s: %lu bytes is not a whole number of %lu-byte records", what,
                           (unsigned long)size, (unsigned long)record);
    images = simclr_calloc((split->count + count) * CIFAR_IMAGE_BYTES, 1, what, err);
    labels = simclr_calloc(split->count + count, 1, what, err);
    if (images == NULL || labels == NULL) {
        simclr_free(images), simclr_free(labels);
        return SIMCLR_FAILED;
    }
    if (split->count > 0) {
        memcpy(images, split->images, split->count * CIFAR_IMAGE_BYTES);
        memcpy(labels, split->labels, split->count);
    }
    for (i = 0; i < count; i++) {
        const uint8_t *r = batch + i * record;
        const uint8_t label = hundred ? r[1] : r[0]; /* CIFAR-100: the fine label */
        if (label >= split->classes) {
            simclr_free(images), simclr_free(labels);
            return simclr_fail(err, "%s: record %lu has label %d (classes are 0-%d)", what,
                               (unsigned long)i, label, split->classes - 1);
        }
        labels[split->count + i] = label;
        memcpy(images + (split->count + i) * CIFAR_IMAGE_BYTES, r + record - CIFAR_IMAGE_BYTES,
               CIFAR_IMAGE_BYTES);
    }
    simclr_free(split->images), simclr_free(split->labels);
    split->images = images, split->labels = labels;
    split->count += count;
    return SIMCLR_OK;
}

/* CIFAR-100's fine_label_names.txt: one name a line. */
static void cifar_read_names(cifar_split *split, const uint8_t *text, size_t size)
{
    size_t i = 0, k;
    int label = 0;
    while (i < size && label < split->classes) {
        for (k = 0; i < size && text[i] != '\n' && text[i] != '\r'; i++)
            if (k + 1 < CIFAR_NAME_MAX)
                split->names[label][k++] = (char)text[i];
        split->names[label][k] = '\0';
        while (i < size && (text[i] == '\n' || text[i] == '\r'))
            i++;
        if (k > 0)
            label++;
    }
}

static int ends_with(const char *text, const char *suffix)
{
    const size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

int cifar_load(cifar_split *split, const char *path, int hundred, int train, simclr_error *err)
{
    const char *batches[6];
    const int batch_count = cifar_batches(hundred, train, batches);
    int b;
    memset(split, 0, sizeof *split);
    split->classes = hundred ? 100 : 10;
    for (b = 0; b < split->classes; b++) {
        if (hundred)
            sprintf(split->names[b], "class_%d", b);
        else
            strcpy(split->names[b], cifar10_names[b]);
    }
    if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz")) {
        uint8_t *file, *archive;
        size_t file_size, archive_size, offset;
        tar_member member;
        int found;
        if (file_read_all(path, CIFAR_MAX_ARCHIVE_BYTES, &file, &file_size, err) != SIMCLR_OK)
            return SIMCLR_FAILED;
        if (gzip_decompress(&archive, &archive_size, file, file_size, CIFAR_MAX_ARCHIVE_BYTES,
                            path, err) != SIMCLR_OK) {
            simclr_free(file);
            return SIMCLR_FAILED;
        }
        simclr_free(file);
        for (b = 0; b < batch_count; b++) {
            found = 0;
            offset = 0;
            for (;;) {
                const int next = tar_next(archive, archive_size, &offset, &member, path, err);
                if (next == SIMCLR_FAILED) {
                    simclr_free(archive);
                    cifar_split_free(split);
                    return SIMCLR_FAILED;
                }
                if (next == 0)
                    break;
                if (member.regular && names_file(member.name, batches[b])) {
                    char what[600], name[251]; /* the member's name escaped: one line */
                    sprintf(what, "%.300s: %s", path,
                            simclr_escape(name, sizeof name, member.name));
                    if (cifar_append(split, member.data, member.size, hundred, what, err) !=
                        SIMCLR_OK) {
                        simclr_free(archive);
                        cifar_split_free(split);
                        return SIMCLR_FAILED;
                    }
                    found = 1;
                    break;
                }
            }
            if (!found) {
                simclr_free(archive);
                cifar_split_free(split);
                return simclr_fail(err, "%s: the archive has no %s", path, batches[b]);
            }
        }
        if (hundred) {
            offset = 0;
            while (tar_next(archive, archive_size, &offset, &member, path, NULL) == 1)
                if (member.regular && names_file(member.name, "fine_label_names.txt"))
                    cifar_read_names(split, member.data, member.size);
        }
        simclr_free(archive);
        return SIMCLR_OK;
    }
    for (b = 0; b < batch_count; b++) { /* a directory of .bin files */
        char file_path[4096];
        uint8_t *bytes;
        size_t size;
        if (strlen(path) + strlen(batches[b]) + 2 > sizeof file_path) {
            cifar_split_free(split);
            return simclr_fail(err, "%s: the path is too long", path);
        }
        sprintf(file_path, "%s/%s", path, batches[b]);
        if (file_read_all(file_path, CIFAR_MAX_ARCHIVE_BYTES, &bytes, &size, err) != SIMCLR_OK ||
            cifar_append(split, bytes, size, hundred, file_path, err) != SIMCLR_OK) {
            simclr_free(bytes);
            cifar_split_free(split);
            return SIMCLR_FAILED;
        }
        simclr_free(bytes);
    }
    if (hundred) {
        char names_path[4096];
        uint8_t *text;
        size_t size;
        if (strlen(path) + 24 < sizeof names_path) {
            sprintf(names_path, "%s/fine_label_names.txt", path);
            if (file_read_all(names_path, 1 << 20, &text, &size, NULL) == SIMCLR_OK) {
                cifar_read_names(split, text, size);
                simclr_free(text);
            }
        }
    }
    return SIMCLR_OK;
}

void cifar_split_free(cifar_split *split)
{
    simclr_free(split->images);
    simclr_free(split->labels);
    split->images = split->labels = NULL;
    split->count = 0;
}
