/*
 * data/dataset.c — the dataset interface over the built-in shapes, IDX, CIFAR and image folders.
 * Sources, the folder conventions and the epoch shuffle: data/dataset.h.
 */
/* Image folders are listed with opendir/readdir and stat, which POSIX defines and mingw-w64's
 * and wasi-libc's C libraries have too: found by their headers (__has_include) where the
 * compiler can look, else on Unix; never when built without a file system (SIMCLR_NO_FILES). */
#if defined(SIMCLR_NO_FILES)
/* no folders */
#elif defined(__has_include)
#if __has_include(<dirent.h>) && __has_include(<sys/stat.h>)
#define DATASET_HAVE_DIRECTORIES 1
#endif
#elif defined(__unix__) || defined(__APPLE__)
#define DATASET_HAVE_DIRECTORIES 1
#endif
#ifdef DATASET_HAVE_DIRECTORIES
#define _POSIX_C_SOURCE 200809L /* opendir/readdir/stat: listing a folder of images */
#include <dirent.h>
#include <sys/stat.h>
#endif

#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/memory.h"
#include "../nn/parallel.h"
#include "../nn/rng.h"
#include "cifar.h"
#include "file_io.h"
#include "idx.h"
#include "image_file.h"
#include "shapes.h"

/* Is anything at directory/name? Never opened here (a FIFO would block): something that is not
 * a regular file at a name a format expects goes to that format's reader, which refuses it with
 * "not a regular file" rather than the source being taken for an image folder. */
