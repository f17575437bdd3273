/*
 * tests/test_idx.c — IDX files (data/idx.h): the real Fashion-MNIST files as Debian's
 * dataset-fashion-mnist installs them (published facts: Xiao et al. 2017 — 60,000 training and
 * 10,000 test images of 28×28, 6,000 per class; the first labels; the pixel mean 0.2860 that
 * the gray preset normalises with), and bad files rejected with the file and the problem named.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_helpers.h"

#define FASHION_MNIST "/usr/share/datasets/fashion-mnist"

Test(idx, fashion_mnist_training_split, .timeout = HANG_GUARD_SECONDS)
{
    static const int first_labels[8] = {9, 0, 0, 3, 0, 2, 7, 2};
    idx_split split;
    simclr_error err;
    long counts[10] = {0};
    double sum = 0.0;
    size_t i;
    cr_assert_eq(idx_split_load(&split, FASHION_MNIST, 1, &err), SIMCLR_OK,
                 "%s (install Debian's dataset-fashion-mnist)", err.message);
    cr_expect(split.images.dims[0] == 60000 && split.images.dims[1] == 28 &&
              split.images.dims[2] == 28);
    for (i = 0; i < 8; i++)
        cr_expect_eq(split.labels.data[i], first_labels[i], "label %zu", i);
    for (i = 0; i < 60000; i++) {
        cr_assert_lt(split.labels.data[i], 10);
        counts[split.labels.data[i]]++;
    }
    for (i = 0; i < 10; i++)
        cr_expect_eq(counts[i], 6000, "class %zu", i);
    for (i = 0; i < 60000u * 784u; i++)
        sum += split.images.data[i];
    cr_expect(fabs(sum / (60000.0 * 784.0) / 255.0 - 0.2860) < 5e-5, "pixel mean %.5f",
              sum / (60000.0 * 784.0) / 255.0);
    idx_split_free(&split);
}

Test(idx, fashion_mnist_test_split)
{
    static const int first_labels[6] = {9, 2, 1, 1, 6, 1};
    idx_split split;
    simclr_error err;
    size_t i;
    cr_assert_eq(idx_split_load(&split, FASHION_MNIST, 0, &err), SIMCLR_OK, "%s", err.message);
    cr_expect(split.images.dims[0] == 10000 && split.labels.dims[0] == 10000);
    for (i = 0; i < 6; i++)
        cr_expect_eq(split.labels.data[i], first_labels[i], "label %zu", i);
    idx_split_free(&split);
}

static void write_bytes(const char *path, const unsigned char *bytes, size_t size)
{
    FILE *file = fopen(path, "wb");
    cr_assert_not_null(file);
    cr_assert_eq(fwrite(bytes, 1, size, file), size);
    fclose(file);
}

static void expect_bad(const unsigned char *bytes, size_t size, int ndim, const char *reason)
{
    const char *path = "/tmp/simclr_test_bad.idx";
    idx_array array;
    simclr_error err;
    write_bytes(path, bytes, size);
    memset(&err, 0, sizeof err);
    cr_expect_eq(idx_read(&array, path, ndim, &err), SIMCLR_FAILED, "%s", reason);
    cr_expect_not_null(strstr(err.message, path), "%s: %s", reason, err.message);
    cr_expect_not_null(strstr(err.message, reason), "%s: %s", reason, err.message);
    remove(path);
}

Test(idx, bad_files_are_rejected)
{
    /* a good 2×2×3 image file: header 16 bytes + 12 */
    unsigned char good[28] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    unsigned char copy[28];
    idx_array array;
    simclr_error err;
    write_bytes("/tmp/simclr_test_good.idx", good, sizeof good);
    cr_assert_eq(idx_read(&array, "/tmp/simclr_test_good.idx", 3, &err), SIMCLR_OK, "%s",
                 err.message);
    cr_expect(array.dims[0] == 2 && array.dims[1] == 2 && array.dims[2] == 3);
    idx_array_free(&array);
    remove("/tmp/simclr_test_good.idx");

    memcpy(copy, good, sizeof copy);
    copy[3] = 1; /* a label magic where images are expected */
    expect_bad(copy, sizeof copy, 3, "wrong magic");
    memcpy(copy, good, sizeof copy);
    copy[11] = 0; /* a dimension of 0 */
    expect_bad(copy, sizeof copy, 3, "is 0");
    memcpy(copy, good, sizeof copy);
    copy[4] = copy[8] = copy[12] = 0xff; /* 4e9 × 4e9 × 4e9 */
    expect_bad(copy, sizeof copy, 3, "overflows");
    expect_bad(good, 20, 3, "truncated");      /* cut inside the data */
    expect_bad(good, 10, 3, "too short");      /* cut inside the header */
    expect_bad(good, 0, 3, "too short");       /* empty */
    {
        unsigned char longer[30];
        memcpy(longer, good, 28);
        longer[28] = longer[29] = 7;
        expect_bad(longer, sizeof longer, 3, "trailing");
    }
    cr_expect_eq(idx_read(&array, "/nonexistent/file.idx", 3, &err), SIMCLR_FAILED);
    cr_expect_not_null(strstr(err.message, "/nonexistent/file.idx"), "%s", err.message);
}