static int file_exists(const char *directory, const char *name)
{
    char path[4096];
    if (strlen(directory) + strlen(name) + 2 > sizeof path)
        return 0;
    sprintf(path, "%s/%s", directory, name);
    return file_is_present(path);
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
/* ---- image folders -------------------------------------------------------------------------- */

/* A growing list of strings. */
typedef struct name_list {
    char **names;
    size_t count, capacity;
} name_list;

static int name_list_add(name_list *list, const char *first, const char *second)
{
    const size_t n = strlen(first), m = second != NULL ? strlen(second) : 0;
    char *copy;
    if (list->count == list->capacity) {
        const size_t larger = list->capacity ? 2 * list->capacity : 64;
        char **grown = realloc(list->names, larger * sizeof *grown);
        if (grown == NULL)
            return 0;
        list->names = grown, list->capacity = larger;
    }
    copy = malloc(n + m + 2);
    if (copy == NULL)
        return 0;
    memcpy(copy, first, n);
    if (second != NULL) {
        copy[n] = '/';
        memcpy(copy + n + 1, second, m + 1);
    } else {
        copy[n] = '\0';
    }
    list->names[list->count++] = copy;
    return 1;
}

static void name_list_free(name_list *list)
{
    size_t i;
    for (i = 0; i < list->count; i++)
        free(list->names[i]);
    free(list->names);
    memset(list, 0, sizeof *list);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void name_list_sort(name_list *list)
{
    if (list->count > 1)
        qsort(list->names, list->count, sizeof *list->names, compare_names);
}

static int is_directory(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

/* The folders a walk has entered, by device and inode, so a symbolic link back up the tree is
 * entered once, not forever. Where stat gives no inode (0: Windows) every folder counts as new,
 * and DATASET_MAX_DEPTH bounds a walk round a loop of junctions. */
typedef struct folder_ids {
    struct stat *seen;
    size_t count, capacity;
    size_t repeats; /* links to folders entered before: skipped */
} folder_ids;

/* 1 when the folder is new (and now recorded), 0 when seen before, −1 out of memory. */
static int folder_ids_add(folder_ids *ids, const struct stat *info)
{
    size_t i;
    for (i = 0; i < ids->count && info->st_ino != 0; i++)
        if (ids->seen[i].st_dev == info->st_dev && ids->seen[i].st_ino == info->st_ino)
            return 0;
    if (ids->count == ids->capacity) {
        const size_t larger = ids->capacity ? 2 * ids->capacity : 16;
        struct stat *grown = realloc(ids->seen, larger * sizeof *grown);
        if (grown == NULL)
            return -1;
        ids->seen = grown, ids->capacity = larger;
    }
    ids->seen[ids->count++] = *info;
    return 1;
}

/* The entries of folder `base`/`relative` (relative may be ""): sub-folders (their paths
 * relative to base) into folders unless it is NULL (then passed over; with `visited`, a folder
 * entered before is counted in visited->repeats instead), image files into files; every other
 * entry is counted in *skipped. Returns 1, 0 when the folder cannot be listed, −1 when memory runs out. */
static int list_folder(const char *base, const char *relative, name_list *folders,
                       folder_ids *visited, name_list *files, size_t *skipped)
{
    char path[4096];
    DIR *directory;
    struct dirent *entry;
    int ok = 1;
    if (snprintf(path, sizeof path, "%s%s%s", base, *relative ? "/" : "", relative) >=
        (int)sizeof path)
        return 0;
    directory = opendir(path);
    if (directory == NULL)
        return 0;
    while (ok > 0 && (entry = readdir(directory)) != NULL) {
        char full[4096];
        struct stat info;
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (name[0] == '.' ||
            snprintf(full, sizeof full, "%s/%s", path, name) >= (int)sizeof full ||
            stat(full, &info) != 0) { /* hidden, a path too long, or a broken link */
            (*skipped)++;
            continue;
        }
        if (S_ISDIR(info.st_mode)) {
            const int fresh = visited != NULL ? folder_ids_add(visited, &info) : 1;
            if (fresh < 0)
                ok = -1;
            else if (fresh == 0)
                visited->repeats++; /* a link back to a folder already listed */
            else if (folders != NULL)
                ok = (*relative ? name_list_add(folders, relative, name)
                                : name_list_add(folders, name, NULL)) ? 1 : -1;
        } else if (S_ISREG(info.st_mode) && image_file_has_image_extension(name)) {
            ok = (*relative ? name_list_add(files, relative, name)
                            : name_list_add(files, name, NULL)) ? 1 : -1;
        } else {
            (*skipped)++;
        }
    }
    closedir(directory);
    return ok;
}

#define DATASET_MAX_DEPTH 64 /* folders within a class folder, at most */

/* Every image of class folder `class_name` and its sub-folders, in torchvision's order: all
 * folders' paths sorted, then each folder's files sorted. A folder that cannot be listed is
 * skipped and counted (as torchvision's walk passes over it). */
static int list_class_images(const char *root, const char *class_name, name_list *images,
                             size_t *skipped, simclr_error *err)
{
    name_list folders = {0}, level = {0};
    folder_ids visited = {0};
    struct stat info;
    char path[4096];
    size_t f, depth, first = 0;
    int status = SIMCLR_OK;
    if (snprintf(path, sizeof path, "%s/%s", root, class_name) >= (int)sizeof path ||
        stat(path, &info) != 0 || folder_ids_add(&visited, &info) < 0 ||
        !name_list_add(&folders, class_name, NULL))
        status = simclr_fail(err, "%s/%s: cannot list the folder", root, class_name);
    for (depth = 0; status == SIMCLR_OK && first < folders.count; depth++) {
        const size_t end = folders.count; /* the folders found at the previous depth */
        if (depth == DATASET_MAX_DEPTH) {
            status = simclr_fail(err, "%s/%s: folders nested more than %d deep", root,
                                 folders.names[first], DATASET_MAX_DEPTH);
            break;
        }
        for (f = first; f < end && status == SIMCLR_OK; f++) {
            name_list ignored = {0};
            size_t counted_below = 0; /* counted when the files are listed, below */
            if (list_folder(root, folders.names[f], &folders, &visited, &ignored,
                            &counted_below) < 0)
                status = simclr_fail(err, "%s: out of memory listing the folders", root);
            name_list_free(&ignored);
        }
        first = end;
    }
    name_list_sort(&folders);
    for (f = 0; f < folders.count && status == SIMCLR_OK; f++) {
        const size_t before = level.count;
        const int listed = list_folder(root, folders.names[f], NULL, NULL, &level, skipped);
        if (listed < 0)
            status = simclr_fail(err, "%s: out of memory listing the folders", root);
        else if (listed == 0)
            (*skipped)++; /* a folder that cannot be listed */
        else if (level.count - before > 1)
            qsort(level.names + before, level.count - before, sizeof *level.names,
                  compare_names);
    }
    name_list_free(&folders);
    free(visited.seen);
    *skipped += visited.repeats;
    if (status != SIMCLR_OK)
        name_list_free(&level);
    *images = level;
    return status;
}

/* Appends the images of `list` (paths relative to the split's folder) with `label`. */
static int folder_add_images(dataset *data, name_list *list, int label, size_t *capacity,
                             simclr_error *err)
{
    size_t i;
    if (data->count + list->count > DATASET_MAX_IMAGES)
        return simclr_fail(err, "%s: more than %d images", data->folder, DATASET_MAX_IMAGES);
    if (data->count + list->count > *capacity) {
        size_t larger = *capacity ? *capacity : 256;
        dataset_file *grown;
        while (larger < data->count + list->count)
            larger *= 2;
        grown = realloc(data->files, larger * sizeof *grown);
        if (grown == NULL)
            return simclr_fail(err, "%s: out of memory listing %lu images", data->folder,
                               (unsigned long)(data->count + list->count));
        data->files = grown, *capacity = larger;
    }
    for (i = 0; i < list->count; i++) { /* ownership of the names moves to the dataset */
        data->files[data->count].path = list->names[i];
        data->files[data->count].height = data->files[data->count].width = 0;
        data->files[data->count++].label = label;
    }
    list->count = 0;
    return SIMCLR_OK;
}

/* The header of image i: its size into data->files[i]; 1 (gray) or 0 (colour), or −1 with the
 * reason in err. */
static int folder_read_header(dataset *data, size_t i, simclr_error *err)
{
    char path[4096];
    image_info info;
    if (snprintf(path, sizeof path, "%s/%s", data->folder, data->files[i].path) >=
        (int)sizeof path) {
        simclr_fail(err, "%s/%s: the path is too long", data->folder, data->files[i].path);
        return -1;
    }
    if (image_file_info(path, &info, err) != SIMCLR_OK)
        return -1;
    data->files[i].height = (uint32_t)info.height; /* ≤ IMAGE_MAX_PIXELS */
    data->files[i].width = (uint32_t)info.width;
    return info.gray;
}

/* Reads every image's header (in parallel: opening a large folder is bound by the file
 * system), then the dataset's channels and sizes. The first unreadable file in listing order is
 * reported, whatever the thread count. */
static int folder_read_headers(dataset *data, simclr_error *err)
{
    const size_t n = data->count;
    size_t i, all_gray = 1;
    long k;
    signed char *gray = malloc(n > 0 ? n : 1);
    if (gray == NULL)
        return simclr_fail(err, "%s: out of memory", data->folder);
    PARALLEL_FOR_DYNAMIC()
    for (k = 0; k < (long)n; k++)
        gray[k] = (signed char)folder_read_header(data, (size_t)k, NULL);
    for (i = 0; i < n; i++)
        if (gray[i] < 0) { /* again, for the reason */
            free(gray);
            if (folder_read_header(data, i, err) >= 0)
                simclr_fail(err, "%s/%s: changed while the folder was read", data->folder,
                            data->files[i].path);
            return SIMCLR_FAILED;
        }
    data->height = n > 0 ? data->files[0].height : 0;
    data->width = n > 0 ? data->files[0].width : 0;
    for (i = 0; i < n; i++) {
        const size_t h = data->files[i].height, w = data->files[i].width;
        all_gray &= (size_t)gray[i];
        if (h != data->height || w != data->width)
            data->height = data->width = 0; /* the images differ in size */
        if (h > data->max_height)
            data->max_height = h;
        if (w > data->max_width)
            data->max_width = w;
        if (h * w > data->max_pixels)
            data->max_pixels = h * w;
    }
    data->channels = all_gray ? 1 : 3;
    free(gray);
    return SIMCLR_OK;
}

/* The split's folder of `source`: DIR/train for training and DIR/val or DIR/test for testing
 * when DIR/train exists (then *held_out = 1), else DIR itself for both. *classes_from: the
 * folder whose sub-folders name the classes (the training split's, so both splits agree). */
static int folder_of_split(const char *source, int train, char *folder, char *classes_from,
                           size_t size, int *held_out)
{
    char train_folder[4096], val[4096], test[4096];
    int has_val, has_test;
    *held_out = 0;
    if (snprintf(train_folder, sizeof train_folder, "%s/train", source) >=
            (int)sizeof train_folder ||
        snprintf(val, sizeof val, "%s/val", source) >= (int)sizeof val ||
        snprintf(test, sizeof test, "%s/test", source) >= (int)sizeof test)
        return 0;
    if (!is_directory(train_folder))
        return snprintf(folder, size, "%s", source) < (int)size &&
               snprintf(classes_from, size, "%s", source) < (int)size;
    has_val = is_directory(val);
    has_test = !has_val && is_directory(test);
    *held_out = has_val || has_test; /* for both splits: is there a held-out one? */
    return snprintf(classes_from, size, "%s", train_folder) < (int)size &&
           snprintf(folder, size, "%s",
                    train || !*held_out ? train_folder : has_val ? val : test) < (int)size;
}

/* An image folder (see dataset.h). */
static int dataset_from_folder(dataset *data, const char *source, int train, simclr_error *err)
{
    char folder[4096], classes_from[4096];
    name_list classes = {0}, images = {0}, unused = {0};
    size_t capacity = 0, c, ignored = 0;
    data->kind = DATASET_FOLDER;
    if (!is_directory(source))
        return simclr_fail(err, "--data %s: not a dataset this program reads (builtin:shapes, a "
                                "directory of IDX files, CIFAR-10/100 binary, or a folder of "
                                "images)", source);
    if (!folder_of_split(source, train, folder, classes_from, sizeof folder, &data->held_out))
        return simclr_fail(err, "--data %s: the path is too long", source);
    data->folder = malloc(strlen(folder) + 1);
    if (data->folder == NULL)
        return simclr_fail(err, "%s: out of memory", source);
    strcpy(data->folder, folder);
    if (list_folder(classes_from, "", &classes, NULL, &unused, &ignored) <= 0) {
        name_list_free(&classes), name_list_free(&unused);
        return simclr_fail(err, "%s: cannot list the folder", classes_from);
    }
    if (strcmp(folder, classes_from) == 0 && classes.count > 0) /* files beside class folders */
        data->skipped += unused.count + ignored;
    name_list_free(&unused);
    name_list_sort(&classes);
    if (classes.count > DATASET_MAX_CLASSES) {
        simclr_fail(err, "%s: %lu class folders (at most %d)", classes_from,
                    (unsigned long)classes.count, DATASET_MAX_CLASSES);
        name_list_free(&classes);
        return SIMCLR_FAILED;
    }
    if (strcmp(folder, classes_from) != 0) { /* the test split: no classes the training lacks */
        name_list own = {0};
        ignored = 0;
        if (list_folder(folder, "", &own, NULL, &unused, &ignored) <= 0) {
            name_list_free(&own), name_list_free(&unused), name_list_free(&classes);
            return simclr_fail(err, "%s: cannot list the folder", folder);
        }
        data->skipped += classes.count > 0 ? unused.count + ignored : 0;
        name_list_free(&unused);
        for (c = 0; c < own.count; c++)
            if (classes.count == 0 ||
                bsearch(&own.names[c], classes.names, classes.count, sizeof *classes.names,
                        compare_names) == NULL) {
                simclr_fail(err, "%s/%s: a class folder that %s does not have", folder,
                            own.names[c], classes_from);
                name_list_free(&own), name_list_free(&classes);
                return SIMCLR_FAILED;
            }
        name_list_free(&own);
    }
    for (c = 0; c < classes.count; c++) {
        char class_folder[4096];
        const size_t before = data->count;
        if (strlen(classes.names[c]) >= DATASET_NAME_MAX) {
            simclr_fail(err, "%s/%s: a class name of more than %d bytes", classes_from,
                        classes.names[c], DATASET_NAME_MAX - 1);
            name_list_free(&classes);
            return SIMCLR_FAILED;
        }
        strcpy(data->names[c], classes.names[c]);
        snprintf(class_folder, sizeof class_folder, "%s/%s", folder, classes.names[c]);
        if (!is_directory(class_folder))
            continue; /* a class the test split has no images of */
        if (list_class_images(folder, classes.names[c], &images, &data->skipped, err) !=
                SIMCLR_OK ||
            folder_add_images(data, &images, (int)c, &capacity, err) != SIMCLR_OK) {
            name_list_free(&images), name_list_free(&classes);
            return SIMCLR_FAILED;
        }
        name_list_free(&images);
        if (train && data->count == before) { /* as torchvision's ImageFolder refuses it */
            simclr_fail(err, "%s: class folder without images (.png, .jpg, .jpeg, .ppm, .pgm)",
                        class_folder);
            name_list_free(&classes);
            return SIMCLR_FAILED;
        }
    }
    data->classes = (int)classes.count;
    if (classes.count == 0) { /* the images themselves, unlabelled: one class "all" */
        data->classes = 1;
        strcpy(data->names[0], "all");
        if (list_folder(folder, "", NULL, NULL, &images, &data->skipped) <= 0) {
            name_list_free(&images);
            return simclr_fail(err, "%s: cannot list the folder", folder);
        }
        name_list_sort(&images);
        if (folder_add_images(data, &images, 0, &capacity, err) != SIMCLR_OK) {
            name_list_free(&images);
            return SIMCLR_FAILED;
        }
        name_list_free(&images);
    }
    name_list_free(&classes);
    if (data->count == 0)
        return simclr_fail(err, "--data %s: no images found in %s (.png, .jpg, .jpeg, .ppm or "
                                ".pgm)", source, folder);
    return folder_read_headers(data, err);
}
#endif

static int dataset_open_source(dataset *data, const char *source, int train, simclr_error *err);

int dataset_open(dataset *data, const char *source, int train, uint64_t seed, simclr_error *err)
{
    memset(data, 0, sizeof *data);
    data->seed = seed;
    data->train = train;
    data->held_out = 1;
    data->names = simclr_calloc(DATASET_MAX_CLASSES, sizeof *data->names, "dataset: class names",
                                err);
    if (data->names == NULL)
        return SIMCLR_FAILED;
    if (dataset_open_source(data, source, train, err) != SIMCLR_OK) {
        dataset_close(data);
        return SIMCLR_FAILED;
    }
    data->max_height = data->max_height > data->height ? data->max_height : data->height;
    data->max_width = data->max_width > data->width ? data->max_width : data->width;
    if (data->max_pixels == 0)
        data->max_pixels = data->height * data->width;
    return SIMCLR_OK;
}

static int dataset_open_source(dataset *data, const char *source, int train, simclr_error *err)
{
    int c;
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
    /* A folder holding the archive is read as the archive (torchvision's habit: --data names
     * the root that its CIFAR10(root) downloads into). */
    for (c = 0; c < 2; c++) {
        const char *archive = c == 0 ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz";
        char path[4096];
        if (!ends_with(source, ".tar.gz") && file_exists(source, archive) &&
            strlen(source) + strlen(archive) + 2 <= sizeof path) {
            sprintf(path, "%s/%s", source, archive);
            return dataset_from_cifar(data, path, c, train, err);
        }
    }
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
            if (data->labels[c] >= 10)
                return simclr_fail(err, "%s: label %d of image %d is not a digit class", source,
                                   data->labels[c], c);
        return SIMCLR_OK;
    }
#ifdef DATASET_HAVE_DIRECTORIES
    return dataset_from_folder(data, source, train, err);
#else
    return simclr_fail(err, "--data %s: not a dataset this program reads (builtin:shapes, a "
                            "directory of IDX files, or CIFAR-10/100 binary; image folders need "
                            "a POSIX system)", source);
#endif
}

void dataset_close(dataset *data)
{
    size_t i;
    if (data->files != NULL)
        for (i = 0; i < data->count; i++)
            free(data->files[i].path);
    free(data->files);
    free(data->folder);
    simclr_free(data->pixels);
    simclr_free(data->labels);
    simclr_free(data->names);
    data->files = NULL, data->folder = NULL, data->names = NULL;
    data->pixels = data->labels = NULL;
    data->count = 0;
}

uint32_t dataset_fingerprint(const dataset *data)
{
    uint32_t crc = 0;
    size_t i;
    if (data->pixels != NULL)
        crc = crc32_update(crc, data->pixels, data->count * data->channels * data->max_pixels);
    if (data->labels != NULL)
        crc = crc32_update(crc, data->labels, data->count);
    for (i = 0; data->files != NULL && i < data->count; i++) {
        const uint32_t facts[3] = {data->files[i].height, data->files[i].width,
                                   (uint32_t)data->files[i].label};
        crc = crc32_update(crc, (const uint8_t *)data->files[i].path,
                           strlen(data->files[i].path));
        crc = crc32_update(crc, (const uint8_t *)facts, sizeof facts);
    }
    return crc;
}

int dataset_label(const dataset *data, size_t index)
{
    if (data->kind == DATASET_SHAPES)
        return (int)(index % SHAPES_CLASSES);
    if (data->files != NULL)
        return data->files[index].label;
    return data->labels[index];
}

void dataset_image_size(const dataset *data, size_t index, size_t *height, size_t *width)
{
    if (data->files != NULL) {
        *height = data->files[index].height;
        *width = data->files[index].width;
    } else {
        *height = data->height;
        *width = data->width;
    }
}

const char *dataset_image_name(const dataset *data, size_t index)
{
    return data->files != NULL ? data->files[index].path : "";
}

/* An image of an image folder, decoded now: u8 (H, W, C) → float (C, H, W) / 255. */
static int folder_image(const dataset *data, size_t index, float *image, simclr_error *err)
{
    const dataset_file *file = &data->files[index];
    char path[4096];
    uint8_t *pixels;
    size_t height, width, plane, i, c;
    if (snprintf(path, sizeof path, "%s/%s", data->folder, file->path) >= (int)sizeof path)
        return simclr_fail(err, "%s/%s: the path is too long", data->folder, file->path);
    if (image_file_decode(path, data->channels, &pixels, &height, &width, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (height != file->height || width != file->width) {
        simclr_free(pixels);
        return simclr_fail(err, "%s: now %lux%lu, but %lux%lu when the folder was listed", path,
                           (unsigned long)width, (unsigned long)height,
                           (unsigned long)file->width, (unsigned long)file->height);
    }
    plane = height * width;
    for (c = 0; c < data->channels; c++)
        for (i = 0; i < plane; i++)
            image[c * plane + i] = (float)pixels[i * data->channels + c] / 255.0f;
    simclr_free(pixels);
    return SIMCLR_OK;
}

int dataset_image(const dataset *data, size_t index, float *image, simclr_error *err)
{
    const size_t floats = data->channels * data->height * data->width;
    size_t i;
    if (data->files != NULL)
        return folder_image(data, index, image, err);
    if (data->kind == DATASET_SHAPES) {
        shapes_image(image, data->seed, data->train ? SHAPES_TRAIN : SHAPES_TEST, index,
                     data->height);
        return SIMCLR_OK;
    }
    for (i = 0; i < floats; i++)
        image[i] = (float)data->pixels[index * floats + i] / 255.0f;
    return SIMCLR_OK;
}

int dataset_use_channels(dataset *data, size_t channels, const char *source, simclr_error *err)
{
    if (data->channels == channels)
        return SIMCLR_OK;
    if (data->files != NULL && data->channels == 1 && channels == 3) {
        data->channels = 3; /* gray images decoded as RGB, as Pillow's convert("RGB") */
        return SIMCLR_OK;
    }
    return simclr_fail(err, "%s: images of %lu channel(s), where %lu are needed", source,
                       (unsigned long)data->channels, (unsigned long)channels);
}

int dataset_match_classes(dataset *test, const dataset *train, const char *source,
                          simclr_error *err)
{
    int c, k, same = test->classes == train->classes, map[DATASET_MAX_CLASSES];
    size_t i;
    for (c = 0; same && c < test->classes; c++)
        same = strcmp(test->names[c], train->names[c]) == 0;
    if (same)
        return SIMCLR_OK;
    if (test->files == NULL)
        return simclr_fail(err, "%s: its %d classes are not the training data's %d", source,
                           test->classes, train->classes);
    for (c = 0; c < test->classes; c++) { /* an image folder: its class names looked up */
        for (k = 0; k < train->classes && strcmp(test->names[c], train->names[k]) != 0; k++)
            ;
        if (k == train->classes)
            return simclr_fail(err, "%s: class '%s' is not a class of the training data",
                               source, test->names[c]);
        map[c] = k;
    }
    for (i = 0; i < test->count; i++)
        test->files[i].label = map[test->files[i].label];
    for (k = 0; k < train->classes; k++)
        strcpy(test->names[k], train->names[k]);
    test->classes = train->classes;
    return SIMCLR_OK;
}

int dataset_skipped_note(const dataset *data, char *line, size_t size)
{
    if (size > 0)
        line[0] = '\0';
    if (data->skipped == 0)
        return 0;
    snprintf(line, size, "%s: skipped %lu entries that are not .png/.jpg/.jpeg/.ppm/.pgm images "
                         "(other types, hidden names, unreadable links)", data->folder,
             (unsigned long)data->skipped);
    return 1;
}

int dataset_open_splits(dataset *train, dataset *test, const char *source,
                        const char *test_source, uint64_t seed, size_t channels,
                        simclr_error *err)
{
    const int explicit_test = test_source != NULL && test_source[0] != '\0';
    const char *test_name = explicit_test ? test_source : source;
    if (dataset_open(train, source, 1, seed, err) != SIMCLR_OK)
        return SIMCLR_FAILED;
    if (dataset_open(test, test_name, 0, seed, err) != SIMCLR_OK) {
        dataset_close(train);
        return SIMCLR_FAILED;
    }
    if (explicit_test) /* named by the user: held out by their word */
        train->held_out = test->held_out = 1;
    if ((channels > 0 && dataset_use_channels(train, channels, source, err) != SIMCLR_OK) ||
        dataset_use_channels(test, train->channels, test_name, err) != SIMCLR_OK ||
        dataset_match_classes(test, train, test_name, err) != SIMCLR_OK) {
        dataset_close(train);
        dataset_close(test);
        return SIMCLR_FAILED;
    }
    return SIMCLR_OK;
}

float *dataset_image_new(const dataset *data, size_t index, size_t *height, size_t *width,
                         simclr_error *err)
{
    float *image;
    dataset_image_size(data, index, height, width);
    image = simclr_calloc(data->channels * *height * *width, sizeof(float), "dataset: image", err);
    if (image != NULL && dataset_image(data, index, image, err) != SIMCLR_OK) {
        simclr_free(image);
        return NULL;
    }
    return image;
}

int dataset_image_failure(const dataset *data, size_t index, simclr_error *err)
{
    size_t height, width;
    float *image = dataset_image_new(data, index, &height, &width, err);
    if (image == NULL)
        return SIMCLR_FAILED;
    simclr_free(image);
    return simclr_fail(err, "%s/%s: unreadable a moment ago, readable now",
                       data->folder != NULL ? data->folder : "", dataset_image_name(data, index));
}

void dataset_epoch_order(const dataset *data, uint64_t seed, uint64_t epoch, size_t *order)
{
    rng random;
    size_t i;
    for (i = 0; i < data->count; i++)
        order[i] = i;
    rng_stream(&random, seed, RNG_DOMAIN_SHUFFLE, epoch, 0, 0);
    rng_shuffle(&random, order, data->count);
}
